"""NARF stage 2, last steps: 3D border directions (:func:`_border_directions`) and PCL's
surface change scores and directions (the main principal curvature of the local normals, or
the border direction on borders), per pixel (:func:`_surface_changes`, the plain loop) and a
row at a time (:func:`_surface_changes_rows`, same bits). Called by
:func:`labelgen.kernels.narf_borders.surface_change`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .narf_numerics import (
    OBSTACLE_BORDER, OBSTACLE_BORDER_BOTTOM, OBSTACLE_BORDER_LEFT, OBSTACLE_BORDER_RIGHT,
    OBSTACLE_BORDER_TOP, _DEG2RAD, _ONE, _ONE_MINUS_RECIP, _RECIP, _SHADOW_OR_VEIL, _Z,
    _distance_change_score, _dot, _eigen33_of, _normalized, f32)


@njit(cache=True, error_model="numpy")
def _border_directions(ri, b, normal, mean, radius, min_prob):
    """3D border directions of obstacle borders (:class:`BorderClasses` ``b``), then their
    average over a window."""
    pts, rng, w, h = ri.points, ri.ranges, ri.width, ri.height
    focal, cx, cy = ri.focal, ri.cx, ri.cy
    traits, ok, maxd2 = b.traits, b.ok, b.maxd2
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
def _surface_changes(ri, b, normal, bdir, bhas, radius, variant, need, min_score, edges_only=False):
    """Surface change score and direction: borders, else the main principal curvature
    (only where ``need`` is set; ``edges_only``: only pixels less than ``radius`` from the
    image edge).

    ``min_score`` > 0: scores below it may be left at 0 (for the interest values, which only
    use scores >= 0.2). The largest eigenvalue that PCL's solver returns for the normals'
    covariance is at most its trace (up to rounding: the roots are ``c2 / 3 + 2 rho cos``
    with ``rho <= c2 / 3`` for a positive semi-definite matrix), so the solver is skipped
    where the trace is below 0.9 ``min_score ** 2``.
    """
    cutoff = 0.9 * np.float64(min_score) * np.float64(min_score)
    rng, w, h = ri.ranges, ri.width, ri.height
    traits, ok = b.traits, b.ok
    n = w * h
    score = np.zeros(n, np.float32)
    direc = np.zeros((n, 3), np.float32)
    beams = np.zeros(9, np.bool_)
    work = np.empty((5, 3, 3), np.float32)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not need[i] or traits[i] & _SHADOW_OR_VEIL:
                continue
            if edges_only and radius <= x < w - radius and radius <= y < h - radius:
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
            if np.float64(c00) + np.float64(c11) + np.float64(c22) < cutoff:
                continue
            lam, e0, e1, e2, _, _, _ = _eigen33_of(c00, c01, c02, c11, c12, c22, variant, work)
            mag = math.sqrt(lam)
            if not np.isfinite(mag):
                continue
            score[i] = mag
            direc[i, 0], direc[i, 1], direc[i, 2] = e0, e1, e2
    return score, direc


@njit(cache=True, error_model="numpy")
def _surface_changes_rows(ri, b, normal, bdir, bhas, radius, variant, need, min_score):
    """:func:`_surface_changes` (same bits), pixels at least ``radius`` from the image edge a
    row at a time: the streaming covariance of the normals is accumulated for the whole row,
    one beam position after the other in the same order (step 1 then step 2, each in raster
    order; the point itself is the centre of step 1), a position that does not contribute
    keeping the sums by a select, and
    ``1 / n`` and ``1 - 1 / n`` computed in float32 as the tables hold them; then the eigen
    solver per pixel where it is needed. The edge pixels use :func:`_surface_changes`."""
    score, direc = _surface_changes(ri, b, normal, bdir, bhas, radius, variant, need, min_score, True)
    rng, w, h = ri.ranges, ri.width, ri.height
    if w < 2 * radius + 1 or h < 2 * radius + 1:
        return score, direc
    cutoff = 0.9 * np.float64(min_score) * np.float64(min_score)
    traits, ok = b.traits, b.ok
    n = w * h
    nxa = np.ascontiguousarray(normal[:, 0])
    nya = np.ascontiguousarray(normal[:, 1])
    nza = np.ascontiguousarray(normal[:, 2])
    adds = np.empty(n, np.bool_)   # an observed, usable point with a plane: contributes
    stops = np.empty(n, np.bool_)  # an observed shadow border or veil point: ends its beam
    for i in range(n):
        fin = np.isfinite(rng[i])
        sv = (traits[i] & _SHADOW_OR_VEIL) != 0
        adds[i] = fin and not sv and ok[i]
        stops[i] = fin and sv
    nx = w - 2 * radius
    cnt = np.empty(nx, np.int32)
    m0 = np.empty(nx, np.float32)
    m1 = np.empty(nx, np.float32)
    m2 = np.empty(nx, np.float32)
    c00 = np.empty(nx, np.float32)
    c01 = np.empty(nx, np.float32)
    c02 = np.empty(nx, np.float32)
    c11 = np.empty(nx, np.float32)
    c12 = np.empty(nx, np.float32)
    c22 = np.empty(nx, np.float32)
    open_ = np.empty((9, nx), np.bool_)
    work = np.empty((5, 3, 3), np.float32)
    for y in range(radius, h - radius):
        base = y * w + radius
        todo = False
        for t in range(nx):
            i = base + t
            if need[i] and not (traits[i] & _SHADOW_OR_VEIL):
                todo = True
                break
        if not todo:
            continue
        for t in range(nx):
            cnt[t] = 0
            m0[t] = m1[t] = m2[t] = _Z
            c00[t] = c01[t] = c02[t] = c11[t] = c12[t] = c22[t] = _Z
        for step in range(1, radius + 1):
            for bi in range(9):
                if bi == 4 and step > 1:
                    continue  # the point itself counts once, at step 1 (as in PCL's loop)
                off = ((bi // 3) - 1) * step * w + ((bi % 3) - 1) * step
                j0 = base + off
                qa = adds[j0:j0 + nx]
                qs = stops[j0:j0 + nx]
                qx = nxa[j0:j0 + nx]
                qy = nya[j0:j0 + nx]
                qz = nza[j0:j0 + nx]
                op = open_[bi]
                for t in range(nx):
                    if step == 1:
                        go = qa[t]
                        op[t] = not qs[t]
                    else:
                        go = qa[t] and op[t]
                    c = cnt[t] + np.int32(go)
                    cnt[t] = c
                    alpha = _ONE / f32(c)
                    oma = _ONE - alpha
                    d0 = qx[t] - m0[t]
                    d1 = qy[t] - m1[t]
                    d2 = qz[t] - m2[t]
                    u00 = (c00[t] + (d0 * d0) * alpha) * oma
                    u01 = (c01[t] + (d0 * d1) * alpha) * oma
                    u02 = (c02[t] + (d0 * d2) * alpha) * oma
                    u11 = (c11[t] + (d1 * d1) * alpha) * oma
                    u12 = (c12[t] + (d1 * d2) * alpha) * oma
                    u22 = (c22[t] + (d2 * d2) * alpha) * oma
                    v0 = m0[t] + d0 * alpha
                    v1 = m1[t] + d1 * alpha
                    v2 = m2[t] + d2 * alpha
                    c00[t] = u00 if go else c00[t]
                    c01[t] = u01 if go else c01[t]
                    c02[t] = u02 if go else c02[t]
                    c11[t] = u11 if go else c11[t]
                    c12[t] = u12 if go else c12[t]
                    c22[t] = u22 if go else c22[t]
                    m0[t] = v0 if go else m0[t]
                    m1[t] = v1 if go else m1[t]
                    m2[t] = v2 if go else m2[t]
        for t in range(nx):
            i = base + t
            if not need[i] or traits[i] & _SHADOW_OR_VEIL:
                continue
            if bhas[i]:
                score[i] = _ONE
                direc[i, 0], direc[i, 1], direc[i, 2] = bdir[i, 0], bdir[i, 1], bdir[i, 2]
                continue
            if not ok[i] or cnt[t] < 3:
                continue
            if np.float64(c00[t]) + np.float64(c11[t]) + np.float64(c22[t]) < cutoff:
                continue
            lam, e0, e1, e2, _, _, _ = _eigen33_of(c00[t], c01[t], c02[t], c11[t], c12[t], c22[t], variant, work)
            mag = math.sqrt(lam)
            if not np.isfinite(mag):
                continue
            score[i] = mag
            direc[i, 0], direc[i, 1], direc[i, 2] = e0, e1, e2
    return score, direc
