"""NARF stage 1: planar range images (``RangeImagePlanar``) and their half images."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .narf_numerics import _ONE, _Z, _sqnorm, f32

@njit(cache=True, error_model="numpy")
def _planar_points(depth, focal, cx, cy):
    h, w = depth.shape
    pts = np.full((h * w, 3), np.nan, np.float32)
    rng = np.full(h * w, -np.inf, np.float32)
    fr = _ONE / focal
    for y in range(h):
        for x in range(w):
            z = depth[y, x]
            if not (z > _Z) or not np.isfinite(z):
                continue
            i = y * w + x
            px = ((f32(x) - cx) * z) * fr
            py = ((f32(y) - cy) * z) * fr
            pts[i, 0] = px
            pts[i, 1] = py
            pts[i, 2] = z
            rng[i] = math.sqrt(_sqnorm(px, py, z))
    return pts, rng


class RangeImage(NamedTuple):
    """A planar range image (flattened row-major arrays, float32 as in PCL).

    ``points`` (H*W, 3) in the camera frame (x right, y down, z forward), NaN where
    unobserved; ``ranges`` (H*W,), ``-inf`` where unobserved; ``focal``, ``cx``, ``cy`` the
    projection; ``angular_resolution`` in radians per pixel.
    """

    points: np.ndarray
    ranges: np.ndarray
    width: int
    height: int
    focal: np.float32
    cx: np.float32
    cy: np.float32
    angular_resolution: np.float32


def planar_range_image(depth_m, focal, center=None) -> RangeImage:
    """``RangeImagePlanar::setDepthImage``: a range image from a z-buffer depth in metres.

    Parameters
    ----------
    depth_m : (H, W) array, depth along the optical axis in metres; ``<= 0`` or non-finite
        pixels are unobserved.
    focal : focal length in pixels (both axes).
    center : (cx, cy) principal point in pixels, default ``(W / 2, H / 2)`` (Taskonomy).
    """
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError("depth must be a 2-D array")
    h, w = depth.shape
    if center is None:
        center = (w / 2.0, h / 2.0)
    focal = f32(focal)
    cx, cy = f32(center[0]), f32(center[1])
    pts, rng = _planar_points(depth, focal, cx, cy)
    half_w = f32(0.5) * f32(w)
    with np.errstate(invalid="ignore"):
        # NaN for fields of view over 90 degrees, as in PCL: then no scale reduction happens
        res = f32(np.arcsin(half_w / focal)) / half_w
    return RangeImage(pts, rng, w, h, focal, cx, cy, f32(res))


@njit(cache=True, error_model="numpy")
def _half_points(pts, rng, w, h):
    w2 = w // 2
    h2 = h // 2
    pts2 = np.full((w2 * h2, 3), np.nan, np.float32)
    rng2 = np.full(w2 * h2, -np.inf, np.float32)
    for dy in range(h2):
        for dx in range(w2):
            di = dy * w2 + dx
            for sx in range(2 * dx, 2 * dx + 2):
                for sy in range(2 * dy, 2 * dy + 2):
                    si = sy * w + sx
                    r = rng[si]
                    if np.isinf(r) and r < _Z:  # not observed
                        continue
                    if np.isfinite(rng2[di]) and r > rng2[di]:
                        continue
                    rng2[di] = r
                    pts2[di, 0] = pts[si, 0]
                    pts2[di, 1] = pts[si, 1]
                    pts2[di, 2] = pts[si, 2]
    return pts2, rng2


def half_image(ri: RangeImage) -> RangeImage:
    """``RangeImagePlanar::getHalfImage``: each 2x2 block keeps its closest observed point."""
    pts, rng = _half_points(ri.points, ri.ranges, ri.width, ri.height)
    return RangeImage(pts, rng, ri.width // 2, ri.height // 2, f32(ri.focal / f32(2)),
                      f32(ri.cx / f32(2)), f32(ri.cy / f32(2)),
                      f32(f32(2) * ri.angular_resolution))


@njit(cache=True, inline="always", error_model="numpy")
def support_window(x, y, px, py, pz, w, h, r64, f64, cx64, cy64):
    """Pixel box (x0, x1, y0, y1) holding every pixel within 2 of (x, y) and every point
    within ``r64`` of p: the box of the sphere's projection (nearest depth for the outward
    side), widened by 2 pixels; the whole image when the sphere reaches the sensor plane."""
    x0 = max(0, x - 3)
    x1 = min(w - 1, x + 3)
    y0 = max(0, y - 3)
    y1 = min(h - 1, y + 3)
    pz64 = np.float64(pz)
    if not (pz64 - r64 > 0):
        return 0, w - 1, 0, h - 1
    px64 = np.float64(px)
    py64 = np.float64(py)
    near = pz64 - r64
    far = pz64 + r64
    hi_x = (px64 + r64) / (near if px64 + r64 >= 0 else far)
    lo_x = (px64 - r64) / (near if px64 - r64 < 0 else far)
    hi_y = (py64 + r64) / (near if py64 + r64 >= 0 else far)
    lo_y = (py64 - r64) / (near if py64 - r64 < 0 else far)
    x0 = min(x0, max(0, int(math.floor(lo_x * f64 + cx64)) - 2))
    x1 = max(x1, min(w - 1, int(math.ceil(hi_x * f64 + cx64)) + 2))
    y0 = min(y0, max(0, int(math.floor(lo_y * f64 + cy64)) - 2))
    y1 = max(y1, min(h - 1, int(math.ceil(hi_y * f64 + cy64)) + 2))
    return x0, x1, y0, y1
