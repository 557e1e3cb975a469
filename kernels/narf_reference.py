"""Slow, simple versions of the NARF interest values that the tests hold the fast kernels
against.

* :func:`interest_values_simple`: the definition as PCL computes it (float32, breadth-first
  region growing from every point with bound checks, the histogram cell by ``acos``), with
  the same arguments as :func:`.narf_interest.interest_values`; its output is the oracle
  for the bits of the fast kernel.
* :func:`interest_values_reference`: plain Python in float64, for one scale without scale
  reduction (an independent check of the definition, equal to about 1e-4).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .narf_borders import BorderExtraction
from .narf_interest import _direction_cell, _histogram_interest, _viewer_frame, _vote, usable_points
from .narf_numerics import _HALF, _ONE, _Z, HISTOGRAM_SIZE, MIN_SURFACE_CHANGE_SCORE, SHADOW_BORDER, VEIL_POINT, _sqdist
from .narf_range import RangeImage
from .narf_scale import coarse_value


@njit(cache=True, error_model="numpy")
def interest_values_simple(ri, be, params, coarse, need):
    """``calculateCompleteInterestImage`` for one scale, plainly (see
    :func:`.narf_interest.interest_values` for the arguments)."""
    w = ri.width
    h = ri.height
    n = w * h
    pts = ri.points
    score = be.surface_change_scores
    sdir = be.surface_change_directions
    use = usable_points(ri.ranges, be.traits)
    search_radius = _HALF * params.support_size
    radius_sq = search_radius * search_radius
    radius_recip = _ONE / search_radius
    out = np.zeros(n, np.float32)
    hist = np.zeros(HISTOGRAM_SIZE, np.float32)
    seen = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    for index in range(n):
        if not need[index] or not use[index]:
            continue
        if ri.ranges[index] < params.start_usage_range:
            out[index] = coarse_value(index, w, coarse, params.bilinear)
            continue
        y = index // w
        x = index - y * w
        px, py, pz = pts[index, 0], pts[index, 1], pts[index, 2]
        frame = _viewer_frame(px, py, pz)
        for c in range(HISTOGRAM_SIZE):
            hist[c] = _Z
        negative = _ONE
        # breadth-first region growing: a pixel is queued when it passes (usable, and within
        # the radius or at most 2 pixels away); every queued pixel with a score votes
        seen[index] = index
        queue[0] = index
        head = 0
        tail = 1
        while head < tail:
            j = queue[head]
            head += 1
            y2 = j // w
            x2 = j - y2 * w
            for y3 in range(max(0, y2 - 1), min(y2 + 1, h - 1) + 1):
                for x3 in range(max(0, x2 - 1), min(x2 + 1, w - 1) + 1):
                    k = y3 * w + x3
                    if seen[k] == index:
                        continue
                    seen[k] = index
                    if not use[k]:
                        continue
                    dk = _sqdist(pts[k, 0] - px, pts[k, 1] - py, pts[k, 2] - pz)
                    if dk > radius_sq and (abs(x3 - x) > 2 or abs(y3 - y) > 2):
                        continue
                    queue[tail] = k
                    tail += 1
            s = score[j]
            if s < MIN_SURFACE_CHANGE_SCORE:
                continue
            dsq = _sqdist(pts[j, 0] - px, pts[j, 1] - py, pts[j, 2] - pz)
            pix = max(abs(x2 - x), abs(y2 - y))
            pos, neg, r0 = _vote(s, dsq, pix, sdir[j, 0], sdir[j, 1], sdir[j, 2], frame, radius_recip)
            cell = _direction_cell(r0)
            if pos > hist[cell]:
                hist[cell] = pos
            if neg < negative:
                negative = neg
        out[index] = negative * _histogram_interest(hist)
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

