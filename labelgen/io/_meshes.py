"""Mesh input: PLY, OBJ (+MTL), GLB/GLTF through trimesh, merged into one triangle mesh.

Scenes with several objects are flattened (each node's transform applied) and merged;
units are metres. The per-object trimesh geometry is kept in :attr:`Mesh.parts` (with the
offset of its first face in the merged mesh) for labels that need materials and UVs.

The world is +Z up (Taskonomy, Blender). glTF is +Y up by its specification, so glTF/GLB
files are turned exactly as Blender's glTF importer does, ``(x, y, z) -> (x, -z, y)`` (a
swap and a negation: exact in floating point), which is how Omnidata's cameras were made for
HM3D and Google Scanned Objects GLBs. Other formats are taken as +Z up. ``up_axis`` overrides
the per-format default for files authored the other way.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.core._limits import available_memory  # module attribute: callers (and tests) look it up here

SUPPORTED = (".ply", ".obj", ".glb", ".gltf", ".off", ".stl")
#: Accepted ``up_axis`` values: the axis of the file that points up in the world.
UP_AXES = ("+z", "+y")
#: Formats that are +Y up by specification (glTF 2.0, section 3.4).
Y_UP_FORMATS = (".glb", ".gltf")


def default_up_axis(path) -> str:
    """``"+y"`` for glTF/GLB files, ``"+z"`` for every other format."""
    return "+y" if Path(path).suffix.lower() in Y_UP_FORMATS else "+z"


def y_up_to_z_up(vertices: np.ndarray) -> np.ndarray:
    """(N, 3) vertices of a +Y-up file in the +Z-up world: ``(x, y, z) -> (x, -z, y)``.

    Blender's glTF importer convention. Exact: coordinates are only swapped and negated (a
    zero stays +0.0).
    """
    v = np.asarray(vertices, dtype=np.float64)
    out = np.empty_like(v)
    out[:, 0] = v[:, 0]
    out[:, 1] = -v[:, 2]
    out[:, 1] += 0.0  # -0.0 -> +0.0, so that equal inputs give equal bits
    out[:, 2] = v[:, 1]
    return out


@dataclass(eq=False)
class Mesh:
    """A triangle mesh in world metres.

    Attributes
    ----------
    vertices : (N, 3) float64
    faces : (M, 3) int64
    parts : list of (face_offset, trimesh.Trimesh), the objects merged into this mesh
    path : the file it was read from, or None
    content_hash : :func:`mesh_key` of the files read and the up axis (or a digest of the arrays for
        in-memory meshes): the key of the per-mesh disk cache
    cache : per-mesh results computed once (e.g. per-vertex curvature), keyed by name
    up_axis : the file's up axis it was read with ("+z": as stored; "+y": turned to +Z up).
        The geometry in ``parts`` keeps the file's own coordinates (it serves materials and UVs).
    """

    vertices: np.ndarray
    faces: np.ndarray
    parts: list = field(default_factory=list)
    path: Path | None = None
    content_hash: str = ""
    cache: dict = field(default_factory=dict, repr=False)
    up_axis: str = "+z"
    #: the :class:`labelgen.engine.MeshSpec` it was loaded from (None for meshes made in memory)
    spec: object = field(default=None, repr=False)

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


#: Memory a mesh needs while it is read, merged and put into a ray-casting scene, per byte of its
#: file: a 1.3M-triangle binary PLY (24.9 MB) took 334 MB more peak memory to load, build the
#: Open3D scene and render one view, about 13x (text formats need less per byte). A file larger
#: than the available memory divided by this is refused up front rather than risking an
#: out-of-memory kill; labels such as principal_curvature need more on top.
MEMORY_PER_FILE_BYTE = 12


def check_fits_in_memory(path, size: int) -> None:
    """One-line error when a mesh file of ``size`` bytes cannot fit (:data:`MEMORY_PER_FILE_BYTE`)."""
    avail = available_memory()
    need = size * MEMORY_PER_FILE_BYTE
    if avail is not None and need > avail:
        raise LabelgenError(path, f"mesh too large for memory: a {size / 2**30:.2f} GiB file needs about "
                                  f"{need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available")


def referenced_files(path: str | os.PathLike) -> list[Path]:
    """The other files reading ``path`` reads: an OBJ's material libraries and the images they
    name, a ``.gltf``'s buffers and images (``data:`` URIs aside). Files that do not exist are
    listed too (a missing texture is part of what was read); formats that hold everything in
    one file give ``[]``. Order: as referenced, without repeats."""
    import json
    import re
    from urllib.parse import unquote

    path = Path(path)
    out: list[Path] = []

    def add(p: Path):
        if p not in out and p != path:
            out.append(p)

    suffix = path.suffix.lower()
    try:
        if suffix == ".obj":
            text = path.read_bytes()
            for lib in re.findall(rb"^[ \t]*mtllib[ \t]+(.+?)\s*$", text, re.M):
                mtl = path.parent / lib.decode("utf-8", "replace").strip()
                add(mtl)
                try:
                    lines = mtl.read_text(errors="replace").splitlines()
                except OSError:
                    continue
                for line in lines:
                    tokens = line.strip().split()
                    if len(tokens) >= 2 and (tokens[0].lower().startswith("map_") or
                                             tokens[0].lower() in ("bump", "disp", "decal", "refl", "norm")):
                        add(mtl.parent / tokens[-1])
        elif suffix == ".gltf":
            doc = json.loads(path.read_text(errors="replace"))
            for key in ("buffers", "images"):
                for item in doc.get(key, []) if isinstance(doc, dict) else []:
                    uri = item.get("uri") if isinstance(item, dict) else None
                    if isinstance(uri, str) and not uri.startswith("data:"):
                        add(path.parent / unquote(uri))
    except (OSError, ValueError):
        pass
    return out


def mesh_key(path, up_axis: str, semantic=None, semantic_up_axis: str | None = None) -> str:
    """SHA-256 over the up axes and the name (relative to its mesh's folder) and content of every
    file reading the mesh (and the semantic mesh) reads (:func:`referenced_files`; a missing one
    counts as missing): the key of the per-mesh disk cache and of batch journals."""
    import json

    parts = []
    for role, mesh in (("mesh", path), ("semantic", semantic)):
        if mesh is None:
            continue
        mesh = Path(mesh)
        for f in [mesh] + referenced_files(mesh):
            try:
                digest = file_hash(f)
            except FileNotFoundError:
                digest = "missing"
            except OSError as err:
                raise LabelgenError(f, f"cannot read: {err.strerror or err}") from None
            parts.append([role, os.path.relpath(f, mesh.parent), digest])
    desc = {"up_axis": up_axis, "semantic_up_axis": semantic_up_axis, "files": parts}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def file_hash(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_mesh(path: str | os.PathLike, up_axis: str | None = None) -> Mesh:
    """Read a mesh file (PLY, OBJ+MTL, GLB/GLTF, OFF, STL) into a merged :class:`Mesh`.

    ``up_axis`` is the file's up axis, ``"+z"`` or ``"+y"`` (default: :func:`default_up_axis`,
    +Y for glTF/GLB as their specification says, +Z otherwise); a +Y-up file is turned into
    the +Z-up world with :func:`y_up_to_z_up`.

    Raises :class:`LabelgenError` naming the file for a missing, unreadable, empty or
    non-finite mesh, and a one-line error instead of a ``MemoryError`` when the mesh does not
    fit in memory.
    """
    import trimesh

    path = Path(path)
    if up_axis is None:
        up_axis = default_up_axis(path)
    if up_axis not in UP_AXES:
        raise LabelgenError("--up-axis", f"must be one of {', '.join(UP_AXES)}, got {up_axis!r}")
    if not path.exists():
        raise LabelgenError(path, "no such file")
    if path.is_dir():
        raise LabelgenError(path, "is a folder, not a mesh file")
    if path.suffix.lower() not in SUPPORTED:
        raise LabelgenError(path, f"unsupported mesh format '{path.suffix}' (expected one of {', '.join(SUPPORTED)})")
    try:
        check_fits_in_memory(path, path.stat().st_size)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    digest = mesh_key(path, up_axis)
    try:
        geometry = trimesh.load(path, force="scene", process=False)
        mesh = Mesh.from_trimesh(geometry, path, digest)
        if up_axis == "+y":
            mesh.vertices = y_up_to_z_up(mesh.vertices)
            mesh.cache.clear()
        mesh.up_axis = up_axis
        return mesh
    except LabelgenError:
        raise
    except MemoryError:
        raise LabelgenError(path, "out of memory while reading the mesh (too large for this machine)") from None
    except Exception as err:  # trimesh raises many types for malformed files
        text = str(err).splitlines()[0] if str(err) else ""
        raise LabelgenError(path, f"cannot parse mesh ({type(err).__name__}: {text[:200]})") from None
