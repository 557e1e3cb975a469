"""Points of interest and their views for ``labelgen sample`` (steps 2 and 3 of
:mod:`labelgen.sample._sampling`), and point matching (the nonfixated points of each view).

Candidates are drawn uniformly over the mesh surface (area-weighted). A (point, camera) pair
is a view when the camera is within the view-distance range, sees the surface no more
obliquely than ``max_obliqueness_degrees``, has an unoccluded line of sight (no hit closer
than 1 mm before the point) and the point is not on a depth discontinuity in that view (the
four central pixels and four pixels 3 px away hit the point's tangent plane, within 5 mm and
within ``max(1 cm, 3 % of the distance)``). A point is kept when it has at least
``min_views_per_point`` views (at most ``max_views_per_point`` are used, chosen at random).
Each view aims exactly at the point, rolled by an angle drawn from ``[-max_roll, max_roll]``,
with a field of view drawn from the range.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.camera._pointinfo import nonfixated_pixels, pixel_in_image
from labelgen.render._raycast import RaycastScene
from labelgen.camera._rotations import focal_length, look_at_rotations

CENTRE_TOLERANCE = 0.005  # metres: central pixels must hit the point's tangent plane this closely
RING_PIXELS = 3.0
RING_TOLERANCE = 0.03  # relative (with a floor of 1 cm) for the ring of pixels around the centre


def _discontinuity_free(scene: RaycastScene, eye, point, normal, rot, focal):
    """True where the view's central pixels and a ring around them lie on the point's plane."""
    offs = np.array([[0.5, 0.5], [-0.5, 0.5], [0.5, -0.5], [-0.5, -0.5],
                     [RING_PIXELS, 0], [-RING_PIXELS, 0], [0, RING_PIXELS], [0, -RING_PIXELS]])
    m = len(eye)
    k = len(offs)
    dc = np.empty((m, k, 3))
    dc[:, :, 0] = offs[None, :, 0] / focal[:, None]
    dc[:, :, 1] = offs[None, :, 1] / focal[:, None]
    dc[:, :, 2] = -1.0
    dw = np.einsum("mij,mkj->mki", rot, dc)
    denom = np.einsum("mki,mi->mk", dw, normal)
    num = np.einsum("mi,mi->m", point - eye, normal)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_exp = num[:, None] / denom
    t, face = scene.cast(np.repeat(eye, k, axis=0), dw.reshape(-1, 3))
    t = t.reshape(m, k)
    err = np.abs(t - t_exp)
    dist = np.linalg.norm(point - eye, axis=1)
    ok_centre = np.all(err[:, :4] <= CENTRE_TOLERANCE, axis=1)
    ok_ring = np.all(err[:, 4:] <= np.maximum(0.01, RING_TOLERANCE * dist)[:, None], axis=1)
    return ok_centre & ok_ring & np.all(np.isfinite(t), axis=1)


def sample_points(scene: RaycastScene, cams: np.ndarray, cfg, rng: np.random.Generator, stats: Counter):
    """Points with their views: returns (points, normals, [per point: (camera ids, fov, roll, rot)])."""
    from scipy.spatial import cKDTree

    mesh = scene.mesh
    v, f = mesh.vertices, mesh.faces
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    cum = np.cumsum(area)
    if cum[-1] <= 0:
        raise LabelgenError(mesh.path or "mesh", "mesh has no surface area")
    tree = cKDTree(cams)
    d_lo, d_hi = cfg.view_range
    cos_obl = math.cos(math.radians(cfg.max_obliqueness_degrees))
    target = cfg.target_points
    budget = cfg.max_candidates or max(200 * target, 20000)
    kmax = cfg.max_views_per_point or len(cams)
    w, h = cfg.resolution
    fov_lo, fov_hi = (math.radians(a) for a in cfg.fov_degrees)
    max_roll = math.radians(cfg.max_roll_degrees)
    pts, nrm, views = [], [], []
    tried = 0
    batch = max(64, 2 * target)
    while len(pts) < target and tried < budget:
        batch = int(min(batch, budget - tried))
        tried += batch
        fid = np.minimum(np.searchsorted(cum, rng.random(batch) * cum[-1], side="right"), len(f) - 1)
        r1, r2 = rng.random(batch), rng.random(batch)
        s1 = np.sqrt(r1)
        a, b, c = 1 - s1, s1 * (1 - r2), s1 * r2
        p = a[:, None] * v[f[fid, 0]] + b[:, None] * v[f[fid, 1]] + c[:, None] * v[f[fid, 2]]
        n = scene.normals[fid]
        near = tree.query_ball_point(p, d_hi)
        pi = np.repeat(np.arange(batch), [len(x) for x in near])
        ci = np.fromiter((j for x in near for j in sorted(x)), dtype=np.int64, count=len(pi))
        stats["candidate points"] += batch
        stats["candidate (point, camera) pairs within the view distance"] += len(pi)
        vec = p[pi] - cams[ci]
        dist = np.linalg.norm(vec, axis=1)
        ok = (dist >= d_lo) & (dist > 0)
        cosang = np.abs(np.einsum("ij,ij->i", vec, n[pi])) / np.where(dist > 0, dist, 1)
        obl_ok = cosang >= cos_obl
        stats["pairs rejected: too close"] += int(np.count_nonzero(~ok))
        stats["pairs rejected: too oblique"] += int(np.count_nonzero(ok & ~obl_ok))
        ok &= obl_ok
        pi, ci = pi[ok], ci[ok]
        occl = scene.occluded(cams[ci], p[pi])
        stats["pairs rejected: occluded"] += int(np.count_nonzero(occl))
        pi, ci = pi[~occl], ci[~occl]
        # random order of each point's visible cameras; check at most 2 * kmax of them
        order = np.lexsort((rng.random(len(pi)), pi))
        pi, ci = pi[order], ci[order]
        counts = np.bincount(pi, minlength=batch)
        enough = counts >= cfg.min_views_per_point
        stats["points rejected: seen by too few cameras"] += int(np.count_nonzero(~enough))
        rank = np.arange(len(pi)) - np.repeat(np.cumsum(counts) - counts, counts)
        sel = enough[pi] & (rank < 2 * kmax)
        pi, ci = pi[sel], ci[sel]
        fov = rng.uniform(fov_lo, fov_hi, len(pi))
        roll = rng.uniform(-max_roll, max_roll, len(pi))
        rot = look_at_rotations(cams[ci], p[pi], roll)
        focal = focal_length(fov, w)
        good = _discontinuity_free(scene, cams[ci], p[pi], n[pi], rot, focal)
        stats["pairs rejected: depth discontinuity at the point"] += int(np.count_nonzero(~good))
        pi, ci, fov, roll, rot = pi[good], ci[good], fov[good], roll[good], rot[good]
        starts = np.searchsorted(pi, np.arange(batch + 1))
        n_before = len(pts)
        for i in range(batch):
            a_, b_ = starts[i], min(starts[i + 1], starts[i] + kmax)
            if b_ - a_ < cfg.min_views_per_point:
                continue
            sl = slice(a_, b_)
            order_c = np.argsort(ci[sl], kind="stable")
            cam_ids = ci[sl][order_c]
            normal = n[i].copy()
            if np.sum(np.sign((cams[cam_ids] - p[i]) @ normal)) < 0:
                normal = -normal
            pts.append(p[i])
            nrm.append(normal)
            views.append((cam_ids, fov[sl][order_c], roll[sl][order_c], rot[sl][order_c]))
            if len(pts) == target:
                break
        rate = max((len(pts) - n_before) / batch, 1e-3)
        batch = int(min(1 << 16, max(64, math.ceil((target - len(pts)) / rate * 1.2))))
    stats["points kept"] = len(pts)
    return np.asarray(pts).reshape(-1, 3), np.asarray(nrm).reshape(-1, 3), views, tried


def nonfixated_points(scene, cams, pts, v_point, v_cam, v_rot, v_focal, w, h):
    """Per view: ids of the other points in its frustum and in line of sight, and their pixels."""
    nc, npt = len(cams), len(pts)
    visible = np.empty((nc, npt), dtype=bool)
    block = max(1, (1 << 20) // max(npt, 1))
    for c0 in range(0, nc, block):
        c1 = min(nc, c0 + block)
        ci = np.repeat(np.arange(c0, c1), npt)
        pi = np.tile(np.arange(npt), c1 - c0)
        visible[c0:c1] = ~scene.occluded(cams[ci], pts[pi]).reshape(c1 - c0, npt)
    ids_out: list[list[int]] = [[] for _ in range(len(v_point))]
    px_out: list[list[tuple[int, int]]] = [[] for _ in range(len(v_point))]
    by_cam = np.argsort(v_cam, kind="stable")
    bounds = np.searchsorted(v_cam[by_cam], np.arange(nc + 1))
    for c in range(nc):
        vs = by_cam[bounds[c]:bounds[c + 1]]
        if len(vs) == 0:
            continue
        q = np.flatnonzero(visible[c])
        if len(q) == 0:
            continue
        rel = pts[q] - cams[c]  # (m, 3)
        pc = np.einsum("mi,vij->vmj", rel, v_rot[vs])  # (views, m, 3) camera coordinates
        x, y, front = nonfixated_pixels(pc, v_focal[vs, None], w, h)
        inside = front & pixel_in_image(x, y, w, h)
        inside &= q[None, :] != v_point[vs][:, None]
        for a, k in enumerate(vs):
            sel = np.flatnonzero(inside[a])
            ids_out[k] = [int(i) for i in q[sel]]
            px_out[k] = [(int(xx), int(yy)) for xx, yy in zip(x[a, sel], y[a, sel])]
    return ids_out, px_out
