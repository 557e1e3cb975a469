"""Mesh input: PLY, OBJ (+MTL), GLB/GLTF through trimesh, merged into one triangle mesh.

Scenes with several objects are flattened (each node's transform applied) and merged;
units are metres. The per-object trimesh geometry is kept in :attr:`Mesh.parts` (with the
offset of its first face in the merged mesh) for labels that need materials and UVs.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LabelgenError

SUPPORTED = (".ply", ".obj", ".glb", ".gltf", ".off", ".stl")


@dataclass(eq=False)
class Mesh:
    """A triangle mesh in world metres.

    Attributes
    ----------
    vertices : (N, 3) float64
    faces : (M, 3) int64
    parts : list of (face_offset, trimesh.Trimesh), the objects merged into this mesh
    path : the file it was read from, or None
    content_hash : hex digest of the file's bytes (or of the arrays for in-memory meshes)
    cache : per-mesh results computed once (e.g. per-vertex curvature), keyed by name
    """

    vertices: np.ndarray
    faces: np.ndarray
    parts: list = field(default_factory=list)
    path: Path | None = None
    content_hash: str = ""
    cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        where = self.path if self.path is not None else "mesh"
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3 or self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise LabelgenError(where, "vertices must be (N, 3) and faces (M, 3)")
        if len(self.faces) == 0 or len(self.vertices) == 0:
            raise LabelgenError(where, "mesh is empty (no triangles)")
        if not np.all(np.isfinite(self.vertices)):
            bad = int(np.count_nonzero(~np.all(np.isfinite(self.vertices), axis=1)))
            raise LabelgenError(where, f"{bad} vertices have NaN or infinite coordinates")
        if self.faces.min() < 0 or self.faces.max() >= len(self.vertices):
            raise LabelgenError(where, "faces index vertices that do not exist")
        if not self.content_hash:
            h = hashlib.sha256()
            h.update(self.vertices.tobytes())
            h.update(self.faces.tobytes())
            self.content_hash = h.hexdigest()

    @classmethod
    def from_arrays(cls, vertices, faces) -> "Mesh":
        """A mesh from vertex and face arrays (no materials)."""
        import trimesh

        tm = trimesh.Trimesh(np.asarray(vertices, float), np.asarray(faces, np.int64), process=False)
        return cls(vertices, faces, parts=[(0, tm)])

    @classmethod
    def from_trimesh(cls, geometry, path=None, content_hash="") -> "Mesh":
        """A mesh from a ``trimesh.Trimesh`` or ``trimesh.Scene`` (transforms applied)."""
        import trimesh

        if isinstance(geometry, trimesh.Scene):
            parts = [g for g in geometry.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        elif isinstance(geometry, trimesh.Trimesh):
            parts = [geometry] if len(geometry.faces) else []
        else:
            parts = []
        if not parts:
            raise LabelgenError(path or "mesh", "mesh is empty (no triangles)")
        offsets, verts, faces = [], [], []
        nv = nf = 0
        for g in parts:
            offsets.append(nf)
            verts.append(np.asarray(g.vertices, dtype=np.float64))
            faces.append(np.asarray(g.faces, dtype=np.int64) + nv)
            nv += len(g.vertices)
            nf += len(g.faces)
        return cls(np.concatenate(verts), np.concatenate(faces), list(zip(offsets, parts)),
                   Path(path) if path is not None else None, content_hash)

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) array: minimum and maximum corner."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])

    def face_normals(self) -> np.ndarray:
        """(M, 3) float64 unit face normals (right-hand rule); zero for degenerate faces."""
        if "face_normals" not in self.cache:
            v = self.vertices
            n = np.cross(v[self.faces[:, 1]] - v[self.faces[:, 0]], v[self.faces[:, 2]] - v[self.faces[:, 0]])
            length = np.linalg.norm(n, axis=1, keepdims=True)
            self.cache["face_normals"] = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
        return self.cache["face_normals"]

    def summary(self) -> str:
        lo, hi = self.bounds
        return (f"{len(self.vertices)} vertices, {len(self.faces)} faces, {len(self.parts)} objects, "
                f"bounds [{lo[0]:.3f}, {lo[1]:.3f}, {lo[2]:.3f}] .. [{hi[0]:.3f}, {hi[1]:.3f}, {hi[2]:.3f}] m")


def file_hash(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_mesh(path: str | os.PathLike) -> Mesh:
    """Read a mesh file (PLY, OBJ+MTL, GLB/GLTF, OFF, STL) into a merged :class:`Mesh`.

    Raises :class:`LabelgenError` naming the file for a missing, unreadable, empty or
    non-finite mesh.
    """
    import trimesh

    path = Path(path)
    if not path.exists():
        raise LabelgenError(path, "no such file")
    if path.is_dir():
        raise LabelgenError(path, "is a folder, not a mesh file")
    if path.suffix.lower() not in SUPPORTED:
        raise LabelgenError(path, f"unsupported mesh format '{path.suffix}' (expected one of {', '.join(SUPPORTED)})")
    try:
        digest = file_hash(path)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    try:
        geometry = trimesh.load(path, force="scene", process=False)
    except LabelgenError:
        raise
    except Exception as err:  # trimesh raises many types for malformed files
        raise LabelgenError(path, f"cannot parse mesh ({type(err).__name__}: {err})") from None
    return Mesh.from_trimesh(geometry, path, digest)
