"""Cameras and points of interest for a new scan: ``labelgen sample`` (Taskonomy point_info).

Steps (all deterministic for a given ``seed``; see ``docs/sampling.md``):

1. **Cameras** (:mod:`labelgen.sample._placement`): in the building's free space (scene mode) or on a
   sphere around the mesh (object mode), each with an "original" level rotation.
2. **Points** (:mod:`labelgen.sample._points`): candidates drawn uniformly over the surface, kept when
   enough cameras see them head-on enough, unoccluded and away from depth discontinuities.
3. **Views**: one fixated view per (point, camera), aimed exactly at the point; every point_info
   field of spec sections 2 and 5 is filled (pose fields with :mod:`labelgen.camera._pointinfo`,
   vanishing points with the Numba kernel, room boxes with :mod:`labelgen.sample._rooms`).

This module holds the options (:data:`SAMPLE_PARAMS`, :class:`SampleConfig`), the whole job
(:func:`sample_building`, no I/O) and the writer (:func:`write_sample`).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from labelgen.camera._cameras import parse_resolution, quaternion_wxyz
from labelgen.core._errors import LabelgenError
from labelgen.labels import Param
from labelgen.core._limits import check_image_size
from labelgen.io._meshes import Mesh
from labelgen.sample._placement import place_object_cameras, place_scene_cameras, stat_text
from labelgen.engine._pipeline import resolve_params
from labelgen.camera._pointinfo import camera_distance, obliqueness_angle, point_pitch, rotation_from_original_to_final
from labelgen.sample._points import nonfixated_points, sample_points
from labelgen.render._raycast import RaycastScene
from labelgen.sample._rooms import estimate_room_boxes, read_room_boxes, room_of
from labelgen.camera._rotations import euler_from_matrix, focal_length, matrix_from_euler


def _manhattan(value):
    if value in ("world", "estimate"):
        return value
    try:
        deg = float(value)
    except (TypeError, ValueError):
        deg = math.nan
    if not math.isfinite(deg):
        raise ValueError(f"must be 'world', 'estimate' or a finite angle in degrees, got {value}")
    return deg


def _resolution(value):
    # the size limits are checked in SampleConfig.check, where --max-pixels is known
    return parse_resolution(value, "--resolution", max_pixels=2 ** 62)


#: The options of ``labelgen sample``, with their defaults and valid values (checked in
#: :func:`labelgen.engine._pipeline.resolve_params`). Distances in metres, angles in degrees.
SAMPLE_PARAMS = {p.name: p for p in (
    Param("mode", "scene", "scene: cameras inside the building's free space; object: cameras on a sphere "
          "around it", str, choices=("scene", "object")),
    Param("num_cameras", 50, "cameras to place", int, low=1),
    Param("num_points", None, "points of interest to keep", int, low=1, optional=True),
    Param("points_per_camera", None, "points = K * cameras requested (default 5; --num-points wins)",
          low=0, open_low=True, optional=True),
    Param("min_views_per_point", 3, "keep a point only if at least N cameras see it", int, low=1),
    Param("max_views_per_point", 10, "at most N fixated views per point, chosen at random; 0 = all", int, low=0),
    Param("camera_height", (1.2, 1.7), "camera height above the floor below it, metres (scene mode)",
          low=0, count=2),
    Param("min_camera_distance", 0.5, "minimum distance between cameras, metres", low=0, open_low=True),
    Param("min_mesh_distance", 0.2, "minimum distance from a camera to the mesh, metres", low=0),
    Param("max_roll_degrees", 1.0, "roll of fixated views drawn from [-DEG, DEG]", low=0, high=180,
          open_high=True, option="max-roll"),
    Param("fov_degrees", (45.0, 75.0), "horizontal field of view range, degrees", low=0, high=180,
          open_low=True, open_high=True, count=2, option="fov-range"),
    Param("resolution", (512, 512), "image size, W or WxH", _resolution),
    Param("view_distance", None, "camera-to-point distance range of a view, metres (default 0.3 10; "
          "object mode 0.3 inf)", low=0, count=2, optional=True, allow_inf=True),
    Param("max_obliqueness_degrees", 75.0, "largest angle between a view's ray and the point's normal",
          low=0, high=90, open_low=True, option="max-obliqueness"),
    Param("sphere_radius", None, "object mode: radius of the camera sphere (default: the mesh's "
          "bounding-box diagonal)", low=0, open_low=True, optional=True),
    Param("manhattan", "world", "building frame for vanishing points and room boxes: the world axes "
          "(Taskonomy), estimated from the mesh's face normals, or rotated by DEG about z (recorded as "
          "model_rotation_degrees)", _manhattan),
    Param("seed", 0, "random seed (same seed, same output bytes)", int, low=0),
    Param("max_candidates", None, "give up after N candidate points (default max(200 * points, 20000))",
          int, low=1, optional=True),
)}

_D = {name: p.default for name, p in SAMPLE_PARAMS.items()}


@dataclass
class SampleConfig:
    """Options of :func:`sample_building` (see :data:`SAMPLE_PARAMS`; defaults follow Taskonomy
    where it is known).

    Distances in metres, angles in degrees. ``num_points`` or ``points_per_camera`` gives the
    number of points (``num_points`` wins; default 5 per camera). ``rooms``: named room boxes
    (a dict, or the path of a JSON file, see :func:`labelgen.sample._rooms.read_room_boxes`).
    """

    mode: str = _D["mode"]
    num_cameras: int = _D["num_cameras"]
    num_points: int | None = _D["num_points"]
    points_per_camera: float | None = _D["points_per_camera"]
    min_views_per_point: int = _D["min_views_per_point"]
    max_views_per_point: int = _D["max_views_per_point"]
    camera_height: tuple[float, float] = _D["camera_height"]
    min_camera_distance: float = _D["min_camera_distance"]
    min_mesh_distance: float = _D["min_mesh_distance"]
    max_roll_degrees: float = _D["max_roll_degrees"]
    fov_degrees: tuple[float, float] = _D["fov_degrees"]
    resolution: tuple[int, int] = _D["resolution"]
    view_distance: tuple[float, float] | None = _D["view_distance"]
    max_obliqueness_degrees: float = _D["max_obliqueness_degrees"]
    sphere_radius: float | None = _D["sphere_radius"]
    manhattan: str | float = _D["manhattan"]
    rooms: Any = None
    seed: int = _D["seed"]
    max_candidates: int | None = _D["max_candidates"]
    #: largest image per view (default :data:`labelgen.core._limits.MAX_PIXELS`; ``--max-pixels``)
    max_pixels: int | None = None

    def check(self):
        """Convert and check every option (:func:`labelgen.engine._pipeline.resolve_params`), then the
        relations between them; raises :class:`LabelgenError` naming the option."""
        values = resolve_params({f.name: getattr(self, f.name) for f in fields(self) if f.name in SAMPLE_PARAMS},
                                SAMPLE_PARAMS)
        for name, value in values.items():
            setattr(self, name, value)
        check_image_size(*self.resolution, SAMPLE_PARAMS["resolution"].flag, self.max_pixels)

        def bad(name, problem):
            raise LabelgenError(SAMPLE_PARAMS[name].flag, problem)

        if self.max_views_per_point and self.max_views_per_point < self.min_views_per_point:
            bad("max_views_per_point", "must be 0 (no limit) or at least --min-views-per-point")
        lo, hi = self.camera_height
        if not lo <= hi:
            bad("camera_height", f"needs min <= max, got {lo}..{hi}")
        lo, hi = self.fov_degrees
        if not lo <= hi:
            bad("fov_degrees", f"needs min <= max, got {lo}..{hi}")
        lo, hi = self.view_range
        if not lo < hi:
            bad("view_distance", f"needs min < max, got {lo}..{hi}")

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

    def to_dict(self) -> dict:
        """The sample as JSON-able data: the placed cameras (``camera_poses.json`` entries), the
        views' point_info, the nonfixated files, warnings and rejection counts."""
        return {"cameras": self.camera_poses(), "views": self.views, "nonfixated": self.nonfixated,
                "model_rotation_degrees": self.model_rotation_degrees, "warnings": list(self.warnings),
                "stats": dict(sorted(self.stats.items()))}

    def cameras(self) -> list:
        """The views as :class:`~labelgen.camera.Camera` objects (what ``labelgen render`` reads
        from the written point_info files), in view order."""
        from labelgen.camera._cameras import camera_from_point_info

        return [camera_from_point_info(info, "sample") for info in self.views]

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


# -- the whole job -------------------------------------------------------------------------

def sample_building(mesh, cfg: SampleConfig | None = None, scene: RaycastScene | None = None, *,
                    up_axis: str | None = None, **options) -> SampleResult:
    """Place cameras and points in ``mesh`` and build every view's point_info (no I/O).

    Parameters
    ----------
    mesh : a loaded :class:`~labelgen.io.Mesh`, a mesh file or a :class:`~labelgen.engine.MeshSpec`.
    cfg : the options as a :class:`SampleConfig`; or give them as keywords (``num_cameras=4,
        seed=0``: the fields of :class:`SampleConfig`, the flags of ``labelgen sample``).
    scene : a ray-casting scene of ``mesh`` to reuse.
    up_axis : the mesh file's up axis when ``mesh`` is a path.

    Returns
    -------
    SampleResult
        Its ``views`` are the point_info dicts; :meth:`SampleResult.cameras` gives them as
        cameras for :func:`labelgen.render_building`; :func:`write_sample` writes them.
    """
    from labelgen.kernels.vanishing import vanishing_point_arrays

    from labelgen.camera._vanishing import estimate_manhattan_rotation

    if not isinstance(mesh, Mesh):
        from labelgen.engine._mesh import MeshSpec

        mesh = MeshSpec.of(mesh, up_axis=up_axis).load()
    if cfg is not None and options:
        raise TypeError("give the options as cfg or as keywords, not both")
    if cfg is None:
        known = {f.name for f in fields(SampleConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise LabelgenError(None, f"unknown sample option '{unknown[0]}' (known: {', '.join(sorted(known))})")
        cfg = SampleConfig(**options)
    cfg.check()
    scene = scene or RaycastScene(mesh)
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
                                                     + stat_text(stats))
    uuids = [rng_uuid.bytes(16).hex() for _ in range(len(cams))]

    pts, nrm, pviews, tried = sample_points(scene, cams, cfg, rng_pts, stats)
    if len(pts) == 0:
        raise LabelgenError(mesh.path or "mesh", f"no point is visible from {cfg.min_views_per_point} cameras "
                                                 f"after {tried} candidates: " + stat_text(stats))
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
    v_focal = focal_length(v_fov, w)
    nv = len(v_point)
    stats["views"] = nv

    # point matching: line of sight of every point from every camera, then frustum per view
    nonfix_ids, nonfix_px = nonfixated_points(scene, cams, pts, v_point, v_cam, v_rot, v_focal, w, h)

    gs, img = vanishing_point_arrays(v_rot, v_focal, np.full(nv, float(w)), np.full(nv, float(h)), theta)

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
    orig_euler = euler_from_matrix(rots_orig).tolist()
    final_euler = euler_from_matrix(v_rot)
    delta_euler = euler_from_matrix(rotation_from_original_to_final(rots_orig[v_cam], v_rot))
    dist = camera_distance(cams[v_cam], pts[v_point])
    obl = obliqueness_angle(cams[v_cam], pts[v_point], nrm[v_point])
    pitch = point_pitch(cams[v_cam], rots_orig[v_cam], pts[v_point])
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
        # Omnidata's point_info field, from the Euler angles as stored; it is what render reads
        # first, so the rendered rotation is this quaternion's (labelgen.camera.camera_from_point_info)
        info["camera_rotation_final_quaternion"] = quaternion_wxyz(matrix_from_euler(fin_l[k]))
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

def write_sample(result: SampleResult, out, resolution=None, root=None) -> int:
    """Write point_info/, nonfixated/ and camera_poses.json under ``out``; returns files written.
    ``root``: an existing folder that ``out`` lies in and that is never created (see
    :func:`labelgen.io.write_bytes_atomic`)."""
    from labelgen.io._images import write_json
    from labelgen.engine._layout import label_path, point_info_path
    from labelgen.core._paths import inside

    out = Path(out)
    n = 0
    written = set()
    for info in result.views:
        path = point_info_path(out, info["point_uuid"], info["view_id"])
        write_json(path, info, root)
        written.add(path.name)
        n += 1
    for nf in result.nonfixated:
        path = label_path(out, "nonfixated", nf["point_uuid"], "all", "json").with_name(
            f"point_{nf['point_uuid']}_view_all_domain_nonfixatedpose.json")
        write_json(path, nf, root)
        written.add(path.name)
        n += 1
    stale = [p for sub in ("point_info", "nonfixated") for p in sorted((out / sub).glob("*.json"))
             if p.name not in written]
    if stale:
        result.warnings.append(f"{len(stale)} older JSON files in {out} were not written by this run "
                               f"(e.g. {stale[0]}); remove them before rendering")
    fovs = [v["field_of_view_rads"] for v in result.views]
    res = result.views[0]["resolution"] if result.views else resolution
    write_json(inside(out, out / "camera_poses.json"), result.camera_poses(float(np.median(fovs)) if fovs else None, res),
               root)
    return n + 1
