"""Camera placement for ``labelgen sample`` (step 1 of :mod:`labelgen.sample._sampling`).

Scene mode: a Poisson-disk set of (x, y) positions over the mesh's footprint
(:class:`scipy.stats.qmc.PoissonDisk`, radius >= the minimum camera distance); a vertical ray
through each lists the mesh's surfaces, and every gap between an up-facing floor and a
down-facing ceiling above it is free space where a camera is placed at a sampled height above
the floor. A position is kept when it is at least ``min_mesh_distance`` from the mesh and
enclosed (8 horizontal rays all hit the mesh, at least 6 of them from the front side of the
faces). Object mode: cameras spread over a sphere around the mesh (dart throwing with the
minimum camera distance), looking at its centre. Each camera gets an "original" rotation
(level, looking along a random heading in scene mode).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.render._raycast import RaycastScene
from labelgen.camera._rotations import look_at_rotations, matrix_from_euler


def stat_text(stats: Counter) -> str:
    """The rejection counts as one line, for error messages."""
    return "; ".join(f"{k}: {v}" for k, v in stats.items())


def _level_rotations(yaw: np.ndarray) -> np.ndarray:
    """Camera-to-world rotations of level cameras (Euler XYZ = [pi/2, 0, yaw])."""
    eul = np.stack([np.full_like(yaw, math.pi / 2), np.zeros_like(yaw), yaw], axis=1)
    return matrix_from_euler(eul)


def place_scene_cameras(scene: RaycastScene, cfg, rng: np.random.Generator, stats: Counter):
    """Camera positions in the mesh's free space (see the module notes).

    The Poisson-disk radius is first ``max(min_camera_distance, 0.5 sqrt(footprint / cameras))``
    so that a few cameras spread over a large building; when that leaves fewer positions than
    requested, the sampling is redone at ``min_camera_distance``.

    Free space is first found from the faces' normals (they face the free space); when that
    gives fewer positions than requested (rooms whose faces point outward, or mixed), it is
    found again by crossing parity, which ignores the normals (:func:`parity_facing`), and the
    larger set is kept.
    """
    cand = _free_space_candidates(scene, cfg, rng, stats, "normals")
    if len(cand) < cfg.num_cameras:
        sub = Counter()
        alt = _free_space_candidates(scene, cfg, rng, sub, "parity")
        if len(alt) > len(cand):
            cand = alt
            stats.clear()
            stats.update(sub)
            stats["free space from"] = "crossing parity (face normals gave fewer positions)"
    if len(cand) == 0:
        raise LabelgenError(scene.mesh.path or "mesh",
                            "no enclosed free space found for cameras: " + stat_text(stats))
    return _pick_cameras(cand, cfg, rng)


def _free_space_candidates(scene: RaycastScene, cfg, rng, stats: Counter, orientation: str):
    lo, hi = scene.mesh.bounds
    ext = hi[:2] - lo[:2]
    spread = 0.5 * math.sqrt(float(ext[0] * ext[1]) / cfg.num_cameras)
    if spread > cfg.min_camera_distance:
        sub = Counter()
        cand = _scene_candidates(scene, cfg, spread, rng, sub, orientation)
        if len(cand) >= cfg.num_cameras:
            stats.update(sub)
            stats["Poisson-disk radius (m)"] = round(spread, 6)
            return cand
    cand = _scene_candidates(scene, cfg, cfg.min_camera_distance, rng, stats, orientation)
    stats["Poisson-disk radius (m)"] = cfg.min_camera_distance
    return cand


def parity_facing(n: int) -> np.ndarray:
    """Vertical facing of the ``n`` surfaces a downward ray from above the mesh crosses, in
    order, decided by crossing parity instead of the stored normals: -1 (a ceiling, facing
    down) for the 1st, 3rd, ... crossing and +1 (a floor, facing up) for the 2nd, 4th, ...

    The free space is then what lies an odd number of crossings from the outside, as in a
    room modelled as one surface with closed furniture inside it; independent of winding.
    """
    return np.where(np.arange(n) % 2 == 0, -1.0, 1.0)


def _pick_cameras(cand, cfg, rng):
    if len(cand) > cfg.num_cameras:
        pick = np.sort(rng.choice(len(cand), cfg.num_cameras, replace=False))
        cand = cand[pick]
    yaw = rng.uniform(-math.pi, math.pi, len(cand))
    return cand, _level_rotations(yaw)


def _scene_candidates(scene: RaycastScene, cfg, min_distance: float, rng, stats: Counter,
                      orientation: str = "normals"):
    """Camera positions in free space; ``orientation``: "normals" (the faces' normals point
    into the free space) or "parity" (free space is an odd number of crossings from outside)."""
    from scipy.stats import qmc

    lo, hi = scene.mesh.bounds
    ext = hi[:2] - lo[:2]
    side = float(max(ext.max(), min_distance * 2))
    radius = min_distance / side
    if radius >= 0.5:
        xy = np.array([[0.5, 0.5]])
    else:
        engine = qmc.PoissonDisk(d=2, radius=radius, seed=rng)
        xy = engine.fill_space()
    xy = xy * side + lo[:2]
    xy = xy[np.all(xy <= hi[:2], axis=1)]
    stats["camera candidates (x, y)"] = len(xy)
    top = hi[2] + 1.0
    origins = np.column_stack([xy, np.full(len(xy), top)])
    down = np.array([0.0, 0.0, -1.0])
    hits = scene.all_hits(origins, np.tile(down, (len(xy), 1)))
    h_lo, h_hi = cfg.camera_height
    clear = cfg.min_mesh_distance
    spans = []  # (x, y, lowest z, highest z) allowed for a camera
    for i, (t, face) in enumerate(hits):
        if orientation == "parity":
            nz = parity_facing(len(t))  # t is sorted
        else:
            nz = scene.normals[face, 2] if len(face) else np.zeros(0)
            # coincident surfaces (an object standing on the floor): its underside comes first
            order = np.lexsort((nz, np.round(t, 6)))
            t, nz = t[order], nz[order]
        z = top - t
        for j in range(len(t) - 1):
            # a ceiling at hit j (facing down) above an up-facing surface at hit j + 1
            if not (nz[j] < 0 and nz[j + 1] > 0):
                continue
            # skip furniture: while the surface has an underside less than a camera height
            # above the next up-facing surface, that lower surface is the floor
            k = j + 1
            while k + 2 < len(t) and nz[k + 1] < 0 and nz[k + 2] > 0 and z[k + 1] - z[k + 2] < h_lo + clear:
                k += 2
            z_floor = z[k]
            lower = max(z_floor + h_lo, z[j + 1] + clear)
            upper = min(z_floor + h_hi, z[j] - clear)
            if upper < lower:
                stats["rejected: no room for the camera height (low storey or tall furniture)"] += 1
                continue
            spans.append((xy[i, 0], xy[i, 1], lower, upper))
    spans = np.asarray(spans, dtype=np.float64).reshape(-1, 4)
    u = rng.random(len(spans))
    cand = np.column_stack([spans[:, :2], spans[:, 2] + (spans[:, 3] - spans[:, 2]) * u])
    stats["camera candidates above a floor"] = len(cand)
    if len(cand):
        ok = scene.distance(cand) >= cfg.min_mesh_distance
        stats["rejected: too close to the mesh"] += int(np.count_nonzero(~ok))
        cand = cand[ok]
    if len(cand):
        ang = np.arange(8) * (math.pi / 4)
        dirs = np.column_stack([np.cos(ang), np.sin(ang), np.zeros(8)])
        o = np.repeat(cand, 8, axis=0)
        d = np.tile(dirs, (len(cand), 1))
        t, face = scene.cast(o, d)
        hit = face >= 0
        front = np.zeros_like(hit)
        if orientation == "parity":  # inside: an odd number of crossings out to infinity
            front[hit] = scene.hit_counts(o[hit], d[hit]) % 2 == 1
        else:
            front[hit] = np.einsum("ij,ij->i", scene.normals[face[hit]], d[hit]) < 0
        enclosed = hit.reshape(-1, 8).all(axis=1) & (front.reshape(-1, 8).sum(axis=1) >= 6)
        stats["rejected: not enclosed (horizontal rays escape or hit back faces)"] += int(np.count_nonzero(~enclosed))
        cand = cand[enclosed]
    return cand


def place_object_cameras(scene: RaycastScene, cfg, rng: np.random.Generator, stats: Counter):
    """Cameras spread over a sphere around the mesh, looking at its centre."""
    lo, hi = scene.mesh.bounds
    centre = (lo + hi) / 2
    radius = cfg.sphere_radius or max(2.0 * float(np.linalg.norm(hi - lo)) / 2, cfg.min_mesh_distance * 2, 1e-3)
    tries = max(30 * cfg.num_cameras, 1000)
    d = rng.normal(size=(tries, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = centre + radius * d
    keep = np.ones(len(pts), dtype=bool)
    keep &= scene.distance(pts) >= cfg.min_mesh_distance
    chosen: list[int] = []
    acc = np.empty((cfg.num_cameras, 3))
    r2 = cfg.min_camera_distance ** 2
    for i in np.flatnonzero(keep):
        if chosen and np.min(np.sum((acc[:len(chosen)] - pts[i]) ** 2, axis=1)) < r2:
            continue
        acc[len(chosen)] = pts[i]
        chosen.append(int(i))
        if len(chosen) == cfg.num_cameras:
            break
    stats["camera candidates on the sphere"] = tries
    if not chosen:
        raise LabelgenError(scene.mesh.path or "mesh", "no camera position on the sphere keeps the "
                                                       "minimum distance to the mesh")
    cams = acc[:len(chosen)].copy()
    rots = look_at_rotations(cams, np.tile(centre, (len(cams), 1)), np.zeros(len(cams)))
    return cams, rots
