"""NARF stage 4: recursive scale reduction (``NarfKeypoint`` with
``use_recursive_scale_reduction``).

A pyramid of half images is built while half the angular resolution stays below 2 degrees;
each scale is done from the coarsest up, and a point closer than
``support_size / tan(10 * res_{s+1})`` takes its value from the next coarser scale. Taskonomy's
copy of ``NarfKeypoint`` took that value by bilinear interpolation with the row coordinate
computed as ``index / width`` without flooring; stock PCL takes the nearest coarse pixel.

Also here: the masks that restrict each scale to the pixels the final image needs.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .narf_borders import dilate
from .narf_numerics import _DEG2RAD, _ONE, _SHADOW_OR_VEIL, _TWO, OPTIMAL_RANGE_IMAGE_PATCH_SIZE, f32
from .narf_range import RangeImage, half_image, support_window


def scale_space(ri: RangeImage, recursive: bool = True) -> list[RangeImage]:
    """The range images NARF works on: the input, then half images while half the angular
    resolution stays below 2 degrees (``NarfKeypoint::calculateScaleSpace``)."""
    out = [ri]
    if not recursive:
        return out
    two_deg = f32(f32(2.0) * _DEG2RAD)
    while f32(0.5) * out[-1].angular_resolution < two_deg and out[-1].width >= 2 and out[-1].height >= 2:
        out.append(half_image(out[-1]))
    return out


def start_usage_ranges(scales: list[RangeImage], support_size: float) -> list[np.float32]:
    """Below these ranges a scale takes its values from the next coarser one."""
    s = f32(support_size)
    out = [f32(0.0)] * len(scales)
    for i in range(len(scales) - 2, -1, -1):
        out[i] = f32(s / f32(np.tan(f32(f32(OPTIMAL_RANGE_IMAGE_PATCH_SIZE) * scales[i + 1].angular_resolution))))
    return out


@njit(cache=True, inline="always", error_model="numpy")
def _coarse_cells(index, w, hw, hh, bilinear):
    """Coarse pixels (hx, hy, hx_right, hy_below) and bilinear weights (dl, dt) from which
    pixel ``index`` of a ``w`` wide image takes its value (``bilinear``: Taskonomy's
    interpolation with row ``index / w``; else stock PCL's nearest pixel, weights 0)."""
    y = index // w
    if bilinear:
        f_y = f32(index) / f32(w)
        f_x = f32(index) - f32(y) * f32(w)
        fhx = f_x / _TWO
        fhy = f_y / _TWO
        hx = min(int(math.floor(fhx)), hw - 1)
        hy = min(int(math.floor(fhy)), hh - 1)
        hxr = min(int(math.ceil(fhx)), hw - 1)
        hyr = min(int(math.ceil(fhy)), hh - 1)
        dl = min(fhx, f32(hw) - _ONE) - f32(hx)
        dt = min(fhy, f32(hh) - _ONE) - f32(hy)
        return hx, hy, hxr, hyr, dl, dt
    x = index - y * w
    hx = min(x // 2, hw - 1)
    hy = min(y // 2, hh - 1)
    return hx, hy, hx, hy, f32(0.0), f32(0.0)


@njit(cache=True, inline="always", error_model="numpy")
def coarse_value(index, w, coarse, bilinear):
    """Interest of pixel ``index`` taken from the next coarser scale ``coarse`` =
    (values, width, height)."""
    half, hw, hh = coarse
    hx, hy, hxr, hyr, dl, dt = _coarse_cells(index, w, hw, hh, bilinear)
    if not bilinear:
        return half[hy * hw + hx]
    bl = half[hy * hw + hx]
    br = half[hy * hw + hxr]
    tl = half[hyr * hw + hx]
    tr = half[hyr * hw + hxr]
    r1 = (_ONE - dl) * bl + dl * br
    r2 = (_ONE - dl) * tl + dl * tr
    return (_ONE - dt) * r1 + dt * r2


@njit(cache=True, error_model="numpy")
def copy_footprint(rng, traits, need, w, h, start_usage_range, hw, hh, bilinear):
    """Pixels of the half image whose interest a scale copies (so they must be computed)."""
    out = np.zeros(hw * hh, np.bool_)
    for index in range(w * h):
        if not need[index] or not np.isfinite(rng[index]) or traits[index] & _SHADOW_OR_VEIL:
            continue
        if not (rng[index] < start_usage_range):
            continue
        hx, hy, hxr, hyr, _, _ = _coarse_cells(index, w, hw, hh, bilinear)
        out[hy * hw + hx] = True
        out[hy * hw + hxr] = True
        out[hyr * hw + hx] = True
        out[hyr * hw + hxr] = True
    return out


@njit(cache=True, error_model="numpy")
def support_candidates(ri, traits, computed, radius):
    """Points that can vote for a computed point: usable ones within 2 pixels of a computed
    point, or with a computed point in their support window (the pixel box of the sphere of
    radius ``radius`` around them, :func:`.narf_range.support_window`) whose range differs by
    at most the radius (as the distance does); margins cover float32 rounding."""
    w = ri.width
    h = ri.height
    n = w * h
    rng = ri.ranges
    near = dilate(computed, w, h, np.int64(2))  # int64 as from Python: one compilation of dilate
    sat = np.zeros((h + 1, w + 1), np.int64)
    lo = np.inf
    hi = -np.inf
    for y in range(h):
        row = 0
        for x in range(w):
            i = y * w + x
            if computed[i]:
                row += 1
                lo = min(lo, np.float64(rng[i]))
                hi = max(hi, np.float64(rng[i]))
            sat[y + 1, x + 1] = sat[y, x + 1] + row
    slack = np.float64(radius) * 1.001 + 1e-3
    lo -= slack
    hi += slack
    r64 = np.float64(radius) * 1.001
    f64 = np.float64(ri.focal)
    cx64 = np.float64(ri.cx)
    cy64 = np.float64(ri.cy)
    out = np.zeros(n, np.bool_)
    for i in range(n):
        if not np.isfinite(rng[i]) or traits[i] & _SHADOW_OR_VEIL:
            continue
        if near[i]:
            out[i] = True
            continue
        r = np.float64(rng[i])
        if r < lo or r > hi:
            continue
        y = i // w
        x = i - y * w
        x0, x1, y0, y1 = support_window(x, y, ri.points[i, 0], ri.points[i, 1], ri.points[i, 2],
                                        w, h, r64, f64, cx64, cy64)
        out[i] = sat[y1 + 1, x1 + 1] - sat[y0, x1 + 1] - sat[y1 + 1, x0] + sat[y0, x0] > 0
    return out


@njit(cache=True, error_model="numpy")
def computed_mask(rng, traits, need, start_usage_range):
    """Pixels whose interest a scale computes itself (needed, usable, not copied)."""
    out = np.zeros(rng.shape[0], np.bool_)
    for i in range(rng.shape[0]):
        out[i] = need[i] and np.isfinite(rng[i]) and not (traits[i] & _SHADOW_OR_VEIL) \
            and not (rng[i] < start_usage_range)
    return out
