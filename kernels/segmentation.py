"""Graph-based image segmentation: Felzenszwalb superpixels, a region adjacency graph with
mean-feature similarity weights, and recursive two-way normalized cuts.

These are Numba versions of the scikit-image pipeline that produced the Taskonomy
``segment_unsup2d`` / ``segment_unsup25d`` labels::

    labels1 = skimage.segmentation.felzenszwalb(image, scale, sigma, min_size)
    rag = skimage.graph.rag_mean_color(features, labels1, mode="similarity", sigma=255)
    labels2 = skimage.graph.cut_normalized(labels1, rag, thresh, num_cuts, max_edge=...)

They follow scikit-image's arithmetic step by step (same Gaussian, same edge costs, same
float32 rounding of the merge thresholds, same cut search), with two documented
differences that make the result deterministic and independent of the machine:

* Felzenszwalb sorts the grid edges with a **stable** sort (equal costs keep the order
  right, down, down-right, up-right edges, each in raster order). scikit-image uses
  ``np.argsort``'s default (introsort, or SIMD sorts on some CPUs), whose order among equal
  costs is unspecified.
* The normalized cut takes its eigenvector from a **dense** symmetric eigensolver written
  here in Numba (Householder tridiagonalisation, Sturm-sequence bisection for the
  eigenvalue, inverse iteration from an all-ones start for the eigenvector; no BLAS
  threads, so the arithmetic and hence the result are the same on every run)
  instead of ARPACK's ``eigsh`` with a random start vector, and fixes the eigenvector's sign
  (its largest-magnitude component, first one on ties, is made positive). scikit-image
  draws the start vector at random, so its sign, and hence which of the two extreme
  thresholds is tried, varies from run to run; for a repeated eigenvalue (a subgraph in
  several pieces) any vector of the eigenspace is valid and the two may pick different ones.

Every function takes and returns numpy arrays and does no I/O. Kernels compile lazily on
first call (``numba.njit(cache=True)``).

References
----------
.. [1] P. F. Felzenszwalb and D. P. Huttenlocher, "Efficient graph-based image
       segmentation", IJCV 59(2), 2004.
.. [2] J. Shi and J. Malik, "Normalized cuts and image segmentation", IEEE TPAMI 22(8),
       2000.
.. [3] A. Tremeau and P. Colantoni, "Regions adjacency graph applied to color image
       segmentation", IEEE TIP 9(4), 2000.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from labelgen.kernels.filters import gaussian_weights

__all__ = [
    "gaussian_reflect",
    "felzenszwalb",
    "rag_mean_features",
    "ncut_labels",
    "cut_normalized",
    "relabel_raster",
    "limit_segments",
]


# -- Gaussian smoothing (scipy.ndimage.gaussian_filter, mode="reflect") -----------------

@njit(cache=True)
def _reflect_index(i, n):
    # scipy's "reflect" (half-sample symmetric): d c b a | a b c d | d c b a
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - 1 - i
    return i


@njit(cache=True)
def _correlate_axis(src, dst, w, axis):
    """Symmetric 1-D correlation of (H, W, C) ``src`` along ``axis`` (0 or 1) into ``dst``.

    Same operation order as scipy's ``NI_Correlate1D`` symmetric path:
    ``acc = x[0] * w[0]; acc += (x[-k] + x[k]) * w[k]`` for k = r .. 1.
    """
    h, wd, c = src.shape
    r = (w.shape[0] - 1) // 2
    n = h if axis == 0 else wd
    m = wd if axis == 0 else h
    line = np.empty(n + 2 * r)
    for ch in range(c):
        for j in range(m):
            for i in range(n + 2 * r):
                k = _reflect_index(i - r, n)
                line[i] = src[k, j, ch] if axis == 0 else src[j, k, ch]
            for i in range(n):
                centre = i + r
                acc = line[centre] * w[r]
                for k in range(r, 0, -1):
                    acc += (line[centre - k] + line[centre + k]) * w[r - k]
                if axis == 0:
                    dst[i, j, ch] = acc
                else:
                    dst[j, i, ch] = acc


@njit(cache=True)
def _gaussian_reflect_fast(src, w):
    """Both passes of :func:`gaussian_reflect` on (H, W, C) float64 ``src``, row by row.

    The same sums in the same order as :func:`_correlate_axis` (so bit-identical to it),
    but each pass runs along whole contiguous rows (W * C values at a time) with the
    reflected row / column indices computed once per row, not once per pixel.
    """
    h, wd, c = src.shape
    r = (w.shape[0] - 1) // 2
    n = wd * c
    flat = src.reshape(h, n)
    tmp = np.empty((h, n))
    w0 = w[r]
    # axis 0: row i = src[i] w[r] + sum_{k=r..1} (src[refl(i-k)] + src[refl(i+k)]) w[r-k]
    for i in range(h):
        acc = tmp[i]
        mid = flat[i]
        for p in range(n):
            acc[p] = mid[p] * w0
        for k in range(r, 0, -1):
            wk = w[r - k]
            a = flat[_reflect_index(i - k, h)]
            b = flat[_reflect_index(i + k, h)]
            for p in range(n):
                acc[p] += (a[p] + b[p]) * wk
    # axis 1: the row padded by reflection into buf, then the same sums along it
    out = np.empty((h, wd, c))
    oflat = out.reshape(h, n)
    buf = np.empty((wd + 2 * r) * c)
    # reflected source column of each padding position (left r, then right r)
    pad = np.empty(2 * r, np.int64)
    for q in range(r):
        pad[q] = _reflect_index(q - r, wd) * c
        pad[r + q] = _reflect_index(wd + q, wd) * c
    for i in range(h):
        row = tmp[i]
        for p in range(n):
            buf[r * c + p] = row[p]
        for q in range(r):
            s = pad[q]
            t = pad[r + q]
            for ch in range(c):
                buf[q * c + ch] = row[s + ch]
                buf[(wd + r + q) * c + ch] = row[t + ch]
        acc = oflat[i]
        base = r * c
        mid = buf[base:base + n]
        for p in range(n):
            acc[p] = mid[p] * w0
        for k in range(r, 0, -1):
            wk = w[r - k]
            # slices, so that the loop indexes from 0 (and vectorises)
            left = buf[base - k * c:base - k * c + n]
            right = buf[base + k * c:base + k * c + n]
            for p in range(n):
                acc[p] += (left[p] + right[p]) * wk
    return out


def gaussian_reflect(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing of each channel of a (H, W, C) float64 image, edges reflected.

    Bit-identical to ``scipy.ndimage.gaussian_filter(image, [sigma, sigma, 0],
    mode="reflect", truncate=truncate)`` (what ``skimage.filters.gaussian`` does inside
    ``felzenszwalb``). ``sigma <= 1e-15`` returns a copy.
    """
    image = np.ascontiguousarray(image, dtype=np.float64)
    if sigma <= 1e-15:
        return image.copy()
    return _gaussian_reflect_fast(image, gaussian_weights(sigma, truncate))


def gaussian_reflect_reference(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Plain per-line version of :func:`gaussian_reflect` (the tests hold the fast one to it)."""
    image = np.ascontiguousarray(image, dtype=np.float64)
    if sigma <= 1e-15:
        return image.copy()
    w = gaussian_weights(sigma, truncate)
    tmp = np.empty_like(image)
    out = np.empty_like(image)
    _correlate_axis(image, tmp, w, 0)
    _correlate_axis(tmp, out, w, 1)
    return out


# -- Felzenszwalb -----------------------------------------------------------------------

@njit(cache=True)
def _grid_edges(img):
    """8-connected grid edges and their colour-distance costs, in scikit-image's order.

    Order: right (p+1, p), down (p+W, p), down-right (p+W+1, p), up-right ((r, c+1),
    (r+1, c)), each in raster order of its first array slice. Cost: Euclidean distance
    over channels, summed in channel order as numpy does for ``np.sum(d * d, axis=-1)``.
    Returns ``(cost, code)`` with ``code = a * 4 + kind`` (``a`` the first pixel's flat
    index, ``kind`` 0..3 as listed; the second pixel is ``a - (1, W, W + 1, 1 - W)[kind]``).
    """
    h, w, c = img.shape
    ne = h * (w - 1) + (h - 1) * w + 2 * (h - 1) * (w - 1)
    code = np.empty(ne, np.int64)
    cost = np.empty(ne, np.float64)
    e = 0
    for kind in range(4):
        if kind == 0:
            r1, c1, dr0, dc0, dr1, dc1 = h, w - 1, 0, 1, 0, 0
        elif kind == 1:
            r1, c1, dr0, dc0, dr1, dc1 = h - 1, w, 1, 0, 0, 0
        elif kind == 2:
            r1, c1, dr0, dc0, dr1, dc1 = h - 1, w - 1, 1, 1, 0, 0
        else:
            r1, c1, dr0, dc0, dr1, dc1 = h - 1, w - 1, 0, 1, 1, 0
        for r in range(r1):
            for cc in range(c1):
                ra, ca = r + dr0, cc + dc0
                rb, cb = r + dr1, cc + dc1
                s = 0.0
                for ch in range(c):
                    d = img[ra, ca, ch] - img[rb, cb, ch]
                    s += d * d
                code[e] = (ra * w + ca) * 4 + kind
                cost[e] = np.sqrt(s)
                e += 1
    return cost, code


@njit(cache=True)
def _radix_sort_pairs(x, payload):
    """Sort non-negative finite float64 ``x`` stably, carrying ``payload`` along.

    LSD radix sort on the IEEE bit patterns (for non-negative doubles they order like the
    values) with 11-bit digits (6 passes; a pass where every key has the same digit is
    skipped); equal values keep their input order. Returns the sorted values and payloads
    (new arrays).
    """
    n = x.shape[0]
    keys = x.view(np.uint64).copy()
    pay = payload.copy()
    if n == 0:
        return keys.view(np.float64), pay
    ktmp = np.empty(n, np.uint64)
    ptmp = np.empty(n, np.int64)
    # 11-bit digits (6 passes): 2048 buckets still stay in cache while scattering
    bits = 11
    npass = 6
    nb = 1 << bits
    mask = np.uint64(nb - 1)
    count = np.zeros((npass, nb + 1), np.int64)
    for i in range(n):
        k = keys[i]
        for q in range(npass):
            count[q, ((k >> np.uint64(bits * q)) & mask) + 1] += 1
    for q in range(npass):
        sh = np.uint64(bits * q)
        cq = count[q]
        # skip a pass where every key has the same digit
        if cq[((keys[0] >> sh) & mask) + 1] == n:
            continue
        for k in range(nb):
            cq[k + 1] += cq[k]
        for i in range(n):
            dgt = (keys[i] >> sh) & mask
            pos = cq[dgt]
            cq[dgt] = pos + 1
            ktmp[pos] = keys[i]
            ptmp[pos] = pay[i]
        keys, ktmp = ktmp, keys
        pay, ptmp = ptmp, pay
    return keys.view(np.float64), pay


@njit(cache=True)
def _sort_pairs_f32_prefix(x, payload):
    """The same result as :func:`_radix_sort_pairs` (a stable sort of non-negative finite
    float64 ``x`` carrying ``payload``), faster.

    Exact zeros (most edges of flat image regions) are moved to the front in input order.
    Rounding to float32 is monotone, so sorting the others stably by the float32 value
    and then, within each run of equal float32 values, stably by the float64 value gives
    the stable float64 order. The first sort is an LSD radix sort of the 32-bit patterns
    (three 11-bit passes, 8 bytes moved per element instead of 16 in eight passes); the
    runs are mostly single elements or exact ties, finished by insertion sort (a long run
    of distinct values, which needs an adversarial input, by :func:`_radix_sort_pairs`).
    """
    n = x.shape[0]
    xs = np.empty(n)
    ps = np.empty_like(payload)
    bits = 11
    npass = 3
    nb = 1 << bits
    mask = np.uint32(nb - 1)
    count = np.zeros((npass, nb + 1), np.int64)
    # one pass: zeros to the front, the others' keys, indices and digit counts
    keys = np.empty(n, np.uint32)
    idx = np.empty(n, np.int32)  # callers keep n < 2**31
    nz = 0
    m = 0
    for i in range(n):
        v = x[i]
        if v == 0.0:
            xs[nz] = 0.0
            ps[nz] = payload[i]
            nz += 1
        else:
            k = np.float32(v).view(np.uint32)
            keys[m] = k
            idx[m] = i
            m += 1
            for q in range(npass):
                count[q, ((k >> np.uint32(bits * q)) & mask) + 1] += 1
    keys = keys[:m]
    idx = idx[:m]
    ktmp = np.empty(m, np.uint32)
    itmp = np.empty(m, np.int32)
    for q in range(npass):
        sh = np.uint32(bits * q)
        cq = count[q]
        if m == 0 or cq[((keys[0] >> sh) & mask) + 1] == m:
            continue
        for k in range(nb):
            cq[k + 1] += cq[k]
        for i in range(m):
            k = keys[i]
            dgt = (k >> sh) & mask
            pos = cq[dgt]
            cq[dgt] = pos + 1
            ktmp[pos] = k
            itmp[pos] = idx[i]
        keys, ktmp = ktmp, keys
        idx, itmp = itmp, idx
    for i in range(m):
        xs[nz + i] = x[idx[i]]
        ps[nz + i] = payload[idx[i]]
    # finish each run of equal float32 keys by the float64 value (stable)
    i = 0
    while i < m:
        j = i + 1
        while j < m and keys[j] == keys[i]:
            j += 1
        if j - i > 1:
            lo = nz + i
            hi = nz + j
            if j - i > 64:
                sorted_run = True
                for a in range(lo + 1, hi):
                    if xs[a] < xs[a - 1]:
                        sorted_run = False
                        break
                if not sorted_run:
                    xr, pr = _radix_sort_pairs(xs[lo:hi].copy(), ps[lo:hi].copy())
                    xs[lo:hi] = xr
                    ps[lo:hi] = pr
            else:
                for a in range(lo + 1, hi):
                    v = xs[a]
                    pv = ps[a]
                    b = a - 1
                    while b >= lo and xs[b] > v:
                        xs[b + 1] = xs[b]
                        ps[b + 1] = ps[b]
                        b -= 1
                    xs[b + 1] = v
                    ps[b + 1] = pv
        i = j
    return xs, ps


@njit(cache=True)
def _argsort_stable_nonneg(x):
    """Stable argsort of non-negative finite float64 values (see _sort_pairs_f32_prefix)."""
    return _sort_pairs_f32_prefix(x, np.arange(x.shape[0]))[1]


@njit(cache=True)
def _find(parent, n):
    """Root of n, halving the path on the way (any union-find gives the same partition)."""
    while parent[n] != n:
        parent[n] = parent[parent[n]]
        n = parent[n]
    return n


@njit(cache=True)
def _felzenszwalb_merge(h, w, cost, code, scale, min_size):
    """Union-find merging over edges sorted by cost (scikit-image's loop); ``code`` as
    returned by :func:`_grid_edges`."""
    npix = h * w
    offset = np.array([1, w, w + 1, 1 - w], np.int64)
    # 32-bit parents and sizes (fewer cache misses; callers keep npix < 2**31)
    parent = np.arange(npix).astype(np.int32)
    size = np.ones(npix, np.int32)
    cint = np.zeros(npix)
    for e in range(cost.shape[0]):
        pa = code[e] >> 2
        s0 = _find(parent, pa)
        s1 = _find(parent, pa - offset[code[e] & 3])
        if s0 == s1:
            continue
        # scikit-image stores these thresholds as float32
        t0 = np.float32(cint[s0] + scale / size[s0])
        t1 = np.float32(cint[s1] + scale / size[s1])
        if cost[e] < min(t0, t1):
            if size[s0] < size[s1]:
                s0, s1 = s1, s0
            parent[s1] = s0
            size[s0] += size[s1]
            cint[s0] = cost[e]
    for e in range(cost.shape[0]):
        pa = code[e] >> 2
        s0 = _find(parent, pa)
        s1 = _find(parent, pa - offset[code[e] & 3])
        if s0 == s1:
            continue
        if size[s0] < min_size or size[s1] < min_size:
            if size[s0] < size[s1]:
                s0, s1 = s1, s0
            parent[s1] = s0
            size[s0] += size[s1]
    # number segments in raster order of first appearance (as scikit-image's labels,
    # whose union-find roots are the smallest pixel index of each segment)
    labels = np.empty(npix, np.int64)
    newid = np.full(npix, -1, np.int64)
    nseg = 0
    for p in range(npix):
        r = _find(parent, p)
        if newid[r] < 0:
            newid[r] = nseg
            nseg += 1
        labels[p] = newid[r]
    return labels, nseg


@njit(cache=True)
def _felzenszwalb_merge_sorted(h, w, cost, code, scale, min_size):
    """The labels of :func:`_felzenszwalb_merge` (edges sorted by cost), faster.

    Each component's threshold ``float32(internal difference + scale / size)`` is kept
    in an array and updated when the component grows, not recomputed (two divisions)
    for every edge; the second pass only visits the edges the first one rejected (any
    other edge lies inside a component by then, and components only grow), in the same
    order. The tests hold it to :func:`_felzenszwalb_merge`.
    """
    n = cost.shape[0]
    npix = h * w
    offset = np.array([1, w, w + 1, 1 - w], np.int64)
    parent = np.arange(npix).astype(np.int32)
    size = np.ones(npix, np.int32)
    thr = np.full(npix, np.float32(0.0 + scale / np.int32(1)), np.float32)
    rejected = np.empty(n, code.dtype)
    nrej = 0
    for e in range(n):
        pa = code[e] >> 2
        s0 = _find(parent, pa)
        s1 = _find(parent, pa - offset[code[e] & 3])
        if s0 == s1:
            continue
        if cost[e] < min(thr[s0], thr[s1]):
            if size[s0] < size[s1]:
                s0, s1 = s1, s0
            parent[s1] = s0
            size[s0] += size[s1]
            thr[s0] = np.float32(cost[e] + scale / size[s0])
        else:
            rejected[nrej] = code[e]
            nrej += 1
    for r in range(nrej):
        pa = rejected[r] >> 2
        s0 = _find(parent, pa)
        s1 = _find(parent, pa - offset[rejected[r] & 3])
        if s0 == s1:
            continue
        if size[s0] < min_size or size[s1] < min_size:
            if size[s0] < size[s1]:
                s0, s1 = s1, s0
            parent[s1] = s0
            size[s0] += size[s1]
    return _raster_labels(parent, npix)


@njit(cache=True)
def _raster_labels(parent, npix):
    """Component ids numbered in raster order of first appearance, and their number."""
    labels = np.empty(npix, np.int64)
    newid = np.full(npix, -1, np.int64)
    nseg = 0
    for p in range(npix):
        r = _find(parent, p)
        if newid[r] < 0:
            newid[r] = nseg
            nseg += 1
        labels[p] = newid[r]
    return labels, nseg


def felzenszwalb(image: np.ndarray, scale: float = 1.0, sigma: float = 0.8,
                 min_size: int = 20) -> np.ndarray:
    """Felzenszwalb-Huttenlocher graph segmentation of a single- or multi-channel image.

    Same algorithm and arithmetic as ``skimage.segmentation.felzenszwalb`` [1]_: the image
    is converted to float64 (unsigned integers divided by their maximum), smoothed per
    channel with a Gaussian of ``sigma`` (edges reflected), and segmented on the
    8-connected pixel grid with edge weight = Euclidean distance between the pixels'
    channel vectors; two components merge when the edge is lighter than both internal
    differences plus ``(scale / 255) / size`` (rounded to float32 as scikit-image does);
    afterwards components smaller than ``min_size`` are merged along the lightest edges.
    Edges of equal weight are processed in a fixed order (stable sort; see module notes).

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        Input image (any real or unsigned integer dtype).
    scale : float
        Observation level; larger gives larger segments.
    sigma : float
        Standard deviation of the Gaussian pre-smoothing (0: none).
    min_size : int
        Minimum segment size in pixels, enforced after the main pass.

    Returns
    -------
    labels : (H, W) int64 ndarray
        Segment ids 0..n-1, numbered in raster order of first appearance.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[0] < 1 or img.shape[1] < 1 or img.shape[2] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {np.shape(image)}")
    if img.dtype.kind == "u":
        img = np.multiply(img, 1.0 / np.iinfo(img.dtype).max, dtype=np.float64)
    elif img.dtype.kind in "fb" or img.dtype.kind == "i":
        img = img.astype(np.float64, copy=False)  # read only below: no copy needed
    else:
        raise TypeError(f"unsupported image dtype {img.dtype}")
    if not np.all(np.isfinite(img)):
        raise ValueError("image contains NaN or infinite values")
    if sigma > 1e-15:  # (gaussian_reflect would return a copy)
        img = gaussian_reflect(img, sigma)
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    cost, code = _grid_edges(img)
    if cost.shape[0] < 2 ** 31:
        cost, code = _sort_pairs_f32_prefix(cost, code)
    else:  # pragma: no cover - over 500 million pixels
        cost, code = _radix_sort_pairs(cost, code)
    labels, _ = _felzenszwalb_merge_sorted(h, w, cost, code, float(scale) / 255.0, int(min_size))
    return labels.reshape(h, w)


# the second half of the pipeline (region adjacency graph, normalized cuts) lives in
# labelgen.kernels.normalized_cut; its public functions are importable from here too
from labelgen.kernels.normalized_cut import (  # noqa: E402
    cut_normalized, limit_segments, ncut_labels, rag_mean_features, relabel_raster)
