"""Per-vertex principal curvatures by algebraic point set surfaces (APSS).

The estimator follows Guennebaud & Gross, "Algebraic Point Set Surfaces" (SIGGRAPH 2007) and
Guennebaud, Germann & Gross, "Dynamic Sampling and Rendering of Algebraic Point Set
Surfaces" (Eurographics 2008), as MeshLab's "Colorize curvature (APSS)" filter applies it:

* every point ``p_j`` (a mesh vertex with its angle-weighted, unnormalised normal ``n_j``,
  see :func:`vertex_normals`) has a support
  radius ``h_j = 2 * sqrt(d16^2 / 16)``, ``d16`` being the distance to its 16th nearest point
  counting itself;
* at a query position ``x`` the neighbours are the points whose scaled ball reaches ``x``,
  ``|x - p_j| < s * h_j`` (``s`` = filter scale), weighted by ``w_j = (1 - |x-p_j|^2 / (s h_j)^2)^4``,
  and whose normal faces the same side as the queried vertex's, ``n_j . n_i > 0`` (a
  deviation from MeshLab, which also takes the other side of thin objects - a painting on a
  wall, a ball's underside just above the floor - into the fit);
* an algebraic sphere ``u0 + uL . x + u4 |x|^2`` is fitted to positions and normals
  (closed form, spherical parameter ``beta``);
* the vertex is projected onto the surface by iterating fit-and-project (at most
  ``max_iters`` times, until it moves less than ``accuracy`` times the mean point spacing);
* at the projected point, the gradient ``g`` and Hessian ``H`` of the MLS scalar field
  ``f(x) = u0(x) + uL(x) . x + u4(x) |x|^2`` (coefficients depending on ``x`` through the
  weights) give the Weingarten map ``(I - n n^T) H / |g|``; its two tangent eigenvalues are
  the principal curvatures, ``k1`` the one of larger magnitude.

Curvature is positive where the surface bends away from its normal (a sphere with outward
normals has ``k1 = k2 = +1/R``).

The Numba kernel evaluates ``f`` with second-order forward differentiation ("jets": value,
gradient and Hessian carried through every operation), so gradient and Hessian are exact
derivatives of the fitted field. :func:`labelgen.kernels.reference.apss_curvature_reference`
is a slow NumPy version that takes the same derivatives by central finite differences of the
fit; the tests hold the kernel against it, and against pymeshlab's APSS filter on scan-like
surfaces.

Coarse meshes (long triangles: CAD models, decimated scans) are first refined by
:mod:`labelgen.kernels.refinement`, so that the point set samples the surface densely
everywhere; the per-pixel values are then interpolated from the refined grid.

Neighbour search (:mod:`labelgen.kernels.neighbors`) uses :class:`scipy.spatial.cKDTree`,
or on refined surfaces a hash of cubes per ball size. Every neighbourhood is sized by the
points' own support radii (points are binned by radius), never by the mesh-wide maximum, so
memory grows linearly with the point count: see :func:`memory_estimate` and
:data:`BYTES_PER_REFINED_POINT`.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .neighbors import estimate_candidates, far_candidates, neighbor_candidates, radius_bins

#: Status codes per vertex returned by :func:`apss_curvature`.
OK = 0
NO_POINT = 1        # vertex not used by any face, or with no normal (only degenerate faces)
TOO_FEW = 2         # fewer than ``min_neighbors`` neighbours, or a degenerate fit
NO_GRADIENT = 3     # the fitted field has a vanishing gradient at the projected point
DIVERGED = 4        # the projection left the vertex's own ball (``max_move`` support radii)

#: Peak memory of the per-mesh curvature (refinement, normals, radii, neighbour lists, fit)
#: is about ``BYTES_PER_POINT`` per point plus ``BYTES_PER_CANDIDATE`` per entry of the
#: candidate neighbour lists (about 100 entries per point on a surface): about 4 KB per
#: point in all. Measured: 1.5-3.1 KB per point traced by tracemalloc (NumPy) on meshes of
#: 15k-25k points, plus the kd-trees and Numba arrays it does not see; see
#: ``benchmarks/bench_curvature_memory.py`` for the resident peak on large meshes.
BYTES_PER_POINT = 1500
BYTES_PER_CANDIDATE = 24

#: Peak memory per point of a refined surface (labels/curvature.py: refinement, normals,
#: radii, plane classes, flat test, neighbour grid, fits of the points that are not flat with
#: their lists built :data:`FIT_CHUNK` points at a time). Measured with
#: ``benchmarks/bench_curvature_memory.py`` (resident peak minus the process before):
#: about 390 and 470 bytes per point on the 1M- and 5M-triangle mixed rooms; with margin.
BYTES_PER_REFINED_POINT = 600

#: Vertices redone at a time with :func:`far_candidates` (bounds the memory of their lists).
FAR_CHUNK = 4096

#: Points fitted at a time by :func:`apss_curvature_at` (bounds the memory of their lists).
FIT_CHUNK = 8192

def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Angle-weighted vertex normals, *not* normalised (MeshLab's per-vertex normals).

    Each face adds its unit normal times its interior angle at the vertex, so an interior
    vertex of a flat region gets a normal of length 2*pi. APSS uses the normals with this
    length (it weights each point's normal constraint by it), as MeshLab does. Vertices used
    by no face, or only by degenerate faces, get a zero normal.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    p0, p1, p2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e01, e12, e20 = p1 - p0, p2 - p1, p0 - p2
    cross = np.cross(e01, -e20)
    length = np.linalg.norm(cross, axis=1, keepdims=True)
    fn = np.divide(cross, length, out=np.zeros_like(cross), where=length > 0)

    def angle(a, b):
        la = np.linalg.norm(a, axis=1)
        lb = np.linalg.norm(b, axis=1)
        cos = np.einsum("ij,ij->i", a, b) / np.maximum(la * lb, 1e-300)
        return np.arccos(np.clip(cos, -1.0, 1.0))

    ang = np.stack([angle(e01, -e20), angle(e12, -e01), angle(e20, -e12)], axis=1)
    n = np.zeros_like(v)
    for c in range(3):
        n[:, c] = np.bincount(f.ravel(), weights=(ang * fn[:, c:c + 1]).ravel(), minlength=len(v))
    return n


def point_radii(points: np.ndarray, k: int = 16, tree=None) -> np.ndarray:
    """Support radius per point: ``2 * sqrt(d_k^2 / k)`` with ``d_k`` the distance to the
    ``k``-th nearest point, the point itself included (MeshLab's density estimate)."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    k = int(min(k, len(points)))
    if tree is None:
        tree = cKDTree(points)
    d, _ = tree.query(points, k=k, workers=-1)
    d = d.reshape(len(points), -1)
    return 2.0 * np.sqrt(d[:, -1] ** 2 / k)


def memory_estimate(n_points: int, n_candidates: int) -> int:
    """Bytes :func:`apss_curvature` needs at its peak for this many points and candidates
    (see :data:`BYTES_PER_POINT`, :data:`BYTES_PER_CANDIDATE`)."""
    return int(BYTES_PER_POINT * n_points + BYTES_PER_CANDIDATE * n_candidates)


class CurvatureMemoryError(MemoryError):
    """Raised before any large allocation when the estimate exceeds ``max_bytes``."""

    def __init__(self, needed: int, available: int, n_points: int):
        self.needed, self.available, self.n_points = needed, available, n_points
        super().__init__(f"needs about {needed / 2**30:.1f} GiB for {n_points:,} points, "
                         f"{available / 2**30:.1f} GiB available")


def apss_curvature(points, normals, radii=None, filter_scale: float = 4.0, spherical: float = 1.0,
                   accuracy: float = 1e-4, max_iters: int = 15, min_neighbors: int = 6,
                   candidates=None, max_bytes: int | None = None, max_move: float | None = None):
    """Principal curvatures of the APSS surface at each point (projected onto it first).

    Parameters
    ----------
    points : (N, 3) float64 positions.
    normals : (N, 3) float64 normals (:func:`vertex_normals`); points with a zero normal are not
        used (status 1).
    radii : (N,) support radii; default :func:`point_radii`.
    filter_scale : ball radius of each point in units of its support radius (MeshLab:
        "MLS - Filter scale"; Taskonomy used 4).
    spherical : spherical parameter beta (1 = pure sphere fitting, 0 = plane fitting).
    accuracy : projection stops when a step moves less than ``accuracy`` times the mean
        support radius.
    max_iters : at most this many projection steps.
    min_neighbors : fewer neighbours than this gives curvature 0 (status 2).
    candidates : precomputed ``(indptr, indices)`` from :func:`neighbor_candidates`.
    max_bytes : if given, :class:`CurvatureMemoryError` is raised before the neighbour lists
        are built when :func:`memory_estimate` exceeds it.
    max_move : a vertex whose projection moves farther than this many of its support radii
        (default ``filter_scale``: out of its own ball) gets curvature 0 (status 4): the
        surface fitted there is not near it (a sparse vertex whose fit is dominated by far,
        denser geometry). This also bounds every neighbourhood by the vertex's own radius.

    Returns
    -------
    k1, k2 : (N,) float64, ``|k1| >= |k2|``, 0 where not computed.
    status : (N,) int8, :data:`OK` or the reason it was not computed.
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    normals = np.ascontiguousarray(normals, dtype=np.float64)
    usable = np.linalg.norm(normals, axis=1) > 1e-12
    n = len(points)
    k1 = np.zeros(n)
    k2 = np.zeros(n)
    status = np.full(n, NO_POINT, dtype=np.int8)
    idx = np.flatnonzero(usable)
    if len(idx) == 0:
        return k1, k2, status
    P = points[idx]
    N = normals[idx]
    tree = None
    if radii is None:
        from scipy.spatial import cKDTree

        tree = cKDTree(P)
        R = point_radii(P, tree=tree)
    else:
        R = np.ascontiguousarray(np.asarray(radii, dtype=np.float64)[idx])
    margin = 0.5  # room for the projection to move the query, in support radii
    if candidates is None:
        reach = (filter_scale + margin) * R
        if max_bytes is not None:
            need = memory_estimate(n, estimate_candidates(P, reach, tree=tree))
            if need > max_bytes:
                raise CurvatureMemoryError(need, int(max_bytes), n)
        del tree
        candidates = neighbor_candidates(P, reach)
    indptr, indices = candidates
    eps = float(accuracy) * float(R.mean())
    max_move = float(filter_scale if max_move is None else max_move)
    args = (float(filter_scale), float(spherical), eps, int(max_iters), int(min_neighbors), max_move)
    sk1, sk2, sst, moved, first = _apss(P, N, R, np.arange(len(P)), indptr, indices, *args)
    del candidates, indptr, indices
    # a first step out of the vertex's ball is final (that step's fit had every neighbour)
    far = np.flatnonzero((moved > margin * R) & ~(first > max_move * R))
    if len(far):
        # the projection left the candidates' margin: redo these vertices with every point
        # whose ball can reach their path (within twice the distance moved, at most
        # 2 * max_move support radii: farther, the vertex is DIVERGED anyway)
        # (in chunks of FAR_CHUNK vertices, so that the lists never all exist at once)
        slack = 2.0 * np.minimum(moved[far], max_move * R[far])
        bins = radius_bins(P, filter_scale * R)
        for lo in range(0, len(far), FAR_CHUNK):
            part = far[lo:lo + FAR_CHUNK]
            sub_ptr, sub_idx = far_candidates(P, R, part, slack[lo:lo + FAR_CHUNK], filter_scale, bins=bins)
            r1, r2, rst, _, _ = _apss(P, N, R, part, sub_ptr, sub_idx, *args)
            sk1[part], sk2[part], sst[part] = r1, r2, rst
            del sub_ptr, sub_idx
    k1[idx], k2[idx], status[idx] = sk1, sk2, sst
    return k1, k2, status


def apss_curvature_at(points, normals, radii, which, filter_scale: float = 4.0, spherical: float = 1.0,
                      accuracy: float = 1e-4, max_iters: int = 15, min_neighbors: int = 6,
                      max_move: float | None = None, chunk: int = FIT_CHUNK, samples=None):
    """:func:`apss_curvature` at the points ``which`` only, every point a neighbour.

    The same fit, but each point's candidate neighbours are found per point
    (:func:`labelgen.kernels.neighbors.reaching`: every ``j`` whose ball reaches within half
    a support radius of it) and ``chunk`` points at a time, so that memory is a few arrays per point plus one
    chunk's lists, whatever the number of points. The candidate lists are in another order
    than :func:`neighbor_candidates`', so results may differ from :func:`apss_curvature` in
    the last bits. ``radii`` are required. ``samples`` (P,) bool, if given: only these
    points are neighbours (a point is always in its own fit). Returns ``k1, k2, status``
    for ``which``.
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    normals = np.ascontiguousarray(normals, dtype=np.float64)
    which = np.asarray(which, dtype=np.int64)
    usable = np.linalg.norm(normals, axis=1) > 1e-12
    k1 = np.zeros(len(which))
    k2 = np.zeros(len(which))
    status = np.full(len(which), NO_POINT, dtype=np.int8)
    idx = np.flatnonzero(usable)
    if len(idx) == 0 or len(which) == 0:
        return k1, k2, status
    from .neighbors import ball_grid, reaching, spatial_order

    R = np.asarray(radii, dtype=np.float64)[idx]
    # usable points in a spatially coherent order (neighbours close in memory), samples first
    idx = idx[spatial_order(points[idx], float(np.percentile(filter_scale * R, 50)))]
    n_samples = len(idx)
    if samples is not None:
        is_sample = np.asarray(samples, dtype=bool)[idx]
        idx = np.concatenate([idx[is_sample], idx[~is_sample]])
        n_samples = int(is_sample.sum())
    remap = np.full(len(points), -1, dtype=np.int64)
    remap[idx] = np.arange(len(idx))
    sel = np.flatnonzero(remap[which] >= 0)
    sel = sel[np.argsort(remap[which[sel]], kind="stable")]  # queries in that order too
    q = remap[which[sel]]
    P = np.ascontiguousarray(points[idx])
    N = np.ascontiguousarray(normals[idx])
    R = np.ascontiguousarray(np.asarray(radii, dtype=np.float64)[idx])
    margin = 0.5
    eps = float(accuracy) * float(R.mean())
    max_move = float(filter_scale if max_move is None else max_move)
    args = (float(filter_scale), float(spherical), eps, int(max_iters), int(min_neighbors), max_move)
    grid = ball_grid(P[:n_samples], filter_scale * R[:n_samples], normals=N[:n_samples])
    for lo in range(0, len(q), chunk):
        part = q[lo:lo + chunk]
        ptr, nb = reaching(grid, part, margin * R[part], P, N)
        r1, r2, rst, moved, first = _apss(P, N, R, part, ptr, nb, *args)
        del ptr, nb
        far = np.flatnonzero((moved > margin * R[part]) & ~(first > max_move * R[part]))
        if len(far):  # as in apss_curvature: redo with every point whose ball reaches the path
            slack = 2.0 * np.minimum(moved[far], max_move * R[part[far]])
            ptr, nb = reaching(grid, part[far], slack, P, N)
            f1, f2, fst, _, _ = _apss(P, N, R, part[far], ptr, nb, *args)
            r1[far], r2[far], rst[far] = f1, f2, fst
            del ptr, nb
        out = sel[lo:lo + chunk]
        k1[out], k2[out], status[out] = r1, r2, rst
    return k1, k2, status


# -- APSS kernels ----------------------------------------------------------------------------

# jets: [value, d/dx, d/dy, d/dz, xx, xy, xz, yy, yz, zz]
@njit(cache=True)
def _jmul(a, b, out):
    a0 = a[0]
    b0 = b[0]
    out[0] = a0 * b0
    for k in range(3):
        out[1 + k] = a0 * b[1 + k] + b0 * a[1 + k]
    m = 4
    for r in range(3):
        for c in range(r, 3):
            out[m] = a0 * b[m] + b0 * a[m] + a[1 + r] * b[1 + c] + b[1 + r] * a[1 + c]
            m += 1

@njit(cache=True)
def _jinv(b, out):
    b0 = b[0]
    i1 = 1.0 / b0
    i2 = i1 * i1
    i3 = i2 * i1
    out[0] = i1
    for k in range(3):
        out[1 + k] = -b[1 + k] * i2
    m = 4
    for r in range(3):
        for c in range(r, 3):
            out[m] = -b[m] * i2 + 2.0 * b[1 + r] * b[1 + c] * i3
            m += 1

@njit(cache=True)
def _fit_value(x, P, N, R, c, nbrs, lo, hi, self_i, scale, beta, u):
    # returns neighbour count; u = [u0, ux, uy, uz, u4]
    sw = 0.0
    spx = spy = spz = 0.0
    snx = sny = snz = 0.0
    spn = 0.0
    spp = 0.0
    count = 0
    for k in range(lo, hi + 1):
        j = np.int64(self_i) if k == hi else np.int64(nbrs[k])
        px = P[j, 0] - c[0]
        py = P[j, 1] - c[1]
        pz = P[j, 2] - c[2]
        dx = x[0] - px
        dy = x[1] - py
        dz = x[2] - pz
        r = scale * R[j]
        t = 1.0 - (dx * dx + dy * dy + dz * dz) / (r * r)
        if t <= 0.0:
            continue
        if N[j, 0] * N[self_i, 0] + N[j, 1] * N[self_i, 1] + N[j, 2] * N[self_i, 2] <= 0.0:
            continue  # facing away: the other side of a thin object
        count += 1
        t2 = t * t
        w = t2 * t2
        nx = N[j, 0]
        ny = N[j, 1]
        nz = N[j, 2]
        sw += w
        spx += w * px
        spy += w * py
        spz += w * pz
        snx += w * nx
        sny += w * ny
        snz += w * nz
        spn += w * (nx * px + ny * py + nz * pz)
        spp += w * (px * px + py * py + pz * pz)
    if count == 0:
        return 0
    iw = 1.0 / sw
    num = spn - iw * (spx * snx + spy * sny + spz * snz)
    den = spp - iw * (spx * spx + spy * spy + spz * spz)
    if not den > 0.0:
        return -1
    u4 = beta * 0.5 * num / den
    ux = (snx - 2.0 * u4 * spx) * iw
    uy = (sny - 2.0 * u4 * spy) * iw
    uz = (snz - 2.0 * u4 * spz) * iw
    u[0] = -iw * (ux * spx + uy * spy + uz * spz + spp * u4)
    u[1] = ux
    u[2] = uy
    u[3] = uz
    u[4] = u4
    return count

@njit(cache=True)
def _project_origin(u, out):
    u0, ux, uy, uz, u4 = u[0], u[1], u[2], u[3], u[4]
    if abs(u4) > 1e-7:
        cx = -0.5 * ux / u4
        cy = -0.5 * uy / u4
        cz = -0.5 * uz / u4
        rad2 = cx * cx + cy * cy + cz * cz - u0 / u4
        rad = np.sqrt(rad2) if rad2 > 0.0 else 0.0
        # project the original query (the origin in centred coordinates)
        dx = -cx
        dy = -cy
        dz = -cz
        dl = np.sqrt(dx * dx + dy * dy + dz * dz)
        if dl == 0.0:
            return False
        out[0] = cx + dx / dl * rad
        out[1] = cy + dy / dl * rad
        out[2] = cz + dz / dl * rad
    else:
        gl2 = ux * ux + uy * uy + uz * uz
        if not gl2 > 0.0:
            return False
        s = u0 / gl2
        out[0] = -ux * s
        out[1] = -uy * s
        out[2] = -uz * s
    return True

@njit(parallel=True, cache=True)
def _apss(P, N, R, which, indptr, nbrs, scale, beta, eps, max_iters, min_nb, max_move):
    n = len(which)
    k1 = np.zeros(n)
    k2 = np.zeros(n)
    status = np.zeros(n, dtype=np.int8)
    moved = np.zeros(n)
    first = np.zeros(n)
    eps2 = eps * eps
    for qi in prange(n):
        _apss_point(np.int64(qi), P, N, R, which, indptr, nbrs, scale, beta, eps2, max_iters, min_nb, max_move,
                    k1, k2, status, moved, first)
    return k1, k2, status, moved, first


@njit(cache=True)
def _apss_point(qi, P, N, R, which, indptr, nbrs, scale, beta, eps2, max_iters, min_nb, max_move,
                k1, k2, status, moved, first):
    """One query of :func:`_apss` (a plain function, so that the parallel loop stays small:
    Numba's parfor passes then have little to analyse); writes entry ``qi`` of the outputs."""
    i = which[qi]
    c = P[i].copy()
    lo = indptr[qi]
    hi = indptr[qi + 1]  # the point itself is visited as index hi
    u = np.zeros(5)
    x = np.zeros(3)
    newx = np.zeros(3)
    cnt = _fit_value(x, P, N, R, c, nbrs, lo, hi, i, scale, beta, u)
    if cnt < min_nb:
        status[qi] = 2
        return
    ok = True
    code = 2
    for it in range(max_iters):
        if it > 0:
            cnt = _fit_value(x, P, N, R, c, nbrs, lo, hi, i, scale, beta, u)
            if cnt <= 0:
                ok = False
                break
        if not _project_origin(u, newx):
            ok = False
            break
        d2 = (newx[0] - x[0]) ** 2 + (newx[1] - x[1]) ** 2 + (newx[2] - x[2]) ** 2
        x[0] = newx[0]
        x[1] = newx[1]
        x[2] = newx[2]
        dist = np.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2])
        if dist > moved[qi]:
            moved[qi] = dist
        if it == 0:
            first[qi] = dist
        if dist > max_move * R[i]:
            ok = False
            code = 4
            break
        if d2 <= eps2:
            break
    if not ok:
        status[qi] = code
        return
    # jets of the weighted sums at x: SW, SP(3), SN(3), SPN, SPP
    S = np.zeros((9, 10))
    q = np.empty(9)
    count = 0
    for k in range(lo, hi + 1):
        j = np.int64(i) if k == hi else np.int64(nbrs[k])
        px = P[j, 0] - c[0]
        py = P[j, 1] - c[1]
        pz = P[j, 2] - c[2]
        dx = x[0] - px
        dy = x[1] - py
        dz = x[2] - pz
        r = scale * R[j]
        ir2 = 1.0 / (r * r)
        t = 1.0 - (dx * dx + dy * dy + dz * dz) * ir2
        if t <= 0.0:
            continue
        if N[j, 0] * N[i, 0] + N[j, 1] * N[i, 1] + N[j, 2] * N[i, 2] <= 0.0:
            continue
        count += 1
        t2 = t * t
        t3 = t2 * t
        w = t2 * t2
        g = -8.0 * t3 * ir2          # dw/dx = g * d
        a = 48.0 * t2 * ir2 * ir2    # d2w = a d d^T + b I
        b = -8.0 * t3 * ir2
        nx = N[j, 0]
        ny = N[j, 1]
        nz = N[j, 2]
        q[0] = 1.0
        q[1] = px
        q[2] = py
        q[3] = pz
        q[4] = nx
        q[5] = ny
        q[6] = nz
        q[7] = nx * px + ny * py + nz * pz
        q[8] = px * px + py * py + pz * pz
        wx = g * dx
        wy = g * dy
        wz = g * dz
        hxx = a * dx * dx + b
        hxy = a * dx * dy
        hxz = a * dx * dz
        hyy = a * dy * dy + b
        hyz = a * dy * dz
        hzz = a * dz * dz + b
        for m in range(9):
            qm = q[m]
            S[m, 0] += qm * w
            S[m, 1] += qm * wx
            S[m, 2] += qm * wy
            S[m, 3] += qm * wz
            S[m, 4] += qm * hxx
            S[m, 5] += qm * hxy
            S[m, 6] += qm * hxz
            S[m, 7] += qm * hyy
            S[m, 8] += qm * hyz
            S[m, 9] += qm * hzz
    if count < min_nb:
        status[qi] = 2
        return
    iw = np.empty(10)
    tmp = np.empty(10)
    tmp2 = np.empty(10)
    num = S[7].copy()
    den = S[8].copy()
    _jinv(S[0], iw)
    for m in range(3):
        _jmul(S[1 + m], S[4 + m], tmp)   # SP_m * SN_m
        _jmul(iw, tmp, tmp2)
        for k in range(10):
            num[k] -= tmp2[k]
        _jmul(S[1 + m], S[1 + m], tmp)
        _jmul(iw, tmp, tmp2)
        for k in range(10):
            den[k] -= tmp2[k]
    if not den[0] > 0.0:
        status[qi] = 2
        return
    u4 = np.empty(10)
    _jinv(den, tmp)
    _jmul(num, tmp, u4)
    half_beta = 0.5 * beta
    for k in range(10):
        u4[k] *= half_beta
    uL = np.empty((3, 10))
    for m in range(3):
        _jmul(u4, S[1 + m], tmp)
        for k in range(10):
            tmp2[k] = S[4 + m, k] - 2.0 * tmp[k]
        _jmul(tmp2, iw, uL[m])
    # u0 = -iw * (uL . SP + SPP * u4)
    acc = np.zeros(10)
    for m in range(3):
        _jmul(uL[m], S[1 + m], tmp)
        for k in range(10):
            acc[k] += tmp[k]
    _jmul(S[8], u4, tmp)
    for k in range(10):
        acc[k] += tmp[k]
    u0 = np.empty(10)
    _jmul(iw, acc, u0)
    for k in range(10):
        u0[k] *= -1.0
    # f = u0 + uL . X + u4 |X|^2 with X the position jet
    f = u0.copy()
    X = np.zeros(10)
    for m in range(3):
        for k in range(10):
            X[k] = 0.0
        X[0] = x[m]
        X[1 + m] = 1.0
        _jmul(uL[m], X, tmp)
        for k in range(10):
            f[k] += tmp[k]
    XX = np.zeros(10)
    XX[0] = x[0] * x[0] + x[1] * x[1] + x[2] * x[2]
    XX[1] = 2.0 * x[0]
    XX[2] = 2.0 * x[1]
    XX[3] = 2.0 * x[2]
    XX[4] = 2.0
    XX[7] = 2.0
    XX[9] = 2.0
    _jmul(u4, XX, tmp)
    for k in range(10):
        f[k] += tmp[k]
    gx = f[1]
    gy = f[2]
    gz = f[3]
    gl = np.sqrt(gx * gx + gy * gy + gz * gz)
    if not gl > 1e-8:
        status[qi] = 3
        return
    nx = gx / gl
    ny = gy / gl
    nz = gz / gl
    # tangent basis
    if abs(nx) < 0.9:
        ax, ay, az = 1.0, 0.0, 0.0
    else:
        ax, ay, az = 0.0, 1.0, 0.0
    t1x = ny * az - nz * ay
    t1y = nz * ax - nx * az
    t1z = nx * ay - ny * ax
    tl = np.sqrt(t1x * t1x + t1y * t1y + t1z * t1z)
    t1x /= tl
    t1y /= tl
    t1z /= tl
    t2x = ny * t1z - nz * t1y
    t2y = nz * t1x - nx * t1z
    t2z = nx * t1y - ny * t1x
    Hxx, Hxy, Hxz, Hyy, Hyz, Hzz = f[4], f[5], f[6], f[7], f[8], f[9]
    h1x = Hxx * t1x + Hxy * t1y + Hxz * t1z
    h1y = Hxy * t1x + Hyy * t1y + Hyz * t1z
    h1z = Hxz * t1x + Hyz * t1y + Hzz * t1z
    h2x = Hxx * t2x + Hxy * t2y + Hxz * t2z
    h2y = Hxy * t2x + Hyy * t2y + Hyz * t2z
    h2z = Hxz * t2x + Hyz * t2y + Hzz * t2z
    m11 = (t1x * h1x + t1y * h1y + t1z * h1z) / gl
    m12 = (t1x * h2x + t1y * h2y + t1z * h2z) / gl
    m22 = (t2x * h2x + t2y * h2y + t2z * h2z) / gl
    mean = 0.5 * (m11 + m22)
    dif = 0.5 * (m11 - m22)
    delta = np.sqrt(dif * dif + m12 * m12)
    e1 = mean + delta
    e2 = mean - delta
    if abs(e1) >= abs(e2):
        k1[qi] = e1
        k2[qi] = e2
    else:
        k1[qi] = e2
        k2[qi] = e1
