"""Omnidata's labels beyond Taskonomy: ``fragments`` and ``semantic`` (see ``docs/omnidata.md``).

``fragments``: the triangle hit by each pixel's ray, as an index into the mesh's faces in the
order labelgen loaded them (:attr:`labelgen.io._meshes.Mesh.faces`: the file's face order; for a
file of several objects, the objects one after the other in the scene's order; quads split
as trimesh splits them). The same triangle has the same value in every view of a building and
with either renderer, so equal values are dense correspondences between views. Omnidata's own
fragments are ``.npy`` arrays of PyTorch3D's ``pix_to_face`` (its loaders read
``point_{P}_view_{V}_domain_fragments.npy``), not images; labelgen stores a PNG: ``index + 1``
in 24 bits, ``R * 65536 + G * 256 + B``, 0 where the ray hits nothing
(:func:`decode_fragments` gives the index back, -1 for none). Meshes with more than
16,777,215 triangles have no ``fragments``. Not in the default render set (ask for it with
``--tasks``).

``semantic``: per-face labels of a labelled mesh, drawn flat (no lighting, no interpolation:
each pixel gets the label of the face its ray hits); pixels whose ray hits nothing are
(0, 0, 0), as in Omnidata's renders (Blender, sky off). Labels are found in the file:

* PLY with a per-face ``object_id`` property (Replica's ``mesh_semantic.ply``) and the
  ``info_semantic.json`` beside it (object id -> class id, from its ``id_to_label`` list or
  its ``objects`` entries): Omnidata's encoding (``OmnidataSegm`` in omnidata_tools),
  R = class id, ``G * 256 + B`` = instance (object) id; class 0 (Replica's "undefined") for
  objects without a class or without the JSON; faces with a negative id are (0, 0, 0);
* PLY with per-face colours (``red``/``green``/``blue``: the HM3D semantic PLYs that
  Omnidata's ``create_semantic_images.py`` reads): the face's colour;
* OBJ (+MTL): a label per material name (or per object/group name where there is no
  material), numbered 1, 2, ... in the order trimesh lists them, written as instance ids
  (R = 0, ``G * 256 + B`` = the number). Every textured OBJ has materials, so this one is made
  only when asked for (``--tasks semantic``) or given as ``--semantic-mesh``.

``--semantic-mesh PATH`` (:func:`attach_semantic_mesh`) reads the labels from a separate mesh
aligned with the rendered one (HM3D and Replica ship them apart): each pixel's ray is cast
against the labelled mesh. ``semantic`` is in the default render set when the mesh, or the
attached semantic mesh, carries PLY labels.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import Label, register

MAX_FRAGMENT = (1 << 24) - 1
NO_LABELS = "mesh has no per-face semantic labels (PLY face object_id or colours, OBJ materials)"


# -- fragments ----------------------------------------------------------------------------

def encode_fragments(triangle: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: ``triangle + 1`` in 24 bits, R most significant; 0 where ``triangle < 0``."""
    t = np.asarray(triangle, dtype=np.int64)
    v = np.where(t >= 0, t + 1, 0)
    if v.size and v.max() > MAX_FRAGMENT:
        raise ValueError(f"triangle index {int(v.max()) - 1} does not fit in 24 bits")
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8)


def decode_fragments(encoded: np.ndarray, params: dict | None = None) -> np.ndarray:
    """(H, W) int64 triangle index of each pixel of a ``fragments`` image, -1 where none."""
    e = np.asarray(encoded).astype(np.int64)
    return (e[..., 0] << 16) + (e[..., 1] << 8) + e[..., 2] - 1


def _fragments(inputs, params):
    return encode_fragments(inputs["gbuffer"].triangle)


def _fragments_available(sources):
    mesh = sources.get("mesh") if hasattr(sources, "get") else None
    if mesh is not None and len(mesh.faces) > MAX_FRAGMENT:
        return f"mesh has {len(mesh.faces)} triangles, more than fragments' 24 bits hold ({MAX_FRAGMENT})"
    return None


register(Label(
    "fragments", ("gbuffer", "mesh"), _fragments, "rgb8",
    encoding="uint8 RGB, triangle index + 1 = R * 65536 + G * 256 + B (mesh face order as loaded)",
    invalid="(0, 0, 0)", decode=decode_fragments, available=_fragments_available, default=False,
    description="index of the triangle hit by each pixel's ray (Omnidata fragments; opt-in)"))


# -- semantic -----------------------------------------------------------------------------

@dataclass
class SemanticTable:
    """Per-face semantic colours of a mesh: ``colours`` (M, 3) uint8, ``kind`` ("object_id",
    "colour", "material" or None when there are none), ``problem`` (why the labels cannot be
    used, or None)."""

    kind: str | None
    colours: np.ndarray | None = None
    problem: str | None = None


def pack_semantic(class_id, instance_id) -> np.ndarray:
    """(..., 3) uint8 Omnidata semantic colour: R = class id, G * 256 + B = instance id."""
    c = np.asarray(class_id, dtype=np.int64)
    i = np.asarray(instance_id, dtype=np.int64)
    return np.stack([c, (i >> 8) & 255, i & 255], axis=-1).astype(np.uint8)


def decode_semantic(encoded: np.ndarray, params: dict | None = None) -> np.ndarray:
    """(H, W, 2) int64 ``[class id, instance id]`` = ``[R, G * 256 + B]`` of a ``semantic`` image."""
    e = np.asarray(encoded).astype(np.int64)
    return np.stack([e[..., 0], (e[..., 1] << 8) + e[..., 2]], axis=-1)


def _polygon_to_triangle(polys: list, faces: np.ndarray) -> np.ndarray | None:
    """For each triangle of ``faces``, the index of the PLY polygon it came from, or None when
    the triangles are not the polygons split the way trimesh splits them (triangles as they
    are; all-quad meshes as the first halves ``[0, 1, 2]`` of every quad, then the second
    halves ``[2, 3, 0]``)."""
    n = len(polys)
    counts = {len(p) for p in polys}
    if counts == {3}:
        expected, index = np.asarray(polys, dtype=np.int64), np.arange(n)
    elif counts == {4}:
        q = np.asarray(polys, dtype=np.int64)
        expected = np.concatenate([q[:, [0, 1, 2]], q[:, [2, 3, 0]]])
        index = np.concatenate([np.arange(n), np.arange(n)])
    else:
        return None
    if expected.shape != faces.shape or not np.array_equal(expected, faces):
        return None
    return index


def _ply_faces(tm) -> dict | None:
    """The raw PLY face properties of a trimesh geometry, ``{name: array}``, or None.

    trimesh keeps them in ``metadata["_ply_raw"]["face"]["data"]``: a structured array for
    binary files, a dict of arrays for ASCII ones.
    """
    raw = tm.metadata.get("_ply_raw") if isinstance(getattr(tm, "metadata", None), dict) else None
    if not raw or "face" not in raw:
        return None
    data = raw["face"].get("data")
    if isinstance(data, dict):
        return {k: np.asarray(v) for k, v in data.items()}
    if getattr(data, "dtype", None) is not None and data.dtype.names:
        return {k: data[k] for k in data.dtype.names}
    return None


def _column(fields, name) -> np.ndarray:
    """A scalar face property as a 1-D array (ASCII files give (N, 1))."""
    col = np.asarray(fields[name])
    return col.reshape(len(col), -1)[:, 0] if col.ndim > 1 else col


def _polygons(fields) -> list:
    key = "vertex_indices" if "vertex_indices" in fields else "vertex_index" if "vertex_index" in fields else None
    if key is None:
        return []
    col = fields[key]
    if getattr(col, "dtype", None) is not None and col.dtype.names:  # (count, indices) records
        col = col[col.dtype.names[1]]
    return [list(np.atleast_1d(p)) for p in col]


def read_info_semantic(path: Path) -> dict[int, int]:
    """Object id -> class id from a Replica ``info_semantic.json`` (``id_to_label`` or ``objects``)."""
    from labelgen.core._errors import LabelgenError

    try:
        info = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise LabelgenError(path, f"cannot read info_semantic.json: {err}") from None
    out: dict[int, int] = {}
    if isinstance(info, dict) and isinstance(info.get("id_to_label"), list):
        for obj, cls in enumerate(info["id_to_label"]):
            if isinstance(cls, int) and not isinstance(cls, bool) and cls > 0:
                out[obj] = cls
    elif isinstance(info, dict) and isinstance(info.get("objects"), list):
        for entry in info["objects"]:
            if isinstance(entry, dict) and isinstance(entry.get("id"), int) and isinstance(entry.get("class_id"), int):
                if entry["class_id"] > 0:
                    out[entry["id"]] = entry["class_id"]
    else:
        raise LabelgenError(path, "info_semantic.json has neither 'id_to_label' nor 'objects'")
    bad = [c for c in out.values() if c > 255]
    if bad:
        raise LabelgenError(path, f"class id {max(bad)} does not fit in the 8-bit red channel")
    return out


def _ply_table(mesh, tm, data, where) -> tuple[str, np.ndarray] | str | None:
    """(kind, per-triangle colours) of one PLY part, a problem string, or None (no labels)."""
    names = set(data)
    if "object_id" in names:
        kind = "object_id"
    elif {"red", "green", "blue"} <= names:
        kind = "colour"
    else:
        return None
    index = _polygon_to_triangle(_polygons(data), np.asarray(tm.faces))
    if index is None:
        return f"{where}: cannot match the PLY's per-face labels to its triangles"
    if kind == "colour":
        per_poly = np.stack([_column(data, c) for c in ("red", "green", "blue")], axis=-1).astype(np.uint8)
        return kind, per_poly[index]
    ids = _column(data, "object_id").astype(np.int64)
    if ids.size and ids.max() > 0xFFFF:
        return f"{where}: object_id {int(ids.max())} does not fit in 16 bits (G * 256 + B)"
    classes = {}
    if mesh.path is not None and (Path(mesh.path).parent / "info_semantic.json").is_file():
        classes = read_info_semantic(Path(mesh.path).parent / "info_semantic.json")
    cls = np.array([classes.get(int(i), 0) for i in ids], dtype=np.int64)
    colours = pack_semantic(np.where(ids >= 0, cls, 0), np.where(ids >= 0, ids, 0))
    return kind, colours[index]


def _material_name(tm):
    mat = getattr(getattr(tm, "visual", None), "material", None)
    name = getattr(mat, "name", None)
    if name:
        return str(name)
    meta = getattr(tm, "metadata", {}) or {}
    return meta.get("name") or meta.get("node")


def semantic_table(mesh) -> SemanticTable:
    """The per-face semantic colours of ``mesh`` (computed once, kept on ``mesh.cache``)."""
    from labelgen.core._errors import LabelgenError

    if "semantic_table" in mesh.cache:
        return mesh.cache["semantic_table"]
    where = mesh.path if mesh.path is not None else "mesh"
    colours = np.zeros((len(mesh.faces), 3), dtype=np.uint8)
    kinds, problem = set(), None
    try:
        for offset, tm in mesh.parts:
            data = _ply_faces(tm)
            if data is None:
                continue
            res = _ply_table(mesh, tm, data, where)
            if isinstance(res, str):
                problem = res
            elif res is not None:
                kinds.add(res[0])
                colours[offset:offset + len(res[1])] = res[1]
    except LabelgenError as err:
        problem = str(err)
    if not kinds and problem is None and mesh.path is not None and Path(mesh.path).suffix.lower() == ".obj":
        names = [_material_name(tm) for _, tm in mesh.parts]
        if any(names):
            order = {}
            for (offset, tm), name in zip(mesh.parts, names):
                label = order.setdefault(name, len(order) + 1) if name else 0
                colours[offset:offset + len(tm.faces)] = pack_semantic(0, label)
            kinds.add("material")
    if problem is not None:
        table = SemanticTable(None, None, problem)
    elif not kinds:
        table = SemanticTable(None, None, None)
    else:
        table = SemanticTable("object_id" if "object_id" in kinds else sorted(kinds)[0], colours)
    mesh.cache["semantic_table"] = table
    return table


def attach_semantic_mesh(mesh, semantic_mesh) -> None:
    """Read ``mesh``'s ``semantic`` label from ``semantic_mesh`` (aligned with it, same axes)."""
    mesh.cache["semantic_mesh"] = semantic_mesh


def _label_mesh(mesh):
    return mesh.cache.get("semantic_mesh", mesh)


def _semantic_available(sources):
    mesh = sources["mesh"]
    table = semantic_table(_label_mesh(mesh))
    if table.problem:
        return table.problem
    if table.colours is None:
        return NO_LABELS
    return None


def _semantic_default(sources):
    mesh = sources["mesh"]
    lm = _label_mesh(mesh)
    table = semantic_table(lm)
    return table.colours is not None and (table.kind != "material" or lm is not mesh)


def _semantic(inputs, params):
    gb, mesh, camera = inputs["gbuffer"], inputs["mesh"], inputs["camera"]
    lm = _label_mesh(mesh)
    table = semantic_table(lm)
    if lm is mesh:
        tri = gb.triangle
    else:  # cast the view's rays against the labelled mesh
        if "semantic_renderer" not in lm.cache:
            from labelgen.render._renderers import Open3DRenderer

            lm.cache["semantic_renderer"] = Open3DRenderer(lm)
        tri = lm.cache["semantic_renderer"].render(camera).triangle
    out = np.zeros(tri.shape + (3,), dtype=np.uint8)
    hit = tri >= 0
    out[hit] = table.colours[tri[hit]]
    return out


register(Label(
    "semantic", ("gbuffer", "camera", "mesh"), _semantic, "rgb8",
    encoding="uint8 RGB, flat per-face label: R = class id, G * 256 + B = instance id (Replica object_id "
             "PLY + info_semantic.json; OBJ material number), or the face colour (HM3D semantic PLY)",
    invalid="(0, 0, 0)", decode=decode_semantic, available=_semantic_available, default=_semantic_default,
    description="semantic / instance labels of a labelled mesh, drawn flat"))
