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
from labelgen.kernels.radix import radix_sort_counted

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
def _find(parent, n):
    """Root of n, halving the path on the way (any union-find gives the same partition)."""
    while parent[n] != n:
        parent[n] = parent[parent[n]]
        n = parent[n]
    return n


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
    return _raster_labels(parent, npix)


# -- Felzenszwalb, fast path: edges in float32-key buckets, no full sort -----------------
#
# The merge needs the edges in the order of a stable sort by cost, but a full sort of the
# ~4 H W edges (memory bound) is not needed to feed it that order. The edges are grouped by
# the high bits of their cost's float32 rounding (one counting pass and one scatter pass;
# rounding is monotone, so the groups are in cost order) and the merge walks the groups in
# order. The edges of a group are sorted in cache: first those already inside a component
# are dropped (a cheap test, equal parents or grandparents; an edge inside a component
# changes nothing in either pass, components only grow, so its place in the order does not
# matter), the others are sorted by the remaining float32 bits, then each run of equal
# float32 keys by the float64 cost; ties keep the edge order. Same merges in the same order
# as the plain loop over the stably sorted edges (:func:`_felzenszwalb_merge`), which the
# tests hold it to.

#: float32-key bits sorted inside a bucket (the buckets are the key's higher bits)
_BUCKET_SHIFT = 18
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True)
def _kind_rows(kind, h, w):
    """Rows, columns and first-pixel offset (row, column) of the edges of one kind (see
    :func:`_grid_edges`): edge (r, c) of the kind has first pixel (r + dr, c + dc) and second
    pixel first - (1, W, W + 1, 1 - W)[kind]."""
    if kind == 0:
        return h, w - 1, 0, 1
    if kind == 1:
        return h - 1, w, 1, 0
    if kind == 2:
        return h - 1, w - 1, 1, 1
    return h - 1, w - 1, 0, 1


@njit(cache=True)
def _edge_costs(img, shift):
    """The costs of :func:`_grid_edges` at ``kind * H * W + first pixel`` of a 4 H W array
    (an order-preserving relabelling of the edges; positions that are no edge are unset),
    and the bounds of the buckets of :func:`_edge_buckets` with the largest bucket's size.

    Each cost is summed over the channels in order from 0.0, as ``_grid_edges`` does, but
    a row of edges at a time from the image split into channel planes.
    """
    h, w, c = img.shape
    npix = h * w
    planes = np.empty((c, h, w))
    for r in range(h):
        for cc in range(w):
            for ch in range(c):
                planes[ch, r, cc] = img[r, cc, ch]
    costp = np.empty(4 * npix)
    nbin = (1 << (32 - shift)) + 1
    start = np.zeros(nbin + 1, np.int64)
    ush = np.uint32(shift)
    for kind in range(4):
        r1, c1, dr, dc = _kind_rows(kind, h, w)
        dr1 = 1 if kind == 3 else 0  # second pixel: (r + dr1, c)
        for r in range(r1):
            base = kind * npix + (r + dr) * w + dc
            acc = costp[base:base + c1]
            for ch in range(c):
                pa = planes[ch, r + dr, dc:dc + c1]
                pb = planes[ch, r + dr1, 0:c1]
                if ch == 0:
                    for cc in range(c1):
                        d = pa[cc] - pb[cc]
                        acc[cc] = d * d
                else:
                    for cc in range(c1):
                        d = pa[cc] - pb[cc]
                        acc[cc] += d * d
            for cc in range(c1):
                acc[cc] = np.sqrt(acc[cc])
            for cc in range(c1):
                x = acc[cc]
                if x == 0.0:
                    start[1] += 1
                else:
                    start[(np.float32(x).view(np.uint32) >> ush) + 2] += 1
    largest = 0
    for b in range(nbin):
        largest = max(largest, start[b + 1])
        start[b + 1] += start[b]
    return costp, start, largest


@njit(cache=True)
def _edge_buckets(costp, h, w, shift, start):
    """The edges (as ``float32 key << 32 | position`` in ``costp``) grouped by cost: bucket 0
    the exact zeros, bucket b + 1 the others whose float32 key >> shift is b, each bucket in
    edge order (``start``: the bucket bounds from :func:`_edge_costs`)."""
    npix = h * w
    ush = np.uint32(shift)
    pos = start.copy()
    out = np.empty(start[-1], np.uint64)
    for kind in range(4):
        r1, c1, dr, dc = _kind_rows(kind, h, w)
        for r in range(r1):
            base = kind * npix + (r + dr) * w + dc
            for p in range(base, base + c1):
                x = costp[p]
                if x == 0.0:
                    b = 0
                    k = np.uint32(0)
                else:
                    k = np.float32(x).view(np.uint32)
                    b = (k >> ush) + 1
                q = pos[b]
                pos[b] = q + 1
                out[q] = (np.uint64(k) << np.uint64(32)) | np.uint64(p)
    return out


@njit(cache=True)
def _sort_by_value(v, x, n, tmp, cnt):
    """Sort ``v[:n]`` (``key << 32 | position``, positions ascending) and ``x[:n]`` (their
    float64 costs, all with the same float32 key) by cost, stably.

    LSD radix sort of the cost's bit pattern less the smallest one (three 11-bit digits;
    positions < 2**31) when the patterns span less than 2**33 (always, except for float32
    keys 0 and infinity); a merge sort (:func:`_merge_sort_pairs`) otherwise. ``tmp``: scratch, ``n`` long; ``cnt``:
    (3, 2049).
    """
    bits = x[:n].view(np.uint64)
    lo = bits[0]
    hi = bits[0]
    for t in range(1, n):
        lo = min(lo, bits[t])
        hi = max(hi, bits[t])
    if hi - lo >= np.uint64(1 << 33):
        _merge_sort_pairs(x, v, n)
        return
    key = v[0] >> np.uint64(32) << np.uint64(32)
    for q in range(3):
        for d in range(2049):
            cnt[q, d] = 0
    dmask = np.uint64(2047)
    for t in range(n):
        d = bits[t] - lo
        v[t] = (d << np.uint64(31)) | (v[t] & _LOW32)
        cnt[0, (d & dmask) + 1] += 1
        cnt[1, ((d >> np.uint64(11)) & dmask) + 1] += 1
        cnt[2, (d >> np.uint64(22)) + 1] += 1
    radix_sort_counted(v, n, tmp, np.int64(31), np.int64(11), np.int64(3), cnt)
    low31 = np.uint64(0x7FFFFFFF)
    for t in range(n):
        bits[t] = (v[t] >> np.uint64(31)) + lo
        v[t] = key | (v[t] & low31)


@njit(cache=True)
def _merge_sort_pairs(x, v, n):
    """Stable bottom-up merge sort of ``x[:n]`` (float64, no NaN) carrying ``v[:n]``."""
    xa = x
    va = v
    xb = np.empty(n)
    vb = np.empty(n, np.uint64)
    width = 1
    moved = False  # the values are in xb, vb
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            for t in range(lo, hi):
                if j >= hi or (i < mid and xa[i] <= xa[j]):
                    xb[t] = xa[i]
                    vb[t] = va[i]
                    i += 1
                else:
                    xb[t] = xa[j]
                    vb[t] = va[j]
                    j += 1
        xa, xb = xb, xa
        va, vb = vb, va
        width *= 2
        moved = not moved
    if moved:
        for t in range(n):
            x[t] = xa[t]
            v[t] = va[t]


@njit(cache=True)
def _endpoints(p, npix, offset):
    """The two pixels of the edge at position ``p`` of :func:`_edge_costs`'s layout."""
    kind = np.int64(p >= npix) + np.int64(p >= 2 * npix) + np.int64(p >= 3 * npix)
    a = p - kind * npix
    return a, a - offset[kind]


@njit(cache=True)
def _merge_edge(parent, size, thr, a, b, x, scale):
    """One step of the first pass for edge (a, b) of cost x: -1 inside a component, 1
    merged, 0 rejected (the threshold of each component kept in ``thr``)."""
    s0 = _find(parent, a)
    s1 = _find(parent, b)
    if s0 == s1:
        return -1
    if x < min(thr[s0], thr[s1]):
        if size[s0] < size[s1]:
            s0, s1 = s1, s0
        parent[s1] = s0
        size[s0] += size[s1]
        thr[s0] = np.float32(x + scale / size[s0])
        return 1
    return 0


@njit(cache=True)
def _felzenszwalb_buckets(h, w, costp, grouped, start, largest, scale, min_size, shift):
    """The labels of :func:`_felzenszwalb_merge` from the bucketed edges of
    :func:`_edge_buckets` (see the notes above :data:`_BUCKET_SHIFT`)."""
    npix = h * w
    offset = np.array([1, w, w + 1, 1 - w], np.int64)
    # 32-bit parents and sizes (fewer cache misses; callers keep 4 npix < 2**31)
    parent = np.empty(npix, np.int32)
    for i in range(npix):
        parent[i] = i
    size = np.ones(npix, np.int32)
    # each component's threshold float32(internal difference + scale / size), kept up to date
    thr = np.full(npix, np.float32(0.0 + scale / np.int32(1)), np.float32)
    rejected = np.empty(grouped.shape[0], np.int32)
    nrej = 0
    for i in range(start[1]):  # exact zeros, in edge order
        p = np.int64(grouped[i] & _LOW32)
        a, b = _endpoints(p, npix, offset)
        if _merge_edge(parent, size, thr, a, b, 0.0, scale) == 0:
            rejected[nrej] = p
            nrej += 1
    surv = np.empty(largest, np.uint64)
    run = np.empty(largest, np.uint64)
    tmp = np.empty(largest, np.uint64)
    xs = np.empty(largest)
    cnt = np.empty((3, 2049), np.int64)
    # the survivors of a bucket are sorted by the low 2 * dbits >= shift bits of their key
    dbits = (shift + 1) // 2
    dn = 1 << dbits
    dmask = np.uint64(dn - 1)
    sh0 = np.uint64(32)
    sh1 = np.uint64(32 + dbits)
    for bkt in range(1, start.shape[0] - 1):
        lo = start[bkt]
        hi = start[bkt + 1]
        # the bucket's edges less most of those already inside a component (a cheap test:
        # equal parents or grandparents; the merge skips any other internal edge)
        for d in range(dn + 1):
            cnt[0, d] = 0
            cnt[1, d] = 0
        k = 0
        for i in range(lo, hi):
            v = grouped[i]
            a, b = _endpoints(np.int64(v & _LOW32), npix, offset)
            pa = parent[a]
            pb = parent[b]
            if pa != pb and parent[pa] != parent[pb]:
                surv[k] = v
                k += 1
                cnt[0, ((v >> sh0) & dmask) + 1] += 1
                cnt[1, ((v >> sh1) & dmask) + 1] += 1
        if k == 0:
            continue
        # by float32 key (then position: the values are distinct)
        if k <= 32:
            for i in range(1, k):
                v = surv[i]
                j = i - 1
                while j >= 0 and surv[j] > v:
                    surv[j + 1] = surv[j]
                    j -= 1
                surv[j + 1] = v
        else:
            radix_sort_counted(surv, np.int64(k), tmp, np.int64(32), dbits, np.int64(2), cnt)
        i = 0
        while i < k:
            key = surv[i] >> np.uint64(32)
            j = i + 1
            while j < k and (surv[j] >> np.uint64(32)) == key:
                j += 1
            if j - i == 1:
                n = 1
                run[0] = surv[i]
                xs[0] = costp[np.int64(surv[i] & _LOW32)]
            else:
                # a run of equal float32 keys: by float64 cost (stable)
                n = j - i
                for u in range(n):
                    v = surv[i + u]
                    run[u] = v
                    xs[u] = costp[np.int64(v & _LOW32)]
                if n > 32:
                    for u in range(1, n):
                        if xs[u] < xs[u - 1]:
                            _sort_by_value(run, xs, n, tmp, cnt)
                            break
                else:
                    for u in range(1, n):
                        xv = xs[u]
                        if xs[u - 1] <= xv:
                            continue
                        vv = run[u]
                        t = u - 1
                        while t >= 0 and xs[t] > xv:
                            xs[t + 1] = xs[t]
                            run[t + 1] = run[t]
                            t -= 1
                        xs[t + 1] = xv
                        run[t + 1] = vv
            for u in range(n):
                p = np.int64(run[u] & _LOW32)
                a, b = _endpoints(p, npix, offset)
                if _merge_edge(parent, size, thr, a, b, xs[u], scale) == 0:
                    rejected[nrej] = p
                    nrej += 1
            i = j
    # second pass: only the edges the first one rejected can join two components
    for r in range(nrej):
        a, b = _endpoints(np.int64(rejected[r]), npix, offset)
        s0 = _find(parent, a)
        s1 = _find(parent, b)
        if s0 == s1:
            continue
        if size[s0] < min_size or size[s1] < min_size:
            if size[s0] < size[s1]:
                s0, s1 = s1, s0
            parent[s1] = s0
            size[s0] += size[s1]
    return _raster_labels(parent, npix)


def _felzenszwalb_fast(img, scale, min_size):
    """Labels and segment count of the merge on the (H, W, C) float64 image ``img``
    (contiguous), by the bucketed path (images under 2**29 pixels)."""
    h, w = img.shape[:2]
    costp, start, largest = _edge_costs(img, _BUCKET_SHIFT)
    grouped = _edge_buckets(costp, h, w, _BUCKET_SHIFT, start)
    return _felzenszwalb_buckets(h, w, costp, grouped, start, largest, float(scale), int(min_size),
                                 _BUCKET_SHIFT)


def _felzenszwalb_plain(img, scale, min_size):
    """The same by the plain loop over the stably sorted edges (the reference; any size)."""
    h, w = img.shape[:2]
    cost, code = _grid_edges(img)
    order = np.argsort(cost, kind="stable")
    return _felzenszwalb_merge(h, w, cost[order], code[order], float(scale), int(min_size))


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
    if 4 * h * w < 2 ** 31:
        labels, _ = _felzenszwalb_fast(img, float(scale) / 255.0, min_size)
    else:  # pragma: no cover - over 500 million pixels
        labels, _ = _felzenszwalb_plain(img, float(scale) / 255.0, min_size)
    return labels.reshape(h, w)


# the second half of the pipeline (region adjacency graph, normalized cuts) lives in
# labelgen.kernels.normalized_cut; its public functions are importable from here too
from labelgen.kernels.normalized_cut import (  # noqa: E402
    cut_normalized, limit_segments, ncut_labels, rag_mean_features, relabel_raster)
