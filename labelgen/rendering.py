"""Renderers: mesh + camera -> per-view geometry buffer.

The default renderer casts one ray per pixel centre with Open3D's Embree-backed
``RaycastingScene``; the scene is built once per mesh and reused for every view.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernels import geometry

from .cameras import Camera
from .meshes import Mesh


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


class Open3DRenderer:
    """Ray casting with Open3D's ``RaycastingScene`` (Embree).

    Parameters
    ----------
    mesh : the mesh to render; its scene is built once here.
    threads : threads for ``cast_rays`` (0 = all cores).
    """

    name = "open3d"

    def __init__(self, mesh: Mesh, threads: int = 0):
        import open3d as o3d

        self._o3d = o3d
        self.mesh = mesh
        self.threads = int(threads)
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                                 o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        self._normals = mesh.face_normals()

    def rays(self, camera: Camera) -> np.ndarray:
        """(H, W, 6) float32 rays [origin, direction], directions with camera-z length 1."""
        return geometry.camera_rays(camera.location, camera.rotation, camera.focal, camera.width, camera.height)

    def cast(self, rays: np.ndarray) -> dict:
        """Bare ``cast_rays`` on prepared rays; returns numpy arrays."""
        out = self.scene.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.threads)
        return {k: v.numpy() for k, v in out.items()}

    def render(self, camera: Camera) -> GeometryBuffer:
        """Cast one ray per pixel centre and return the view's :class:`GeometryBuffer`."""
        hit = self.cast(self.rays(camera))
        depth, distance, triangle, normal = geometry.hit_geometry(
            hit["t_hit"], hit["primitive_ids"], self._normals, camera.rotation, camera.focal)
        return GeometryBuffer(camera, depth, distance, triangle, hit["primitive_uvs"], normal)


RENDERERS = {"open3d": Open3DRenderer}


def make_renderer(mesh: Mesh, backend: str = "open3d", **kw):
    """The renderer named ``backend`` for ``mesh``."""
    try:
        cls = RENDERERS[backend]
    except KeyError:
        raise ValueError(f"unknown renderer '{backend}' (available: {', '.join(RENDERERS)})") from None
    return cls(mesh, **kw)
