"""NARF stage 2: PCL's ``RangeImageBorderExtractor`` (default parameters).

Local planes (5x5 PCA), border scores in four directions, shadow-border search, border
classification (obstacle border / shadow border / veil point), 3D border directions and
surface-change scores and directions. Each stage can be restricted to the pixels the
interest image needs (:func:`surface_change`), which changes no value that is computed.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .narf_numerics import (
    MINIMUM_BORDER_PROBABILITY, OBSTACLE_BORDER, OBSTACLE_BORDER_BOTTOM, OBSTACLE_BORDER_LEFT,
    OBSTACLE_BORDER_RIGHT, OBSTACLE_BORDER_TOP, PIXEL_RADIUS_BORDERS,
    PIXEL_RADIUS_BORDER_DIRECTION, PIXEL_RADIUS_PLANE_EXTRACTION, PIXEL_RADIUS_PRINCIPAL_CURVATURE,
    SHADOW_BORDER, SHADOW_BORDER_BOTTOM, SHADOW_BORDER_LEFT, SHADOW_BORDER_RIGHT,
    SHADOW_BORDER_TOP, VEIL_POINT, VEIL_POINT_BOTTOM, VEIL_POINT_LEFT, VEIL_POINT_RIGHT,
    VEIL_POINT_TOP, _FOUR, _HALF, _INNER_FIRST_5X5, _ONE, _ONE_MINUS_RECIP, _RECIP, _Z,
    _distance_change_score, _dot, _eigen33_of, _kth_smallest, _kth_smallest_ordered, _normalized,
    _sqdist, _std_sort, f32)
from .narf_range import RangeImage
from .narf_surface import _border_directions, _surface_changes, _surface_changes_rows


@njit(cache=True, error_model="numpy")
def _local_surfaces(ri, radius, variant, need, fit_only, known_maxd2, edges_only=False, ranked=False):
    """Per point: valid flag, squared distance of the k-th closest neighbour, normal, mean.

    The plane (normal, mean) is only fitted where ``need`` is set; the flag and the distance,
    which do not depend on the fit, are computed everywhere unless ``fit_only``, in which
    case ``known_maxd2`` holds the distances of an earlier call (not recomputed).
    ``edges_only``: only the pixels less than ``radius`` from the image edge. ``ranked``: the
    neighbours' order by counting ranks (same order as the insertion sort, which is kept as
    the plain version the tests hold it against).
    """
    pts, rng, w, h = ri.points, ri.ranges, ri.width, ri.height
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
    work = np.empty((5, 3, 3), np.float32)
    stack = np.empty(64, np.int64)
    top = np.empty(block, np.float32)
    sd = np.empty(block, np.float32)
    sk = np.empty(block, np.int64)
    rk = np.empty(block, np.int32)
    eq = np.empty(block, np.int32)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not np.isfinite(rng[i]) or (fit_only and not need[i]):
                continue
            if edges_only and radius <= x < w - radius and radius <= y < h - radius:
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
            if ranked:
                # each distance's rank (how many are smaller) and how many are equal, by
                # branch-free counting; without equal selected distances the ranks place
                # the selected ones (all smaller than the others) in ascending order
                for t in range(cnt):
                    rk[t] = 0
                    eq[t] = 0
                for u in range(cnt):
                    du = dist[u]
                    for t in range(cnt):
                        rk[t] += np.int32(du < dist[t])
                        eq[t] += np.int32(du == dist[t])
                for t in range(cnt):
                    if not (dist[t] > lim):
                        m += 1
                        if eq[t] > 1:
                            tie = True
                        sk[rk[t]] = nbr[t]
            for t in range(0 if ranked else cnt):
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
                _std_sort(dist, nbr, np.int64(cnt), stack)  # never Literal[int]: one compilation
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
            _, _, _, _, n0, n1, n2 = _eigen33_of(c00, c01, c02, c11, c12, c22, variant, work)
            v = _normalized(_Z - px, _Z - py, _Z - pz)
            if _dot(n0, n1, n2, v[0], v[1], v[2]) < _Z:
                n0, n1, n2 = n0 * f32(-1.0), n1 * f32(-1.0), n2 * f32(-1.0)
            ok[i] = True
            normal[i, 0], normal[i, 1], normal[i, 2] = n0, n1, n2
            mean[i, 0], mean[i, 1], mean[i, 2] = m0, m1, m2
    return ok, maxd2, normal, mean


_FAR = f32(1e30)  # coordinate of unobserved points in _neighbour_distances: distance inf


@njit(cache=True, error_model="numpy")
def _neighbour_distances(ri):
    """What :func:`_local_surfaces` computes without plane fits (``need`` all false): per
    point the flag and the squared distance of the 9th closest point of its 5x5 window
    (itself included), the same bits, faster.

    Pixels at least 2 from the image edge are done a row at a time: for each of the 24
    offsets the distances of the whole row (unobserved points are placed at 1e30, so their
    squared distance overflows to inf), inserted into the 8 smallest so far by min/max
    exchanges (loops the compiler vectorises). The point itself is the closest (distance
    0), so the 9th closest is the 8th smallest of the others; with ``cnt < 9`` points in the
    window it is the ``cnt``-th, the largest finite one. The flag is ``cnt >= 3``: the
    ``min(cnt, 9)`` closest are all within 4 times that distance. The edge rows and columns
    use :func:`_local_surfaces`' code.
    """
    pts, rng, w, h = ri.points, ri.ranges, ri.width, ri.height
    n = w * h
    radius = PIXEL_RADIUS_PLANE_EXTRACTION
    none = np.zeros(n, np.bool_)
    # plain (non-literal) argument types, as the call from Python has: literal constants would
    # compile _local_surfaces a second time (about 20 s on a cold cache)
    ok, maxd2, _, _ = _local_surfaces(ri, np.int64(radius), np.int64(0), none, np.bool_(False),
                                      np.zeros(0, np.float32), np.bool_(True), np.bool_(False))
    if w < 2 * radius + 1 or h < 2 * radius + 1:
        return ok, maxd2
    cx = np.empty(n, np.float32)
    cy = np.empty(n, np.float32)
    cz = np.empty(n, np.float32)
    for i in range(n):
        if np.isfinite(rng[i]):
            cx[i], cy[i], cz[i] = pts[i, 0], pts[i, 1], pts[i, 2]
        else:
            cx[i] = cy[i] = cz[i] = _FAR
    nx = w - 2 * radius
    t0 = np.empty(nx, np.float32)
    t1 = np.empty(nx, np.float32)
    t2 = np.empty(nx, np.float32)
    t3 = np.empty(nx, np.float32)
    t4 = np.empty(nx, np.float32)
    t5 = np.empty(nx, np.float32)
    t6 = np.empty(nx, np.float32)
    t7 = np.empty(nx, np.float32)
    cnt = np.empty(nx, np.int32)
    inf = np.float32(np.inf)
    for y in range(radius, h - radius):
        base = y * w + radius
        sx = cx[base:base + nx]
        sy = cy[base:base + nx]
        sz = cz[base:base + nx]
        for t in range(nx):
            t0[t] = t1[t] = t2[t] = t3[t] = t4[t] = t5[t] = t6[t] = t7[t] = inf
            cnt[t] = 1
        for oy in range(-radius, radius + 1):
            for ox in range(-radius, radius + 1):
                if ox == 0 and oy == 0:
                    continue
                nb = base + oy * w + ox
                qx = cx[nb:nb + nx]
                qy = cy[nb:nb + nx]
                qz = cz[nb:nb + nx]
                for t in range(nx):
                    v = _sqdist(qx[t] - sx[t], qy[t] - sy[t], qz[t] - sz[t])
                    cnt[t] += np.int32(v < inf)
                    # insertion into the sorted t0 <= ... <= t7 by compare-exchanges
                    a = t0[t]
                    t0[t] = a if a < v else v
                    v = v if a < v else a
                    a = t1[t]
                    t1[t] = a if a < v else v
                    v = v if a < v else a
                    a = t2[t]
                    t2[t] = a if a < v else v
                    v = v if a < v else a
                    a = t3[t]
                    t3[t] = a if a < v else v
                    v = v if a < v else a
                    a = t4[t]
                    t4[t] = a if a < v else v
                    v = v if a < v else a
                    a = t5[t]
                    t5[t] = a if a < v else v
                    v = v if a < v else a
                    a = t6[t]
                    t6[t] = a if a < v else v
                    v = v if a < v else a
                    a = t7[t]
                    t7[t] = a if a < v else v
        for t in range(nx):
            i = base + t
            if not np.isfinite(rng[i]):
                continue
            c = cnt[t]
            if c >= 9:
                maxd2[i] = t7[t]
            elif c >= 2:
                # the (c - 1)-th smallest of the others (slots 0 .. c - 2 are finite)
                maxd2[i] = (t0[t], t1[t], t2[t], t3[t], t4[t], t5[t], t6[t])[c - 2]
            else:
                maxd2[i] = _Z
            ok[i] = c >= 3
    return ok, maxd2


@njit(cache=True, error_model="numpy")
def _border_scores(ri, ok, maxd2, radius, edges_only=False):
    """Border score images (0 left, 1 right, 2 top, 3 bottom); ``edges_only``: only the
    pixels less than ``radius`` from the image edge (the others stay 0)."""
    pts, rng, w, h = ri.points, ri.ranges, ri.width, ri.height
    n = w * h
    sc = np.zeros((4, n), np.float32)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not ok[i]:
                continue
            if edges_only and radius <= x < w - radius and radius <= y < h - radius:
                continue
            for k in range(4):  # one inlined copy of the score, not four
                ox = (-1, 1, 0, 0)[k]
                oy = (0, 0, -1, 1)[k]
                sc[k, i] = _distance_change_score(pts, rng, w, h, maxd2[i], x, y, ox, oy, radius)
    return sc


@njit(cache=True, error_model="numpy")
def _border_scores_rows(ri, ok, maxd2, radius):
    """:func:`_border_scores` (same bits), pixels at least ``radius`` from the image edge a
    row at a time in branch-free loops the compiler vectorises: the conditional sums of
    :func:`_distance_change_score` become selects (a skipped point adds nothing), its early
    returns a final select; the edge pixels use :func:`_border_scores`."""
    pts, rng, w, h = ri.points, ri.ranges, ri.width, ri.height
    n = w * h
    sc = _border_scores(ri, ok, maxd2, radius, True)
    if w < 2 * radius + 1 or h < 2 * radius + 1:
        return sc
    cx = np.ascontiguousarray(pts[:, 0])
    cy = np.ascontiguousarray(pts[:, 1])
    cz = np.ascontiguousarray(pts[:, 2])
    fin = np.empty(n, np.bool_)
    for i in range(n):
        fin[i] = np.isfinite(rng[i])
    nx = w - 2 * radius
    for k in range(4):
        step = (-1, 1, -w, w)[k]
        out = sc[k]
        for y in range(radius, h - radius):
            base = y * w + radius
            px = cx[base:base + nx]
            py = cy[base:base + nx]
            pz = cz[base:base + nx]
            pr = rng[base:base + nx]
            md = maxd2[base:base + nx]
            pok = ok[base:base + nx]
            res = out[base:base + nx]
            b1 = base + step
            qx1 = cx[b1:b1 + nx]
            qy1 = cy[b1:b1 + nx]
            qz1 = cz[b1:b1 + nx]
            qr1 = rng[b1:b1 + nx]
            qf1 = fin[b1:b1 + nx]
            b2 = b1 + step
            qx2 = cx[b2:b2 + nx]
            qy2 = cy[b2:b2 + nx]
            qz2 = cz[b2:b2 + nx]
            qr2 = rng[b2:b2 + nx]
            qf2 = fin[b2:b2 + nx]
            b3 = b2 + step
            qx3 = cx[b3:b3 + nx]
            qy3 = cy[b3:b3 + nx]
            qz3 = cz[b3:b3 + nx]
            qr3 = rng[b3:b3 + nx]
            qf3 = fin[b3:b3 + nx]
            for t in range(nx):
                f1 = qf1[t]
                a0 = qx1[t] if f1 else _Z
                a1 = qy1[t] if f1 else _Z
                a2 = qz1[t] if f1 else _Z
                ar = qr1[t] if f1 else _Z
                ws = _ONE if f1 else _Z
                f2 = qf2[t]
                a0 = a0 + qx2[t] if f2 else a0
                a1 = a1 + qy2[t] if f2 else a1
                a2 = a2 + qz2[t] if f2 else a2
                ar = ar + qr2[t] if f2 else ar
                ws = ws + _ONE if f2 else ws
                f3 = qf3[t]
                a0 = a0 + qx3[t] if f3 else a0
                a1 = a1 + qy3[t] if f3 else a1
                a2 = a2 + qz3[t] if f3 else a2
                ar = ar + qr3[t] if f3 else ar
                ws = ws + _ONE if f3 else ws
                nf = _ONE / (ws if ws > _Z else _ONE)
                a0 = a0 * nf
                a1 = a1 * nf
                a2 = a2 * nf
                ar = ar * nf
                d0 = px[t] - a0
                d1 = py[t] - a1
                d2 = pz[t] - a2
                nd2 = _sqdist(d0, d1, d2)
                m = md[t]
                ret = _ONE - math.sqrt(m / (nd2 if nd2 > m else _ONE))
                ret = -ret if ar < pr[t] else ret
                res[t] = ret if (pok[t] and ws > _Z and nd2 > m) else _Z
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
def dilate(mask, w, h, r):
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


class BorderClasses(NamedTuple):
    ok: np.ndarray
    maxd2: np.ndarray
    scores: np.ndarray
    traits: np.ndarray


def classify_borders(ri: RangeImage, variant: int, lap, fast: bool = True) -> BorderClasses:
    """Border extraction up to the classification (needs no plane fit); ``fast``: the
    neighbour distances and border scores by the row-wise kernels
    (:func:`_neighbour_distances`, :func:`_border_scores_rows`; same bits as the plain loops)."""
    w, h = ri.width, ri.height
    if fast and PIXEL_RADIUS_PLANE_EXTRACTION == 2:
        ok, maxd2 = _neighbour_distances(ri)
    else:
        none = np.zeros(w * h, np.bool_)
        ok, maxd2, _, _ = _local_surfaces(ri, PIXEL_RADIUS_PLANE_EXTRACTION, variant, none, False,
                                          np.zeros(0, np.float32))
    lap("neighbour distances")
    if fast:
        sc = _border_scores_rows(ri, ok, maxd2, PIXEL_RADIUS_BORDERS)
    else:
        sc = _border_scores(ri, ok, maxd2, PIXEL_RADIUS_BORDERS)
    sc = _propagate_scores(sc, w, h, MINIMUM_BORDER_PROBABILITY)
    lap("border scores")
    traits = _classify(sc, w, h, PIXEL_RADIUS_BORDERS, MINIMUM_BORDER_PROBABILITY)
    lap("shadow borders + classification")
    return BorderClasses(ok, maxd2, sc, traits)


def surface_change(ri: RangeImage, b: BorderClasses, need: np.ndarray, variant: int, lap,
                   min_score=_Z, fast: bool = True) -> BorderExtraction:
    """Local planes, border directions and surface changes where ``need`` is set (surface
    change scores below ``min_score`` may be left at 0); ``fast``: the plane fits order the
    neighbours by counting ranks (same bits as the insertion sort) and the surface changes
    are done a row at a time (:func:`_surface_changes_rows`, same bits)."""
    w, h = ri.width, ri.height
    fit = _obstacle_or(dilate(need, w, h, PIXEL_RADIUS_PRINCIPAL_CURVATURE), b.traits)
    _, _, normal, mean = _local_surfaces(ri, PIXEL_RADIUS_PLANE_EXTRACTION, variant, fit, True, b.maxd2,
                                         False, fast)
    lap("local planes")
    bdir, bhas = _border_directions(ri, b, normal, mean, PIXEL_RADIUS_BORDER_DIRECTION,
                                    MINIMUM_BORDER_PROBABILITY)
    lap("border directions")
    changes = _surface_changes_rows if fast else _surface_changes
    score, direc = changes(ri, b, normal, bdir, bhas, PIXEL_RADIUS_PRINCIPAL_CURVATURE, variant, need,
                           f32(min_score))
    lap("surface changes")
    return BorderExtraction(b.ok, normal, b.scores, b.traits, bdir, bhas, score, direc)


def lap_clock(timings):
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
    lap = lap_clock(timings)
    b = classify_borders(ri, eigen_variant, lap)
    return surface_change(ri, b, np.ones(ri.width * ri.height, np.bool_), eigen_variant, lap)

