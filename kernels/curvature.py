"""Per-vertex principal curvatures by algebraic point set surfaces (APSS).

The estimator follows Guennebaud & Gross, "Algebraic Point Set Surfaces" (SIGGRAPH 2007) and
Guennebaud, Germann & Gross, "Dynamic Sampling and Rendering of Algebraic Point Set
Surfaces" (Eurographics 2008), as MeshLab's "Colorize curvature (APSS)" filter applies it:

* every point ``p_j`` (a mesh vertex with its angle-weighted, unnormalised normal ``n_j``,
  see :func:`vertex_normals`) has a support
  radius ``h_j = 2 * sqrt(d16^2 / 16)``, ``d16`` being the distance to its 16th nearest point
  counting itself;
* at a query position ``x`` the neighbours are the points whose scaled ball reaches ``x``,
  ``|x - p_j| < s * h_j`` (``s`` = filter scale), weighted by ``w_j = (1 - |x-p_j|^2 / (s h_j)^2)^4``;
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
derivatives of the fitted field. :func:`apss_curvature_reference` is a slow NumPy version that
takes the same derivatives by central finite differences of the fit; the tests hold the kernel
against it, and against pymeshlab's APSS filter on scan-like surfaces.

Neighbour search uses :class:`scipy.spatial.cKDTree`.
"""
from __future__ import annotations

import numpy as np

#: Status codes per vertex returned by :func:`apss_curvature`.
OK = 0
NO_POINT = 1        # vertex not used by any face, or with no normal (only degenerate faces)
TOO_FEW = 2         # fewer than ``min_neighbors`` neighbours, or a degenerate fit
NO_GRADIENT = 3     # the fitted field has a vanishing gradient at the projected point

_KERNELS = {}


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


def neighbor_candidates(points: np.ndarray, reach: np.ndarray, ratio: float = 1.25):
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
    lo = reach.min()
    level = np.floor(np.log(reach / lo) / np.log(ratio) + 1e-9).astype(np.int64) if lo > 0 else np.zeros(n, np.int64)
    pair_blocks = []
    order = np.unique(level)
    below = np.zeros(0, dtype=np.int64)
    for b in order:
        members = np.flatnonzero(level == b)
        r = float(reach[members].max())
        tree_b = cKDTree(points[members])
        pairs = tree_b.query_pairs(r, output_type="ndarray")
        if len(pairs):
            pair_blocks.append(members[pairs])
        if len(below):
            tree_lo = cKDTree(points[below])
            m = tree_b.sparse_distance_matrix(tree_lo, r, output_type="ndarray")
            if len(m):
                pair_blocks.append(np.stack([members[m["i"]], below[m["j"]]], axis=1))
        below = np.concatenate([below, members])
    pairs = np.concatenate(pair_blocks) if pair_blocks else np.zeros((0, 2), dtype=np.int64)
    return _kernel("csr")(n, pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64))


def apss_curvature(points, normals, radii=None, filter_scale: float = 4.0, spherical: float = 1.0,
                   accuracy: float = 1e-4, max_iters: int = 15, min_neighbors: int = 6,
                   candidates=None):
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
    if radii is None:
        R = point_radii(P)
    else:
        R = np.ascontiguousarray(np.asarray(radii, dtype=np.float64)[idx])
    margin = 0.5  # room for the projection to move the query, in support radii
    if candidates is None:
        candidates = neighbor_candidates(P, (filter_scale + margin) * R)
    indptr, indices = candidates
    eps = float(accuracy) * float(R.mean())
    args = (float(filter_scale), float(spherical), eps, int(max_iters), int(min_neighbors))
    kernel = _kernel("apss")
    sk1, sk2, sst, moved = kernel(P, N, R, np.arange(len(P)), indptr, indices, *args)
    far = np.flatnonzero(moved > margin * R)
    if len(far):
        # the projection left the candidates' margin: redo these vertices with every point
        # whose ball can reach their path (radius: largest ball + twice the distance moved)
        from scipy.spatial import cKDTree

        reach = filter_scale * R.max() + 2.0 * moved[far]
        lists = cKDTree(P).query_ball_point(P[far], reach, workers=-1)
        sizes = np.array([len(x) - 1 for x in lists], dtype=np.int64)
        sub_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        sub_idx = np.empty(sub_ptr[-1], dtype=np.int32)
        for k, (i, lst) in enumerate(zip(far, lists)):
            lst = np.sort(np.asarray(lst, dtype=np.int32))
            sub_idx[sub_ptr[k]:sub_ptr[k + 1]] = lst[lst != i]
        r1, r2, rst, _ = kernel(P, N, R, far, sub_ptr, sub_idx, *args)
        sk1[far], sk2[far], sst[far] = r1, r2, rst
    k1[idx], k2[idx], status[idx] = sk1, sk2, sst
    return k1, k2, status


# -- reference ----------------------------------------------------------------------------

def _fit_reference(x, P, N, R, scale, beta):
    """Algebraic sphere (u0, uL, u4) fitted at ``x`` (NumPy), or None without neighbours."""
    d2 = np.sum((P - x) ** 2, axis=1)
    t = 1.0 - d2 / (scale * R) ** 2
    m = t > 0
    if not np.any(m):
        return None
    w = t[m] ** 4
    p, nn = P[m], N[m]
    sw = w.sum()
    sp = w @ p
    sn = w @ nn
    spn = w @ np.sum(p * nn, axis=1)
    spp = w @ np.sum(p * p, axis=1)
    u4 = beta * 0.5 * (spn - sp @ sn / sw) / (spp - sp @ sp / sw)
    uL = (sn - 2.0 * u4 * sp) / sw
    u0 = -(uL @ sp + u4 * spp) / sw
    return u0, uL, u4, int(m.sum())


def apss_curvature_reference(points, normals, radii, filter_scale=4.0, spherical=1.0, accuracy=1e-4,
                             max_iters=15, min_neighbors=6, step=None):
    """Slow reference for :func:`apss_curvature`: the same fit and projection written with
    NumPy over all points, gradient and Hessian of the field by central finite differences.

    ``step`` is the finite-difference step (default 1e-3 times each point's radius).
    Returns ``(k1, k2, status)`` like :func:`apss_curvature`.
    """
    P = np.asarray(points, dtype=np.float64)
    N = np.asarray(normals, dtype=np.float64)
    R = np.asarray(radii, dtype=np.float64)
    n = len(P)
    k1 = np.zeros(n)
    k2 = np.zeros(n)
    status = np.full(n, NO_POINT, dtype=np.int8)
    use = np.linalg.norm(N, axis=1) > 1e-12
    Pu, Nu, Ru = P[use], N[use], R[use]
    eps2 = (accuracy * Ru.mean()) ** 2

    for i in np.flatnonzero(use):
        c = P[i]
        Pc = Pu - c  # centred coordinates, as in the kernel
        x0 = np.zeros(3)
        fit = _fit_reference(x0, Pc, Nu, Ru, filter_scale, spherical)
        if fit is None or fit[3] < min_neighbors:
            status[i] = TOO_FEW
            continue
        pos = x0.copy()
        for _ in range(max_iters):
            fit = _fit_reference(pos, Pc, Nu, Ru, filter_scale, spherical)
            if fit is None:
                break
            u0, uL, u4, _ = fit
            prev = pos
            pos = _project_step(x0, u0, uL, u4)
            if np.sum((prev - pos) ** 2) <= eps2:
                break

        def field(y):
            f = _fit_reference(y, Pc, Nu, Ru, filter_scale, spherical)
            u0, uL, u4, _ = f
            return u0 + uL @ y + u4 * (y @ y)

        hstep = (1e-3 * R[i]) if step is None else step
        g = np.zeros(3)
        H = np.zeros((3, 3))
        f0 = field(pos)
        E = np.eye(3) * hstep
        for a in range(3):
            g[a] = (field(pos + E[a]) - field(pos - E[a])) / (2 * hstep)
            H[a, a] = (field(pos + E[a]) - 2 * f0 + field(pos - E[a])) / hstep ** 2
            for b in range(a + 1, 3):
                H[a, b] = H[b, a] = (field(pos + E[a] + E[b]) - field(pos + E[a] - E[b])
                                     - field(pos - E[a] + E[b]) + field(pos - E[a] - E[b])) / (4 * hstep ** 2)
        gl = np.linalg.norm(g)
        if not gl > 1e-12:
            status[i] = NO_GRADIENT
            continue
        nrm = g / gl
        proj = np.eye(3) - np.outer(nrm, nrm)
        W = proj @ H @ proj / gl
        a, b = _tangent_eigs(W, nrm)
        if abs(a) < abs(b):
            a, b = b, a
        k1[i], k2[i], status[i] = a, b, OK
    return k1, k2, status


def _tangent_eigs(W, nrm):
    t1 = np.cross(nrm, [1.0, 0, 0] if abs(nrm[0]) < 0.9 else [0, 1.0, 0])
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(nrm, t1)
    T = np.stack([t1, t2], axis=1)
    return np.linalg.eigvalsh(T.T @ W @ T)


def _project_step(x0, u0, uL, u4):
    """One APSS projection of ``x0`` onto the algebraic sphere (u0, uL, u4) (NumPy)."""
    if abs(u4) > 1e-7:
        centre = -0.5 * uL / u4
        radius = np.sqrt(max(centre @ centre - u0 / u4, 0.0))
        d = x0 - centre
        return centre + d / np.linalg.norm(d) * radius
    gl = np.linalg.norm(uL)
    return x0 - uL / gl * ((uL @ x0 + u0) / gl)


# -- Numba kernels -----------------------------------------------------------------------

def _kernel(name):
    if name not in _KERNELS:
        _KERNELS.update(_build())
    return _KERNELS[name]


def _build():
    import numba as nb

    @nb.njit(cache=True)
    def csr(n, a, b):
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

    # jets: [value, d/dx, d/dy, d/dz, xx, xy, xz, yy, yz, zz]
    @nb.njit(cache=True)
    def jmul(a, b, out):
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

    @nb.njit(cache=True)
    def jinv(b, out):
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

    @nb.njit(cache=True)
    def fit_value(x, P, N, R, c, nbrs, lo, hi, self_i, scale, beta, u):
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

    @nb.njit(cache=True)
    def project_step(u, out):
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

    @nb.njit(parallel=True, cache=True)
    def apss(P, N, R, which, indptr, nbrs, scale, beta, eps, max_iters, min_nb):
        n = len(which)
        k1 = np.zeros(n)
        k2 = np.zeros(n)
        status = np.zeros(n, dtype=np.int8)
        moved = np.zeros(n)
        eps2 = eps * eps
        for qi in nb.prange(n):
            i = which[qi]
            c = P[i].copy()
            lo = indptr[qi]
            hi = indptr[qi + 1]  # the point itself is visited as index hi
            u = np.zeros(5)
            x = np.zeros(3)
            newx = np.zeros(3)
            cnt = fit_value(x, P, N, R, c, nbrs, lo, hi, i, scale, beta, u)
            if cnt < min_nb:
                status[qi] = 2
                continue
            ok = True
            for it in range(max_iters):
                if it > 0:
                    cnt = fit_value(x, P, N, R, c, nbrs, lo, hi, i, scale, beta, u)
                    if cnt <= 0:
                        ok = False
                        break
                if not project_step(u, newx):
                    ok = False
                    break
                d2 = (newx[0] - x[0]) ** 2 + (newx[1] - x[1]) ** 2 + (newx[2] - x[2]) ** 2
                x[0] = newx[0]
                x[1] = newx[1]
                x[2] = newx[2]
                dist = np.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2])
                if dist > moved[qi]:
                    moved[qi] = dist
                if d2 <= eps2:
                    break
            if not ok:
                status[qi] = 2
                continue
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
                continue
            iw = np.empty(10)
            tmp = np.empty(10)
            tmp2 = np.empty(10)
            num = S[7].copy()
            den = S[8].copy()
            jinv(S[0], iw)
            for m in range(3):
                jmul(S[1 + m], S[4 + m], tmp)   # SP_m * SN_m
                jmul(iw, tmp, tmp2)
                num -= tmp2
                jmul(S[1 + m], S[1 + m], tmp)
                jmul(iw, tmp, tmp2)
                den -= tmp2
            if not den[0] > 0.0:
                status[qi] = 2
                continue
            u4 = np.empty(10)
            jinv(den, tmp)
            jmul(num, tmp, u4)
            u4 *= 0.5 * beta
            uL = np.empty((3, 10))
            for m in range(3):
                jmul(u4, S[1 + m], tmp)
                tmp2[:] = S[4 + m] - 2.0 * tmp
                jmul(tmp2, iw, uL[m])
            # u0 = -iw * (uL . SP + SPP * u4)
            acc = np.zeros(10)
            for m in range(3):
                jmul(uL[m], S[1 + m], tmp)
                acc += tmp
            jmul(S[8], u4, tmp)
            acc += tmp
            u0 = np.empty(10)
            jmul(iw, acc, u0)
            u0 *= -1.0
            # f = u0 + uL . X + u4 |X|^2 with X the position jet
            f = u0.copy()
            X = np.zeros(10)
            for m in range(3):
                X[:] = 0.0
                X[0] = x[m]
                X[1 + m] = 1.0
                jmul(uL[m], X, tmp)
                f += tmp
            XX = np.zeros(10)
            XX[0] = x[0] * x[0] + x[1] * x[1] + x[2] * x[2]
            XX[1] = 2.0 * x[0]
            XX[2] = 2.0 * x[1]
            XX[3] = 2.0 * x[2]
            XX[4] = 2.0
            XX[7] = 2.0
            XX[9] = 2.0
            jmul(u4, XX, tmp)
            f += tmp
            gx = f[1]
            gy = f[2]
            gz = f[3]
            gl = np.sqrt(gx * gx + gy * gy + gz * gz)
            if not gl > 1e-8:
                status[qi] = 3
                continue
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
        return k1, k2, status, moved

    return {"csr": csr, "apss": apss}
