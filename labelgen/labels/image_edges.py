"""Edge labels computed from images (spec section 4): ``edge_texture`` and ``edge_occlusion``
(``keypoints2d``, from the same grey image, is in :mod:`labelgen.labels.keypoints2d`).

Each reproduces the Taskonomy script that made it, including its floating-point types, so
that the shipped files are matched exactly:

- The RGB image was read as grey with PIL's ``"F"`` conversion, i.e. float32
  ``(299 R + 587 G + 114 B) / 1000``, then divided by 255 in float32
  (:func:`rgb_to_grey`). Rounding to an 8-bit grey first, or computing in float64, loses
  exact matches.
- ``edge_texture``: :func:`labelgen.kernels.filters.gaussian_masked` of that float32 grey (sigma 3,
  no mask: only the image border is renormalised), then :func:`labelgen.kernels.edges.sobel_magnitude`
  (outermost rows and columns 0).
- ``edge_occlusion``: the depth read as float32, ``x = sqrt(D) / 256`` in float32, then the
  masked Sobel magnitude (mask ``D < 65036``). The original script also smoothed ``x``
  (sigma 1) and discarded the result; that is not done here.

Both are stored as uint16 ``round(clip(v, 0, 1) * 65535)``.
"""
from __future__ import annotations

import numpy as np

from . import Label, Param, register
from .geometric import DEPTH_UNITS

#: Taskonomy's depth units: 512 per metre (the recipes below are defined on these units).
TASKONOMY_DEPTH_UNITS = 512.0


CANNY_SIGMA = Param("canny_sigma", 3.0, "standard deviation (pixels) of the Gaussian smoothing before "
                    "the Sobel filter, for edge_texture", low=0, open_low=True)
CANNY_TRUNCATE = Param("canny_truncate", 4.0, "Gaussian kernel radius in standard deviations for "
                       "edge_texture (radius = int(truncate * sigma + 0.5))", low=0)
OCCLUSION_VALID_BELOW = Param("occlusion_valid_below", 65036, "depth_zbuffer values (as stored) below "
                              "this are valid for edge_occlusion (Taskonomy: 2**16 - 500)", int, low=0,
                              high=65536)


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """float32 grey in [0, 1] as Taskonomy read it (PIL ``convert("F")``, then ``/ 255``).

    ``float32(299 R + 587 G + 114 B) / 1000`` rounded to float32, then divided by 255 in
    float32.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit RGB image (H, W, 3) uint8, got {rgb.dtype} {rgb.shape}")
    # exact integer sums, then the two float32 divisions, in place (fewer temporaries)
    lum = np.multiply(rgb[:, :, 0], 299, dtype=np.int32)
    lum += np.multiply(rgb[:, :, 1], 587, dtype=np.int32)
    lum += np.multiply(rgb[:, :, 2], 114, dtype=np.int32)
    grey = lum.astype(np.float32)
    grey /= np.float32(1000.0)
    grey /= np.float32(255.0)
    return grey


def encode_unit16(values: np.ndarray) -> np.ndarray:
    """uint16 ``round(clip(v, 0, 1) * 65535)`` (round half to even, as numpy's rint)."""
    v = np.clip(values, 0.0, 1.0)  # a new array: scaled and rounded in place
    v *= 65535.0
    return np.rint(v, out=v).astype(np.uint16)


def decode_unit16(encoded: np.ndarray, params: dict) -> np.ndarray:
    """Values in [0, 1] from a uint16 label."""
    return encoded.astype(np.float64) / 65535.0


def _check_depth(depth):
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise ValueError(f"expected a 16-bit depth image (H, W) uint16, got {depth.dtype} {depth.shape}")
    return depth


def edge_texture(rgb: np.ndarray, sigma: float = CANNY_SIGMA.default,
                 truncate: float = CANNY_TRUNCATE.default) -> np.ndarray:
    """Texture edge strength in [0, 1] (Canny's gradient magnitude, no non-maximum suppression)."""
    from labelgen.kernels.edges import sobel_magnitude
    from labelgen.kernels.filters import gaussian_masked

    return sobel_magnitude(gaussian_masked(rgb_to_grey(rgb), None, sigma, truncate))


def edge_occlusion(depth: np.ndarray, units_per_meter: float = TASKONOMY_DEPTH_UNITS,
                   valid_below: int = OCCLUSION_VALID_BELOW.default) -> np.ndarray:
    """Occlusion edge strength in [0, 1]: masked Sobel magnitude of ``sqrt(depth) / 256``.

    ``depth`` is the stored uint16 z-buffer; with ``units_per_meter`` other than 512 it is
    rescaled to Taskonomy's 1/512 m first. Pixels with stored values ``>= valid_below`` are
    invalid; a pixel whose 3x3 neighbourhood holds an invalid pixel (or the image border) is 0.
    """
    from labelgen.kernels.edges import sobel_magnitude

    depth = _check_depth(depth)
    d = depth.astype(np.float32)
    if units_per_meter != TASKONOMY_DEPTH_UNITS:
        d = d * np.float32(TASKONOMY_DEPTH_UNITS / units_per_meter)
    x = np.sqrt(d) / np.float32(256.0)
    return sobel_magnitude(x, depth < valid_below)


def _edge_texture(inputs, params):
    return encode_unit16(edge_texture(inputs["rgb"], params["canny_sigma"], params["canny_truncate"]))


def _edge_occlusion(inputs, params):
    return encode_unit16(edge_occlusion(inputs["depth_zbuffer"], params["depth_units_per_meter"],
                                        params["occlusion_valid_below"]))


register(Label(
    "edge_texture", ("rgb",), _edge_texture, "gray16", legacy_name="edge2d",
    encoding="uint16 = round(clip(m, 0, 1) * 65535), m = Sobel magnitude sqrt((Gx^2 + Gy^2) / 2) of the "
             "grey image smoothed with a Gaussian (sigma 3, border renormalised)",
    invalid="none (outermost rows and columns are 0)", params=(CANNY_SIGMA, CANNY_TRUNCATE),
    decode=decode_unit16, description="texture edges (Canny without non-maximum suppression)"))
register(Label(
    "edge_occlusion", ("depth_zbuffer",), _edge_occlusion, "gray16", legacy_name="edge",
    encoding="uint16 = round(clip(m, 0, 1) * 65535), m = Sobel magnitude of sqrt(depth units) / 256, "
             "0 where the 3x3 neighbourhood holds invalid depth (>= 65036)",
    invalid="0 (near invalid depth and on the border)", params=(DEPTH_UNITS, OCCLUSION_VALID_BELOW),
    decode=decode_unit16, description="occlusion edges (depth discontinuities)"))
