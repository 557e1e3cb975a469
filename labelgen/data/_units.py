"""Every label in physical units and back: :func:`read_label` and :func:`encode_label`.

One table (:data:`CODECS`) says, for every label ``labelgen tasks`` lists, what its stored
values mean, in which units it is decoded, which pixels are valid and how a value is encoded
again; the encoders are the label families' own (:mod:`labelgen.labels`). ``encode_label`` is the
exact inverse of ``read_label``: ``encode_label(task, read_label(a, task))`` gives ``a`` back bit
for bit, for every file the project renders and every shipped Taskonomy / Omnidata file.

Validity has three kinds: ``code`` (the file's invalid code says it: depth 65535, normal
(128, 128, 128), semantic and fragments (0, 0, 0)); ``hit`` (invalid where the ray hit nothing,
but the invalid code is also a value a valid pixel can have: reshading 13, principal_curvature
(0, 0, 0), rgb's background): read from a file alone these are the pixels without that code
(rgb: all), and the view's ``mask_valid`` gives them exactly (``valid=``); ``all`` (defined
everywhere: edges, keypoints, segmentations, mask_valid).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.engine._layout import label_of_file
from labelgen.engine._pipeline import resolve_params
from labelgen.io._images import read_image
from labelgen.labels import get_label

__all__ = ["DecodedLabel", "Codec", "CODECS", "read_label", "encode_label", "decode_array"]


@dataclass
class DecodedLabel:
    """A label in physical units.

    Attributes
    ----------
    task : the label's (current) name.
    value : float32 in :attr:`units` (``fill`` where not valid), int64 ids, or bool; (H, W) or
        (H, W, C) (C first with ``channels_first``).
    valid : (H, W) bool, the pixels where ``value`` holds the label.
    units : what ``value`` is, in words.
    """

    task: str
    value: np.ndarray
    valid: np.ndarray
    units: str


@dataclass(frozen=True)
class Codec:
    """How one label's stored array is decoded and encoded.

    ``decode(array, params) -> (value, valid)``: value float64 (or int64, bool) at every pixel,
    valid from the file alone; ``encode(value, valid, params) -> array``: the stored array, the
    invalid code where not valid. ``kind``: ``"float"``, ``"int"`` or ``"bool"``; ``validity``:
    ``"code"``, ``"hit"`` or ``"all"`` (module documentation).
    """

    units: str
    kind: str
    validity: str
    decode: Callable[[np.ndarray, dict], tuple[np.ndarray, np.ndarray]]
    encode: Callable[[np.ndarray, np.ndarray, dict], np.ndarray]


def _everywhere(a):
    return np.ones(a.shape[:2], dtype=bool)


def _decode_depth(a, p):
    from labelgen.labels import geometric
    metres = geometric.decode_depth(a, p)
    return metres, np.isfinite(metres)


def _encode_depth(v, valid, p):
    from labelgen.labels import geometric
    return geometric.encode_depth(np.where(valid, v, np.nan), p["depth_units_per_meter"])


def _decode_normal(a, p):
    from labelgen.labels import geometric
    return geometric.unit_normals(a), ~np.all(a == geometric.INVALID_NORMAL, axis=-1)


def _encode_normal(v, valid, p):
    from labelgen.labels import geometric
    return geometric.encode_unit_normals(v, valid)


def _grey(a, what):
    if a.ndim == 2:
        return a
    if a.shape[2] != 3 or np.any(a[..., 0] != a[..., 1]) or np.any(a[..., 0] != a[..., 2]):
        raise ValueError(f"{what} must be grey, or RGB with R = G = B")
    return a[..., 0]


def _decode_reshading(a, p):
    from labelgen.labels import geometric
    grey = _grey(a, "reshading")
    return grey.astype(np.float64) / 255.0, grey != geometric.INVALID_RESHADING


def _encode_reshading(v, valid, p):
    from labelgen.labels import geometric
    grey = np.where(valid, np.rint(np.clip(v, 0.0, 1.0) * 255.0), geometric.INVALID_RESHADING).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _decode_mask(a, p):
    if np.any((a != 0) & (a != 255)):
        raise ValueError("mask_valid holds values other than 0 and 255")
    return a == 255, _everywhere(a)


def _decode_curvature(a, p):
    if np.any(a[..., 2] != 0):
        raise ValueError("principal_curvature's blue channel must be 0")
    k = (a[..., :2].astype(np.float64) / 127.0 - 1.0) / p["curvature_r_min"]
    return k, ~np.all(a == 0, axis=-1)


def _encode_curvature(v, valid, p):
    from labelgen.labels import curvature
    out = np.zeros(v.shape[:2] + (3,), dtype=np.uint8)
    out[..., :2] = curvature.encode_curvature(np.where(valid[..., None], v, 0.0), p["curvature_r_min"])
    out[~valid] = 0
    return out


def _decode_unit16(a, p):
    from labelgen.labels import image_edges
    return image_edges.decode_unit16(a, p), _everywhere(a)


def _encode_unit16(v, valid, p):
    from labelgen.labels import image_edges
    return image_edges.encode_unit16(np.where(valid, np.asarray(v, dtype=np.float64), 0.0))


def _decode_interest(a, p):
    return a.astype(np.float64) / 65536.0, _everywhere(a)


def _encode_interest(v, valid, p):
    from labelgen.kernels.narf import encode_interest

    return encode_interest(np.where(valid, v, 0.0))


def _decode_rgb(a, p):
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"rgb must be RGB or RGBA, got shape {a.shape}")
    return a.astype(np.float64) / 255.0, _everywhere(a)


def _encode_rgb(v, valid, p):
    v = np.where(valid[..., None], np.asarray(v, dtype=np.float64), 0.0)
    out = np.rint(np.clip(v, 0.0, 1.0) * 255.0).astype(np.uint8)
    out[~valid, :3] = np.asarray(p["rgb_background"], dtype=np.uint8)
    return out


def _decode_segments(a, p):
    return a.astype(np.int64), _everywhere(a)


def _encode_segments(v, valid, p):
    v = np.asarray(v)
    if v.size and (v.min() < 0 or v.max() > 255):
        raise ValueError("segment ids must lie in 0..255")
    return v.astype(np.uint8)


def _decode_semantic(a, p):
    from labelgen.labels import surface_ids
    return surface_ids.decode_semantic(a), ~np.all(a == 0, axis=-1)


def _encode_semantic(v, valid, p):
    from labelgen.labels import surface_ids
    v = np.where(valid[..., None], np.asarray(v, dtype=np.int64), 0)
    if v.size and (v.min() < 0 or v[..., 0].max() > 255 or v[..., 1].max() > 65535):
        raise ValueError("semantic class ids must lie in 0..255 and instance ids in 0..65535")
    return surface_ids.pack_semantic(v[..., 0], v[..., 1])


def _decode_fragments(a, p):
    from labelgen.labels import surface_ids
    index = surface_ids.decode_fragments(a)
    return index, index >= 0


def _encode_fragments(v, valid, p):
    from labelgen.labels import surface_ids
    return surface_ids.encode_fragments(np.where(valid, np.asarray(v, dtype=np.int64), -1))


_DEPTH = Codec("metres", "float", "code", _decode_depth, _encode_depth)
_UNIT16 = "float in [0, 1] (uint16 / 65535)"
#: Every label's codec, by name.
CODECS: dict[str, Codec] = {
    "depth_zbuffer": _DEPTH,
    "depth_euclidean": _DEPTH,
    "normal": Codec("unit vector in OpenCV camera axes (x right, y down, z forward)", "float", "code",
                    _decode_normal, _encode_normal),
    "reshading": Codec("shading in [0, 1] (uint8 / 255), one channel", "float", "hit", _decode_reshading,
                       _encode_reshading),
    "mask_valid": Codec("bool, True where the depth is valid", "bool", "all", _decode_mask,
                        lambda v, valid, p: np.where(v, 255, 0).astype(np.uint8)),
    "principal_curvature": Codec("1/m, channels k1 (larger magnitude), k2", "float", "hit", _decode_curvature,
                                 _encode_curvature),
    "edge_texture": Codec(_UNIT16 + ", Sobel magnitude of the smoothed grey image", "float", "all",
                          _decode_unit16, _encode_unit16),
    "edge_occlusion": Codec(_UNIT16 + ", Sobel magnitude of sqrt(depth units) / 256", "float", "all",
                            _decode_unit16, _encode_unit16),
    "keypoints2d": Codec(_UNIT16 + ", SURF Hessian determinant", "float", "all", _decode_unit16, _encode_unit16),
    "keypoints3d": Codec("NARF interest in [0, 1) (uint16 / 65536)", "float", "all", _decode_interest,
                         _encode_interest),
    "rgb": Codec("colour in [0, 1] (uint8 / 255), RGB (RGBA files keep their alpha)", "float", "hit",
                 _decode_rgb, _encode_rgb),
    "segment_unsup2d": Codec("segment id", "int", "all", _decode_segments, _encode_segments),
    "segment_unsup25d": Codec("segment id", "int", "all", _decode_segments, _encode_segments),
    "fragments": Codec("triangle index (-1: none)", "int", "code", _decode_fragments, _encode_fragments),
    "semantic": Codec("[class id, instance id]", "int", "code", _decode_semantic, _encode_semantic),
}


def _codec(task) -> tuple[str, Codec]:
    try:
        name = get_label(task).name
    except KeyError:
        raise LabelgenError("task", f"unknown task '{task}' (see 'labelgen tasks')") from None
    if name not in CODECS:
        raise LabelgenError("task", f"no decoding for '{name}'")
    return name, CODECS[name]


def _params(params) -> dict[str, Any]:
    try:
        return resolve_params(params)
    except KeyError as err:
        raise LabelgenError("params", err.args[0]) from None


def _storage_problem(name: str, array: np.ndarray) -> str | None:
    if name == "rgb":
        ok = array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] in (3, 4)
        return None if ok else f"rgb must be an 8-bit RGB or RGBA image, got {array.dtype} {array.shape}"
    if name == "reshading" and array.dtype == np.uint8 and array.ndim == 2:
        return None  # written as grey by some pipelines
    return get_label(name).check_array(array, None)


def decode_array(array: np.ndarray, task: str, params: dict | None = None, valid=None, fill=0.0,
                 where=None, resolved: bool = False) -> DecodedLabel:
    """:func:`read_label` on a stored array (``where`` names it in errors; ``resolved``:
    ``params`` are already every parameter, as :func:`labelgen.engine.resolve_params` gives them)."""
    name, codec = _codec(task)
    where = where if where is not None else name
    array = np.asarray(array)
    problem = _storage_problem(name, array)
    if problem:
        raise LabelgenError(where, problem)
    p = params if resolved else _params(params)
    try:
        value, ok = codec.decode(array, p)
    except ValueError as err:
        raise LabelgenError(where, str(err)) from None
    if valid is not None:
        mask = np.asarray(valid, dtype=bool)
        if mask.shape != array.shape[:2]:
            raise LabelgenError("valid", f"must be an (H, W) mask of the image's size {array.shape[:2]}, "
                                         f"got {mask.shape}")
        ok = mask if codec.validity == "hit" else ok & mask if codec.validity == "code" else ok
    if codec.kind == "float":
        value = value.astype(np.float32)
        value[~ok] = fill
    return DecodedLabel(name, value, ok, codec.units)


def read_label(source, task: str | None = None, params: dict | None = None, valid=None, fill: float = 0.0,
               max_pixels: int | None = None) -> DecodedLabel:
    """A label image in physical units (see :data:`CODECS` for each label's units).

    Parameters
    ----------
    source : a label file (PNG, or JPEG data whatever its name) or its stored array.
    task : the label (current or legacy name); default: from the file name
        (``point_P_view_V_domain_{task}.png``).
    params : label parameters that change the units (``depth_units_per_meter``,
        ``curvature_r_min``, ``rgb_background``); others keep their Taskonomy defaults.
    valid : the view's valid-depth mask (``mask_valid``, or depth != 65535): the exact validity
        of reshading, principal_curvature and rgb, whose invalid code a valid pixel can also
        have; labels whose invalid code is unambiguous (depth, normal, ...) combine it with
        theirs; labels defined everywhere ignore it.
    fill : what ``value`` holds where not valid (float labels; 0 by default, NaN allowed).
    max_pixels : largest image read (see :mod:`labelgen.core._limits`).

    Returns
    -------
    DecodedLabel
        ``value``, ``valid`` and ``units``; :func:`encode_label` gives the stored array back.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if task is None:
            task = label_of_file(path.name)
            if task == path.name:
                raise LabelgenError(path, "cannot tell the label from the file name (point_P_view_V_domain_LABEL.png); "
                                          "pass task=")
        _codec(task)
        return decode_array(read_image(path, max_pixels)[0], task, params, valid, fill, where=path)
    if task is None:
        raise LabelgenError("task", "an array needs task= (the label it holds)")
    return decode_array(source, task, params, valid, fill)


def encode_label(task: str, value, valid=None, params: dict | None = None, channels_first: bool = False) -> np.ndarray:
    """The stored array (uint8/uint16, exactly what the PNG holds) of a label in physical units:
    the exact inverse of :func:`read_label`.

    ``value``: a :class:`DecodedLabel` (its ``valid`` is used), or the values as
    :func:`read_label` gives them (``channels_first``: (C, H, W)). ``valid``: (H, W) bool, the
    pixels to encode; the others get the label's invalid code. Default: float labels, the
    pixels whose values are all finite (NaN marks invalid pixels); the others, all.
    """
    name, codec = _codec(task)
    if isinstance(value, DecodedLabel):
        if value.task != name:
            raise LabelgenError("task", f"the decoded label is {value.task}, not {name}")
        valid = value.valid if valid is None else valid
        value = value.value
    value = np.asarray(value)
    if channels_first and value.ndim == 3:
        value = np.moveaxis(value, 0, -1)
        if value.shape[-1] == 1:
            value = value[..., 0]
    if value.ndim not in (2, 3):
        raise LabelgenError(name, f"expected an (H, W) or (H, W, C) array, got shape {value.shape}")
    if valid is None:
        valid = np.all(np.isfinite(value), axis=-1) if codec.kind == "float" and value.ndim == 3 else \
            np.isfinite(value) if codec.kind == "float" else np.ones(value.shape[:2], dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if channels_first and valid.ndim == 3 and valid.shape[0] == 1:
        valid = valid[0]
    if valid.shape != value.shape[:2]:
        raise LabelgenError("valid", f"must be an (H, W) mask of the value's size {value.shape[:2]}, got {valid.shape}")
    try:
        return codec.encode(value, valid, _params(params))
    except ValueError as err:
        raise LabelgenError(name, str(err)) from None
