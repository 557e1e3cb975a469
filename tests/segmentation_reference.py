"""Test-only reference: the scikit-image segmentation pipeline of the original annotator.

``felzenszwalb`` + ``rag_mean_color`` (similarity mode) + ``cut_normalized``, as in the
Taskonomy / Omnidata scripts ``create_segmentation_2d_images.py`` and
``create_segmentation_25d_images.py``. ``rag_mean_color`` only handles 3 channels, so the
2.5D graph is built the way the original script did it: scikit-image's ``RAG`` with node
means over any number of channels. Slow (networkx, ARPACK); not deterministic unless a
seed is passed.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage as ndi


def rag_mean_features(image, labels, sigma=255.0):
    """``skimage.graph.rag_mean_color(image, labels, mode="similarity")`` for C channels."""
    from skimage import graph

    g = graph.RAG(labels, connectivity=2)
    c = image.shape[2]
    for n in g:
        g.nodes[n].update({"labels": [n], "pixel count": 0, "total color": np.zeros(c)})
    for index in np.ndindex(labels.shape):
        node = g.nodes[labels[index]]
        node["pixel count"] += 1
        node["total color"] += image[index]
    for n in g:
        g.nodes[n]["mean color"] = g.nodes[n]["total color"] / g.nodes[n]["pixel count"]
    for x, y, d in g.edges(data=True):
        diff = np.linalg.norm(g.nodes[x]["mean color"] - g.nodes[y]["mean color"])
        d["weight"] = math.e ** (-(diff ** 2) / sigma)
    return g


def reference_segment(image, features, scale, sigma, min_size, thresh, num_cuts, max_edge,
                      similarity_sigma=255.0, seed=0):
    """Felzenszwalb on ``image``, ncut on the RAG of ``features``; returns (superpixels, labels)."""
    from skimage import graph, segmentation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # >3 channels warning
        sp = segmentation.felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)
    if features.ndim == 3 and features.shape[2] == 3 and similarity_sigma == 255.0:
        g = graph.rag_mean_color(features, sp, mode="similarity")
    else:
        g = rag_mean_features(np.atleast_3d(features).astype(np.float64), sp, similarity_sigma)
    out = graph.cut_normalized(sp, g, thresh=thresh, num_cuts=num_cuts, in_place=True,
                               max_edge=max_edge, rng=seed)
    return sp, out


def reference_2d(rgb, seed=0):
    """The original ``segment2d`` with the Taskonomy defaults."""
    return reference_segment(rgb, rgb, 200, 3.0, 20, 0.005, 10, 2.0, seed=seed)[1]


def smooth_with_mask(image, mask, sigma):
    """The original ``smooth_with_function_and_mask`` with ``gaussian(x, sigma, mode='constant')``."""
    f = lambda x: ndi.gaussian_filter(x, sigma, mode="constant")  # noqa: E731
    bleed = f(mask.astype(float))
    masked = np.zeros(image.shape, image.dtype)
    masked[mask] = image[mask]
    return f(masked) / (bleed + np.finfo(float).eps)


def reference_features_25d(depth, normal, edge):
    """The original 2.5D feature image (depth read as raw uint16 units, as the spec states)."""
    d = depth.astype(np.float64)
    img_depth = np.log(np.maximum(d, 1)) / 16.0
    img_edge = edge / 255.0 / 255.0
    img_normal = normal / 255.0
    mask = depth < 2 ** 16 - 2
    img_normal = np.stack([smooth_with_mask(img_normal[:, :, c], mask, 2.0) for c in range(3)], axis=2)
    img_depth = smooth_with_mask(img_depth, mask, 1.0)
    img = np.concatenate([img_depth[:, :, None], img_normal, img_edge[:, :, None]], axis=2)
    img[:, :, 0] *= 2.0
    img[:, :, 4] *= 10.0
    return img


def reference_25d(depth, normal, edge, seed=0):
    """The original ``segment25d`` with the Taskonomy defaults."""
    feat = reference_features_25d(depth, normal, edge)
    return reference_segment(feat, feat, 200, 0.0, 200, 1.0, 100, 1.0, seed=seed)[1]


def edge_occlusion_from_depth(depth):
    """edge_occlusion from the spec's definition (test helper; the label lives elsewhere).

    ``x = sqrt(D) / 256`` on the valid mask ``D < 65036``; Sobel magnitude
    ``sqrt((Gx^2 + Gy^2) / 2)`` with kernels ``[1,2,1] x [1,0,-1] / 4``; 0 where the 3x3
    neighbourhood leaves the mask and on the border; uint16 ``round(clip(v, 0, 1) * 65535)``.
    """
    d = depth.astype(np.float64)
    valid = depth < 65036
    x = np.where(valid, np.sqrt(d) / 256.0, 0.0)
    gx = ndi.correlate(x, np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]]) / 4.0, mode="constant")
    gy = ndi.correlate(x, np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) / 4.0, mode="constant")
    mag = np.sqrt((gx ** 2 + gy ** 2) / 2.0)
    inside = ndi.binary_erosion(valid, np.ones((3, 3)), border_value=0)
    mag[~inside] = 0.0
    return np.rint(np.clip(mag, 0, 1) * 65535).astype(np.uint16)
