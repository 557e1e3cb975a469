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

from labelgen.camera._rotations import euler_from_matrix, matrix_from_euler
from labelgen.camera._vanishing import camera_vanishing_points

# -- fields (each takes one view or a stack of them: arrays (..., 3), (..., 3, 3)) -------------


def camera_distance(camera_location, point_location) -> np.ndarray:
    """``|point_location - camera_location|``."""
    return np.linalg.norm(np.asarray(point_location, float) - np.asarray(camera_location, float), axis=-1)


def obliqueness_angle(camera_location, point_location, unit_normal) -> np.ndarray:
    """Angle (radians, in [0, pi/2]) between the viewing ray and the unit surface normal."""
    v = np.asarray(point_location, float) - np.asarray(camera_location, float)
    dot = np.einsum("...i,...i->...", v, np.asarray(unit_normal, float))
    return np.arccos(np.minimum(1.0, np.abs(dot) / np.linalg.norm(v, axis=-1)))


def point_pitch(camera_location, rotation_original, point_location) -> np.ndarray:
    """Elevation (radians) of the point seen from the original camera (rotation matrix)."""
    v = np.asarray(point_location, float) - np.asarray(camera_location, float)
    y = np.einsum("...i,...i->...", v, np.asarray(rotation_original, float)[..., :, 1])
    return np.arcsin(np.clip(y / np.linalg.norm(v, axis=-1), -1.0, 1.0))


def rotation_from_original_to_final(rotation_original, rotation_final) -> np.ndarray:
    """``D`` with ``R_final = D @ R_original``."""
    return np.einsum("...ij,...kj->...ik", np.asarray(rotation_final, float), np.asarray(rotation_original, float))


def nonfixated_pixels(points_camera, focal, width, height) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of points (..., 3) in Blender camera coordinates in the nonfixated files' rounding.

    Returns ``(x, y, in_front)``: ``round(W/2 + f X / -Z)``, ``round(H/2 - f Y / -Z)`` (float
    arrays; meaningless where ``in_front`` is False) and whether the point is in front of the
    camera (``Z < 0``).
    """
    pc = np.asarray(points_camera, float)
    zc = -pc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.round(width / 2.0 + focal * pc[..., 0] / zc)
        y = np.round(height / 2.0 - focal * pc[..., 1] / zc)
    return x, y, zc > 0


def nonfixated_pixel(camera, point_location) -> tuple[int, int] | None:
    """Pixel (x, y) of one world point seen by ``camera``, or None behind the camera."""
    x, y, front = nonfixated_pixels(camera.world_to_camera(point_location), camera.focal, camera.width,
                                    camera.height)
    return (int(x), int(y)) if front else None


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
    if g_rot is not None and np.allclose(matrix_from_euler(g_rot), camera.rotation, rtol=0, atol=1e-12):
        out["camera_rotation_final"] = given["camera_rotation_final"]
    if g_loc is not None and np.array_equal(g_loc, camera.location):
        out["camera_location"] = given["camera_location"]
    model_rot = out.get("model_rotation_degrees", 0.0)
    if not isinstance(model_rot, (int, float)) or isinstance(model_rot, bool) or not math.isfinite(model_rot):
        model_rot = 0.0
    out.setdefault("model_rotation_degrees", float(model_rot))
    vp = camera_vanishing_points(camera, float(model_rot))
    if getattr(camera, "model", "perspective") != "perspective":  # a panorama has no image plane
        out.pop("vanishing_points_image", None)
        vp.pop("vanishing_points_image")
    for key, value in vp.items():
        if key not in out or not same_intrinsics:
            out[key] = value
    loc = camera.location
    p = _vec(out.get("point_location"))
    if p is not None:
        out.setdefault("camera_distance", float(camera_distance(loc, p)))
        n = _vec(out.get("point_normal"))
        if n is not None and np.linalg.norm(n) > 0 and np.linalg.norm(p - loc) > 0:
            out.setdefault("obliqueness_angle", float(obliqueness_angle(loc, p, n / np.linalg.norm(n))))
    orig = _vec(out.get("camera_rotation_original"))
    if orig is not None:
        r_orig = matrix_from_euler(orig)
        if p is not None and np.linalg.norm(p - loc) > 0:
            out.setdefault("point_pitch", float(point_pitch(loc, r_orig, p)))
        out.setdefault("camera_rotation_from_original_to_final",
                       euler_from_matrix(rotation_from_original_to_final(r_orig, camera.rotation)).tolist())
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
        return np.asarray(view["camera_location"], float), matrix_from_euler(view["camera_rotation_final"])
    return np.asarray(view.location, float), np.asarray(view.rotation, float)


def relative_pose(view_a, view_b) -> tuple[np.ndarray, np.ndarray]:
    """Pose of view b relative to view a: ``(R_ab, t_ab)`` with ``x_a = R_ab x_b + t_ab``.

    Views are :class:`~labelgen.camera._cameras.Camera` objects or point_info dicts (using
    ``camera_location`` and ``camera_rotation_final``). Coordinates are Blender camera axes
    (x right, y up, z backwards).
    """
    ca, ra = _pose(view_a)
    cb, rb = _pose(view_b)
    return ra.T @ rb, ra.T @ (cb - ca)


def relative_pose_vector(view_a, view_b) -> list[float]:
    """Relative pose as 6 numbers: XYZ Euler angles of ``R_ab`` (radians) then ``t_ab`` (metres)."""
    r, t = relative_pose(view_a, view_b)
    return euler_from_matrix(r).tolist() + [float(v) for v in t]


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
