"""Validating buildings: parameters and presets per building, the views on the engine's workers, the report."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelgen._version import __version__
from labelgen.core._errors import LabelgenError
from labelgen.engine._layout import Building, label_of_file, scan_building
from labelgen.engine._mesh import MeshSpec
from labelgen.engine._workers import WorkerSetup, run_views
from labelgen.io._meshes import Mesh
from labelgen.engine._pipeline import resolve_params
from labelgen.engine._tasks import check_tasks
from labelgen.validate._checks import CHECKS, THRESHOLD_KEYS, new_record
from labelgen.validate._presets import preset_name, preset_params
from labelgen.validate._view import ViewJob, validate_view

# -- a building -------------------------------------------------------------------------

@dataclass
class BuildingResult:
    """One building's part of a :class:`ValidationReport`."""

    building: Building
    params: dict[str, Any]
    fitted: dict[str, Any]
    preset: str | None
    records: list[dict]

    @property
    def key(self) -> str:
        """``building`` or ``component/building``: its key in the report's per-building fields."""
        b = self.building
        return b.name if b.component is None else f"{b.component}/{b.name}"


@dataclass
class ValidationReport:
    """What :func:`validate_buildings` and :func:`validate_building` found.

    Attributes
    ----------
    buildings : one :class:`BuildingResult` per building (parameters used, fitted values, preset,
        its records).
    records : every record, in building and view order (see :mod:`labelgen.validate`).
    kept : thumbnails (shipped, recomputed, difference) of the worst records, by index in
        ``records`` (for the HTML report; empty unless ``keep_worst`` was asked for).
    """

    buildings: list[BuildingResult] = field(default_factory=list)
    kept: dict[int, tuple] = field(default_factory=dict)

    @property
    def records(self) -> list[dict]:
        return [r for res in self.buildings for r in res.records]

    @property
    def summary(self) -> dict:
        """Counts and medians per building and label, and totals (:func:`summarize`)."""
        return summarize(self.records)

    @property
    def passed(self) -> bool:
        """True when every file passed."""
        return all(r["passed"] for r in self.records)

    def to_dict(self) -> dict:
        """The ``report.json`` object."""
        return report_dict(self.buildings)


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
        from labelgen.validate._fit import fit_building

        fitted = fit_building(building.views, resolved, fov=fov, tasks=tasks, fixed=set(params or {}),
                              quiet=quiet)
        resolved = resolve_params({**resolved, **{k: v for k, v in fitted.items() if k != "fov"}})
    return resolved, fitted, preset_name(name) if name else None


def _validate_one(renderer, job: ViewJob):
    return validate_view(job, renderer)


def _mesh_setup(mesh, up_axis=None) -> WorkerSetup | None:
    """The workers' mesh: from a file, a :class:`MeshSpec`, a loaded Mesh or a renderer."""
    if mesh is None:
        return None
    if hasattr(mesh, "render"):  # a renderer: its mesh (and that mesh's description, up axis included)
        return WorkerSetup(mesh.mesh, MeshSpec.of(mesh.mesh), getattr(mesh, "name", "open3d"))
    if isinstance(mesh, Mesh):
        return WorkerSetup(mesh, MeshSpec.of(mesh))
    spec = MeshSpec.of(mesh, up_axis=up_axis)
    if not spec.path.is_file():
        raise LabelgenError(spec.path, "no such mesh file")
    return WorkerSetup(spec.load(), spec)


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
                       keep_worst: int = 0, max_pixels: int | None = None, up_axis: str | None = None
                       ) -> ValidationReport:
    """Validate ``buildings`` (:func:`labelgen.engine.find_buildings`); see :func:`validate_building`
    for the parameters. ``keep_worst``: keep the thumbnails of the ``keep_worst`` worst records per
    building and label (:attr:`ValidationReport.kept`, for the HTML report)."""
    tasks = _check_task_names(tasks)
    _check_thresholds(thresholds)
    if preset is not None:
        preset_params(preset)
    if mesh is not None and len(buildings) > 1:
        raise LabelgenError("--mesh", f"one mesh given for {len(buildings)} buildings; validate one building at a time")
    if workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    setup = _mesh_setup(mesh, up_axis)
    report = ValidationReport()
    all_jobs = []
    for b in buildings:
        bparams, fitted, used = _building_params(b, params, preset, fit, fov, tasks, quiet)
        # a fitted field of view is for the views without point_info; a given one for all
        jobs = [ViewJob(files, b.name, b.component, p, v, tasks, bparams, thresholds,
                        fov if fov is not None or "point_info" in files else fitted.get("fov"),
                        keep=bool(keep_worst), max_pixels=max_pixels)
                for (p, v), files in sorted(b.views.items(), key=lambda kv: _view_key(kv[0]))]
        all_jobs.append(jobs)
        bad = []
        for path, problem in b.bad_files:
            r = new_record(b.name, b.component, "?", "?", label_of_file(path.name), path)
            r["error"] = f"bad file name: {problem}"
            bad.append(r)
        report.buildings.append(BuildingResult(b, bparams, fitted, used, bad))
    flat = [j for jobs in all_jobs for j in jobs]
    owner = iter([res for res, jobs in zip(report.buildings, all_jobs) for _ in jobs])
    kept = report.kept
    worst: dict[tuple, list[int]] = {}
    records: list[dict] = []

    def trim(group):  # keep the thumbnails of the keep_worst worst records only
        group.sort(key=lambda j: _badness(records[j]))
        for j in group[keep_worst:]:
            kept.pop(j, None)
        del group[keep_worst:]

    def take(result):
        recs, thumbs = result
        res = next(owner)
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

    run_views(flat, _validate_one, (), setup, workers, take, lambda: _progress(len(flat), quiet), ordered=True)
    for group in worst.values():
        trim(group)
    # indices so far count the records of views only: renumber them as in report.records
    report.kept = _renumber(report, records, kept)
    return report


def _renumber(report: ValidationReport, records: list[dict], kept: dict[int, tuple]) -> dict[int, tuple]:
    """``kept`` keyed by index in :attr:`ValidationReport.records` instead of in ``records``."""
    where = {id(r): i for i, r in enumerate(report.records)}
    return {where[id(records[j])]: kept[j] for j in sorted(kept)}


def _view_key(pv):
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in pv)


def _badness(rec):
    """Sort key: failures first, then the lowest agreement."""
    score = min(v for v in (rec["exact"], rec["ari"], rec["pearson"], 1.0) if v is not None)
    return (rec["passed"], score, -(rec["max_abs"] or 0))


def validate_building(path, mesh=None, tasks=None, params=None, preset=None, fit=False, workers=1,
                      fov=None, thresholds=None, quiet=True, component=None, up_axis=None,
                      max_pixels=None) -> ValidationReport:
    """Validate one building folder (either layout, or a flat folder of one view's files).

    Parameters
    ----------
    path : the building folder.
    mesh : the mesh the labels were rendered from (a file, a :class:`~labelgen.engine.MeshSpec`,
        a loaded :class:`~labelgen.io.Mesh` or a renderer); the mesh-rendered labels are then
        checked too.
    tasks : labels (and checks: ``point_info``, ``depth_euclidean_vs_depth_zbuffer``,
        ``mask_valid_vs_depth_zbuffer``) to check; default all that can be.
    params : label parameters (override the preset's).
    preset : a component's parameter set (see :mod:`labelgen.validate._presets`).
    fit : estimate parameters from a few views first (see :mod:`labelgen.validate._fit`).
    workers : processes.
    fov : field of view (radians) for views without point_info.
    thresholds : ``{label or "*": {key: value}}`` overriding :data:`DEFAULT_THRESHOLDS`.
    quiet : no progress bar on stderr.
    component : the dataset component the building belongs to (named in the records; its
        preset is used when ``preset`` is None).
    up_axis : the mesh file's up axis when ``mesh`` is a path (see :func:`labelgen.io.load_mesh`).
    max_pixels : largest image read (see :mod:`labelgen.core._limits`).

    Returns
    -------
    ValidationReport
        Its ``records`` in view order (a badly named file is a failed record, and the others go
        on), its ``summary``; :func:`labelgen.validate.write_report` writes it as JSON and HTML.
    """
    path = Path(path)
    b = scan_building(path, component) if path.is_dir() else None
    if b is None or (not b.views and not b.bad_files):
        raise LabelgenError(path, "no Taskonomy label files found")
    return validate_buildings([b], mesh, tasks, params, preset, fit, workers, fov, thresholds, quiet,
                              max_pixels=max_pixels, up_axis=up_axis)


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
    """The report.json object of per-building results."""
    records = [r for res in results for r in res.records]
    params = {}
    for res in results:
        params[res.key] = dict(res.params)
        if "fov" in res.fitted:
            params[res.key]["fov"] = res.fitted["fov"]
    return {"labelgen_version": __version__, "params": params,
            "presets": {r.key: r.preset for r in results},
            "fitted": {r.key: r.fitted for r in results},
            "files": records, "summary": summarize(records)}
