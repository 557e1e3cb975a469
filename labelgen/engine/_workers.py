"""The one worker-process model under every job.

:func:`run_views` runs a per-view function over a job's views in this process and, with
``workers > 1``, in ``workers - 1`` more processes, each taking the next view as it becomes
free. The processes are forked from this one when that is safe (:func:`fork_is_safe`: they
start in milliseconds with this process's imports, mesh and per-mesh results), otherwise
spawned (they load the mesh from its :class:`~labelgen.engine.MeshSpec`). Each builds its
renderer once (:meth:`WorkerSetup.renderer`). A view that fails stops the job with its error once the
views under way are finished; a worker process that dies stops it with :class:`WorkerLost`,
once; either way the files of a view that a failed or lost process had begun are removed
(:class:`ViewFiles`), so no view is left half written.

Batch chunks run on :mod:`labelgen.batch`'s executors (a process pool made by :func:`new_pool`,
or Dask workers); their workers keep the renderer of the building they work on (:func:`renderer_for`).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import OrderedDict, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from labelgen.core._errors import LabelgenError
from labelgen.core._runtime import configure
from labelgen.engine._mesh import MeshSpec

__all__ = ["fork_is_safe", "WorkerSetup", "WorkerLost", "renderer_for", "run_views", "new_pool", "ViewFiles",
           "numba_threads"]

log = logging.getLogger("labelgen")


def fork_is_safe() -> bool:
    """True when labelgen's worker processes can be forked from this process.

    A forked worker starts in milliseconds with this process's imports (and, for ``render
    --workers N``, its mesh and per-mesh results), where a spawned one spends seconds
    importing and loading (about 5 CPU s for a render worker on the sample apartment). It is
    safe only while no thread pool of a native library exists here: Numba's threading layer
    (OpenMP is not fork-safe: once the parent has started Numba's OpenMP layer, a forked
    child that runs a parallel kernel is stopped), Open3D's TBB threads (started by a
    ray-casting scene: :func:`labelgen.render._raycast.scenes_built`) and other Python threads.
    The command line starts its processes before any of these; a process that has used them
    spawns its workers instead.
    """
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return False
    import numba

    try:
        numba.threading_layer()
        return False  # Numba's threading layer has started
    except ValueError:  # not started
        pass
    from labelgen.render._raycast import scenes_built

    return not scenes_built()


def set_worker_threads(threads: int):
    """This process's share of the cores for Numba's parallel kernels (no oversubscription)."""
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


class numba_threads:
    """Context: Numba's parallel kernels use ``n`` threads in this process, as before afterwards."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import numba

        self.before = numba.get_num_threads()
        set_worker_threads(self.n)

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.before)


# -- per-process renderer ------------------------------------------------------------------

_LOCK = threading.Lock()
_CURRENT: OrderedDict = OrderedDict()  # (spec, backend, threads, pid) -> (file stamps, renderer), oldest first


def _stamp(spec: MeshSpec) -> tuple:
    out = []
    for _, path in spec.files():
        try:
            st = os.stat(path)
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def renderer_for(spec: MeshSpec, backend: str = "open3d", threads: int = 0, mesh=None, keep: int = 1):
    """The renderer of ``spec`` in this process, built once (from ``mesh``, the loaded mesh, when
    given, else loaded from ``spec``) and kept while the same mesh files are asked for.

    This process keeps the ``keep`` renderers used last (a batch worker one building at a time;
    a training dataset a few): another mesh replaces the one used longest ago. A renderer made
    before this process was forked is not used here (the child builds its own).
    """
    from labelgen.render._renderers import make_renderer

    ident = (spec, backend, int(threads), os.getpid())
    stamp = _stamp(spec)
    with _LOCK:
        for key in [k for k in _CURRENT if k[3] != ident[3]]:  # a forked parent's renderers
            del _CURRENT[key]
        entry = _CURRENT.get(ident)
        if entry is None or entry[0] != stamp:
            _CURRENT.pop(ident, None)
            while _CURRENT and len(_CURRENT) >= max(1, int(keep)):
                _CURRENT.popitem(last=False)
            renderer = make_renderer(mesh if mesh is not None else spec.load(), backend, threads=threads)
            _CURRENT[ident] = entry = (stamp, renderer)
        _CURRENT.move_to_end(ident)
        return entry[1]


@dataclass
class WorkerSetup:
    """What every process of a job needs before its first view.

    ``mesh``: the loaded mesh (this process and forked workers use it), ``spec``: its
    description (spawned workers load it from there); both None for jobs without a mesh.
    ``cache``: read and write the disk cache of per-mesh results (:mod:`labelgen.io._cache`).
    """

    mesh: Any = None
    spec: MeshSpec | None = None
    backend: str = "open3d"
    cache: bool = True

    def renderer(self, threads: int = 0):
        """A renderer of the mesh (loaded from ``spec`` when this process has no ``mesh``), or None."""
        if self.mesh is None and self.spec is None:
            return None
        from labelgen.render._renderers import make_renderer

        return make_renderer(self.mesh if self.mesh is not None else self.spec.load(), self.backend, threads=threads)


_STATE: dict[str, Any] = {}


def _init_spawned(setup: WorkerSetup, threads: int):
    """A spawned worker: the command line's settings, its share of the cores, its renderer."""
    from labelgen.io import _cache as mesh_cache

    if not logging.getLogger().handlers:  # a fresh interpreter: warnings in the command line's form
        logging.basicConfig(format="labelgen: %(message)s", level=logging.WARNING)
    configure()
    set_worker_threads(threads)
    mesh_cache.configure(enabled=setup.cache)
    _STATE["renderer"] = setup.renderer(threads)


def _init_forked(setup: WorkerSetup, threads: int, ready=None, parent=None):
    """A forked worker: it has the caller's imports and mesh (with its per-mesh results); it
    builds its own renderer, then waits for ``ready`` (set once the caller has warmed up the
    kernels of a cold cache) or for the caller to end."""
    set_worker_threads(threads)
    _STATE["renderer"] = setup.renderer(threads)
    while ready is not None and not ready.wait(1.0):
        if os.getppid() != parent:
            os._exit(1)


def _call(work, item, common):
    return work(_STATE.get("renderer"), item, *common)


def _start(pool, extra):
    for _ in range(extra):  # processes start on demand: one call each starts them all
        pool.submit(os.getpid)
    return pool


def new_pool(workers: int, setup: WorkerSetup | None = None, threads: int = 1, ready=None) -> tuple:
    """``(pool, how)``: ``workers`` processes, forked from this one when :func:`fork_is_safe`,
    else spawned (``how`` says which), each set up with ``setup`` (None: none) and started now."""
    if fork_is_safe():
        import importlib

        importlib.import_module("open3d")  # once, here, for all of them (importing starts no thread)
        init, args = (_init_forked, (setup, threads, ready, os.getpid())) if setup is not None else (None, ())
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=init,
                                   initargs=args)
        return _start(pool, workers), "forked"
    if setup is not None and setup.spec is None and setup.mesh is not None:
        raise LabelgenError(None, "workers > 1 needs meshes read from files in a process that has started "
                                  "thread pools (Numba's parallel kernels, an Open3D scene or Python threads)")
    init, args = (_init_spawned, (replace(setup, mesh=None), threads)) if setup is not None else (configure, ())
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=init,
                               initargs=args)
    return _start(pool, workers), "spawned"


class WorkerLost(LabelgenError):
    """A worker process ended without finishing its views (killed, or out of memory); the job
    stops (exit status 1)."""

    exit_status = 1


class ViewFiles:
    """The files a view goes to, as they were before the view was handed out, to tell
    afterwards whether a process began writing them."""

    def __init__(self, paths: list[Path]):
        self.paths = list(paths)
        self.before = [self._stat(p) for p in self.paths]

    @staticmethod
    def _stat(path):
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _parts(self, path):
        try:
            return list(path.parent.glob(f".{path.name}.*.part"))
        except OSError:
            return []

    def remove_if_written(self):
        """Remove the view's files and leftover temporary files if any of them changed."""
        parts = [q for p in self.paths for q in self._parts(p)]
        if not parts and all(self._stat(p) == b for p, b in zip(self.paths, self.before)):
            return  # not begun: files from an earlier run are left as they were
        for path in self.paths + parts:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as err:
                log.warning("%s: cannot remove a partly written view's file (%s)", path, err.strerror or err)


# -- running a job's views -------------------------------------------------------------------

def run_views(items: list, work: Callable, common: tuple = (), setup: WorkerSetup | None = None,
              workers: int = 1, on_result: Callable | None = None, progress=None,
              files_of: Callable | None = None, prepare: Callable | None = None,
              warm: Callable | None = None, ordered: bool = False) -> None:
    """Call ``work(renderer, item, *common)`` for every item; ``on_result(result)`` gets each
    result in this process (in item order with ``ordered``, else as they finish).

    ``work`` is a module-level function (it crosses to worker processes by name); ``renderer``
    is the process's renderer of ``setup``'s mesh, or None without one. ``files_of(item)``: the
    :class:`ViewFiles` of an item, removed if a failed or lost process had begun them.
    ``prepare(forking)``: runs in this process before worker processes start (per-mesh results
    that forked workers then share). ``warm(renderer)``: runs in this process before the first
    view (compiling the kernels of a cold cache); forked workers wait for it to end.
    ``progress``: makes the progress bar (a context manager with ``update()``), called once the
    worker processes have started (a bar may start a thread, after which forking is unsafe).
    """
    setup = setup or WorkerSetup()
    emit = _Ordered(on_result) if ordered else (on_result or (lambda r: None))
    if workers <= 1 or len(items) <= 1:
        if prepare is not None:
            prepare(False)
        renderer = setup.renderer()
        if warm is not None:
            warm(renderer)
        with _bar(progress) as bar:
            for i, item in enumerate(items):
                result = work(renderer, item, *common)
                emit(i, result) if ordered else emit(result)
                bar.update()
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    extra = min(workers, len(items)) - 1
    # this process works too. The other processes are forked from this one when that is safe,
    # after `prepare`, so they start with its results; otherwise they are spawned first and load
    # the mesh and build their scene while this one prepares. Either way this process then builds
    # its scene (and warms up the kernels of a cold cache) while they build theirs.
    pool = ready = None
    how = "spawned"
    try:
        if not fork_is_safe():
            pool, how = new_pool(extra, setup, threads)
        if prepare is not None:
            prepare(pool is None and fork_is_safe())
        if pool is None:
            if warm is not None and fork_is_safe():
                ready = multiprocessing.get_context("fork").Event()
            pool, how = new_pool(extra, setup, threads, ready)
        log.info("working in this process and %d %s %s", extra, how, "processes" if extra > 1 else "process")
        renderer = setup.renderer(threads)
        if warm is not None:
            warm(renderer)
        if ready is not None:
            ready.set()
        with _bar(progress) as bar, numba_threads(threads):
            _run_shared(renderer, pool, extra, list(enumerate(items)), work, common, emit, ordered, files_of, bar)
    finally:
        if ready is not None:
            ready.set()
        if pool is not None:
            pool.shutdown(cancel_futures=True)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


def _bar(progress):
    return progress() if progress is not None else _NoBar()


class _Ordered:
    """Hands results on in item order (holding the few that finish early)."""

    def __init__(self, on_result):
        self.on_result = on_result or (lambda r: None)
        self.next = 0
        self.held: dict[int, Any] = {}

    def __call__(self, index, result):
        self.held[index] = result
        while self.next in self.held:
            self.on_result(self.held.pop(self.next))
            self.next += 1


def _run_shared(renderer, pool, extra, items, work, common, emit, ordered, files_of, progress):
    """Run ``items`` (index, item) here and in ``pool``'s ``extra`` processes, each taking the next
    as it becomes free (so none waits while items are left).

    A thread of this process hands items to the pool, keeping two queued per process while many
    are left (they never wait for this process, which holds the interpreter while it runs a
    kernel) and one near the end (so that all finish together).
    """
    todo = deque(items)
    total = len(items)
    lock = threading.Lock()
    done_count = [0]
    failed: list[BaseException] = []

    def take():
        with lock:
            return todo.popleft() if todo and not failed else None

    def done(index, res):
        with lock:
            emit(index, res) if ordered else emit(res)
            done_count[0] += 1
        if progress is not None:
            progress.update()

    def feed():
        running: dict = {}
        try:
            while True:
                want = 2 * extra if len(todo) > 2 * extra else extra
                while len(running) < want:
                    entry = take()
                    if entry is None:
                        break
                    index, item = entry
                    files = files_of(item) if files_of is not None else None
                    running[pool.submit(_call, work, item, common)] = (index, files)
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    if fut.exception() is None:
                        index, _ = running.pop(fut)
                        done(index, fut.result())
                for fut in finished:
                    if fut.exception() is not None:
                        raise fut.exception()
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            with lock:
                failed.append(err)
            for fut in running:
                fut.cancel()
            wait(running)  # the items under way in working processes are finished
            for fut, (index, files) in running.items():
                if not fut.cancelled() and fut.exception() is None:
                    done(index, fut.result())
                elif not fut.cancelled() and files is not None:
                    files.remove_if_written()

    feeder = threading.Thread(target=feed, name="labelgen-feed", daemon=True)
    feeder.start()
    try:
        while (entry := take()) is not None:
            index, item = entry
            files = files_of(item) if files_of is not None else None
            try:
                result = work(renderer, item, *common)
            except BaseException:
                if files is not None:
                    files.remove_if_written()
                raise
            done(index, result)
    except BaseException as err:
        with lock:
            failed.append(err)
        raise
    finally:
        feeder.join()
    if failed:
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(failed[0], BrokenProcessPool):
            raise WorkerLost(None, f"a worker process ended unexpectedly (killed, or out of memory?); stopped "
                                   f"after {done_count[0]} of {total} views (each written whole)") from None
        raise failed[0]
