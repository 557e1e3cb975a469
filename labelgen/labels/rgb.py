"""``rgb``: the colour of the surface hit by each pixel's ray, without lighting (spec section 3).

Colour sources, per object of the mesh (``Mesh.parts``):

* UV texture: OBJ + MTL ``map_Kd``, or glTF/GLB ``baseColorTexture`` (times
  ``baseColorFactor``): the UV is interpolated with the hit's barycentrics and the texture
  sampled bilinearly with repeat wrapping (UVs outside [0, 1] wrap, as renderers do);
* vertex colours (PLY, OBJ, glTF ``COLOR_0``) interpolated with the barycentrics, or face
  colours;
* a material colour without texture (MTL ``Kd``, glTF ``baseColorFactor``): flat.

Objects without any of these are drawn mid-grey (128) when other objects have colour; a mesh
with no colour at all has no ``rgb`` ("mesh has no colour information"). Pixels without a
valid hit get the background colour (``--rgb-background R,G,B``, default black).

The per-face tables (corner UVs or colours, textures decoded once) are built once per mesh
and kept on ``mesh.cache``. The texture files referenced by an OBJ's MTL libraries or by a
``.gltf`` file are checked: a missing or unreadable one makes ``rgb`` unavailable with a
message naming the file (the other labels are still rendered).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import Label, Param, register
from .geometric import DEPTH_UNITS, INVALID_DEPTH

NO_COLOUR = "mesh has no colour information"
UNCOLOURED_GREY = 128.0


def colour(value) -> tuple[int, int, int]:
    """An RGB colour from ``"R,G,B"`` (0-255), a single grey level, or a sequence of three."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    else:
        parts = list(np.atleast_1d(value))
    try:
        vals = [int(round(float(p))) for p in parts]
    except (TypeError, ValueError):
        raise ValueError(f"not a colour: {value!r} (expected R,G,B with values 0-255)") from None
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3 or not all(0 <= x <= 255 for x in vals):
        raise ValueError(f"not a colour: {value!r} (expected R,G,B with values 0-255)")
    return tuple(vals)


BACKGROUND = Param("rgb_background", (0, 0, 0), "colour of pixels without a hit, R,G,B (0-255)", colour)


@dataclass
class ColourTables:
    """Per-face colour sources of a mesh (see :func:`labelgen.kernels.texture.shade`)."""

    mode: np.ndarray
    corner_rgb: np.ndarray
    corner_uv: np.ndarray
    face_tex: np.ndarray
    tex_data: np.ndarray
    tex_offset: np.ndarray
    tex_height: np.ndarray
    tex_width: np.ndarray
    tex_factor: np.ndarray
    problems: list = field(default_factory=list)

    @property
    def has_colour(self) -> bool:
        return bool(np.any(self.mode != 0))


def _image_rgb(img) -> np.ndarray | None:
    if img is None:
        return None
    try:
        arr = np.asarray(img.convert("RGB") if hasattr(img, "convert") else img)
    except Exception:
        return None
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        return None
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])


def _image_problem(tex: Path, what: str, referenced_by: str) -> str | None:
    """Why the texture image ``tex`` cannot be used, or None if it can."""
    from PIL import Image

    if not tex.is_file():
        return f"{tex}: {what} referenced by {referenced_by} does not exist"
    try:
        with Image.open(tex) as im:
            im.load()
    except Exception as err:
        return f"{tex}: cannot read texture image ({type(err).__name__}: {err})"
    return None


def mtl_problems(obj_path: Path) -> list[str]:
    """Missing or unreadable texture files referenced by an OBJ's MTL libraries."""
    problems = []
    try:
        text = obj_path.read_bytes()
    except OSError:
        return problems
    libs = [m.decode("utf-8", "replace").strip() for m in re.findall(rb"^[ \t]*mtllib[ \t]+(.+?)\s*$", text, re.M)]
    for lib in libs:
        mtl = obj_path.parent / lib
        if not mtl.is_file():
            problems.append(f"{mtl}: material library referenced by {obj_path.name} does not exist")
            continue
        try:
            lines = mtl.read_text(errors="replace").splitlines()
        except OSError as err:
            problems.append(f"{mtl}: cannot read material library ({err.strerror or err})")
            continue
        for line in lines:
            tokens = line.strip().split()
            if len(tokens) < 2 or tokens[0].lower() != "map_kd":
                continue
            problem = _image_problem(mtl.parent / tokens[-1], "texture file", mtl.name)
            if problem:
                problems.append(problem)
    return problems


def gltf_problems(gltf_path: Path) -> list[str]:
    """Missing or unreadable external image files referenced by a ``.gltf`` file."""
    import json
    from urllib.parse import unquote

    problems = []
    try:
        doc = json.loads(gltf_path.read_text(errors="replace"))
    except (OSError, ValueError):
        return problems
    for image in doc.get("images", []) if isinstance(doc, dict) else []:
        uri = image.get("uri") if isinstance(image, dict) else None
        if not isinstance(uri, str) or uri.startswith("data:"):
            continue
        problem = _image_problem(gltf_path.parent / unquote(uri), "image", gltf_path.name)
        if problem:
            problems.append(problem)
    return problems


def colour_tables(mesh) -> ColourTables:
    """The per-face colour tables of ``mesh`` (built once, kept on ``mesh.cache``)."""
    if "rgb_tables" in mesh.cache:
        return mesh.cache["rgb_tables"]
    from trimesh.visual.color import ColorVisuals
    from trimesh.visual.texture import TextureVisuals

    m = len(mesh.faces)
    mode = np.zeros(m, dtype=np.int8)
    corner_rgb = np.zeros((m, 3, 3), dtype=np.float32)
    corner_uv = np.zeros((m, 3, 2), dtype=np.float64)
    face_tex = np.zeros(m, dtype=np.int32)
    textures, factors, tex_ids = [], [], {}
    problems = []
    if mesh.path is not None and Path(mesh.path).suffix.lower() == ".obj":
        problems = mtl_problems(Path(mesh.path))
    elif mesh.path is not None and Path(mesh.path).suffix.lower() == ".gltf":
        problems = gltf_problems(Path(mesh.path))

    for offset, g in mesh.parts:
        nf = len(g.faces)
        sl = slice(offset, offset + nf)
        faces = np.asarray(g.faces, dtype=np.int64)
        vis = getattr(g, "visual", None)
        if isinstance(vis, TextureVisuals):
            mat = vis.material
            img = getattr(mat, "baseColorTexture", None)
            factor = np.ones(3, dtype=np.float32)
            flat = None
            if hasattr(mat, "baseColorFactor"):  # PBR (glTF)
                bcf = getattr(mat, "baseColorFactor", None)
                if bcf is not None:
                    factor = np.asarray(bcf, dtype=np.float32)[:3] / 255.0
                    flat = np.asarray(bcf, dtype=np.float32)[:3]
            else:  # OBJ/MTL: the texture as is, Kd only without a texture
                img = getattr(mat, "image", None)
                if getattr(mat, "diffuse", None) is not None:
                    flat = np.asarray(mat.diffuse, dtype=np.float32)[:3]
            rgb = _image_rgb(img)
            uv = None if vis.uv is None else np.asarray(vis.uv, dtype=np.float64)
            if rgb is not None and uv is not None and len(uv) == len(g.vertices):
                key = id(img)
                if key not in tex_ids:
                    tex_ids[key] = len(textures)
                    textures.append(rgb)
                    factors.append(factor)
                uv = np.where(np.isfinite(uv), uv, 0.0)
                mode[sl] = 2
                face_tex[sl] = tex_ids[key]
                corner_uv[sl] = uv[faces]
            elif flat is not None:
                mode[sl] = 1
                corner_rgb[sl] = flat
        elif isinstance(vis, ColorVisuals) and vis.kind is not None:
            if vis.kind == "vertex":
                vc = np.asarray(vis.vertex_colors, dtype=np.float32)[:, :3]
                mode[sl] = 1
                corner_rgb[sl] = vc[faces]
            elif vis.kind == "face":
                fc = np.asarray(vis.face_colors, dtype=np.float32)[:, :3]
                mode[sl] = 1
                corner_rgb[sl] = fc[:, None, :]

    sizes = [t.size for t in textures]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if textures else np.zeros(1, np.int64)
    tables = ColourTables(
        mode=mode, corner_rgb=corner_rgb, corner_uv=corner_uv, face_tex=face_tex,
        tex_data=np.concatenate([t.ravel() for t in textures]) if textures else np.zeros(3, np.uint8),
        tex_offset=offsets,
        tex_height=np.array([t.shape[0] for t in textures] or [1], dtype=np.int64),
        tex_width=np.array([t.shape[1] for t in textures] or [1], dtype=np.int64),
        tex_factor=np.array(factors or [np.ones(3)], dtype=np.float32).reshape(-1, 3),
        problems=problems)
    mesh.cache["rgb_tables"] = tables
    return tables


def _available(sources) -> str | None:
    mesh = sources.get("mesh") if hasattr(sources, "get") else None
    if mesh is None:
        return None
    tables = colour_tables(mesh)
    if tables.problems:
        more = f" (and {len(tables.problems) - 1} more texture problems)" if len(tables.problems) > 1 else ""
        return tables.problems[0] + more
    if not tables.has_colour:
        return NO_COLOUR
    return None


def _rgb(inputs, params):
    from labelgen.kernels.texture import shade_image

    gb = inputs["gbuffer"]
    t = colour_tables(inputs["mesh"])
    background = np.asarray(colour(params["rgb_background"]), dtype=np.uint8)
    valid = gb.valid(params["depth_units_per_meter"], INVALID_DEPTH)
    return shade_image(gb.triangle, gb.barycentric, valid, t.mode, t.corner_rgb, t.corner_uv, t.face_tex,
                       t.tex_data, t.tex_offset, t.tex_height, t.tex_width, t.tex_factor,
                       np.full(3, UNCOLOURED_GREY, dtype=np.float32), background)


def rgb_reference(gbuffer, mesh, params) -> np.ndarray:
    """:func:`_rgb` written plainly (the valid pixels gathered and shaded with
    :func:`labelgen.kernels.texture.shade`): the reference the tests hold it to."""
    from labelgen.kernels.texture import shade

    t = colour_tables(mesh)
    background = np.asarray(colour(params["rgb_background"]), dtype=np.uint8)
    valid = gbuffer.valid(params["depth_units_per_meter"], INVALID_DEPTH)
    out = np.empty(gbuffer.depth.shape + (3,), dtype=np.uint8)
    out[:] = background
    out[valid] = shade(gbuffer.triangle[valid], gbuffer.barycentric[valid], t.mode, t.corner_rgb, t.corner_uv,
                       t.face_tex, t.tex_data, t.tex_offset, t.tex_height, t.tex_width, t.tex_factor,
                       np.full(3, UNCOLOURED_GREY, dtype=np.float32))
    return out


register(Label(
    "rgb", ("gbuffer", "mesh"), _rgb, "rgb8", legacy_name="rgb",
    encoding="uint8 RGB: texture (bilinear, repeat) or interpolated vertex colour, no lighting",
    invalid="background (--rgb-background, default 0,0,0)", params=(DEPTH_UNITS, BACKGROUND),
    decode=lambda a, p: a.astype(np.float64) / 255.0, available=_available,
    description="surface colour (texture or vertex colours), unlit"))
