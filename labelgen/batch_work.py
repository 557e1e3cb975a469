"""The work of ``labelgen batch`` that runs on workers, and its journal.

A chunk is a few views of one building. A worker computes each view, writes every file of it
under a temporary name and renames it into place (:func:`labelgen.images.write_bytes_atomic`),
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
building it worked on (:func:`worker_renderer`).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import LabelgenError
from .images import encode_png, write_bytes_atomic
from .paths import inside

JOURNAL_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_bytes(obj) -> bytes:
    """The bytes :func:`labelgen.images.write_json` writes."""
    return (json.dumps(obj, indent=1) + "\n").encode()


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


class _ViewWriter:
    """Writes one view's files and collects its journal record."""

    def __init__(self, root: Path, key: str):
        self.root = root
        self.record = {"key": key, "files": {}}

    def write(self, path: Path, data: bytes):
        inside(self.root, path)
        write_bytes_atomic(path, data)
        self.record["files"][path.relative_to(self.root).as_posix()] = [len(data), sha256(data)]


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


# -- per-worker mesh and renderer ----------------------------------------------------------

_LOCK = threading.Lock()
_CURRENT: dict[str, Any] = {}


def worker_renderer(mesh_path: str, backend: str = "open3d", threads: int = 0):
    """The renderer of ``mesh_path`` in this process, built once and kept (with its mesh and
    the mesh's per-mesh results) while chunks of the same building come; the previous
    building's are dropped, so a worker holds one building at a time."""
    from .meshes import load_mesh
    from .rendering import make_renderer

    st = os.stat(mesh_path)
    ident = (os.path.realpath(mesh_path), st.st_mtime_ns, st.st_size, backend)
    with _LOCK:
        if _CURRENT.get("ident") != ident:
            _CURRENT.clear()
            mesh = load_mesh(mesh_path)
            _CURRENT.update(ident=ident, renderer=make_renderer(mesh, backend, threads=threads))
        return _CURRENT["renderer"]


def _configure_cache(spec):
    from . import cache as mesh_cache

    mesh_cache.configure(enabled=spec.get("cache", True))


# -- tasks ---------------------------------------------------------------------------------

def prepare_building(spec: dict) -> dict:
    """Load a render job's mesh (kept for the chunks), sample its cameras when the job asks,
    and run the per-mesh computations of its tasks (written to the disk cache)."""
    from . import cache as mesh_cache
    from .pipeline import resolve_params
    from .runner import default_render_tasks

    _configure_cache(spec)
    renderer = worker_renderer(spec["mesh"], spec["backend"], spec.get("threads", 0))
    mesh = renderer.mesh
    if spec.get("sample") is not None:
        _sample(mesh, spec)
    tasks = spec["tasks"] if spec["tasks"] is not None else default_render_tasks(mesh)
    mesh_cache.prepare(mesh, tasks, resolve_params(spec["params"]))
    return {"tasks": tasks, "peak_rss_mb": peak_rss_mb()}


def _sample(mesh, spec):
    """Sample cameras into ``spec["sample_dir"]`` unless a finished sample with the same key is
    there; the ``done.json`` marker is written last, so a killed sample is done again."""
    import shutil

    from .cameras import parse_resolution
    from .sampling import SampleConfig, sample_building, write_sample

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
    from .pipeline import resolve_params
    from .runner import default_render_tasks, render_view

    _configure_cache(spec)
    root = Path(spec["root"])
    renderer = worker_renderer(spec["mesh"], spec["backend"], spec.get("threads", 0))
    tasks = spec["tasks"] if spec["tasks"] is not None else default_render_tasks(renderer.mesh)
    params = resolve_params(spec["params"])
    folder = spec["folder"]
    skipped: Counter = Counter()
    failures, done, records, files = [], [], {}, 0
    for name, cam, key in spec["views"]:
        try:
            labels, skip = render_view(renderer, cam, tasks, params)
            out = _ViewWriter(root, key)
            for label, array in labels.items():
                out.write(_file(root, folder, label, cam.point, cam.view, "png"), encode_png(array))
            out.write(_file(root, folder, "point_info", cam.point, cam.view, "json"), json_bytes(cam.point_info()))
        except LabelgenError as err:
            failures.append(str(err))
            continue
        out.record["skipped"] = {t: r for t, r in skip.items()}
        skipped.update(_skip_key(t, r) for t, r in skip.items())
        files += len(out.record["files"])
        records[name] = out.record
        done.append(name)
    write_journal(Path(spec["journal"]), records)
    return _result(len(done), files, skipped, failures, done)


def derive_chunk(spec: dict) -> dict:
    """Derive and write the labels of the views ``spec["views"]`` (list of (name, (files,
    point, view), key)) of an existing building folder."""
    from .pipeline import resolve_params
    from .runner import derive_view_labels

    root = Path(spec["root"])
    params = resolve_params(spec["params"])
    folder = spec["folder"]
    skipped: Counter = Counter()
    failures, done, records, files = [], [], {}, 0
    for name, (inputs, point, view), key in spec["views"]:
        labels, summary = derive_view_labels({k: Path(v) for k, v in inputs.items()}, point, view,
                                             spec["tasks"], params, spec.get("fov"))
        failures.extend(summary.failures)
        if summary.failures and not labels:
            continue
        out = _ViewWriter(root, key)
        try:
            for label, array in labels.items():
                out.write(_file(root, folder, label, point, view, "png"), encode_png(array))
        except LabelgenError as err:
            failures.append(str(err))
            continue
        out.record["skipped"] = {t: r for (t, r) in summary.skipped}
        skipped.update(_skip_key(t, r) for (t, r), n in summary.skipped.items() for _ in range(n))
        files += len(labels)
        if not summary.failures:  # a view with an unusable input file is tried again next time
            records[name] = out.record
            done.append(name)
    write_journal(Path(spec["journal"]), records)
    return _result(len(done), files, skipped, failures, done)


def validate_job(spec: dict) -> dict:
    """Run :func:`labelgen.validate.validate_building` and write its report as JSON."""
    try:
        from .validate import validate_building
    except ImportError:
        return _result(failures=[f"{spec['path']}: validate is not available in this labelgen"])
    root = Path(spec["root"])
    try:
        rows = validate_building(spec["path"], mesh=spec.get("mesh"), tasks=spec["tasks"],
                                 params=spec["params"] or None, preset=spec.get("preset"),
                                 fit=spec.get("fit", False), workers=1)
        out = _ViewWriter(root, spec["key"])
        out.write(Path(spec["report"]), json_bytes({"building": spec["building"], "path": spec["path"],
                                                    "results": rows}))
    except LabelgenError as err:
        return _result(failures=[str(err)])
    write_journal(Path(spec["journal"]), {"validate": out.record})
    return _result(1, 1, done=["validate"])


def _file(root: Path, folder: str, domain: str, point, view, ext: str) -> Path:
    """A view's file of ``domain``; ``folder`` is its folder relative to ``root`` with
    ``{domain}`` in place of the domain (see :class:`labelgen.batch_jobs.Layout`)."""
    return inside(root, root / folder.replace("{domain}", domain) / f"point_{point}_view_{view}_domain_{domain}.{ext}")
