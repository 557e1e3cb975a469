"""Determinant of the Hessian with box filters on an integral image (the SURF approximation).

This is scikit-image's ``blob_doh`` machinery (``integral_image`` and
``feature._hessian_det_appx._hessian_matrix_det``) as Taskonomy's ``keypoints2d`` used it:
for each scale ``sigma`` the box size is ``size = int(3 * sigma)``, ``s3 = size // 3``,
``s2 = (size - 1) // 2``, and with ``B(r, c, rl, cl)`` the sum of the image over rows
``r+1 .. r+rl`` and columns ``c+1 .. c+cl`` read from the integral image (corners clipped to
the image, negative sums clipped to 0)::

    dxy = -(B(r-s3, c+1) + B(r+1, c-s3) - B(r-s3, c-s3) - B(r+1, c+1)) / size^2   (s3 x s3 boxes)
    dxx = -(B(r-s3+1, c-s2; 2 s3-1, size) - 3 B(r-s3+1, c-s3//2; 2 s3-1, s3)) / size^2
    dyy = -(B(r-s2, c-s3+1; size, 2 s3-1) - 3 B(r-s3//2, c-s3+1; s3, 2 s3-1)) / size^2
    det = dxx * dyy - 0.81 * dxy^2

scikit-image's Cython code of 2015-2021, which made the Taskonomy labels, held ``dxx``,
``dyy`` and ``dxy`` in C ``float`` (float32); its current (Pythran) code uses float64.
``float32_intermediate`` selects between the two; True reproduces the shipped
``keypoints2d`` exactly, False reproduces current scikit-image exactly.

References
----------
.. [1] H. Bay, A. Ess, T. Tuytelaars, L. Van Gool, "SURF: Speeded Up Robust Features",
       CVIU 110(3), 2008.
.. [2] scikit-image, ``skimage.feature.blob_doh``, ``skimage.transform.integral_image``.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _integral(x, out):
    h, w = x.shape
    for j in range(w):
        out[0, j] = np.float64(x[0, j])
    for i in range(1, h):
        for j in range(w):
            out[i, j] = out[i - 1, j] + np.float64(x[i, j])
    for i in range(h):
        for j in range(1, w):
            out[i, j] = out[i, j - 1] + out[i, j]


@njit(cache=True)
def _integral32(x, out):
    h, w = x.shape
    for j in range(w):
        out[0, j] = np.float32(x[0, j])
    for i in range(1, h):
        for j in range(w):
            out[i, j] = np.float32(out[i - 1, j] + np.float32(x[i, j]))
    for i in range(h):
        for j in range(1, w):
            out[i, j] = np.float32(out[i, j - 1] + out[i, j])


def integral_image(image: np.ndarray, dtype="float64") -> np.ndarray:
    """Integral image (cumulative sums along axis 0, then axis 1, as scikit-image), returned
    as float64.

    ``dtype`` is the precision the sums are held in: ``"float64"`` (a float64 grey image, as
    Taskonomy's keypoints2d), or ``"float32"`` (the image rounded to float32 and every partial
    sum rounded to float32, as scikit-image's ``integral_image`` -- ``cumsum`` -- does on a
    float32 image: Omnidata's Replica keypoints2d; its error grows towards the bottom-right).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {image.shape}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if dtype == "float32":
        out32 = np.empty(image.shape, np.float32)
        if image.size:
            _integral32(np.ascontiguousarray(image), out32)
        return out32.astype(np.float64)
    out = np.empty(image.shape, np.float64)
    if image.size:
        _integral(np.ascontiguousarray(image), out)
    return out


@njit(cache=True, inline="always")
def _clip(x, low, high):
    if x > high:
        return high
    if x < low:
        return low
    return x


@njit(cache=True, inline="always")
def _integ(S, r, c, rl, cl):
    h, w = S.shape
    r = _clip(r, 0, h - 1)
    c = _clip(c, 0, w - 1)
    r2 = _clip(r + rl, 0, h - 1)
    c2 = _clip(c + cl, 0, w - 1)
    ans = S[r, c] + S[r2, c2] - S[r, c2] - S[r2, c]
    if ans < 0:
        return 0.0
    return ans


@njit(cache=True)
def _box_row(S, R, C0, rl, cl, out):
    """``out[t] = B(R, C0 + t; rl, cl)`` for every ``t``: box sums from the integral image.

    ``B(r, c; rl, cl) = S[r0, c0] + S[r2, c2] - S[r0, c2] - S[r2, c0]`` (in this order) with
    ``r0, c0`` = ``r, c`` clipped to the image and ``r2, c2`` = ``r0 + rl, c0 + cl`` clipped,
    and 0 if negative: scikit-image's ``_integ``. Columns that need no clipping run in a
    branch-free loop.
    """
    h, w = S.shape
    n = out.shape[0]
    r0 = _clip(R, 0, h - 1)
    r2 = _clip(r0 + rl, 0, h - 1)
    A = S[r0]
    B = S[r2]
    t_lo = min(max(0, -C0), n)
    t_hi = min(n - 1, w - 1 - cl - C0)
    for t in range(0, t_lo):
        out[t] = _integ(S, R, C0 + t, rl, cl)
    if t_hi >= t_lo:
        m = t_hi - t_lo + 1
        a0 = A[C0 + t_lo:C0 + t_lo + m]
        a2 = A[C0 + t_lo + cl:C0 + t_lo + cl + m]
        b0 = B[C0 + t_lo:C0 + t_lo + m]
        b2 = B[C0 + t_lo + cl:C0 + t_lo + cl + m]
        o = out[t_lo:t_lo + m]
        for u in range(m):
            ans = a0[u] + b2[u] - a2[u] - b0[u]
            o[u] = 0.0 if ans < 0 else ans
    for t in range(max(t_hi + 1, t_lo), n):
        out[t] = _integ(S, R, C0 + t, rl, cl)


@njit(cache=True)
def _det_scale(S, size, f32, out, use_max):
    """Determinant at box size ``size`` for every pixel into ``out`` (or its max with it).

    Row by row, the eight box sums of every column are computed as rows of box sums (the
    four ``s3 x s3`` boxes of ``dxy`` come from two rows of one box size, shifted), then
    combined in one vectorisable loop, with the same operations in the same order and
    precision as scikit-image's loop body.
    """
    h, w = S.shape
    s2 = (size - 1) // 2
    s3 = size // 3
    w_i = 1.0 / size / size
    # rows of s3 x s3 box sums B(R, t - s3; s3, s3): row r needs R = r - s3 (top) and
    # R = r + 1 (bottom); the top row of r is the bottom row of r - s3 - 1, kept in a ring
    nring = s3 + 2
    ring = np.empty((nring, w + s3 + 1), np.float64)
    mid_x = np.empty(w, np.float64)
    side_x = np.empty(w, np.float64)
    mid_y = np.empty(w, np.float64)
    side_y = np.empty(w, np.float64)
    for r in range(h):
        q_bot = ring[r % nring]
        _box_row(S, r + 1, -s3, s3, s3, q_bot)
        if r >= s3 + 1:
            q_top = ring[(r - s3 - 1) % nring]
        else:
            q_top = ring[(r + 1) % nring]  # a slot not in use yet
            _box_row(S, r - s3, -s3, s3, s3, q_top)
        _box_row(S, r - s3 + 1, -s2, 2 * s3 - 1, size, mid_x)
        _box_row(S, r - s3 + 1, -(s3 // 2), 2 * s3 - 1, s3, side_x)
        _box_row(S, r - s2, -s3 + 1, size, 2 * s3 - 1, mid_y)
        _box_row(S, r - s3 // 2, -s3 + 1, s3, 2 * s3 - 1, side_y)
        tl = q_top[:w]
        bl = q_top[s3 + 1:s3 + 1 + w]
        tr = q_bot[:w]
        br = q_bot[s3 + 1:s3 + 1 + w]
        orow = out[r]
        if f32:
            for c in range(w):
                dxy = np.float32(bl[c] + tr[c] - tl[c] - br[c])
                dxy = np.float32(-np.float64(dxy) * w_i)
                dxx = np.float32(mid_x[c] - 3 * side_x[c])
                dxx = np.float32(-np.float64(dxx) * w_i)
                dyy = np.float32(mid_y[c] - 3 * side_y[c])
                dyy = np.float32(-np.float64(dyy) * w_i)
                v = np.float64(dxx * dyy) - 0.81 * np.float64(dxy * dxy)
                if not use_max or v > orow[c]:
                    orow[c] = v
        else:
            for c in range(w):
                dxy = -(bl[c] + tr[c] - tl[c] - br[c]) * w_i
                dxx = -(mid_x[c] - 3 * side_x[c]) * w_i
                dyy = -(mid_y[c] - 3 * side_y[c]) * w_i
                v = dxx * dyy - 0.81 * (dxy * dxy)
                if not use_max or v > orow[c]:
                    orow[c] = v


def hessian_det(integral: np.ndarray, sigma: float, float32_intermediate: bool = True) -> np.ndarray:
    """Approximate determinant of the Hessian at scale ``sigma`` of an integral image.

    Parameters
    ----------
    integral : (H, W) float64 array
        Integral image (see :func:`integral_image`).
    sigma : float
        Scale; the boxes are ``int(3 * sigma)`` pixels wide (``sigma`` >= 1).
    float32_intermediate : bool, optional
        Hold ``dxx``, ``dyy``, ``dxy`` in float32 as the scikit-image of 2015-2021 did
        (True, default: reproduces Taskonomy), or in float64 as current scikit-image.

    Returns
    -------
    (H, W) float64 array
    """
    S = np.ascontiguousarray(integral, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"integral image must be 2D, got shape {S.shape}")
    size = int(3 * sigma)
    if size < 3:
        raise ValueError(f"sigma must be at least 1 (box size int(3 * sigma) >= 3), got {sigma}")
    out = np.empty(S.shape, np.float64)
    if S.size:
        _det_scale(S, size, bool(float32_intermediate), out, False)
    return out


def hessian_det_max(image: np.ndarray, sigmas, float32_intermediate: bool = True,
                    integral_dtype: str = "float64") -> np.ndarray:
    """Per-pixel maximum over ``sigmas`` of :func:`hessian_det` of ``image``'s integral image.

    This is Taskonomy's ``keypoints2d`` before encoding (``blob_doh`` before non-maximum
    suppression; Taskonomy: ``sigmas = np.linspace(1, 30, 10)``).

    Parameters
    ----------
    image : (H, W) array
        Grey image (converted to float64 for the integral image).
    sigmas : sequence of float
        Scales, each >= 1.
    float32_intermediate : bool, optional
        See :func:`hessian_det`.
    integral_dtype : {"float64", "float32"}, optional
        Precision of the integral image (see :func:`integral_image`).

    Returns
    -------
    (H, W) float64 array
    """
    sigmas = [float(s) for s in np.atleast_1d(sigmas)]
    if not sigmas:
        raise ValueError("need at least one sigma")
    sizes = [int(3 * s) for s in sigmas]
    if min(sizes) < 3:
        raise ValueError(f"every sigma must be at least 1, got {min(sigmas)}")
    S = integral_image(image, integral_dtype)
    out = np.empty(S.shape, np.float64)
    if S.size:
        for k, size in enumerate(sizes):
            _det_scale(S, size, bool(float32_intermediate), out, k > 0)
    return out
