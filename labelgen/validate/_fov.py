"""A view's field of view from its shipped files, for views without camera metadata
(``labelgen validate --fit``; see :mod:`labelgen.validate._fit` for when each is used):
closed forms from the two depths (:func:`fit_fov_from_depths`) or from depth and normals
(:func:`fit_fov_from_normals`), and, as the last resort, the keypoints3d correlation
(:func:`fit_fov_from_keypoints`)."""
from __future__ import annotations

import math

import numpy as np

from labelgen.camera._cameras import Camera
from labelgen.engine._pipeline import LazySources, compute_view

#: fields of view (radians) a fit may return: outside, the estimate is taken as failed.
FOV_RANGE = (math.radians(10.0), math.radians(170.0))


# -- field of view -----------------------------------------------------------------------

def _fov_of_focal(f: float, w: int) -> float | None:
    if not (f > 0 and math.isfinite(f)):
        return None
    fov = 2.0 * math.atan(w / (2.0 * f))
    return fov if FOV_RANGE[0] <= fov <= FOV_RANGE[1] else None


def fit_fov_from_depths(zbuffer: np.ndarray, euclidean: np.ndarray) -> float | None:
    """Horizontal field of view (radians) from a pair of depth images of the same view, or None."""
    if zbuffer.shape != euclidean.shape or zbuffer.ndim != 2:
        return None
    h, w = zbuffer.shape
    u = np.arange(w) - (w - 1) / 2.0
    v = (h - 1) / 2.0 - np.arange(h)
    r2 = u[None, :] ** 2 + v[:, None] ** 2
    ok = (zbuffer < 65535) & (euclidean < 65535) & (zbuffer >= 256)
    if np.count_nonzero(ok) < 100:
        return None
    k2 = (euclidean[ok].astype(np.float64) / zbuffer[ok]) ** 2
    s = float(np.sum((k2 - 1.0) * r2[ok]) / np.sum(r2[ok] ** 2))
    if not s > 0:
        return None
    return _fov_of_focal(1.0 / math.sqrt(s), w)


def fit_fov_from_normals(zbuffer: np.ndarray, normal: np.ndarray, step: int = 2,
                         max_median_angle: float = 10.0, max_pixels: int = 40000) -> float | None:
    """Horizontal field of view (radians) that makes the normals of the back-projected depth
    parallel to the shipped normals, or None when the two do not fit together.

    A pixel ``(u, v)`` (from the image centre, OpenCV axes: v down) at z-buffer depth ``Z``
    back-projects to ``Z (u / f, v / f, 1)``; the cross product of its derivatives along the
    rows and columns is parallel to ``n(f) = (-f Z_u, -f Z_v, u Z_u + v Z_v + Z)``. With the
    shipped normal ``(nx, ny, nz)``, being parallel means ``n_x(f) nz = nx n_z(f)`` and
    ``n_y(f) nz = ny n_z(f)``: two equations linear in ``f`` per pixel, ``f Z_u nz + nx g = 0``
    and ``f Z_v nz + ny g = 0`` with ``g = u Z_u + v Z_v + Z``. Derivatives are central
    differences over ``step`` pixels, on pixels whose depth is locally planar (second
    difference within one unit plus 5 %; at most ``max_pixels`` of them, evenly spread); ``f``
    is their Huber-weighted least-squares solution. The fit is accepted when the median angle
    between the implied and the shipped normals is below ``max_median_angle`` degrees.
    """
    if zbuffer.ndim != 2 or normal.ndim != 3 or normal.shape[:2] != zbuffer.shape or normal.shape[2] != 3:
        return None
    h, w = zbuffer.shape
    k = int(step)
    if h <= 4 * k or w <= 4 * k:
        return None
    D = zbuffer.astype(np.float64)
    n = normal.astype(np.float64) / 127.5 - 1.0
    valid = (zbuffer < 65535) & ~np.all(normal == 128, axis=-1)
    c = (slice(k, h - k), slice(k, w - k))  # pixels with both neighbours at distance k
    Dc = D[c]
    left, right = D[k:h - k, 0:w - 2 * k], D[k:h - k, 2 * k:w]
    up, down = D[0:h - 2 * k, k:w - k], D[2 * k:h, k:w - k]
    ok = valid[c] & valid[k:h - k, 0:w - 2 * k] & valid[k:h - k, 2 * k:w] & valid[0:h - 2 * k, k:w - k] \
        & valid[2 * k:h, k:w - k]
    ok &= np.abs((right - Dc) - (Dc - left)) <= 1.0 + 0.05 * np.abs(right - left)
    ok &= np.abs((down - Dc) - (Dc - up)) <= 1.0 + 0.05 * np.abs(down - up)
    count = int(np.count_nonzero(ok))
    if count < 200:
        return None
    if count > max_pixels:  # every n-th usable pixel: the same fit, a fraction of the time
        keep = np.zeros(count, bool)
        keep[::-(-count // max_pixels)] = True
        ok[ok] = keep
    du = ((right - left) / (2 * k))[ok]
    dv = ((down - up) / (2 * k))[ok]
    u = np.broadcast_to((np.arange(k, w - k) - (w - 1) / 2.0)[None, :], Dc.shape)[ok]
    v = np.broadcast_to((np.arange(k, h - k) - (h - 1) / 2.0)[:, None], Dc.shape)[ok]
    nx, ny, nz = (n[c][..., i][ok] for i in range(3))
    g = u * du + v * dv + Dc[ok]
    a = np.concatenate([du * nz, dv * nz])
    b = -np.concatenate([nx * g, ny * g])
    wts = np.ones_like(a)
    f = math.nan
    for _ in range(8):
        den = float(np.sum(wts * a * a))
        if not den > 0:
            return None
        f = float(np.sum(wts * a * b) / den)
        r = np.abs(a * f - b)
        scale = 1.4826 * float(np.median(r)) + 1e-12
        wts = 1.0 / np.maximum(1.0, r / (2.0 * scale))
    implied = np.stack([-f * du, -f * dv, g], axis=1)
    implied /= np.linalg.norm(implied, axis=1, keepdims=True) + 1e-300
    shipped = np.stack([nx, ny, nz], axis=1)
    shipped /= np.linalg.norm(shipped, axis=1, keepdims=True) + 1e-300
    cos = np.abs(np.sum(implied * shipped, axis=1))  # a normal and its opposite are the same plane
    if not np.degrees(np.arccos(np.clip(np.median(cos), 0.0, 1.0))) < max_median_angle:
        return None
    return _fov_of_focal(f, w)


def _keypoints3d(depth, fov, params):
    h, w = depth.shape
    cam = Camera(np.zeros(3), np.eye(3), fov, w, h)
    return compute_view(["keypoints3d"], LazySources(depth_zbuffer=depth, camera=cam), params)[0]["keypoints3d"]


def fit_fov_from_keypoints(depth: np.ndarray, shipped: np.ndarray, params) -> tuple[float, np.ndarray]:
    """Field of view maximising the keypoints3d correlation (a 10-degree grid over 30-125
    degrees, a 2-degree grid around the best, then a golden-section search), and the
    keypoints3d recomputed with it."""
    from labelgen.validate._metrics import pearson

    cache: dict[float, tuple[float, np.ndarray]] = {}

    def score(deg):
        if deg not in cache:
            ours = _keypoints3d(depth, math.radians(deg), params)
            cache[deg] = (pearson(shipped, ours), ours)
        return cache[deg][0]

    best = max(range(30, 126, 10), key=score)
    best = max(range(max(20, best - 8), min(150, best + 8) + 1, 2), key=score)
    a, b = best - 2.0, best + 2.0
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(8):
        if score(c) >= score(d):
            b, d = d, c
            c = b - g * (b - a)
        else:
            a, c = c, d
            d = a + g * (b - a)
    deg = max(cache, key=lambda x: cache[x][0])
    return math.radians(deg), cache[deg][1]
