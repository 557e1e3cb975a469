"""The per-view geometry buffer every renderer produces: what each pixel's ray hit."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelgen.camera._cameras import Camera
from labelgen.kernels import geometry


@dataclass(eq=False)
class GeometryBuffer:
    """What one view's rays hit.

    Attributes
    ----------
    camera : the view's camera.
    depth : (H, W) float64 z-buffer depth in metres (distance along the viewing axis); inf
        where the ray hits nothing.
    distance : (H, W) float64 Euclidean distance in metres from the optical centre; inf
        where the ray hits nothing.
    triangle : (H, W) int64 index of the hit face in the merged mesh, -1 where nothing is hit.
    barycentric : (H, W, 2) float32 (u, v): the hit is ``(1-u-v) v0 + u v1 + v v2``.
    normal : (H, W, 3) float64 unit face normal in OpenCV camera axes (x right, y down,
        z forward), flipped to face the camera; zero where nothing is hit.
    """

    camera: Camera
    depth: np.ndarray
    distance: np.ndarray
    triangle: np.ndarray
    barycentric: np.ndarray
    normal: np.ndarray
    _valid: dict = field(default_factory=dict, repr=False)

    @property
    def hit(self) -> np.ndarray:
        """(H, W) bool: the ray hit the mesh."""
        return self.triangle >= 0

    def valid(self, units_per_meter: float, invalid: int = 65535) -> np.ndarray:
        """(H, W) bool: hit, and both depths encodable in ``units_per_meter`` below ``invalid``."""
        key = (float(units_per_meter), int(invalid))
        if key not in self._valid:
            self._valid[key] = geometry.valid_depth(self.depth, self.distance, key[0], key[1])
        return self._valid[key]
