"""Cameras and points of interest for a new scan: ``labelgen sample`` (Taskonomy point_info).

Steps (all deterministic for a given ``seed``; see ``docs/sampling.md``):

1. **Cameras.** Scene mode: a Poisson-disk set of (x, y) positions over the mesh's footprint
   (:class:`scipy.stats.qmc.PoissonDisk`, radius >= the minimum camera distance); a vertical
   ray through each lists the mesh's surfaces, and every gap between an up-facing floor and a
   down-facing ceiling above it is free space where a camera is placed at a sampled height
   above the floor. A position is kept when it is at least ``min_mesh_distance`` from the mesh
   (Open3D distance query) and enclosed (8 horizontal rays all hit the mesh, at least 6 of
   them from the front side of the faces). Object mode: cameras spread over a sphere around the
   mesh (dart throwing with the minimum camera distance), looking at its centre. Each camera
   gets an "original" rotation (level, looking along a random heading in scene mode).
2. **Points.** Candidates are drawn uniformly over the mesh surface (area-weighted). A
   (point, camera) pair is a view when the camera is within the view-distance range, sees
   the surface no more obliquely than ``max_obliqueness_degrees``, has an unoccluded line
   of sight (no hit closer than 1 mm before the point) and the point is not on a depth
   discontinuity in that view (the four central pixels and four pixels 3 px away hit the
   point's tangent plane, within 5 mm and within ``max(1 cm, 3 % of the distance)``). A
   point is kept when it has at least ``min_views_per_point`` views (at most
   ``max_views_per_point`` are used, chosen at random).
3. **Views.** One fixated view per (point, camera): the camera aims exactly at the point,
   rolled by an angle drawn from ``[-max_roll, max_roll]``, with a field of view drawn from
   the range. Every point_info field of spec sections 2 and 5 is filled.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cameras import quaternion_wxyz, rotation_xyz
from .errors import LabelgenError
from .meshes import Mesh


LOS_TOLERANCE = 0.001  # metres: a hit closer than this before the point does not occlude it
CENTRE_TOLERANCE = 0.005  # metres: central pixels must hit the point's tangent plane this closely
RING_PIXELS = 3.0
RING_TOLERANCE = 0.03  # relative (with a floor of 1 cm) for the ring of pixels around the centre


@dataclass
class SampleConfig:
    """Options of :func:`sample_building` (defaults follow Taskonomy where it is known).

    Distances in metres, angles in degrees. ``num_points`` or ``points_per_camera`` gives the
    number of points (``num_points`` wins; default 5 per camera).
    """

    mode: str = "scene"
    num_cameras: int = 50
    num_points: int | None = None
    points_per_camera: float | None = None
    min_views_per_point: int = 3
    max_views_per_point: int = 10
    camera_height: tuple[float, float] = (1.2, 1.7)
    min_camera_distance: float = 0.5
    min_mesh_distance: float = 0.2
    max_roll_degrees: float = 1.0
    fov_degrees: tuple[float, float] = (45.0, 75.0)
    resolution: tuple[int, int] = (512, 512)
    view_distance: tuple[float, float] | None = None  # default (0.3, 10) in scene mode, (0.3, inf) in object mode
    max_obliqueness_degrees: float = 75.0
    sphere_radius: float | None = None
    manhattan: str | float = "world"
    rooms: Any = None
    seed: int = 0
    max_candidates: int | None = None

    def check(self):
        def bad(opt, problem):
            raise LabelgenError(opt, problem)

        if self.mode not in ("scene", "object"):
            bad("--mode", f"must be 'scene' or 'object', got {self.mode!r}")
        if self.num_cameras < 1:
            bad("--num-cameras", "must be at least 1")
        if self.num_points is not None and self.num_points < 1:
            bad("--num-points", "must be at least 1")
        if self.points_per_camera is not None and not self.points_per_camera > 0:
            bad("--points-per-camera", "must be positive")
        if self.min_views_per_point < 1:
            bad("--min-views-per-point", "must be at least 1")
        if self.max_views_per_point and self.max_views_per_point < self.min_views_per_point:
            bad("--max-views-per-point", "must be 0 (no limit) or at least --min-views-per-point")
        lo, hi = self.camera_height
        if not 0 <= lo <= hi:
            bad("--camera-height", f"needs 0 <= min <= max, got {lo}..{hi}")
        if self.min_camera_distance <= 0:
            bad("--min-camera-distance", "must be positive")
        if self.min_mesh_distance < 0:
            bad("--min-mesh-distance", "must not be negative")
        if not 0 <= self.max_roll_degrees < 180:
            bad("--max-roll", "must be in [0, 180) degrees")
        lo, hi = self.fov_degrees
        if not 0 < lo <= hi < 180:
            bad("--fov-range", f"needs 0 < min <= max < 180 degrees, got {lo}..{hi}")
        lo, hi = self.view_range
        if not 0 <= lo < hi:
            bad("--view-distance", f"needs 0 <= min < max, got {lo}..{hi}")
        if not 0 < self.max_obliqueness_degrees <= 90:
            bad("--max-obliqueness", "must be in (0, 90] degrees")
        if self.sphere_radius is not None and self.sphere_radius <= 0:
            bad("--sphere-radius", "must be positive")
        w, h = self.resolution
        if w <= 0 or h <= 0:
            bad("--resolution", "must be positive")

    @property
    def view_range(self) -> tuple[float, float]:
        if self.view_distance is not None:
            return (float(self.view_distance[0]), float(self.view_distance[1]))
        return (0.3, 10.0) if self.mode == "scene" else (0.3, math.inf)

    @property
    def target_points(self) -> int:
        if self.num_points is not None:
            return int(self.num_points)
        return max(1, int(round((self.points_per_camera or 5.0) * self.num_cameras)))


@dataclass
class SampleResult:
    """What :func:`sample_building` made."""

    camera_locations: np.ndarray  # (C, 3)
    camera_rotations: np.ndarray  # (C, 3, 3) original rotations
    camera_uuids: list[str]
    point_locations: np.ndarray  # (P, 3)
    point_normals: np.ndarray  # (P, 3)
    views: list[dict]  # point_info dicts, ordered by (point, view)
    nonfixated: list[dict]  # one per point
    model_rotation_degrees: float
    stats: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def camera_poses(self, fov=None, resolution=None) -> list[dict]:
        """Omnidata ``camera_poses.json`` entries for the placed (original) cameras."""
        from scipy.spatial.transform import Rotation

        out = []
        for uid, loc, rot in zip(self.camera_uuids, self.camera_locations, self.camera_rotations):
            x, y, z, w = Rotation.from_matrix(rot).as_quat()
            entry = {"camera_id": uid, "location": [float(v) for v in loc],
                     "rotation_quaternion": [float(w), float(x), float(y), float(z)]}
            if fov is not None:
                entry["field_of_view_rads"] = float(fov)
            if resolution is not None:
                entry["resolution"] = resolution
            out.append(entry)
        return out


# -- ray casting helpers -------------------------------------------------------------------

class _Scene:
    """An Open3D RaycastingScene of the mesh, built once, with numpy-in/numpy-out helpers."""

    def __init__(self, mesh: Mesh):
        import open3d as o3d

        self.o3d = o3d
        self.mesh = mesh
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                                 o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        self.normals = mesh.face_normals()

    def _rays(self, origins, dirs):
        rays = np.empty((len(origins), 6), dtype=np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = dirs
        return self.o3d.core.Tensor(rays)

    def cast(self, origins, dirs):
        """(t, face) of the first hit along each ray (t in units of the direction's length)."""
        if len(origins) == 0:
            return np.zeros(0), np.zeros(0, np.int64)
        out = self.scene.cast_rays(self._rays(origins, dirs))
        t = out["t_hit"].numpy().astype(np.float64)
        face = out["primitive_ids"].numpy().astype(np.int64)
        face[~np.isfinite(t)] = -1
        return t, face

    def occluded(self, origins, targets, tolerance=LOS_TOLERANCE):
        """True where a hit lies on the segment origin -> target more than ``tolerance`` before it."""
        origins = np.asarray(origins, np.float64)
        v = np.asarray(targets, np.float64) - origins
        d = np.linalg.norm(v, axis=1)
        scale = np.clip(d - tolerance, 0.0, None) / np.where(d > 0, d, 1.0)
        out = np.zeros(len(origins), dtype=bool)
        step = 1 << 20
        for s in range(0, len(origins), step):
            rays = self._rays(origins[s:s + step], v[s:s + step] * scale[s:s + step, None])
            out[s:s + step] = self.scene.test_occlusions(rays, tnear=0.0, tfar=1.0).numpy()
        return out

    def distance(self, points):
        q = self.o3d.core.Tensor(np.asarray(points, dtype=np.float32))
        return self.scene.compute_distance(q).numpy().astype(np.float64)

    def all_hits(self, origins, dirs):
        """Per ray, the sorted (t, face) of every hit."""
        if len(origins) == 0:
            return []
        out = self.scene.list_intersections(self._rays(origins, dirs))
        splits = out["ray_splits"].numpy()
        t = out["t_hit"].numpy().astype(np.float64)
        face = out["primitive_ids"].numpy().astype(np.int64)
        res = []
        for i in range(len(origins)):
            a, b = splits[i], splits[i + 1]
            order = np.argsort(t[a:b], kind="stable")
            res.append((t[a:b][order], face[a:b][order]))
        return res


# -- cameras -------------------------------------------------------------------------------

def _level_rotations(yaw: np.ndarray) -> np.ndarray:
    """Camera-to-world rotations of level cameras (Euler XYZ = [pi/2, 0, yaw])."""
    from scipy.spatial.transform import Rotation

    eul = np.stack([np.full_like(yaw, math.pi / 2), np.zeros_like(yaw), yaw], axis=1)
    return Rotation.from_euler("xyz", eul).as_matrix()


def place_scene_cameras(scene: _Scene, cfg: SampleConfig, rng: np.random.Generator, stats: Counter):
    """Camera positions in the mesh's free space (see the module notes).

    The Poisson-disk radius is first ``max(min_camera_distance, 0.5 sqrt(footprint / cameras))``
    so that a few cameras spread over a large building; when that leaves fewer positions than
    requested, the sampling is redone at ``min_camera_distance``.
    """
    lo, hi = scene.mesh.bounds
    ext = hi[:2] - lo[:2]
    spread = 0.5 * math.sqrt(float(ext[0] * ext[1]) / cfg.num_cameras)
    if spread > cfg.min_camera_distance:
        sub = Counter()
        cand = _scene_candidates(scene, cfg, spread, rng, sub)
        if len(cand) >= cfg.num_cameras:
            stats.update(sub)
            stats["Poisson-disk radius (m)"] = round(spread, 6)
            return _pick_cameras(cand, cfg, rng)
    cand = _scene_candidates(scene, cfg, cfg.min_camera_distance, rng, stats)
    stats["Poisson-disk radius (m)"] = cfg.min_camera_distance
    if len(cand) == 0:
        raise LabelgenError(scene.mesh.path or "mesh",
                            "no enclosed free space found for cameras: " + _stat_text(stats))
    return _pick_cameras(cand, cfg, rng)


def _pick_cameras(cand, cfg, rng):
    if len(cand) > cfg.num_cameras:
        pick = np.sort(rng.choice(len(cand), cfg.num_cameras, replace=False))
        cand = cand[pick]
    yaw = rng.uniform(-math.pi, math.pi, len(cand))
    return cand, _level_rotations(yaw)


def _scene_candidates(scene: _Scene, cfg: SampleConfig, min_distance: float, rng, stats: Counter):
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
        front[hit] = np.einsum("ij,ij->i", scene.normals[face[hit]], d[hit]) < 0
        enclosed = hit.reshape(-1, 8).all(axis=1) & (front.reshape(-1, 8).sum(axis=1) >= 6)
        stats["rejected: not enclosed (horizontal rays escape or hit back faces)"] += int(np.count_nonzero(~enclosed))
        cand = cand[enclosed]
    return cand


def place_object_cameras(scene: _Scene, cfg: SampleConfig, rng: np.random.Generator, stats: Counter):
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
    rots = _look_at_rotations(cams, np.tile(centre, (len(cams), 1)), np.zeros(len(cams)))
    return cams, rots


# -- fixated views -------------------------------------------------------------------------

def _look_at_rotations(eye, target, roll):
    """Camera-to-world rotations aiming from ``eye`` at ``target`` (z up), rolled about the axis."""
    f = target - eye
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    right = np.cross(f, np.array([0.0, 0.0, 1.0]))
    n = np.linalg.norm(right, axis=1)
    vertical = n < 1e-9
    if np.any(vertical):
        right[vertical] = np.cross(f[vertical], np.array([0.0, 1.0, 0.0]))
        n[vertical] = np.linalg.norm(right[vertical], axis=1)
    right /= n[:, None]
    up = np.cross(right, f)
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x = c * right + s * up
    y = -s * right + c * up
    return np.stack([x, y, -f], axis=2)


def _focal(fov, width):
    return width / (2.0 * np.tan(fov / 2.0))


def _discontinuity_free(scene: _Scene, eye, point, normal, rot, focal):
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


def sample_points(scene: _Scene, cams: np.ndarray, cfg: SampleConfig, rng: np.random.Generator, stats: Counter):
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
        rot = _look_at_rotations(cams[ci], p[pi], roll)
        focal = _focal(fov, w)
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


# -- room boxes ----------------------------------------------------------------------------

def read_room_boxes(path) -> dict[str, dict[str, list[float]]]:
    """Named axis-aligned room boxes from JSON: ``{"name": {"x": [min, max], "y": [...], "z": [...]}}``
    (optionally wrapped as ``{"rooms": {...}}``)."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LabelgenError(path, f"not valid JSON ({err})") from None
    if isinstance(data, dict) and set(data) == {"rooms"}:
        data = data["rooms"]
    if not isinstance(data, dict) or not data:
        raise LabelgenError(path, "expected a JSON object of named boxes {name: {x: [min, max], y: ..., z: ...}}")
    out = {}
    for name, box in data.items():
        if not isinstance(box, dict):
            raise LabelgenError(path, f"room '{name}': a box must be an object with x, y, z ranges")
        ranges = {}
        for ax in "xyz":
            r = box.get(ax)
            if (not isinstance(r, list) or len(r) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in r)
                    or not r[0] <= r[1]):
                raise LabelgenError(path, f"room '{name}': '{ax}' must be [min, max] with min <= max, got {r!r}")
            ranges[ax] = [float(r[0]), float(r[1])]
        out[str(name)] = ranges
    return out


def room_of(point, boxes: dict, tolerance: float = 0.001) -> str | None:
    """Name of the smallest box containing ``point`` within ``tolerance`` metres (points lie on
    the walls, floors and ceilings that bound the boxes), ties to the first in the file, or None."""
    best, best_vol = None, math.inf
    for name, b in boxes.items():
        if all(b[ax][0] - tolerance <= point[i] <= b[ax][1] + tolerance for i, ax in enumerate("xyz")):
            vol = np.prod([b[ax][1] - b[ax][0] for ax in "xyz"])
            if vol < best_vol:
                best, best_vol = name, vol
    return best


def estimate_room_boxes(scene: _Scene, points, normals, theta: float, n_rays: int = 256,
                        percentile: float = 5.0) -> np.ndarray:
    """Estimated room box of each point: (P, 3, 2) ranges in the Manhattan frame.

    From 5 cm in front of the point, ``n_rays`` rays spread evenly over the sphere are cast;
    the box spans the ``percentile``-th to ``100 - percentile``-th percentile of the hits'
    coordinates along each Manhattan axis (so that rays escaping through doors do not
    stretch it), grown to contain the point.
    """
    if len(points) == 0:
        return np.zeros((0, 3, 2))
    i = np.arange(n_rays) + 0.5
    z = 1 - 2 * i / n_rays
    phi = i * math.pi * (3 - math.sqrt(5))
    s = np.sqrt(1 - z * z)
    dirs = np.column_stack([s * np.cos(phi), s * np.sin(phi), z])
    origin = points + 0.05 * normals
    t, face = scene.cast(np.repeat(origin, n_rays, axis=0), np.tile(dirs, (len(points), 1)))
    t = t.reshape(len(points), n_rays)
    hitp = origin[:, None, :] + np.where(np.isfinite(t), t, np.nan)[:, :, None] * dirs[None]
    c, sn = math.cos(theta), math.sin(theta)
    to_m = np.array([[c, sn, 0.0], [-sn, c, 0.0], [0.0, 0.0, 1.0]])  # world -> Manhattan coordinates
    hm = hitp @ to_m.T
    pm = points @ to_m.T
    out = np.empty((len(points), 3, 2))
    with np.errstate(invalid="ignore"), _quiet_nan():
        lo = np.nanpercentile(hm, percentile, axis=1)
        hi = np.nanpercentile(hm, 100 - percentile, axis=1)
    lo = np.where(np.isfinite(lo), lo, pm)
    hi = np.where(np.isfinite(hi), hi, pm)
    out[:, :, 0] = np.minimum(lo, pm)
    out[:, :, 1] = np.maximum(hi, pm)
    return out


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


# -- the whole job -------------------------------------------------------------------------

def _stat_text(stats: Counter) -> str:
    return "; ".join(f"{k}: {v}" for k, v in stats.items())


def sample_building(mesh: Mesh, cfg: SampleConfig | None = None, scene: _Scene | None = None) -> SampleResult:
    """Place cameras and points in ``mesh`` and build every view's point_info (no I/O)."""
    from scipy.spatial.transform import Rotation

    from labelgen.kernels.vanishing import vanishing_points
    from .pointinfo import euler_xyz
    from .vanishing import estimate_manhattan_rotation

    cfg = cfg or SampleConfig()
    cfg.check()
    scene = scene or _Scene(mesh)
    stats: Counter = Counter()
    warnings: list[str] = []
    seeds = np.random.SeedSequence(int(cfg.seed)).spawn(4)
    rng_cam, rng_pts, rng_uuid, _ = (np.random.default_rng(s) for s in seeds)

    if cfg.manhattan == "world":
        model_deg = 0.0
    elif cfg.manhattan == "estimate":
        model_deg = float(estimate_manhattan_rotation(mesh))
    else:
        model_deg = float(cfg.manhattan)
    theta = math.radians(model_deg)

    if cfg.mode == "scene":
        cams, rots_orig = place_scene_cameras(scene, cfg, rng_cam, stats)
    else:
        cams, rots_orig = place_object_cameras(scene, cfg, rng_cam, stats)
    if len(cams) < cfg.num_cameras:
        warnings.append(f"placed {len(cams)} of {cfg.num_cameras} cameras (free space exhausted at a minimum "
                        f"camera distance of {cfg.min_camera_distance} m)")
    stats["cameras placed"] = len(cams)
    if len(cams) < cfg.min_views_per_point:
        raise LabelgenError("--min-views-per-point", f"{cfg.min_views_per_point} views per point need at least as "
                                                     f"many cameras, but only {len(cams)} could be placed: "
                                                     + _stat_text(stats))
    uuids = [rng_uuid.bytes(16).hex() for _ in range(len(cams))]

    pts, nrm, pviews, tried = sample_points(scene, cams, cfg, rng_pts, stats)
    if len(pts) == 0:
        raise LabelgenError(mesh.path or "mesh", f"no point is visible from {cfg.min_views_per_point} cameras "
                                                 f"after {tried} candidates: " + _stat_text(stats))
    if len(pts) < cfg.target_points:
        warnings.append(f"kept {len(pts)} of {cfg.target_points} points after {tried} candidates "
                        f"(at least {cfg.min_views_per_point} views each)")

    # flatten views
    w, h = cfg.resolution
    v_point = np.concatenate([np.full(len(pv[0]), i) for i, pv in enumerate(pviews)])
    v_cam = np.concatenate([pv[0] for pv in pviews])
    v_view = np.concatenate([np.arange(len(pv[0])) for pv in pviews])
    v_fov = np.concatenate([pv[1] for pv in pviews])
    v_rot = np.concatenate([pv[3] for pv in pviews])
    v_focal = _focal(v_fov, w)
    nv = len(v_point)
    stats["views"] = nv

    # point matching: line of sight of every point from every camera, then frustum per view
    nonfix_ids, nonfix_px = _nonfixated(scene, cams, pts, v_point, v_cam, v_rot, v_focal, w, h)

    gs, img = vanishing_points(v_rot, v_focal, np.full(nv, float(w)), np.full(nv, float(h)), theta)

    if cfg.rooms is not None:
        boxes = cfg.rooms if isinstance(cfg.rooms, dict) else read_room_boxes(cfg.rooms)
        rooms = [room_of(p, boxes) for p in pts]
        missing = sum(r is None for r in rooms)
        if missing:
            warnings.append(f"{missing} of {len(pts)} points lie in no room box; their box is estimated")
        est = estimate_room_boxes(scene, pts, nrm, theta) if missing else None
        point_box = [boxes[r] if r is not None else _box_dict(est[i]) for i, r in enumerate(rooms)]
    else:
        rooms = [None] * len(pts)
        est = estimate_room_boxes(scene, pts, nrm, theta)
        point_box = [_box_dict(b) for b in est]

    res_field = w if w == h else [w, h]
    orig_euler = [euler_xyz(r) for r in rots_orig]
    final_euler = Rotation.from_matrix(v_rot).as_euler("xyz")
    delta = np.einsum("nij,nkj->nik", v_rot, rots_orig[v_cam])
    delta_euler = Rotation.from_matrix(delta).as_euler("xyz")
    vec = pts[v_point] - cams[v_cam]
    dist = np.linalg.norm(vec, axis=1)
    obl = np.arccos(np.minimum(1.0, np.abs(np.einsum("ij,ij->i", vec, nrm[v_point])) / dist))
    pitch = np.arcsin(np.clip(np.einsum("ij,ij->i", vec, rots_orig[v_cam][:, :, 1]) / dist, -1.0, 1.0))
    cam_l, pts_l, nrm_l = cams.tolist(), pts.tolist(), (nrm + 0.0).tolist()
    fin_l, del_l, fov_l = final_euler.tolist(), delta_euler.tolist(), v_fov.tolist()
    dist_l, obl_l, pitch_l = dist.tolist(), obl.tolist(), pitch.tolist()
    gs_l, img_l = gs.tolist(), img.tolist()
    views = []
    for k in range(nv):
        p_id, c_id = int(v_point[k]), int(v_cam[k])
        info = {
            "point_uuid": str(p_id),
            "view_id": int(v_view[k]),
            "camera_uuid": uuids[c_id],
            "camera_location": cam_l[c_id],
            "camera_rotation_original": orig_euler[c_id],
            "camera_rotation_final": fin_l[k],
            "camera_rotation_from_original_to_final": del_l[k],
            "field_of_view_rads": fov_l[k],
            "resolution": res_field,
            "point_location": pts_l[p_id],
            "point_normal": nrm_l[p_id],
            "camera_distance": dist_l[k],
            "obliqueness_angle": obl_l[k],
            "point_pitch": pitch_l[k],
            "nonfixated_points_in_view": nonfix_ids[k],
            "model_rotation_degrees": model_deg,
            "bounding_box_ranges": point_box[p_id],
            "vanishing_points_gaussian_sphere": dict(zip("xyz", gs_l[k])),
            "vanishing_points_image": dict(zip("xyz", img_l[k])),
        }
        if rooms[p_id] is not None:
            info["room"] = rooms[p_id]
        # as render writes it: from the Euler angles as stored (Omnidata's point_info field)
        info["camera_rotation_final_quaternion"] = quaternion_wxyz(rotation_xyz(fin_l[k]))
        views.append(info)

    # per-point nonfixated files
    entries: list[list] = [[] for _ in range(len(pts))]
    for k in range(nv):
        for q, (px, py) in zip(nonfix_ids[k], nonfix_px[k]):
            entries[q].append({"camera_uuid": uuids[int(v_cam[k])], "point_uuid": str(int(v_point[k])),
                               "nonfixated_pixel_x": px, "nonfixated_pixel_y": py, "view_id": int(v_view[k])})
    nonfixated = [{"point_location": [float(x) for x in pts[i]], "point_uuid": str(i), "views": entries[i]}
                  for i in range(len(pts))]
    return SampleResult(cams, rots_orig, uuids, pts, nrm, views, nonfixated, model_deg, stats, warnings)


def _box_dict(b) -> dict[str, list[float]]:
    return {ax: [float(b[i, 0]), float(b[i, 1])] for i, ax in enumerate("xyz")}


def _nonfixated(scene, cams, pts, v_point, v_cam, v_rot, v_focal, w, h):
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
        zc = -pc[:, :, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.round(w / 2.0 + v_focal[vs, None] * pc[:, :, 0] / zc)
            y = np.round(h / 2.0 - v_focal[vs, None] * pc[:, :, 1] / zc)
        inside = (zc > 0) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        inside &= q[None, :] != v_point[vs][:, None]
        for a, k in enumerate(vs):
            sel = np.flatnonzero(inside[a])
            ids_out[k] = [int(i) for i in q[sel]]
            px_out[k] = [(int(xx), int(yy)) for xx, yy in zip(x[a, sel], y[a, sel])]
    return ids_out, px_out


def write_sample(result: SampleResult, out, resolution=None) -> int:
    """Write point_info/, nonfixated/ and camera_poses.json under ``out``; returns files written."""
    from .images import write_json
    from .layout import point_info_path

    out = Path(out)
    n = 0
    written = set()
    for info in result.views:
        path = point_info_path(out, info["point_uuid"], info["view_id"])
        write_json(path, info)
        written.add(path.name)
        n += 1
    for nf in result.nonfixated:
        path = out / "nonfixated" / f"point_{nf['point_uuid']}_view_all_domain_nonfixatedpose.json"
        write_json(path, nf)
        written.add(path.name)
        n += 1
    stale = [p for sub in ("point_info", "nonfixated") for p in sorted((out / sub).glob("*.json"))
             if p.name not in written]
    if stale:
        result.warnings.append(f"{len(stale)} older JSON files in {out} were not written by this run "
                               f"(e.g. {stale[0]}); remove them before rendering")
    fovs = [v["field_of_view_rads"] for v in result.views]
    res = result.views[0]["resolution"] if result.views else resolution
    write_json(out / "camera_poses.json", result.camera_poses(float(np.median(fovs)) if fovs else None, res))
    return n + 1
