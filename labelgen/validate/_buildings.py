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
from labelgen.validate._checks import (CHECKS, DEPTH_CHECK, FAILED, PASSED, THRESHOLD_KEYS, UNCHECKED, VERDICTS, fail,
                                      new_record)
from labelgen.validate._presets import preset_name, preset_params
from labelgen.validate._view import ViewJob, validate_view

# -- a building -------------------------------------------------------------------------

@dataclass
class BuildingResult:
    """One building's part of a :class:`ValidationReport`: the parameters used, what was fitted
    (``fitted``: report.json's form, see :meth:`labelgen.validate._fit.FitResult.to_dict`), the
    preset, its records."""

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
    def counts(self) -> dict[str, int]:
        """Number of records of each verdict: ``{"passed": n, "failed": n, "unchecked": n}``."""
        out = {v: 0 for v in VERDICTS}
        for r in self.records:
            out[r["verdict"]] += 1
        return out

    @property
    def passed(self) -> bool:
        """True when no file failed (files that could not be checked are ``unchecked``, not
        failed: see :meth:`ok` for the strict reading)."""
        return all(r["verdict"] != FAILED for r in self.records)

    def ok(self, strict: bool = False) -> bool:
        """No file failed and, when ``strict``, none was left unchecked (``labelgen validate``'s
        exit status 0, with and without ``--strict``)."""
        return all(r["verdict"] == PASSED or (r["verdict"] == UNCHECKED and not strict) for r in self.records)

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


def _building_params(building: Building, params, preset, fit, fov, tasks, quiet, thresholds, max_pixels=None):
    """The building's parameters, its :class:`~labelgen.validate._fit.FitResult` (None without
    ``fit``) and its preset's name."""
    name = preset if preset is not None else preset_name(building.component)
    values = preset_params(name) if name is not None else {}
    values.update(params or {})
    resolved = resolve_params(values)
    fitted = None
    if fit:
        from labelgen.validate._fit import fit_building

        fitted = fit_building(building.views, resolved, fov=fov, tasks=tasks, fixed=set(params or {}),
                              quiet=quiet, thresholds=thresholds, max_pixels=max_pixels)
        resolved = resolve_params({**resolved, **fitted.params})
    return resolved, fitted, preset_name(name) if name else None


def _view_job(b: Building, pv, files, tasks, bparams, fitted, thresholds, fov, keep, max_pixels) -> ViewJob:
    """One view's job: the building's parameters, and what was fitted for this view (its own
    canny_sigma, its field of view) with a note on the records that use it."""
    p, v = pv
    params, notes, pre = bparams, {}, {}
    # a given field of view is for every view; else point_info's, else the one fitted for this view
    view_fov = fov if fov is not None or "point_info" in files else None
    if fitted is not None:
        own = fitted.view_params(pv)
        if own:
            params = resolve_params({**bparams, **own})
        if own.get("canny_sigma", bparams["canny_sigma"]) != bparams["canny_sigma"]:
            notes["edge_texture"] = [f"canny_sigma {own['canny_sigma']:g} fitted for this view (the building's "
                                     f"consensus: {bparams['canny_sigma']:g})"]
        info = fitted.views.get(pv, {})
        if view_fov is None and "fov" in info:
            view_fov = info["fov"]
            said = (f"field of view {info['fov']:.4f} rad ({math.degrees(info['fov']):.2f} degrees) fitted for this "
                    f"view from {_FOV_FROM.get(info['fov_from'], info['fov_from'])}")
            for label in ("keypoints3d", DEPTH_CHECK):
                notes[label] = [said]
        pre = fitted.computed.get(pv, {})
    return ViewJob(files, b.name, b.component, p, v, tasks, params, thresholds, view_fov, keep=keep,
                   max_pixels=max_pixels, notes=notes, precomputed=pre)


_FOV_FROM = {"depths": "depth_zbuffer and depth_euclidean", "normals": "depth_zbuffer and normal",
             "keypoints3d": "the keypoints3d correlation"}


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
        bparams, fitted, used = _building_params(b, params, preset, fit, fov, tasks, quiet, thresholds, max_pixels)
        jobs = [_view_job(b, pv, files, tasks, bparams, fitted, thresholds, fov, bool(keep_worst), max_pixels)
                for pv, files in sorted(b.views.items(), key=lambda kv: _view_key(kv[0]))]
        all_jobs.append(jobs)
        bad = []
        for path, problem in b.bad_files:
            r = new_record(b.name, b.component, "?", "?", label_of_file(path.name), path)
            fail(r, f"bad file name: {problem}")
            bad.append(r)
        report.buildings.append(BuildingResult(b, bparams, fitted.to_dict() if fitted is not None else {}, used, bad))
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
    fit : estimate parameters first (see :mod:`labelgen.validate._fit`): per view the field of
        view of views without point_info and canny_sigma, per building the others.
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
        Its ``records`` in view order, each with its ``verdict`` (``"passed"``, ``"failed"``,
        or ``"unchecked"`` with its ``reason``; a badly named file is a failed record, and the
        others go on), its ``summary``, ``passed`` (no file failed) and ``ok(strict)``;
        :func:`labelgen.validate.write_report` writes it as JSON and HTML.
    """
    path = Path(path)
    b = scan_building(path, component) if path.is_dir() else None
    if b is None or (not b.views and not b.bad_files):
        raise LabelgenError(path, "no Taskonomy label files found")
    return validate_buildings([b], mesh, tasks, params, preset, fit, workers, fov, thresholds, quiet,
                              max_pixels=max_pixels, up_axis=up_axis)


def _count(records) -> dict[str, int]:
    out = {"files": len(records)}
    for v in VERDICTS:
        out[v] = sum(r["verdict"] == v for r in records)
    return out


def summarize(records: list[dict]) -> dict:
    """Counts of the three verdicts in all, per component (and per label in it), and per
    building and label (with median metrics)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["component"], r["building"], r["label"]), []).append(r)
    rows = []
    for (comp, bname, label), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][2])):
        row = {"building": bname, "component": comp, "label": label, **_count(rs)}
        for m in ("exact", "within1", "ari", "pearson", "max_abs"):
            vals = [r[m] for r in rs if r[m] is not None]
            row[f"median_{m}"] = float(np.median(vals)) if vals else None
        rows.append(row)
    comps: dict[str | None, list[dict]] = {}
    for r in records:
        comps.setdefault(r["component"], []).append(r)
    by_component = []
    for comp, rs in sorted(comps.items(), key=lambda kv: kv[0] or ""):
        labels: dict[str, list[dict]] = {}
        for r in rs:
            labels.setdefault(r["label"], []).append(r)
        by_component.append({"component": comp, "buildings": len({r["building"] for r in rs}), **_count(rs),
                             "labels": {k: _count(v) for k, v in sorted(labels.items())}})
    return {**_count(records), "by_component": by_component, "by_label": rows}


def report_dict(results: list[BuildingResult]) -> dict:
    """The report.json object of per-building results."""
    records = [r for res in results for r in res.records]
    params = {res.key: dict(res.params) for res in results}
    return {"labelgen_version": __version__, "params": params,
            "presets": {r.key: r.preset for r in results},
            "fitted": {r.key: r.fitted for r in results},
            "files": records, "summary": summarize(records)}
