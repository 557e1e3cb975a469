"""Planning a batch from the journal, and following its tasks (:class:`Batch`).

For each building, in turn, the views its journal shows done (:mod:`labelgen.batch._store`) are
counted and the rest are split into chunks of views of one building (:mod:`labelgen.batch._work`);
a render job whose cameras are sampled is first prepared (cameras sampled, per-mesh results
computed). Results come back to :meth:`Batch.handle`, tasks lost with their worker to
:meth:`Batch.lose`, and a reason to stop the whole batch (the output takes no more files) to
:meth:`Batch.stop`. Damaged state files are reported through :meth:`Batch.warn` and never trusted.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from labelgen.batch import _store as store
from labelgen.batch import _work as work
from labelgen.batch._jobs import Job, Layout
from labelgen.core._errors import LabelgenError
from labelgen.core._paths import check_identifier

log = logging.getLogger("labelgen")

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
    """One run of a jobs file (see :func:`labelgen.batch.run_batch`)."""

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
        self.root_id = store.root_id(self.root)
        self.stopped: store.StopBatch | None = None  # why the batch stopped (the output takes no more files)
        self.warnings: list[str] = []

    def warn(self, message: str):
        """A damaged state file or the like: reported now (stderr) and in summary.json; the run goes on."""
        self.warnings.append(message)
        log.warning("warning: %s", message)

    def stop(self, err: store.StopBatch):
        """Stop handing out work: the output takes no more files (the first reason is kept)."""
        if self.stopped is None:
            self.stopped = err

    def check_root(self):
        """Stop when the output folder vanished (deleted, moved, unmounted) since the batch began."""
        problem = store.root_problem(self.root, self.root_id)
        if problem is not None:
            self.stop(store.StopBatch(self.root, problem))

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
                store.remove_stale_parts(folder)
            getattr(self, f"_plan_{job.kind}")(state)
        except LabelgenError as err:
            state.failures.append(str(err))
            state.planned = True
        except OSError as err:  # an input or the journal vanished or became unreadable meanwhile
            stop = store.stopping_error(err, self.root, self.root_id)
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
        spec["job_key"] = store.key_of({"labelgen": self.version, "kind": "render", "tasks": job.tasks,
                                        "params": _resolved(job.params), "mesh": mesh_key,
                                        "renderer": job.renderer})
        if job.sample is not None:
            spec["sample"] = job.sample
            spec["sample_dir"] = str(self.layout.state(job, "sample"))
            spec["sample_key"] = store.key_of({"mesh": mesh_key, "sample": job.sample,
                                               "resolution": job.resolution, "labelgen": self.version})
            done, problem = store.sample_state(Path(spec["sample_dir"]), spec["sample_key"])
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
            views.append((f"{cam.point}_{cam.view}", cam, store.key_of([spec["job_key"], cam.point_info()])))
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
        job_key = store.key_of({"labelgen": self.version, "kind": "derive", "tasks": tasks,
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
            views.append((f"{p}_{v}", (inputs, p, v), store.key_of([job_key, stamp])))
        todo = self._count_done(state, views)
        spec = self._base_spec(job, tasks=tasks, fov=job.fov)
        self._queue_chunks(state, work.derive_chunk, spec, todo)

    def _plan_validate(self, state: BuildingState):
        job = state.job
        mesh = job.mesh_spec()
        listing = sorted([str(p.relative_to(job.path)), p.stat().st_size, p.stat().st_mtime_ns]
                         for p in job.path.rglob("*") if p.is_file())
        key = store.key_of({"labelgen": self.version, "kind": "validate", "tasks": job.tasks,
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
        journal = store.read_journal(self.layout.state(state.job, "journal"))
        verify = bool(journal.damaged)
        todo = []
        for name, item, key in views:
            rec = store.view_done(self.root, journal.get(name), key, verify)
            if rec is None:
                todo.append((name, item, key))
            else:
                state.already_done += 1
                state.skipped.update(f"{t}: {r}" for t, r in (rec.get("skipped") or {}).items())
        for path, problem in journal.damaged:
            aside = store.set_aside(path)
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
