"""Room boxes of points for ``labelgen sample`` (``bounding_box_ranges`` and ``room``): read
from a JSON file of named axis-aligned boxes, or estimated per point by casting rays.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.io._images import read_json
from labelgen.core._paths import check_name
from labelgen.render._raycast import RaycastScene


def read_room_boxes(path) -> dict[str, dict[str, list[float]]]:
    """Named axis-aligned room boxes from JSON: ``{"name": {"x": [min, max], "y": [...], "z": [...]}}``
    (optionally wrapped as ``{"rooms": {...}}``)."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict) and set(data) == {"rooms"}:
        data = data["rooms"]
    if not isinstance(data, dict) or not data:
        raise LabelgenError(path, "expected a JSON object of named boxes {name: {x: [min, max], y: ..., z: ...}}")
    out = {}
    for name, box in data.items():
        check_name(name, path, "room name")
        if not isinstance(box, dict):
            raise LabelgenError(path, f"room '{name}': a box must be an object with x, y, z ranges")
        ranges = {}
        for ax in "xyz":
            r = box.get(ax)
            if (not isinstance(r, list) or len(r) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in r)
                    or not r[0] <= r[1]):
                raise LabelgenError(path, f"room '{name}': '{ax}' must be [min, max] with min <= max, got {r!r}")
            ranges[ax] = [float(r[0]), float(r[1])]
        out[str(name)] = ranges
    return out


def room_of(point, boxes: dict, tolerance: float = 0.001) -> str | None:
    """Name of the smallest box containing ``point`` within ``tolerance`` metres (points lie on
    the walls, floors and ceilings that bound the boxes), ties to the first in the file, or None."""
    best, best_vol = None, math.inf
    for name, b in boxes.items():
        if all(b[ax][0] - tolerance <= point[i] <= b[ax][1] + tolerance for i, ax in enumerate("xyz")):
            vol = np.prod([b[ax][1] - b[ax][0] for ax in "xyz"])
            if vol < best_vol:
                best, best_vol = name, vol
    return best


def estimate_room_boxes(scene: RaycastScene, points, normals, theta: float, n_rays: int = 256,
                        percentile: float = 5.0) -> np.ndarray:
    """Estimated room box of each point: (P, 3, 2) ranges in the Manhattan frame.

    From 5 cm in front of the point, ``n_rays`` rays spread evenly over the sphere are cast;
    the box spans the ``percentile``-th to ``100 - percentile``-th percentile of the hits'
    coordinates along each Manhattan axis (so that rays escaping through doors do not
    stretch it), grown to contain the point.
    """
    if len(points) == 0:
        return np.zeros((0, 3, 2))
    i = np.arange(n_rays) + 0.5
    z = 1 - 2 * i / n_rays
    phi = i * math.pi * (3 - math.sqrt(5))
    s = np.sqrt(1 - z * z)
    dirs = np.column_stack([s * np.cos(phi), s * np.sin(phi), z])
    origin = points + 0.05 * normals
    t, face = scene.cast(np.repeat(origin, n_rays, axis=0), np.tile(dirs, (len(points), 1)))
    t = t.reshape(len(points), n_rays)
    hitp = origin[:, None, :] + np.where(np.isfinite(t), t, np.nan)[:, :, None] * dirs[None]
    c, sn = math.cos(theta), math.sin(theta)
    to_m = np.array([[c, sn, 0.0], [-sn, c, 0.0], [0.0, 0.0, 1.0]])  # world -> Manhattan coordinates
    hm = hitp @ to_m.T
    pm = points @ to_m.T
    out = np.empty((len(points), 3, 2))
    with np.errstate(invalid="ignore"), _quiet_nan():
        lo = np.nanpercentile(hm, percentile, axis=1)
        hi = np.nanpercentile(hm, 100 - percentile, axis=1)
    lo = np.where(np.isfinite(lo), lo, pm)
    hi = np.where(np.isfinite(hi), hi, pm)
    out[:, :, 0] = np.minimum(lo, pm)
    out[:, :, 1] = np.maximum(hi, pm)
    return out


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)
