"""Gaussian smoothing with a validity mask and border renormalisation.

:func:`gaussian_masked` reproduces, bit for bit, what Taskonomy's edge and segmentation
scripts computed with scikit-image's ``smooth_with_function_and_mask`` around
``scipy.ndimage.gaussian_filter(x, sigma, mode='constant')``:

1. pixels outside the mask are set to 0 (and the image is zero-padded outside its border);
2. the image is convolved with a separable Gaussian (rows first, then columns, each pass
   accumulated in float64 in scipy's order and stored in the image's dtype, so a float32 image
   is rounded to float32 after each pass, exactly as scipy does);
3. the result is divided by the equally smoothed float64 mask plus float64 machine epsilon
   (``2.22e-16``, as scikit-image adds), which undoes the darkening near the border and near
   masked pixels; where the smoothed mask is 0 the result is 0.

The Gaussian is truncated at ``radius = int(truncate * sigma + 0.5)`` pixels with
``truncate = 4.0`` by default (scipy's and scikit-image's default, which reproduces the
shipped ``edge_texture``: sigma 3 gives a 25-tap kernel). Its weights are scipy's:
``exp(-x^2 / (2 sigma^2))`` normalised to sum 1.

References
----------
.. [1] scikit-image, ``skimage.feature._canny.smooth_with_function_and_mask``.
.. [2] scipy, ``scipy.ndimage.gaussian_filter`` / ``correlate1d``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Added to the smoothed mask before dividing (float64 machine epsilon, as scikit-image does).
EPS = float(np.finfo(np.float64).eps)


def gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The 1D Gaussian kernel scipy uses: ``2 * int(truncate * sigma + 0.5) + 1`` float64 taps."""
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    return phi / phi.sum()


@njit(cache=True)
def _rows_pass_at(src, mask, use_mask, w, i, acc):
    """Row ``i`` of the correlation of ``src`` (times ``mask`` if ``use_mask``) with ``w``
    along axis 0, zero padding, into the float64 row ``acc``.

    Per pixel: ``x[i] * w[r] + sum_{k=r..1} (x[i-k] + x[i+k]) * w[r-k]`` in float64, in this
    order (scipy's loop for symmetric kernels); values outside the image or the mask are 0.
    ``src`` may be float32, float64 or bool (then it is its own 0/1 image).
    """
    h, wd = src.shape
    r = (w.shape[0] - 1) // 2
    w0 = w[r]
    if use_mask:
        for j in range(wd):
            acc[j] = (np.float64(src[i, j]) if mask[i, j] else 0.0) * w0
    else:
        for j in range(wd):
            acc[j] = np.float64(src[i, j]) * w0
    for k in range(r, 0, -1):
        wk = w[r - k]
        lo = i - k
        hi = i + k
        if lo >= 0 and hi < h:
            if use_mask:
                for j in range(wd):
                    a = np.float64(src[lo, j]) if mask[lo, j] else 0.0
                    b = np.float64(src[hi, j]) if mask[hi, j] else 0.0
                    acc[j] += (a + b) * wk
            else:
                for j in range(wd):
                    acc[j] += (np.float64(src[lo, j]) + np.float64(src[hi, j])) * wk
        elif lo >= 0 or hi < h:
            q = lo if lo >= 0 else hi
            if use_mask:
                for j in range(wd):
                    acc[j] += (np.float64(src[q, j]) if mask[q, j] else 0.0) * wk
            else:
                for j in range(wd):
                    acc[j] += np.float64(src[q, j]) * wk
        else:
            for j in range(wd):
                acc[j] += 0.0


@njit(cache=True)
def _cols_pass(buf, w, acc):
    """Correlate one row with ``w`` along axis 1 into ``acc``.

    The row sits in ``buf[r:r + W]`` with ``r`` zeros on each side (zero padding); the sums
    are in scipy's order, as in :func:`_rows_pass_at`.
    """
    r = (w.shape[0] - 1) // 2
    wd = acc.shape[0]
    w0 = w[r]
    mid = buf[r:r + wd]
    for j in range(wd):
        acc[j] = mid[j] * w0
    for k in range(r, 0, -1):
        wk = w[r - k]
        left = buf[r - k:r - k + wd]
        right = buf[r + k:r + k + wd]
        for j in range(wd):
            acc[j] += (left[j] + right[j]) * wk


@njit(cache=True)
def _ring_rows_pass(ring, h, w, i, acc):
    """Row ``i`` of the axis-0 correlation with ``w`` of an image whose row ``q`` is
    ``ring[q % len(ring)]`` (the image itself, or a ring of its last rows), zero padding.

    The same sums in the same order as :func:`_rows_pass_at`.
    """
    nr = ring.shape[0]
    wd = acc.shape[0]
    r = (w.shape[0] - 1) // 2
    w0 = w[r]
    mid = ring[i % nr]
    for j in range(wd):
        acc[j] = np.float64(mid[j]) * w0
    for k in range(r, 0, -1):
        wk = w[r - k]
        lo = i - k
        hi = i + k
        if lo >= 0 and hi < h:
            a = ring[lo % nr]
            b = ring[hi % nr]
            for j in range(wd):
                acc[j] += (np.float64(a[j]) + np.float64(b[j])) * wk
        elif lo >= 0 or hi < h:
            a = ring[(lo if lo >= 0 else hi) % nr]
            for j in range(wd):
                acc[j] += np.float64(a[j]) * wk
        else:
            for j in range(wd):
                acc[j] += 0.0


@njit(cache=True)
def _smooth_masked(img, mask, use_mask, w, scale, as32, out):
    """Masked, renormalised smoothing of each channel of (H, W, C) ``img``, times ``scale``,
    into the float64 (H, W, C) ``out`` (which may be a view into a larger array).

    ``img`` is float64; with ``as32`` it holds a float32 image's values (exactly) and the
    axis-0 pass result and the smoothed image are rounded to float32, as scipy stores them
    for a float32 image (one compiled version serves both dtypes, bit for bit). The smoothed mask is float64 and the same for
    every channel, so it is computed once per row. Rows are processed one at a time
    (axis-0 pass for row i, then its axis-1 pass), so only row-sized temporaries are
    needed; the rows ``i - r .. i + r`` of each channel, masked, are kept in a ring.
    """
    h, wd, nc = img.shape
    r = (w.shape[0] - 1) // 2
    buf = np.zeros(wd + 2 * r, np.float64)
    acc = np.empty(wd, np.float64)
    row = np.empty(wd, img.dtype)
    # The smoothed all-ones image: after the axis-0 pass row i is the constant c[i] (the
    # 1D smoothing of ones(H)); its axis-1 pass depends only on c[i] and is computed once
    # per distinct value (all interior rows share one).
    ones = np.ones((h, 1), np.bool_)
    c = np.empty(1, np.float64)
    denom = np.empty(wd, np.float64)
    last = np.nan
    # The smoothed mask equals the smoothed all-ones image wherever the kernel window holds
    # no masked pixel (same sums, same order), so only pixels near masked ones are summed.
    nr = 2 * r + 1
    ring = np.zeros((nc, nr, wd), img.dtype)  # rows i - r .. i + r of each channel, masked
    holes = np.zeros(h, np.int64)        # masked-out pixels per row
    colcnt = np.zeros(wd, np.int64)      # mask pixels in rows [i - r, i + r] per column
    full0 = np.empty(wd, np.bool_)       # axis-0 window of (i, j) entirely in the mask
    rowcnt = np.zeros(wd + 1, np.int64)
    mrow = np.empty(wd, np.float64)      # axis-0 pass of the mask, row i
    msm = np.empty(wd, np.float64)       # smoothed mask, row i
    idx = np.empty(wd, np.int64)
    part = np.empty(wd, np.float64)
    window_holes = 0                     # masked-out pixels in rows [i - r, i + r]
    if use_mask:
        for q in range(h):
            n = 0
            for j in range(wd):
                n += 0 if mask[q, j] else 1
            holes[q] = n
    for q in range(0, min(r, h - 1) + 1):
        _ring_add(img, mask, use_mask, q, ring, q % nr, colcnt)
        window_holes += holes[q]
    for i in range(h):
        _rows_pass_at(ones, ones, False, w, i, c)
        if not (c[0] == last):
            last = c[0]
            for j in range(wd):
                buf[j + r] = last
            _cols_pass(buf, w, denom)
        if i > 0:
            q = i + r
            if q < h:
                _ring_add(img, mask, use_mask, q, ring, q % nr, colcnt)
                window_holes += holes[q]
            q = i - r - 1
            if q >= 0 and use_mask:
                window_holes -= holes[q]
                for j in range(wd):
                    colcnt[j] -= 1 if mask[q, j] else 0
        if window_holes == 0:
            for j in range(wd):
                msm[j] = denom[j]
        else:
            _masked_denominator(mask, w, i, colcnt, last, denom, buf, full0, rowcnt, mrow, msm,
                                idx, part)
        for ch in range(nc):
            _ring_rows_pass(ring[ch], h, w, i, acc)
            # the image: axis-0 pass of row i, rounded to the image dtype, then axis 1
            _store_row(acc, as32, row)
            for j in range(wd):
                buf[j + r] = row[j]
            _cols_pass(buf, w, acc)
            _store_row(acc, as32, row)
            for j in range(wd):
                out[i, j, ch] = np.float64(row[j]) / (msm[j] + EPS) * scale


@njit(cache=True)
def _store_row(acc, as32, row):
    """``row = acc``, rounded to float32 (and held as float64) when ``as32``."""
    if as32:
        for j in range(acc.shape[0]):
            row[j] = np.float32(acc[j])
    else:
        for j in range(acc.shape[0]):
            row[j] = acc[j]


@njit(cache=True)
def _ring_add(img, mask, use_mask, q, ring, slot, colcnt):
    """Row ``q`` of every channel ``c`` of ``img``, 0 outside the mask, into
    ``ring[c, slot]``; counts the row's mask pixels into ``colcnt`` (when ``use_mask``)."""
    wd = img.shape[1]
    if use_mask:
        for j in range(wd):
            colcnt[j] += 1 if mask[q, j] else 0
    for ch in range(img.shape[2]):
        d = ring[ch, slot]
        if use_mask:
            for j in range(wd):
                d[j] = img[q, j, ch] if mask[q, j] else 0.0
        else:
            for j in range(wd):
                d[j] = img[q, j, ch]


@njit(cache=True)
def _masked_denominator(mask, w, i, colcnt, c_i, denom, buf, full0, rowcnt, mrow, msm, idx, part):
    """Row ``i`` of the smoothed float64 mask into ``msm``.

    ``colcnt`` counts the mask pixels of rows ``i - r .. i + r`` per column, ``c_i`` is row
    ``i`` of the axis-0 pass of an all-ones image and ``denom`` the smoothed all-ones row.
    Pixels whose windows hold no masked pixel take those values (the same sums in the same
    order); the others are summed (as a whole row when they are many). ``buf``, ``full0``,
    ``rowcnt``, ``idx``, ``part`` are scratch rows.
    """
    h, wd = mask.shape
    r = (w.shape[0] - 1) // 2
    n = min(i + r, h - 1) - max(i - r, 0) + 1
    m = 0
    for j in range(wd):
        f = colcnt[j] == n
        full0[j] = f
        if not f:
            idx[m] = j
            m += 1
    if 8 * m > wd:  # many pixels near masked ones: the whole row
        _rows_pass_at(mask, mask, False, w, i, mrow)
    else:
        for j in range(wd):
            mrow[j] = c_i
        for t in range(m):
            part[t] = (1.0 if mask[i, idx[t]] else 0.0) * w[r]
        for k in range(r, 0, -1):
            wk = w[r - k]
            lo = i - k
            hi = i + k
            for t in range(m):
                x1 = 1.0 if (lo >= 0 and mask[lo, idx[t]]) else 0.0
                x2 = 1.0 if (hi < h and mask[hi, idx[t]]) else 0.0
                part[t] += (x1 + x2) * wk
        for t in range(m):
            mrow[idx[t]] = part[t]
    for j in range(wd):
        rowcnt[j + 1] = rowcnt[j] + (1 if full0[j] else 0)
    m = 0
    for j in range(wd):
        lo = max(j - r, 0)
        hi = min(j + r, wd - 1)
        if rowcnt[hi + 1] - rowcnt[lo] != hi - lo + 1:
            idx[m] = j
            m += 1
    if 8 * m > wd:
        for j in range(wd):
            buf[j + r] = mrow[j]
        _cols_pass(buf, w, msm)
    else:
        for j in range(wd):
            msm[j] = denom[j]
        for t in range(m):
            part[t] = mrow[idx[t]] * w[r]
        for k in range(r, 0, -1):
            wk = w[r - k]
            for t in range(m):
                j = idx[t]
                x1 = mrow[j - k] if j - k >= 0 else 0.0
                x2 = mrow[j + k] if j + k < wd else 0.0
                part[t] += (x1 + x2) * wk
        for t in range(m):
            msm[idx[t]] = part[t]


def gaussian_masked(image: np.ndarray, mask: np.ndarray | None, sigma: float,
                    truncate: float = 4.0, *, scale: float = 1.0,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing restricted to ``mask``, renormalised at borders and mask edges.

    Parameters
    ----------
    image : (H, W) or (H, W, C) float32 or float64 array
        The image; other dtypes are converted to float64. Channels are smoothed
        independently (no smoothing across the channel axis); the smoothed mask, the same
        for all, is computed once.
    mask : (H, W) bool array or None
        Pixels that count; ``None`` means every pixel. Pixels outside the mask (and outside
        the image) count as 0 in the numerator and the denominator.
    sigma : float
        Standard deviation of the Gaussian in pixels (Taskonomy: 3.0 for ``edge_texture``).
    truncate : float, optional
        The kernel radius is ``int(truncate * sigma + 0.5)`` (default 4.0, as scipy).
    scale : float, optional
        The result is multiplied by this (default 1.0), as ``result * scale`` would.
    out : float64 array of the image's shape, optional
        Written with the (scaled) result and returned; may be a view into a larger array
        (e.g. some channels of a feature image). Default: a new array.

    Returns
    -------
    (H, W) or (H, W, C) float64 array
        ``G * (image * mask) / (G * mask + eps)`` with ``eps`` = float64 machine epsilon;
        0 where the smoothed mask is 0. Identical to
        ``skimage.feature._canny.smooth_with_function_and_mask(image,
        lambda x: scipy.ndimage.gaussian_filter(x, sigma, mode='constant', truncate=truncate),
        mask)`` (per channel).
    """
    image = np.asarray(image)
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if mask is None:
        use_mask = False
        m = np.ones((1, 1), np.bool_)
    else:
        m = np.ascontiguousarray(np.asarray(mask, dtype=np.bool_))
        if m.shape != image.shape[:2]:
            raise ValueError(f"mask shape {m.shape} does not match image shape {image.shape[:2]}")
        use_mask = True
    if out is None:
        out = np.empty(image.shape, np.float64)
    elif out.shape != image.shape or out.dtype != np.float64:
        raise ValueError(f"out must be float64 of shape {image.shape}, got {out.dtype} {out.shape}")
    w = gaussian_weights(sigma, truncate)
    # float32 images as float64 (exact) with float32 rounding inside: one compiled version
    as32 = image.dtype == np.float32
    img3 = np.ascontiguousarray(image if image.ndim == 3 else image[:, :, None], dtype=np.float64)
    _smooth_masked(img3, m, use_mask, w, float(scale), bool(as32), out if out.ndim == 3 else out[:, :, None])
    return out
