"""Point metadata (Taskonomy ``point_info``) fields computed from a camera pose (spec 2 and 5).

Definitions (checked against the shipped sample files, to float32 precision):

* ``camera_distance`` = ``|point_location - camera_location|``.
* ``obliqueness_angle`` = the angle between the viewing ray and the point's surface normal,
  ``acos(|n . (p - c)| / |p - c|)`` (0: seen head-on, pi/2: grazing).
* ``point_pitch`` = the elevation of the point seen from the *original* camera,
  ``asin(Y / |p - c|)`` with ``Y`` the point's y coordinate in the original camera's frame.
* ``camera_rotation_from_original_to_final``: XYZ Euler angles of ``D`` with
  ``R_final = D @ R_original`` (the rotation applied, in world axes, to aim the camera).
* Point matching pixel (nonfixated files): ``round(W/2 + f X / -Z)``, ``round(H/2 - f Y / -Z)``
  with ``(X, Y, Z)`` the point in Blender camera coordinates.

Relative camera pose between two views (:func:`relative_pose`) is ``(R_ab, t_ab)``: the
rotation taking camera b's axes to camera a's axes and b's centre in a's frame (Blender camera
coordinates), i.e. ``x_a = R_ab x_b + t_ab``.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Iterable

import numpy as np

from .cameras import euler_xyz, rotation_xyz  # noqa: F401  (part of this module's API)
from .vanishing import vanishing_points_reference

# -- fields -----------------------------------------------------------------------------


def camera_distance(camera_location, point_location) -> float:
    return float(np.linalg.norm(np.asarray(point_location, float) - np.asarray(camera_location, float)))


def obliqueness_angle(camera_location, point_location, point_normal) -> float:
    """Angle (radians, in [0, pi/2]) between the viewing ray and the surface normal."""
    v = np.asarray(point_location, float) - np.asarray(camera_location, float)
    n = np.asarray(point_normal, float)
    c = abs(float(v @ n)) / (np.linalg.norm(v) * np.linalg.norm(n))
    return float(math.acos(min(1.0, c)))


def point_pitch(camera_location, rotation_original, point_location) -> float:
    """Elevation (radians) of the point seen from the original camera (rotation matrix)."""
    v = np.asarray(point_location, float) - np.asarray(camera_location, float)
    y = float(v @ np.asarray(rotation_original, float)[:, 1])
    return float(math.asin(max(-1.0, min(1.0, y / np.linalg.norm(v)))))


def rotation_from_original_to_final(rotation_original, rotation_final) -> np.ndarray:
    """``D`` with ``R_final = D @ R_original``."""
    return np.asarray(rotation_final, float) @ np.asarray(rotation_original, float).T


def nonfixated_pixel(camera, point_location) -> tuple[int, int] | None:
    """Pixel (x, y) of a world point in the nonfixated files' rounding, or None behind the camera."""
    pc = camera.world_to_camera(point_location)
    if pc[2] >= 0:
        return None
    f = camera.focal
    x = camera.width / 2.0 + f * pc[0] / -pc[2]
    y = camera.height / 2.0 - f * pc[1] / -pc[2]
    return int(np.round(x)), int(np.round(y))


def pixel_in_image(px, py, width, height):
    """Rounded pixel inside the image (arrays or scalars)."""
    return (px >= 0) & (px < width) & (py >= 0) & (py < height)


def complete_point_info(camera, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """``info`` (default: the camera's carried fields) with every pose-computable field added.

    Fields already in ``info`` are kept as they are, except the vanishing points, which are
    recomputed when the camera's field of view or resolution differ from the ones it was
    read with (``camera.info``) (e.g. ``--fov``/``--resolution`` overrides). Added when missing: the vanishing
    points (Manhattan frame rotated by ``model_rotation_degrees``, default 0), and, where the
    needed inputs are present, ``camera_distance``, ``obliqueness_angle``, ``point_pitch``
    and ``camera_rotation_from_original_to_final``.
    """
    out = dict(camera.info if info is None else info)
    res = camera.width if camera.width == camera.height else [camera.width, camera.height]
    given = camera.info  # the fields the camera was read with
    same_intrinsics = given.get("field_of_view_rads") == camera.fov and given.get("resolution") == res
    # keep the input's own numbers for the pose when they describe this camera (Euler angles
    # recomputed from the matrix differ from the input's in the last bits)
    g_rot, g_loc = _vec(given.get("camera_rotation_final")), _vec(given.get("camera_location"))
    if g_rot is not None and np.allclose(rotation_xyz(g_rot), camera.rotation, rtol=0, atol=1e-12):
        out["camera_rotation_final"] = given["camera_rotation_final"]
    if g_loc is not None and np.array_equal(g_loc, camera.location):
        out["camera_location"] = given["camera_location"]
    model_rot = out.get("model_rotation_degrees", 0.0)
    if not isinstance(model_rot, (int, float)) or isinstance(model_rot, bool) or not math.isfinite(model_rot):
        model_rot = 0.0
    out.setdefault("model_rotation_degrees", float(model_rot))
    vp = vanishing_points_reference(camera, float(model_rot))
    if getattr(camera, "model", "perspective") != "perspective":  # a panorama has no image plane
        out.pop("vanishing_points_image", None)
        vp.pop("vanishing_points_image")
    for key, value in vp.items():
        if key not in out or not same_intrinsics:
            out[key] = value
    loc = camera.location
    p = _vec(out.get("point_location"))
    if p is not None:
        out.setdefault("camera_distance", camera_distance(loc, p))
        n = _vec(out.get("point_normal"))
        if n is not None and np.linalg.norm(n) > 0 and np.linalg.norm(p - loc) > 0:
            out.setdefault("obliqueness_angle", obliqueness_angle(loc, p, n))
    orig = _vec(out.get("camera_rotation_original"))
    if orig is not None:
        r_orig = rotation_xyz(orig)
        if p is not None and np.linalg.norm(p - loc) > 0:
            out.setdefault("point_pitch", point_pitch(loc, r_orig, p))
        out.setdefault("camera_rotation_from_original_to_final",
                       euler_xyz(rotation_from_original_to_final(r_orig, camera.rotation)))
    return out


def _vec(value):
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return np.asarray(value, dtype=np.float64)
    return None


# -- relative pose ----------------------------------------------------------------------


def _pose(view):
    """(location, camera-to-world rotation) of a Camera or a point_info dict."""
    if isinstance(view, dict):
        return np.asarray(view["camera_location"], float), rotation_xyz(view["camera_rotation_final"])
    return np.asarray(view.location, float), np.asarray(view.rotation, float)


def relative_pose(view_a, view_b) -> tuple[np.ndarray, np.ndarray]:
    """Pose of view b relative to view a: ``(R_ab, t_ab)`` with ``x_a = R_ab x_b + t_ab``.

    Views are :class:`~labelgen.cameras.Camera` objects or point_info dicts (using
    ``camera_location`` and ``camera_rotation_final``). Coordinates are Blender camera axes
    (x right, y up, z backwards).
    """
    ca, ra = _pose(view_a)
    cb, rb = _pose(view_b)
    return ra.T @ rb, ra.T @ (cb - ca)


def relative_pose_vector(view_a, view_b) -> list[float]:
    """Relative pose as 6 numbers: XYZ Euler angles of ``R_ab`` (radians) then ``t_ab`` (metres)."""
    r, t = relative_pose(view_a, view_b)
    return euler_xyz(r) + [float(v) for v in t]


def fixated_pairs(infos: Iterable[dict]) -> list[tuple[dict, dict]]:
    """All ordered-by-input pairs of distinct views of the same point (fixated relative pose)."""
    by_point: dict[str, list[dict]] = {}
    for info in infos:
        by_point.setdefault(str(info["point_uuid"]), []).append(info)
    return [pair for views in by_point.values() for pair in combinations(views, 2)]


def fixated_triplets(infos: Iterable[dict]) -> list[tuple[dict, dict, dict]]:
    """All triplets of distinct views of the same point (Taskonomy's triplet pose task)."""
    by_point: dict[str, list[dict]] = {}
    for info in infos:
        by_point.setdefault(str(info["point_uuid"]), []).append(info)
    return [t for views in by_point.values() for t in combinations(views, 3)]


def nonfixated_pairs(infos: Iterable[dict]) -> list[tuple[dict, dict, int]]:
    """Pairs of views of different points that both see a common point (point matching).

    Returns ``(view_a, view_b, shared_point)`` for each pair of views (of different fixated
    points) such that ``shared_point`` is listed in the other view's
    ``nonfixated_points_in_view`` or is the other view's own point, once per pair (the
    smallest shared point id).
    """
    infos = list(infos)
    seen_by = []
    for info in infos:
        ids = {int(i) for i in info.get("nonfixated_points_in_view", [])}
        ids.add(int(info["point_uuid"]))
        seen_by.append(ids)
    out = []
    for i, j in combinations(range(len(infos)), 2):
        if str(infos[i]["point_uuid"]) == str(infos[j]["point_uuid"]):
            continue
        common = seen_by[i] & seen_by[j]
        if common:
            out.append((infos[i], infos[j], min(common)))
    return out
