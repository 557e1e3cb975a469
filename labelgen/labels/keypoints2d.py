"""``keypoints2d`` (spec section 4): SURF-style interest of the grey image.

:func:`labelgen.kernels.hessian.hessian_det_max` of the grey image of
:func:`labelgen.labels.image_edges.rgb_to_grey` (converted to float64 for the integral image)
over ``linspace(1, 30, 10)``, with float32 ``dxx, dyy, dxy`` as the scikit-image of the time.
Stored as uint16 ``round(clip(v, 0, 1) * 65535)``.

``doh_integral``: Omnidata's shipped Replica keypoints2d (``point_47_view_25``) is reproduced on
every pixel only with a float32 integral image (a float32 grey image, whose ``cumsum`` stays
float32); the float64 one, which reproduces Taskonomy's, leaves 4.5 % of its pixels off by
1 to 22 units, more towards the bottom-right where the float32 sums have lost the most.
"""
from __future__ import annotations

import numpy as np

from . import Label, Param, register
from .image_edges import decode_unit16, encode_unit16, rgb_to_grey

DOH_MIN_SIGMA = Param("doh_min_sigma", 1.0, "smallest scale of the Hessian determinant for keypoints2d "
                      "(box size int(3 * sigma); at least 1)", low=1)
DOH_MAX_SIGMA = Param("doh_max_sigma", 30.0, "largest scale of the Hessian determinant for keypoints2d",
                      low=1)
DOH_NUM_SIGMA = Param("doh_num_sigma", 10, "number of scales, evenly spaced from the smallest to the "
                      "largest, for keypoints2d", int, low=1)
DOH_INTEGRAL = Param("doh_integral", "float64", "precision of keypoints2d's integral image: float64 (Taskonomy) "
                     "or float32 (a float32 grey image summed in float32, as Omnidata's Replica files were made)",
                     str, choices=("float64", "float32"))


def keypoints2d(rgb: np.ndarray, min_sigma: float = DOH_MIN_SIGMA.default,
                max_sigma: float = DOH_MAX_SIGMA.default, num_sigma: int = DOH_NUM_SIGMA.default,
                integral: str = DOH_INTEGRAL.default) -> np.ndarray:
    """SURF-style interest: per-pixel maximum over scales of the box-filter Hessian determinant
    (``integral``: the integral image's precision, ``"float64"`` or ``"float32"``)."""
    from labelgen.kernels.hessian import hessian_det_max

    if num_sigma < 1:
        raise ValueError(f"num_sigma must be at least 1, got {num_sigma}")
    sigmas = np.linspace(min_sigma, max_sigma, int(num_sigma))
    return hessian_det_max(rgb_to_grey(rgb), sigmas, float32_intermediate=True, integral_dtype=integral)


def _keypoints2d(inputs, params):
    return encode_unit16(keypoints2d(inputs["rgb"], params["doh_min_sigma"], params["doh_max_sigma"],
                                     params["doh_num_sigma"], params["doh_integral"]))


register(Label(
    "keypoints2d", ("rgb",), _keypoints2d, "gray16", legacy_name="keypoint2d",
    encoding="uint16 = round(clip(d, 0, 1) * 65535), d = max over 10 scales (sigma 1..30) of the "
             "box-filter (SURF) Hessian determinant of the grey image",
    invalid="none", params=(DOH_MIN_SIGMA, DOH_MAX_SIGMA, DOH_NUM_SIGMA, DOH_INTEGRAL),
    decode=decode_unit16, description="2D keypoint strength (SURF before non-maximum suppression)"))
