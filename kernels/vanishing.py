"""Vanishing points of many cameras at once (spec section 5).

The explicit one-camera computation with matrices, :func:`labelgen.camera._vanishing.camera_vanishing_points`,
is the reference the tests hold this kernel against.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _vanishing_kernel(rot, cos_t, sin_t, focal, width, height, gs, img):  # pragma: no cover - compiled
    n = rot.shape[0]
    for i in range(n):
        # camera right axis in world (first column of the camera-to-world matrix)
        best = -1
        best_val = -np.inf
        for k in range(4):
            # Manhattan y axis (-sin, cos, 0) rotated by k * 90 degrees about z, exactly
            ax = -sin_t
            ay = cos_t
            for _ in range(k):
                ax, ay = -ay, ax
            val = ax * rot[i, 0, 0] + ay * rot[i, 1, 0]
            if val > best_val:
                best_val = val
                best = k
        xx = cos_t
        xy = sin_t
        yx = -sin_t
        yy = cos_t
        for _ in range(best):
            xx, xy = -xy, xx
            yx, yy = -yy, yx
        # world axes in camera coordinates: R^T a
        for c in range(3):
            gs[i, 0, c] = rot[i, 0, c] * xx + rot[i, 1, c] * xy
            gs[i, 1, c] = rot[i, 0, c] * yx + rot[i, 1, c] * yy
            gs[i, 2, c] = rot[i, 2, c]
        f = focal[i]
        cx = width[i] / 2.0
        cy = height[i] / 2.0
        for a in range(3):
            qx = 0.1 * gs[i, a, 0]
            qy = 0.1 * gs[i, a, 1]
            qz = 0.1 * gs[i, a, 2] - 0.2
            u = f * qx - cx * qz
            v = -f * qy - cy * qz
            w = -qz
            img[i, a, 0] = u / w
            img[i, a, 1] = v / w


def vanishing_point_arrays(rotations, focal, width, height, manhattan_radians=0.0):
    """Vanishing points of ``n`` cameras.

    Parameters
    ----------
    rotations : (n, 3, 3) camera-to-world rotation matrices (Blender convention).
    focal : (n,) focal lengths in pixels, ``W / (2 tan(fov / 2))``.
    width, height : (n,) image sizes in pixels.
    manhattan_radians : rotation of the building's Manhattan frame about the world z axis.

    Returns
    -------
    gaussian_sphere : (n, 3, 3) the Manhattan x, y, z axes in the (rotated) camera frame.
    image : (n, 3, 2) their image projections ``K' (0.1 p - [0, 0, 0.2])``.
    """
    rot = np.ascontiguousarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    n = rot.shape[0]
    focal = np.broadcast_to(np.asarray(focal, dtype=np.float64), (n,)).copy()
    width = np.broadcast_to(np.asarray(width, dtype=np.float64), (n,)).copy()
    height = np.broadcast_to(np.asarray(height, dtype=np.float64), (n,)).copy()
    gs = np.empty((n, 3, 3))
    img = np.empty((n, 3, 2))
    t = float(manhattan_radians)
    c, s = (1.0, 0.0) if t == 0.0 else (np.cos(t), np.sin(t))
    _vanishing_kernel(rot, c, s, focal, width, height, gs, img)
    return gs, img
