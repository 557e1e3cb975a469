"""One ray-casting scene of a mesh (Open3D's Embree-backed ``RaycastingScene``), built once
and shared by the renderer (:mod:`labelgen.render._renderers`) and camera/point sampling
(:mod:`labelgen.sample._placement`, :mod:`labelgen.sample._points`, :mod:`labelgen.sample._rooms`); numpy in, numpy out.
"""
from __future__ import annotations

import numpy as np

from labelgen.io._meshes import Mesh

LOS_TOLERANCE = 0.001  # metres: a hit closer than this before the point does not occlude it

_BUILT = [False]  # a scene was made in this process (its queries start Open3D's TBB threads)


def scenes_built() -> bool:
    """True once a :class:`RaycastScene` has been made in this process (after that, worker
    processes are not forked from it: see :func:`labelgen.core._runtime.fork_is_safe`)."""
    return _BUILT[0]


class RaycastScene:
    """The mesh's triangles in an Open3D ``RaycastingScene``.

    Parameters
    ----------
    mesh : the mesh; ``normals`` holds its (M, 3) unit face normals.
    threads : threads for ray casts (0 = all cores).
    """

    def __init__(self, mesh: Mesh, threads: int = 0):
        import open3d as o3d

        _BUILT[0] = True
        self._o3d = o3d
        self.mesh = mesh
        self.threads = int(threads)
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                                 o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        self.normals = mesh.face_normals()

    def _rays(self, origins, dirs):
        rays = np.empty((len(origins), 6), dtype=np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = dirs
        return self._o3d.core.Tensor(rays)

    def cast_rays(self, rays: np.ndarray) -> dict:
        """Bare ``cast_rays`` on prepared float32 rays (..., 6) [origin, direction]; numpy arrays
        ``t_hit``, ``primitive_ids``, ``primitive_uvs``, ... of the first hits."""
        out = self.scene.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.threads)
        return {k: v.numpy() for k, v in out.items()}

    def cast(self, origins, dirs):
        """(t, face) of the first hit along each ray (t in units of the direction's length;
        inf and -1 where nothing is hit)."""
        if len(origins) == 0:
            return np.zeros(0), np.zeros(0, np.int64)
        out = self.scene.cast_rays(self._rays(origins, dirs), nthreads=self.threads)
        t = out["t_hit"].numpy().astype(np.float64)
        face = out["primitive_ids"].numpy().astype(np.int64)
        face[~np.isfinite(t)] = -1
        return t, face

    def occluded(self, origins, targets, tolerance=LOS_TOLERANCE):
        """True where a hit lies on the segment origin -> target more than ``tolerance`` before it."""
        origins = np.asarray(origins, np.float64)
        v = np.asarray(targets, np.float64) - origins
        d = np.linalg.norm(v, axis=1)
        scale = np.clip(d - tolerance, 0.0, None) / np.where(d > 0, d, 1.0)
        out = np.zeros(len(origins), dtype=bool)
        step = 1 << 20
        for s in range(0, len(origins), step):
            rays = self._rays(origins[s:s + step], v[s:s + step] * scale[s:s + step, None])
            out[s:s + step] = self.scene.test_occlusions(rays, tnear=0.0, tfar=1.0,
                                                         nthreads=self.threads).numpy()
        return out

    def distance(self, points):
        """Distance from each point (n, 3) to the mesh."""
        q = self._o3d.core.Tensor(np.asarray(points, dtype=np.float32))
        return self.scene.compute_distance(q, nthreads=self.threads).numpy().astype(np.float64)

    def hit_counts(self, origins, dirs):
        """Number of surfaces each ray crosses (every hit, not only the first)."""
        if len(origins) == 0:
            return np.zeros(0, np.int64)
        out = self.scene.list_intersections(self._rays(origins, dirs), nthreads=self.threads)
        return np.diff(out["ray_splits"].numpy().astype(np.int64))

    def all_hits(self, origins, dirs):
        """Per ray, the sorted (t, face) of every hit."""
        if len(origins) == 0:
            return []
        out = self.scene.list_intersections(self._rays(origins, dirs), nthreads=self.threads)
        splits = out["ray_splits"].numpy()
        t = out["t_hit"].numpy().astype(np.float64)
        face = out["primitive_ids"].numpy().astype(np.int64)
        res = []
        for i in range(len(origins)):
            a, b = splits[i], splits[i + 1]
            order = np.argsort(t[a:b], kind="stable")
            res.append((t[a:b][order], face[a:b][order]))
        return res
