"""Agreement metrics between a shipped label file and its recomputation (``labelgen validate``).

Plain NumPy/OpenCV functions on arrays:

- :func:`image_agreement`: fraction of pixels exact, fraction within 1 unit, the largest
  absolute difference, and the bounding box of the largest connected region of differing
  pixels (RGB images: the largest difference over the channels).
- :func:`adjusted_rand_index`: agreement of two partitions (segmentations), independent of
  the ids each uses (Hubert and Arabie's adjusted Rand index, from the contingency table).
- :func:`pearson` and :func:`median_abs_difference` for keypoint interest images.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def abs_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) int64 ``|a - b|`` (for multi-channel images, the largest over the channels)."""
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return d.max(axis=2) if d.ndim == 3 else d


def largest_region_bbox(mask: np.ndarray) -> list[int] | None:
    """``[x0, y0, x1, y1]`` (inclusive) of the largest 8-connected region of ``mask``, or None."""
    if not mask.any():
        return None
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:n, cv2.CC_STAT_AREA]
    k = 1 + int(np.argmax(areas))  # the first of equally large regions (raster order)
    x, y = int(stats[k, cv2.CC_STAT_LEFT]), int(stats[k, cv2.CC_STAT_TOP])
    return [x, y, x + int(stats[k, cv2.CC_STAT_WIDTH]) - 1, y + int(stats[k, cv2.CC_STAT_HEIGHT]) - 1]


def image_agreement(shipped: np.ndarray, recomputed: np.ndarray) -> dict:
    """``{"exact", "within1", "max_abs", "bbox"}`` of two images of the same shape.

    ``bbox`` is the box of the largest region of pixels that differ at all (None when the
    images are identical).
    """
    if shipped.shape != recomputed.shape:
        raise ValueError(f"shapes differ: {shipped.shape} and {recomputed.shape}")
    d = abs_difference(shipped, recomputed)
    n = d.size
    differ = d > 0
    exact = 1.0 - np.count_nonzero(differ) / n
    return {"exact": float(exact), "within1": float(np.count_nonzero(d <= 1) / n),
            "max_abs": int(d.max()) if n else 0,
            "bbox": largest_region_bbox(differ) if exact < 1.0 else None}


def _pairs(counts: np.ndarray) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1.0) / 2.0).sum())


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings of the same pixels (1: the same partition).

    ``ARI = (sum_ij C(n_ij, 2) - E) / ((sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2 - E)`` with
    ``E = sum_i C(a_i, 2) sum_j C(b_j, 2) / C(n, 2)``, ``n_ij`` the contingency table and
    ``a_i``, ``b_j`` its row and column sums. Ids are arbitrary: only which pixels share an
    id matters. Two partitions that are both a single segment (or all singletons) give 1.
    """
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labelings differ in size: {a.size} and {b.size}")
    n = a.size
    if n < 2:
        return 1.0
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    nb = int(bi.max()) + 1
    table = np.bincount(ai.astype(np.int64) * nb + bi, minlength=(int(ai.max()) + 1) * nb)
    index = _pairs(table)
    sum_a = _pairs(np.bincount(ai))
    sum_b = _pairs(np.bincount(bi))
    expected = sum_a * sum_b / (n * (n - 1) / 2.0)
    maximum = (sum_a + sum_b) / 2.0
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images' values (1.0 for two identical constant images)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    x = x - x.mean()
    y = y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    if den == 0.0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(x @ y) / den


def median_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.median(abs_difference(a, b)))
