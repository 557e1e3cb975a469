"""``labelgen batch``: render, derive and validate many buildings from one jobs file.

The driver (this module) reads the jobs file (:mod:`labelgen.batch_jobs`), finds for each
building the views its journal shows done, splits the rest into chunks of views of one
building and runs them (:mod:`labelgen.batch_work`) on a process pool on this machine
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
import logging
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter, deque
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path

from . import batch_work as work
from .batch_jobs import Job, Layout, read_jobs
from .errors import LabelgenError
from .paths import check_identifier, inside

SCHEDULERS = ("local", "dask")
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

    def summary(self) -> dict:
        seconds = (self.finished or time.perf_counter()) - (self.started or time.perf_counter())
        return {"views": self.views, "computed": self.computed, "already_done": self.already_done,
                "files": self.files, "skipped": dict(sorted(self.skipped.items())),
                "failures": list(self.failures), "seconds": round(seconds, 3),
                "worker_peak_rss_mb": round(self.peak_rss_mb, 1)}


# -- executors -----------------------------------------------------------------------------

class LocalExecutor:
    """A process pool on this machine; a pool broken by a dying worker is replaced."""

    def __init__(self, workers: int):
        self.workers = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = self._start()

    def _start(self):
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, arg):
        return self._pool.submit(fn, arg)

    def wait(self, futures, timeout):
        from concurrent.futures import FIRST_COMPLETED, wait

        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)[0]

    def lost(self, err) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(err, BrokenProcessPool)

    def recover(self):
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start()

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Dask workers: a running cluster at ``address``, else a LocalCluster of ``workers``
    single-threaded worker processes. Dask itself re-runs the tasks of a lost worker."""

    def __init__(self, address: str | None, workers: int):
        import distributed
        from distributed import Client, LocalCluster

        self._distributed = distributed
        self.cluster = None
        if address:
            try:
                self.client = Client(address, timeout="30s")
            except (OSError, TimeoutError, ValueError) as err:
                raise LabelgenError("--address", f"cannot connect to the Dask scheduler at {address}: {err}") from None
            self.workers = max(1, sum(self.client.nthreads().values()))
            self.threads = 1  # ray-casting threads per task: run one single-threaded worker per core
        else:
            import dask

            # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's
            # adaptive mmap threshold: every large temporary array is then mmapped and faulted
            # in again, about a quarter more CPU per view here; the sampling profiler costs more.
            environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                       if k != "MALLOC_TRIM_THRESHOLD_"}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                                  "distributed.worker.profile.enabled": False}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, host="127.0.0.1", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
            self.workers = workers
            self.threads = max(1, (os.cpu_count() or 1) // workers)

    def submit(self, fn, arg):
        return self.client.submit(fn, arg, pure=False)

    def wait(self, futures, timeout):
        try:
            return self._distributed.wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return set()

    def lost(self, err) -> bool:
        from distributed.scheduler import KilledWorker

        return isinstance(err, (KilledWorker, asyncio.CancelledError, CancelledError))

    def recover(self):
        pass

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(scheduler: str, workers: int, address: str | None):
    if scheduler not in SCHEDULERS:
        raise LabelgenError("--scheduler", f"must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    if workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    if address and scheduler != "dask":
        raise LabelgenError("--address", "needs --scheduler dask")
    if scheduler == "local":
        return LocalExecutor(workers)
    return DaskExecutor(address, workers)


# -- planning ------------------------------------------------------------------------------

class _Task:
    __slots__ = ("kind", "state", "fn", "spec", "size", "losses")

    def __init__(self, kind, state, fn, spec, size=0):
        self.kind, self.state, self.fn, self.spec, self.size, self.losses = kind, state, fn, spec, size, 0


class Batch:
    """One run of a jobs file (see :func:`run_batch`)."""

    def __init__(self, jobs: list[Job], root, layout: str = "building", force: bool = False,
                 chunk_views: int | None = None):
        from . import __version__

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
        from .meshes import file_hash

        job = state.job
        try:
            mesh_hash = file_hash(job.mesh)
        except OSError as err:
            raise LabelgenError(job.mesh, f"cannot read: {err.strerror or err}") from None
        spec = self._base_spec(job, mesh=str(job.mesh), backend=job.renderer, tasks=job.tasks,
                               threads=self.threads, resolution=job.resolution)
        spec["job_key"] = work.key_of({"labelgen": self.version, "kind": "render", "tasks": job.tasks,
                                       "params": _resolved(job.params), "mesh": mesh_hash,
                                       "renderer": job.renderer})
        if job.sample is not None:
            spec["sample"] = job.sample
            spec["sample_dir"] = str(self.layout.state(job, "sample"))
            spec["sample_key"] = work.key_of({"mesh": mesh_hash, "sample": job.sample,
                                              "resolution": job.resolution, "labelgen": self.version})
            if not _sample_done(spec):
                self._queue_start(state, spec)
                return
        self._plan_render_views(state, spec, prepared=False)

    def _plan_render_views(self, state: BuildingState, spec: dict, prepared: bool):
        from .cameras import read_cameras

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
        from .layout import scan_building
        from .pipeline import resolve_params
        from .runner import default_derive_tasks

        job = state.job
        found = scan_building(job.path)
        if not found:
            raise LabelgenError(job.path, "no Taskonomy label files found")
        tasks = job.tasks if job.tasks is not None else default_derive_tasks()
        job_key = work.key_of({"labelgen": self.version, "kind": "derive", "tasks": tasks,
                               "params": resolve_params(job.params), "fov": job.fov})
        views = []
        for (p, v), files in sorted(found.items()):
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
        from .meshes import file_hash

        job = state.job
        listing = sorted([str(p.relative_to(job.path)), p.stat().st_size, p.stat().st_mtime_ns]
                         for p in job.path.rglob("*") if p.is_file())
        key = work.key_of({"labelgen": self.version, "kind": "validate", "tasks": job.tasks,
                           "params": job.params, "preset": job.preset, "fit": job.fit, "files": listing,
                           "mesh": file_hash(job.mesh) if job.mesh else None})
        spec = self._base_spec(job, path=str(job.path), mesh=str(job.mesh) if job.mesh else None,
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

    def done(self, state: BuildingState) -> bool:
        return state.finished is not None


def _resolved(params):
    from .pipeline import resolve_params

    return resolve_params(params)


def _sample_done(spec) -> bool:
    import json

    try:
        return json.loads((Path(spec["sample_dir"]) / "done.json").read_text()).get("key") == spec["sample_key"]
    except (OSError, ValueError, AttributeError):
        return False


# -- the run -------------------------------------------------------------------------------

def run_batch(jobs_file, root, scheduler: str = "local", address: str | None = None, workers: int = 1,
              layout: str = "building", force: bool = False, quiet: bool = True,
              chunk_views: int | None = None, executor=None) -> dict:
    """Run every job of ``jobs_file`` into ``root``; returns the summary (also written to
    ``root/.labelgen/summary.json``): ``{"buildings": {name: {"views", "computed",
    "already_done", "files", "skipped", "failures", "seconds"}}}``.

    The jobs file is checked completely first (a problem raises :class:`LabelgenError`
    before anything is written). ``chunk_views``: views per chunk (default: about four
    chunks per worker and building, at most 16 views each). ``executor``: a
    :class:`LocalExecutor` or :class:`DaskExecutor` to run on (kept open; by default one is
    made from ``scheduler``, ``workers`` and ``address`` and closed at the end).
    """
    jobs = read_jobs(jobs_file, layout)
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
    summary = {"buildings": {}}
    for s in batch.states:
        name = s.job.building if names.count(s.job.building) == 1 else f"{s.job.component}/{s.job.building}"
        summary["buildings"][name] = s.summary()
    work.write_bytes_atomic(inside(root, root / ".labelgen" / "summary.json"), work.json_bytes(summary))
    return summary


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
                elif executor.lost(err) and task.losses + 1 < MAX_LOSSES:
                    task.losses += 1
                    lost = True
                    batch.chunks.appendleft(task)
                elif isinstance(err, LabelgenError):
                    batch.handle(task, error=str(err))
                else:
                    what = "worker lost" if executor.lost(err) else f"{type(err).__name__}: {err}"
                    batch.handle(task, error=f"{task.state.job.label}: {task.kind} failed: {what}")
            if lost:  # a dead worker broke the local pool: every task in flight runs again
                for fut, task in list(running.items()):
                    task.losses += 1
                    batch.chunks.appendleft(task)
                running.clear()
                executor.recover()
            postfix()
        batch.bar = None


# -- command line --------------------------------------------------------------------------

def add_batch_parser(sub):
    b = sub.add_parser("batch", help="run render/derive/validate jobs over many buildings (resumable)",
                       description="Run the jobs of a YAML/JSON jobs file over many buildings into ROOT. "
                                   "Re-running the same command after a crash computes only what is missing.")
    b.add_argument("jobs", metavar="JOBS", help="jobs file (YAML or JSON)")
    b.add_argument("--out", required=True, metavar="ROOT", help="output folder")
    b.add_argument("--scheduler", choices=SCHEDULERS, default="local",
                   help="local: a process pool on this machine (default); dask: Dask workers")
    b.add_argument("--address", default=None, metavar="TCP_ADDRESS",
                   help="with --scheduler dask: a running scheduler (default: start a LocalCluster)")
    b.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes for local and for a Dask LocalCluster (default 1)")
    b.add_argument("--layout", choices=("building", "omnidata"), default="building",
                   help="building: ROOT/{building}/{domain}/... (default); "
                        "omnidata: ROOT/{domain}/{component}/{building}/...")
    b.add_argument("--force", action="store_true", help="redo every view, even those already done")
    b.add_argument("--quiet", action="store_true", help="no progress bar and no per-building summary")
    return b


def cmd_batch(args) -> int:
    if args.workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    if args.address and args.scheduler != "dask":
        raise LabelgenError("--address", "needs --scheduler dask")
    chunk = os.environ.get("LABELGEN_BATCH_CHUNK_VIEWS")
    summary = run_batch(args.jobs, args.out, args.scheduler, args.address, args.workers, args.layout,
                        args.force, args.quiet, int(chunk) if chunk else None)
    failed = False
    for name, s in summary["buildings"].items():
        failed = failed or bool(s["failures"])
        for msg in s["failures"]:
            print(f"labelgen: error: {msg}", file=sys.stderr)
        if not args.quiet:
            print(f"labelgen: {name}: {s['views']} views ({s['computed']} computed, {s['already_done']} already "
                  f"done), {s['files']} files written, {len(s['failures'])} failures, {s['seconds']:.1f} s",
                  file=sys.stderr)
            for what, n in s["skipped"].items():
                print(f"labelgen: {name}: skipped {what} on {n} views", file=sys.stderr)
    return 1 if failed else 0
