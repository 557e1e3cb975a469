"""Refinement of coarse meshes for the curvature fit, and per-pixel interpolation from it.

A face whose longest edge exceeds ``max_edge`` is split into a grid of cells
(:func:`refine_plan`, :func:`refine_surface`): ``rows`` strips parallel to its shortest edge,
``cols`` cells per strip, so a long thin face is split along its length only. The APSS
estimator of :mod:`labelgen.kernels.curvature` then runs on the grid points, and
:func:`interpolate_refined` interpolates each pixel from the grid cell its hit falls in (a
face that is not split: plain barycentric interpolation of its corners). Reference:
:func:`labelgen.kernels.reference.interpolate_refined_reference`.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Support radius of a point made by the refinement, this many times its sampling spacing
#: (cell side): a long thin face is sampled more densely across than along, and the radius
#: from its 16 nearest points would then span a single row of points.
RADIUS_PER_SPACING = 0.75

#: Vertices whose 16 nearest points are looked up at a time by :func:`refined_radii`.
KNN_CHUNK = 65536


# -- refinement of coarse meshes ------------------------------------------------------------

def refine_plan(vertices: np.ndarray, faces: np.ndarray, max_edge: float):
    """How each face is split: ``(apex, rows, cols)`` (int64, one per face).

    ``apex`` (0-2) is the corner opposite the face's shortest edge; the face is cut into
    ``rows = ceil(longest edge / max_edge)`` strips parallel to that edge, and each strip
    into ``cols = ceil(shortest edge / max_edge)`` cells, so a long thin face (a sliver of a
    CAD cylinder) is split along its length only. All ``(0, 1, 1)`` (no split) when
    ``max_edge`` is 0.
    """
    f = np.asarray(faces, dtype=np.int64)
    ones = np.ones(len(f), dtype=np.int64)
    if not max_edge > 0 or len(f) == 0:
        return np.zeros(len(f), dtype=np.int64), ones, ones.copy()
    v = np.asarray(vertices, dtype=np.float64)
    length = np.empty((len(f), 3))
    for s in range(3):  # length[:, s]: the edge opposite corner s
        d = v[f[:, (s + 2) % 3]] - v[f[:, (s + 1) % 3]]
        length[:, s] = np.sqrt(np.einsum("ij,ij->i", d, d))
    apex = np.argmin(length, axis=1).astype(np.int64)
    longest = np.nan_to_num(length.max(axis=1), nan=0.0)
    shortest = np.nan_to_num(length.min(axis=1), nan=0.0)
    rows = np.maximum(np.ceil(longest / float(max_edge) - 1e-9), 1).astype(np.int64)
    cols = np.maximum(np.ceil(shortest / float(max_edge) - 1e-9), 1).astype(np.int64)
    apex[(rows == 1) & (cols == 1)] = 0
    return apex, rows, cols


def grid_size(rows, cols):
    """Grid entries of a face split into ``rows`` x ``cols`` cells: ``(rows + 1) (cols + 1)``."""
    return (np.asarray(rows, dtype=np.int64) + 1) * (np.asarray(cols, dtype=np.int64) + 1)


def refine_surface(vertices: np.ndarray, faces: np.ndarray, apex: np.ndarray, rows: np.ndarray,
                   cols: np.ndarray):
    """Split the faces as :func:`refine_plan` says.

    A face with corners ``A`` (the apex), ``B``, ``C`` (in winding order) has the grid points
    ``(i, j)``, ``0 <= i <= rows``, ``0 <= j <= cols``, at
    ``A + (i / rows) ((1 - j / cols) (B - A) + (j / cols) (C - A))`` (row 0 is ``A`` itself),
    stored at ``grid[grid_offset[f] + i (cols + 1) + j]``. Points on an edge are computed from
    the edge's lower-numbered vertex, so faces that split a shared edge the same number of
    times share its points. A face with ``rows = cols = 1`` keeps its three corners, in the
    face's own order, as grid entries 0, 2 and 3 (corner ``(i, j)`` = (1, 0) is ``v1``,
    (1, 1) is ``v2``).

    Returns ``(points, spacing, grid_offset, grid, sub_faces)``: the points (the input
    vertices first, then new edge points, then face interiors), each point's sampling
    spacing (the largest cell side of the faces that made it; 0 for input vertices), each
    face's first grid entry (int64, one per face plus the total), ``grid`` (int64 point
    indices) and the sub-triangles (int64, same winding as their face).
    """
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    apex = np.ascontiguousarray(apex, dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    corner = np.stack([f[np.arange(len(f)), (apex + s) % 3] for s in range(3)], axis=1)  # A, B, C
    grid_offset = np.zeros(len(f) + 1, dtype=np.int64)
    np.cumsum(grid_size(rows, cols), out=grid_offset[1:])
    # edges split in more than one piece, keyed (lower vertex, upper vertex, pieces):
    # side 0 = A-B and side 1 = A-C in `rows` pieces, side 2 = B-C in `cols` pieces
    side_edge = np.full((len(f), 3), -1, dtype=np.int64)
    keys = []
    owners = []
    for s, (a, b, cnt) in enumerate(((0, 1, rows), (0, 2, rows), (1, 2, cols))):
        sel = np.flatnonzero(cnt > 1)
        k = np.stack([np.minimum(corner[sel, a], corner[sel, b]), np.maximum(corner[sel, a], corner[sel, b]),
                      cnt[sel]], axis=1)
        keys.append(k)
        owners.append((sel, s))
    allkeys = np.concatenate(keys) if keys else np.zeros((0, 3), np.int64)
    if len(allkeys):
        edges, inv = np.unique(allkeys, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        pos = 0
        for sel, s in owners:
            side_edge[sel, s] = inv[pos:pos + len(sel)]
            pos += len(sel)
    else:
        edges = np.zeros((0, 3), dtype=np.int64)
    edge_base = np.zeros(len(edges) + 1, dtype=np.int64)
    np.cumsum(edges[:, 2] - 1, out=edge_base[1:])
    edge_base += len(v)
    inner = (rows - 1) * (cols - 1)
    inner_base = np.zeros(len(f) + 1, dtype=np.int64)
    np.cumsum(inner, out=inner_base[1:])
    inner_base += edge_base[-1]
    total = int(inner_base[-1])
    points = np.empty((total, 3), dtype=np.float64)
    points[:len(v)] = v
    spacing = np.zeros(total, dtype=np.float64)
    grid = np.empty(int(grid_offset[-1]), dtype=np.int64)
    sub_offset = np.zeros(len(f) + 1, dtype=np.int64)
    np.cumsum(cols * (2 * rows - 1), out=sub_offset[1:])
    sub_faces = np.empty((int(sub_offset[-1]), 3), dtype=np.int64)
    _refine(v, f, corner, rows, cols, grid_offset, side_edge, edges, edge_base, inner_base, sub_offset,
            points, spacing, grid, sub_faces)
    return points, spacing, grid_offset, grid, sub_faces


@njit(cache=True)
def _refine(v, f, corner, rows, cols, grid_offset, side_edge, edges, edge_base, inner_base, sub_offset,
            points, spacing, grid, sub_faces):
    for e in range(len(edges)):
        lo = edges[e, 0]
        hi = edges[e, 1]
        m = edges[e, 2]
        for q in range(1, m):
            t = q / m
            for c in range(3):
                points[edge_base[e] + q - 1, c] = v[lo, c] + t * (v[hi, c] - v[lo, c])
    for fi in range(len(f)):
        m = rows[fi]
        k = cols[fi]
        o = grid_offset[fi]
        if m == 1 and k == 1:
            grid[o] = f[fi, 0]
            grid[o + 1] = f[fi, 0]
            grid[o + 2] = f[fi, 1]
            grid[o + 3] = f[fi, 2]
            s = sub_offset[fi]
            sub_faces[s, 0] = f[fi, 0]
            sub_faces[s, 1] = f[fi, 1]
            sub_faces[s, 2] = f[fi, 2]
            continue
        a = corner[fi, 0]
        b = corner[fi, 1]
        cc = corner[fi, 2]
        lab = 0.0
        lac = 0.0
        lbc = 0.0
        for c in range(3):
            lab += (v[b, c] - v[a, c]) ** 2
            lac += (v[cc, c] - v[a, c]) ** 2
            lbc += (v[cc, c] - v[b, c]) ** 2
        cell = max(np.sqrt(max(lab, lac)) / m, np.sqrt(lbc) / k)
        nxt = inner_base[fi]
        for i in range(m + 1):
            for j in range(k + 1):
                if i == 0:
                    p = a
                elif i == m and j == 0:
                    p = b
                elif i == m and j == k:
                    p = cc
                elif j == 0:       # A -> B, i steps from A
                    e = side_edge[fi, 0]
                    p = edge_base[e] + (i if a == edges[e, 0] else m - i) - 1
                elif j == k:       # A -> C
                    e = side_edge[fi, 1]
                    p = edge_base[e] + (i if a == edges[e, 0] else m - i) - 1
                elif i == m:       # B -> C, j steps from B
                    e = side_edge[fi, 2]
                    p = edge_base[e] + (j if b == edges[e, 0] else k - j) - 1
                else:
                    p = nxt
                    nxt += 1
                    si = i / m
                    tj = j / k
                    for c in range(3):
                        points[p, c] = v[a, c] + si * ((1.0 - tj) * (v[b, c] - v[a, c]) + tj * (v[cc, c] - v[a, c]))
                if p >= len(v) and cell > spacing[p]:
                    spacing[p] = cell
                grid[o + i * (k + 1) + j] = p
        s = sub_offset[fi]
        for i in range(m):
            for j in range(k):
                p00 = grid[o + i * (k + 1) + j]
                p10 = grid[o + (i + 1) * (k + 1) + j]
                p11 = grid[o + (i + 1) * (k + 1) + j + 1]
                p01 = grid[o + i * (k + 1) + j + 1]
                sub_faces[s, 0] = p00
                sub_faces[s, 1] = p10
                sub_faces[s, 2] = p11
                s += 1
                if i > 0:
                    sub_faces[s, 0] = p00
                    sub_faces[s, 1] = p11
                    sub_faces[s, 2] = p01
                    s += 1


def sample_points(n_points: int, rows: np.ndarray, cols: np.ndarray, grid_offset: np.ndarray,
                  grid: np.ndarray) -> np.ndarray:
    """(P,) bool: the points of a refined surface that the APSS fit samples.

    A face's grid has ``cols + 1`` points on every row, so its rows near the apex are
    sampled more and more densely across (row ``i`` at ``i / rows`` of the width of row
    ``rows``); on a big face (a 20 m floor split in 500 x 400 cells) the first rows hold
    hundreds of points within a few millimetres. Every ``max(1, rows // i)``-th interior
    point of row ``i`` is kept, so that points are at most about one cell apart across as
    along; the others (and every vertex and edge point is kept) get a fitted value but are
    nobody's neighbour.
    """
    keep = np.ones(int(n_points), dtype=bool)
    _sample(np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(cols, dtype=np.int64),
            np.ascontiguousarray(grid_offset, dtype=np.int64), np.ascontiguousarray(grid), keep)
    return keep


@njit(cache=True)
def _sample(rows, cols, grid_offset, grid, keep):
    for f in range(len(rows)):
        m = rows[f]
        k = cols[f]
        o = grid_offset[f]
        for i in range(1, m):
            stride = max(1, m // i)
            if stride == 1:
                continue
            for j in range(1, k):
                if j % stride != 0:
                    keep[grid[o + i * (k + 1) + j]] = False


def surface_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Angle-weighted, unnormalised vertex normals of ``faces`` over ``points``, as
    :func:`labelgen.kernels.curvature.vertex_normals` computes them (the same formula, equal
    to rounding), in one pass without temporaries per face: for refined surfaces of
    millions of sub-triangles."""
    out = np.zeros((len(points), 3))
    _normals(np.ascontiguousarray(points, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int64), out)
    return out


@njit(cache=True)
def _angle(ax, ay, az, bx, by, bz):
    la = np.sqrt(ax * ax + ay * ay + az * az)
    lb = np.sqrt(bx * bx + by * by + bz * bz)
    c = (ax * bx + ay * by + az * bz) / max(la * lb, 1e-300)
    return np.arccos(min(max(c, -1.0), 1.0))


@njit(cache=True)
def _normals(v, f, out):
    for t in range(len(f)):
        a = f[t, 0]
        b = f[t, 1]
        c = f[t, 2]
        e01x = v[b, 0] - v[a, 0]
        e01y = v[b, 1] - v[a, 1]
        e01z = v[b, 2] - v[a, 2]
        e12x = v[c, 0] - v[b, 0]
        e12y = v[c, 1] - v[b, 1]
        e12z = v[c, 2] - v[b, 2]
        e20x = v[a, 0] - v[c, 0]
        e20y = v[a, 1] - v[c, 1]
        e20z = v[a, 2] - v[c, 2]
        # cross(e01, -e20)
        nx = -(e01y * e20z - e01z * e20y)
        ny = -(e01z * e20x - e01x * e20z)
        nz = -(e01x * e20y - e01y * e20x)
        length = np.sqrt(nx * nx + ny * ny + nz * nz)
        if not length > 0.0:
            continue
        nx /= length
        ny /= length
        nz /= length
        w0 = _angle(e01x, e01y, e01z, -e20x, -e20y, -e20z)
        w1 = _angle(e12x, e12y, e12z, -e01x, -e01y, -e01z)
        w2 = _angle(e20x, e20y, e20z, -e12x, -e12y, -e12z)
        out[a, 0] += w0 * nx
        out[a, 1] += w0 * ny
        out[a, 2] += w0 * nz
        out[b, 0] += w1 * nx
        out[b, 1] += w1 * ny
        out[b, 2] += w1 * nz
        out[c, 0] += w2 * nx
        out[c, 1] += w2 * ny
        out[c, 2] += w2 * nz


def refined_radii(points: np.ndarray, spacing: np.ndarray, n_vertices: int, k: int = 16,
                  samples: np.ndarray | None = None) -> np.ndarray:
    """APSS support radius of every point of a refined surface: for the mesh's own vertices
    (the first ``n_vertices`` points) ``2 sqrt(d_k^2 / k)`` with ``d_k`` the distance to the
    ``k``-th nearest point, itself included, among all points or the ``samples`` (bool mask,
    :func:`sample_points`) (as :func:`labelgen.kernels.curvature.point_radii`); for the
    points the refinement made, :data:`RADIUS_PER_SPACING` times their spacing. The nearest
    points are looked up :data:`KNN_CHUNK` vertices at a time."""
    from scipy.spatial import cKDTree

    points = np.ascontiguousarray(points, dtype=np.float64)
    radii = RADIUS_PER_SPACING * np.asarray(spacing, dtype=np.float64)
    among = points if samples is None else points[np.asarray(samples, dtype=bool)]
    k = int(min(k, len(among)))
    if n_vertices == 0 or k == 0:
        return radii
    tree = cKDTree(among)
    del among
    for lo in range(0, n_vertices, KNN_CHUNK):
        hi = min(lo + KNN_CHUNK, n_vertices)
        d, _ = tree.query(points[lo:hi], k=k, workers=-1)
        d = d.reshape(hi - lo, -1)
        radii[lo:hi] = 2.0 * np.sqrt(d[:, -1] ** 2 / k)
    return radii


# -- per-pixel interpolation ---------------------------------------------------------------

def face_table(apex, rows, cols, grid_offset, grid_values) -> np.ndarray:
    """(F, 5) int64 ``[grid_offset, rows, cols, apex, constant]`` per face: what
    :func:`interpolate_refined` reads per pixel, in one row (computed once per mesh and set
    of values); ``constant`` is 1 where every grid value of the face is the same in every
    channel of ``grid_values`` (a flat wall: its pixels are that value)."""
    f = len(rows)
    table = np.empty((f, 5), dtype=np.int64)
    table[:, 0] = np.asarray(grid_offset[:f], dtype=np.int64)
    table[:, 1] = np.asarray(rows, dtype=np.int64)
    table[:, 2] = np.asarray(cols, dtype=np.int64)
    table[:, 3] = np.asarray(apex, dtype=np.int64)
    gv = np.ascontiguousarray(grid_values, dtype=np.uint8)
    _constant_faces(gv.reshape(len(gv), -1), np.ascontiguousarray(grid_offset, dtype=np.int64), table)
    return table


@njit(cache=True)
def _constant_faces(values, grid_offset, table):
    for f in range(len(table)):
        const = 1
        o = grid_offset[f]
        for q in range(o + 1, grid_offset[f + 1]):
            for c in range(values.shape[1]):
                if values[q, c] != values[o, c]:
                    const = 0
            if const == 0:
                break
        table[f, 4] = const


def interpolate_refined(values, apex, rows, cols, grid_offset, grid, triangle, barycentric, valid, channels=None,
                        grid_values=None, table=None):
    """(H, W, channels) uint8 image: per pixel, its face's grid values interpolated and rounded.

    ``values`` (P, C) uint8 per point; ``apex``, ``rows``, ``cols`` from :func:`refine_plan`,
    ``grid_offset``, ``grid`` from :func:`refine_surface`; ``triangle`` (H, W) face index,
    ``barycentric`` (H, W, 2) float32 ``(u, v)`` of the hit (the point
    ``(1-u-v) v0 + u v1 + v v2``), ``valid`` (H, W) bool.

    A face that is not split gives exactly ``(1-u-v) a + u b + v c``. In a split face, with
    ``wa``, ``wb``, ``wc`` the barycentric weights of its corners ``A`` (apex), ``B``, ``C``:
    ``s = wb + wc``, ``t = wc / s`` (0 at ``s = 0``) are the grid coordinates, and the four
    values around ``(s rows, t cols)`` are interpolated bilinearly. Both in float64, rounded
    half to even, clipped to 0-254. Invalid pixels, and the channels after the first C
    (``channels`` defaults to C), are 0. ``grid_values``, if given, is ``values[grid]``
    (computed once per mesh, it saves one indirection per pixel), ``table`` likewise
    :func:`face_table` (of these grid values). Where the corners of a pixel's cell (or face) hold one value in
    every channel, that value is the result (what the interpolation gives, without it): on
    flat walls, most pixels. Reference:
    :func:`labelgen.kernels.reference.interpolate_refined_reference`.
    """
    if grid_values is None:
        values = np.ascontiguousarray(values, dtype=np.uint8)
        if values.ndim == 1:
            values = values[:, None]
        grid_values = values[grid]
    grid_values = np.ascontiguousarray(grid_values, dtype=np.uint8)
    if table is None:
        table = face_table(apex, rows, cols, grid_offset, grid_values)
    h, w = triangle.shape
    out = np.zeros((h, w, channels or grid_values.shape[1]), dtype=np.uint8)
    _interpolate(grid_values, np.ascontiguousarray(table, dtype=np.int64),
                 np.ascontiguousarray(triangle).reshape(-1), np.ascontiguousarray(barycentric).reshape(-1, 2),
                 np.ascontiguousarray(valid).reshape(-1), out.reshape(h * w, -1))
    return out


@njit(cache=True)
def _same(values, a, b, c, d, nch):
    for ch in range(nch):
        x = values[a, ch]
        if values[b, ch] != x or values[c, ch] != x or values[d, ch] != x:
            return False
    return True


@njit(cache=True)
def _interpolate(values, table, triangle, bary, valid, out):
    nch = min(values.shape[1], out.shape[1])
    for p in range(len(triangle)):
        if not valid[p]:
            continue
        f = triangle[p]
        o = table[f, 0]
        if table[f, 4] == 1:  # every value of the face is one value
            for c in range(nch):
                out[p, c] = min(values[o, c], 254)
            continue
        m = table[f, 1]
        k = table[f, 2]
        if m == 1 and k == 1:
            if _same(values, o, o + 2, o + 3, o + 3, nch):
                for c in range(nch):
                    out[p, c] = min(values[o, c], 254)
                continue
            u = np.float64(bary[p, 0])
            v = np.float64(bary[p, 1])
            w0 = 1.0 - u - v
            for c in range(nch):
                x = np.rint(w0 * np.float64(values[o, c]) + u * np.float64(values[o + 2, c])
                            + v * np.float64(values[o + 3, c]))
                out[p, c] = np.uint8(0.0 if x < 0.0 else (254.0 if x > 254.0 else x))
            continue
        u = np.float64(bary[p, 0])
        v = np.float64(bary[p, 1])
        ap = table[f, 3]
        if ap == 0:
            wb = u
            wc = v
        elif ap == 1:
            wb = v
            wc = 1.0 - u - v
        else:
            wb = 1.0 - u - v
            wc = u
        s = wb + wc
        t = wc / s if s > 0.0 else 0.0
        x = s * m
        y = t * k
        # truncation = floor for x >= 0, and both clamp to 0 below
        i = min(max(np.int64(x), 0), m - 1)
        j = min(max(np.int64(y), 0), k - 1)
        q00 = o + i * (k + 1) + j
        q01 = q00 + 1
        q10 = q00 + k + 1
        q11 = q10 + 1
        if _same(values, q00, q01, q10, q11, nch):
            for c in range(nch):
                out[p, c] = min(values[q00, c], 254)
            continue
        fs = x - i
        ft = y - j
        for c in range(nch):
            lo = np.float64(values[q00, c]) + ft * (np.float64(values[q01, c]) - np.float64(values[q00, c]))
            hi = np.float64(values[q10, c]) + ft * (np.float64(values[q11, c]) - np.float64(values[q10, c]))
            x = np.rint(lo + fs * (hi - lo))
            out[p, c] = np.uint8(0.0 if x < 0.0 else (254.0 if x > 254.0 else x))
