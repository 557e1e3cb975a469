"""NARF interest image: PCL's ``NarfKeypoint`` dense interest image as Numba kernels.

This module reimplements, step by step, what Taskonomy ran to make ``keypoints3d``: PCL's
NARF keypoint detector (B. Steder, R. B. Rusu, K. Konolige, W. Burgard, "Point Feature
Extraction on 3D Range Scans Taking into Account Object Boundaries", ICRA 2011) on a planar
range image built from the z-buffer depth, keeping the dense *interest image* (the score of
every pixel before non-maximum suppression).

Pipeline (names follow the paper and PCL; every number is float32 as in PCL):

1. **Range image** (:mod:`.narf_range`, ``RangeImagePlanar::setDepthImage``): every
   pixel ``(x, y)`` with depth ``z > 0`` becomes the point
   ``((x - cx) z / f, (y - cy) z / f, z)`` with range ``r = |p|``; other pixels are
   *unobserved* (range ``-inf``). The angular resolution is ``asin(W / 2f) / (W / 2)``.
2. **Border extraction** (:mod:`.narf_borders`, ``RangeImageBorderExtractor`` with its
   default parameters):

   a. *local surface* per point: PCA of the neighbours in a 5x5 window that lie within twice
      the distance of the 9th closest one (normal, mean, and that squared distance ``d9``);
   b. *border scores* left/right/top/bottom: ``1 - sqrt(d9 / |p - q|^2)`` with ``q`` the
      average of the next 3 points in that direction (negative when ``q`` is closer to the
      sensor, i.e. on the shadow side);
   c. scores raised by the average of their 8 neighbours;
   d. *shadow borders*: a border score >= 0.8 needs a negative score in the opposite
      direction within 3 pixels (the shadow border), and is lowered according to it;
   e. *classification*: local maxima become *obstacle borders*, their partners *shadow
      borders*, and the pixels in between *veil points*;
   f. *border directions*: the 3D direction from an obstacle border point towards the
      background (projected on the local plane), averaged over a 5x5 window;
   g. *surface change* score and direction: 1 and the border direction on obstacle
      borders, else the main *principal curvature* (largest eigenvalue of the PCA of the
      neighbours' normals along 8 beams of 2 pixels) and its direction.
3. **Interest values** (:mod:`.narf_interest`, ``NarfKeypoint::calculateCompleteInterestImage``):
   for each point, the points reachable by region growing within the support radius
   ``support_size / 2`` vote in an 18-cell histogram of surface-change directions (the angle
   in the plane orthogonal to the viewing ray); the interest is
   ``negative_score * sqrt(max_{i<j} h_i h_j d_ij)`` where ``d_ij`` is the normalised angle
   between the cells and ``negative_score`` penalises strong surface changes closer than
   a quarter of the support size.
4. **Recursive scale reduction** (:mod:`.narf_scale`): a pyramid of half images (2x2 minimum-range points) is
   built while half the angular resolution stays below 2 degrees; each scale is done from the
   coarsest up, and a point closer than ``support_size / tan(10 * res_{s+1})`` takes its value
   from the next coarser scale. Taskonomy's copy of ``NarfKeypoint`` took that value by
   *bilinear interpolation* (with the row coordinate computed as ``index / width`` without
   flooring, so the vertical weight also carries ``x / (2 W)``); ``taskonomy_upsampling``
   reproduces that, otherwise stock PCL's nearest value is used.

Quirks of PCL kept on purpose because they change the result: the angle of a direction in
the histogram only depends on its first coordinate in the viewer frame
(``0.5 * normAngle(2 acos(dx))``), PCL's own 3x3 eigen solver (``pcl::eigen33``, whose
eigenvector signs matter through that angle), the float32 streaming mean/covariance of
``VectorAverage`` and libstdc++'s ``std::sort`` order of the neighbours.

This module is the public entry point (:func:`interest_image`, :func:`encode_interest`) and
re-exports the stages' public names; PCL's float32 numerics are in :mod:`.narf_numerics`, the
simple versions the tests hold the fast kernels against in :mod:`.narf_reference`.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from .narf_borders import (
    BorderExtraction, border_extraction, classify_borders, lap_clock, surface_change)
from .narf_interest import InterestParams, interest_values
from .narf_numerics import (
    HISTOGRAM_SIZE, MIN_SURFACE_CHANGE_SCORE, MINIMUM_BORDER_PROBABILITY, OBSTACLE_BORDER,
    OBSTACLE_BORDER_BOTTOM, OBSTACLE_BORDER_LEFT, OBSTACLE_BORDER_RIGHT, OBSTACLE_BORDER_TOP,
    SHADOW_BORDER, SHADOW_BORDER_BOTTOM, SHADOW_BORDER_LEFT, SHADOW_BORDER_RIGHT, SHADOW_BORDER_TOP,
    VEIL_POINT, VEIL_POINT_BOTTOM, VEIL_POINT_LEFT, VEIL_POINT_RIGHT, VEIL_POINT_TOP, eigen33, f32)
from .narf_range import RangeImage, half_image, planar_range_image
from .narf_reference import interest_values_reference, interest_values_simple
from .narf_scale import (
    computed_mask, copy_footprint, scale_space, start_usage_ranges, support_candidates)

__all__ = [
    "interest_image", "encode_interest", "SUPPORT_SIZE",
    "RangeImage", "planar_range_image", "half_image", "scale_space", "start_usage_ranges",
    "BorderExtraction", "border_extraction", "eigen33", "interest_values_reference",
    "HISTOGRAM_SIZE", "MIN_SURFACE_CHANGE_SCORE", "MINIMUM_BORDER_PROBABILITY",
    "OBSTACLE_BORDER", "OBSTACLE_BORDER_LEFT", "OBSTACLE_BORDER_RIGHT", "OBSTACLE_BORDER_TOP",
    "OBSTACLE_BORDER_BOTTOM", "SHADOW_BORDER", "SHADOW_BORDER_LEFT", "SHADOW_BORDER_RIGHT",
    "SHADOW_BORDER_TOP", "SHADOW_BORDER_BOTTOM", "VEIL_POINT", "VEIL_POINT_LEFT",
    "VEIL_POINT_RIGHT", "VEIL_POINT_TOP", "VEIL_POINT_BOTTOM",
]

SUPPORT_SIZE = 0.3
"""Default support size in metres: the shipped Taskonomy sample is reproduced with 0.3 m."""


class _Paths(NamedTuple):
    """Which kernels :func:`interest_image` runs."""

    interest_values: object  # the interest kernel of one scale
    min_score: np.float32    # surface-change scores below it may be left at 0
    only_needed: bool        # compute only the pixels the output depends on
    fast_borders: bool       # row-wise neighbour distances, border scores, surface changes; ranked plane fits


FAST = _Paths(interest_values, MIN_SURFACE_CHANGE_SCORE, True, True)
SIMPLE = _Paths(interest_values_simple, f32(0.0), False, False)
"""Every pixel of every scale, exact surface-change scores, the simple interest kernel: the
tests check that :data:`FAST` gives the same bits."""
_PATHS = FAST


def interest_image(depth_m, focal, support_size: float = SUPPORT_SIZE, center=None, recursive: bool = True,
                   taskonomy_upsampling: bool = True, timings: dict | None = None,
                   eigen_variant: int = 0) -> np.ndarray:
    """NARF interest image (float32, (H, W), values in [0, 1]) of a z-buffer depth image.

    Parameters
    ----------
    depth_m : (H, W) array, z-buffer depth in metres (``<= 0`` or non-finite: no data).
    focal : focal length in pixels.
    support_size : diameter of the NARF support sphere in metres (default 0.3, which
        reproduces the shipped Taskonomy sample).
    center : principal point (cx, cy), default (W / 2, H / 2).
    recursive : PCL's ``use_recursive_scale_reduction`` (Taskonomy: on).
    taskonomy_upsampling : take values from coarser scales by Taskonomy's bilinear
        interpolation (True) or by stock PCL's nearest pixel (False).
    timings : if a dict, filled with seconds per stage.
    eigen_variant : 0 = PCL 1.7/1.8's 3x3 eigen solver (Taskonomy); 1 = PCL >= 1.10's (to
        compare with a modern PCL build).

    References
    ----------
    B. Steder, R. B. Rusu, K. Konolige, W. Burgard, "Point Feature Extraction on 3D Range
    Scans Taking into Account Object Boundaries", ICRA 2011; PCL ``NarfKeypoint``.
    """
    if not support_size > 0:
        raise ValueError(f"support_size must be positive, got {support_size}")
    paths = _PATHS
    support = f32(support_size)
    t = time.perf_counter()
    ri = planar_range_image(depth_m, focal, center)
    scales = scale_space(ri, recursive)
    starts = start_usage_ranges(scales, support_size)
    if timings is not None:
        timings["range images"] = time.perf_counter() - t
    stages = None if timings is None else timings.setdefault("border extraction stages", {})
    lap = lap_clock(stages)
    # border classification at every scale, then (fine to coarse) which pixels are needed:
    # all of the finest scale, and at each coarser one those that a finer scale copies
    t = time.perf_counter()
    borders = [classify_borders(im, eigen_variant, lap, paths.fast_borders) for im in scales]
    needs = [np.ones(im.width * im.height, np.bool_) for im in scales]
    for s in range(len(scales) - 1 if paths.only_needed else 0):
        im, nxt = scales[s], scales[s + 1]
        needs[s + 1] = copy_footprint(im.ranges, borders[s].traits, needs[s], im.width, im.height,
                                      starts[s], nxt.width, nxt.height, bool(taskonomy_upsampling))
    t_borders = time.perf_counter() - t
    t_surface = t_interest = 0.0
    per_scale = {}
    surface_per_scale = {}
    half = np.zeros(1, np.float32)
    hw = hh = 1
    for s in range(len(scales) - 1, -1, -1):
        im, b = scales[s], borders[s]
        t = time.perf_counter()
        lap(None)
        if paths.only_needed:
            computed = computed_mask(im.ranges, b.traits, needs[s], starts[s])
            voters = support_candidates(im, b.traits, computed, f32(0.5) * support)
        else:
            voters = needs[s]
        lap("masks of needed pixels")
        be = surface_change(im, b, voters, eigen_variant, lap, paths.min_score, paths.fast_borders)
        t2 = time.perf_counter()
        params = InterestParams(support, starts[s], bool(taskonomy_upsampling))
        cur = paths.interest_values(im, be, params, (half, hw, hh), needs[s])
        t3 = time.perf_counter()
        t_surface += t2 - t
        t_interest += t3 - t2
        per_scale[f"{im.width}x{im.height}"] = t3 - t2
        surface_per_scale[f"{im.width}x{im.height}"] = t2 - t
        half, hw, hh = cur, im.width, im.height
    if timings is not None:
        timings["border extraction"] = t_borders + t_surface
        timings["interest values"] = t_interest
        timings["interest values per scale"] = per_scale
        timings["planes + surface changes per scale"] = surface_per_scale
    return half.reshape(ri.height, ri.width)


def encode_interest(interest: np.ndarray) -> np.ndarray:
    """uint16 as Taskonomy stored it: ``interest * 2**16`` truncated (clipped to 0..65535)."""
    v = np.floor(np.asarray(interest, np.float64) * 65536.0)
    return np.clip(v, 0, 65535).astype(np.uint16)
