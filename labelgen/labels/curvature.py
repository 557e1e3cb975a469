"""``principal_curvature``: per-vertex principal curvatures interpolated per pixel (spec section 3).

Per mesh (once, cached, see :mod:`labelgen.io._cache`): vertices with identical positions are
merged (a mesh split at texture seams is one surface); faces whose longest edge exceeds
``curvature_max_edge`` are split into a regular grid of sub-triangles (coarse meshes: CAD
models, decimated scans), angle-weighted normals are computed at every point of the refined
surface, and the APSS estimator of :mod:`labelgen.kernels.curvature` gives ``k1`` (larger
magnitude) and ``k2`` per point. Each is clipped to ``+-1/r_min`` and encoded per point as
``round((k * r_min + 1) / 2 * 254)`` (zero curvature = 127), like the vertex colours of the
original pipeline; each pixel interpolates the three encoded values of the sub-triangle it
falls in (its face itself when the face is not split) with barycentric coordinates and rounds.
R = k1, G = k2, B = 0; pixels without a valid hit are (0, 0, 0).

Memory: linear in the number of points: a refined surface needs about
:data:`labelgen.kernels.curvature.BYTES_PER_REFINED_POINT` bytes per point (only the points
whose neighbourhood is not flat are fitted, their neighbour lists built a chunk at a time); a
mesh without split faces about :func:`labelgen.kernels.curvature.memory_estimate`. A mesh
whose estimate exceeds the memory available (free memory, cgroup limit, address-space
limit) is a one-line error before anything large is allocated.

Sign: curvature is positive where the surface bends away from its normal, with normals from
the faces' winding (counter-clockwise = front). Convex objects with outward-facing faces
(a sphere seen from outside, the rounded edge of a cushion) encode above 127, concave ones
below.

Vertices used by no face, vertices without a normal (all their faces degenerate, or faces
meeting back to back so that their normals cancel), and vertices with too few
neighbours for a fit get curvature 0 (127); they are counted and reported once per mesh.
"""
from __future__ import annotations

import logging

import numpy as np

from . import Label, Param, register
from labelgen.core._limits import available_memory  # module attribute: callers (and tests) look it up here
from .geometric import DEPTH_UNITS, INVALID_DEPTH

log = logging.getLogger("labelgen")

VERSION = 3  # bump when the per-vertex computation changes (invalidates the disk cache)

#: Default ``curvature_max_edge`` (m): see docs/curvature_rgb.md, "Coarse meshes".
MAX_EDGE = 0.04

PARAMS = (
    DEPTH_UNITS,
    Param("curvature_r_min", 0.03, "smallest radius of curvature encoded, metres (curvature clipped to +-1/r_min)",
          low=0, open_low=True),
    Param("curvature_filter_scale", 4.0, "APSS filter scale, in units of the local point spacing", low=0, open_low=True),
    Param("curvature_projection_accuracy", 1e-4, "APSS projection accuracy, relative to the point spacing", low=0, open_low=True),
    Param("curvature_max_projection_iters", 15, "APSS maximum projection iterations", int, low=1),
    Param("curvature_spherical_parameter", 1.0, "APSS spherical parameter (1 = sphere fit, 0 = plane fit)",
          low=0, high=1),
    Param("curvature_max_edge", MAX_EDGE, "faces with a longer edge are split into a grid of sub-triangles "
                                          "before the curvature fit, metres (0 = no refinement)", low=0),
)


#: Why a vertex's curvature is 0, in the order of the ``counts`` array of :func:`vertex_curvatures`.
ZERO_REASONS = ("vertices used by no face",
                "vertices without a normal (only degenerate faces, or faces whose normals cancel out)",
                "vertices with too few neighbours for a fit", "vertices where the fitted surface has no gradient",
                "vertices whose projection left their neighbourhood (a sparse vertex beside much denser geometry)")


def _fit_params(params: dict) -> dict:
    return {"filter_scale": float(params["curvature_filter_scale"]),
            "accuracy": float(params["curvature_projection_accuracy"]),
            "max_iters": int(params["curvature_max_projection_iters"]),
            "spherical": float(params["curvature_spherical_parameter"]),
            "max_edge": float(params["curvature_max_edge"])}


def merge_positions(vertices: np.ndarray, faces: np.ndarray):
    """``(unique, inverse, faces_unique)``: vertices with identical coordinates merged."""
    v = np.ascontiguousarray(vertices, dtype=np.float64) + 0.0  # -0.0 -> 0.0
    order = np.lexsort((v[:, 2], v[:, 1], v[:, 0]))
    sv = v[order]
    new = np.ones(len(v), dtype=bool)
    new[1:] = np.any(sv[1:] != sv[:-1], axis=1)
    ids = np.cumsum(new) - 1
    inverse = np.empty(len(v), dtype=np.int64)
    inverse[order] = ids
    unique = sv[new]
    return unique, inverse, inverse[faces]


def vertex_curvatures(mesh, params: dict) -> dict[str, np.ndarray]:
    """Per-vertex ``k1``, ``k2`` (float64, 1/m) and ``status`` of ``mesh`` (cached).

    ``params`` holds the ``curvature_*`` parameters (defaults if missing). ``status`` is
    :data:`labelgen.kernels.curvature.OK` where computed, else the reason the curvature is 0.
    The refined surface's values are ``point_k1``, ``point_k2`` with ``apex``, ``rows``,
    ``cols`` (:func:`labelgen.kernels.refinement.refine_plan`), ``grid_offset`` and ``grid``
    (:func:`labelgen.kernels.refinement.refine_surface`), one row per face of ``mesh``; the
    mesh's own (merged) vertices are the first points.
    Raises :class:`~labelgen.core._errors.LabelgenError` when the mesh needs more memory than is
    available.
    """
    from labelgen.io import _cache as cache

    full = {p.name: p.default for p in PARAMS}
    full.update({k: v for k, v in params.items() if k in full})
    fit = _fit_params(full)
    where = mesh.path if mesh.path is not None else "mesh"

    def compute():
        from labelgen.kernels import curvature as kc
        from labelgen.kernels import refinement as kr
        from labelgen.core._errors import LabelgenError

        opts = dict(fit)
        max_edge = opts.pop("max_edge")
        unique, inverse, faces = merge_positions(mesh.vertices, mesh.faces)
        apex, rows, cols = kr.refine_plan(unique, faces, max_edge)
        avail = available_memory()
        split = (rows > 1) | (cols > 1)
        n_points = int(kr.grid_size(rows[split], cols[split]).sum()) + len(unique)  # at most
        # before refining: a refined surface needs BYTES_PER_REFINED_POINT per point; a dense
        # mesh at least its points and a 16-neighbour list each (checked again before the lists)
        need = (kc.BYTES_PER_REFINED_POINT * n_points if split.any()
                else kc.memory_estimate(n_points, 16 * n_points))
        if avail is not None and need > avail:
            raise LabelgenError(where, f"principal_curvature: mesh too large for the memory available "
                                       f"(about {need / 2**30:.1f} GiB needed for {n_points:,} points, "
                                       f"{avail / 2**30:.1f} GiB available)")
        points, spacing, grid_offset, grid, sub_faces = kr.refine_surface(unique, faces, apex, rows, cols)
        if not split.any():  # a dense mesh: every vertex fitted, as without refinement
            normals = kc.vertex_normals(points, sub_faces)
            del sub_faces
            radii = kc.point_radii(points)
            try:
                k1, k2, status = kc.apss_curvature(points, normals, radii, max_bytes=avail, **opts)
            except kc.CurvatureMemoryError as err:
                raise LabelgenError(where, "principal_curvature: mesh too large for the memory available "
                                           f"({err})") from None
        else:
            normals = kr.surface_normals(points, sub_faces)
            k1, k2, status = _refined_curvatures(points, normals, spacing, len(unique), faces, rows, cols, grid_offset,
                                                 grid, sub_faces, opts)
            del sub_faces
        nu = len(unique)
        small = np.int32 if len(points) < 2**31 else np.int64
        out = {"k1": k1[:nu][inverse], "k2": k2[:nu][inverse], "status": status[:nu][inverse],
               "point_k1": k1, "point_k2": k2, "apex": apex.astype(np.int8), "rows": rows.astype(np.int32),
               "cols": cols.astype(np.int32), "grid_offset": grid_offset, "grid": grid.astype(small)}
        referenced = np.zeros(len(mesh.vertices), dtype=bool)
        referenced[mesh.faces.ravel()] = True
        st = out["status"]
        out["counts"] = np.array([np.count_nonzero(~referenced),
                                  np.count_nonzero(referenced & (st == kc.NO_POINT)),
                                  np.count_nonzero(st == kc.TOO_FEW),
                                  np.count_nonzero(st == kc.NO_GRADIENT),
                                  np.count_nonzero(st == kc.DIVERGED)], dtype=np.int64)
        return out

    result = cache.per_mesh(mesh, "curvature", VERSION, fit, compute)
    reported = mesh.cache.setdefault("curvature_reported", set())
    key = tuple(sorted(fit.items()))
    if key not in reported:  # once per mesh, whether computed now or read from the cache
        reported.add(key)
        for what, n in zip(ZERO_REASONS, result["counts"].tolist()):
            if n:
                log.warning("%s: principal_curvature: curvature set to 0 on %d %s", where, n, what)
    return result


def _refined_curvatures(points, normals, spacing, n_vertices, faces, rows, cols, grid_offset, grid, sub_faces, opts):
    """k1, k2, status at every point of a refined surface: zero at the points whose
    neighbourhood is their own plane (:func:`labelgen.kernels.planar.flat_points`), fitted
    at the others (:func:`labelgen.kernels.curvature.apss_curvature_at`)."""
    from labelgen.kernels import curvature as kc
    from labelgen.kernels import planar as kp
    from labelgen.kernels import refinement as kr

    samples = kr.sample_points(len(points), rows, cols, grid_offset, grid)
    radii = kr.refined_radii(points, spacing, n_vertices, samples=samples)
    sub_class = np.repeat(kp.plane_classes(points[:n_vertices], faces), cols * (2 * rows - 1))
    cls = kp.point_classes(len(points), sub_faces, sub_class)
    del sub_class
    flat = kp.flat_points(points, normals, np.where(samples, opts["filter_scale"] * radii, 0.0), cls)
    del cls
    fit = np.flatnonzero(~flat)
    del flat
    k1 = np.zeros(len(points))
    k2 = np.zeros(len(points))
    status = np.full(len(points), kc.OK, dtype=np.int8)
    k1[fit], k2[fit], status[fit] = kc.apss_curvature_at(points, normals, radii, fit, samples=samples, **opts)
    return k1, k2, status


def encode_curvature(k: np.ndarray, r_min: float) -> np.ndarray:
    """uint8 ``round((clip(k, -1/r_min, 1/r_min) * r_min + 1) / 2 * 254)``."""
    kr = np.clip(np.asarray(k, dtype=np.float64) * r_min, -1.0, 1.0)
    return np.rint((kr + 1.0) * 127.0).astype(np.uint8)


def decode_curvature(encoded: np.ndarray, params: dict) -> np.ndarray:
    """(H, W, 2) k1, k2 in 1/m from the stored image; NaN where invalid (0, 0, 0)."""
    r_min = params["curvature_r_min"]
    out = (encoded[..., :2].astype(np.float64) / 127.0 - 1.0) / r_min
    out[np.all(encoded == 0, axis=-1)] = np.nan
    return out


def interpolate_vertex_values(values: np.ndarray, faces: np.ndarray, triangle: np.ndarray,
                              barycentric: np.ndarray) -> np.ndarray:
    """Per-pixel ``(1-u-v) a + u b + v c`` of per-vertex ``values`` (N, C) for the hits given
    by ``triangle`` (n,) and ``barycentric`` (n, 2); float64 (n, C)."""
    f = faces[triangle]
    u = barycentric[:, 0:1].astype(np.float64)
    v = barycentric[:, 1:2].astype(np.float64)
    vals = values.astype(np.float64)
    return (1.0 - u - v) * vals[f[:, 0]] + u * vals[f[:, 1]] + v * vals[f[:, 2]]


def encoded_points(curv: dict, r_min: float, mesh=None) -> np.ndarray:
    """(G, 2) uint8 encoded ``k1``, ``k2`` at every grid entry of the refined surface
    (``values[grid]``; kept on ``mesh.cache`` per result and ``r_min`` when ``mesh`` is given)."""
    store = mesh.cache.setdefault("curvature_encoded", {}) if mesh is not None else {}
    key = (id(curv["point_k1"]), float(r_min))
    if key not in store:
        store.clear()
        values = np.stack([encode_curvature(curv["point_k1"], r_min), encode_curvature(curv["point_k2"], r_min)], axis=1)
        store[key] = (curv["point_k1"], np.ascontiguousarray(values[curv["grid"]]))
    return store[key][1]


def _face_table(curv: dict, grid_values: np.ndarray, mesh) -> np.ndarray:
    """:func:`labelgen.kernels.refinement.face_table` of ``curv`` and its encoded
    ``grid_values``, kept on ``mesh.cache``."""
    from labelgen.kernels.refinement import face_table

    store = mesh.cache.setdefault("curvature_faces", {})
    key = id(grid_values)
    if key not in store:
        store.clear()
        store[key] = (grid_values, face_table(curv["apex"], curv["rows"], curv["cols"], curv["grid_offset"],
                                              grid_values))
    return store[key][1]


def _r_min(params) -> float:
    r_min = float(params["curvature_r_min"])
    if not r_min > 0:
        from labelgen.core._errors import LabelgenError

        raise LabelgenError("--curvature-r-min", f"must be positive, got {r_min}")
    return r_min


def _principal_curvature(inputs, params):
    from labelgen.kernels.refinement import interpolate_refined

    gb = inputs["gbuffer"]
    mesh = inputs["mesh"]
    curv = vertex_curvatures(mesh, params)
    grid_values = encoded_points(curv, _r_min(params), mesh)
    valid = gb.valid(params["depth_units_per_meter"], INVALID_DEPTH)
    return interpolate_refined(None, curv["apex"], curv["rows"], curv["cols"], curv["grid_offset"], curv["grid"],
                               gb.triangle, gb.barycentric, valid, channels=3, grid_values=grid_values,
                               table=_face_table(curv, grid_values, mesh))


def principal_curvature_reference(gbuffer, mesh, params) -> np.ndarray:
    """:func:`_principal_curvature` written plainly: the slow reference the tests hold it to."""
    from labelgen.kernels.reference import interpolate_refined_reference

    curv = vertex_curvatures(mesh, params)
    r_min = _r_min(params)
    values = np.stack([encode_curvature(curv["point_k1"], r_min), encode_curvature(curv["point_k2"], r_min)], axis=1)
    valid = gbuffer.valid(params["depth_units_per_meter"], INVALID_DEPTH)
    out = np.zeros(gbuffer.depth.shape + (3,), dtype=np.uint8)
    out[:, :, :2] = interpolate_refined_reference(values, curv["apex"], curv["rows"], curv["cols"],
                                                  curv["grid_offset"], curv["grid"], gbuffer.triangle,
                                                  gbuffer.barycentric, valid)
    return out


def _prepare(mesh, params):
    vertex_curvatures(mesh, params)


def _register_preparer():
    from labelgen.io import _cache as cache

    cache.PREPARERS["principal_curvature"] = _prepare


_register_preparer()

register(Label(
    "principal_curvature", ("gbuffer", "mesh"), _principal_curvature, "rgb8", legacy_name="curvature",
    encoding="uint8 RGB: R = k1 (larger magnitude), G = k2, B = 0; per vertex round((k * r_min + 1) / 2 * 254), "
             "interpolated with the barycentrics",
    invalid="(0, 0, 0)", params=PARAMS, decode=decode_curvature,
    description="principal curvatures (APSS, per vertex, interpolated)"))
