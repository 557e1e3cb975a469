"""Check labelgen's panorama ray convention against a published Omnidata panorama pair.

Usage::

    python scripts/check_omnidata_panorama.py DEPTH_EUCLIDEAN.png NORMAL.png

Both files are one Omnidata ``point_{P}_view_equirectangular`` panorama (for instance the
Replica samples in the Omnidata repository, ``omnidata_annotator/assets/replica/``). The
depth panorama is turned into points with labelgen's ray convention
(:mod:`labelgen.render._panorama`), normals are estimated from neighbouring points (facing the
camera), and compared with the normal panorama after a turn about the camera's vertical axis,
for every angle in 2.5 degree steps. Printed: the best angle and the share of pixels within
18 degrees there, for labelgen's convention and for its mirror image (longitude reversed).
A camera-frame normal panorama would match best at 0 degrees.
"""
from __future__ import annotations

import sys

import numpy as np


def estimated_normals(depth: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Normals (OpenCV camera axes, facing the camera) from a depth panorama and its rays."""
    p = dirs * (depth / 512.0)[..., None]
    dx = np.roll(p, -1, 1) - np.roll(p, 1, 1)
    dy = np.roll(p, -1, 0) - np.roll(p, 1, 0)
    n = np.cross(dx, dy)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
    n *= -np.sign(np.sum(n * p, axis=-1))[..., None]
    return n * np.array([1.0, -1.0, -1.0])


def best_turn(est: np.ndarray, stored: np.ndarray) -> tuple[float, float]:
    """(angle in degrees, share of pixels within 18 degrees) of the best turn about y."""
    best = (0.0, -1.0)
    for deg in np.arange(0.0, 360.0, 2.5):
        t = np.radians(deg)
        rot = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
        share = float(np.mean(np.sum((est @ rot.T) * stored, axis=-1) > 0.95))
        if share > best[1]:
            best = (float(deg), share)
    return best


def main(argv):
    from labelgen.io._images import read_png
    from labelgen.render._panorama import directions

    depth = read_png(argv[0]).astype(np.float64)
    normal = read_png(argv[1]).astype(np.float64) / 127.5 - 1.0
    h, w = depth.shape
    keep = depth < 65535
    keep[:5] = keep[-5:] = False
    dirs = directions(w, h)
    for name, d in (("labelgen convention", dirs), ("mirrored longitude", dirs * np.array([-1.0, 1.0, 1.0]))):
        est = estimated_normals(depth, d)[keep]
        deg, share = best_turn(est, normal[keep])
        print(f"{name}: best turn about the vertical {deg:.1f} deg, {100 * share:.1f} % of pixels within 18 deg")


if __name__ == "__main__":
    main(sys.argv[1:])
