"""``labelgen batch``: render, derive and validate many buildings from one jobs file.

The driver (this module) reads the jobs file (:mod:`labelgen.batch._jobs`), plans each
building from its journal (:mod:`labelgen.batch._plan`: the views already done are counted,
the rest split into chunks of views of one building) and runs the chunks
(:mod:`labelgen.batch._work`) on a process pool on this machine (``--scheduler local``) or on
Dask workers (``--scheduler dask``: a ``LocalCluster``, or a running cluster at ``--address``).
The driver writes nothing but ``ROOT/.labelgen/summary.json`` at the end (and moves damaged
journal files aside); every output file and journal record is written by the worker that made
it, atomically, so killing the driver or any worker at any time loses only views in flight, and
running the same command again computes just those.

Chunks are handed out in building order, a bounded number at a time, so workers stay on one
building (whose mesh and renderer they keep) until its chunks run out.

When the output takes no more files (no space left, read-only, no permission, the output
folder gone: :class:`~labelgen.batch._store.StopBatch` from a worker, or the folder seen gone
here), nothing more is handed out, the tasks in flight end, and :func:`run_batch` raises one
:class:`StopBatch` naming the output folder and the problem; running the same command again
once the output is writable finishes the batch. A damaged state file (journal, summary,
sampled cameras) is reported as a warning and never trusted (``docs/batch.md``).
"""
from __future__ import annotations

import asyncio
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from labelgen.batch import _store as store
from labelgen.batch._executors import make_executor
from labelgen.batch._jobs import read_jobs
from labelgen.batch._plan import Batch
from labelgen.core._errors import LabelgenError, OutputError
from labelgen.core._paths import inside
from labelgen.engine._views import json_bytes
from labelgen.io._images import write_bytes_atomic

#: what to do after each reason the batch stopped
_HINTS = {"no space left on device": "make space and run the same command again",
          "disk quota exceeded": "make space and run the same command again",
          store.VANISHED: "run the same command again to finish it there"}


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


def _output_error(root: Path, err: OSError, what: str) -> LabelgenError:
    problem = store.STOPPING.get(err.errno)
    if problem is not None:
        return store.StopBatch(root, f"{what}: {problem}", err.errno)
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
        raise store.StopBatch(root, "output folder is not writable" + (": read-only file system" if ro else ""))
    batch = Batch(jobs, root, layout, force, chunk_views)
    summary_path = inside(root, root / ".labelgen" / "summary.json")
    problem = store.check_summary(summary_path)
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
        write_bytes_atomic(summary_path, json_bytes(result.to_dict()), root)
    except OutputError as err:
        if batch.stopped is None:
            batch.stop(store.stopping_error(err, root, batch.root_id) or err)
    if batch.stopped is not None:
        raise _stopped_error(batch, result)
    return result


def _stopped_error(batch: Batch, result: BatchResult) -> LabelgenError:
    """The one error :func:`run_batch` raises when the batch stopped (see there)."""
    err = batch.stopped
    if not isinstance(err, store.StopBatch):  # a failed summary write, not about the whole output
        return err
    what = ""
    if err.file:
        try:
            what = f" (writing {Path(err.file).relative_to(batch.root).as_posix()})"
        except ValueError:
            what = f" (writing {err.file})"
    hint = _HINTS.get(err.problem, "make it writable and run the same command again")
    out = store.StopBatch(batch.root, f"{err.problem}{what}; the batch stopped, the files written are whole and "
                                     f"kept: {hint}", err.errno, err.file)
    out.result = result
    return out


def _remove_stale_parts(batch: Batch) -> None:
    """Temporary files that writers killed (or failing) in this run left: in every building's
    folders, journal and sampled cameras, once no task runs."""
    if store.root_problem(batch.root, batch.root_id) is not None:
        return
    store.remove_stale_parts(batch.root / ".labelgen")
    for state in batch.states:
        job = state.job
        for folder in batch.root.glob(batch.layout.template(job).replace("{domain}", "*")):
            store.remove_stale_parts(folder)
        for what in ("journal", "sample"):
            store.remove_stale_parts(batch.layout.state(job, what), recursive=True)


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
                try:
                    running[executor.submit(task.fn, task.spec)] = task
                except Exception as err:  # noqa: BLE001 - a worker died since the last wait: the pool broke
                    if not executor.lost(err):
                        raise
                    (batch.starts if task.kind == "prepare" else batch.chunks).appendleft(task)  # never ran
                    _recover(batch, executor, running)
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
                elif isinstance(err, store.StopBatch):
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
            if lost:
                _recover(batch, executor, running)
            postfix()
        batch.bar = None


def _recover(batch: Batch, executor, running: dict):
    """After a worker was lost: the executor says which other tasks in flight the lost worker
    took with it (a local pool: all of them; Dask: none); they run again, or end with a stop."""
    for task in executor.recover(running):
        if batch.stopped is None:
            batch.lose(task, failed=False)
        else:
            batch.handle(task, stopped=True)
