"""Validating one view: each shipped file recomputed (image-derived labels from the view's own
files, mesh-rendered labels from the mesh) and compared, then the metadata checks.

Every shipped file of the view gets one record with one of three verdicts (see
:mod:`labelgen.validate`): ``passed``, ``failed`` (the file is wrong: unreadable, of the wrong
type or size, or off its definition) or ``unchecked`` (an input is missing or unusable, or
the label cannot be recomputed from what ships: a mesh label without the mesh).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelgen.camera._cameras import Camera
from labelgen.core._errors import LabelgenError
from labelgen.engine._pipeline import LazySources, compute_view, plan
from labelgen.engine._sources import missing_files as _missing_files, view_sources
from labelgen.engine._views import render_labels
from labelgen.labels import all_labels
from labelgen.validate._checks import (DEPTH_CHECK, MASK_CHECK, POINT_INFO, check_point_info, compare,
                                       euclidean_from_zbuffer, fail, mask_from_depth, new_record, note,
                                       unchecked)
from labelgen.validate._report import thumbnails

#: Why a mesh-rendered label is not checked without the mesh.
NEEDS_MESH = "rendered from the mesh: give --mesh to check it"
NO_CAMERA = "missing input: point_info file (or a field of view: --fov, or --fit to estimate it)"


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
    keep: bool = False  # return report thumbnails (labelgen.validate._report.thumbnails) of each compared file
    max_pixels: int | None = None  # largest image read (labelgen.core._limits; --max-pixels)
    #: notes to add to the records of some labels (``{label: [note]}``: fitted values used)
    notes: dict[str, list[str]] = field(default_factory=dict)
    #: labels the fit already recomputed with this view's final parameters:
    #: ``{label: (fingerprint, array)}`` (see :func:`fingerprint`)
    precomputed: dict[str, tuple] = field(default_factory=dict)


def fingerprint(label: str, params: dict, fov: float | None) -> tuple:
    """What a recomputation of ``label`` depends on besides the view's files: its parameters'
    values and, for a label that needs the camera, the field of view."""
    lab = all_labels()[label]
    return tuple((p.name, params[p.name]) for p in lab.params) + ((("fov", fov),) if "camera" in lab.requires else ())


def _is_mesh_label(lab) -> bool:
    return bool({"gbuffer", "mesh"} & set(lab.requires))


def _fov_camera(sources, fov):
    """A camera with only a field of view (for views without point_info, given --fov)."""
    def make():
        ref = next(sources[k] for k in ("depth_zbuffer", "rgb", "depth_euclidean") if k in sources)
        h, w = ref.shape[:2]
        return Camera(np.zeros(3), np.eye(3), fov, w, h)
    return make


def _input_notes(lab, sources) -> list[str]:
    """Notes on how the label's input files were read (``"input rgb: JPEG data ..."``)."""
    out = []
    for req in lab.requires:
        for n in sources.notes.get(req, ()):
            out.append(f"input {req}: {n}")
    return out


def _camera_fov(sources) -> float | None:
    try:
        return float(sources["camera"].fov) if "camera" in sources else None
    except LabelgenError:
        return None


def validate_view(job: ViewJob, renderer=None) -> tuple[list[dict], dict[str, tuple]]:
    """Records of one view and, if ``job.keep``, the thumbnails of each compared file by label."""
    registry = all_labels()
    files = job.files
    sources = view_sources(files, job.point, job.view, job.fov, max_pixels=job.max_pixels, params=job.params)
    if "camera" not in sources and job.fov is not None and files:
        files_only = sources
        sources = LazySources({**{k: (lambda k=k: files_only[k]) for k in files_only},
                               "camera": _fov_camera(files_only, job.fov)})
        sources.notes = files_only.notes
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
            fail(rec, err.problem)
            continue
        finally:
            note(rec, *sources.notes.get(name, ()))
        _, skipped = plan([name], sources)
        if name in skipped:
            missing = _missing_files(lab, sources, registry)
            if missing == {"point_info"}:
                unchecked(rec, NO_CAMERA)
            else:
                unchecked(rec, "missing input: " + (", ".join(sorted(missing)) + " file" if missing
                                                    else skipped[name]))
            continue
        bad = _input_size_mismatch(lab, sources, shipped)
        if bad:
            note(rec, *_input_notes(lab, sources))
            fail(rec, bad)
            continue
        pre = job.precomputed.get(name)
        try:
            if pre is not None and pre[0] == fingerprint(name, job.params, _camera_fov(sources)):
                ours = {name: pre[1]}
            else:
                ours, _ = compute_view([name], sources, job.params)
        except LabelgenError as err:  # an input file that cannot be used: its own record says why
            unchecked(rec, f"cannot read its input: {err}")
            continue
        except Exception as err:  # a file no recipe can handle: this file only, and nothing known against it
            unchecked(rec, f"cannot recompute: {type(err).__name__}: {err}")
            continue
        note(rec, *_input_notes(lab, sources))
        compare(name, shipped, ours[name], rec, job.thresholds)
        if job.keep:
            kept[name] = thumbnails(name, shipped, ours[name])

    for name in files:
        if name == "point_info" or (wanted is not None and name not in wanted):
            continue
        if name in targets and (name in mesh_targets or not _is_mesh_label(registry[name])):
            continue  # recomputed and compared above
        # not recomputed here (a mesh label without --mesh, an input file): readable, the right size?
        rec = rec_for(name)
        try:
            arr = sources[name]
        except LabelgenError as err:
            fail(rec, err.problem)
            continue
        finally:
            note(rec, *sources.notes.get(name, ()))
        size = _view_size(sources, files)
        if size is not None and isinstance(arr, np.ndarray) and arr.shape[:2] != size:
            fail(rec, f"wrong size: {arr.shape[1]}x{arr.shape[0]}, the view's other images are "
                      f"{size[1]}x{size[0]}")
            continue
        unchecked(rec, NEEDS_MESH if name in registry and _is_mesh_label(registry[name])
                  else "an input only: no label definition to recompute it by")
    if mesh_targets:
        _validate_mesh_labels(job, sources, mesh_targets, renderer, rec_for, kept)
    _metadata_checks(job, sources, wanted, rec_for, kept)
    for r in records:
        note(r, *job.notes.get(r["label"], ()))
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
            fail(recs[name], err.problem)
        finally:
            note(recs[name], *sources.notes.get(name, ()))
    live = [n for n in names if n in shipped]
    if not live:
        return
    if "camera" not in sources or "point_info" not in job.files:
        for n in live:
            unchecked(recs[n], "missing input: point_info file (the camera to render from)")
        return
    try:
        ours, skipped = render_labels(renderer, sources["camera"], live, job.params)
    except LabelgenError as err:
        for n in live:
            unchecked(recs[n], f"cannot render: {err}")
        return
    for n in live:
        if n in skipped:
            unchecked(recs[n], f"cannot render from this mesh: {skipped[n]}")
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
            fail(rec, err.problem)
    if {"depth_euclidean", "depth_zbuffer"} <= set(files) and want(DEPTH_CHECK):
        rec = rec_for(DEPTH_CHECK)
        if "camera" not in sources:
            unchecked(rec, "no field of view: no point_info file (give --fov, or --fit to estimate it)")
        else:
            try:
                z, e, cam = sources["depth_zbuffer"], sources["depth_euclidean"], sources["camera"]
            except LabelgenError as err:
                unchecked(rec, f"cannot read its input: {err}")
            else:
                if z.shape != e.shape:
                    fail(rec, f"wrong size: depth_euclidean is {e.shape[1]}x{e.shape[0]}, depth_zbuffer "
                              f"{z.shape[1]}x{z.shape[0]}")
                else:
                    pred = euclidean_from_zbuffer(z, cam.fov)
                    compare(DEPTH_CHECK, e, pred, rec, job.thresholds)
                    if job.keep:
                        kept[DEPTH_CHECK] = thumbnails(DEPTH_CHECK, e, pred)
    if {"mask_valid", "depth_zbuffer"} <= set(files) and want(MASK_CHECK):
        rec = rec_for(MASK_CHECK)
        try:
            m, z = sources["mask_valid"], sources["depth_zbuffer"]
        except LabelgenError as err:
            unchecked(rec, f"cannot read its input: {err}")
        else:
            pred = mask_from_depth(z)
            compare(MASK_CHECK, m, pred, rec, job.thresholds)
            if job.keep:
                kept[MASK_CHECK] = thumbnails(MASK_CHECK, m, pred)
