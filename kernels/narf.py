"""NARF interest image: PCL's ``NarfKeypoint`` dense interest image as Numba kernels.

This module reimplements, step by step, what Taskonomy ran to make ``keypoints3d``: PCL's
NARF keypoint detector (B. Steder, R. B. Rusu, K. Konolige, W. Burgard, "Point Feature
Extraction on 3D Range Scans Taking into Account Object Boundaries", ICRA 2011) on a planar
range image built from the z-buffer depth, keeping the dense *interest image* (the score of
every pixel before non-maximum suppression).

Pipeline (names follow the paper and PCL; every number is float32 as in PCL):

1. **Range image** (:func:`planar_range_image`, ``RangeImagePlanar::setDepthImage``): every
   pixel ``(x, y)`` with depth ``z > 0`` becomes the point
   ``((x - cx) z / f, (y - cy) z / f, z)`` with range ``r = |p|``; other pixels are
   *unobserved* (range ``-inf``). The angular resolution is ``asin(W / 2f) / (W / 2)``.
2. **Border extraction** (:func:`border_extraction`, ``RangeImageBorderExtractor`` with its
   default parameters):

   a. *local surface* per point: PCA of the neighbours in a 5x5 window that lie within twice
      the distance of the 9th closest one (normal, mean, and that squared distance ``d9``);
   b. *border scores* left/right/top/bottom: ``1 - sqrt(d9 / |p - q|^2)`` with ``q`` the
      average of the next 3 points in that direction (negative when ``q`` is closer to the
      sensor, i.e. on the shadow side);
   c. scores raised by the average of their 8 neighbours;
   d. *shadow borders*: a border score >= 0.8 needs a negative score in the opposite
      direction within 3 pixels (the shadow border), and is lowered according to it;
   e. *classification*: local maxima become *obstacle borders*, their partners *shadow
      borders*, and the pixels in between *veil points*;
   f. *border directions*: the 3D direction from an obstacle border point towards the
      background (projected on the local plane), averaged over a 5x5 window;
   g. *surface change* score and direction: 1 and the border direction on obstacle
      borders, else the main *principal curvature* (largest eigenvalue of the PCA of the
      neighbours' normals along 8 beams of 2 pixels) and its direction.
3. **Interest values** (:func:`interest_image`, ``NarfKeypoint::calculateCompleteInterestImage``):
   for each point, the points reachable by region growing within the support radius
   ``support_size / 2`` vote in an 18-cell histogram of surface-change directions (the angle
   in the plane orthogonal to the viewing ray); the interest is
   ``negative_score * sqrt(max_{i<j} h_i h_j d_ij)`` where ``d_ij`` is the normalised angle
   between the cells and ``negative_score`` penalises strong surface changes closer than
   a quarter of the support size.
4. **Recursive scale reduction**: a pyramid of half images (2x2 minimum-range points) is
   built while half the angular resolution stays below 2 degrees; each scale is done from the
   coarsest up, and a point closer than ``support_size / tan(10 * res_{s+1})`` takes its value
   from the next coarser scale. Taskonomy's copy of ``NarfKeypoint`` took that value by
   *bilinear interpolation* (with the row coordinate computed as ``index / width`` without
   flooring, so the vertical weight also carries ``x / (2 W)``); ``taskonomy_upsampling``
   reproduces that, otherwise stock PCL's nearest value is used.

Quirks of PCL kept on purpose because they change the result: the angle of a direction in
the histogram only depends on its first coordinate in the viewer frame
(``0.5 * normAngle(2 acos(dx))``), PCL's own 3x3 eigen solver (``pcl::eigen33``, whose
eigenvector signs matter through that angle), the float32 streaming mean/covariance of
``VectorAverage`` and libstdc++'s ``std::sort`` order of the neighbours.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

f32 = np.float32

_Z = f32(0.0)
_ONE = f32(1.0)
_HALF = f32(0.5)
_TWO = f32(2.0)
_FOUR = f32(4.0)
_FLT_EPS = f32(np.finfo(np.float32).eps)
_FLT_MIN = f32(np.finfo(np.float32).tiny)
_INV3 = f32(1.0 / 3.0)
_SQRT3 = f32(math.sqrt(3.0))
_PI = f32(math.pi)
_TWO_PI = f32(2.0) * f32(math.pi)
_DEG2RAD = f32(0.017453292519943295)  # pcl::deg2rad(float) multiplies by this float
_PREC = f32(1e-5)  # Eigen's dummy_precision for float (unitOrthogonal)

# border extractor defaults (RangeImageBorderExtractor::Parameters)
PIXEL_RADIUS_BORDERS = 3
PIXEL_RADIUS_PLANE_EXTRACTION = 2
PIXEL_RADIUS_BORDER_DIRECTION = 2
MINIMUM_BORDER_PROBABILITY = f32(0.8)
PIXEL_RADIUS_PRINCIPAL_CURVATURE = 2
# NarfKeypoint::Parameters defaults
OPTIMAL_DISTANCE_TO_HIGH_SURFACE_CHANGE = f32(0.25)
MIN_SURFACE_CHANGE_SCORE = f32(0.2)
OPTIMAL_RANGE_IMAGE_PATCH_SIZE = 10
HISTOGRAM_SIZE = 18

# border traits (bit flags, as PCL's BorderTraits)
OBSTACLE_BORDER = 1
OBSTACLE_BORDER_LEFT = 2
OBSTACLE_BORDER_RIGHT = 4
OBSTACLE_BORDER_TOP = 8
OBSTACLE_BORDER_BOTTOM = 16
SHADOW_BORDER = 32
SHADOW_BORDER_LEFT = 64
SHADOW_BORDER_RIGHT = 128
SHADOW_BORDER_TOP = 256
SHADOW_BORDER_BOTTOM = 512
VEIL_POINT = 1024
VEIL_POINT_LEFT = 2048
VEIL_POINT_RIGHT = 4096
VEIL_POINT_TOP = 8192
VEIL_POINT_BOTTOM = 16384
_SHADOW_OR_VEIL = SHADOW_BORDER | VEIL_POINT


# ---------------------------------------------------------------------------------------
# small float32 linear algebra (Eigen / PCL semantics)
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _cross(a0, a1, a2, b0, b1, b2):
    return a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0


@njit(cache=True, inline="always", error_model="numpy")
def _sqnorm(a0, a1, a2):
    """Eigen's squaredNorm of a 3-vector (unrolled redux: ``a0 + (a1 + a2)``)."""
    return a0 * a0 + (a1 * a1 + a2 * a2)


@njit(cache=True, inline="always", error_model="numpy")
def _dot(a0, a1, a2, b0, b1, b2):
    """Eigen's dot product of 3-vectors (unrolled redux: ``a0 b0 + (a1 b1 + a2 b2)``)."""
    return a0 * b0 + (a1 * b1 + a2 * b2)


@njit(cache=True, inline="always", error_model="numpy")
def _sqdist(a0, a1, a2):
    """PCL's ``squaredEuclideanDistance`` of a difference (left to right)."""
    return (a0 * a0 + a1 * a1) + a2 * a2


@njit(cache=True, inline="always", error_model="numpy")
def _normalized(a0, a1, a2):
    """Eigen's ``normalized()``: divide by the norm (a zero vector is returned unchanged)."""
    n2 = _sqnorm(a0, a1, a2)
    if n2 > _Z:
        n = math.sqrt(n2)
        return a0 / n, a1 / n, a2 / n
    return a0, a1, a2


@njit(cache=True, inline="always", error_model="numpy")
def _compute_roots2(b, c, roots):
    roots[0] = _Z
    d = f32(np.float64(b * b) - 4.0 * np.float64(c))  # Scalar(b * b - 4.0 * c): double arithmetic
    if d < _Z:
        d = _Z
    sd = math.sqrt(d)
    roots[2] = _HALF * (b + sd)
    roots[1] = _HALF * (b - sd)


@njit(cache=True, inline="always", error_model="numpy")
def _compute_roots(m, roots):
    """``pcl::computeRoots``: eigenvalues of a symmetric 3x3 matrix, ascending."""
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m11, m12, m22 = m[1, 1], m[1, 2], m[2, 2]
    c0 = ((((m00 * m11) * m22 + ((_TWO * m01) * m02) * m12) - (m00 * m12) * m12)
          - (m11 * m02) * m02) - (m22 * m01) * m01
    c1 = ((((m00 * m11 - m01 * m01) + m00 * m22) - m02 * m02) + m11 * m22) - m12 * m12
    c2 = (m00 + m11) + m22
    if abs(c0) < _FLT_EPS:
        _compute_roots2(c2, c1, roots)
        return
    c2_over_3 = c2 * _INV3
    a_over_3 = (c1 - c2 * c2_over_3) * _INV3
    if a_over_3 > _Z:
        a_over_3 = _Z
    half_b = _HALF * (c0 + c2_over_3 * ((_TWO * c2_over_3) * c2_over_3 - c1))
    q = half_b * half_b + (a_over_3 * a_over_3) * a_over_3
    if q > _Z:
        q = _Z
    rho = math.sqrt(-a_over_3)
    theta = math.atan2(math.sqrt(-q), half_b) * _INV3
    cos_t = math.cos(theta)
    sin_t = math.sin(theta)
    r0 = c2_over_3 + (_TWO * rho) * cos_t
    r1 = c2_over_3 - rho * (cos_t + _SQRT3 * sin_t)
    r2 = c2_over_3 - rho * (cos_t - _SQRT3 * sin_t)
    if r0 >= r1:
        r0, r1 = r1, r0
    if r1 >= r2:
        r1, r2 = r2, r1
        if r0 >= r1:
            r0, r1 = r1, r0
    roots[0] = r0
    roots[1] = r1
    roots[2] = r2
    if r0 <= _Z:
        _compute_roots2(c2, c1, roots)


@njit(cache=True, inline="always", error_model="numpy")
def _largest_cross(t, out, col):
    """Row cross product of largest norm of ``t`` (a matrix minus an eigenvalue), normalised
    into ``out[:, col]``; returns its squared norm (PCL 1.7/1.8 ``eigen33`` helper)."""
    v1 = _cross(t[0, 0], t[0, 1], t[0, 2], t[1, 0], t[1, 1], t[1, 2])
    v2 = _cross(t[0, 0], t[0, 1], t[0, 2], t[2, 0], t[2, 1], t[2, 2])
    v3 = _cross(t[1, 0], t[1, 1], t[1, 2], t[2, 0], t[2, 1], t[2, 2])
    l1 = _sqnorm(v1[0], v1[1], v1[2])
    l2 = _sqnorm(v2[0], v2[1], v2[2])
    l3 = _sqnorm(v3[0], v3[1], v3[2])
    if l1 >= l2 and l1 >= l3:
        s = math.sqrt(l1)
        out[0, col], out[1, col], out[2, col] = v1[0] / s, v1[1] / s, v1[2] / s
        return 1, l1, l2, l3
    elif l2 >= l1 and l2 >= l3:
        s = math.sqrt(l2)
        out[0, col], out[1, col], out[2, col] = v2[0] / s, v2[1] / s, v2[2] / s
        return 2, l1, l2, l3
    s = math.sqrt(l3)
    out[0, col], out[1, col], out[2, col] = v3[0] / s, v3[1] / s, v3[2] / s
    return 3, l1, l2, l3


@njit(cache=True, inline="always", error_model="numpy")
def _unit_orthogonal(v0, v1, v2):
    """Eigen's ``unitOrthogonal()`` for a 3-vector."""
    if not (abs(v0) <= abs(v2) * _PREC) or not (abs(v1) <= abs(v2) * _PREC):
        inv = _ONE / math.sqrt(v0 * v0 + v1 * v1)
        return -v1 * inv, v0 * inv, _Z
    inv = _ONE / math.sqrt(v1 * v1 + v2 * v2)
    return _Z, -v2 * inv, v1 * inv


@njit(cache=True, error_model="numpy")
def eigen33(mat, evecs, evals, variant=0, work=None):
    """``pcl::eigen33`` (PCL 1.7/1.8) on a symmetric float32 3x3 matrix.

    Fills ``evals`` (ascending) and ``evecs`` (columns), with PCL's choice of eigenvector
    signs (cross products of the rows of ``mat - lambda I``). ``variant`` 1 selects the
    re-orthogonalisation of PCL >= 1.10 (used only to compare with a modern PCL build).
    ``work``: optional (3, 3, 3) float32 scratch array (avoids allocations in hot loops).
    """
    if work is None:
        work = np.empty((3, 3, 3), np.float32)
    _eigen33(mat, evecs, evals, variant, work)


@njit(cache=True, inline="always", error_model="numpy")
def _eigen33(mat, evecs, evals, variant, work):
    """:func:`eigen33` with a mandatory scratch array, inlined into the hot loops."""
    scale = _Z
    for i in range(3):
        for j in range(3):
            a = abs(mat[i, j])
            if a > scale:
                scale = a
    if scale <= _FLT_MIN:
        scale = _ONE
    sm = work[0]
    for i in range(3):
        for j in range(3):
            sm[i, j] = mat[i, j] / scale
    _compute_roots(sm, evals)
    tmp = work[1]
    if (evals[2] - evals[0]) <= _FLT_EPS:
        for i in range(3):
            for j in range(3):
                evecs[i, j] = _ONE if i == j else _Z
    elif (evals[1] - evals[0]) <= _FLT_EPS:
        tmp[:] = sm
        for i in range(3):
            tmp[i, i] -= evals[2]
        _largest_cross(tmp, evecs, 2)
        u = _unit_orthogonal(evecs[0, 2], evecs[1, 2], evecs[2, 2])
        evecs[0, 1], evecs[1, 1], evecs[2, 1] = u
        c = _cross(u[0], u[1], u[2], evecs[0, 2], evecs[1, 2], evecs[2, 2])
        evecs[0, 0], evecs[1, 0], evecs[2, 0] = c
    elif (evals[2] - evals[1]) <= _FLT_EPS:
        tmp[:] = sm
        for i in range(3):
            tmp[i, i] -= evals[0]
        _largest_cross(tmp, evecs, 0)
        u = _unit_orthogonal(evecs[0, 0], evecs[1, 0], evecs[2, 0])
        evecs[0, 1], evecs[1, 1], evecs[2, 1] = u
        c = _cross(evecs[0, 0], evecs[1, 0], evecs[2, 0], u[0], u[1], u[2])
        evecs[0, 2], evecs[1, 2], evecs[2, 2] = c
    elif variant == 1:
        lens = work[2, 0]
        for c in range(3):
            tmp[:] = sm
            for i in range(3):
                tmp[i, i] -= evals[c]
            k, l1, l2, l3 = _largest_cross(tmp, evecs, c)
            lens[c] = math.sqrt(l1 if k == 1 else (l2 if k == 2 else l3))
        min_el = 0
        max_el = 0
        for c in range(1, 3):
            if lens[c] < lens[min_el]:
                min_el = c
            if not (lens[c] < lens[max_el]):
                max_el = c
        mid_el = 3 - min_el - max_el
        for el in (min_el, mid_el):
            a = (el + 1) % 3
            b = (el + 2) % 3
            c3 = _cross(evecs[0, a], evecs[1, a], evecs[2, a], evecs[0, b], evecs[1, b], evecs[2, b])
            c3 = _normalized(c3[0], c3[1], c3[2])
            evecs[0, el], evecs[1, el], evecs[2, el] = c3
    else:
        mmax = work[2, 0]
        tmp[:] = sm
        for i in range(3):
            tmp[i, i] -= evals[2]
        k, l1, l2, l3 = _largest_cross(tmp, evecs, 2)
        mmax[2] = l1 if k == 1 else (l2 if k == 2 else l3)
        min_el = 2
        max_el = 2
        tmp[:] = sm
        for i in range(3):
            tmp[i, i] -= evals[1]
        k, l1, l2, l3 = _largest_cross(tmp, evecs, 1)
        ln = l1 if k == 1 else (l2 if k == 2 else l3)
        mmax[1] = ln
        min_el = 1 if ln <= mmax[min_el] else min_el
        max_el = 1 if ln > mmax[max_el] else max_el
        tmp[:] = sm
        for i in range(3):
            tmp[i, i] -= evals[0]
        k, l1, l2, l3 = _largest_cross(tmp, evecs, 0)
        mmax[0] = l1 if k == 1 else (l2 if k == 2 else l3)
        # PCL 1.7/1.8 compares len3 here whatever row pair was chosen (kept on purpose)
        min_el = 0 if l3 <= mmax[min_el] else min_el
        max_el = 0 if l3 > mmax[max_el] else max_el
        mid_el = 3 - min_el - max_el
        for el in (min_el, mid_el):
            a = (el + 1) % 3
            b = (el + 2) % 3
            c = _cross(evecs[0, a], evecs[1, a], evecs[2, a], evecs[0, b], evecs[1, b], evecs[2, b])
            c = _normalized(c[0], c[1], c[2])
            evecs[0, el], evecs[1, el], evecs[2, el] = c
    for i in range(3):
        evals[i] *= scale


_RECIP = np.array([0.0] + [f32(1.0) / f32(k) for k in range(1, 64)], np.float32)
_ONE_MINUS_RECIP = np.array([f32(1.0) - r for r in _RECIP], np.float32)


@njit(cache=True, inline="always", error_model="numpy")
def _vavg_add(state, s0, s1, s2):
    """``VectorAverage3f::add`` (weight 1): streaming float32 mean and covariance.

    ``state``: [n, weight, mean0..2, c00, c01, c02, c11, c12, c22].
    """
    state[0] += _ONE
    state[1] += _ONE
    n = int(state[1])
    alpha = _RECIP[n]  # == 1.0f / n
    oma = _ONE_MINUS_RECIP[n]
    d0 = s0 - state[2]
    d1 = s1 - state[3]
    d2 = s2 - state[4]
    state[5] = (state[5] + (d0 * d0) * alpha) * oma
    state[6] = (state[6] + (d0 * d1) * alpha) * oma
    state[7] = (state[7] + (d0 * d2) * alpha) * oma
    state[8] = (state[8] + (d1 * d1) * alpha) * oma
    state[9] = (state[9] + (d1 * d2) * alpha) * oma
    state[10] = (state[10] + (d2 * d2) * alpha) * oma
    state[2] += d0 * alpha
    state[3] += d1 * alpha
    state[4] += d2 * alpha


@njit(cache=True, inline="always", error_model="numpy")
def _vavg_cov(state, cov):
    cov[0, 0] = state[5]
    cov[0, 1] = cov[1, 0] = state[6]
    cov[0, 2] = cov[2, 0] = state[7]
    cov[1, 1] = state[8]
    cov[1, 2] = cov[2, 1] = state[9]
    cov[2, 2] = state[10]


# ---------------------------------------------------------------------------------------
# libstdc++ std::sort on (distance, index) pairs, by distance (order decides float sums)
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _swap(d, k, i, j):
    d[i], d[j] = d[j], d[i]
    k[i], k[j] = k[j], k[i]


@njit(cache=True, inline="always", error_model="numpy")
def _unguarded_linear_insert(d, k, last):
    vd = d[last]
    vk = k[last]
    nxt = last - 1
    while vd < d[nxt]:
        d[last] = d[nxt]
        k[last] = k[nxt]
        last = nxt
        nxt -= 1
    d[last] = vd
    k[last] = vk


@njit(cache=True, inline="always", error_model="numpy")
def _insertion_sort(d, k, first, last):
    if first == last:
        return
    for i in range(first + 1, last):
        if d[i] < d[first]:
            vd = d[i]
            vk = k[i]
            for j in range(i, first, -1):
                d[j] = d[j - 1]
                k[j] = k[j - 1]
            d[first] = vd
            k[first] = vk
        else:
            _unguarded_linear_insert(d, k, i)


@njit(cache=True, inline="always", error_model="numpy")
def _partition_pivot(d, k, first, last):
    mid = first + (last - first) // 2
    a, b, c = first + 1, mid, last - 1
    if d[a] < d[b]:
        if d[b] < d[c]:
            _swap(d, k, first, b)
        elif d[a] < d[c]:
            _swap(d, k, first, c)
        else:
            _swap(d, k, first, a)
    elif d[a] < d[c]:
        _swap(d, k, first, a)
    elif d[b] < d[c]:
        _swap(d, k, first, c)
    else:
        _swap(d, k, first, b)
    lo = first + 1
    hi = last
    pivot = d[first]
    while True:
        while d[lo] < pivot:
            lo += 1
        hi -= 1
        while pivot < d[hi]:
            hi -= 1
        if not (lo < hi):
            return lo
        _swap(d, k, lo, hi)
        lo += 1


@njit(cache=True, error_model="numpy")
def _std_sort(d, k, n, stack):
    """libstdc++'s introsort + final insertion sort (n is small: no heap-sort fallback).

    ``stack``: int64 scratch array of at least 64 entries."""
    top = 0
    stack[0] = 0
    stack[1] = n
    top = 1
    while top > 0:
        top -= 1
        first = stack[2 * top]
        last = stack[2 * top + 1]
        while last - first > 16:
            cut = _partition_pivot(d, k, first, last)
            stack[2 * top] = cut
            stack[2 * top + 1] = last
            top += 1
            # libstdc++ recurses on [cut, last) first, then loops on [first, cut): the order
            # of the partitions does not change the result, only which elements move.
            last = cut
    if n > 16:
        _insertion_sort(d, k, 0, 16)
        for i in range(16, n):
            _unguarded_linear_insert(d, k, i)
    else:
        _insertion_sort(d, k, 0, n)


# ---------------------------------------------------------------------------------------
# 1. range image
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _kth_smallest(dist, cnt, k, top):
    """The k-th smallest of ``dist[:cnt]`` by a partial insertion sort into ``top[:k]``."""
    m = 0
    for t in range(cnt):
        v = dist[t]
        if m == k and not (v < top[k - 1]):
            continue
        u = m if m < k else k - 1
        while u > 0 and v < top[u - 1]:
            top[u] = top[u - 1]
            u -= 1
        top[u] = v
        if m < k:
            m += 1
    return top[k - 1]


_INNER_FIRST_5X5 = np.array([12, 7, 11, 13, 17, 6, 8, 16, 18]
                            + [t for t in range(25) if t not in (12, 7, 11, 13, 17, 6, 8, 16, 18)], np.int64)


@njit(cache=True, inline="always", error_model="numpy")
def _kth_smallest_ordered(dist, order, k, top):
    """:func:`_kth_smallest` of ``dist[order]`` (the k-th smallest value does not depend on
    the order in which the values are inserted)."""
    m = 0
    for o in range(order.shape[0]):
        v = dist[order[o]]
        if m == k and not (v < top[k - 1]):
            continue
        u = m if m < k else k - 1
        while u > 0 and v < top[u - 1]:
            top[u] = top[u - 1]
            u -= 1
        top[u] = v
        if m < k:
            m += 1
    return top[k - 1]


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


# ---------------------------------------------------------------------------------------
# 2. border extraction
# ---------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _local_surfaces(pts, rng, w, h, radius, variant, need, fit_only, known_maxd2):
    """Per point: valid flag, squared distance of the k-th closest neighbour, normal, mean.

    The plane (normal, mean) is only fitted where ``need`` is set; the flag and the distance,
    which do not depend on the fit, are computed everywhere unless ``fit_only``, in which
    case ``known_maxd2`` holds the distances of an earlier call (not recomputed).
    """
    n = w * h
    ok = np.zeros(n, np.bool_)
    maxd2 = np.zeros(n, np.float32)
    normal = np.zeros((n, 3), np.float32)
    mean = np.zeros((n, 3), np.float32)
    step = max(1, radius // 2)
    n_closest = (radius // step + 1) ** 2
    block = (2 * radius + 1) ** 2
    dist = np.empty(block, np.float32)
    nbr = np.empty(block, np.int64)
    cov = np.empty((3, 3), np.float32)
    evecs = np.empty((3, 3), np.float32)
    evals = np.empty(3, np.float32)
    work = np.empty((3, 3, 3), np.float32)
    stack = np.empty(64, np.int64)
    top = np.empty(block, np.float32)
    sd = np.empty(block, np.float32)
    sk = np.empty(block, np.int64)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not np.isfinite(rng[i]) or (fit_only and not need[i]):
                continue
            px, py, pz = pts[i, 0], pts[i, 1], pts[i, 2]
            cnt = 0
            if step == 1 and radius <= x < w - radius and radius <= y < h - radius:
                for y2 in range(y - radius, y + radius + 1):
                    j0 = y2 * w
                    for x2 in range(x - radius, x + radius + 1):
                        j = j0 + x2
                        if not np.isfinite(rng[j]):
                            continue
                        dist[cnt] = _sqdist(pts[j, 0] - px, pts[j, 1] - py, pts[j, 2] - pz)
                        nbr[cnt] = j
                        cnt += 1
            else:
                for y2 in range(y - radius, y + radius + 1, step):
                    if y2 < 0 or y2 >= h:
                        continue
                    for x2 in range(x - radius, x + radius + 1, step):
                        if x2 < 0 or x2 >= w:
                            continue
                        j = y2 * w + x2
                        if not np.isfinite(rng[j]):
                            continue
                        dist[cnt] = _sqdist(pts[j, 0] - px, pts[j, 1] - py, pts[j, 2] - pz)
                        nbr[cnt] = j
                        cnt += 1
            k = min(cnt, n_closest)
            if not need[i]:
                # no plane fit: only the k-th smallest distance and how many are within
                # 4 times it are needed (a partial insertion sort instead of std::sort)
                if cnt == 25:
                    # full 5x5 window: the inner 3x3 block first, so that the far points of the
                    # outer ring mostly fail the first comparison (same k-th value)
                    md2 = _kth_smallest_ordered(dist, _INNER_FIRST_5X5, k, top)
                else:
                    md2 = _kth_smallest(dist, cnt, k, top)
                maxd2[i] = md2
                if k >= 3:
                    # the k smallest distances are <= md2 <= 4 md2: at least 3 are used
                    ok[i] = True
                    continue
                lim = md2 * _FOUR
                used = 0
                for t in range(cnt):
                    if not (dist[t] > lim):
                        used += 1
                ok[i] = used >= 3
                continue
            # k-th smallest distance, then the neighbours within 4 times it in ascending order
            # (std::sort's order; only ties between equal distances need its exact emulation)
            md2 = known_maxd2[i] if fit_only else _kth_smallest(dist, cnt, k, top)
            maxd2[i] = md2
            lim = md2 * _FOUR
            m = 0
            tie = False
            for t in range(cnt):
                v = dist[t]
                if v > lim:
                    continue
                u = m
                while u > 0 and v < sd[u - 1]:
                    sd[u] = sd[u - 1]
                    sk[u] = sk[u - 1]
                    u -= 1
                if u > 0 and sd[u - 1] == v:
                    tie = True
                if u < m and sd[u + 1] == v:
                    tie = True
                sd[u] = v
                sk[u] = nbr[t]
                m += 1
            if tie:
                _std_sort(dist, nbr, cnt, stack)
                for t in range(m):
                    sk[t] = nbr[t]
            if m < 3:
                continue
            # VectorAverage3f::add over the sorted neighbours, in registers
            m0 = m1 = m2 = c00 = c01 = c02 = c11 = c12 = c22 = _Z
            for t in range(m):
                j = sk[t]
                alpha = _RECIP[t + 1]
                oma = _ONE_MINUS_RECIP[t + 1]
                d0 = pts[j, 0] - m0
                d1 = pts[j, 1] - m1
                d2 = pts[j, 2] - m2
                c00 = (c00 + (d0 * d0) * alpha) * oma
                c01 = (c01 + (d0 * d1) * alpha) * oma
                c02 = (c02 + (d0 * d2) * alpha) * oma
                c11 = (c11 + (d1 * d1) * alpha) * oma
                c12 = (c12 + (d1 * d2) * alpha) * oma
                c22 = (c22 + (d2 * d2) * alpha) * oma
                m0 += d0 * alpha
                m1 += d1 * alpha
                m2 += d2 * alpha
            cov[0, 0] = c00
            cov[0, 1] = cov[1, 0] = c01
            cov[0, 2] = cov[2, 0] = c02
            cov[1, 1] = c11
            cov[1, 2] = cov[2, 1] = c12
            cov[2, 2] = c22
            _eigen33(cov, evecs, evals, variant, work)
            n0, n1, n2 = evecs[0, 0], evecs[1, 0], evecs[2, 0]
            v = _normalized(_Z - px, _Z - py, _Z - pz)
            if _dot(n0, n1, n2, v[0], v[1], v[2]) < _Z:
                n0, n1, n2 = n0 * f32(-1.0), n1 * f32(-1.0), n2 * f32(-1.0)
            ok[i] = True
            normal[i, 0], normal[i, 1], normal[i, 2] = n0, n1, n2
            mean[i, 0], mean[i, 1], mean[i, 2] = m0, m1, m2
    return ok, maxd2, normal, mean


@njit(cache=True, inline="always", error_model="numpy")
def _distance_change_score(pts, rng, w, h, maxd2_i, x, y, ox, oy, npts):
    """``getNeighborDistanceChangeScore`` with ``get1dPointAverage`` of ``npts`` points."""
    i = y * w + x
    x2 = x + ox
    y2 = y + oy
    a0 = a1 = a2 = ar = _Z
    wsum = _ONE
    if 0 <= x2 < w and 0 <= y2 < h and np.isfinite(rng[y2 * w + x2]):
        j = y2 * w + x2
        a0, a1, a2, ar = pts[j, 0], pts[j, 1], pts[j, 2], rng[j]
    else:
        # unobserved first point (or outside): PCL never has +inf (max range) points here
        wsum = _Z
    for _ in range(1, npts):
        x2 += ox
        y2 += oy
        if not (0 <= x2 < w and 0 <= y2 < h):
            continue
        j = y2 * w + x2
        if not np.isfinite(rng[j]):
            continue
        a0 += pts[j, 0]
        a1 += pts[j, 1]
        a2 += pts[j, 2]
        ar += rng[j]
        wsum += _ONE
    if wsum <= _Z:
        return _Z  # unobserved average point (range -inf)
    nf = _ONE / wsum
    a0 *= nf
    a1 *= nf
    a2 *= nf
    ar *= nf
    d0 = pts[i, 0] - a0
    d1 = pts[i, 1] - a1
    d2 = pts[i, 2] - a2
    nd2 = _sqdist(d0, d1, d2)
    if nd2 <= maxd2_i:
        return _Z
    ret = _ONE - math.sqrt(maxd2_i / nd2)
    if ar < rng[i]:
        ret = -ret
    return ret


@njit(cache=True, error_model="numpy")
def _border_scores(pts, rng, w, h, ok, maxd2, radius):
    """Border score images (0 left, 1 right, 2 top, 3 bottom)."""
    n = w * h
    sc = np.zeros((4, n), np.float32)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not ok[i]:
                continue
            sc[0, i] = _distance_change_score(pts, rng, w, h, maxd2[i], x, y, -1, 0, radius)
            sc[1, i] = _distance_change_score(pts, rng, w, h, maxd2[i], x, y, 1, 0, radius)
            sc[2, i] = _distance_change_score(pts, rng, w, h, maxd2[i], x, y, 0, -1, radius)
            sc[3, i] = _distance_change_score(pts, rng, w, h, maxd2[i], x, y, 0, 1, radius)
    return sc


@njit(cache=True, error_model="numpy")
def _propagate_scores(sc, w, h, min_prob):
    """``updatedScoreAccordingToNeighborValues`` on each of the four score images."""
    out = np.empty_like(sc)
    bonus = _HALF
    for k in range(4):
        s = sc[k]
        for y in range(h):
            for x in range(w):
                i = y * w + x
                b = s[i]
                out[k, i] = b
                if b + bonus * (_ONE - b) < min_prob:
                    continue
                avg = _Z
                wsum = _Z
                for y2 in range(y - 1, y + 2):
                    for x2 in range(x - 1, x + 2):
                        if not (0 <= x2 < w and 0 <= y2 < h) or (x2 == x and y2 == y):
                            continue
                        avg += s[y2 * w + x2]
                        wsum += _ONE
                avg /= wsum
                if avg * b < _Z:
                    continue
                out[k, i] = b + (bonus * avg) * (_ONE - abs(b))
    return out


@njit(cache=True, inline="always", error_model="numpy")
def _shadow_candidate(sc, k_self, k_other, w, h, x, y, ox, oy, radius, min_prob):
    """``changeScoreAccordingToShadowBorderValue`` (modifies ``sc[k_self]`` in place)."""
    i = y * w + x
    b = sc[k_self, i]
    if b < min_prob:
        return -1
    # (a score of exactly 1 next to a max-range point: there are none in a planar image)
    best = _Z
    idx = -1
    for d in range(1, radius + 1):
        nx = x + d * ox
        ny = y + d * oy
        if not (0 <= nx < w and 0 <= ny < h):
            continue
        v = sc[k_other, ny * w + nx]
        if v < best:
            idx = ny * w + nx
            best = v
    if idx >= 0:
        t = _ONE + best
        p3 = f32(np.float64(t) * np.float64(t) * np.float64(t))
        b = b * max(f32(0.9), _ONE - p3)
        sc[k_self, i] = b
        if b >= min_prob:
            return idx
    sc[k_self, i] = _Z
    return -1


@njit(cache=True, inline="always", error_model="numpy")
def _is_maximum(s, w, h, x, y, ox, oy, shadow_idx, radius):
    i = y * w + x
    b = s[i]
    nx = x - ox
    ny = y - oy
    if 0 <= nx < w and 0 <= ny < h and s[ny * w + nx] > b:
        return False
    for d in range(1, radius + 1):
        nx = x + d * ox
        ny = y + d * oy
        if not (0 <= nx < w and 0 <= ny < h):
            continue
        j = ny * w + nx
        if j == shadow_idx:
            return True
        if s[j] > b:
            return False
    return True


@njit(cache=True, error_model="numpy")
def _classify(sc, w, h, radius, min_prob):
    """Shadow-border search (in raster order, in place) then border classification."""
    n = w * h
    shadow = np.full((4, n), -1, np.int64)
    offs = ((-1, 0), (1, 0), (0, -1), (0, 1))
    others = (1, 0, 3, 2)
    for y in range(h):
        for x in range(w):
            for k in range(4):
                shadow[k, y * w + x] = _shadow_candidate(sc, k, others[k], w, h, x, y,
                                                         offs[k][0], offs[k][1], radius, min_prob)
    traits = np.zeros(n, np.int32)
    ob = (OBSTACLE_BORDER_LEFT, OBSTACLE_BORDER_RIGHT, OBSTACLE_BORDER_TOP, OBSTACLE_BORDER_BOTTOM)
    sb = (SHADOW_BORDER_RIGHT, SHADOW_BORDER_LEFT, SHADOW_BORDER_BOTTOM, SHADOW_BORDER_TOP)
    vp = (VEIL_POINT_RIGHT, VEIL_POINT_LEFT, VEIL_POINT_BOTTOM, VEIL_POINT_TOP)
    steps = (-1, 1, -w, w)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            for k in range(4):
                j = shadow[k, i]
                if j < 0 or not _is_maximum(sc[k], w, h, x, y, offs[k][0], offs[k][1], j, radius):
                    continue
                traits[i] |= OBSTACLE_BORDER | ob[k]
                traits[j] |= SHADOW_BORDER | sb[k]
                st = steps[k]
                m = i + st
                while (m > j) if st < 0 else (m < j):
                    traits[m] |= VEIL_POINT | vp[k]
                    m += st
    return traits


@njit(cache=True, error_model="numpy")
def _border_directions(pts, rng, w, h, traits, ok, maxd2, normal, mean, focal, cx, cy,
                       radius, min_prob):
    """3D border directions of obstacle borders, then their average over a window."""
    n = w * h
    raw = np.zeros((n, 3), np.float32)
    has = np.zeros(n, np.bool_)
    fr = _ONE / focal
    for y in range(h):
        for x in range(w):
            i = y * w + x
            t = traits[i]
            if not (t & OBSTACLE_BORDER):
                continue
            dx = 0
            dy = 0
            if t & OBSTACLE_BORDER_RIGHT:
                dx += 1
            if t & OBSTACLE_BORDER_LEFT:
                dx -= 1
            if t & OBSTACLE_BORDER_TOP:
                dy -= 1
            if t & OBSTACLE_BORDER_BOTTOM:
                dy += 1
            if dx == 0 and dy == 0:
                continue
            r = rng[i]
            # calculate3DPoint(x + dx, y + dy, range) in the planar image
            ex = (f32(x + dx) - cx) * fr
            ey = (f32(y + dy) - cy) * fr
            q2 = r / math.sqrt((ex * ex + ey * ey) + _ONE)
            q0 = ex * q2
            q1 = ey * q2
            if ok[i]:
                # project onto the local plane along the viewing ray (sensor at the origin)
                n0, n1, n2 = normal[i, 0], normal[i, 1], normal[i, 2]
                lam = _dot(n0, n1, n2, mean[i, 0], mean[i, 1], mean[i, 2]) / _dot(n0, n1, n2, q0, q1, q2)
                q0, q1, q2 = lam * q0, lam * q1, lam * q2
            d = _normalized(q0 - pts[i, 0], q1 - pts[i, 1], q2 - pts[i, 2])
            raw[i, 0], raw[i, 1], raw[i, 2] = d
            has[i] = True
    avg = np.zeros((n, 3), np.float32)
    avg_has = np.zeros(n, np.bool_)
    min_cos = f32(np.cos(f32(f32(120.0) * _DEG2RAD)))
    limit = f32(0.95) * min_prob
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not has[i]:
                continue
            a0, a1, a2 = raw[i, 0], raw[i, 1], raw[i, 2]
            wsum = _ONE
            for y2 in range(max(0, y - radius), min(y + radius, h - 1) + 1):
                for x2 in range(max(0, x - radius), min(x + radius, w - 1) + 1):
                    j = y2 * w + x2
                    if not has[j] or j == i:
                        continue
                    c = _dot(raw[j, 0], raw[j, 1], raw[j, 2], raw[i, 0], raw[i, 1], raw[i, 2])
                    if c < min_cos:
                        continue
                    s = _distance_change_score(pts, rng, w, h, maxd2[i], x, y, x2 - x, y2 - y, 1)
                    if abs(s) >= limit:
                        continue
                    a0 += raw[j, 0]
                    a1 += raw[j, 1]
                    a2 += raw[j, 2]
                    wsum += _ONE
            if round(wsum) < radius + 1:
                continue
            d = _normalized(a0, a1, a2)
            avg[i, 0], avg[i, 1], avg[i, 2] = d
            avg_has[i] = True
    return avg, avg_has


@njit(cache=True, error_model="numpy")
def _surface_changes(rng, w, h, traits, ok, normal, bdir, bhas, radius, variant, need):
    """Surface change score and direction: borders, else the main principal curvature
    (only where ``need`` is set)."""
    n = w * h
    score = np.zeros(n, np.float32)
    direc = np.zeros((n, 3), np.float32)
    cov = np.empty((3, 3), np.float32)
    evecs = np.empty((3, 3), np.float32)
    evals = np.empty(3, np.float32)
    beams = np.zeros(9, np.bool_)
    work = np.empty((3, 3, 3), np.float32)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not need[i] or traits[i] & _SHADOW_OR_VEIL:
                continue
            if bhas[i]:
                score[i] = _ONE
                direc[i, 0], direc[i, 1], direc[i, 2] = bdir[i, 0], bdir[i, 1], bdir[i, 2]
                continue
            if not ok[i]:
                continue
            # VectorAverage3f::add of the neighbours' normals, in registers
            cnt = 0
            m0 = m1 = m2 = c00 = c01 = c02 = c11 = c12 = c22 = _Z
            for step in range(1, radius + 1):
                b = 0
                for y2 in range(y - step, y + step + 1, step):
                    for x2 in range(x - step, x + step + 1, step):
                        if step == 1:
                            beams[b] = not (x2 == x and y2 == y)
                        elif not beams[b]:
                            b += 1
                            continue
                        bi = b
                        b += 1
                        if not (0 <= x2 < w and 0 <= y2 < h):
                            continue
                        j = y2 * w + x2
                        if not np.isfinite(rng[j]):
                            continue
                        if traits[j] & _SHADOW_OR_VEIL:
                            beams[bi] = False
                            continue
                        if not ok[j]:
                            continue
                        cnt += 1
                        alpha = _RECIP[cnt]
                        oma = _ONE_MINUS_RECIP[cnt]
                        d0 = normal[j, 0] - m0
                        d1 = normal[j, 1] - m1
                        d2 = normal[j, 2] - m2
                        c00 = (c00 + (d0 * d0) * alpha) * oma
                        c01 = (c01 + (d0 * d1) * alpha) * oma
                        c02 = (c02 + (d0 * d2) * alpha) * oma
                        c11 = (c11 + (d1 * d1) * alpha) * oma
                        c12 = (c12 + (d1 * d2) * alpha) * oma
                        c22 = (c22 + (d2 * d2) * alpha) * oma
                        m0 += d0 * alpha
                        m1 += d1 * alpha
                        m2 += d2 * alpha
            if cnt < 3:
                continue
            cov[0, 0] = c00
            cov[0, 1] = cov[1, 0] = c01
            cov[0, 2] = cov[2, 0] = c02
            cov[1, 1] = c11
            cov[1, 2] = cov[2, 1] = c12
            cov[2, 2] = c22
            _eigen33(cov, evecs, evals, variant, work)
            mag = math.sqrt(evals[2])
            if not np.isfinite(mag):
                continue
            score[i] = mag
            direc[i, 0], direc[i, 1], direc[i, 2] = evecs[0, 2], evecs[1, 2], evecs[2, 2]
    return score, direc


class BorderExtraction(NamedTuple):
    """Results of :func:`border_extraction` (flattened row-major arrays)."""

    valid_surface: np.ndarray     # (N,) bool: local plane found
    normals: np.ndarray           # (N, 3) local normals (towards the sensor)
    border_scores: np.ndarray     # (4, N) left, right, top, bottom, after shadow search
    traits: np.ndarray            # (N,) int32 border trait bits (OBSTACLE_BORDER, ...)
    border_directions: np.ndarray  # (N, 3), valid where has_border_direction
    has_border_direction: np.ndarray  # (N,) bool
    surface_change_scores: np.ndarray  # (N,) float32
    surface_change_directions: np.ndarray  # (N, 3) float32


@njit(cache=True, error_model="numpy")
def _dilate(mask, w, h, r):
    """Chebyshev (square) dilation of a flattened boolean image by ``r`` pixels."""
    tmp = np.zeros(w * h, np.bool_)
    out = np.zeros(w * h, np.bool_)
    for y in range(h):
        last = -10 * r - 10
        for x in range(w):
            if mask[y * w + x]:
                last = x
            if x - last <= r:
                tmp[y * w + x] = True
        last = w + 10 * r + 10
        for x in range(w - 1, -1, -1):
            if mask[y * w + x]:
                last = x
            if last - x <= r:
                tmp[y * w + x] = True
    for x in range(w):
        last = -10 * r - 10
        for y in range(h):
            if tmp[y * w + x]:
                last = y
            if y - last <= r:
                out[y * w + x] = True
        last = h + 10 * r + 10
        for y in range(h - 1, -1, -1):
            if tmp[y * w + x]:
                last = y
            if last - y <= r:
                out[y * w + x] = True
    return out


@njit(cache=True, error_model="numpy")
def _obstacle_or(mask, traits):
    out = mask.copy()
    for i in range(traits.shape[0]):
        if traits[i] & OBSTACLE_BORDER:
            out[i] = True
    return out


class _Borders(NamedTuple):
    ok: np.ndarray
    maxd2: np.ndarray
    scores: np.ndarray
    traits: np.ndarray


def _borders(ri: RangeImage, variant: int, lap) -> _Borders:
    """Border extraction up to the classification (needs no plane fit)."""
    w, h = ri.width, ri.height
    none = np.zeros(w * h, np.bool_)
    ok, maxd2, _, _ = _local_surfaces(ri.points, ri.ranges, w, h, PIXEL_RADIUS_PLANE_EXTRACTION,
                                      variant, none, False, np.zeros(0, np.float32))
    lap("neighbour distances")
    sc = _border_scores(ri.points, ri.ranges, w, h, ok, maxd2, PIXEL_RADIUS_BORDERS)
    sc = _propagate_scores(sc, w, h, MINIMUM_BORDER_PROBABILITY)
    lap("border scores")
    traits = _classify(sc, w, h, PIXEL_RADIUS_BORDERS, MINIMUM_BORDER_PROBABILITY)
    lap("shadow borders + classification")
    return _Borders(ok, maxd2, sc, traits)


def _surface_change(ri: RangeImage, b: _Borders, need: np.ndarray, variant: int, lap) -> BorderExtraction:
    """Local planes, border directions and surface changes where ``need`` is set."""
    w, h = ri.width, ri.height
    fit = _obstacle_or(_dilate(need, w, h, PIXEL_RADIUS_PRINCIPAL_CURVATURE), b.traits)
    _, _, normal, mean = _local_surfaces(ri.points, ri.ranges, w, h, PIXEL_RADIUS_PLANE_EXTRACTION,
                                         variant, fit, True, b.maxd2)
    lap("local planes")
    bdir, bhas = _border_directions(ri.points, ri.ranges, w, h, b.traits, b.ok, b.maxd2, normal, mean,
                                    ri.focal, ri.cx, ri.cy, PIXEL_RADIUS_BORDER_DIRECTION,
                                    MINIMUM_BORDER_PROBABILITY)
    lap("border directions")
    score, direc = _surface_changes(ri.ranges, w, h, b.traits, b.ok, normal, bdir, bhas,
                                    PIXEL_RADIUS_PRINCIPAL_CURVATURE, variant, need)
    lap("surface changes")
    return BorderExtraction(b.ok, normal, b.scores, b.traits, bdir, bhas, score, direc)


def _lap_clock(timings):
    import time

    clock = [time.perf_counter()]

    def lap(name):
        """Add the time since the last call (or reset) to ``name``; ``name=None`` resets."""
        now = time.perf_counter()
        if timings is not None and name is not None:
            timings[name] = timings.get(name, 0.0) + now - clock[0]
        clock[0] = now

    return lap


def border_extraction(ri: RangeImage, eigen_variant: int = 0, timings: dict | None = None) -> BorderExtraction:
    """``RangeImageBorderExtractor`` (default parameters) on a range image.

    ``eigen_variant``: 0 = PCL 1.7/1.8's ``eigen33`` (Taskonomy), 1 = PCL >= 1.10's.
    ``timings``: if a dict, seconds per sub-stage are added to it.
    """
    lap = _lap_clock(timings)
    b = _borders(ri, eigen_variant, lap)
    return _surface_change(ri, b, np.ones(ri.width * ri.height, np.bool_), eigen_variant, lap)


# ---------------------------------------------------------------------------------------
# 3. interest values
# ---------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _interest(pts, rng, w, h, traits, sc_score, sc_dir, support_size, start_usage_range,
              half, hw, hh, bilinear, focal, cx, cy, need):
    """``calculateCompleteInterestImage`` for one scale (``half``: next coarser result),
    for the pixels where ``need`` is set (the others are left at 0).

    Speed-up that does not change the result: a point whose support sphere (projected to a
    conservative pixel window) holds at most one point with a surface change score >= 0.2
    has at most one histogram cell set, so its interest is 0 without region growing
    (checked with a summed-area table).
    """
    n = w * h
    out = np.zeros(n, np.float32)
    sat = np.zeros((h + 1, w + 1), np.int64)
    for y in range(h):
        row = 0
        for x in range(w):
            i = y * w + x
            if np.isfinite(rng[i]) and not (traits[i] & _SHADOW_OR_VEIL) and sc_score[i] >= MIN_SURFACE_CHANGE_SCORE:
                row += 1
            sat[y + 1, x + 1] = sat[y, x + 1] + row
    r64 = np.float64(_HALF * support_size)
    f64 = np.float64(focal)
    cx64 = np.float64(cx)
    cy64 = np.float64(cy)
    search_radius = _HALF * support_size
    radius_sq = search_radius * search_radius
    radius_recip = _ONE / search_radius
    optimal = OPTIMAL_DISTANCE_TO_HIGH_SURFACE_CHANGE
    min_score = MIN_SURFACE_CHANGE_SCORE
    deg90 = f32(90.0) * _DEG2RAD
    deg180 = f32(180.0) * _DEG2RAD
    nhist = HISTOGRAM_SIZE
    fhist = f32(nhist)
    hist = np.zeros(nhist, np.float32)
    touched = np.zeros(n, np.int32)
    nb_dx = np.array([-1, 0, 1, -1, 1, -1, 0, 1], np.int64)
    nb_dy = np.array([-1, -1, -1, 0, 0, 1, 1, 1], np.int64)
    nb_off = nb_dy * w + nb_dx
    stamp = 0
    queue = np.empty(n, np.int64)
    qd = np.empty(n, np.float32)
    usable = np.zeros(n, np.bool_)
    for i in range(n):
        usable[i] = np.isfinite(rng[i]) and not (traits[i] & _SHADOW_OR_VEIL)
    for index in range(n):
        if not need[index] or not np.isfinite(rng[index]):
            continue
        if traits[index] & _SHADOW_OR_VEIL:
            continue
        y = index // w
        x = index - y * w
        if rng[index] < start_usage_range:
            if bilinear:
                # Taskonomy's modified NarfKeypoint: bilinear interpolation, row = index / W
                f_y = f32(index) / f32(w)
                f_x = f32(index) - f32(y) * f32(w)
                fhx = f_x / _TWO
                fhy = f_y / _TWO
                hx = min(int(math.floor(fhx)), hw - 1)
                hy = min(int(math.floor(fhy)), hh - 1)
                hxr = min(int(math.ceil(fhx)), hw - 1)
                hyr = min(int(math.ceil(fhy)), hh - 1)
                bl = half[hy * hw + hx]
                br = half[hy * hw + hxr]
                tl = half[hyr * hw + hx]
                tr = half[hyr * hw + hxr]
                dl = min(fhx, f32(hw) - _ONE) - f32(hx)
                dt = min(fhy, f32(hh) - _ONE) - f32(hy)
                r1 = (_ONE - dl) * bl + dl * br
                r2 = (_ONE - dl) * tl + dl * tr
                out[index] = (_ONE - dt) * r1 + dt * r2
            else:
                hx = min(x // 2, hw - 1)
                hy = min(y // 2, hh - 1)
                out[index] = half[hy * hw + hx]
            continue
        px, py, pz = pts[index, 0], pts[index, 1], pts[index, 2]
        x0 = max(0, x - 3)
        x1 = min(w - 1, x + 3)
        y0 = max(0, y - 3)
        y1 = min(h - 1, y + 3)
        pz64 = np.float64(pz)
        if pz64 - r64 > 0:
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
        else:
            x0 = 0
            x1 = w - 1
            y0 = 0
            y1 = h - 1
        if sat[y1 + 1, x1 + 1] - sat[y0, x1 + 1] - sat[y1 + 1, x0] + sat[y0, x0] <= 1:
            continue
        # rotation to the viewer frame: z along the viewing ray, y as close to -y as possible
        v = _normalized(px, py, pz)
        t0 = _cross(_Z, f32(-1.0), _Z, v[0], v[1], v[2])
        t0 = _normalized(t0[0], t0[1], t0[2])
        t1 = _cross(v[0], v[1], v[2], t0[0], t0[1], t0[2])
        t1 = _normalized(t1[0], t1[1], t1[2])
        negative = _ONE
        for c in range(nhist):
            hist[c] = _Z
        # region growing over the connected points within the support radius: a pixel is
        # queued when it passes (observed, no shadow border or veil point, and within the
        # radius or at most 2 pixels away); all passing pixels reachable through passing
        # 8-neighbours vote, as in PCL's breadth-first search (the votes are max/min, so the
        # visiting order does not matter)
        stamp += 1
        head = 0
        tail = 1
        queue[0] = index
        qd[0] = _Z
        touched[index] = stamp
        while head < tail:
            j = queue[head]
            dsq = qd[head]
            head += 1
            y2 = j // w
            x2 = j - y2 * w
            if 0 < x2 < w - 1 and 0 < y2 < h - 1:
                for t in range(8):  # interior pixel: the 8 neighbours without bound checks
                    k = j + nb_off[t]
                    if touched[k] == stamp:
                        continue
                    touched[k] = stamp
                    if not usable[k]:
                        continue
                    dk = _sqdist(pts[k, 0] - px, pts[k, 1] - py, pts[k, 2] - pz)
                    if dk > radius_sq and (abs(x2 + nb_dx[t] - x) > 2 or abs(y2 + nb_dy[t] - y) > 2):
                        continue
                    queue[tail] = k
                    qd[tail] = dk
                    tail += 1
            else:
                for y3 in range(max(0, y2 - 1), min(y2 + 1, h - 1) + 1):
                    k0 = y3 * w
                    far_y = abs(y3 - y) > 2
                    for x3 in range(max(0, x2 - 1), min(x2 + 1, w - 1) + 1):
                        k = k0 + x3
                        if touched[k] == stamp:
                            continue
                        touched[k] = stamp
                        if not usable[k]:
                            continue
                        dk = _sqdist(pts[k, 0] - px, pts[k, 1] - py, pts[k, 2] - pz)
                        if (far_y or abs(x3 - x) > 2) and dk > radius_sq:
                            continue
                        queue[tail] = k
                        qd[tail] = dk
                        tail += 1
            pix = max(abs(x2 - x), abs(y2 - y))
            s = sc_score[j]
            if s < min_score:
                continue
            dist = math.sqrt(dsq)
            df = radius_recip * dist
            neg = _ONE - (_HALF * s) * max(_ONE - df / optimal, _Z)
            neg = neg * neg
            if pix < 2:
                pos = s
            else:
                pos = s * (_ONE - df)
            # nkdGetDirectionAngle: only the first coordinate in the viewer frame counts
            e0, e1, e2 = sc_dir[j, 0], sc_dir[j, 1], sc_dir[j, 2]
            r0 = _dot(t0[0], t0[1], t0[2], e0, e1, e2)
            r1 = _dot(t1[0], t1[1], t1[2], e0, e1, e2)
            nn = r0 * r0 + r1 * r1
            if nn > _Z:
                r0 = r0 / math.sqrt(nn)
            # normAngle(2 acos(dx)) with 2 acos in [0, 2 pi]: fmodf(a + pi, 2 pi) - pi, where
            # the fmod is one exact subtraction (Sterbenz) when a + pi >= 2 pi
            t = _TWO * math.acos(r0) + _PI
            if t >= _TWO_PI:
                t = t - _TWO_PI
            angle = _HALF * (t - _PI)
            cell = int(math.floor(((angle + deg90) / deg180) * fhist))
            if cell > nhist - 1:
                cell = nhist - 1
            if cell < 0:
                cell = 0
            if pos > hist[cell]:
                hist[cell] = pos
            if neg < negative:
                negative = neg
        acv = _Z
        for c1 in range(nhist - 1):
            if hist[c1] == _Z:
                continue
            for c2 in range(c1 + 1, nhist):
                if hist[c2] == _Z:
                    continue
                nad = (_TWO * f32(c2 - c1)) / fhist
                if not (nad <= _ONE):
                    nad = _TWO - nad
                val = (hist[c1] * hist[c2]) * nad
                if val > acv:
                    acv = val
        acv = math.sqrt(acv)
        out[index] = negative * acv
    return out


# Direction-angle histogram cell without acos (exact): the cell of a first coordinate ``r0``
# in the viewer frame only changes where acos(r0) crosses a multiple of 10 degrees, i.e. at
# r0 = cos(10 k deg) (r0 > 0) and r0 = -sin(10 k deg) (r0 < 0). Away from these points (and
# from 0 and +-1) by more than _CELL_BAND, the float32 pipeline of _direction_cell (error
# well below 1e-5 rad) cannot land on another cell, so counting thresholds gives its result;
# within a band the exact pipeline is used. tests/test_narf.py checks the two agree on
# dense samples around every threshold; an exhaustive check over all float32 in [-1, 1] was
# run when this was written.
_CELL_BAND = 2e-4
_CELL_POS = np.array([math.cos(math.radians(10 * k)) for k in range(1, 9)], np.float64)
_CELL_NEG = np.array([-math.sin(math.radians(10 * k)) for k in range(1, 9)], np.float64)
_CELL_EDGES = np.sort(np.concatenate([_CELL_POS, _CELL_NEG, [-1.0, 0.0, 1.0]]))


@njit(cache=True, inline="always", error_model="numpy")
def _direction_cell(r0):
    """Histogram cell of a normalised first coordinate, as PCL computes it (float32)."""
    deg90 = f32(90.0) * _DEG2RAD
    deg180 = f32(180.0) * _DEG2RAD
    fhist = f32(HISTOGRAM_SIZE)
    # normAngle(2 acos(dx)) with 2 acos in [0, 2 pi]: fmodf(a + pi, 2 pi) - pi, where
    # the fmod is one exact subtraction (Sterbenz) when a + pi >= 2 pi
    t = _TWO * math.acos(r0) + _PI
    if t >= _TWO_PI:
        t = t - _TWO_PI
    angle = _HALF * (t - _PI)
    cell = int(math.floor(((angle + deg90) / deg180) * fhist))
    if cell > HISTOGRAM_SIZE - 1:
        cell = HISTOGRAM_SIZE - 1
    if cell < 0:
        cell = 0
    return cell


def _cell_table(nbins):
    """Cell of every bin of ``nbins`` equal bins over [-1, 1], or -1 where a bin (widened by
    1e-9) is not entirely farther than ``_CELL_BAND`` from every threshold."""
    tab = np.full(nbins, -1, np.int8)
    for b in range(nbins):
        lo = -1.0 + 2.0 * b / nbins - 1e-9
        hi = -1.0 + 2.0 * (b + 1) / nbins + 1e-9
        if np.any((_CELL_EDGES > lo - _CELL_BAND) & (_CELL_EDGES < hi + _CELL_BAND)):
            continue
        v = 0.5 * (lo + hi)
        if v > 0:
            tab[b] = 9 + int(np.sum(v < _CELL_POS))
        else:
            tab[b] = int(np.sum(v < _CELL_NEG))
    return tab


_CELL_BINS = 4096
_CELL_TABLE = _cell_table(_CELL_BINS)


@njit(cache=True, inline="always", error_model="numpy")
def _direction_cell_fast(r0, table):
    """:func:`_direction_cell` by a table of cells over bins of r0 (same result, see
    ``_CELL_BAND``); bins near a threshold use the exact pipeline."""
    v = np.float64(r0)
    if v > -1.0 and v < 1.0:
        c = table[int((v + 1.0) * (0.5 * _CELL_BINS))]
        if c >= 0:
            return np.int64(c)
    return _direction_cell(r0)


@njit(cache=True, error_model="numpy")
def _direction_cells_both(vals, table):
    """(fast, exact) cells of float32 values (for tests)."""
    a = np.empty(vals.shape[0], np.int64)
    b = np.empty(vals.shape[0], np.int64)
    for i in range(vals.shape[0]):
        a[i] = _direction_cell_fast(vals[i], table)
        b[i] = _direction_cell(vals[i])
    return a, b


@njit(cache=True, inline="always", error_model="numpy")
def _visit(k, nx, ny, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail):
    """Region growing step of :func:`_interest_fast` for neighbour ``k`` at offset (nx, ny)
    from the seed; returns the new queue length."""
    if mark[k] >= stamp:  # visited for this seed, unusable, or padding
        return tail
    mark[k] = stamp
    dk = _sqdist(pp[k, 0] - px, pp[k, 1] - py, pp[k, 2] - pz)
    if dk > radius_sq and (abs(nx) > 2 or abs(ny) > 2):
        return tail
    queue[tail] = k
    qx[tail] = nx
    qy[tail] = ny
    qd[tail] = dk
    return tail + 1


@njit(cache=True, error_model="numpy")
def _interest_fast(pts, rng, w, h, traits, sc_score, sc_dir, support_size, start_usage_range,
                   half, hw, hh, bilinear, focal, cx, cy, need):
    """:func:`_interest` with the same result, faster.

    Region growing on a copy of the image padded by one pixel (the padding and the unusable
    pixels carry a permanent "visited" mark, so the 8 neighbours need neither bound checks
    nor a separate usability test), pixel offsets from the seed kept in the queue (no
    divisions), and the histogram cell from thresholds instead of ``acos``
    (:func:`_direction_cell_fast`). The set of voting pixels, each vote and the max/min
    reductions are those of :func:`_interest`, so the values are identical.
    """
    n = w * h
    out = np.zeros(n, np.float32)
    sat = np.zeros((h + 1, w + 1), np.int64)
    for y in range(h):
        row = 0
        for x in range(w):
            i = y * w + x
            if np.isfinite(rng[i]) and not (traits[i] & _SHADOW_OR_VEIL) and sc_score[i] >= MIN_SURFACE_CHANGE_SCORE:
                row += 1
            sat[y + 1, x + 1] = sat[y, x + 1] + row
    # padded copies (row stride wp) of what region growing reads
    wp = w + 2
    hp = h + 2
    npad = wp * hp
    never = np.int32(2147483647)
    mark = np.full(npad, never, np.int32)
    pp = np.zeros((npad, 3), np.float32)
    ps = np.zeros(npad, np.float32)
    pd = np.zeros((npad, 3), np.float32)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            k = (y + 1) * wp + x + 1
            if np.isfinite(rng[i]) and not (traits[i] & _SHADOW_OR_VEIL):
                mark[k] = 0
            pp[k, 0], pp[k, 1], pp[k, 2] = pts[i, 0], pts[i, 1], pts[i, 2]
            ps[k] = sc_score[i]
            pd[k, 0], pd[k, 1], pd[k, 2] = sc_dir[i, 0], sc_dir[i, 1], sc_dir[i, 2]
    table = _CELL_TABLE
    r64 = np.float64(_HALF * support_size)
    f64 = np.float64(focal)
    cx64 = np.float64(cx)
    cy64 = np.float64(cy)
    search_radius = _HALF * support_size
    radius_sq = search_radius * search_radius
    radius_recip = _ONE / search_radius
    optimal = OPTIMAL_DISTANCE_TO_HIGH_SURFACE_CHANGE
    min_score = MIN_SURFACE_CHANGE_SCORE
    nhist = HISTOGRAM_SIZE
    fhist = f32(nhist)
    hist = np.zeros(nhist, np.float32)
    nb_dx = np.array([-1, 0, 1, -1, 1, -1, 0, 1], np.int64)
    nb_dy = np.array([-1, -1, -1, 0, 0, 1, 1, 1], np.int64)
    nb_off = nb_dy * wp + nb_dx
    stamp = np.int32(0)
    queue = np.empty(npad, np.int64)
    qx = np.empty(npad, np.int64)
    qy = np.empty(npad, np.int64)
    qd = np.empty(npad, np.float32)
    for index in range(n):
        if not need[index] or not np.isfinite(rng[index]):
            continue
        if traits[index] & _SHADOW_OR_VEIL:
            continue
        y = index // w
        x = index - y * w
        if rng[index] < start_usage_range:
            if bilinear:
                # Taskonomy's modified NarfKeypoint: bilinear interpolation, row = index / W
                f_y = f32(index) / f32(w)
                f_x = f32(index) - f32(y) * f32(w)
                fhx = f_x / _TWO
                fhy = f_y / _TWO
                hx = min(int(math.floor(fhx)), hw - 1)
                hy = min(int(math.floor(fhy)), hh - 1)
                hxr = min(int(math.ceil(fhx)), hw - 1)
                hyr = min(int(math.ceil(fhy)), hh - 1)
                bl = half[hy * hw + hx]
                br = half[hy * hw + hxr]
                tl = half[hyr * hw + hx]
                tr = half[hyr * hw + hxr]
                dl = min(fhx, f32(hw) - _ONE) - f32(hx)
                dt = min(fhy, f32(hh) - _ONE) - f32(hy)
                r1 = (_ONE - dl) * bl + dl * br
                r2 = (_ONE - dl) * tl + dl * tr
                out[index] = (_ONE - dt) * r1 + dt * r2
            else:
                hx = min(x // 2, hw - 1)
                hy = min(y // 2, hh - 1)
                out[index] = half[hy * hw + hx]
            continue
        px, py, pz = pts[index, 0], pts[index, 1], pts[index, 2]
        x0 = max(0, x - 3)
        x1 = min(w - 1, x + 3)
        y0 = max(0, y - 3)
        y1 = min(h - 1, y + 3)
        pz64 = np.float64(pz)
        if pz64 - r64 > 0:
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
        else:
            x0 = 0
            x1 = w - 1
            y0 = 0
            y1 = h - 1
        if sat[y1 + 1, x1 + 1] - sat[y0, x1 + 1] - sat[y1 + 1, x0] + sat[y0, x0] <= 1:
            continue
        # rotation to the viewer frame: z along the viewing ray, y as close to -y as possible
        v = _normalized(px, py, pz)
        t0 = _cross(_Z, f32(-1.0), _Z, v[0], v[1], v[2])
        t0 = _normalized(t0[0], t0[1], t0[2])
        t1 = _cross(v[0], v[1], v[2], t0[0], t0[1], t0[2])
        t1 = _normalized(t1[0], t1[1], t1[2])
        negative = _ONE
        for c in range(nhist):
            hist[c] = _Z
        stamp += 1
        head = 0
        tail = 1
        seed = (y + 1) * wp + x + 1
        queue[0] = seed
        qx[0] = 0
        qy[0] = 0
        qd[0] = _Z
        mark[seed] = stamp
        while head < tail:
            j = queue[head]
            dsq = qd[head]
            rx = qx[head]
            ry = qy[head]
            head += 1
            # the 8 neighbours, unrolled (same order as _interest)
            tail = _visit(j - wp - 1, rx - 1, ry - 1, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j - wp, rx, ry - 1, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j - wp + 1, rx + 1, ry - 1, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j - 1, rx - 1, ry, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j + 1, rx + 1, ry, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j + wp - 1, rx - 1, ry + 1, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j + wp, rx, ry + 1, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            tail = _visit(j + wp + 1, rx + 1, ry + 1, stamp, mark, pp, px, py, pz, radius_sq, queue, qx, qy, qd, tail)
            s = ps[j]
            if s < min_score:
                continue
            pix = max(abs(rx), abs(ry))
            dist = math.sqrt(dsq)
            df = radius_recip * dist
            neg = _ONE - (_HALF * s) * max(_ONE - df / optimal, _Z)
            neg = neg * neg
            if pix < 2:
                pos = s
            else:
                pos = s * (_ONE - df)
            # nkdGetDirectionAngle: only the first coordinate in the viewer frame counts
            e0, e1, e2 = pd[j, 0], pd[j, 1], pd[j, 2]
            r0 = _dot(t0[0], t0[1], t0[2], e0, e1, e2)
            r1 = _dot(t1[0], t1[1], t1[2], e0, e1, e2)
            nn = r0 * r0 + r1 * r1
            if nn > _Z:
                r0 = r0 / math.sqrt(nn)
            cell = _direction_cell_fast(r0, table)
            if pos > hist[cell]:
                hist[cell] = pos
            if neg < negative:
                negative = neg
        acv = _Z
        for c1 in range(nhist - 1):
            if hist[c1] == _Z:
                continue
            for c2 in range(c1 + 1, nhist):
                if hist[c2] == _Z:
                    continue
                nad = (_TWO * f32(c2 - c1)) / fhist
                if not (nad <= _ONE):
                    nad = _TWO - nad
                val = (hist[c1] * hist[c2]) * nad
                if val > acv:
                    acv = val
        acv = math.sqrt(acv)
        out[index] = negative * acv
    return out


def interest_values_reference(ri: RangeImage, be: BorderExtraction, support_size: float) -> np.ndarray:
    """Slow, plain-Python NARF interest values of one scale (float64; for tests and benchmarks).

    Same definition as :func:`_interest` without scale reduction: breadth-first region growing
    from each point over 8-neighbours, a pixel passing when it is observed, not a shadow border
    or veil point, and within ``support_size / 2`` of the point (or at most 2 pixels away).
    """
    from collections import deque

    support = support_size
    w, h = ri.width, ri.height
    pts = ri.points.astype(np.float64)
    valid = np.isfinite(ri.ranges)
    bad = (be.traits & (SHADOW_BORDER | VEIL_POINT)) != 0
    radius = support / 2
    out = np.zeros(w * h)
    for index in range(w * h):
        if not valid[index] or bad[index]:
            continue
        y, x = divmod(index, w)
        p = pts[index]
        v = p / np.linalg.norm(p)
        t0 = np.cross([0, -1, 0], v)
        t0 /= np.linalg.norm(t0)
        t1 = np.cross(v, t0)
        t1 /= np.linalg.norm(t1)
        hist = np.zeros(18)
        negative = 1.0
        seen = {index}
        todo = deque([index])
        while todo:
            j = todo.popleft()
            if not valid[j] or bad[j]:
                continue
            y2, x2 = divmod(j, w)
            pix = max(abs(x2 - x), abs(y2 - y))
            dist = np.linalg.norm(pts[j] - p)
            if pix > 2 and dist > radius:
                continue
            for y3 in range(max(0, y2 - 1), min(y2 + 1, h - 1) + 1):
                for x3 in range(max(0, x2 - 1), min(x2 + 1, w - 1) + 1):
                    k = y3 * w + x3
                    if k not in seen:
                        seen.add(k)
                        todo.append(k)
            s = float(be.surface_change_scores[j])
            if s < 0.2:
                continue
            df = dist / radius
            negative = min(negative, (1 - 0.5 * s * max(1 - df / 0.25, 0)) ** 2)
            pos = s if pix < 2 else s * (1 - df)
            e = be.surface_change_directions[j].astype(np.float64)
            r = np.array([t0 @ e, t1 @ e])
            dx = r[0] / np.linalg.norm(r) if np.linalg.norm(r) > 0 else 0.0
            a = math.acos(max(-1.0, min(1.0, dx)))
            angle = a if a < math.pi / 2 else a - math.pi   # PCL: 0.5 * normAngle(2 acos(dx))
            cell = min(17, max(0, math.floor((angle + math.pi / 2) / math.pi * 18)))
            hist[cell] = max(hist[cell], pos)
        best = 0.0
        for c1 in range(17):
            for c2 in range(c1 + 1, 18):
                if hist[c1] and hist[c2]:
                    nad = 2 * (c2 - c1) / 18
                    nad = nad if nad <= 1 else 2 - nad
                    best = max(best, hist[c1] * hist[c2] * nad)
        out[index] = negative * math.sqrt(best)
    return out.reshape(h, w)


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


@njit(cache=True, error_model="numpy")
def _copy_footprint(rng, traits, need, w, h, start_usage_range, hw, hh, bilinear):
    """Pixels of the half image whose interest a scale copies (so they must be computed)."""
    out = np.zeros(hw * hh, np.bool_)
    for index in range(w * h):
        if not need[index] or not np.isfinite(rng[index]) or traits[index] & _SHADOW_OR_VEIL:
            continue
        if not (rng[index] < start_usage_range):
            continue
        y = index // w
        x = index - y * w
        if bilinear:
            f_y = f32(index) / f32(w)
            f_x = f32(index) - f32(y) * f32(w)
            fhx = f_x / _TWO
            fhy = f_y / _TWO
            hx = min(int(math.floor(fhx)), hw - 1)
            hy = min(int(math.floor(fhy)), hh - 1)
            hxr = min(int(math.ceil(fhx)), hw - 1)
            hyr = min(int(math.ceil(fhy)), hh - 1)
            out[hy * hw + hx] = True
            out[hy * hw + hxr] = True
            out[hyr * hw + hx] = True
            out[hyr * hw + hxr] = True
        else:
            out[min(y // 2, hh - 1) * hw + min(x // 2, hw - 1)] = True
    return out


@njit(cache=True, error_model="numpy")
def _support_candidates(rng, traits, computed, w, h, start_usage_range, radius):
    """Points that can vote for a computed point: within 2 pixels of one, or not closer to the
    sensor than the nearest computed point minus the support radius."""
    near = _dilate(computed, w, h, 2)
    lo = start_usage_range - radius * f32(1.001) - f32(1e-3)
    out = np.zeros(w * h, np.bool_)
    for i in range(w * h):
        if not np.isfinite(rng[i]) or traits[i] & _SHADOW_OR_VEIL:
            continue
        out[i] = near[i] or rng[i] >= lo
    return out


@njit(cache=True, error_model="numpy")
def _computed(rng, traits, need, start_usage_range):
    out = np.zeros(rng.shape[0], np.bool_)
    for i in range(rng.shape[0]):
        out[i] = need[i] and np.isfinite(rng[i]) and not (traits[i] & _SHADOW_OR_VEIL) \
            and not (rng[i] < start_usage_range)
    return out


def interest_image(depth_m, focal, support_size: float = 0.2, center=None, recursive: bool = True,
                   taskonomy_upsampling: bool = True, timings: dict | None = None,
                   eigen_variant: int = 0) -> np.ndarray:
    """NARF interest image (float32, (H, W), values in [0, 1]) of a z-buffer depth image.

    Parameters
    ----------
    depth_m : (H, W) array, z-buffer depth in metres (``<= 0`` or non-finite: no data).
    focal : focal length in pixels.
    support_size : diameter of the NARF support sphere in metres (Taskonomy: 0.2).
    center : principal point (cx, cy), default (W / 2, H / 2).
    recursive : PCL's ``use_recursive_scale_reduction`` (Taskonomy: on).
    taskonomy_upsampling : take values from coarser scales by Taskonomy's bilinear
        interpolation (True) or by stock PCL's nearest pixel (False).
    timings : if a dict, filled with seconds per stage.
    eigen_variant : 0 = PCL 1.7/1.8's 3x3 eigen solver (Taskonomy); 1 = PCL >= 1.10's (to
        compare with a modern PCL build).

    References
    ----------
    B. Steder, R. B. Rusu, K. Konolige, W. Burgard, "Point Feature Extraction on 3D Range
    Scans Taking into Account Object Boundaries", ICRA 2011; PCL ``NarfKeypoint``.
    """
    import time

    if not support_size > 0:
        raise ValueError(f"support_size must be positive, got {support_size}")
    support = f32(support_size)
    t = time.perf_counter()
    ri = planar_range_image(depth_m, focal, center)
    scales = scale_space(ri, recursive)
    starts = start_usage_ranges(scales, support_size)
    if timings is not None:
        timings["range images"] = time.perf_counter() - t
    stages = None if timings is None else timings.setdefault("border extraction stages", {})
    lap = _lap_clock(stages)
    # border classification at every scale, then (fine to coarse) which pixels are needed:
    # all of the finest scale, and at each coarser one those that a finer scale copies
    t = time.perf_counter()
    borders = [_borders(im, eigen_variant, lap) for im in scales]
    needs = [np.ones(ri.width * ri.height, np.bool_)]
    for s in range(len(scales) - 1):
        im, nxt = scales[s], scales[s + 1]
        needs.append(_copy_footprint(im.ranges, borders[s].traits, needs[s], im.width, im.height,
                                     starts[s], nxt.width, nxt.height, bool(taskonomy_upsampling)))
    t_borders = time.perf_counter() - t
    t_surface = t_interest = 0.0
    per_scale = {}
    half = np.zeros(1, np.float32)
    hw = hh = 1
    for s in range(len(scales) - 1, -1, -1):
        im, b = scales[s], borders[s]
        t = time.perf_counter()
        lap(None)
        computed = _computed(im.ranges, b.traits, needs[s], starts[s])
        voters = _support_candidates(im.ranges, b.traits, computed, im.width, im.height, starts[s],
                                     _HALF * support)
        lap("masks of needed pixels")
        be = _surface_change(im, b, voters, eigen_variant, lap)
        t2 = time.perf_counter()
        cur = _interest_fast(im.points, im.ranges, im.width, im.height, be.traits, be.surface_change_scores,
                             be.surface_change_directions, support, starts[s], half, hw, hh,
                             bool(taskonomy_upsampling), im.focal, im.cx, im.cy, needs[s])
        t3 = time.perf_counter()
        t_surface += t2 - t
        t_interest += t3 - t2
        per_scale[f"{im.width}x{im.height}"] = t3 - t2
        half, hw, hh = cur, im.width, im.height
    if timings is not None:
        timings["border extraction"] = t_borders + t_surface
        timings["interest values"] = t_interest
        timings["interest values per scale"] = per_scale
    return half.reshape(ri.height, ri.width)


def encode_interest(interest: np.ndarray) -> np.ndarray:
    """uint16 as Taskonomy stored it: ``interest * 2**16`` truncated (clipped to 0..65535)."""
    v = np.floor(np.asarray(interest, np.float64) * 65536.0)
    return np.clip(v, 0, 65535).astype(np.uint16)
