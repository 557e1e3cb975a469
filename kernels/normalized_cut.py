"""Region adjacency graph with mean-feature similarity weights, recursive two-way normalized
cuts, and merging down to a number of segment ids: the second half of the Taskonomy
segmentation pipeline (see :mod:`labelgen.kernels.segmentation` for the first half and the
documented differences from scikit-image)::

    rag = skimage.graph.rag_mean_color(features, labels1, mode="similarity", sigma=255)
    labels2 = skimage.graph.cut_normalized(labels1, rag, thresh, num_cuts, max_edge=...)

Every function takes and returns numpy arrays and does no I/O (``numba.njit(cache=True)``).

References
----------
.. [1] J. Shi and J. Malik, "Normalized cuts and image segmentation", IEEE TPAMI 22(8),
       2000.
.. [2] A. Tremeau and P. Colantoni, "Regions adjacency graph applied to color image
       segmentation", IEEE TIP 9(4), 2000.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from labelgen.kernels.radix import radix_sort_counted

__all__ = ["rag_mean_features", "ncut_labels", "cut_normalized", "relabel_raster", "limit_segments"]


# -- Region adjacency graph -------------------------------------------------------------

@njit(cache=True)
def _rag(labels, feat, nseg):
    h, w = labels.shape
    c = feat.shape[2]
    count = np.zeros(nseg, np.int64)
    total = np.zeros((nseg, c))
    for r in range(h):
        for q in range(w):
            s = labels[r, q]
            count[s] += 1
            for ch in range(c):
                total[s, ch] += feat[r, q, ch]
    # adjacent label pairs in the 8-neighbourhood, as keys lo * nseg + hi
    keys = np.empty(4 * h * w, np.int64)
    nk = 0
    for r in range(h):
        for q in range(w):
            s = labels[r, q]
            for k in range(4):
                if k == 0:
                    rr, qq = r, q + 1
                elif k == 1:
                    rr, qq = r + 1, q - 1
                elif k == 2:
                    rr, qq = r + 1, q
                else:
                    rr, qq = r + 1, q + 1
                if rr >= h or qq < 0 or qq >= w:
                    continue
                t = labels[rr, qq]
                if t != s:
                    lo, hi = (s, t) if s < t else (t, s)
                    keys[nk] = lo * nseg + hi
                    nk += 1
    if nseg > 2048:
        # the distinct keys in ascending order (an LSD radix sort of the 11-bit digits)
        npass = 1
        while npass < 6 and (nseg * nseg - 1) >> (11 * npass) > 0:
            npass += 1
        ukeys = np.empty(nk, np.uint64)
        cnt = np.zeros((npass, 2049), np.int64)
        for k in range(nk):
            u = np.uint64(keys[k])
            ukeys[k] = u
            for q in range(npass):
                cnt[q, ((u >> np.uint64(11 * q)) & np.uint64(2047)) + 1] += 1
        if nk > 0:
            radix_sort_counted(ukeys, np.int64(nk), np.empty(nk, np.uint64), np.int64(0), np.int64(11),
                               np.int64(npass), cnt)
        ne = 0
        for k in range(nk):
            ne += 1 if k == 0 or ukeys[k] != ukeys[k - 1] else 0
        src = np.empty(ne, np.int64)
        dst = np.empty(ne, np.int64)
        e = 0
        for k in range(nk):
            if k == 0 or ukeys[k] != ukeys[k - 1]:
                key = np.int64(ukeys[k])
                src[e] = key // nseg
                dst[e] = key % nseg
                e += 1
        return count, total, src, dst
    # few segments: mark the pairs in a matrix and read it in (lo, hi) order, which is the
    # sorted order of the keys (np.unique would sort every boundary pixel pair)
    adj = np.zeros((nseg, nseg), np.bool_)
    for k in range(nk):
        adj[keys[k] // nseg, keys[k] % nseg] = True
    ne = 0
    for lo in range(nseg):
        for hi in range(lo + 1, nseg):
            ne += adj[lo, hi]
    src = np.empty(ne, np.int64)
    dst = np.empty(ne, np.int64)
    e = 0
    for lo in range(nseg):
        for hi in range(lo + 1, nseg):
            if adj[lo, hi]:
                src[e] = lo
                dst[e] = hi
                e += 1
    return count, total, src, dst


@njit(cache=True)
def _similarity(mean, src, dst, sigma):
    ne = src.shape[0]
    c = mean.shape[1]
    weight = np.empty(ne)
    for e in range(ne):
        s = 0.0
        for ch in range(c):
            d = mean[src[e], ch] - mean[dst[e], ch]
            s += d * d
        dist = np.sqrt(s)
        weight[e] = np.e ** (-(dist * dist) / sigma)
    return weight


def rag_mean_features(labels: np.ndarray, features: np.ndarray, sigma: float = 255.0):
    """Region adjacency graph of a label image, weighted by mean-feature similarity.

    Like ``skimage.graph.rag_mean_color(features, labels, connectivity=2,
    mode="similarity", sigma=sigma)`` [3]_, for any number of channels: two segments are
    adjacent when any of their pixels are 8-neighbours; the edge weight is
    ``exp(-|m1 - m2|^2 / sigma)`` with ``m`` the segments' mean feature vectors (sums taken
    in raster order, in float64).

    Parameters
    ----------
    labels : (H, W) int ndarray
        Segment ids 0..n-1 (every id present).
    features : (H, W) or (H, W, C) ndarray
        Per-pixel features (for example the RGB image, values 0..255).
    sigma : float
        Similarity scale.

    Returns
    -------
    count : (n,) int64 ndarray
        Pixels per segment.
    mean : (n, C) float64 ndarray
        Mean feature vector per segment.
    src, dst : (E,) int64 ndarrays
        Edge endpoints, ``src < dst``, sorted by (src, dst).
    weight : (E,) float64 ndarray
        Similarity weight of each edge.
    """
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    feat = np.asarray(features)
    if feat.ndim == 2:
        feat = feat[:, :, None]
    if feat.shape[:2] != labels.shape:
        raise ValueError(f"labels {labels.shape} and features {feat.shape[:2]} differ in size")
    feat = np.ascontiguousarray(feat, dtype=np.float64)
    nseg = int(labels.max()) + 1 if labels.size else 0
    count, total, src, dst = _rag(labels, feat, nseg)
    if np.any(count == 0):
        raise ValueError("labels must use every id 0..n-1")
    mean = total / count[:, None]
    weight = _similarity(mean, src, dst, float(sigma))
    return count, mean, src, dst, weight


# -- Normalized cuts --------------------------------------------------------------------

@njit(cache=True)
def _tridiagonalize(a):
    """Householder reduction of symmetric ``a`` to tridiagonal ``T = Q^T a Q``.

    Only the lower triangle of ``a`` is read and updated (``a`` is overwritten). Returns
    the diagonal ``d``, the off-diagonal ``e`` and the unit Householder vectors ``v`` (row k
    acts on entries k+1..m-1; ``Q = H_0 H_1 ... H_{m-3}``, ``H_k = I - 2 v v^T``).
    """
    m = a.shape[0]
    d = np.zeros(m)
    e = np.zeros(max(m - 1, 0))
    v = np.zeros((m, m))
    p = np.zeros(m)
    for k in range(m - 2):
        n1 = k + 1
        vk = v[k]
        d[k] = a[k, k]
        norm2 = 0.0
        for i in range(n1, m):
            norm2 += a[i, k] * a[i, k]
        if norm2 == 0.0:
            e[k] = 0.0
            continue
        alpha = np.sqrt(norm2)
        if a[n1, k] > 0:
            alpha = -alpha
        e[k] = alpha
        # v = x - alpha e1, normalised
        for i in range(n1, m):
            vk[i] = a[i, k]
        vk[n1] -= alpha
        vn2 = 0.0
        for i in range(n1, m):
            vn2 += vk[i] * vk[i]
        vn = np.sqrt(vn2)
        for i in range(n1, m):
            vk[i] /= vn
        # p = A22 v from the lower triangle
        for i in range(n1, m):
            p[i] = 0.0
        for i in range(n1, m):
            row = a[i]
            vi = vk[i]
            sdot = 0.0
            for j in range(n1, i):
                sdot += row[j] * vk[j]
                p[j] += row[j] * vi
            p[i] += sdot + row[i] * vi
        # w = p - (v . p) v ; A22 <- A22 - 2 (v w^T + w v^T), lower triangle
        kk = 0.0
        for i in range(n1, m):
            kk += vk[i] * p[i]
        for i in range(n1, m):
            p[i] -= kk * vk[i]
        for i in range(n1, m):
            row = a[i]
            vi2 = 2.0 * vk[i]
            pi2 = 2.0 * p[i]
            for j in range(n1, i + 1):
                row[j] -= vi2 * p[j] + pi2 * vk[j]
    if m >= 2:
        d[m - 2] = a[m - 2, m - 2]
        e[m - 2] = a[m - 1, m - 2]
    if m >= 1:
        d[m - 1] = a[m - 1, m - 1]
    return d, e, v


@njit(cache=True)
def _sturm_count(d, e, x):
    """Number of eigenvalues of the tridiagonal (d, e) smaller than x."""
    m = d.shape[0]
    count = 0
    q = d[0] - x
    for i in range(m):
        if i > 0:
            q = d[i] - x - e[i - 1] * e[i - 1] / q
        if q == 0.0:
            q = -1e-300
        if q < 0.0:
            count += 1
    return count


@njit(cache=True)
def _tridiag_eigenvalue(d, e, k):
    """k-th smallest eigenvalue (0-based) of the tridiagonal (d, e), by bisection to full
    precision."""
    m = d.shape[0]
    lo = np.inf
    hi = -np.inf
    for i in range(m):
        r = 0.0
        if i > 0:
            r += abs(e[i - 1])
        if i < m - 1:
            r += abs(e[i])
        lo = min(lo, d[i] - r)
        hi = max(hi, d[i] + r)
    span = max(hi - lo, 1e-300)
    lo -= 1e-12 * span
    hi += 1e-12 * span
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if _sturm_count(d, e, mid) > k:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


@njit(cache=True)
def _tridiag_eigenvector(d, e, lam):
    """Eigenvector of the tridiagonal (d, e) for eigenvalue ``lam`` by inverse iteration
    (Gaussian elimination with partial pivoting, start vector all ones, 3 iterations)."""
    m = d.shape[0]
    scale = 0.0
    for i in range(m):
        scale = max(scale, abs(d[i]))
    for i in range(m - 1):
        scale = max(scale, abs(e[i]))
    tiny = max(scale, 1e-300) * 1e-15
    # LU of T - lam I with row interchanges: U has diagonal u0 and superdiagonals u1, u2
    u0 = np.empty(m)
    u1 = np.zeros(m)
    u2 = np.zeros(m)
    mult = np.zeros(m)
    swap = np.zeros(m, np.bool_)
    for i in range(m):
        u0[i] = d[i] - lam
    for i in range(m - 1):
        u1[i] = e[i]
    sub = np.zeros(m)
    for i in range(m - 1):
        sub[i] = e[i]
    for i in range(m - 1):
        # rows i (u0[i], u1[i], u2[i]) and i+1 (sub[i], u0[i+1], u1[i+1])
        if abs(sub[i]) > abs(u0[i]):
            swap[i] = True
            f = u0[i] / sub[i]
            a0, a1, a2 = sub[i], u0[i + 1], u1[i + 1]
            b1, b2 = u1[i], u2[i]
            u0[i], u1[i], u2[i] = a0, a1, a2
            u0[i + 1] = b1 - f * a1
            u1[i + 1] = b2 - f * a2
            mult[i] = f
        else:
            piv = u0[i] if u0[i] != 0.0 else tiny
            u0[i] = piv
            f = sub[i] / piv
            u0[i + 1] = u0[i + 1] - f * u1[i]
            mult[i] = f
        if u0[i] == 0.0:
            u0[i] = tiny
    if u0[m - 1] == 0.0:
        u0[m - 1] = tiny
    y = np.ones(m)
    for _ in range(3):
        # forward: apply the row operations
        for i in range(m - 1):
            if swap[i]:
                t = y[i]
                y[i] = y[i + 1]
                y[i + 1] = t - mult[i] * y[i]
            else:
                y[i + 1] -= mult[i] * y[i]
        # back substitution with U
        for i in range(m - 1, -1, -1):
            s = y[i]
            if i + 1 < m:
                s -= u1[i] * y[i + 1]
            if i + 2 < m:
                s -= u2[i] * y[i + 2]
            y[i] = s / u0[i]
            if abs(y[i]) > 1e150:
                # rescale the whole (linear) system to avoid overflow with tiny pivots
                for j in range(m):
                    y[j] *= 1e-150
        amax = 0.0
        for i in range(m):
            amax = max(amax, abs(y[i]))
        if not amax > 0.0 or not np.isfinite(amax):
            for j in range(m):
                y[j] = 1.0
            amax = 1.0
        nrm = 0.0
        for i in range(m):
            y[i] /= amax
            nrm += y[i] * y[i]
        nrm = np.sqrt(nrm)
        for i in range(m):
            y[i] /= nrm
    return y


@njit(cache=True)
def _fiedler(amat, kmax):
    """Eigenvector of the second smallest distinct eigenvalue of symmetric ``amat`` among
    its ``kmax`` smallest (the smallest when there is none), as scikit-image's
    ``argmin2(eigsh(A, k=kmax, which="SM"))``; ``amat`` is overwritten."""
    m = amat.shape[0]
    d, e, v = _tridiagonalize(amat)
    lam0 = _tridiag_eigenvalue(d, e, np.int64(0))  # int64 as below: one compilation
    lam = lam0
    for i in range(1, kmax):
        li = _tridiag_eigenvalue(d, e, i)
        if li > lam0:
            lam = li
            break
    y = _tridiag_eigenvector(d, e, lam)
    # z = Q y = H_0 (H_1 (... H_{m-3} y))
    for k in range(m - 3, -1, -1):
        s = 0.0
        for i in range(k + 1, m):
            s += v[k, i] * y[i]
        for i in range(k + 1, m):
            y[i] -= 2.0 * s * v[k, i]
    return y


@njit(cache=True)
def _ncut_cost(mask, dvec, wmat):
    m = mask.shape[0]
    cut = 0.0
    for col in range(m):
        for row in range(m):
            if mask[row] != mask[col]:
                cut += wmat[row, col]
    cut *= 0.5
    assoc_a = 0.0
    assoc_b = 0.0
    for i in range(m):
        if mask[i]:
            assoc_a += dvec[i]
        else:
            assoc_b += dvec[i]
    if assoc_a == 0.0 or assoc_b == 0.0:
        return np.inf
    return cut / assoc_a + cut / assoc_b


@njit(cache=True)
def _min_ncut(ev, dvec, wmat, num_cuts):
    """Best of ``num_cuts`` evenly spaced thresholds of ``ev`` (Shi & Malik 3.1.3)."""
    m = ev.shape[0]
    mn = ev[0]
    mx = ev[0]
    for i in range(1, m):
        mn = min(mn, ev[i])
        mx = max(mx, ev[i])
    best = np.zeros(m, np.bool_)
    mcut = np.inf
    # np.allclose(mn, mx)
    if abs(mn - mx) <= 1e-8 + 1e-5 * abs(mx):
        return best, mcut
    step = (mx - mn) / num_cuts
    mask = np.empty(m, np.bool_)
    for k in range(num_cuts):
        t = k * step + mn
        na = 0
        for i in range(m):
            mask[i] = ev[i] > t
            na += mask[i]
        if na == 0 or na == m:
            continue  # 0 / 0: never below the best cost
        cost = _ncut_cost(mask, dvec, wmat)
        if cost < mcut:
            mcut = cost
            for i in range(m):
                best[i] = mask[i]
    return best, mcut


@njit(cache=True)
def _ncut_recursive(n, src, dst, weight, thresh, num_cuts, max_edge):
    # adjacency (CSR) of the whole graph
    deg = np.zeros(n + 1, np.int64)
    for e in range(src.shape[0]):
        deg[src[e] + 1] += 1
        deg[dst[e] + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    nbr = np.empty(deg[n], np.int64)
    nw = np.empty(deg[n])
    fill = deg[:-1].copy()
    for e in range(src.shape[0]):
        nbr[fill[src[e]]] = dst[e]
        nw[fill[src[e]]] = weight[e]
        fill[src[e]] += 1
        nbr[fill[dst[e]]] = src[e]
        nw[fill[dst[e]]] = weight[e]
        fill[dst[e]] += 1

    out = np.empty(n, np.int64)
    local = np.full(n, -1, np.int64)
    # stack of node sets, stored in `pool`; a set's two halves replace it in place
    pool = np.arange(n)
    starts = [0]
    sizes = [n]
    while len(starts) > 0:
        st = starts.pop()
        m = sizes.pop()
        nodes = pool[st:st + m].copy()
        for i in range(m):
            local[nodes[i]] = i
        wmat = np.zeros((m, m))
        for i in range(m):
            wmat[i, i] = max_edge
            u = nodes[i]
            for k in range(deg[u], deg[u + 1]):
                j = local[nbr[k]]
                if j >= 0:
                    wmat[j, i] = nw[k]
        dvec = np.zeros(m)
        for col in range(m):
            s = 0.0
            for row in range(m):
                s += wmat[row, col]
            dvec[col] = s
        cuttable = False
        if m > 2:
            for i in range(m):
                if dvec[i] != wmat[i, i]:
                    cuttable = True
                    break
        split = False
        if cuttable:
            dinv = np.empty(m)
            for i in range(m):
                dinv[i] = 1.0 / np.sqrt(dvec[i])
            amat = np.empty((m, m))
            for i in range(m):
                for j in range(m):
                    lij = (dvec[i] if i == j else 0.0) - wmat[i, j]
                    amat[i, j] = (dinv[i] * lij) * dinv[j]
            # second smallest eigenvalue among the min(100, m - 2) smallest, as
            # scikit-image's argmin2 over eigsh's output (m == 3: the smallest)
            ev = _fiedler(amat, min(100, m - 2))
            big = 0
            for i in range(1, m):
                if abs(ev[i]) > abs(ev[big]):
                    big = i
            if ev[big] < 0:
                for i in range(m):
                    ev[i] = -ev[i]
            mask, mcut = _min_ncut(ev, dvec, wmat, num_cuts)
            if mcut < thresh:
                split = True
                na = 0
                for i in range(m):
                    if mask[i]:
                        pool[st + na] = nodes[i]
                        na += 1
                nb = 0
                for i in range(m):
                    if not mask[i]:
                        pool[st + na + nb] = nodes[i]
                        nb += 1
                # push the second set first so that the first is processed next
                starts.append(st + na)
                sizes.append(nb)
                starts.append(st)
                sizes.append(na)
        for i in range(m):
            local[nodes[i]] = -1
        if not split:
            lab = nodes[0]
            for i in range(1, m):
                lab = min(lab, nodes[i])
            for i in range(m):
                out[nodes[i]] = lab
    return out


def ncut_labels(n: int, src, dst, weight, thresh: float = 0.001, num_cuts: int = 10,
                max_edge: float = 1.0) -> np.ndarray:
    """Recursive two-way normalized cut of a weighted graph; the group of each node.

    Follows ``skimage.graph.cut_normalized`` [2]_: every node gets a self edge of weight
    ``max_edge``; a (sub)graph with more than two nodes and at least one edge between
    distinct nodes is cut by thresholding the eigenvector of the second smallest
    eigenvalue of ``D^-1/2 (D - W) D^-1/2`` at ``num_cuts`` evenly spaced values
    (``linspace(min, max, num_cuts, endpoint=False)``, side ``> t``) and keeping the cut of
    least normalized-cut value; if that value is below ``thresh`` both halves are cut
    again, otherwise the (sub)graph is one group. The eigenproblem is solved densely on the
    (small) graph with the deterministic solver described in the module notes; it is
    equivalent to the generalised problem ``(D - W) y = l D y`` with ``y = D^-1/2 z``
    (Shi & Malik), and, like scikit-image, ``z`` itself is thresholded. The eigenvector's
    sign is fixed by making its largest-magnitude component positive. Cost: O(m^3) per
    subgraph of m nodes (about 35 ms for m = 400).

    Parameters
    ----------
    n : int
        Number of nodes.
    src, dst, weight : (E,) ndarrays
        Undirected edges (no self edges, no duplicates) and their similarity weights.
    thresh, num_cuts : see above.
    max_edge : float
        Self-edge weight, > 0 (keeps every degree positive).

    Returns
    -------
    group : (n,) int64 ndarray
        For each node, the smallest node id of its final group.
    """
    src = np.ascontiguousarray(src, dtype=np.int64)
    dst = np.ascontiguousarray(dst, dtype=np.int64)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    if not max_edge > 0:
        raise ValueError(f"max_edge (self-edge weight) must be > 0, got {max_edge}")
    if src.shape != dst.shape or src.shape != weight.shape:
        raise ValueError("src, dst and weight must have the same length")
    if n == 0:
        return np.zeros(0, np.int64)
    return _ncut_recursive(int(n), src, dst, weight, float(thresh), int(num_cuts), float(max_edge))


@njit(cache=True)
def _relabel(labels, table):
    """``table[labels]`` renumbered 0..k-1 in raster order of first appearance."""
    flat = labels.ravel()
    top = -1
    for i in range(table.shape[0]):
        top = max(top, table[i])
    newid = np.full(top + 1, -1, np.int64)
    out = np.empty(flat.shape[0], np.int64)
    k = 0
    for p in range(flat.shape[0]):
        g = table[flat[p]]
        if newid[g] < 0:
            newid[g] = k
            k += 1
        out[p] = newid[g]
    return out.reshape(labels.shape), k


def relabel_raster(labels: np.ndarray, table: np.ndarray | None = None):
    """Renumber ``table[labels]`` (default: ``labels``) as 0..k-1 in raster order of first
    appearance. Returns ``(new_labels, k)``."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if table is None:
        table = np.arange(int(labels.max()) + 1 if labels.size else 0)
    return _relabel(labels, np.ascontiguousarray(table, dtype=np.int64))


def cut_normalized(labels: np.ndarray, features: np.ndarray, thresh: float = 0.001,
                   num_cuts: int = 10, max_edge: float = 1.0, sigma: float = 255.0):
    """RAG of ``labels`` weighted by mean-``features`` similarity, then recursive ncut.

    Returns ``(segments, k)``: segment ids 0..k-1 in raster order of first appearance.
    """
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    count, mean, src, dst, weight = rag_mean_features(labels, features, sigma)
    group = ncut_labels(count.shape[0], src, dst, weight, thresh, num_cuts, max_edge)
    return relabel_raster(labels, group)


# -- More segments than ids -------------------------------------------------------------

def limit_segments(labels: np.ndarray, features: np.ndarray, max_segments: int = 256):
    """Merge segments until at most ``max_segments`` remain.

    Repeatedly takes the smallest segment (fewest pixels; on ties the lowest id) and merges
    it into the 8-adjacent segment whose mean feature vector is closest (on ties the lowest
    id); means and adjacency are updated after each merge. ``labels`` must be ids 0..n-1 in
    raster order. Returns ``(new_labels, k, merged)``: ids renumbered 0..k-1 in raster
    order of first appearance and the number of merges done.
    """
    import heapq

    labels = np.ascontiguousarray(labels, dtype=np.int64)
    count, mean, src, dst, _ = rag_mean_features(labels, features, 1.0)
    n = count.shape[0]
    if n <= max_segments:
        return labels, n, 0
    total = mean * count[:, None]
    count = count.astype(np.int64).tolist()
    adj: list[set] = [set() for _ in range(n)]
    for s, d in zip(src.tolist(), dst.tolist()):
        adj[s].add(d)
        adj[d].add(s)
    parent = list(range(n))
    alive = n
    heap = [(count[i], i) for i in range(n)]
    heapq.heapify(heap)
    while alive > max_segments and heap:
        c, i = heapq.heappop(heap)
        if parent[i] != i or c != count[i]:
            continue  # stale entry
        if not adj[i]:
            continue  # isolated (cannot happen on a full grid)
        mi = total[i] / count[i]
        best, best_d = -1, np.inf
        for j in sorted(adj[i]):
            diff = total[j] / count[j] - mi
            d = float(np.dot(diff, diff))
            if d < best_d:
                best, best_d = j, d
        j = best
        parent[i] = j
        total[j] = total[j] + total[i]
        count[j] += count[i]
        for k in adj[i]:
            adj[k].discard(i)
            if k != j:
                adj[k].add(j)
                adj[j].add(k)
        adj[i] = set()
        alive -= 1
        heapq.heappush(heap, (count[j], j))
    table = np.arange(n)
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        table[i] = r
    new, k = relabel_raster(labels, table)
    return new, k, n - alive
