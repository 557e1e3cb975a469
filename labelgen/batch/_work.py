"""The work of ``labelgen batch`` that runs on workers.

A chunk is a few views of one building. A worker computes each view, writes every file of it
under a temporary name and renames it into place (:func:`labelgen.io._images.write_bytes_atomic`),
and, once every view of the chunk is written, records them in one journal file of the chunk
(:func:`labelgen.batch._store.write_journal`), so a worker or driver killed at any moment costs
at most the views of the chunks in flight. Writing a file twice (a chunk re-run after its worker
was lost) writes the same bytes under the same name. A write that fails because the output takes
no more files (no space left, read-only, no permission, the output folder gone) stops the chunk
with :class:`~labelgen.batch._store.StopBatch` (the views it finished journaled where possible),
and the driver stops the batch.

Only plain data and module-level functions cross process boundaries, so the same tasks run
in a :class:`~concurrent.futures.ProcessPoolExecutor` and on Dask workers. Each worker process
keeps the mesh (with its per-mesh results such as curvature) and the renderer of the last
building it worked on (:func:`labelgen.engine.renderer_for`).
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from labelgen.batch._store import StopBatch, sample_manifest, sample_state, sha256, stopping_error, write_journal
from labelgen.core._errors import LabelgenError, OutputError
from labelgen.engine._views import json_bytes
from labelgen.io._images import write_bytes_atomic
from labelgen.core._paths import inside


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB (0 where the OS does not say)."""
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return 0.0
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _result(views=0, files=0, skipped=None, failures=None, done=None) -> dict:
    return {"views": views, "files": files, "skipped": dict(skipped or {}), "failures": list(failures or []),
            "done": list(done or []), "peak_rss_mb": peak_rss_mb()}


def _skip_key(task, reason) -> str:
    return f"{task}: {reason}"


def _configure_cache(spec):
    from labelgen.io import _cache as mesh_cache

    mesh_cache.configure(enabled=spec.get("cache", True))


def _renderer(spec: dict):
    """This worker's renderer of the job's mesh (kept while chunks of the same building come)."""
    from labelgen.engine._workers import renderer_for

    return renderer_for(spec["mesh"], spec["backend"], spec.get("threads", 0))


# -- tasks ---------------------------------------------------------------------------------

def _stop_or(err: OutputError, spec: dict) -> OutputError:
    """``err`` as the :class:`StopBatch` it means (see :func:`stopping_error`), else itself.
    Here the output folder is only checked to exist: a worker on another machine sees it as
    another device (the driver checks that it is still the same folder)."""
    return stopping_error(err, spec["root"]) or err


def _journal(spec: dict, records: dict, stopping: bool = False) -> None:
    """Record the chunk's finished views; when the chunk is ``stopping`` already, as far as the
    output still takes files (else those views are simply computed again next time)."""
    try:
        write_journal(Path(spec["journal"]), records, spec["root"])
    except OutputError as err:
        if not stopping:
            raise _stop_or(err, spec) from None


def _failed_write(err: OutputError, spec: dict, records: dict) -> str:
    """A view could not be written: when the output takes no more files, the chunk's finished
    views (``records``) are journaled as far as possible and :class:`StopBatch` is raised; else
    the failure message, and the chunk goes on."""
    err = _stop_or(err, spec)
    if isinstance(err, StopBatch):
        _journal(spec, records, stopping=True)
        raise err from None
    return str(err)


def _attempt(make, spec: dict, records: dict, failures: list):
    """``make()`` (a view's journal record), or None when it raised: its failure goes to
    ``failures``, and :class:`StopBatch` is raised when the output takes no more files
    (:func:`_failed_write`)."""
    try:
        return make()
    except OutputError as err:
        failures.append(_failed_write(err, spec, records))
    except LabelgenError as err:
        failures.append(str(err))
    return None


def prepare_building(spec: dict) -> dict:
    """Load a render job's mesh (kept for the chunks), sample its cameras when the job asks,
    and run the per-mesh computations of its tasks (written to the disk cache)."""
    from labelgen.io import _cache as mesh_cache
    from labelgen.engine._pipeline import resolve_params
    from labelgen.engine import default_render_tasks

    _configure_cache(spec)
    mesh = _renderer(spec).mesh
    if spec.get("sample") is not None:
        try:
            _sample(mesh, spec)
        except OutputError as err:
            raise _stop_or(err, spec) from None
    tasks = spec["tasks"] if spec["tasks"] is not None else default_render_tasks(mesh)
    mesh_cache.prepare(mesh, tasks, resolve_params(spec["params"]))
    return {"tasks": tasks, "peak_rss_mb": peak_rss_mb()}


def _sample(mesh, spec):
    """Sample cameras into ``spec["sample_dir"]`` unless a finished, undamaged sample with the
    same key is there (:func:`sample_state`); the ``done.json`` marker, with the size and
    SHA-256 of every file of the sample, is written last, so a killed sample is done again."""
    import shutil

    from labelgen.camera._cameras import parse_resolution
    from labelgen.sample._sampling import SampleConfig, sample_building, write_sample

    folder = Path(spec["sample_dir"])
    if sample_state(folder, spec["sample_key"])[0] == "done":
        return
    root = spec["root"]
    if folder.exists():
        try:
            shutil.rmtree(inside(root, folder))
        except OSError as err:
            raise OutputError(err.filename or folder, f"cannot remove: {err.strerror or err}", err.errno) from None
    kw = dict(spec["sample"])
    cfg = SampleConfig(**kw)
    if spec.get("resolution") is not None:
        cfg.resolution = parse_resolution(spec["resolution"])
    result = sample_building(mesh, cfg)
    write_sample(result, folder, root=root)
    try:
        files = sample_manifest(folder)
    except OSError as err:
        raise OutputError(err.filename or folder, f"cannot read back: {err.strerror or err}", err.errno) from None
    write_bytes_atomic(folder / "done.json", json_bytes({"key": spec["sample_key"], "warnings": result.warnings,
                                                         "files": files}), root)


def render_chunk(spec: dict) -> dict:
    """Render and write the views ``spec["views"]`` (list of (name, camera, key)) of a building."""
    from labelgen.engine import ViewWriter, default_render_tasks, render_labels, resolve_params

    _configure_cache(spec)
    renderer = _renderer(spec)
    tasks = spec["tasks"] if spec["tasks"] is not None else default_render_tasks(renderer.mesh)
    params = resolve_params(spec["params"])
    writer = ViewWriter(spec["root"], spec["folder"], digests=True, make_root=False)
    skipped: Counter = Counter()
    failures, done, records, files = [], [], {}, 0
    def view(cam, key):
        labels, skip = render_labels(renderer, cam, tasks, params)
        return {"key": key, "files": writer.write(cam.point, cam.view, labels, cam.point_info()),
                "skipped": dict(skip)}

    for name, cam, key in spec["views"]:
        record = _attempt(lambda: view(cam, key), spec, records, failures)
        if record is None:
            continue
        skipped.update(_skip_key(t, r) for t, r in record["skipped"].items())
        files += len(record["files"])
        records[name] = record
        done.append(name)
    _journal(spec, records)
    return _result(len(done), files, skipped, failures, done)


def derive_chunk(spec: dict) -> dict:
    """Derive and write the labels of the views ``spec["views"]`` (list of (name, (files,
    point, view), key)) of an existing building folder."""
    from labelgen.engine import ViewWriter, derive_labels, resolve_params

    params = resolve_params(spec["params"])
    writer = ViewWriter(spec["root"], spec["folder"], digests=True, make_root=False)
    skipped: Counter = Counter()
    failures, done, records, files = [], [], {}, 0
    for name, (inputs, point, view), key in spec["views"]:
        labels, summary = derive_labels({k: Path(v) for k, v in inputs.items()}, point, view,
                                        spec["tasks"], params, spec.get("fov"))
        failures.extend(summary.failures)
        if summary.failures and not labels:
            continue
        record = _attempt(lambda: {"key": key, "files": writer.write(point, view, labels)}, spec, records, failures)
        if record is None:
            continue
        record["skipped"] = {t: r for (t, r) in summary.skipped}
        skipped.update(_skip_key(t, r) for (t, r), n in summary.skipped.items() for _ in range(n))
        files += len(labels)
        if not summary.failures:  # a view with an unusable input file is tried again next time
            records[name] = record
            done.append(name)
    _journal(spec, records)
    return _result(len(done), files, skipped, failures, done)


def validate_job(spec: dict) -> dict:
    """Run :func:`labelgen.validate.validate_building` and write its records as JSON."""
    from labelgen.validate import validate_building

    root = Path(spec["root"])
    report = Path(spec["report"])
    try:
        result = validate_building(spec["path"], mesh=spec.get("mesh"), tasks=spec["tasks"],
                                   params=spec["params"] or None, preset=spec.get("preset"),
                                   fit=spec.get("fit", False), workers=1)
        data = json_bytes({"building": spec["building"], "path": spec["path"], "results": result.records})
        inside(root, report)
        write_bytes_atomic(report, data, root)
    except OutputError as err:
        return _result(failures=[_failed_write(err, spec, {})])
    except LabelgenError as err:
        return _result(failures=[str(err)])
    record = {"key": spec["key"], "files": {report.relative_to(root).as_posix(): [len(data), sha256(data)]}}
    _journal(spec, {"validate": record})
    return _result(1, 1, done=["validate"])
