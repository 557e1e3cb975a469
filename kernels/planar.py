"""Points of a refined surface whose APSS neighbourhood is a single plane.

The refinement of coarse faces (:mod:`labelgen.kernels.refinement`) samples big flat
regions (walls, floors, the shell of a CAD room) densely, but only their parts near other
geometry need a fit: a point all of whose neighbours lie on its own plane with its own
normal direction is fitted by that plane, and its curvature is zero. This module finds
such points without building their neighbour lists, so that the fit runs on the others
only.

* :func:`plane_classes`: each face's plane (unit normal and offset, rounded to ``tol``)
  as an integer class, -1 for faces without a normal;
* :func:`point_classes`: a point's class is the class of every sub-triangle that uses it,
  or -1 where they differ (a crease, a curved surface) or it is used by none;
* :func:`flat_points`: a point of class ``c >= 0`` is *flat* when every point ``j`` whose
  ball (radius ``ball_j``, the APSS ``filter_scale * h_j``) reaches it is of class ``c``
  too. Points are binned into cubic cells; each cell's points are tested against the
  bounding box of every cell of another class (or of mixed classes) grown by that cell's
  largest ball, so the test is conservative: a flat point is always flat by the exact
  definition (:func:`flat_points_reference`), a few points near the boundary of a region
  may be reported not flat.

Two points of one class lie on planes at most ``tol`` apart with unit normals at most
``tol`` apart per component; the APSS fit of such a neighbourhood has a curvature of the
order of ``tol / ball^2`` (about 1e-4 per metre for ``tol`` = 1e-6 and 10 cm balls),
far below one level of the encoding (0.13 per metre for ``r_min`` = 3 cm).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .neighbors import _lower

#: Rounding of unit normals and plane offsets (m) that defines a plane class.
PLANE_TOL = 1e-6


def plane_classes(vertices: np.ndarray, faces: np.ndarray, tol: float = PLANE_TOL) -> np.ndarray:
    """(F,) int64 plane class of each face: faces whose unit normal and offset ``n . v0``
    round to the same multiples of ``tol`` share a class; faces without a normal get -1."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    out = np.full(len(f), -1, dtype=np.int64)
    if len(f) == 0:
        return out
    p0 = v[f[:, 0]]
    cross = np.cross(v[f[:, 1]] - p0, v[f[:, 2]] - p0)
    length = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    ok = np.isfinite(length) & (length > 0)
    n = cross[ok] / length[ok, None]
    d = np.einsum("ij,ij->i", n, p0[ok])
    key = np.rint(np.concatenate([n, d[:, None]], axis=1) / tol).astype(np.int64)
    order = np.lexsort(key.T[::-1])
    sk = key[order]
    new = np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)]
    inv = np.empty(len(key), dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    out[ok] = inv
    return out


def point_classes(n_points: int, sub_faces: np.ndarray, sub_face_class: np.ndarray) -> np.ndarray:
    """(P,) int64 class of each point: that of all the sub-triangles using it, else -1."""
    return _point_classes(int(n_points), np.ascontiguousarray(sub_faces, dtype=np.int64),
                          np.ascontiguousarray(sub_face_class, dtype=np.int64))


@njit(cache=True)
def _point_classes(n, sub_faces, cls):
    out = np.full(n, -2, dtype=np.int64)
    for s in range(len(sub_faces)):
        c = cls[s]
        for k in range(3):
            p = sub_faces[s, k]
            if out[p] == -2:
                out[p] = c
            elif out[p] != c:
                out[p] = -1
    for p in range(n):
        if out[p] == -2:
            out[p] = -1
    return out


def flat_points(points: np.ndarray, normals: np.ndarray, ball: np.ndarray, cls: np.ndarray,
                cell: float | None = None) -> np.ndarray:
    """(P,) bool: the points whose neighbourhood is their own plane (see the module).

    Point ``i`` is flat when ``cls[i] >= 0`` and every point ``j`` whose ball reaches it,
    ``|p_i - p_j| < ball_j``, is of its class or faces away from it (``n_j . n_i < 0``: APSS
    leaves such points out). ``normals`` (P, 3) as the fit uses them (any length), ``ball``
    (P,) the radius of each point's ball, ``cls`` from :func:`point_classes`; ``cell`` the
    side of the binning cells (default: the 90th percentile of ``ball``).

    The points of each (cell, class) group are tested at once, by the group's bounding box
    grown by its largest ball and the bounding box of its unit normals: a point counts as
    facing away only when no normal in that box reaches ``n_j . n_i >= -FACING_EPS``. The
    result is conservative: every point reported flat is flat by the definition
    (:func:`flat_points_reference`). Memory: a few arrays of one entry per point.
    """
    p = np.ascontiguousarray(points, dtype=np.float64)
    b = np.ascontiguousarray(ball, dtype=np.float64)
    c = np.ascontiguousarray(cls, dtype=np.int64)
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=bool)
    nrm = np.asarray(normals, dtype=np.float64)
    length = np.sqrt(np.einsum("ij,ij->i", nrm, nrm))
    unit = np.divide(nrm, length[:, None], out=np.zeros_like(nrm), where=length[:, None] > 0)
    c = np.where(length > 0, c, -1)
    if cell is None:
        cell = float(np.percentile(b, 90))
    lo = p.min(axis=0)
    extent = p.max(axis=0) - lo
    if not cell > 0 or not np.all(np.isfinite(extent)):
        return np.zeros(n, dtype=bool)
    cell = max(float(cell), float(extent.max()) / 2.0e5)  # at most 2e5 cells per axis: keys fit in int64
    dims = (np.floor(extent / cell).astype(np.int64) + 1)
    ijk = np.minimum(np.floor((p - lo) / cell).astype(np.int64), dims - 1)
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    del ijk
    order = np.lexsort((c, key))
    skey = key[order]
    scls = c[order]
    new = np.r_[True, (skey[1:] != skey[:-1]) | (scls[1:] != scls[:-1])]
    gstart = np.flatnonzero(new)
    cnew = np.r_[True, skey[1:] != skey[:-1]]
    cstart = np.flatnonzero(cnew)
    # the groups of cell q are cell_group[q] .. cell_group[q + 1] - 1
    cell_group = np.searchsorted(gstart, cstart).astype(np.int64)
    return _flat(p, unit, b, c, order, np.r_[gstart, n].astype(np.int64), skey[cstart],
                 np.r_[cell_group, len(gstart)].astype(np.int64), lo, float(cell), dims, FACING_EPS)


#: Margin of the facing-away test: perpendicular surfaces (a wall over a floor) are neighbours.
FACING_EPS = 1e-6


@njit(cache=True)
def _flat(p, unit, b, cls, order, gstart, keys, cell_group, lo, cell, dims, eps):
    n = len(p)
    m = len(gstart) - 1
    gcls = np.empty(m, dtype=np.int64)
    gball = np.zeros(m)
    box = np.empty((m, 12))  # position box (lo xyz, hi xyz), unit normal box (lo xyz, hi xyz)
    for g in range(m):
        first = order[gstart[g]]
        gcls[g] = cls[first]
        for a in range(3):
            box[g, a] = p[first, a]
            box[g, 3 + a] = p[first, a]
            box[g, 6 + a] = unit[first, a]
            box[g, 9 + a] = unit[first, a]
        for s in range(gstart[g], gstart[g + 1]):
            i = order[s]
            if b[i] > gball[g]:
                gball[g] = b[i]
            for a in range(3):
                box[g, a] = min(box[g, a], p[i, a])
                box[g, 3 + a] = max(box[g, 3 + a], p[i, a])
                box[g, 6 + a] = min(box[g, 6 + a], unit[i, a])
                box[g, 9 + a] = max(box[g, 9 + a], unit[i, a])
    flat = np.empty(n, dtype=np.bool_)
    for i in range(n):
        flat[i] = cls[i] >= 0
    ncell = np.int64(len(keys))
    zero = np.int64(0)
    lo_ijk = np.empty(3, dtype=np.int64)
    hi_ijk = np.empty(3, dtype=np.int64)
    for src in range(m):
        r = gball[src]
        count = 1
        for a in range(3):
            lo_ijk[a] = max(np.int64(np.floor((box[src, a] - r - lo[a]) / cell)), 0)
            hi_ijk[a] = min(np.int64(np.floor((box[src, 3 + a] + r - lo[a]) / cell)), dims[a] - 1)
            count *= max(hi_ijk[a] - lo_ijk[a] + 1, 0)
        if count > ncell:  # a huge ball: look at every cell instead of every voxel in reach
            for q in range(ncell):
                _mark(p, unit, cls, order, gstart, gcls, box, src, cell_group[q], cell_group[q + 1], r, eps, flat)
            continue
        for x in range(lo_ijk[0], hi_ijk[0] + 1):
            for y in range(lo_ijk[1], hi_ijk[1] + 1):
                base = (x * dims[1] + y) * dims[2]
                # np.searchsorted's left and right sides, as one plain binary search (integer
                # keys: the right side of v is the left side of v + 1), which compiles faster
                q0 = _lower(keys, zero, ncell, base + lo_ijk[2])
                q1 = _lower(keys, q0, ncell, base + hi_ijk[2] + 1)
                if q1 > q0:
                    _mark(p, unit, cls, order, gstart, gcls, box, src, cell_group[q0], cell_group[q1], r, eps, flat)
    return flat


@njit(cache=True)
def _mark(p, unit, cls, order, gstart, gcls, box, src, g0, g1, r, eps, flat):
    """Points of groups ``g0 .. g1 - 1`` that group ``src`` reaches (within ``r`` of its
    box, not of their class, some normal of its box facing them) are not flat."""
    c = gcls[src]
    r2 = r * r
    for g in range(g0, g1):
        if c >= 0 and gcls[g] == c:
            continue
        for s in range(gstart[g], gstart[g + 1]):
            i = order[s]
            if not flat[i]:
                continue
            d2 = 0.0
            face = 0.0
            for a in range(3):
                x = p[i, a]
                if x < box[src, a]:
                    d2 += (box[src, a] - x) ** 2
                elif x > box[src, 3 + a]:
                    d2 += (x - box[src, 3 + a]) ** 2
                u = unit[i, a]
                face += max(box[src, 6 + a] * u, box[src, 9 + a] * u)
            if d2 < r2 and face >= -eps:
                flat[i] = False


def flat_points_reference(points: np.ndarray, normals: np.ndarray, ball: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """The definition of :func:`flat_points` by brute force (small inputs): point ``i`` is
    flat when ``cls[i] >= 0`` and every ``j`` with ``|p_i - p_j| < ball_j`` has
    ``cls[j] == cls[i]`` or ``n_j . n_i < 0``."""
    p = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    cls = np.asarray(cls)
    ball = np.asarray(ball, dtype=np.float64)
    out = np.zeros(len(p), dtype=bool)
    for i in range(len(p)):
        if cls[i] < 0 or not np.any(nrm[i] != 0):
            continue
        reach = np.linalg.norm(p - p[i], axis=1) < ball
        ok = (cls == cls[i]) | (nrm @ nrm[i] < 0)
        out[i] = bool(np.all(ok | ~reach))
    return out
