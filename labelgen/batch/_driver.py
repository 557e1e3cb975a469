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

When the output takes no more files (no space left, read-only, no permission, the output
folder gone: :class:`~labelgen.batch._work.StopBatch` from a worker, or the folder seen gone
here), nothing more is handed out, the tasks in flight end, and :func:`run_batch` raises one
:class:`StopBatch` naming the output folder and the problem; running the same command again
once the output is writable finishes the batch. A damaged state file (journal, summary,
sampled cameras) is reported as a warning and never trusted (see ``docs/batch.md``).
"""
from __future__ import annotations

import asyncio
import json
import logging
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
from labelgen.core._errors import LabelgenError, OutputError
from labelgen.core._paths import check_identifier, inside

MAX_LOSSES = 3  # a task whose worker died this many times is reported as failed

log = logging.getLogger("labelgen")

#: what to do after each reason the batch stopped
_HINTS = {"no space left on device": "make space and run the same command again",
          "disk quota exceeded": "make space and run the same command again",
          work.VANISHED: "run the same command again to finish it there"}


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
        self.root_id = work.root_id(self.root)
        self.stopped: work.StopBatch | None = None  # why the batch stopped (the output takes no more files)
        self.warnings: list[str] = []

    def warn(self, message: str):
        """A damaged state file or the like: reported now (stderr) and in summary.json; the run goes on."""
        self.warnings.append(message)
        log.warning("warning: %s", message)

    def stop(self, err: work.StopBatch):
        """Stop handing out work: the output takes no more files (the first reason is kept)."""
        if self.stopped is None:
            self.stopped = err

    def check_root(self):
        """Stop when the output folder vanished (deleted, moved, unmounted) since the batch began."""
        problem = work.root_problem(self.root, self.root_id)
        if problem is not None:
            self.stop(work.StopBatch(self.root, problem))

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
            stop = work.stopping_error(err, self.root, self.root_id) if err.errno in work.STOPPING else None
            if stop is not None:
                self.stop(stop)
            else:
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
            done, problem = work.sample_state(Path(spec["sample_dir"]), spec["sample_key"])
            if problem:
                self.warn(f"{problem[0]}: damaged sampled-cameras file ({problem[1]}), not trusted; "
                          f"{job.building}'s cameras are sampled again (the same ones: the sampling is seeded) "
                          f"and its views checked")
            if done != "done":
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
        """Views not yet done (journal); counts the done ones. Where a journal file of the
        building is damaged, every view is checked against its files by SHA-256, and the
        damaged file is moved aside once reported."""
        journal = work.read_journal(self.layout.state(state.job, "journal"))
        verify = bool(journal.damaged)
        todo = []
        for name, item, key in views:
            rec = work.view_done(self.root, journal.get(name), key, verify)
            if rec is None:
                todo.append((name, item, key))
            else:
                state.already_done += 1
                state.skipped.update(f"{t}: {r}" for t, r in (rec.get("skipped") or {}).items())
        for path, problem in journal.damaged:
            aside = work.set_aside(path)
            moved = f"moved to {aside.name}" if aside is not None else "could not be moved aside"
            self.warn(f"{path}: damaged journal file ({problem}), not trusted; every view of {state.job.building} "
                      f"was checked against its files on disk (SHA-256): {len(views) - len(todo)} kept, "
                      f"{len(todo)} to compute; {moved}")
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
    def handle(self, task: _Task, result=None, error: str | None = None, stopped: bool = False):
        state = task.state
        state.outstanding -= 1
        if stopped:  # the batch stops: the task's views are computed by the next run
            state.planned = True
        elif error is not None:
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


# -- the run -------------------------------------------------------------------------------

@dataclass
class BatchResult:
    """What :func:`run_batch` did, per building (also written to ``ROOT/.labelgen/summary.json``).

    ``buildings[name]`` (``component/building`` where two jobs share a building name):
    ``{"views", "computed", "already_done", "files", "skipped", "failures", "seconds",
    "worker_peak_rss_mb", "worker_losses"}`` (``worker_losses``: times a task of the building
    was lost with its worker and run again or, the MAX_LOSSES-th time, reported failed).
    ``warnings``: damaged state files found (each reported, not trusted, the run going on).
    """

    buildings: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """Every failure message, building by building."""
        return [m for s in self.buildings.values() for m in s["failures"]]

    def to_dict(self) -> dict:
        """The ``summary.json`` object."""
        return {"buildings": self.buildings, "warnings": list(self.warnings)}


def check_summary(path: Path) -> str | None:
    """What is wrong with an earlier run's ``summary.json`` (None: nothing, or no such file).
    The summary is a report and is never read to plan a run; a damaged one is reported and
    replaced at the end of the run."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "truncated or not valid JSON"
    if (not isinstance(data, dict) or not isinstance(data.get("buildings"), dict)
            or not all(isinstance(b, dict) and isinstance(b.get("views"), int) for b in data["buildings"].values())):
        return "not a batch summary"
    return None


def _output_error(root: Path, err: OSError, what: str) -> LabelgenError:
    problem = work.STOPPING.get(err.errno)
    if problem is not None:
        return work.StopBatch(root, f"{what}: {problem}", err.errno)
    return LabelgenError(root, f"{what}: {err.strerror or err}")


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

    Raises
    ------
    StopBatch
        (an :class:`~labelgen.core.OutputError`, exit status 1) when the output takes no more
        files: no space left, a read-only file system, no permission, or ``root`` deleted or
        moved while the batch ran. One message names ``root`` and the problem; the tasks in
        flight have ended, every file under a final name is whole and every journal record
        true, and the same call finishes the batch once the output is writable again. Its
        ``result`` is the :class:`BatchResult` so far.
    """
    if chunk_views is not None and (isinstance(chunk_views, bool) or not isinstance(chunk_views, int)
                                    or chunk_views < 1):
        raise LabelgenError("chunk_views", f"must be a positive number of views, got {chunk_views!r}")
    jobs = read_jobs(jobs, layout, up_axis)
    root = Path(root)
    try:
        (root / ".labelgen").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _output_error(root, err, "cannot create output folder") from None
    if not os.access(root, os.W_OK):
        ro = hasattr(os, "statvfs") and bool(os.statvfs(root).f_flag & getattr(os, "ST_RDONLY", 1))
        raise work.StopBatch(root, "output folder is not writable" + (": read-only file system" if ro else ""))
    batch = Batch(jobs, root, layout, force, chunk_views)
    summary_path = inside(root, root / ".labelgen" / "summary.json")
    problem = check_summary(summary_path)
    if problem:
        batch.warn(f"{summary_path}: damaged summary of an earlier run ({problem}); ignored (a summary is "
                   f"only a report, never used to plan) and written anew at the end of this run")
    own = executor is None
    if own:
        executor = make_executor(scheduler, workers, address)
    try:
        batch.workers, batch.threads = executor.workers, executor.threads
        _drive(batch, executor, quiet)
    finally:
        if own:
            executor.close()
    _remove_stale_parts(batch)
    names = [s.job.building for s in batch.states]
    result = BatchResult(warnings=list(batch.warnings))
    for s in batch.states:
        name = s.job.building if names.count(s.job.building) == 1 else f"{s.job.component}/{s.job.building}"
        result.buildings[name] = s.summary()
    try:
        work.write_bytes_atomic(summary_path, work.json_bytes(result.to_dict()), root)
    except OutputError as err:
        if batch.stopped is None:
            batch.stop(work.stopping_error(err, root, batch.root_id) or err)
    if batch.stopped is not None:
        raise _stopped_error(batch, result)
    return result


def _stopped_error(batch: Batch, result: BatchResult) -> LabelgenError:
    """The one error :func:`run_batch` raises when the batch stopped (see there)."""
    err = batch.stopped
    if not isinstance(err, work.StopBatch):  # a failed summary write, not about the whole output
        return err
    what = ""
    if err.file:
        try:
            what = f" (writing {Path(err.file).relative_to(batch.root).as_posix()})"
        except ValueError:
            what = f" (writing {err.file})"
    hint = _HINTS.get(err.problem, "make it writable and run the same command again")
    out = work.StopBatch(batch.root, f"{err.problem}{what}; the batch stopped, the files written are whole and "
                                     f"kept: {hint}", err.errno, err.file)
    out.result = result
    return out


def _remove_stale_parts(batch: Batch) -> None:
    """Temporary files that writers killed (or failing) in this run left: in every building's
    folders, journal and sampled cameras, once no task runs."""
    if work.root_problem(batch.root, batch.root_id) is not None:
        return
    work.remove_stale_parts(batch.root / ".labelgen")
    for state in batch.states:
        job = state.job
        for folder in batch.root.glob(batch.layout.template(job).replace("{domain}", "*")):
            work.remove_stale_parts(folder)
        for what in ("journal", "sample"):
            work.remove_stale_parts(batch.layout.state(job, what), recursive=True)


def _drive(batch: Batch, executor, quiet: bool):
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0  # no monitor thread: a process with threads spawns a new local pool, not forks it

    window = 2 * batch.workers
    running: dict = {}  # future -> task
    pending = deque(batch.states)  # buildings not planned yet
    with Bar(total=0, disable=quiet, unit="view", file=sys.stderr, dynamic_ncols=True) as bar:
        batch.bar = bar

        def postfix():
            bar.set_postfix_str(f"buildings {sum(map(batch.done, batch.states))}/{len(batch.states)}")

        postfix()
        while True:
            if batch.stopped is None:
                batch.check_root()
            # hand out work: ready chunks first, then start the next building (none once stopped:
            # the tasks in flight end, and the run with them)
            while len(running) < window and batch.stopped is None:
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
                elif isinstance(err, work.StopBatch):
                    batch.stop(err)
                    batch.handle(task, stopped=True)
                elif executor.lost(err):
                    lost = True
                    if batch.stopped is None:
                        batch.lose(task)
                    else:
                        batch.handle(task, stopped=True)
                elif isinstance(err, LabelgenError):
                    batch.handle(task, error=str(err))
                else:
                    batch.handle(task, error=f"{task.state.job.label}: {task.kind} failed: {type(err).__name__}: {err}")
            if lost:  # the executor says which other tasks in flight the lost worker took with it
                for task in executor.recover(running):
                    if batch.stopped is None:
                        batch.lose(task, failed=False)
                    else:
                        batch.handle(task, stopped=True)
            postfix()
        batch.bar = None
