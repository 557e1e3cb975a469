"""``labelgen batch``: render, derive and validate many buildings from one jobs file.

The driver (this module) reads the jobs file (:mod:`labelgen.batch._jobs`), finds for each
building the views its journal shows done, splits the rest into chunks of views of one
building and runs them (:mod:`labelgen.batch._work`) on a process pool on this machine
(``--scheduler local``) or on Dask workers (``--scheduler dask``: a ``LocalCluster``, or a
running cluster at ``--address``). The driver writes nothing but ``ROOT/.labelgen/summary.json``
at the end; every output file and journal record is written by the worker that made it,
atomically, so killing the driver or any worker at any time loses only views in flight, and
running the same command again computes just those.

Chunks are handed out in building order, a bounded number at a time, so workers stay on one
building (whose mesh and renderer they keep) until its chunks run out.
"""
from __future__ import annotations

import asyncio
import math
import os
import shutil
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from labelgen.batch import _work as work
from labelgen.batch._executors import DaskExecutor, LocalExecutor, make_executor
from labelgen.batch._jobs import Job, Layout, read_jobs
from labelgen.core._errors import LabelgenError
from labelgen.core._paths import check_identifier, inside

MAX_LOSSES = 3  # a task whose worker died this many times is reported as failed


@dataclass
class BuildingState:
    job: Job
    views: int = 0
    computed: int = 0
    already_done: int = 0
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    outstanding: int = 0  # tasks queued or running
    planned: bool = False
    peak_rss_mb: float = 0.0  # largest peak resident memory of a worker process that ran its tasks
    worker_losses: int = 0  # times a task of the building was lost with its worker

    def summary(self) -> dict:
        seconds = (self.finished or time.perf_counter()) - (self.started or time.perf_counter())
        return {"views": self.views, "computed": self.computed, "already_done": self.already_done,
                "files": self.files, "skipped": dict(sorted(self.skipped.items())),
                "failures": list(self.failures), "seconds": round(seconds, 3),
                "worker_peak_rss_mb": round(self.peak_rss_mb, 1), "worker_losses": self.worker_losses}


# -- planning ------------------------------------------------------------------------------

class _Task:
    __slots__ = ("kind", "state", "fn", "spec", "size", "losses")

    def __init__(self, kind, state, fn, spec, size=0):
        self.kind, self.state, self.fn, self.spec, self.size, self.losses = kind, state, fn, spec, size, 0


class Batch:
    """One run of a jobs file (see :func:`run_batch`)."""

    def __init__(self, jobs: list[Job], root, layout: str = "building", force: bool = False,
                 chunk_views: int | None = None):
        from labelgen._version import __version__

        self.root = Path(root)
        self.layout = Layout(self.root, layout)
        self.force = force
        self.chunk_views = chunk_views
        self.version = __version__
        self.states = [BuildingState(job) for job in jobs]
        self.chunks: deque[_Task] = deque()  # ready chunks, handed out first
        self.starts: deque[_Task] = deque()  # first tasks of buildings not started yet
        self.workers = 1
        self.threads = 0
        self.bar = None

    # each job kind: what is done, what to submit
    def plan(self, state: BuildingState):
        job = state.job
        state.started = time.perf_counter()
        try:
            if self.force:
                for what in ("journal", "sample"):
                    folder = self.layout.state(job, what)
                    if folder.exists():
                        shutil.rmtree(folder)
            for folder in self.root.glob(self.layout.template(job).replace("{domain}", "*")):
                work.remove_stale_parts(folder)
            getattr(self, f"_plan_{job.kind}")(state)
        except LabelgenError as err:
            state.failures.append(str(err))
            state.planned = True
        except OSError as err:  # an input or the journal vanished or became unreadable meanwhile
            state.failures.append(f"{err.filename or job.label}: {err.strerror or err}")
            state.planned = True
        if state.planned and state.outstanding == 0:
            state.finished = time.perf_counter()

    def _base_spec(self, job: Job, **kw) -> dict:
        return {"root": str(self.root), "building": job.building, "folder": self.layout.template(job),
                "journal": str(self.layout.state(job, "journal")), "params": job.params, **kw}

    def _plan_render(self, state: BuildingState):
        job = state.job
        mesh = job.mesh_spec()
        mesh_key = mesh.key  # every file the render reads, and the up axes
        spec = self._base_spec(job, mesh=mesh, backend=job.renderer, tasks=job.tasks,
                               threads=self.threads, resolution=job.resolution)
        spec["job_key"] = work.key_of({"labelgen": self.version, "kind": "render", "tasks": job.tasks,
                                       "params": _resolved(job.params), "mesh": mesh_key,
                                       "renderer": job.renderer})
        if job.sample is not None:
            spec["sample"] = job.sample
            spec["sample_dir"] = str(self.layout.state(job, "sample"))
            spec["sample_key"] = work.key_of({"mesh": mesh_key, "sample": job.sample,
                                              "resolution": job.resolution, "labelgen": self.version})
            if not _sample_done(spec):
                self._queue_start(state, spec)
                return
        self._plan_render_views(state, spec, prepared=False)

    def _plan_render_views(self, state: BuildingState, spec: dict, prepared: bool):
        from labelgen.camera._cameras import read_cameras

        job = state.job
        if job.sample is not None:
            cams = read_cameras(Path(spec["sample_dir"]) / "point_info")
        else:
            cams = read_cameras(job.cameras, fov=job.fov, resolution=job.resolution)
        where = job.cameras or spec.get("sample_dir")
        views = []
        for cam in cams:
            check_identifier(cam.point, where, "point")
            check_identifier(cam.view, where, "view")
            views.append((f"{cam.point}_{cam.view}", cam, work.key_of([spec["job_key"], cam.point_info()])))
        todo = self._count_done(state, views)
        if todo and not prepared:
            self._queue_start(state, dict(spec, todo=todo))
        else:
            self._queue_chunks(state, work.render_chunk, spec, todo)

    def _queue_start(self, state: BuildingState, spec: dict):
        self.starts.append(_Task("prepare", state, work.prepare_building, spec, len(spec.get("todo", ()))))
        state.outstanding += 1

    def _plan_derive(self, state: BuildingState):
        from labelgen.engine import default_derive_tasks, resolve_params, scan_building

        job = state.job
        found = scan_building(job.path)
        if not found.views and not found.bad_files:
            raise LabelgenError(job.path, "no Taskonomy label files found")
        state.failures.extend(found.bad_file_errors())
        tasks = job.tasks if job.tasks is not None else default_derive_tasks()
        job_key = work.key_of({"labelgen": self.version, "kind": "derive", "tasks": tasks,
                               "params": resolve_params(job.params), "fov": job.fov})
        views = []
        for (p, v), files in sorted(found.views.items()):
            check_identifier(p, job.path, "point")
            check_identifier(v, job.path, "view")
            inputs = {k: str(f) for k, f in sorted(files.items())}
            stamp = []
            for k, f in inputs.items():
                st = os.stat(f)
                stamp.append([k, os.path.relpath(f, job.path), st.st_size, st.st_mtime_ns])
            views.append((f"{p}_{v}", (inputs, p, v), work.key_of([job_key, stamp])))
        todo = self._count_done(state, views)
        spec = self._base_spec(job, tasks=tasks, fov=job.fov)
        self._queue_chunks(state, work.derive_chunk, spec, todo)

    def _plan_validate(self, state: BuildingState):
        job = state.job
        mesh = job.mesh_spec()
        listing = sorted([str(p.relative_to(job.path)), p.stat().st_size, p.stat().st_mtime_ns]
                         for p in job.path.rglob("*") if p.is_file())
        key = work.key_of({"labelgen": self.version, "kind": "validate", "tasks": job.tasks,
                           "params": job.params, "preset": job.preset, "fit": job.fit, "files": listing,
                           "mesh": mesh.key if mesh is not None else None})
        spec = self._base_spec(job, path=str(job.path), mesh=mesh,
                               tasks=job.tasks, preset=job.preset, fit=job.fit, key=key,
                               report=str(self.layout.report_path(job)))
        todo = self._count_done(state, [("validate", None, key)])
        if todo:
            self.chunks.append(_Task("chunk", state, work.validate_job, spec, 1))
            state.outstanding += 1
        state.planned = True

    def _count_done(self, state: BuildingState, views: list) -> list:
        """Views not yet done (journal); counts the done ones."""
        journal = work.read_journal(self.layout.state(state.job, "journal"))
        todo = []
        for name, item, key in views:
            rec = work.view_done(self.root, journal.get(name), key)
            if rec is None:
                todo.append((name, item, key))
            else:
                state.already_done += 1
                state.skipped.update(f"{t}: {r}" for t, r in (rec.get("skipped") or {}).items())
        state.views = len(views)
        if self.bar is not None:
            self.bar.total += len(views)
            self.bar.update(state.already_done)
        return todo

    def _queue_chunks(self, state: BuildingState, fn, spec: dict, todo: list):
        n = self.chunk_views or max(1, min(16, math.ceil(len(todo) / (4 * self.workers))))
        for i in range(0, len(todo), n):
            part = todo[i:i + n]
            self.chunks.append(_Task("chunk", state, fn, dict(spec, views=part), len(part)))
            state.outstanding += 1
        state.planned = True

    # results
    def handle(self, task: _Task, result=None, error: str | None = None):
        state = task.state
        state.outstanding -= 1
        if error is not None:
            state.failures.append(error)
            state.planned = True
            if self.bar is not None:
                self.bar.update(task.size)
        elif task.kind == "prepare":
            state.peak_rss_mb = max(state.peak_rss_mb, result.get("peak_rss_mb", 0.0))
            spec = dict(task.spec)
            todo = spec.pop("todo", None)
            try:
                if todo is not None:
                    self._queue_chunks(state, work.render_chunk, spec, todo)
                else:
                    self._plan_render_views(state, spec, prepared=True)
            except LabelgenError as err:
                state.failures.append(str(err))
                state.planned = True
        else:
            state.computed += result["views"]
            state.files += result["files"]
            state.skipped.update(result["skipped"])
            state.failures.extend(result["failures"])
            state.peak_rss_mb = max(state.peak_rss_mb, result.get("peak_rss_mb", 0.0))
            if self.bar is not None:
                self.bar.update(task.size)
        if state.outstanding == 0 and state.planned:
            state.finished = time.perf_counter()

    def lose(self, task: _Task, failed: bool = True):
        """Count that ``task`` was lost with its worker and queue it to run again.

        Parameters
        ----------
        task : the task lost.
        failed : whether its own future failed so (its MAX_LOSSES-th time reports it failed),
            rather than the executor giving it back to run again (see ``recover``).
        """
        task.losses += 1
        task.state.worker_losses += 1
        if failed and task.losses >= MAX_LOSSES:
            self.handle(task, error=f"{task.state.job.label}: {task.kind} failed: worker lost")
        else:
            self.chunks.appendleft(task)

    def done(self, state: BuildingState) -> bool:
        return state.finished is not None


def _resolved(params):
    from labelgen.engine._pipeline import resolve_params

    return resolve_params(params)


def _sample_done(spec) -> bool:
    import json

    try:
        return json.loads((Path(spec["sample_dir"]) / "done.json").read_text()).get("key") == spec["sample_key"]
    except (OSError, ValueError, AttributeError):
        return False


# -- the run -------------------------------------------------------------------------------

@dataclass
class BatchResult:
    """What :func:`run_batch` did, per building (also written to ``ROOT/.labelgen/summary.json``).

    ``buildings[name]`` (``component/building`` where two jobs share a building name):
    ``{"views", "computed", "already_done", "files", "skipped", "failures", "seconds",
    "worker_peak_rss_mb", "worker_losses"}`` (``worker_losses``: times a task of the building
    was lost with its worker and run again or, the MAX_LOSSES-th time, reported failed).
    """

    buildings: dict[str, dict] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Every failure message, building by building."""
        return [m for s in self.buildings.values() for m in s["failures"]]

    def to_dict(self) -> dict:
        """The ``summary.json`` object."""
        return {"buildings": self.buildings}


def run_batch(jobs, root, scheduler: str = "local", address: str | None = None, workers: int = 1,
              layout: str = "building", force: bool = False, quiet: bool = True,
              chunk_views: int | None = None, executor=None, up_axis: str | None = None) -> BatchResult:
    """Run every job into ``root``, resuming where an earlier run of the same jobs stopped.

    Parameters
    ----------
    jobs : a jobs file (YAML or JSON), or its content: a mapping with ``jobs`` (and optional
        ``defaults``) or a list of job mappings (see :mod:`labelgen.batch._jobs`; relative
        paths are then relative to the current folder). Checked completely first: a problem
        raises :class:`~labelgen.core.LabelgenError` before anything is written.
    root : the output folder.
    scheduler : ``"local"`` (a process pool on this machine) or ``"dask"``.
    address : with ``"dask"``, a running scheduler (default: start a ``LocalCluster``).
    workers : worker processes (local pool, Dask ``LocalCluster``).
    layout : ``"building"`` or ``"omnidata"`` (see :class:`~labelgen.batch.Layout`).
    force : redo every view, even those already done.
    quiet : no progress bar on stderr.
    chunk_views : views per chunk (default: about four chunks per worker and building, at most
        16 views each).
    executor : a :class:`LocalExecutor` or :class:`DaskExecutor` to run on (kept open; by
        default one is made from ``scheduler``, ``workers`` and ``address`` and closed at the end).
    up_axis : the up axis of the jobs' meshes where a job does not say.

    Returns
    -------
    BatchResult
    """
    if chunk_views is not None and (isinstance(chunk_views, bool) or not isinstance(chunk_views, int)
                                    or chunk_views < 1):
        raise LabelgenError("chunk_views", f"must be a positive number of views, got {chunk_views!r}")
    jobs = read_jobs(jobs, layout, up_axis)
    root = Path(root)
    try:
        (root / ".labelgen").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LabelgenError(root, f"cannot create output folder: {err.strerror or err}") from None
    if not os.access(root, os.W_OK):
        raise LabelgenError(root, "output folder is not writable")
    batch = Batch(jobs, root, layout, force, chunk_views)
    own = executor is None
    if own:
        executor = make_executor(scheduler, workers, address)
    try:
        batch.workers, batch.threads = executor.workers, executor.threads
        _drive(batch, executor, quiet)
    finally:
        if own:
            executor.close()
    names = [s.job.building for s in batch.states]
    result = BatchResult()
    for s in batch.states:
        name = s.job.building if names.count(s.job.building) == 1 else f"{s.job.component}/{s.job.building}"
        result.buildings[name] = s.summary()
    work.write_bytes_atomic(inside(root, root / ".labelgen" / "summary.json"), work.json_bytes(result.to_dict()))
    return result


def _drive(batch: Batch, executor, quiet: bool):
    from tqdm import tqdm

    window = 2 * batch.workers
    running: dict = {}  # future -> task
    pending = deque(batch.states)  # buildings not planned yet
    with tqdm(total=0, disable=quiet, unit="view", file=sys.stderr, dynamic_ncols=True) as bar:
        batch.bar = bar

        def postfix():
            bar.set_postfix_str(f"buildings {sum(map(batch.done, batch.states))}/{len(batch.states)}")

        postfix()
        while True:
            # hand out work: ready chunks first, then start the next building
            while len(running) < window:
                if batch.chunks:
                    task = batch.chunks.popleft()
                elif batch.starts:
                    task = batch.starts.popleft()
                elif pending:
                    batch.plan(pending.popleft())
                    postfix()
                    continue
                else:
                    break
                running[executor.submit(task.fn, task.spec)] = task
            if not running:
                break
            finished = executor.wait(list(running), timeout=1.0)
            lost = False
            for fut in finished:
                task = running.pop(fut)
                try:
                    err = fut.exception()
                except (Exception, asyncio.CancelledError) as cancelled:  # e.g. a restarted Dask scheduler
                    err = cancelled
                if err is None:
                    batch.handle(task, fut.result())
                elif executor.lost(err):
                    lost = True
                    batch.lose(task)
                elif isinstance(err, LabelgenError):
                    batch.handle(task, error=str(err))
                else:
                    batch.handle(task, error=f"{task.state.job.label}: {task.kind} failed: {type(err).__name__}: {err}")
            if lost:  # the executor says which other tasks in flight the lost worker took with it
                for task in executor.recover(running):
                    batch.lose(task, failed=False)
            postfix()
        batch.bar = None
