"""NARF stage 3: interest values (``NarfKeypoint::calculateCompleteInterestImage``).

For each point, the points reachable by region growing within the support radius
``support_size / 2`` (8-neighbours, passing when observed, not a shadow border or veil point,
and within the radius or at most 2 pixels away) vote in an 18-cell histogram of their
surface-change directions (the angle in the plane orthogonal to the viewing ray); the
interest is ``negative_score * sqrt(max_{i<j} h_i h_j d_ij)``, where ``d_ij`` is the
normalised angle between the cells and ``negative_score`` penalises strong surface changes
closer than a quarter of the support size.

:func:`interest_values` is the fast kernel; :mod:`.narf_reference` holds the simple version
it is tested against (same bits). Both use the vote and histogram helpers defined here.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .narf_numerics import (
    _DEG2RAD, _HALF, _ONE, _PI, _SHADOW_OR_VEIL, _TWO, _TWO_PI, _Z, HISTOGRAM_SIZE,
    MIN_SURFACE_CHANGE_SCORE, OPTIMAL_DISTANCE_TO_HIGH_SURFACE_CHANGE, _cross, _dot, _normalized,
    _sqdist, f32)
from .narf_range import support_window
from .narf_scale import coarse_value


class InterestParams(NamedTuple):
    """Parameters of one scale's interest values."""

    support_size: np.float32       # diameter of the support sphere, metres
    start_usage_range: np.float32  # closer points take their value from the coarser scale
    bilinear: bool                 # Taskonomy's bilinear upsampling (else PCL's nearest pixel)


# ---------------------------------------------------------------------------------------
# histogram cell of a direction
# ---------------------------------------------------------------------------------------

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


@njit(cache=True, error_model="numpy")
def _direction_cell(r0):
    """Histogram cell of a normalised first coordinate, as PCL computes it (float32). A call,
    not inlined: the vote kernels only need it near a cell threshold."""
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


# ---------------------------------------------------------------------------------------
# one vote and the histogram's score (shared by the fast and the reference kernels)
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _viewer_frame(px, py, pz):
    """First two axes of the rotation to the viewer frame of a point: z along the viewing
    ray, y as close to -y as possible."""
    v = _normalized(px, py, pz)
    t0 = _cross(_Z, f32(-1.0), _Z, v[0], v[1], v[2])
    t0 = _normalized(t0[0], t0[1], t0[2])
    t1 = _cross(v[0], v[1], v[2], t0[0], t0[1], t0[2])
    t1 = _normalized(t1[0], t1[1], t1[2])
    return t0[0], t0[1], t0[2], t1[0], t1[1], t1[2]


@njit(cache=True, inline="always", error_model="numpy")
def _vote(s, dsq, pix, e0, e1, e2, frame, radius_recip):
    """Vote of a point with surface-change score ``s`` >= 0.2 and direction ``e``, at squared
    distance ``dsq`` and ``pix`` pixels (Chebyshev) from the seed: (positive score, negative
    score, first coordinate of the direction in the seed's viewer frame, normalised)."""
    dist = math.sqrt(dsq)
    df = radius_recip * dist
    neg = _ONE - (_HALF * s) * max(_ONE - df / OPTIMAL_DISTANCE_TO_HIGH_SURFACE_CHANGE, _Z)
    neg = neg * neg
    if pix < 2:
        pos = s
    else:
        pos = s * (_ONE - df)
    # nkdGetDirectionAngle: only the first coordinate in the viewer frame counts
    r0 = _dot(frame[0], frame[1], frame[2], e0, e1, e2)
    r1 = _dot(frame[3], frame[4], frame[5], e0, e1, e2)
    nn = r0 * r0 + r1 * r1
    if nn > _Z:
        r0 = r0 / math.sqrt(nn)
    return pos, neg, r0


@njit(cache=True, inline="always", error_model="numpy")
def _histogram_interest(hist):
    """``sqrt(max_{i<j} h_i h_j d_ij)`` with ``d_ij`` the normalised angle between cells."""
    nhist = HISTOGRAM_SIZE
    fhist = f32(nhist)
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
    return math.sqrt(acv)


@njit(cache=True, error_model="numpy")
def usable_points(ranges, traits):
    """Observed points that are neither shadow borders nor veil points."""
    out = np.empty(ranges.shape[0], np.bool_)
    for i in range(ranges.shape[0]):
        out[i] = np.isfinite(ranges[i]) and not (traits[i] & _SHADOW_OR_VEIL)
    return out


# ---------------------------------------------------------------------------------------
# the fast kernel
# ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _passes(k, dx, dy, use, pts, px, py, pz, radius_sq):
    """Region-growing test of pixel ``k`` at offset (dx, dy) from the seed: usable, and at most
    2 pixels away or within the support radius."""
    if not use[k]:
        return False
    if abs(dx) <= 2 and abs(dy) <= 2:
        return True
    return _sqdist(pts[k, 0] - px, pts[k, 1] - py, pts[k, 2] - pz) <= radius_sq


@njit(cache=True, inline="always", error_model="numpy")
def _grow_run(x0, yy, w, stamp, mark, use, pts, x, y, px, py, pz, radius_sq):
    """The run of passing pixels of row ``yy`` through ``x0`` (which passes): extended left
    and right until a pixel fails or was already tested for this seed; returns its ends."""
    base = yy * w
    a = x0
    while a > 0:
        k = base + a - 1
        if mark[k] == stamp:
            break
        mark[k] = stamp
        if not _passes(k, a - 1 - x, yy - y, use, pts, px, py, pz, radius_sq):
            break
        a -= 1
    b = x0
    while b < w - 1:
        k = base + b + 1
        if mark[k] == stamp:
            break
        mark[k] = stamp
        if not _passes(k, b + 1 - x, yy - y, use, pts, px, py, pz, radius_sq):
            break
        b += 1
    return a, b


# De Bruijn sequence for the index of the lowest set bit of a 64-bit word
_DEBRUIJN = 0x03F79D71B4CB0A89
_DEBRUIJN_TABLE = np.zeros(64, np.int64)
for _i in range(64):
    _DEBRUIJN_TABLE[((1 << _i) * _DEBRUIJN % (1 << 64)) >> 58] = _i
del _i

_WINDOW_BITS = 62
"""Widest support window done with one int64 bit mask per row (bits 0..61: sums of two
masks stay below 2**63)."""


@njit(cache=True, inline="always", error_model="numpy")
def _fill_runs(m, s):
    """The runs (maximal blocks of consecutive set bits) of ``m`` that hold a bit of ``s``
    (``s`` a subset of ``m``; both below 2**62).

    Upwards by one addition: adding ``s`` to ``m`` carries from the lowest seed of a run to
    its end, so ``m & ~(m + s)`` holds the bits from the lowest seed to the end of the run
    except the other seeds, which ``| s`` puts back; downwards by a Kogge-Stone occluded
    fill (shifts by 1, 2, 4, ..., 32 through the set bits of ``m``)."""
    g = (~(m + s) & m) | s
    p = m
    g |= p & (g >> 1)
    p &= p >> 1
    g |= p & (g >> 2)
    p &= p >> 2
    g |= p & (g >> 4)
    p &= p >> 4
    g |= p & (g >> 8)
    p &= p >> 8
    g |= p & (g >> 16)
    p &= p >> 16
    g |= p & (g >> 32)
    return g


@njit(cache=True, inline="always", error_model="numpy")
def _lowest_bit_index(low, table):
    """Index of the single set bit of ``low`` (De Bruijn multiplication)."""
    return table[((low * _DEBRUIJN) >> 58) & 63]


@njit(cache=True, error_model="numpy")
def _votes_window(x, y, x0, x1, y0, y1, w, ux, uy, uz, use, score, sdir, px, py, pz, radius_sq,
                  frame, radius_recip, hist, rows_p, rows_v, rows_r, cells, bits):
    """Votes of the points reachable from seed (x, y) whose support window (x0..x1, y0..y1)
    is at most :data:`_WINDOW_BITS` wide, into ``hist``; returns the negative score.

    Each row of the window becomes a bit mask of the passing pixels (a usable point within
    the radius, by the same float32 distance as the reference, computed for the whole row;
    or usable and at most 2 pixels from the seed) and one of the voters (score >= 0.2). The
    8-connected component of the seed is then grown a row at a time: a row's reached bits,
    spread by one pixel, seed the rows above and below, where :func:`_fill_runs` extends
    them to whole runs of passing pixels; down and up sweeps repeat until nothing changes.
    That is the set the breadth-first search of the reference reaches (every pixel it
    reaches passes and is 8-connected to the seed through passing pixels, and the other way
    round); the window holds every passing pixel (:func:`.narf_range.support_window`).
    Reached voters vote (max/min reductions: order does not matter).
    """
    nr = y1 - y0 + 1
    nw = x1 - x0 + 1
    for r in range(nr):
        base = (y0 + r) * w + x0
        m = 0
        v = 0
        # distances of the whole row (unusable points are NaN in ux, uy, uz: never pass)
        rx = ux[base:base + nw]
        ry = uy[base:base + nw]
        rz = uz[base:base + nw]
        rs = score[base:base + nw]
        for t in range(nw):
            m |= np.int64(_sqdist(rx[t] - px, ry[t] - py, rz[t] - pz) <= radius_sq) << t
            v |= np.int64(rs[t] >= MIN_SURFACE_CHANGE_SCORE) << t
        rows_p[r] = m
        rows_v[r] = v
        rows_r[r] = 0
    # usable pixels at most 2 pixels from the seed pass whatever their distance
    for yy in range(max(y0, y - 2), min(y1, y + 2) + 1):
        for xx in range(max(x0, x - 2), min(x1, x + 2) + 1):
            if use[yy * w + xx]:
                rows_p[yy - y0] |= np.int64(1) << (xx - x0)
    sr = y - y0
    rows_r[sr] = _fill_runs(rows_p[sr], np.int64(1) << (x - x0))
    changed = True
    while changed:
        changed = False
        for r in range(1, nr):
            a = rows_r[r - 1]
            if a == 0:
                continue
            s = (a | (a << 1) | (a >> 1)) & rows_p[r] & ~rows_r[r]
            if s != 0:
                rows_r[r] = _fill_runs(rows_p[r], rows_r[r] | s)
                changed = True
        for r in range(nr - 2, -1, -1):
            a = rows_r[r + 1]
            if a == 0:
                continue
            s = (a | (a << 1) | (a >> 1)) & rows_p[r] & ~rows_r[r]
            if s != 0:
                rows_r[r] = _fill_runs(rows_p[r], rows_r[r] | s)
                changed = True
    table = _CELL_TABLE
    db = _DEBRUIJN_TABLE
    negative = _ONE
    for r in range(nr):
        vb = rows_r[r] & rows_v[r]
        yy = y0 + r
        while vb != 0:
            low = vb & -vb
            vb ^= low
            xx = x0 + _lowest_bit_index(low, db)
            k = yy * w + xx
            dsq = _sqdist(ux[k] - px, uy[k] - py, uz[k] - pz)
            pix = max(abs(xx - x), abs(yy - y))
            pos, neg, r0 = _vote(score[k], dsq, pix, sdir[k, 0], sdir[k, 1], sdir[k, 2], frame, radius_recip)
            cell = _direction_cell_fast(r0, table)
            if pos > hist[cell]:
                hist[cell] = pos
            if neg < negative:
                negative = neg
    return negative


@njit(cache=True, error_model="numpy")
def _votes_scanline(x, y, w, h, stamp, mark, use, pts, score, sdir, px, py, pz, radius_sq,
                    frame, radius_recip, hist, run_a, run_b, run_y):
    """Votes of the points reachable from seed (x, y) into ``hist`` by a scan-line flood fill
    (any window size); returns the negative score."""
    table = _CELL_TABLE
    negative = _ONE
    index = y * w + x
    mark[index] = stamp
    a, b = _grow_run(x, y, w, stamp, mark, use, pts, x, y, px, py, pz, radius_sq)
    run_a[0] = a
    run_b[0] = b
    run_y[0] = y
    top = 1
    while top > 0:
        top -= 1
        a = run_a[top]
        b = run_b[top]
        yy = run_y[top]
        # the run's votes
        base = yy * w
        for xx in range(a, b + 1):
            k = base + xx
            s = score[k]
            if s < MIN_SURFACE_CHANGE_SCORE:
                continue
            dsq = _sqdist(pts[k, 0] - px, pts[k, 1] - py, pts[k, 2] - pz)
            pix = max(abs(xx - x), abs(yy - y))
            pos, neg, r0 = _vote(s, dsq, pix, sdir[k, 0], sdir[k, 1], sdir[k, 2], frame, radius_recip)
            cell = _direction_cell_fast(r0, table)
            if pos > hist[cell]:
                hist[cell] = pos
            if neg < negative:
                negative = neg
        # new runs in the rows above and below
        for ny in (yy - 1, yy + 1):
            if ny < 0 or ny >= h:
                continue
            nbase = ny * w
            xx = max(0, a - 1)
            xe = min(w - 1, b + 1)
            while xx <= xe:
                k = nbase + xx
                if mark[k] == stamp:
                    xx += 1
                    continue
                mark[k] = stamp
                if not _passes(k, xx - x, ny - y, use, pts, px, py, pz, radius_sq):
                    xx += 1
                    continue
                na, nb = _grow_run(xx, ny, w, stamp, mark, use, pts, x, y, px, py, pz, radius_sq)
                run_a[top] = na
                run_b[top] = nb
                run_y[top] = ny
                top += 1
                xx = nb + 2
    return negative


@njit(cache=True, error_model="numpy")
def interest_values(ri, be, params, coarse, need):
    """Interest values of one scale (:class:`InterestParams`), for the pixels where ``need``
    is set (the others stay 0); points closer than the start-usage range take their value
    from ``coarse`` = (values, width, height) of the next coarser scale.

    Same values as :func:`.narf_reference.interest_values_simple`, faster:

    * a point whose support window (:func:`.narf_range.support_window`) holds at most one
      voter (score >= 0.2) gets at most one histogram cell, so its interest is 0: skipped
      with a summed-area table of voters;
    * region growing on bit masks (:func:`_votes_window`) where the window is at most
      :data:`_WINDOW_BITS` pixels wide: the distances of whole window rows (a loop the
      compiler vectorises), then the connected component grown a row at a time by bit
      operations; wider windows (coarse scales, points near the sensor) use a scan-line
      flood fill (:func:`_votes_scanline`): runs of passing pixels grown left and right, the
      rows above and below each run scanned for new runs. Both reach the 8-connected set of
      passing pixels that the breadth-first search of the reference reaches, and the votes
      are max/min reductions, so their order does not matter;
    * the histogram cell comes from a table over bins of the first coordinate instead of
      ``acos`` (:func:`_direction_cell_fast`).
    """
    w = ri.width
    h = ri.height
    n = w * h
    rng = ri.ranges
    score = be.surface_change_scores
    sdir = be.surface_change_directions
    start = params.start_usage_range
    bilinear = params.bilinear
    out = np.zeros(n, np.float32)
    use = usable_points(rng, be.traits)
    pts = ri.points
    sat = np.zeros((h + 1, w + 1), np.int64)
    ux = np.empty(n, np.float32)
    uy = np.empty(n, np.float32)
    uz = np.empty(n, np.float32)
    for y in range(h):
        row = 0
        for x in range(w):
            i = y * w + x
            if use[i] and score[i] >= MIN_SURFACE_CHANGE_SCORE:
                row += 1
            sat[y + 1, x + 1] = sat[y, x + 1] + row
            if use[i]:
                ux[i], uy[i], uz[i] = pts[i, 0], pts[i, 1], pts[i, 2]
            else:
                ux[i] = uy[i] = uz[i] = np.float32(np.nan)
    search_radius = _HALF * params.support_size
    radius_sq = search_radius * search_radius
    radius_recip = _ONE / search_radius
    r64 = np.float64(search_radius)
    f64 = np.float64(ri.focal)
    cx64 = np.float64(ri.cx)
    cy64 = np.float64(ri.cy)
    hist = np.zeros(HISTOGRAM_SIZE, np.float32)
    mark = np.zeros(n, np.int64)
    run_a = np.empty(n, np.int64)
    run_b = np.empty(n, np.int64)
    run_y = np.empty(n, np.int64)
    rows_p = np.empty(h, np.int64)
    rows_v = np.empty(h, np.int64)
    rows_r = np.empty(h, np.int64)
    cells = np.empty(_WINDOW_BITS, np.bool_)
    bits = np.empty(_WINDOW_BITS, np.bool_)
    stamp = 0
    for index in range(n):
        if not need[index] or not use[index]:
            continue
        if rng[index] < start:
            out[index] = coarse_value(index, w, coarse, bilinear)
            continue
        y = index // w
        x = index - y * w
        px, py, pz = pts[index, 0], pts[index, 1], pts[index, 2]
        x0, x1, y0, y1 = support_window(x, y, px, py, pz, w, h, r64, f64, cx64, cy64)
        if sat[y1 + 1, x1 + 1] - sat[y0, x1 + 1] - sat[y1 + 1, x0] + sat[y0, x0] <= 1:
            continue
        frame = _viewer_frame(px, py, pz)
        for c in range(HISTOGRAM_SIZE):
            hist[c] = _Z
        if x1 - x0 + 1 <= _WINDOW_BITS:
            negative = _votes_window(x, y, x0, x1, y0, y1, w, ux, uy, uz, use, score, sdir, px, py, pz,
                                     radius_sq, frame, radius_recip, hist, rows_p, rows_v, rows_r,
                                     cells, bits)
        else:
            stamp += 1
            negative = _votes_scanline(x, y, w, h, stamp, mark, use, pts, score, sdir, px, py, pz,
                                       radius_sq, frame, radius_recip, hist, run_a, run_b, run_y)
        out[index] = negative * _histogram_interest(hist)
    return out
