"""Unsupervised segmentation labels (spec section 4): ``segment_unsup2d``, ``segment_unsup25d``.

Both are Felzenszwalb superpixels merged by recursive normalized cuts on a region adjacency
graph weighted by mean-feature similarity ``exp(-|m1 - m2|^2 / 255)`` (the scikit-image
pipeline of the original Taskonomy / Omnidata annotator, reimplemented in
:mod:`labelgen.kernels.segmentation`, deterministic).

- ``segment_unsup2d``: Felzenszwalb on the RGB image (scaled to [0, 1]; scale 200, sigma 3,
  min_size 20); the graph uses the mean RGB (0..255); cut threshold 0.005, 10 cuts, self-edge
  weight 2.
- ``segment_unsup25d``: Felzenszwalb (scale 200, sigma 0, min_size 200) on a 5-channel image
  ``[2 * masked_smooth(log(D) / 16, 1), 1 * masked_smooth(normal / 255, 2) (per channel),
  10 * edge_occlusion / 65025]``, D the raw uint16 z-buffer depth, valid mask ``D < 65534``
  (as the original annotator); the graph uses the mean of the same 5 channels; cut threshold
  1.0, 100 cuts, self-edge weight 1.

Output: uint8 segment ids 0..n-1 in raster order of first appearance. A uint8 image holds at
most 256 ids: when the cut leaves more segments, the smallest ones are merged into their
most similar 8-adjacent neighbour until 256 remain (see
:func:`labelgen.kernels.segmentation.limit_segments`) and a warning is logged.
"""
from __future__ import annotations

import logging

import numpy as np
from labelgen.kernels.filters import gaussian_masked

from labelgen.core._errors import LabelgenError
from . import Label, Param, register

log = logging.getLogger("labelgen")

MAX_SEGMENTS = 256  # ids a uint8 image can hold
DEPTH_MASK_BELOW = 65534  # original annotator: mask = depth < 2**16 - 2

PARAMS_2D = (
    Param("seg2d_scale", 200.0, "segment_unsup2d: Felzenszwalb scale (larger: larger superpixels)", low=0),
    Param("seg2d_sigma", 3.0, "segment_unsup2d: Gaussian pre-smoothing of the RGB for Felzenszwalb", low=0),
    Param("seg2d_min_size", 20, "segment_unsup2d: Felzenszwalb minimum superpixel size, pixels", int, low=0),
    Param("seg2d_similarity_sigma", 255.0,
          "segment_unsup2d: RAG edge weight exp(-|c1-c2|^2 / this), mean RGB in 0..255", low=0, open_low=True),
    Param("seg2d_cut_thresh", 0.005, "segment_unsup2d: stop cutting when the normalized cut exceeds this"),
    Param("seg2d_num_cuts", 10, "segment_unsup2d: thresholds tried per normalized cut", int, low=0, open_low=True),
    Param("seg2d_self_edge_weight", 2.0, "segment_unsup2d: weight of each RAG node's self edge", low=0, open_low=True),
)

PARAMS_25D = (
    Param("seg25d_scale", 200.0, "segment_unsup25d: Felzenszwalb scale", low=0),
    Param("seg25d_sigma", 0.0, "segment_unsup25d: Gaussian pre-smoothing inside Felzenszwalb", low=0),
    Param("seg25d_min_size", 200, "segment_unsup25d: Felzenszwalb minimum superpixel size, pixels", int, low=0),
    Param("seg25d_similarity_sigma", 255.0,
          "segment_unsup25d: RAG edge weight exp(-|f1-f2|^2 / this) on the 5 feature channels", low=0, open_low=True),
    Param("seg25d_cut_thresh", 1.0, "segment_unsup25d: stop cutting when the normalized cut exceeds this"),
    Param("seg25d_num_cuts", 100, "segment_unsup25d: thresholds tried per normalized cut", int, low=0, open_low=True),
    Param("seg25d_self_edge_weight", 1.0, "segment_unsup25d: weight of each RAG node's self edge", low=0, open_low=True),
    Param("seg25d_depth_weight", 2.0, "segment_unsup25d: weight of the log(depth)/16 channel"),
    Param("seg25d_depth_sigma", 1.0, "segment_unsup25d: masked Gaussian smoothing of log(depth)/16", low=0),
    Param("seg25d_normal_weight", 1.0, "segment_unsup25d: weight of the normal/255 channels"),
    Param("seg25d_normal_sigma", 2.0, "segment_unsup25d: masked Gaussian smoothing of normal/255", low=0),
    Param("seg25d_edge_weight", 10.0, "segment_unsup25d: weight of the edge_occlusion/65025 channel"),
)


def features_25d(depth: np.ndarray, normal: np.ndarray, edge: np.ndarray, params: dict) -> np.ndarray:
    """The (H, W, 5) float64 feature image of ``segment_unsup25d`` from encoded inputs.

    ``depth``: uint16 z-buffer (raw units), ``normal``: uint8 RGB, ``edge``: uint16
    edge_occlusion. Channels: ``w_d * S1(log(max(D, 1)) / 16)``, ``w_n * S2(normal / 255)``
    (each channel), ``w_e * edge / 65025``, with ``S`` the masked smoothing over the valid
    depth (``D < 65534``).
    """
    d = np.asarray(depth)
    mask = d < DEPTH_MASK_BELOW
    out = np.empty(d.shape + (5,))
    # each channel written in place (the masked smoothing scales as `result * weight` would)
    logd = np.log(np.maximum(d, 1).astype(np.float64)) / 16.0
    gaussian_masked(logd, mask, params["seg25d_depth_sigma"], scale=params["seg25d_depth_weight"],
                    out=out[:, :, 0])
    nrm = np.asarray(normal, dtype=np.float64) / 255.0
    gaussian_masked(nrm, mask, params["seg25d_normal_sigma"], scale=params["seg25d_normal_weight"],
                    out=out[:, :, 1:4])
    e = np.asarray(edge, dtype=np.float64) / 255.0
    e /= 255.0
    np.multiply(e, params["seg25d_edge_weight"], out=out[:, :, 4])
    return out


def segment(image, features, scale, sigma, min_size, thresh, num_cuts, self_edge, similarity_sigma,
            name="segments", max_segments=MAX_SEGMENTS):
    """Felzenszwalb on ``image`` + normalized cuts on the RAG of ``features``; uint8 ids."""
    from labelgen.kernels.segmentation import cut_normalized, felzenszwalb, limit_segments

    sp = felzenszwalb(image, scale, sigma, min_size)
    seg, k = cut_normalized(sp, features, thresh, num_cuts, self_edge, similarity_sigma)
    if k > max_segments:
        seg, k2, _ = limit_segments(seg, features, max_segments)
        log.warning("%s: %d segments, more than %d (the ids a uint8 label holds); merged the "
                    "smallest into their most similar neighbours, %d left", name, k, max_segments, k2)
    return seg.astype(np.uint8)


def _check_params(params, positive, non_negative):
    """Raise LabelgenError naming the flag of a parameter out of range."""
    for n in positive:
        if not params[n] > 0:
            raise LabelgenError("--" + n.replace("_", "-"), f"must be > 0, got {params[n]}")
    for n in non_negative:
        if not params[n] >= 0:
            raise LabelgenError("--" + n.replace("_", "-"), f"must be >= 0, got {params[n]}")


def _segment_unsup2d(inputs, params):
    rgb = inputs["rgb"]
    _check_params(params, ("seg2d_num_cuts", "seg2d_similarity_sigma", "seg2d_self_edge_weight"),
                  ("seg2d_sigma", "seg2d_scale", "seg2d_min_size"))
    return segment(rgb[:, :, :3], rgb[:, :, :3], params["seg2d_scale"], params["seg2d_sigma"],
                   params["seg2d_min_size"], params["seg2d_cut_thresh"], params["seg2d_num_cuts"],
                   params["seg2d_self_edge_weight"], params["seg2d_similarity_sigma"], "segment_unsup2d")


def _segment_unsup25d(inputs, params):
    _check_params(params, ("seg25d_num_cuts", "seg25d_similarity_sigma", "seg25d_self_edge_weight"),
                  ("seg25d_sigma", "seg25d_scale", "seg25d_min_size", "seg25d_depth_sigma",
                   "seg25d_normal_sigma"))
    feat = features_25d(inputs["depth_zbuffer"], inputs["normal"], inputs["edge_occlusion"], params)
    return segment(feat, feat, params["seg25d_scale"], params["seg25d_sigma"], params["seg25d_min_size"],
                   params["seg25d_cut_thresh"], params["seg25d_num_cuts"], params["seg25d_self_edge_weight"],
                   params["seg25d_similarity_sigma"], "segment_unsup25d")


_ENCODING = "uint8 segment ids 0..n-1 in raster order of first appearance (only the partition is meaningful)"

register(Label(
    "segment_unsup2d", ("rgb",), _segment_unsup2d, "gray8", legacy_name="segment2d",
    encoding=_ENCODING, invalid="none (every pixel has a segment)", params=PARAMS_2D,
    description="Felzenszwalb superpixels of the RGB merged by normalized cuts"))
register(Label(
    "segment_unsup25d", ("depth_zbuffer", "normal", "edge_occlusion"), _segment_unsup25d, "gray8",
    legacy_name="segment25d", encoding=_ENCODING, invalid="none (every pixel has a segment)",
    params=PARAMS_25D,
    description="Felzenszwalb + normalized cuts on smoothed log-depth, normals and occlusion edges"))
