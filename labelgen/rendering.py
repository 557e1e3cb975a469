"""Renderers: mesh + camera -> per-view geometry buffer.

The default renderer casts one ray per pixel centre with Open3D's Embree-backed
``RaycastingScene``; the scene is built once per mesh and reused for every view.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    triangle : (H, W) int64 index of the hit face in the merged mesh, -1 where nothing is hit.
    barycentric : (H, W, 2) float32 (u, v): the hit is ``(1-u-v) v0 + u v1 + v v2``.
    normal : (H, W, 3) float64 unit face normal in world axes, flipped to face the camera
        (zero where nothing is hit).
    """

    camera: Camera
    depth: np.ndarray
    triangle: np.ndarray
    barycentric: np.ndarray
    normal: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        """(H, W) bool: the ray hit the mesh."""
        return self.triangle >= 0

    def euclidean(self) -> np.ndarray:
        """(H, W) distance in metres from the optical centre to the hit (inf for no hit)."""
        d = self.camera.pixel_directions()
        return self.depth * np.sqrt(d[:, :, 0] ** 2 + d[:, :, 1] ** 2 + 1.0)

    def normal_camera(self) -> np.ndarray:
        """(H, W, 3) normals in OpenCV camera axes (x right, y down, z forward)."""
        n = self.normal @ self.camera.rotation  # world -> Blender camera axes
        n[:, :, 1:] *= -1.0
        return n


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
        d = camera.pixel_directions() @ camera.rotation.T
        rays = np.empty(d.shape[:2] + (6,), dtype=np.float32)
        rays[:, :, :3] = camera.location
        rays[:, :, 3:] = d
        return rays

    def cast(self, rays: np.ndarray) -> dict:
        """Bare ``cast_rays`` on prepared rays; returns numpy arrays."""
        out = self.scene.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.threads)
        return {k: v.numpy() for k, v in out.items()}

    def render(self, camera: Camera) -> GeometryBuffer:
        """Cast one ray per pixel centre and return the view's :class:`GeometryBuffer`."""
        rays = self.rays(camera)
        hit = self.cast(rays)
        t = hit["t_hit"].astype(np.float64)
        valid = np.isfinite(t)
        tri = np.where(valid, hit["primitive_ids"].astype(np.int64), -1)
        normal = np.zeros(t.shape + (3,), dtype=np.float64)
        n = self._normals[tri[valid]]
        dirs = rays[:, :, 3:][valid].astype(np.float64)
        flip = np.einsum("ij,ij->i", n, dirs) > 0
        n[flip] *= -1.0
        normal[valid] = n
        depth = np.where(valid, t, np.inf)
        bary = np.where(valid[:, :, None], hit["primitive_uvs"], 0).astype(np.float32)
        return GeometryBuffer(camera, depth, tri, bary, normal)


RENDERERS = {"open3d": Open3DRenderer}


def make_renderer(mesh: Mesh, backend: str = "open3d", **kw):
    """The renderer named ``backend`` for ``mesh``."""
    try:
        cls = RENDERERS[backend]
    except KeyError:
        raise ValueError(f"unknown renderer '{backend}' (available: {', '.join(RENDERERS)})") from None
    return cls(mesh, **kw)
