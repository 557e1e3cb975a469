"""Rotations and pinhole intrinsics in the Taskonomy (Blender) convention, written once.

Rotation matrices map camera axes to world axes; the camera looks along its local -Z with +Y
up. Euler angles are Blender's XYZ (extrinsic x, then y, then z; radians), as stored in
point_info (``camera_rotation_final`` and friends). Every function takes one item or a
stack of them.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation


def euler_from_matrix(matrix) -> np.ndarray:
    """Blender XYZ Euler angles (radians) of rotation matrices (..., 3, 3) -> (..., 3)."""
    m = np.asarray(matrix, dtype=np.float64)
    return Rotation.from_matrix(m.reshape(-1, 3, 3)).as_euler("xyz").reshape(m.shape[:-2] + (3,))


def matrix_from_euler(euler) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of Blender XYZ Euler angles (..., 3), radians."""
    e = np.asarray(euler, dtype=np.float64)
    return Rotation.from_euler("xyz", e.reshape(-1, 3)).as_matrix().reshape(e.shape[:-1] + (3, 3))


def focal_length(fov, width):
    """Focal length in pixels, ``W / (2 tan(fov / 2))``, of a full horizontal field of view
    ``fov`` (radians).

    A scalar ``fov`` goes through :func:`math.tan` and an array through :func:`numpy.tan`
    (the two can differ in the last bit; each caller keeps the one its outputs were made with).
    """
    if np.ndim(fov) == 0:
        return width / (2.0 * math.tan(fov / 2.0))
    return width / (2.0 * np.tan(np.asarray(fov) / 2.0))


def look_at_rotations(eye, target, roll=0.0, up=(0.0, 0.0, 1.0), fallback_up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Camera-to-world rotations (..., 3, 3) aiming from ``eye`` at ``target`` (..., 3).

    The image's up direction is ``up`` projected onto the image plane, then the camera is
    rolled by ``roll`` radians about its viewing axis. Where the viewing direction is
    parallel to ``up`` (within 1e-9), ``fallback_up`` is used instead.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    shape = np.broadcast_shapes(eye.shape, target.shape)
    f = np.broadcast_to(target - eye, shape).reshape(-1, 3)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    right = np.cross(f, np.asarray(up, dtype=np.float64))
    n = np.linalg.norm(right, axis=1)
    parallel = n < 1e-9
    if np.any(parallel):
        right[parallel] = np.cross(f[parallel], np.asarray(fallback_up, dtype=np.float64))
        n[parallel] = np.linalg.norm(right[parallel], axis=1)
    right /= n[:, None]
    cam_up = np.cross(right, f)
    roll = np.broadcast_to(np.asarray(roll, dtype=np.float64), (len(f),))
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x = c * right + s * cam_up
    y = -s * right + c * cam_up
    return np.stack([x, y, -f], axis=2).reshape(shape[:-1] + (3, 3))
