"""The work of ``labelgen batch`` that runs on workers, and its journal.

A chunk is a few views of one building. A worker computes each view, writes every file of it
under a temporary name and renames it into place (:func:`labelgen.io._images.write_bytes_atomic`),
and, once every view of the chunk is written, records them in one journal file of the chunk
(written the same way): ``ROOT/.labelgen/journal/{component}/{building}/chunk-{hash}.json``
with, per view, the key of its inputs and parameters and each file's path (relative to ROOT),
size and SHA-256. A view counts as done when a journal record with the current key lists it
and every file is there with the recorded size; anything else is computed again, so a worker
or driver killed at any moment costs at most the views of the chunks in flight. Writing a file
twice (a chunk re-run after its worker was lost) writes the same bytes under the same name.

Only plain data and module-level functions cross process boundaries, so the same tasks run
in a :class:`~concurrent.futures.ProcessPoolExecutor` and on Dask workers. Each worker process
keeps the mesh (with its per-mesh results such as curvature) and the renderer of the last
building it worked on (:func:`labelgen.engine.renderer_for`).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

from labelgen.core._errors import LabelgenError
from labelgen.engine._views import json_bytes
from labelgen.io._images import write_bytes_atomic
from labelgen.core._paths import inside

JOURNAL_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_of(obj) -> str:
    """A stable hash of a JSON-able description (sorted keys)."""
    return sha256(json.dumps(obj, sort_keys=True, default=str).encode())


# -- journal -------------------------------------------------------------------------------

def read_journal(folder: Path) -> dict[str, list[dict]]:
    """Every record under a building's journal folder, by view ``"P_V"`` (unreadable files,
    which only a damaged disk makes since they are written atomically, are ignored)."""
    out: dict[str, list[dict]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("chunk-*.json")):
        try:
            data = json.loads(path.read_text())
            views = data["views"] if data.get("version") == JOURNAL_VERSION else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        for name, rec in views.items():
            if isinstance(rec, dict):
                out.setdefault(name, []).append(rec)
    return out


def view_done(root: Path, records: list[dict] | None, key: str) -> dict | None:
    """The record showing the view done for ``key`` (its files all there, sizes as recorded)."""
    for rec in records or ():
        if rec.get("key") != key or not isinstance(rec.get("files"), dict):
            continue
        try:
            if all((root / rel).stat().st_size == meta[0] for rel, meta in rec["files"].items()):
                return rec
        except (OSError, TypeError, IndexError):
            continue
    return None


def write_journal(folder: Path, views: dict[str, dict]) -> None:
    """Record finished views in a new chunk journal file (atomic)."""
    if not views:
        return
    name = "chunk-" + key_of(sorted((v, r["key"]) for v, r in views.items()))[:24] + ".json"
    write_bytes_atomic(folder / name, json_bytes({"version": JOURNAL_VERSION, "views": views}))


def remove_stale_parts(folder: Path) -> int:
    """Delete temporary ``.NAME.XXXX.part`` files a killed writer left in ``folder``."""
    n = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(".part") and e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
                n += 1
            except OSError:
                pass
    return n


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

def prepare_building(spec: dict) -> dict:
    """Load a render job's mesh (kept for the chunks), sample its cameras when the job asks,
    and run the per-mesh computations of its tasks (written to the disk cache)."""
    from labelgen.io import _cache as mesh_cache
    from labelgen.engine._pipeline import resolve_params
    from labelgen.engine import default_render_tasks

    _configure_cache(spec)
    mesh = _renderer(spec).mesh
    if spec.get("sample") is not None:
        _sample(mesh, spec)
    tasks = spec["tasks"] if spec["tasks"] is not None else default_render_tasks(mesh)
    mesh_cache.prepare(mesh, tasks, resolve_params(spec["params"]))
    return {"tasks": tasks, "peak_rss_mb": peak_rss_mb()}


def _sample(mesh, spec):
    """Sample cameras into ``spec["sample_dir"]`` unless a finished sample with the same key is
    there; the ``done.json`` marker is written last, so a killed sample is done again."""
    import shutil

    from labelgen.camera._cameras import parse_resolution
    from labelgen.sample._sampling import SampleConfig, sample_building, write_sample

    folder = Path(spec["sample_dir"])
    marker = folder / "done.json"
    try:
        if json.loads(marker.read_text()).get("key") == spec["sample_key"]:
            return
    except (OSError, ValueError, AttributeError):
        pass
    if folder.exists():
        shutil.rmtree(inside(spec["root"], folder))
    kw = dict(spec["sample"])
    cfg = SampleConfig(**kw)
    if spec.get("resolution") is not None:
        cfg.resolution = parse_resolution(spec["resolution"])
    result = sample_building(mesh, cfg)
    write_sample(result, folder)
    write_bytes_atomic(marker, json_bytes({"key": spec["sample_key"], "warnings": result.warnings}))


def render_chunk(spec: dict) -> dict:
    """Render and write the views ``spec["views"]`` (list of (name, camera, key)) of a building."""
    from labelgen.engine import ViewWriter, default_render_tasks, render_labels, resolve_params

    _configure_cache(spec)
    renderer = _renderer(spec)
    tasks = spec["tasks"] if spec["tasks"] is not None else default_render_tasks(renderer.mesh)
    params = resolve_params(spec["params"])
    writer = ViewWriter(spec["root"], spec["folder"], digests=True)
    skipped: Counter = Counter()
    failures, done, records, files = [], [], {}, 0
    for name, cam, key in spec["views"]:
        try:
            labels, skip = render_labels(renderer, cam, tasks, params)
            record = {"key": key, "files": writer.write(cam.point, cam.view, labels, cam.point_info())}
        except LabelgenError as err:
            failures.append(str(err))
            continue
        record["skipped"] = dict(skip)
        skipped.update(_skip_key(t, r) for t, r in skip.items())
        files += len(record["files"])
        records[name] = record
        done.append(name)
    write_journal(Path(spec["journal"]), records)
    return _result(len(done), files, skipped, failures, done)


def derive_chunk(spec: dict) -> dict:
    """Derive and write the labels of the views ``spec["views"]`` (list of (name, (files,
    point, view), key)) of an existing building folder."""
    from labelgen.engine import ViewWriter, derive_labels, resolve_params

    params = resolve_params(spec["params"])
    writer = ViewWriter(spec["root"], spec["folder"], digests=True)
    skipped: Counter = Counter()
    failures, done, records, files = [], [], {}, 0
    for name, (inputs, point, view), key in spec["views"]:
        labels, summary = derive_labels({k: Path(v) for k, v in inputs.items()}, point, view,
                                        spec["tasks"], params, spec.get("fov"))
        failures.extend(summary.failures)
        if summary.failures and not labels:
            continue
        try:
            record = {"key": key, "files": writer.write(point, view, labels)}
        except LabelgenError as err:
            failures.append(str(err))
            continue
        record["skipped"] = {t: r for (t, r) in summary.skipped}
        skipped.update(_skip_key(t, r) for (t, r), n in summary.skipped.items() for _ in range(n))
        files += len(labels)
        if not summary.failures:  # a view with an unusable input file is tried again next time
            records[name] = record
            done.append(name)
    write_journal(Path(spec["journal"]), records)
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
        write_bytes_atomic(report, data)
    except LabelgenError as err:
        return _result(failures=[str(err)])
    record = {"key": spec["key"], "files": {report.relative_to(root).as_posix(): [len(data), sha256(data)]}}
    write_journal(Path(spec["journal"]), {"validate": record})
    return _result(1, 1, done=["validate"])
