"""Pinhole matrices of a Taskonomy camera: the intrinsics ``K`` and the camera-to-world pose.

Conventions (spec section 2):

* ``K = [[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]]`` with ``f = W / (2 tan(fov / 2))``:
  the pixel-centre convention the labels are rendered with. ``K`` maps a point in OpenCV camera
  axes (x right, y down, z forward) to the pixel ``(u, v)`` = (column, row) whose centre it
  projects to, as OpenCV's ``K`` does: ``[u, v, 1] ~ K @ [X, Y, Z]``. (Two fields of the original
  pipeline used other centres: keypoints3d's range image and the nonfixated pixels use
  ``(W / 2, H / 2)``; see the spec.)
* ``cam_to_world`` (4x4) maps camera coordinates to world coordinates (metres). With
  ``convention="blender"`` (Taskonomy's, the default) the camera axes are Blender's: x right,
  y **up**, z **backward** (the camera looks along -z); its rotation block is the point_info's
  ``camera_rotation_final`` (the matrix labelgen renders with). With ``convention="opencv"`` the
  axes are OpenCV's: x right, y **down**, z **forward**; the rotation block is the Blender one
  times ``diag(1, -1, -1)``. The last column is ``camera_location`` either way.
* The ``normal`` label is in OpenCV camera axes; :func:`normals_to_world` turns it to world axes.
"""
from __future__ import annotations

import numpy as np

from labelgen.camera._cameras import Camera, camera_from_point_info
from labelgen.core._errors import LabelgenError

__all__ = ["CONVENTIONS", "camera_matrices", "intrinsics", "pose", "normals_to_world", "backproject"]

#: Axis conventions of the camera frame of ``cam_to_world``.
CONVENTIONS = ("blender", "opencv")
_FLIP = np.diag([1.0, -1.0, -1.0])


def _convention(value) -> str:
    if value not in CONVENTIONS:
        raise LabelgenError("convention", f"must be one of {', '.join(CONVENTIONS)}, got {value!r}")
    return value


def intrinsics(camera: Camera) -> np.ndarray:
    """The 3x3 float64 ``K`` of a perspective camera (see the module documentation)."""
    if camera.model != "perspective":
        raise LabelgenError(None, f"{camera.model} cameras have no pinhole K")
    f = camera.focal
    return np.array([[f, 0.0, (camera.width - 1) / 2.0], [0.0, f, (camera.height - 1) / 2.0], [0.0, 0.0, 1.0]])


def pose(camera: Camera, convention: str = "blender") -> np.ndarray:
    """The 4x4 float64 camera-to-world matrix of ``camera`` in ``convention``'s camera axes."""
    out = np.eye(4)
    out[:3, :3] = camera.rotation if _convention(convention) == "blender" else camera.rotation @ _FLIP
    out[:3, 3] = camera.location
    return out


def camera_matrices(point_info: dict, width: int | None = None, height: int | None = None,
                    convention: str = "blender") -> tuple[np.ndarray, np.ndarray]:
    """``(K, cam_to_world)`` of a Taskonomy/Omnidata point_info dict: the 3x3 intrinsics and the
    4x4 camera-to-world pose, both float64 (see the module documentation for the axes).

    ``width`` and ``height`` give the image size the labels were made at (both or neither;
    default: the point_info's ``resolution``); the rotation is read as ``labelgen render`` reads
    it (:func:`~labelgen.camera.camera_from_point_info`). ``convention``: ``"blender"``
    (Taskonomy's camera axes, default) or ``"opencv"``.
    """
    if (width is None) != (height is None):
        raise LabelgenError("camera_matrices", "give both width and height, or neither")
    camera = camera_from_point_info(point_info, resolution=None if width is None else [width, height])
    return intrinsics(camera), pose(camera, convention)


def _rotation_cv(cam_to_world, convention) -> np.ndarray:
    m = np.asarray(cam_to_world, dtype=np.float64)
    if m.shape not in ((4, 4), (3, 4), (3, 3)):
        raise LabelgenError("cam_to_world", f"must be a 4x4 (or 3x4, 3x3) matrix, got shape {m.shape}")
    rot = m[:3, :3]
    return rot @ _FLIP if _convention(convention) == "blender" else rot


def normals_to_world(normals, cam_to_world, convention: str = "blender", channels_first: bool = False) -> np.ndarray:
    """Normals (..., 3) in OpenCV camera axes (the ``normal`` label, decoded) in world axes.

    ``cam_to_world`` is the view's pose in ``convention`` (as :func:`camera_matrices` gives it).
    ``channels_first``: the normals are (3, H, W) (and so is the result). float32 for float32
    input, else float64; NaNs stay NaN.
    """
    n = np.asarray(normals)
    if channels_first:
        n = np.moveaxis(n, 0, -1)
    if n.shape[-1:] != (3,):
        raise LabelgenError("normals", f"must have 3 components per pixel, got shape {np.shape(normals)}")
    rot = _rotation_cv(cam_to_world, convention)
    dtype = np.float32 if n.dtype == np.float32 else np.float64
    out = (n.astype(np.float64) @ rot.T).astype(dtype)
    return np.moveaxis(out, -1, 0) if channels_first else out


def backproject(depth, K, cam_to_world, convention: str = "blender") -> np.ndarray:
    """World points (H, W, 3) float64 of a z-buffer depth image in metres (``depth_zbuffer``,
    decoded), with the view's ``K`` and pose; NaN where the depth is NaN."""
    z = np.asarray(depth, dtype=np.float64)
    if z.ndim != 2:
        raise LabelgenError("depth", f"must be an (H, W) image, got shape {z.shape}")
    h, w = z.shape
    K = np.asarray(K, dtype=np.float64)
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=-1)  # OpenCV axes
    m = np.asarray(cam_to_world, dtype=np.float64)
    return cam @ _rotation_cv(m, convention).T + m[:3, 3]
