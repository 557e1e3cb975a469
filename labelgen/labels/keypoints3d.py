"""``keypoints3d``: the NARF interest image of the z-buffer depth (spec section 4).

Taskonomy ran PCL's ``NarfKeypoint`` (recursive scale reduction on, dense interest image) on
a planar range image built from each ``depth_zbuffer`` file and stored the interest image
before non-maximum suppression as ``uint16(interest * 65536)``. The kernels are in
:mod:`labelgen.kernels.narf`.

Facts checked on the shipped sample (``point_202_view_5``):

* depth in metres is ``units * float32(1 / depth_units_per_meter)``; the "no data" value 65535
  is *not* masked (Taskonomy's program read the PNG as is, so it is a valid point 128 m away);
* focal length ``W / (2 tan(fov / 2))``, principal point ``(W / 2, H / 2)``;
* the shipped image was made with a support size of **0.3 m**: with 0.3 this module
  reproduces it exactly on all but 3 of 262144 pixels (off by one unit), with 0.2 the
  correlation is only 0.86. The default is therefore 0.3.
"""
from __future__ import annotations

import math

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.camera._rotations import focal_length
from . import Label, Param, register
from .geometric import DEPTH_UNITS

SUPPORT_SIZE = Param(
    "support_size", 0.3,
    "NARF support size (diameter of the support sphere) in metres for keypoints3d; "
    "0.3 reproduces the shipped Taskonomy sample", low=0, open_low=True)


def depth_metres_float32(encoded: np.ndarray, units_per_meter: float) -> np.ndarray:
    """float32 metres as Taskonomy's NARF program read them: ``(float)units * (float)(1/u)``."""
    return encoded.astype(np.float32) * np.float32(1.0 / units_per_meter)


def _keypoints3d(inputs, params):
    from labelgen.kernels.narf import encode_interest, interest_image

    depth = inputs["depth_zbuffer"]
    camera = inputs["camera"]
    support = float(params["support_size"])
    if not (support > 0 and math.isfinite(support)):
        raise LabelgenError("--support-size", f"must be a positive number of metres, got {support}")
    h, w = depth.shape
    focal = focal_length(camera.fov, w)
    metres = depth_metres_float32(depth, params["depth_units_per_meter"])
    interest = interest_image(metres, focal, support_size=support, center=(w / 2.0, h / 2.0),
                              recursive=True, taskonomy_upsampling=True)
    return encode_interest(interest)


def decode_keypoints3d(encoded, params):
    """Interest values in [0, 1)."""
    return encoded.astype(np.float64) / 65536.0


register(Label(
    "keypoints3d", ("depth_zbuffer", "camera"), _keypoints3d, "gray16", legacy_name="keypoint",
    encoding="uint16 = trunc(interest * 65536), NARF interest image (PCL NarfKeypoint, "
             "recursive scale reduction, before non-maximum suppression)",
    invalid="0", params=(SUPPORT_SIZE, DEPTH_UNITS), decode=decode_keypoints3d,
    description="3D keypoint (NARF) interest image"))
