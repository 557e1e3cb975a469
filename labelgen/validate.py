"""Validate shipped label files against their recomputation (``labelgen validate``).

For every view of a building and every label file whose inputs are present, the label is
recomputed (image-derived labels from the building's own input files, as ``labelgen
derive`` does; with a mesh, the mesh-rendered labels from the mesh and the view's camera)
and compared with the shipped file. The view's metadata is checked too: the vanishing
points and other pose-derived point_info fields against the camera, ``depth_euclidean``
against ``depth_zbuffer`` given the camera, and ``mask_valid`` against the depth.

Each check gives one record (a dict, as in ``report.json``'s ``"files"``)::

    {"building", "component", "point", "view", "label", "passed", "exact", "within1",
     "max_abs", "bbox", "ari", "pearson", "median_abs", "fields", "error"}

Metrics that do not apply are None. Metrics by kind (see :mod:`labelgen.validate_metrics`):
images: ``exact``, ``within1`` (fractions of pixels), ``max_abs``, ``bbox`` (``[x0, y0, x1,
y1]`` of the largest differing region); segmentations: ``ari`` (ids are never compared);
``keypoints3d``: ``pearson`` and ``median_abs`` (and the image metrics); ``point_info``:
``fields`` (max abs error per field) and ``max_abs`` (the largest of them). A file that cannot
be read, has the wrong type or size, or lacks an input fails with ``error`` saying why; the
others go on. Passing is decided by :data:`DEFAULT_THRESHOLDS` (per label; changed with
``thresholds``).

Layouts found (:func:`find_buildings`): a building folder (current or legacy layout, or a flat
folder of files); a folder of building folders; the Omnidata download layout
``ROOT/{domain}/{component}/{building}/...``; the per-domain layout ``ROOT/{domain}/{building}/...``.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .cameras import Camera
from .errors import LabelgenError
from .labels import all_labels
from .layout import _FILE, domain_aliases, scan_building
from .paths import check_identifier
from .pipeline import LazySources, compute_view, plan, resolve_params
from .pointinfo import complete_point_info
from .rotations import matrix_from_euler
from .runner import _describe, _missing_files, check_tasks, view_sources
from .validate_metrics import adjusted_rand_index, image_agreement, median_abs_difference, pearson
from .report import thumbnails
from .validate_presets import preset_name, preset_params

#: Checks that are not label files (usable in ``tasks``).
DEPTH_CHECK = "depth_euclidean_vs_depth_zbuffer"
MASK_CHECK = "mask_valid_vs_depth_zbuffer"
POINT_INFO = "point_info"
CHECKS = (POINT_INFO, DEPTH_CHECK, MASK_CHECK)

SEGMENTATIONS = ("segment_unsup2d", "segment_unsup25d")

#: Pass/fail thresholds. ``"*"`` applies to every image label without its own entry.
#: Images: at least ``min_exact`` of the pixels equal and ``min_within1`` within 1 unit
#: (the image-derived labels reproduce the shipped Taskonomy sample on > 99.99 % of pixels,
#: a 64x64 damaged block is 1.6 % of a 512x512 image). Segmentations: adjusted Rand index at
#: least ``min_ari`` (the original scikit-image segmentation is not deterministic, so the
#: partitions are compared, not bit for bit). keypoints3d: Pearson r at least ``min_pearson``
#: and median absolute difference at most ``max_median_abs`` units. depth_euclidean from
#: depth_zbuffer: both are rounded, so the prediction is within 1 unit, not exact.
#: point_info: each field within ``atol + rtol * max|value|`` (the files hold float32 numbers).
DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "*": {"min_exact": 0.99, "min_within1": 0.999},
    "keypoints3d": {"min_pearson": 0.99, "max_median_abs": 1.0},
    "segment_unsup2d": {"min_ari": 0.9},
    "segment_unsup25d": {"min_ari": 0.9},
    DEPTH_CHECK: {"min_within1": 0.99},
    MASK_CHECK: {"min_exact": 0.999},
    POINT_INFO: {"atol": 1e-4, "rtol": 1e-6},
}

THRESHOLD_KEYS = ("min_exact", "min_within1", "min_ari", "min_pearson", "max_median_abs", "atol", "rtol")


def thresholds_for(label: str, overrides: dict | None = None) -> dict[str, float]:
    """Thresholds of ``label``: its defaults, then ``overrides[label]`` (or ``overrides["*"]``
    for keys the label uses)."""
    base = dict(DEFAULT_THRESHOLDS.get(label, DEFAULT_THRESHOLDS["*"]))
    overrides = overrides or {}
    for key, value in overrides.get("*", {}).items():
        if key in base:
            base[key] = float(value)
    for key, value in overrides.get(label, {}).items():
        base[key] = float(value)
    return base


def new_record(building, component, point, view, label, file=None) -> dict:
    return {"building": building, "component": component, "point": str(point), "view": str(view),
            "label": label, "passed": False, "exact": None, "within1": None, "max_abs": None,
            "bbox": None, "ari": None, "pearson": None, "median_abs": None, "fields": None,
            "error": None, "file": None if file is None else str(file)}


def _judge(rec: dict, th: dict) -> dict:
    """Set ``passed`` (and ``error`` with the failed criterion) from the metrics."""
    fails = []
    for key, metric in (("min_exact", "exact"), ("min_within1", "within1"), ("min_ari", "ari"),
                        ("min_pearson", "pearson")):
        if key in th and rec[metric] is not None and not rec[metric] >= th[key]:
            fails.append(f"{metric} {rec[metric]:.6g} < {th[key]:g}")
    if "max_median_abs" in th and rec["median_abs"] is not None and not rec["median_abs"] <= th["max_median_abs"]:
        fails.append(f"median_abs {rec['median_abs']:g} > {th['max_median_abs']:g}")
    rec["passed"] = not fails and rec["error"] is None
    if fails and rec["error"] is None:
        rec["error"] = "; ".join(fails)
    return rec


def compare(label: str, shipped: np.ndarray, recomputed: np.ndarray, rec: dict, thresholds=None) -> dict:
    """Fill ``rec`` with the metrics of ``label``'s kind and judge it."""
    if shipped.shape != recomputed.shape:
        rec["error"] = (f"wrong size: {_describe(shipped)}, recomputed {recomputed.shape[1]}x{recomputed.shape[0]}"
                        if shipped.shape[:2] != recomputed.shape[:2] else
                        f"wrong type: {_describe(shipped)}, expected {_describe(recomputed)}")
        return _judge(rec, {})
    th = thresholds_for(label, thresholds)
    if label in SEGMENTATIONS:
        rec["ari"] = adjusted_rand_index(shipped, recomputed)
        th = {k: v for k, v in th.items() if k == "min_ari"}
    else:
        rec.update(image_agreement(shipped, recomputed))
        if label == "keypoints3d":
            rec["pearson"] = pearson(shipped, recomputed)
            rec["median_abs"] = median_abs_difference(shipped, recomputed)
    return _judge(rec, th)


# -- metadata checks --------------------------------------------------------------------

#: Pose-derived point_info fields that are recomputed from the camera.
POSE_FIELDS = ("vanishing_points_gaussian_sphere", "vanishing_points_image", "camera_distance",
               "obliqueness_angle", "point_pitch", "camera_rotation_from_original_to_final")


def _flat(value) -> np.ndarray | None:
    if isinstance(value, dict):
        parts = [_flat(value.get(k)) for k in ("x", "y", "z")]
        return None if any(p is None for p in parts) else np.concatenate(parts)
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return arr if arr.size and np.all(np.isfinite(arr)) else None


def point_info_errors(info: dict, camera: Camera) -> dict[str, float]:
    """Max abs error of each pose-derived field of ``info`` against its recomputation.

    ``camera_rotation_from_original_to_final`` is compared as rotation matrices (Euler
    angles are not unique); an unreadable field gets ``inf``.
    """
    stripped = {k: v for k, v in info.items() if k not in POSE_FIELDS}
    ours = complete_point_info(camera, stripped)
    errors = {}
    for key in POSE_FIELDS:
        if key not in info or key not in ours:
            continue
        a, b = _flat(info[key]), _flat(ours[key])
        if a is None or b is None or a.shape != b.shape:
            errors[key] = math.inf
            continue
        if key == "camera_rotation_from_original_to_final":
            a, b = matrix_from_euler(a).ravel(), matrix_from_euler(b).ravel()
        errors[key] = float(np.max(np.abs(a - b)))
    return errors


def check_point_info(info: dict, camera: Camera, rec: dict, thresholds=None) -> dict:
    th = thresholds_for(POINT_INFO, thresholds)
    errors = point_info_errors(info, camera)
    rec["fields"] = errors
    rec["max_abs"] = max(errors.values()) if errors else None
    bad = []
    for key, err in errors.items():
        scale = np.max(np.abs(_flat(info[key]))) if _flat(info[key]) is not None else 0.0
        tol = th["atol"] + th["rtol"] * float(scale)
        if not err <= tol:
            bad.append(f"{key} off by {err:.3g} (tolerance {tol:.3g})")
    rec["error"] = "; ".join(bad) if bad else None
    rec["passed"] = not bad
    return rec


def euclidean_from_zbuffer(zbuffer: np.ndarray, camera_fov: float) -> np.ndarray:
    """depth_euclidean predicted from a depth_zbuffer image: ``round(D * |ray| / f)`` per pixel
    (same units; 65535 stays 65535)."""
    h, w = zbuffer.shape
    f = w / (2.0 * math.tan(camera_fov / 2.0))
    x = (np.arange(w) - (w - 1) / 2.0) / f
    y = ((h - 1) / 2.0 - np.arange(h)) / f
    k = np.sqrt(1.0 + x[None, :] ** 2 + y[:, None] ** 2)
    pred = np.round(zbuffer.astype(np.float64) * k)
    pred[(zbuffer == 65535) | (pred >= 65535)] = 65535
    return pred.astype(np.uint16)


def mask_from_depth(zbuffer: np.ndarray) -> np.ndarray:
    return np.where(zbuffer != 65535, 255, 0).astype(np.uint8)


# -- one view ---------------------------------------------------------------------------

@dataclass
class ViewJob:
    """One view to validate: its files and everything needed to check them."""

    files: dict[str, Path]
    building: str
    component: str | None
    point: str
    view: str
    tasks: list[str] | None
    params: dict[str, Any]
    thresholds: dict | None = None
    fov: float | None = None
    keep: bool = False  # return report thumbnails (labelgen.report.thumbnails) of each compared file
    max_pixels: int | None = None  # largest image read (labelgen.limits; --max-pixels)


def _is_mesh_label(lab) -> bool:
    return bool({"gbuffer", "mesh"} & set(lab.requires))


def _fov_camera(sources, fov):
    """A camera with only a field of view (for views without point_info, given --fov)."""
    def make():
        ref = next(sources[k] for k in ("depth_zbuffer", "rgb", "depth_euclidean") if k in sources)
        h, w = ref.shape[:2]
        return Camera(np.zeros(3), np.eye(3), fov, w, h)
    return make


def validate_view(job: ViewJob, renderer=None) -> tuple[list[dict], dict[str, tuple]]:
    """Records of one view and, if ``job.keep``, the thumbnails of each compared file by label."""
    registry = all_labels()
    files = job.files
    sources = view_sources(files, job.point, job.view, job.fov, max_pixels=job.max_pixels)
    if "camera" not in sources and job.fov is not None and files:
        files_only = sources
        sources = LazySources({**{k: (lambda k=k: files_only[k]) for k in files_only},
                               "camera": _fov_camera(files_only, job.fov)})
    wanted = set(job.tasks) if job.tasks is not None else None
    records: list[dict] = []
    kept: dict[str, tuple] = {}

    def rec_for(label):
        r = new_record(job.building, job.component, job.point, job.view, label, files.get(label))
        records.append(r)
        return r

    targets = [n for n in files if n in registry and (wanted is None or n in wanted)]
    mesh_targets = []
    for name in targets:
        lab = registry[name]
        if _is_mesh_label(lab):
            if renderer is not None:
                mesh_targets.append(name)
            continue
        rec = rec_for(name)
        try:
            shipped = sources[name]
        except LabelgenError as err:
            rec["error"] = err.problem
            continue
        _, skipped = plan([name], sources)
        if name in skipped:
            missing = _missing_files(lab, sources, registry)
            rec["error"] = "missing input: " + (", ".join(sorted(missing)) + " file" if missing else skipped[name])
            continue
        bad = _input_size_mismatch(lab, sources, shipped)
        if bad:
            rec["error"] = bad
            continue
        try:
            ours, _ = compute_view([name], sources, job.params)
        except LabelgenError as err:
            rec["error"] = f"input {err}"
            continue
        except Exception as err:  # a file no recipe can handle: a failure of this file only
            rec["error"] = f"cannot recompute: {type(err).__name__}: {err}"
            continue
        compare(name, shipped, ours[name], rec, job.thresholds)
        if job.keep:
            kept[name] = thumbnails(name, shipped, ours[name])

    for name in files:
        if name == "point_info" or (wanted is not None and name not in wanted):
            continue
        if name in targets and (name in mesh_targets or not _is_mesh_label(registry[name])):
            continue  # recomputed and compared above
        try:  # not recomputed here (a mesh label without --mesh, an input file): still readable?
            arr = sources[name]
        except LabelgenError as err:
            rec_for(name)["error"] = err.problem
            continue
        size = _view_size(sources, files)
        if size is not None and isinstance(arr, np.ndarray) and arr.shape[:2] != size:
            rec_for(name)["error"] = (f"wrong size: {arr.shape[1]}x{arr.shape[0]}, the view's other images are "
                                      f"{size[1]}x{size[0]}")
    if mesh_targets:
        _validate_mesh_labels(job, sources, mesh_targets, renderer, rec_for, kept)
    _metadata_checks(job, sources, wanted, rec_for, kept)
    return records, kept


def _view_size(sources, files) -> tuple[int, int] | None:
    """(height, width) most images of the view have (ties: the first in name order), or None."""
    sizes = {}
    for name in sorted(files):
        if name == "point_info":
            continue
        try:
            arr = sources[name]
        except LabelgenError:
            continue
        if isinstance(arr, np.ndarray):
            sizes.setdefault(arr.shape[:2], []).append(name)
    if not sizes:
        return None
    return max(sizes, key=lambda k: (len(sizes[k]), -min(sorted(files).index(n) for n in sizes[k])))


def _input_size_mismatch(lab, sources, shipped) -> str | None:
    """Why the label's image inputs cannot make an image of the shipped file's size, or None."""
    for req in lab.requires:
        if req in ("camera", "gbuffer", "mesh") or req not in sources:
            continue
        try:
            arr = sources[req]
        except LabelgenError:
            continue  # reported when the label is computed
        if isinstance(arr, np.ndarray) and arr.shape[:2] != shipped.shape[:2]:
            return (f"wrong size: {shipped.shape[1]}x{shipped.shape[0]}, its input {req} is "
                    f"{arr.shape[1]}x{arr.shape[0]}")
    return None


def _validate_mesh_labels(job, sources, names, renderer, rec_for, kept):
    shipped = {}
    recs = {}
    for name in names:
        recs[name] = rec_for(name)
        try:
            shipped[name] = sources[name]
        except LabelgenError as err:
            recs[name]["error"] = err.problem
    live = [n for n in names if n in shipped]
    if not live:
        return
    if "camera" not in sources or "point_info" not in job.files:
        for n in live:
            recs[n]["error"] = "missing input: point_info file"
        return
    try:
        camera = sources["camera"]
        gbuffer = renderer.render(camera)
        ours, skipped = compute_view(live, LazySources(gbuffer=gbuffer, camera=camera, mesh=renderer.mesh),
                                     job.params)
    except LabelgenError as err:
        for n in live:
            recs[n]["error"] = f"input {err}"
        return
    for n in live:
        if n in skipped:
            recs[n]["error"] = f"cannot render from this mesh: {skipped[n]}"
            continue
        compare(n, shipped[n], ours[n], recs[n], job.thresholds)
        if job.keep:
            kept[n] = thumbnails(n, shipped[n], ours[n])


def _metadata_checks(job, sources, wanted, rec_for, kept):
    files = job.files

    def want(check):
        return wanted is None or check in wanted

    if "point_info" in files and want(POINT_INFO):
        rec = rec_for(POINT_INFO)
        try:
            camera = sources["camera"]
            check_point_info(camera.info, camera, rec, job.thresholds)
        except LabelgenError as err:
            rec["error"] = err.problem
    if {"depth_euclidean", "depth_zbuffer"} <= set(files) and want(DEPTH_CHECK) and "camera" in sources:
        rec = rec_for(DEPTH_CHECK)
        try:
            z, e, cam = sources["depth_zbuffer"], sources["depth_euclidean"], sources["camera"]
            pred = euclidean_from_zbuffer(z, cam.fov)
            compare(DEPTH_CHECK, e, pred, rec, job.thresholds)
            if job.keep:
                kept[DEPTH_CHECK] = thumbnails(DEPTH_CHECK, e, pred)
        except LabelgenError as err:
            rec["error"] = f"input {err}"
    if {"mask_valid", "depth_zbuffer"} <= set(files) and want(MASK_CHECK):
        rec = rec_for(MASK_CHECK)
        try:
            m, z = sources["mask_valid"], sources["depth_zbuffer"]
            pred = mask_from_depth(z)
            compare(MASK_CHECK, m, pred, rec, job.thresholds)
            if job.keep:
                kept[MASK_CHECK] = thumbnails(MASK_CHECK, m, pred)
        except LabelgenError as err:
            rec["error"] = f"input {err}"


# -- layouts ----------------------------------------------------------------------------

@dataclass
class Building:
    """A building found under the validated path: its name, component and views' files."""

    name: str
    component: str | None
    views: dict[tuple[str, str], dict[str, Path]] = field(default_factory=dict)
    #: files whose names hold no valid point or view identifier: (path, problem)
    bad_files: list[tuple[Path, str]] = field(default_factory=list)


def aliases_of(file_name: str) -> str:
    """The label (current name) of a layout file name."""
    m = _FILE.match(file_name)
    return domain_aliases().get(m.group("domain"), m.group("domain")) if m else file_name


def find_buildings(root) -> list[Building]:
    """Every building under ``root`` (see the module docstring for the layouts)."""
    root = Path(root)
    if not root.is_dir():
        raise LabelgenError(root, "no such folder")
    aliases = domain_aliases()
    folders = set(aliases) | {"points"}  # legacy point_info folder
    here = root.resolve().name or "building"
    found: dict[tuple[str | None, str], Building] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        if len(rel) >= 3:
            dirnames[:] = []
        dirnames.sort()
        if len(rel) == 0:
            key = (None, here)                      # ROOT/file (one flat building)
        elif rel[0] in folders:
            if len(rel) == 1:
                key = (None, here)                  # ROOT/{domain}/file (a building folder)
            elif len(rel) == 2:
                key = (None, rel[1])                # ROOT/{domain}/{building}/file
            else:
                key = (rel[1], rel[2])              # ROOT/{domain}/{component}/{building}/file
        elif len(rel) == 1 or (len(rel) == 2 and rel[1] in folders):
            key = (None, rel[0])                    # ROOT/{building}/[{domain}/]file
        elif len(rel) == 3 and rel[2] in folders:
            key = (rel[0], rel[1])                  # ROOT/{component}/{building}/{domain}/file
        else:
            continue
        for fname in sorted(filenames):
            m = _FILE.match(fname)
            if not m or m.group("domain") not in aliases:
                continue
            name = aliases[m.group("domain")]
            if (name == "point_info") != (m.group("ext") == "json"):
                continue
            b = found.setdefault(key, Building(key[1], key[0]))
            try:
                check_identifier(m.group("point"), fname, "point (from the file name)")
                check_identifier(m.group("view"), fname, "view (from the file name)")
            except LabelgenError as err:
                b.bad_files.append((Path(dirpath) / fname, err.problem))
                continue
            entry = b.views.setdefault((m.group("point"), m.group("view")), {})
            # a current-layout file wins over a legacy one for the same label
            if name not in entry or m.group("domain") == name:
                entry[name] = Path(dirpath) / fname
    return [found[k] for k in sorted(found, key=lambda k: (k[0] or "", k[1]))]


# -- a building -------------------------------------------------------------------------

@dataclass
class BuildingResult:
    building: Building
    params: dict[str, Any]
    fitted: dict[str, Any]
    preset: str | None
    records: list[dict]


def _check_thresholds(thresholds):
    for label, values in (thresholds or {}).items():
        for key, value in values.items():
            if key not in THRESHOLD_KEYS:
                raise LabelgenError("--threshold", f"unknown threshold '{key}' (known: {', '.join(THRESHOLD_KEYS)})")
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise LabelgenError("--threshold", f"{label}:{key} must be a number, got {value!r}")


def _building_params(building: Building, params, preset, fit, fov, tasks, quiet):
    name = preset if preset is not None else preset_name(building.component)
    values = preset_params(name) if name is not None else {}
    values.update(params or {})
    resolved = resolve_params(values)
    fitted: dict[str, Any] = {}
    if fit:
        from .validate_fit import fit_building

        fitted = fit_building(building.views, resolved, fov=fov, tasks=tasks, fixed=set(params or {}),
                              quiet=quiet)
        resolved = resolve_params({**resolved, **{k: v for k, v in fitted.items() if k != "fov"}})
    return resolved, fitted, preset_name(name) if name else None


_WORKER: dict[str, Any] = {}


def _init_worker(mesh_path):
    if mesh_path is not None:
        from .meshes import load_mesh
        from .rendering import make_renderer

        _WORKER["renderer"] = make_renderer(load_mesh(mesh_path))


def _worker(job):
    return validate_view(job, _WORKER.get("renderer"))


def validate_views(jobs: list[ViewJob], mesh=None, workers: int = 1, bar=None):
    """Yield :func:`validate_view` of each of ``jobs``, in order (mesh: a path, a Mesh, or a
    renderer for workers=1)."""
    if workers <= 1 or len(jobs) <= 1:
        renderer = None
        if mesh is not None:
            renderer = mesh if hasattr(mesh, "render") else _make_renderer(mesh)
        for job in jobs:
            yield validate_view(job, renderer)
            if bar is not None:
                bar.update()
        return
    mesh_path = None
    if mesh is not None:
        mesh_path = getattr(getattr(mesh, "mesh", None), "path", None) if hasattr(mesh, "render") else mesh
        if mesh_path is None:
            raise ValueError("workers > 1 needs a mesh read from a file")
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(mesh_path,)) as pool:
        for res in pool.map(_worker, jobs, chunksize=max(1, min(16, len(jobs) // (8 * workers)))):
            yield res
            if bar is not None:
                bar.update()


def _make_renderer(mesh):
    from .meshes import load_mesh
    from .rendering import make_renderer

    return make_renderer(mesh if hasattr(mesh, "vertices") else load_mesh(mesh))


def _progress(total, quiet):
    from tqdm import tqdm

    return tqdm(total=total, disable=quiet, desc="validate", unit="view", file=sys.stderr, leave=False)


def _check_task_names(tasks):
    if tasks is None:
        return None
    checks = [t for t in tasks if t in CHECKS]
    return check_tasks([t for t in tasks if t not in CHECKS]) + checks


def validate_buildings(buildings: list[Building], mesh=None, tasks=None, params=None, preset=None,
                       fit=False, workers=1, fov=None, thresholds=None, quiet=True,
                       keep_worst: int = 0, max_pixels: int | None = None) -> tuple[list[BuildingResult], dict]:
    """Validate ``buildings``; returns the per-building results and, when ``keep_worst``, the
    (shipped, recomputed) arrays of the ``keep_worst`` worst records per building and label,
    keyed by record index in the concatenated records."""
    tasks = _check_task_names(tasks)
    _check_thresholds(thresholds)
    if preset is not None:
        preset_params(preset)
    if mesh is not None and len(buildings) > 1:
        raise LabelgenError("--mesh", f"one mesh given for {len(buildings)} buildings; validate one building at a time")
    if workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    results = []
    all_jobs = []
    for b in buildings:
        bparams, fitted, used = _building_params(b, params, preset, fit, fov, tasks, quiet)
        # a fitted field of view is for the views without point_info; a given one for all
        jobs = [ViewJob(files, b.name, b.component, p, v, tasks, bparams, thresholds,
                        fov if fov is not None or "point_info" in files else fitted.get("fov"),
                        max_pixels=max_pixels)
                for (p, v), files in sorted(b.views.items(), key=lambda kv: _view_key(kv[0]))]
        all_jobs.append(jobs)
        bad = []
        for path, problem in b.bad_files:
            r = new_record(b.name, b.component, "?", "?", aliases_of(path.name), path)
            r["error"] = f"bad file name: {problem}"
            bad.append(r)
        results.append(BuildingResult(b, bparams, fitted, used, bad))
    flat = [j for jobs in all_jobs for j in jobs]
    if keep_worst:
        for job in flat:
            job.keep = True
    kept: dict[int, tuple] = {}
    worst: dict[tuple, list[int]] = {}
    records: list[dict] = []
    owner = [res for res, jobs in zip(results, all_jobs) for _ in jobs]

    def trim(group):  # keep the thumbnails of the keep_worst worst records only
        group.sort(key=lambda j: _badness(records[j]))
        for j in group[keep_worst:]:
            kept.pop(j, None)
        del group[keep_worst:]

    with _progress(len(flat), quiet) as bar:
        for res, (recs, thumbs) in zip(owner, validate_views(flat, mesh, workers, bar)):
            for r in recs:
                n = len(records)
                records.append(r)
                res.records.append(r)
                if r["label"] in thumbs:
                    kept[n] = thumbs[r["label"]]
                    group = worst.setdefault((r["component"], r["building"], r["label"]), [])
                    group.append(n)
                    if len(group) > 4 * keep_worst:
                        trim(group)
    for group in worst.values():
        trim(group)
    return results, {j: kept[j] for j in sorted(kept)}


def _view_key(pv):
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in pv)


def _badness(rec):
    """Sort key: failures first, then the lowest agreement."""
    score = min(v for v in (rec["exact"], rec["ari"], rec["pearson"], 1.0) if v is not None)
    return (rec["passed"], score, -(rec["max_abs"] or 0))


def validate_building(path, mesh=None, tasks=None, params=None, preset=None, fit=False, workers=1,
                      fov=None, thresholds=None, quiet=True, component=None) -> list[dict]:
    """Validate one building folder (either layout, or a flat folder of one view's files).

    Parameters
    ----------
    path : the building folder.
    mesh : optional mesh file (or :class:`~labelgen.meshes.Mesh`) the labels were rendered
        from; the mesh-rendered labels are then checked too.
    tasks : labels (and checks: ``point_info``, ``depth_euclidean_vs_depth_zbuffer``,
        ``mask_valid_vs_depth_zbuffer``) to check; default all that can be.
    params : label parameters (override the preset's).
    preset : a component's parameter set (see :mod:`labelgen.validate_presets`).
    fit : estimate parameters from a few views first (see :mod:`labelgen.validate_fit`).
    workers : processes.
    fov : field of view (radians) for views without point_info.
    thresholds : ``{label or "*": {key: value}}`` overriding :data:`DEFAULT_THRESHOLDS`.
    quiet : no progress bar on stderr.
    component : the dataset component the building belongs to (named in the records; its
        preset is used when ``preset`` is None).

    Returns the records (see the module docstring), in view order.
    """
    path = Path(path)
    views = scan_building(path) if path.is_dir() else {}
    if not views:
        raise LabelgenError(path, "no Taskonomy label files found")
    b = Building(path.resolve().name, component, views)
    results, _ = validate_buildings([b], mesh, tasks, params, preset, fit, workers, fov, thresholds, quiet)
    return results[0].records


def summarize(records: list[dict]) -> dict:
    """Counts and medians per building and label, and totals."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["component"], r["building"], r["label"]), []).append(r)
    rows = []
    for (comp, bname, label), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][2])):
        row = {"building": bname, "component": comp, "label": label, "files": len(rs),
               "passed": sum(r["passed"] for r in rs), "failed": sum(not r["passed"] for r in rs)}
        for m in ("exact", "within1", "ari", "pearson", "max_abs"):
            vals = [r[m] for r in rs if r[m] is not None]
            row[f"median_{m}"] = float(np.median(vals)) if vals else None
        rows.append(row)
    return {"files": len(records), "passed": sum(r["passed"] for r in records),
            "failed": sum(not r["passed"] for r in records), "by_label": rows}


def report_dict(results: list[BuildingResult]) -> dict:
    """The report.json object."""
    records = [r for res in results for r in res.records]
    params = {}
    for res in results:
        key = res.building.name if res.building.component is None else f"{res.building.component}/{res.building.name}"
        params[key] = dict(res.params)
        if "fov" in res.fitted:
            params[key]["fov"] = res.fitted["fov"]
    return {"labelgen_version": __version__, "params": params,
            "presets": {(r.building.name if r.building.component is None else
                         f"{r.building.component}/{r.building.name}"): r.preset for r in results},
            "fitted": {(r.building.name if r.building.component is None else
                        f"{r.building.component}/{r.building.name}"): r.fitted for r in results},
            "files": records, "summary": summarize(records)}
