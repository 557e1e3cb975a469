"""Sobel gradient magnitude, optionally restricted to a mask.

:func:`sobel_magnitude` is scikit-image's ``filters.sobel(image, mask)`` as it was when the
Taskonomy labels were made (scikit-image <= 0.14):

- ``Gh`` and ``Gv`` are the correlations of the image with the 3x3 kernels
  ``[1, 2, 1]^T x [1, 0, -1] / 4`` (and its transpose), summed in the order
  ``scipy.ndimage.convolve`` sums them;
- both are set to 0 where the mask, eroded by a 3x3 square with the outside of the image
  counting as masked, is False: so the outermost rows and columns, and every pixel whose
  3x3 neighbourhood leaves the mask, are 0;
- the magnitude is ``sqrt(Gh^2 + Gv^2) / sqrt(2)``, so it lies in [0, 1] for images in [0, 1].

(Current scikit-image leaves the border unmasked when ``mask`` is None and sums the
separable kernels in another order; the values differ from these by a few ulps only.)

References
----------
.. [1] scikit-image, ``skimage.filters.sobel``, ``HSOBEL_WEIGHTS`` / ``VSOBEL_WEIGHTS``.
.. [2] I. Sobel, G. Feldman, "A 3x3 isotropic gradient operator for image processing", 1968.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_SQRT2 = math.sqrt(2.0)


@njit(cache=True)
def _sobel(x, mask, use_mask, out):
    h, w = x.shape
    for j in range(w):
        out[0, j] = 0.0
        out[h - 1, j] = 0.0
    for i in range(1, h - 1):
        out[i, 0] = 0.0
        out[i, w - 1] = 0.0
        up = x[i - 1]
        mid = x[i]
        dn = x[i + 1]
        for j in range(1, w - 1):
            a = np.float64(up[j - 1])
            b = np.float64(up[j])
            c = np.float64(up[j + 1])
            d = np.float64(mid[j - 1])
            f = np.float64(mid[j + 1])
            g = np.float64(dn[j - 1])
            k = np.float64(dn[j])
            m = np.float64(dn[j + 1])
            # ndimage.convolve flips the kernel and sums the non-zero taps in raster order
            gh = 0.0
            gh += -0.25 * a
            gh += -0.5 * b
            gh += -0.25 * c
            gh += 0.25 * g
            gh += 0.5 * k
            gh += 0.25 * m
            gv = 0.0
            gv += -0.25 * a
            gv += 0.25 * c
            gv += -0.5 * d
            gv += 0.5 * f
            gv += -0.25 * g
            gv += 0.25 * m
            out[i, j] = math.sqrt(gh * gh + gv * gv) / _SQRT2
        if use_mask:
            mu = mask[i - 1]
            mm = mask[i]
            md = mask[i + 1]
            for j in range(1, w - 1):
                if not (mu[j - 1] and mu[j] and mu[j + 1] and mm[j - 1] and mm[j] and mm[j + 1]
                        and md[j - 1] and md[j] and md[j + 1]):
                    out[i, j] = 0.0


def sobel_magnitude(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Sobel gradient magnitude ``sqrt((Gh^2 + Gv^2) / 2)``, 0 outside the eroded mask.

    Parameters
    ----------
    image : (H, W) array
        Float32, float64 or integer image (converted to float64 exactly).
    mask : (H, W) bool array or None
        Valid pixels. A pixel's result is kept only if its whole 3x3 neighbourhood is valid
        and inside the image; None means every pixel is valid (so only the outermost rows
        and columns are 0).

    Returns
    -------
    (H, W) float64 array
        Identical to scikit-image <= 0.14's ``filters.sobel(image, mask)``
        (see :func:`kernels.reference.sobel_ref`).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {image.shape}")
    # float64 (exact for float32 and integers; _sobel reads every value as float64): one
    # compiled version
    image = np.ascontiguousarray(image, dtype=np.float64)
    out = np.zeros(image.shape, np.float64)
    if image.shape[0] < 3 or image.shape[1] < 3:
        return out
    if mask is None:
        _sobel(image, np.ones((1, 1), np.bool_), False, out)
    else:
        m = np.ascontiguousarray(np.asarray(mask, dtype=np.bool_))
        if m.shape != image.shape:
            raise ValueError(f"mask shape {m.shape} does not match image shape {image.shape}")
        _sobel(image, m, True, out)
    return out
