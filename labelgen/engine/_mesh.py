"""The one way a job names and loads its mesh: :class:`MeshSpec`.

A mesh description carries everything that decides what a render reads: the mesh file, its up
axis, the semantic mesh (and its up axis), and, through :meth:`MeshSpec.files`, every file those
read (an OBJ's material libraries and textures, a ``.gltf``'s buffers and images). Its
:attr:`~MeshSpec.key` hashes all of them, so that it can key caches and batch journals: change a
texture image, an MTL file, the semantic mesh or the up axis and the key changes. It is plain
data, so it crosses process boundaries (spawned workers, Dask) and loads there the same way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from labelgen.core._errors import LabelgenError
from labelgen.io._meshes import UP_AXES, Mesh, default_up_axis, load_mesh, mesh_key, referenced_files

__all__ = ["MeshSpec"]


def _up_axis(value, path) -> str:
    if value is None:
        return default_up_axis(path)
    if value not in UP_AXES:
        raise LabelgenError("--up-axis", f"must be one of {', '.join(UP_AXES)}, got {value!r}")
    return value


@dataclass(frozen=True, eq=False)
class MeshSpec:
    """A mesh file as a job reads it.

    Parameters
    ----------
    path : the mesh file (PLY, OBJ+MTL, GLB/glTF, OFF, STL).
    up_axis : the file's up axis, ``"+z"`` or ``"+y"``; None: the format's default (+y for
        glTF/GLB, +z otherwise; see :func:`labelgen.io.load_mesh`).
    semantic : a labelled mesh aligned with ``path`` that the ``semantic`` label is read from.
    semantic_up_axis : its up axis; None: ``up_axis`` when that was given, else its format's default.

    Two descriptions are equal when they name the same files with the same axes (the files'
    contents are compared by :attr:`key`).
    """

    path: Path
    up_axis: str | None = None
    semantic: Path | None = None
    semantic_up_axis: str | None = None

    def __post_init__(self):
        path = Path(os.fspath(self.path))
        object.__setattr__(self, "path", path)
        given = self.up_axis
        object.__setattr__(self, "up_axis", _up_axis(given, path))
        if self.semantic is not None:
            sem = Path(os.fspath(self.semantic))
            object.__setattr__(self, "semantic", sem)
            object.__setattr__(self, "semantic_up_axis",
                               _up_axis(self.semantic_up_axis if self.semantic_up_axis is not None else given, sem))
        elif self.semantic_up_axis is not None:
            raise LabelgenError("--semantic-mesh", "an up axis for the semantic mesh needs a semantic mesh")

    def _ident(self):
        return (os.path.abspath(self.path), self.up_axis,
                None if self.semantic is None else os.path.abspath(self.semantic), self.semantic_up_axis)

    def __eq__(self, other):
        return isinstance(other, MeshSpec) and self._ident() == other._ident()

    def __hash__(self):
        return hash(self._ident())

    def __getstate__(self):  # the cached key is recomputed where it is needed
        return {k: getattr(self, k) for k in ("path", "up_axis", "semantic", "semantic_up_axis")}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)

    @classmethod
    def of(cls, mesh, up_axis: str | None = None, semantic=None) -> "MeshSpec | None":
        """The description of ``mesh``: a :class:`MeshSpec` as it is, a path with ``up_axis`` and
        ``semantic``, or a loaded :class:`~labelgen.io.Mesh`'s own (None for a mesh made in memory)."""
        if isinstance(mesh, MeshSpec):
            return mesh
        if isinstance(mesh, (str, os.PathLike)):
            return cls(mesh, up_axis, semantic)
        if isinstance(mesh, Mesh):
            if isinstance(mesh.spec, MeshSpec):
                return mesh.spec
            sem = mesh.cache.get("semantic_mesh")
            if mesh.path is None or (sem is not None and sem.path is None):
                return None
            return cls(mesh.path, mesh.up_axis, None if sem is None else sem.path,
                       None if sem is None else sem.up_axis)
        raise TypeError(f"expected a mesh file, a MeshSpec or a Mesh, got {type(mesh).__name__}")

    def files(self) -> list[tuple[str, Path]]:
        """Every file a render of this mesh reads, as ``(role, path)``: ``"mesh"``, then the files
        it references, then ``"semantic"`` and the files that references."""
        out = [("mesh", self.path)] + [("mesh", p) for p in referenced_files(self.path)]
        if self.semantic is not None:
            out += [("semantic", self.semantic)] + [("semantic", p) for p in referenced_files(self.semantic)]
        return out

    @cached_property
    def key(self) -> str:
        """SHA-256 over the up axes and the name (relative to its mesh's folder) and content of
        every file in :meth:`files` (:func:`labelgen.io._meshes.mesh_key`; a missing referenced
        file counts as missing)."""
        return mesh_key(self.path, self.up_axis, self.semantic, self.semantic_up_axis)

    def load(self) -> Mesh:
        """Read the mesh (and attach the semantic mesh): a :class:`~labelgen.io.Mesh` whose
        ``content_hash`` (the key of its per-mesh disk cache) is :attr:`key`."""
        mesh = load_mesh(self.path, up_axis=self.up_axis)
        if self.semantic is not None:
            from labelgen.labels.surface_ids import attach_semantic_mesh

            attach_semantic_mesh(mesh, load_mesh(self.semantic, up_axis=self.semantic_up_axis))
        mesh.content_hash = self.key
        mesh.spec = self
        return mesh
