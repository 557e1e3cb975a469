"""Neighbour search for APSS: the points whose ball reaches a query point.

Point ``j`` has a ball of radius ``ball_j`` (the APSS ``filter_scale * h_j``); a query ``i``
with slack ``s_i`` needs every ``j != i`` with ``|p_i - p_j| < ball_j + s_i``
(:func:`labelgen.kernels.curvature.far_candidates` answers the same question with
:class:`scipy.spatial.cKDTree`, and is the reference the tests hold this module to).

Balls of very different sizes (a dense object beside a coarse shell) are binned by size:
level ``l`` holds the balls of radius at most ``cell * 2**l`` (and more than half that,
above level 0) in a grid of cubes of that side, so a query looks at the few cubes of each
level around it. Grids are sorted cube keys, no dense arrays: memory is a few integers per
point, whatever the extent of the mesh.

The plain path of :mod:`labelgen.kernels.curvature` (meshes without refined faces) builds its
candidate lists with :class:`scipy.spatial.cKDTree` instead: :func:`neighbor_candidates`
(symmetric pairs, binned by radius) and :func:`far_candidates` (per point), at the end of
this module.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Radius ratio between the bins of points that neighbour searches group together.
BIN_RATIO = 1.25


def ball_grid(points: np.ndarray, ball: np.ndarray, cell: float | None = None, normals: np.ndarray | None = None):
    """The grids of :func:`reaching` for ``points`` with balls ``ball``; ``cell``: the cube
    side of level 0 (default: the 5th percentile of the positive balls); ``normals``, if
    given, let :func:`reaching` leave out the points facing away from the query."""
    p = np.ascontiguousarray(points, dtype=np.float64)
    nrm = np.zeros((len(p), 3)) if normals is None else np.ascontiguousarray(normals, dtype=np.float64)
    b = np.ascontiguousarray(ball, dtype=np.float64)
    n = len(p)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return (p, p, b, nrm, z, z, np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(0), np.zeros(3), 1.0,
                np.ones((1, 3), np.int64))
    positive = b[b > 0]
    if cell is None:
        cell = float(np.percentile(positive, 5)) if len(positive) else 1.0
    lo = p.min(axis=0)
    extent = float((p.max(axis=0) - lo).max())
    cell = max(float(cell), extent / 2.0e5, 1e-12)  # at most 2e5 cubes per axis at level 0
    level = np.maximum(np.ceil(np.log2(np.maximum(b, 1e-300) / cell) - 1e-12), 0).astype(np.int64)
    nlev = int(level.max()) + 1
    dims = np.empty((nlev, 3), dtype=np.int64)
    key = np.empty(n, dtype=np.int64)
    span = p.max(axis=0) - lo
    for lev in range(nlev):
        side = cell * 2.0 ** lev
        dims[lev] = np.floor(span / side).astype(np.int64) + 1
        sel = np.flatnonzero(level == lev)
        ijk = np.minimum(np.floor((p[sel] - lo) / side).astype(np.int64), dims[lev] - 1)
        key[sel] = (ijk[:, 0] * dims[lev, 1] + ijk[:, 1]) * dims[lev, 2] + ijk[:, 2]
    order = np.lexsort((key, level))
    skey = key[order]
    slev = level[order]
    new = np.r_[True, (skey[1:] != skey[:-1]) | (slev[1:] != slev[:-1])]
    start = np.flatnonzero(new)
    cube_key = skey[start]
    cube_start = np.r_[start, n].astype(np.int64)
    level_cube = np.searchsorted(slev[start], np.arange(nlev + 1)).astype(np.int64)  # cubes of each level
    level_ball = np.zeros(nlev)
    np.maximum.at(level_ball, level, b)
    # positions and balls in cube order: a query reads a few contiguous runs
    return (p, np.ascontiguousarray(p[order]), np.ascontiguousarray(b[order]), np.ascontiguousarray(nrm[order]),
            order.astype(np.int64), cube_key, cube_start, level_cube, level_ball, lo, cell, dims)


def reaching(grid, which: np.ndarray, slack: np.ndarray, points: np.ndarray | None = None,
             normals: np.ndarray | None = None):
    """CSR ``(indptr, indices)``: for each point ``which[q]``, every ``j != which[q]`` with
    ``|p_i - p_j| < ball_j + slack[q]``, in a fixed order (by level, cube, then the points'
    order). ``grid`` from :func:`ball_grid`; the query positions are ``points[which]``
    (default: the grid's own points; ``points`` may extend them with more points after).
    With ``normals`` (of the queries, indexed like ``points``) and a grid made with normals,
    the points ``j`` with ``n_j . n_i <= 0`` are left out (APSS does not use them)."""
    p, ps, bs, ns, order, cube_key, cube_start, level_cube, level_ball, lo, cell, dims = grid
    which = np.ascontiguousarray(which, dtype=np.int64)
    slack = np.ascontiguousarray(slack, dtype=np.float64)
    if points is not None:
        p = np.ascontiguousarray(points, dtype=np.float64)
    facing = normals is not None
    qn = np.ascontiguousarray(normals, dtype=np.float64) if facing else np.zeros((1, 3))
    indptr = np.zeros(len(which) + 1, dtype=np.int64)
    out = np.empty(64 * len(which) + 1024, np.int32)
    done = 0
    while True:  # a full buffer stops the kernel at a query; it goes on from there in a bigger one
        done = _reach(p, ps, bs, ns, qn, facing, order, cube_key, cube_start, level_cube, level_ball, lo, cell, dims,
                      which, slack, indptr, out, done)
        if done == len(which):
            return indptr, out[:indptr[-1]].copy()
        bigger = np.empty(2 * len(out), np.int32)
        bigger[:indptr[done]] = out[:indptr[done]]
        out = bigger


@njit(cache=True)
def _lower(keys, lo, hi, v):
    """First index in ``keys[lo:hi]`` (sorted) whose key is >= ``v``."""
    while lo < hi:
        m = (lo + hi) >> 1
        if keys[m] < v:
            lo = m + 1
        else:
            hi = m
    return lo


@njit(cache=True)
def _reach(p, ps, bs, ns, qn, facing, order, cube_key, cube_start, level_cube, level_ball, lo, cell, dims, which, slack,
           indptr, out, first):
    """Fills ``indptr[q + 1]`` and the lists from query ``first`` on; returns the query it
    stopped at (all of them, or the one that did not fit in ``out``)."""
    nq = len(which)
    nlev = len(level_cube) - 1
    pos = indptr[first]
    size = len(out)
    box = np.full((nlev, 6), -1, dtype=np.int64)  # cube range of the runs below, per level
    runs = np.zeros((nlev, 256, 2), dtype=np.int64)  # runs of points (in cube order) in reach
    nrun = np.zeros(nlev, dtype=np.int64)
    for q in range(first, nq):
        i = which[q]
        s = slack[q]
        px = p[i, 0]
        py = p[i, 1]
        pz = p[i, 2]
        nx = qn[i, 0] if facing else 0.0
        ny = qn[i, 1] if facing else 0.0
        nz = qn[i, 2] if facing else 0.0
        for lev in range(nlev):
            k0 = level_cube[lev]
            k1 = level_cube[lev + 1]
            if k1 == k0:
                continue
            side = cell * 2.0 ** lev
            r = level_ball[lev] + s
            x0 = max(np.int64(np.floor((px - r - lo[0]) / side)), 0)
            x1 = min(np.int64(np.floor((px + r - lo[0]) / side)), dims[lev, 0] - 1)
            y0 = max(np.int64(np.floor((py - r - lo[1]) / side)), 0)
            y1 = min(np.int64(np.floor((py + r - lo[1]) / side)), dims[lev, 1] - 1)
            z0 = max(np.int64(np.floor((pz - r - lo[2]) / side)), 0)
            z1 = min(np.int64(np.floor((pz + r - lo[2]) / side)), dims[lev, 2] - 1)
            if not (box[lev, 0] == x0 and box[lev, 1] == x1 and box[lev, 2] == y0 and box[lev, 3] == y1
                    and box[lev, 4] == z0 and box[lev, 5] == z1):
                box[lev, 0] = x0
                box[lev, 1] = x1
                box[lev, 2] = y0
                box[lev, 3] = y1
                box[lev, 4] = z0
                box[lev, 5] = z1
                m = 0
                for x in range(x0, x1 + 1):
                    for y in range(y0, y1 + 1):
                        base = (x * dims[lev, 1] + y) * dims[lev, 2]
                        c0 = _lower(cube_key, k0, k1, base + z0)
                        if c0 == k1 or cube_key[c0] > base + z1:
                            continue
                        c1 = _lower(cube_key, c0, k1, base + z1 + 1)
                        if m == runs.shape[1]:
                            grown = np.zeros((nlev, 2 * m, 2), dtype=np.int64)
                            for a in range(nlev):  # element by element: a slice copy compiles
                                for b in range(m):  # Numba's shape-error formatting (~4 CPU s)
                                    grown[a, b, 0] = runs[a, b, 0]
                                    grown[a, b, 1] = runs[a, b, 1]
                            runs = grown
                        runs[lev, m, 0] = cube_start[c0]
                        runs[lev, m, 1] = cube_start[c1]
                        m += 1
                nrun[lev] = m
            for u in range(nrun[lev]):
                for t in range(runs[lev, u, 0], runs[lev, u, 1]):
                    rr = bs[t] + s
                    dx = px - ps[t, 0]
                    dy = py - ps[t, 1]
                    dz = pz - ps[t, 2]
                    if dx * dx + dy * dy + dz * dz < rr * rr:
                        if facing and ns[t, 0] * nx + ns[t, 1] * ny + ns[t, 2] * nz <= 0.0:
                            continue  # the exact test of the fit (N_j . N_i <= 0), in its order
                        j = order[t]
                        if j != i:
                            if pos == size:
                                return q
                            out[pos] = j
                            pos += 1
        indptr[q + 1] = pos
    return nq


def spatial_order(points: np.ndarray, cell: float) -> np.ndarray:
    """A permutation that puts points of one cube of side ``cell`` together (cubes in
    x-major order): neighbours then lie close in memory."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) == 0:
        return np.zeros(0, dtype=np.int64)
    lo = p.min(axis=0)
    span = p.max(axis=0) - lo
    cell = max(float(cell), float(span.max()) / 2.0e5, 1e-12)
    dims = np.floor(span / cell).astype(np.int64) + 1
    ijk = np.minimum(np.floor((p - lo) / cell).astype(np.int64), dims - 1)
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    return np.argsort(key, kind="stable").astype(np.int64)


# -- candidate lists by cKDTree (the plain path of labelgen.kernels.curvature) ---------------

def _levels(reach: np.ndarray, ratio: float = BIN_RATIO) -> np.ndarray:
    """Bin of each radius: ``floor(log(reach / min) / log(ratio))``."""
    lo = reach.min()
    if not lo > 0:
        return np.zeros(len(reach), np.int64)
    return np.floor(np.log(reach / lo) / np.log(ratio) + 1e-9).astype(np.int64)


def neighbor_candidates(points: np.ndarray, reach: np.ndarray, ratio: float = BIN_RATIO):
    """Symmetric candidate neighbour lists: pairs ``(i, j)`` with ``|p_i - p_j| < max(reach_i, reach_j)``.

    ``reach`` is each point's ball radius (plus any margin). Points are grouped into bins of
    ``reach`` (geometric, factor ``ratio``); within a bin :meth:`cKDTree.query_pairs` finds
    the pairs, across bins a cross query of each bin against the bins of smaller reach. Pairs
    may be over-reported (within the bin's largest reach); callers filter exactly.

    Returns ``(indptr, indices)``: CSR lists (int64 offsets, int32 indices), each point's list
    excluding itself, in the (deterministic) order the tree queries report the pairs.
    """
    from scipy.spatial import cKDTree

    n = len(points)
    reach = np.asarray(reach, dtype=np.float64)
    level = _levels(reach, ratio)
    pair_blocks = []
    below = np.zeros(0, dtype=np.int64)
    for b in np.unique(level):
        members = np.flatnonzero(level == b)
        r = float(reach[members].max())
        tree_b = cKDTree(points[members])
        pairs = tree_b.query_pairs(r, output_type="ndarray")
        if len(pairs):
            pair_blocks.append(members[pairs].astype(np.int32))
        del pairs
        if len(below):
            tree_lo = cKDTree(points[below])
            m = tree_b.sparse_distance_matrix(tree_lo, r, output_type="ndarray")
            if len(m):
                pair_blocks.append(np.stack([members[m["i"]], below[m["j"]]], axis=1).astype(np.int32))
            del m
        below = np.concatenate([below, members])
    pairs = np.concatenate(pair_blocks) if pair_blocks else np.zeros((0, 2), dtype=np.int32)
    del pair_blocks
    return _csr(n, pairs[:, 0], pairs[:, 1])


def radius_bins(points: np.ndarray, ball: np.ndarray, ratio: float = BIN_RATIO):
    """The points grouped by ball radius (geometric bins, factor ``ratio``): a list of
    ``(members, tree, largest ball)``, one per bin, for :func:`far_candidates`."""
    from scipy.spatial import cKDTree

    level = _levels(ball, ratio)
    bins = []
    for b in np.unique(level):
        members = np.flatnonzero(level == b)
        bins.append((members, cKDTree(points[members]), float(ball[members].max())))
    return bins


def far_candidates(points: np.ndarray, radii: np.ndarray, which: np.ndarray, slack: np.ndarray,
                   filter_scale: float, ratio: float = BIN_RATIO, bins=None):
    """Candidate lists for the points ``which``: every ``j != i`` whose ball can reach within
    ``slack_i`` of ``p_i``, ``|p_i - p_j| < filter_scale * h_j + slack_i``.

    Sized per point: points are binned by radius (factor ``ratio``, or the precomputed
    :func:`radius_bins` ``bins``) and each bin is searched with its own largest ball, the
    queries binned by ``slack`` the same way, then the pairs are filtered exactly. Each list is
    sorted by index. Returns CSR ``(indptr, indices)`` with one row per entry of ``which``.
    """
    from scipy.spatial import cKDTree

    which = np.asarray(which, dtype=np.int64)
    slack = np.asarray(slack, dtype=np.float64)
    ball = filter_scale * np.asarray(radii, dtype=np.float64)
    if bins is None:
        bins = radius_bins(points, ball, ratio)
    qlevel = _levels(np.maximum(slack, 1e-300), ratio)
    qa, qb = [], []
    for qlev in np.unique(qlevel):
        qs = np.flatnonzero(qlevel == qlev)
        tree_q = cKDTree(points[which[qs]])
        smax = float(slack[qs].max())
        for members, tree_b, bmax in bins:
            m = tree_q.sparse_distance_matrix(tree_b, bmax + smax, output_type="ndarray")
            qi = qs[m["i"]]
            j = members[m["j"]]
            keep = (m["v"] < ball[j] + slack[qi]) & (j != which[qi])
            qa.append(qi[keep])
            qb.append(j[keep])
    qa = np.concatenate(qa) if qa else np.zeros(0, np.int64)
    qb = np.concatenate(qb) if qb else np.zeros(0, np.int64)
    order = np.lexsort((qb, qa))
    indptr = np.zeros(len(which) + 1, dtype=np.int64)
    np.cumsum(np.bincount(qa, minlength=len(which)), out=indptr[1:])
    return indptr, qb[order].astype(np.int32)


def estimate_candidates(points: np.ndarray, reach: np.ndarray, sample: int = 4096, tree=None) -> int:
    """Estimated number of entries of :func:`neighbor_candidates` ``(points, reach)``.

    Counts the points within ``reach_i`` of a fixed, evenly spaced sample of points (the
    lists are symmetric, so each pair is counted from both ends) and scales to all points.
    """
    from scipy.spatial import cKDTree

    n = len(points)
    if n == 0:
        return 0
    if tree is None:
        tree = cKDTree(points)
    pick = np.unique(np.linspace(0, n - 1, min(sample, n)).astype(np.int64))
    counts = tree.query_ball_point(points[pick], reach[pick], return_length=True)
    return int(np.ceil((np.asarray(counts, dtype=np.float64) - 1).mean() * n))


@njit(cache=True)
def _csr(n, a, b):
    counts = np.zeros(n + 1, dtype=np.int64)
    for k in range(len(a)):
        counts[a[k] + 1] += 1
        counts[b[k] + 1] += 1
    for i in range(n):
        counts[i + 1] += counts[i]
    fill = counts[:-1].copy()
    out = np.empty(counts[n], dtype=np.int32)
    for k in range(len(a)):
        out[fill[a[k]]] = b[k]
        fill[a[k]] += 1
        out[fill[b[k]]] = a[k]
        fill[b[k]] += 1
    return counts, out
