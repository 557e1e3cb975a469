"""Float32 numerics of PCL that NARF's result depends on, and NARF's constants.

Constants: PCL's ``RangeImageBorderExtractor`` and ``NarfKeypoint`` default parameters and
the border-trait bits. Numerics: Eigen-ordered 3-vector helpers, PCL 1.7/1.8's 3x3 eigen
solver (``pcl::eigen33``, whose eigenvector signs matter), ``VectorAverage``'s streaming
float32 mean and covariance, libstdc++'s ``std::sort`` on (distance, index) pairs (the order
of equal distances decides float sums) and k-th smallest selection.
"""
from __future__ import annotations

import math

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


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
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
def _shifted(sm, tmp, lam):
    """``tmp = sm - lam I`` (element loops: a slice assignment would compile Numba's shape
    error formatter into every kernel that inlines the solver)."""
    for i in range(3):
        for j in range(3):
            tmp[i, j] = sm[i, j]
        tmp[i, i] -= lam


@njit(cache=True, error_model="numpy")
def _complete_basis(evecs, min_el, mid_el):
    """Columns ``min_el`` then ``mid_el`` of ``evecs`` replaced by the normalised cross
    product of the other two (PCL's re-orthogonalisation; a call, not inlined, to keep the
    solver's compilation short)."""
    for el in (min_el, mid_el):
        a = (el + 1) % 3
        b = (el + 2) % 3
        c = _cross(evecs[0, a], evecs[1, a], evecs[2, a], evecs[0, b], evecs[1, b], evecs[2, b])
        c = _normalized(c[0], c[1], c[2])
        evecs[0, el], evecs[1, el], evecs[2, el] = c


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
        _shifted(sm, tmp, evals[2])
        _largest_cross(tmp, evecs, np.int64(2))
        u = _unit_orthogonal(evecs[0, 2], evecs[1, 2], evecs[2, 2])
        evecs[0, 1], evecs[1, 1], evecs[2, 1] = u
        c = _cross(u[0], u[1], u[2], evecs[0, 2], evecs[1, 2], evecs[2, 2])
        evecs[0, 0], evecs[1, 0], evecs[2, 0] = c
    elif (evals[2] - evals[1]) <= _FLT_EPS:
        _shifted(sm, tmp, evals[0])
        _largest_cross(tmp, evecs, np.int64(0))
        u = _unit_orthogonal(evecs[0, 0], evecs[1, 0], evecs[2, 0])
        evecs[0, 1], evecs[1, 1], evecs[2, 1] = u
        c = _cross(evecs[0, 0], evecs[1, 0], evecs[2, 0], u[0], u[1], u[2])
        evecs[0, 2], evecs[1, 2], evecs[2, 2] = c
    elif variant == 1:
        lens = work[2, 0]
        for c in range(3):
            _shifted(sm, tmp, evals[c])
            k, l1, l2, l3 = _largest_cross(tmp, evecs, np.int64(c))
            lens[c] = math.sqrt(l1 if k == 1 else (l2 if k == 2 else l3))
        min_el = 0
        max_el = 0
        for c in range(1, 3):
            if lens[c] < lens[min_el]:
                min_el = c
            if not (lens[c] < lens[max_el]):
                max_el = c
        _complete_basis(evecs, np.int64(min_el), np.int64(3 - min_el - max_el))
    else:
        mmax = work[2, 0]
        _shifted(sm, tmp, evals[2])
        k, l1, l2, l3 = _largest_cross(tmp, evecs, np.int64(2))
        mmax[2] = l1 if k == 1 else (l2 if k == 2 else l3)
        min_el = 2
        max_el = 2
        _shifted(sm, tmp, evals[1])
        k, l1, l2, l3 = _largest_cross(tmp, evecs, np.int64(1))
        ln = l1 if k == 1 else (l2 if k == 2 else l3)
        mmax[1] = ln
        min_el = 1 if ln <= mmax[min_el] else min_el
        max_el = 1 if ln > mmax[max_el] else max_el
        _shifted(sm, tmp, evals[0])
        k, l1, l2, l3 = _largest_cross(tmp, evecs, np.int64(0))
        mmax[0] = l1 if k == 1 else (l2 if k == 2 else l3)
        # PCL 1.7/1.8 compares len3 here whatever row pair was chosen (kept on purpose)
        min_el = 0 if l3 <= mmax[min_el] else min_el
        max_el = 0 if l3 > mmax[max_el] else max_el
        _complete_basis(evecs, np.int64(min_el), np.int64(3 - min_el - max_el))
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
# k-th smallest value (the order of insertion does not change it)
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _insert_smallest(v, m, k, top):
    """Insert ``v`` into ``top[:m]``, the ``m <= k`` smallest values so far in ascending order,
    keeping at most ``k`` of them; returns the new count."""
    if m == k and not (v < top[k - 1]):
        return m
    u = m if m < k else k - 1
    while u > 0 and v < top[u - 1]:
        top[u] = top[u - 1]
        u -= 1
    top[u] = v
    return m + 1 if m < k else m


@njit(cache=True, error_model="numpy")
def _eigen33_of(c00, c01, c02, c11, c12, c22, variant, work):
    """:func:`_eigen33` of the symmetric 3x3 matrix with upper triangle ``c00 ... c22``:
    (largest eigenvalue, its eigenvector, the eigenvector of the smallest eigenvalue).

    ``work``: float32 (5, 3, 3) scratch. Not inlined: the solver is compiled once for the
    plane fits and both surface-change kernels (each inlined copy cost about 15 CPU s of
    compilation), at the price of a call per solve."""
    cov = work[3]
    evecs = work[4]
    evals = work[2, 1]
    cov[0, 0] = c00
    cov[0, 1] = cov[1, 0] = c01
    cov[0, 2] = cov[2, 0] = c02
    cov[1, 1] = c11
    cov[1, 2] = cov[2, 1] = c12
    cov[2, 2] = c22
    _eigen33(cov, evecs, evals, variant, work)
    return (evals[2], evecs[0, 2], evecs[1, 2], evecs[2, 2], evecs[0, 0], evecs[1, 0], evecs[2, 0])


@njit(cache=True, inline="always", error_model="numpy")
def _kth_smallest(dist, cnt, k, top):
    """The k-th smallest of ``dist[:cnt]`` by a partial insertion sort into ``top[:k]``."""
    m = 0
    for t in range(cnt):
        m = _insert_smallest(dist[t], m, k, top)
    return top[k - 1]


_INNER_FIRST_5X5 = np.array([12, 7, 11, 13, 17, 6, 8, 16, 18]
                            + [t for t in range(25) if t not in (12, 7, 11, 13, 17, 6, 8, 16, 18)], np.int64)


@njit(cache=True, inline="always", error_model="numpy")
def _kth_smallest_ordered(dist, order, k, top):
    """:func:`_kth_smallest` of ``dist[order]`` (the k-th smallest value does not depend on
    the order in which the values are inserted)."""
    m = 0
    for o in range(order.shape[0]):
        m = _insert_smallest(dist[order[o]], m, k, top)
    return top[k - 1]


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
