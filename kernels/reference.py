"""Slow, obviously-correct references for the kernels (numpy / scipy / scikit-image).

Tests hold the Numba kernels in :mod:`labelgen.kernels.filters`, :mod:`~labelgen.kernels.edges`,
:mod:`~labelgen.kernels.hessian` and :mod:`~labelgen.kernels.texture` against these, and ``benchmarks/bench_image_kernels.py`` times them
side by side. Each one is written the way the original Taskonomy scripts computed the label
(scikit-image of 2017 on top of scipy.ndimage), so that agreement means bit-exactness.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: scikit-image's Sobel kernels (``HSOBEL_WEIGHTS``, ``VSOBEL_WEIGHTS``), used with
#: ``scipy.ndimage.convolve``.
HSOBEL = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) / 4.0
VSOBEL = HSOBEL.T


def gaussian_masked_ref(image, mask, sigma, truncate=4.0):
    """scikit-image's ``smooth_with_function_and_mask`` around ``ndi.gaussian_filter``.

    ``image`` (H, W) or (H, W, C) float32/float64; channels are smoothed independently.
    """
    image = np.asarray(image)
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    if mask is None:
        mask = np.ones(image.shape[:2], bool)
    sig = (sigma, sigma) + (0,) * (image.ndim - 2)

    def fsmooth(x, s):
        return ndi.gaussian_filter(x, s, mode="constant", truncate=truncate)

    bleed_over = fsmooth(mask.astype(float), (sigma, sigma))
    masked_image = np.zeros(image.shape, image.dtype)
    masked_image[mask] = image[mask]
    smoothed = fsmooth(masked_image, sig)
    if image.ndim == 3:
        bleed_over = bleed_over[:, :, None]
    return smoothed / (bleed_over + np.finfo(float).eps)


def sobel_ref(image, mask=None):
    """Sobel magnitude as scikit-image <= 0.14 computed it.

    ``sqrt(sobel_h^2 + sobel_v^2) / sqrt(2)``, each from ``ndi.convolve`` with the 3x3
    kernels above, and 0 outside the mask eroded by a 3x3 square (border value 0), so the
    outermost rows and columns are always 0.
    """
    image = np.asarray(image, dtype=np.float64)
    if mask is None:
        mask = np.ones(image.shape, bool)
    keep = ndi.binary_erosion(mask, np.ones((3, 3), bool), border_value=0)
    h = ndi.convolve(image, HSOBEL)
    v = ndi.convolve(image, VSOBEL)
    h[~keep] = 0
    v[~keep] = 0
    out = np.sqrt(h ** 2 + v ** 2)
    out /= np.sqrt(2)
    return out


def integral_image_ref(image):
    """scikit-image's ``integral_image`` in float64 (cumulative sums, axis 0 then 1)."""
    from skimage.transform import integral_image

    return integral_image(np.asarray(image, dtype=np.float64))


def hessian_det_ref(integral, sigma, float32_intermediate=True):
    """Box-filter (SURF) Hessian determinant of an integral image at one scale.

    With ``float32_intermediate=False`` this is scikit-image's current
    ``_hessian_matrix_det`` itself. With ``True`` it is the 2015-2021 Cython version that made
    the Taskonomy labels, whose ``dxx``, ``dyy``, ``dxy`` were C ``float``: the same formula
    written out with numpy, rounding to float32 where that code did.
    """
    integral = np.ascontiguousarray(integral, dtype=np.float64)
    if not float32_intermediate:
        from skimage.feature._hessian_det_appx import _hessian_matrix_det

        return _hessian_matrix_det(integral, sigma)
    f32 = np.float32
    h, w = integral.shape
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")

    def integ(r, c, rl, cl):
        r0 = np.clip(r, 0, h - 1)
        c0 = np.clip(c, 0, w - 1)
        r2 = np.clip(r0 + rl, 0, h - 1)
        c2 = np.clip(c0 + cl, 0, w - 1)
        ans = integral[r0, c0] + integral[r2, c2] - integral[r0, c2] - integral[r2, c0]
        return np.maximum(ans, 0.0)

    size = int(3 * sigma)
    s2 = (size - 1) // 2
    s3 = size // 3
    w_i = 1.0 / size / size
    tl = integ(rr - s3, cc - s3, s3, s3)
    br = integ(rr + 1, cc + 1, s3, s3)
    bl = integ(rr - s3, cc + 1, s3, s3)
    tr = integ(rr + 1, cc - s3, s3, s3)
    dxy = (bl + tr - tl - br).astype(f32)
    dxy = (-dxy.astype(np.float64) * w_i).astype(f32)
    mid = integ(rr - s3 + 1, cc - s2, 2 * s3 - 1, size)
    side = integ(rr - s3 + 1, cc - s3 // 2, 2 * s3 - 1, s3)
    dxx = (mid - 3 * side).astype(f32)
    dxx = (-dxx.astype(np.float64) * w_i).astype(f32)
    mid = integ(rr - s2, cc - s3 + 1, size, 2 * s3 - 1)
    side = integ(rr - s3 // 2, cc - s3 + 1, s3, 2 * s3 - 1)
    dyy = (mid - 3 * side).astype(f32)
    dyy = (-dyy.astype(np.float64) * w_i).astype(f32)
    return (dxx * dyy).astype(np.float64) - 0.81 * (dxy * dxy).astype(np.float64)


def hessian_det_max_ref(image, sigmas, float32_intermediate=True):
    """Per-pixel maximum over ``sigmas`` of :func:`hessian_det_ref` of ``image``'s integral."""
    integral = integral_image_ref(image)
    cube = np.dstack([hessian_det_ref(integral, s, float32_intermediate) for s in sigmas])
    return np.max(cube, axis=2)


def bilinear_wrap_reference(image: np.ndarray, u, v) -> np.ndarray:
    """:func:`labelgen.kernels.texture.bilinear_wrap` with :func:`scipy.ndimage.map_coordinates` (slow reference)."""
    from scipy.ndimage import map_coordinates

    img = image if image.ndim == 3 else image[:, :, None]
    h, w = img.shape[:2]
    x = np.asarray(u, np.float64) * w - 0.5
    y = (1.0 - np.asarray(v, np.float64)) * h - 0.5
    out = np.empty((len(x), img.shape[2]))
    for c in range(img.shape[2]):
        out[:, c] = map_coordinates(img[:, :, c].astype(np.float64), [y, x], order=1, mode="grid-wrap")
    return out
