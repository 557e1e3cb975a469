"""Labels that come straight from the geometry buffer (spec section 3).

``depth_zbuffer``, ``depth_euclidean``, ``normal``, ``reshading`` and ``mask_valid``.
"""
from __future__ import annotations

import numpy as np

from labelgen.kernels import geometry

from . import Label, Param, register

DEPTH_UNITS = Param("depth_units_per_meter", 512.0,
                    "depth units per metre in 16-bit depth images (512: 1/512 m, range 128 m)",
                    low=0, open_low=True)
INVALID_DEPTH = 65535
INVALID_NORMAL = 128
INVALID_RESHADING = 13


def encode_depth(metres: np.ndarray, units_per_meter: float) -> np.ndarray:
    """uint16 ``round(metres * units)``; 65535 where invalid (no hit or beyond the range)."""
    metres = np.ascontiguousarray(metres, dtype=np.float64)
    valid = geometry.valid_depth(metres, metres, float(units_per_meter), INVALID_DEPTH)
    return geometry.encode_depth(metres, valid, float(units_per_meter), INVALID_DEPTH)


def decode_depth(encoded: np.ndarray, params: dict) -> np.ndarray:
    """Metres from uint16 depth; NaN where invalid."""
    out = encoded.astype(np.float64) / params["depth_units_per_meter"]
    out[encoded == INVALID_DEPTH] = np.nan
    return out


def _depth_zbuffer(inputs, params):
    gb, units = inputs["gbuffer"], params["depth_units_per_meter"]
    return geometry.encode_depth(gb.depth, gb.valid(units, INVALID_DEPTH), units, INVALID_DEPTH)


def _depth_euclidean(inputs, params):
    gb, units = inputs["gbuffer"], params["depth_units_per_meter"]
    return geometry.encode_depth(gb.distance, gb.valid(units, INVALID_DEPTH), units, INVALID_DEPTH)


def _mask_valid(inputs, params):
    return np.where(inputs["gbuffer"].valid(params["depth_units_per_meter"], INVALID_DEPTH), 255, 0).astype(np.uint8)


def decode_normal(encoded: np.ndarray, params: dict) -> np.ndarray:
    """Unit-ish normals in OpenCV camera axes from uint8 RGB; NaN where (128,128,128)."""
    out = encoded.astype(np.float64) / 127.5 - 1.0
    out[np.all(encoded == INVALID_NORMAL, axis=-1)] = np.nan
    return out


#: A code that rounds a unit vector has a dequantised length within 0.5 * sqrt(3) / 127.5 of 1.
NORMAL_CODE_BAND = 0.5 * 3 ** 0.5 / 127.5
_NEIGHBOURS = sorted(((a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)),
                     key=lambda o: sum(map(abs, o)))


def unit_normals(encoded: np.ndarray) -> np.ndarray:
    """(..., 3) float32 unit normals (OpenCV camera axes) of uint8 normal codes: each code
    dequantised (``c / 127.5 - 1``) and divided by its length when that length is one a rounded
    unit vector can have (:data:`NORMAL_CODE_BAND`); other codes (the invalid 128s, codes no
    normal encoder writes) are kept dequantised. :func:`encode_unit_normals` is its exact inverse.
    """
    codes = np.asarray(encoded)
    flat = np.ascontiguousarray(codes.reshape(-1, 3), dtype=np.uint8)
    return geometry.unit_normals(flat, NORMAL_CODE_BAND).reshape(codes.shape)


def encode_unit_normals(normals: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) codes of normals, ``invalid`` (128) where not ``valid``: ``rint((n + 1) *
    127.5)`` (n clipped to [-1, 1]) as the label's encoder writes; where a unit vector is
    exactly what :func:`unit_normals` gives for a neighbouring code (it divided a code's
    dequantised vector by its length), that code. Exact inverse of :func:`unit_normals` on every
    code within :data:`NORMAL_CODE_BAND` (checked on all of them) and every other code."""
    n = np.asarray(normals, dtype=np.float32)
    finite = np.where(np.isfinite(n), n, 0.0).astype(np.float64)
    code = np.rint((np.clip(finite, -1.0, 1.0) + 1.0) * 127.5).astype(np.int16)
    unit = np.abs(np.sqrt(np.einsum("...c,...c->...", n.astype(np.float64), n.astype(np.float64))) - 1.0) < 1e-6
    todo = np.nonzero(valid & unit & ~np.all(unit_normals(code) == n, axis=-1))
    if todo[0].size:
        want, base = n[todo], code[todo]
        best = base.copy()
        found = np.zeros(len(want), dtype=bool)
        for step in _NEIGHBOURS:
            cand = np.clip(base + np.array(step, dtype=np.int16), 0, 255).astype(np.uint8)
            hit = ~found & np.all(unit_normals(cand) == want, axis=-1)
            best[hit] = cand[hit]
            found |= hit
        code[todo] = best
    code[~np.asarray(valid, dtype=bool)] = INVALID_NORMAL
    return code.astype(np.uint8)


def _normal(inputs, params):
    gb = inputs["gbuffer"]
    return geometry.encode_normal(gb.normal, gb.valid(params["depth_units_per_meter"], INVALID_DEPTH), INVALID_NORMAL)


def _reshading(inputs, params):
    gb = inputs["gbuffer"]
    if gb.camera.model != "perspective":
        from labelgen.render._panorama import reshade

        grey = reshade(gb, params["lamp_energy"] * params["diffuse"], params["lamp_falloff_distance"],
                       params["depth_units_per_meter"], INVALID_DEPTH, INVALID_RESHADING)
        return np.repeat(grey[:, :, None], 3, axis=2)
    grey = geometry.reshade(gb.normal, gb.distance, gb.valid(params["depth_units_per_meter"], INVALID_DEPTH),
                            gb.camera.focal, params["lamp_energy"] * params["diffuse"],
                            params["lamp_falloff_distance"], INVALID_RESHADING)
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
            Param("lamp_energy", 2.0, "energy of the point lamp at the camera (Blender Internal)", low=0),
            Param("diffuse", 0.8, "diffuse reflectance of the surfaces", low=0),
            Param("lamp_falloff_distance", 8.0, "inverse-square falloff distance of the lamp, metres",
                  low=0, open_low=True)),
    description="Lambert shading from a lamp at the camera"))
register(Label(
    "mask_valid", ("gbuffer",), _mask_valid, "gray8",
    encoding="uint8, 255 where the depth is valid", invalid="0", params=(DEPTH_UNITS,),
    decode=lambda a, p: a == 255, description="valid-depth mask"))
