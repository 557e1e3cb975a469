"""Labels that come straight from the geometry buffer (spec section 3).

``depth_zbuffer``, ``depth_euclidean``, ``normal``, ``reshading`` and ``mask_valid``.
"""
from __future__ import annotations

import numpy as np

from . import Label, Param, register

DEPTH_UNITS = Param("depth_units_per_meter", 512.0,
                    "depth units per metre in 16-bit depth images (512: 1/512 m, range 128 m)")
INVALID_DEPTH = 65535
INVALID_NORMAL = 128
INVALID_RESHADING = 13


def encode_depth(metres: np.ndarray, units_per_meter: float) -> np.ndarray:
    """uint16 ``round(metres * units)``; 65535 where invalid (no hit or beyond the range)."""
    scaled = np.asarray(metres, dtype=np.float64) * units_per_meter
    ok = np.isfinite(scaled) & (scaled < INVALID_DEPTH - 0.5) & (scaled >= 0)
    out = np.full(scaled.shape, INVALID_DEPTH, dtype=np.uint16)
    out[ok] = np.rint(scaled[ok]).astype(np.uint16)
    return out


def decode_depth(encoded: np.ndarray, params: dict) -> np.ndarray:
    """Metres from uint16 depth; NaN where invalid."""
    out = encoded.astype(np.float64) / params["depth_units_per_meter"]
    out[encoded == INVALID_DEPTH] = np.nan
    return out


def valid_pixels(gbuffer, units_per_meter: float) -> np.ndarray:
    """Pixels with a hit whose z-buffer and Euclidean depths are both encodable."""
    return (encode_depth(gbuffer.euclidean(), units_per_meter) != INVALID_DEPTH) & \
           (encode_depth(gbuffer.depth, units_per_meter) != INVALID_DEPTH)


def _depth_zbuffer(inputs, params):
    gb = inputs["gbuffer"]
    valid = valid_pixels(gb, params["depth_units_per_meter"])
    return encode_depth(np.where(valid, gb.depth, np.inf), params["depth_units_per_meter"])


def _depth_euclidean(inputs, params):
    gb = inputs["gbuffer"]
    valid = valid_pixels(gb, params["depth_units_per_meter"])
    return encode_depth(np.where(valid, gb.euclidean(), np.inf), params["depth_units_per_meter"])


def _mask_valid(inputs, params):
    valid = valid_pixels(inputs["gbuffer"], params["depth_units_per_meter"])
    return np.where(valid, 255, 0).astype(np.uint8)


def encode_normal(n: np.ndarray) -> np.ndarray:
    """uint8 ``round((n + 1) / 2 * 255)`` per channel."""
    return np.rint((np.clip(n, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def decode_normal(encoded: np.ndarray, params: dict) -> np.ndarray:
    """Unit-ish normals in OpenCV camera axes from uint8 RGB; NaN where (128,128,128)."""
    out = encoded.astype(np.float64) / 127.5 - 1.0
    out[np.all(encoded == INVALID_NORMAL, axis=-1)] = np.nan
    return out


def _normal(inputs, params):
    gb = inputs["gbuffer"]
    valid = valid_pixels(gb, params["depth_units_per_meter"])
    out = encode_normal(gb.normal_camera())
    out[~valid] = INVALID_NORMAL
    return out


def shading(normal_cam, distance, light_dirs, energy=1.6, falloff=8.0):
    """Lambert shading from a point light at the camera, Blender Internal inverse-square.

    ``s = energy * falloff / (falloff + r^2) * max(0, n . l)`` with ``l`` the unit vector from
    the hit to the camera and ``r`` the Euclidean distance.
    """
    cos = np.maximum(0.0, np.einsum("...i,...i->...", normal_cam, light_dirs))
    return energy * falloff / (falloff + distance ** 2) * cos


def _reshading(inputs, params):
    gb = inputs["gbuffer"]
    valid = valid_pixels(gb, params["depth_units_per_meter"])
    d = gb.camera.pixel_directions()
    to_cam = -d / np.linalg.norm(d, axis=-1, keepdims=True)  # Blender camera axes
    n_blender = gb.normal @ gb.camera.rotation
    r = gb.euclidean()
    s = shading(n_blender, np.where(valid, r, 0.0), to_cam,
                params["lamp_energy"] * params["diffuse"], params["lamp_falloff_distance"])
    grey = np.rint(np.clip(s, 0.0, 1.0) * 255.0).astype(np.uint8)
    grey[~valid] = INVALID_RESHADING
    return np.repeat(grey[:, :, None], 3, axis=2)


def decode_reshading(encoded, params):
    grey = encoded[..., 0] if encoded.ndim == 3 else encoded
    return grey.astype(np.float64) / 255.0


register(Label(
    "depth_zbuffer", ("gbuffer",), _depth_zbuffer, "gray16", legacy_name="depth",
    encoding="uint16, distance along the viewing axis in 1/512 m (round(m * 512))",
    invalid="65535", params=(DEPTH_UNITS,), decode=decode_depth,
    description="z-buffer depth"))
register(Label(
    "depth_euclidean", ("gbuffer",), _depth_euclidean, "gray16", legacy_name="mist",
    encoding="uint16, distance from the optical centre in 1/512 m",
    invalid="65535", params=(DEPTH_UNITS,), decode=decode_depth,
    description="Euclidean depth"))
register(Label(
    "normal", ("gbuffer",), _normal, "rgb8", legacy_name="normal",
    encoding="uint8 RGB = round((n + 1) / 2 * 255), camera axes x right, y down, z forward",
    invalid="(128, 128, 128)", params=(DEPTH_UNITS,), decode=decode_normal,
    description="surface normal (face normal, facing the camera)"))
register(Label(
    "reshading", ("gbuffer",), _reshading, "rgb8", legacy_name="reshade",
    encoding="uint8 R=G=B = round(clip(s, 0, 1) * 255), s = 1.6 * 8 / (8 + r^2) * max(0, n . l)",
    invalid="13", decode=decode_reshading,
    params=(DEPTH_UNITS,
            Param("lamp_energy", 2.0, "energy of the point lamp at the camera (Blender Internal)"),
            Param("diffuse", 0.8, "diffuse reflectance of the surfaces"),
            Param("lamp_falloff_distance", 8.0, "inverse-square falloff distance of the lamp, metres")),
    description="Lambert shading from a lamp at the camera"))
register(Label(
    "mask_valid", ("gbuffer",), _mask_valid, "gray8",
    encoding="uint8, 255 where the depth is valid", invalid="0", params=(DEPTH_UNITS,),
    decode=lambda a, p: a == 255, description="valid-depth mask"))
