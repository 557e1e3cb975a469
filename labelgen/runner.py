"""Whole-building jobs: render labels from a mesh, derive labels from a building folder.

These are the functions behind ``labelgen render`` and ``labelgen derive``. Views run in
order in this process, or in ``workers`` processes (each builds its renderer once).
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import sys
import threading
from collections import Counter, deque
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from . import cache as mesh_cache
from . import warmup
from .cameras import PANORAMA_VIEW, Camera, camera_from_point_info, parse_resolution
from .errors import LabelgenError
from .images import check_writable, read_png, write_json
from .labels import Label, all_labels, get_label
from .limits import check_png_size
from .layout import INPUT_DOMAINS, point_info_path, scan_building, write_label
from .meshes import Mesh, load_mesh
from .panorama import check_unique_points, split_tasks
from .pipeline import LazySources, compute_view, plan, resolve_params
from .rendering import make_renderer
from .runtime import configure, fork_is_safe

log = logging.getLogger("labelgen")


@dataclass
class Summary:
    """What a job did: views written, tasks skipped (with reasons) and failures."""

    views: int = 0
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, other: "Summary"):
        self.views += other.views
        self.files += other.files
        self.skipped.update(other.skipped)
        self.failures.extend(other.failures)

    def lines(self) -> list[str]:
        out = [f"{self.views} views, {self.files} files written"]
        for (task, reason), n in sorted(self.skipped.items()):
            out.append(f"skipped {task} on {n} views: {reason}")
        if self.failures:
            out.append(f"{len(self.failures)} failures")
        return out


def check_tasks(tasks: Iterable[str] | None) -> list[str] | None:
    """Current names of ``tasks`` (legacy names accepted); error for unknown names."""
    if tasks is None:
        return None
    out = []
    for t in tasks:
        try:
            out.append(get_label(t).name)
        except KeyError:
            raise LabelgenError("--tasks", f"unknown task '{t}' (see 'labelgen tasks')") from None
    return out


# -- render -----------------------------------------------------------------------------

def render_view(renderer, camera: Camera, tasks: Iterable[str] | None = None,
                params: dict[str, Any] | None = None):
    """Render ``tasks`` (default: every label the inputs allow, less opt-in ones) for one camera.

    ``renderer`` is a renderer (see :mod:`labelgen.rendering`) or a :class:`Mesh`.
    Returns ``(labels, skipped)``: encoded arrays by label name, and tasks that could not
    be made with the reason.
    """
    configure()
    if isinstance(renderer, Mesh):
        renderer = make_renderer(renderer)
    if tasks is None:  # every label, less the opt-in ones (fragments)
        tasks = [t for t, lab in all_labels().items() if lab.in_default({"mesh": renderer.mesh})]
    else:
        tasks = check_tasks(tasks)
    tasks, not_here = split_tasks(tasks, camera)  # panoramas: only the labels defined on a sphere
    gbuffer = renderer.render(camera)
    sources = LazySources(gbuffer=gbuffer, camera=camera, mesh=renderer.mesh)
    labels, skipped = compute_view(tasks, sources, resolve_params(params))
    skipped.update(not_here)
    return labels, skipped


def default_render_tasks(mesh: Mesh) -> list[str]:
    """Every label that a render of ``mesh`` can produce."""
    sources = {"gbuffer": None, "camera": None, "mesh": mesh}
    _, skipped = plan(list(all_labels()), sources)
    return [t for t, lab in all_labels().items() if t not in skipped and lab.in_default(sources)]


_WRITERS: ThreadPoolExecutor | None = None


def _writers() -> ThreadPoolExecutor:
    """The threads that encode PNGs, started on first use."""
    global _WRITERS
    if _WRITERS is None:
        _WRITERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="labelgen-png")
    return _WRITERS


def _write_view(out: Path, camera: Camera, labels: dict[str, np.ndarray]) -> int:
    """Write a view's labels (PNG encoding runs in threads) and then its point_info."""
    registry = all_labels()
    futures = [_writers().submit(write_label, out, registry[name], camera.point, camera.view, array)
               for name, array in labels.items()]
    for fut in futures:
        fut.result()
    write_json(point_info_path(out, camera.point, camera.view), camera.point_info())
    return len(labels) + 1


_WORKER: dict[str, Any] = {}


def _init_render_worker(mesh_path, backend, threads, cache=True, up_axis=None, semantic_path=None,
                        semantic_up_axis=None):
    """Set up a spawned worker: load the mesh (and semantic mesh) and build its renderer."""
    from .labels.surface_ids import attach_semantic_mesh

    if not logging.getLogger().handlers:  # a fresh interpreter: warnings in the command line's form
        logging.basicConfig(format="labelgen: %(message)s", level=logging.WARNING)
    configure()
    _set_worker_threads(threads)
    mesh_cache.configure(enabled=cache)
    mesh = load_mesh(mesh_path, up_axis=up_axis)
    if semantic_path is not None:
        attach_semantic_mesh(mesh, load_mesh(semantic_path, up_axis=semantic_up_axis))
    _WORKER["renderer"] = make_renderer(mesh, backend, threads=threads)


def _init_forked_worker(mesh, backend, threads, ready=None, parent=None):
    """Set up a forked worker: it has the caller's imports and ``mesh`` (with its per-mesh
    results) already; it builds its own renderer, then waits for ``ready`` (set once the
    caller has warmed up the kernels of a cold cache) or for the caller to end."""
    global _WRITERS
    _WRITERS = None  # a pool of the caller has no threads here (none ran: see runtime.fork_is_safe)
    _set_worker_threads(threads)
    _WORKER["renderer"] = make_renderer(mesh, backend, threads=threads)
    while ready is not None and not ready.wait(1.0):
        if os.getppid() != parent:
            os._exit(1)


def _set_worker_threads(threads):
    import numba

    # this worker's share of the cores for Numba's parallel kernels too (no oversubscription)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _render_and_write(renderer, camera, tasks, params, out) -> Summary:
    labels, skipped = render_view(renderer, camera, tasks, params)
    s = Summary(views=1)
    s.files = _write_view(out, camera, labels)
    s.skipped.update((t, r) for t, r in skipped.items())
    return s


def _render_worker(camera, tasks, params, out):
    return _render_and_write(_WORKER["renderer"], camera, tasks, params, out)


def _progress(total, quiet, desc):
    from tqdm import tqdm

    return tqdm(total=total, disable=quiet, desc=desc, unit="view", file=sys.stderr, leave=False)


def render_building(mesh: str | os.PathLike | Mesh, cameras: list[Camera], out, tasks=None,
                    params: dict[str, Any] | None = None, workers: int = 1,
                    backend: str = "open3d", quiet: bool = True, cache: bool = True,
                    semantic_mesh: str | os.PathLike | Mesh | None = None) -> Summary:
    """Render every camera's labels into the building folder ``out``.

    ``cache=False`` neither reads nor writes the disk cache of per-mesh results (see
    :mod:`labelgen.cache`); they are still computed once per mesh in each process.
    ``semantic_mesh``: a separate labelled mesh aligned with ``mesh`` that the ``semantic``
    label is read from (see :mod:`labelgen.labels.surface_ids`).
    """
    configure()
    previous = mesh_cache.enabled()
    mesh_cache.configure(enabled=cache)
    try:
        return _render_building(mesh, cameras, out, tasks, params, workers, backend, quiet, cache, semantic_mesh)
    finally:
        mesh_cache.configure(enabled=previous)


def _render_building(mesh, cameras, out, tasks, params, workers, backend, quiet, cache,
                     semantic_mesh=None) -> Summary:
    mesh_obj = mesh if isinstance(mesh, Mesh) else load_mesh(mesh)
    check_unique_points(cameras)
    sem = None
    if semantic_mesh is not None:
        from .labels.surface_ids import attach_semantic_mesh

        sem = semantic_mesh if isinstance(semantic_mesh, Mesh) else load_mesh(semantic_mesh)
        attach_semantic_mesh(mesh_obj, sem)
    tasks = default_render_tasks(mesh_obj) if tasks is None else check_tasks(tasks)
    params = resolve_params(params)
    out = Path(out)
    _check_writable(out)
    summary = Summary()
    # a cold Numba cache: compile the kernels in parallel before the first view (labelgen.warmup)
    warm = warmup.start(tasks, params) if cameras else None
    if workers <= 1 or len(cameras) <= 1:
        with _progress(len(cameras), quiet, "render") as bar:
            renderer = make_renderer(mesh_obj, backend)
            if warm is not None:
                _warm_mesh_labels(renderer, cameras[0], tasks, params, warm)
            for cam in cameras:
                summary.add(_render_and_write(renderer, cam, tasks, params, out))
                bar.update()
        return summary
    threads = max(1, (os.cpu_count() or 1) // workers)
    extra = min(workers, len(cameras)) - 1
    # this process renders too. The other processes are forked from this one when that is safe
    # (see runtime.fork_is_safe; the command line's case), after the per-mesh results are prepared, so
    # they start with them; otherwise they are spawned first and load the mesh and build their
    # scene while this one prepares. Either way this process then builds its scene (and warms up
    # the kernels of a cold cache) while they build theirs. The progress bar (a thread) comes last.
    pool = ready = None
    how = "spawned"
    try:
        if not fork_is_safe():
            pool = _spawn_pool(extra, mesh_obj, backend, threads, cache, sem)
        if cache:
            mesh_cache.prepare(mesh_obj, tasks, params)
        if pool is None and warm is None and fork_is_safe():
            # a warm cache: load the image labels' kernels here (on a small synthetic view), so
            # that the forked processes start with them loaded (about 0.4 CPU s less each)
            warmup.warm_labels([t for t in tasks if t in _IMAGE_LABELS], params)
        if pool is None and fork_is_safe():
            ready = multiprocessing.get_context("fork").Event() if warm is not None else None
            pool, how = _fork_pool(extra, mesh_obj, backend, threads, ready), "forked"
        elif pool is None:  # preparing started a thread pool here
            pool = _spawn_pool(extra, mesh_obj, backend, threads, cache, sem)
        log.info("rendering in this process and %d %s %s", extra, how, "processes" if extra > 1 else "process")
        renderer = make_renderer(mesh_obj, backend, threads=threads)
        if warm is not None:
            _warm_mesh_labels(renderer, cameras[0], tasks, params, warm)
        if ready is not None:
            ready.set()
        with _progress(len(cameras), quiet, "render") as bar, _numba_threads(threads):
            summary.add(_render_shared(renderer, pool, extra, cameras, tasks, params, out, bar))
    finally:
        if ready is not None:
            ready.set()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return summary


def _start(pool, extra):
    for _ in range(extra):  # processes start on demand: one call each starts them all
        pool.submit(os.getpid)
    return pool


def _spawn_pool(extra, mesh, backend, threads, cache, semantic):
    """``extra`` spawned worker processes, started now; each loads the mesh (and ``semantic``,
    the semantic mesh attached to it, if not None) from its file."""
    if mesh.path is None or (semantic is not None and semantic.path is None):
        raise ValueError("workers > 1 needs meshes read from files in a process that has started thread "
                         "pools (Numba's parallel kernels, an Open3D scene or Python threads)")
    return _start(ProcessPoolExecutor(extra, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_render_worker,
                                      initargs=(mesh.path, backend, threads, cache, mesh.up_axis,
                                                getattr(semantic, "path", None), getattr(semantic, "up_axis", None))),
                  extra)


def _fork_pool(extra, mesh, backend, threads, ready):
    """``extra`` worker processes forked from this one now (only when :func:`.runtime.fork_is_safe`)."""
    importlib.import_module("open3d")  # once, here, for all of them (importing starts no thread)
    return _start(ProcessPoolExecutor(extra, mp_context=multiprocessing.get_context("fork"),
                                      initializer=_init_forked_worker,
                                      initargs=(mesh, backend, threads, ready, os.getpid())), extra)


class _numba_threads:
    """Context: Numba's parallel kernels use ``n`` threads in this process, as before afterwards."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import numba

        self.before = numba.get_num_threads()
        numba.set_num_threads(max(1, min(self.n, numba.config.NUMBA_NUM_THREADS)))

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.before)


class WorkerLost(LabelgenError):
    """A worker process of ``render --workers N`` ended without finishing its views (killed,
    or out of memory); the job stops (exit status 1)."""

    exit_status = 1


def _render_shared(renderer, pool, extra, cameras, tasks, params, out, bar) -> Summary:
    """Render ``cameras`` here and in ``pool``'s ``extra`` processes, each taking the next view
    as it becomes free (so none waits while views are left).

    A thread of this process hands views to the pool, keeping two queued per process while
    many are left (they never wait for this process, which holds the interpreter while it runs
    a kernel) and one near the end (so that all finish together).

    A view that fails stops the job with its error once the views under way are finished; a
    worker process that ends unexpectedly stops it with :class:`WorkerLost`. Either way the
    files of a view that a failed or lost process had begun to write are removed (see
    :class:`_ViewFiles`), so that no view is left half written.
    """
    todo = deque(cameras)
    lock = threading.Lock()
    summary = Summary()
    failed: list[BaseException] = []

    def take():
        with lock:
            return todo.popleft() if todo and not failed else None

    def done(res: Summary):
        with lock:
            summary.add(res)
        bar.update()

    def feed():
        running: dict = {}
        try:
            while True:
                want = 2 * extra if len(todo) > 2 * extra else extra
                while len(running) < want:
                    cam = take()
                    if cam is None:
                        break
                    files = _ViewFiles(out, cam, tasks)
                    running[pool.submit(_render_worker, cam, tasks, params, out)] = files
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    if fut.exception() is None:
                        running.pop(fut)
                        done(fut.result())
                for fut in finished:
                    if fut.exception() is not None:
                        raise fut.exception()
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            failed.append(err)
            for fut in running:
                fut.cancel()
            wait(running)  # the views under way in working processes are finished
            for fut, files in running.items():
                if not fut.cancelled() and fut.exception() is None:
                    done(fut.result())
                elif not fut.cancelled():
                    files.remove_if_written()

    feeder = threading.Thread(target=feed, name="labelgen-feed", daemon=True)
    feeder.start()
    try:
        while (cam := take()) is not None:
            files = _ViewFiles(out, cam, tasks)
            try:
                done(_render_and_write(renderer, cam, tasks, params, out))
            except BaseException:
                files.remove_if_written()
                raise
    except BaseException as err:
        with lock:
            failed.append(err)
        raise
    finally:
        feeder.join()
    if failed:
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(failed[0], BrokenProcessPool):
            raise WorkerLost(None, f"a worker process ended unexpectedly (killed, or out of memory?); "
                                   f"stopped after {summary.views} of {len(cameras)} views (each written "
                                   f"whole)") from None
        raise failed[0]
    return summary


class _ViewFiles:
    """The files a view's labels and point_info go to, as they were before the view was
    handed out, to tell afterwards whether a process began writing them."""

    def __init__(self, out, camera, tasks):
        from .layout import label_path

        self.paths = [label_path(out, t, camera.point, camera.view) for t in tasks]
        self.paths.append(point_info_path(out, camera.point, camera.view))
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


#: labels computed from images only (warmed on a synthetic view by :mod:`labelgen.warmup`)
_IMAGE_LABELS = frozenset(t for g in warmup.GROUPS for t in g)


def _warm_mesh_labels(renderer, camera, tasks, params, warm):
    """Compile the kernels of the mesh-derived labels on a 32x32 copy of ``camera`` while
    ``warm`` compiles the image-derived ones in other processes; then take the image-derived
    labels nobody has started yet and wait for the others."""
    small = dataclasses.replace(camera, width=32, height=32)
    try:
        render_view(renderer, small, [t for t in tasks if t not in _IMAGE_LABELS], params)
    except Exception:  # noqa: BLE001 - only warming: the real views report any error
        pass
    finally:
        warm.help()
        warm.wait()


def _check_writable(out: Path):
    check_writable(out)


# -- derive -----------------------------------------------------------------------------

def _file_loader(name, path, max_pixels=None):
    label = all_labels().get(name)
    if label is None:  # an input-only domain (layout.INPUT_DOMAINS), e.g. rgb
        label = Label(name, (), None, INPUT_DOMAINS[name], encoding="", invalid="")

    def load():
        check_png_size(path, max_pixels)
        array = read_png(path)
        if label.check_array(array, path):
            want = {"gray8": "an 8-bit grey", "gray16": "a 16-bit grey", "rgb8": "an 8-bit RGB"}[label.storage]
            raise LabelgenError(path, f"{name} must be {want} image, this file is {_describe(array)}")
        return array

    return load


def _describe(array: np.ndarray) -> str:
    """'8-bit RGBA 512x512' and the like, for messages about unsuitable images."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    kind = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    return f"{array.dtype.itemsize * 8}-bit {kind} {array.shape[1]}x{array.shape[0]}"


def view_sources(files: dict[str, Path], point, view, fov=None, resolution=None, max_pixels=None) -> LazySources:
    """Lazy sources for one view of a building folder: its label files and its camera.

    The camera comes from the view's point_info (``fov`` and ``resolution`` override it), or,
    when the view has no point_info and ``fov`` is given, from ``fov`` and the size of the
    view's images: a camera at the origin with Euler angles 0, enough for the labels that
    need only the intrinsics (keypoints3d).
    """
    loaders = {name: _file_loader(name, path, max_pixels) for name, path in files.items() if name != "point_info"}
    if "point_info" in files:
        import json

        def camera():
            try:
                info = json.loads(Path(files["point_info"]).read_text())
            except (OSError, ValueError, RecursionError) as err:
                text = "nested too deeply" if isinstance(err, RecursionError) else err
                raise LabelgenError(files["point_info"], f"cannot read point_info: {text}") from None
            return camera_from_point_info(info, files["point_info"], point, view, fov, resolution, max_pixels)

        loaders["camera"] = camera
    elif fov is not None and loaders:
        image = files[sorted(n for n in files if n != "point_info")[0]]

        def camera():
            size = check_png_size(image, max_pixels)
            if size is None:
                raise LabelgenError(image, "not a PNG file (the camera for --fov takes its size)")
            w, h = size if resolution is None else parse_resolution(resolution, max_pixels=max_pixels)
            return Camera(np.zeros(3), np.eye(3), fov, w, h, point=point, view=view)

        loaders["camera"] = camera
    return LazySources(loaders)


def _check_sizes(inputs: dict[str, np.ndarray], files: dict[str, Path]):
    shapes = {name: a.shape[:2] for name, a in inputs.items() if isinstance(a, np.ndarray)}
    if len(set(shapes.values())) > 1:
        detail = ", ".join(f"{files.get(n, n)} {s[1]}x{s[0]}" for n, s in shapes.items())
        raise LabelgenError(next(iter(files.values())).parent, f"inputs of one view differ in size: {detail}")


def _missing_files(label, sources, registry, seen=()) -> set[str]:
    """Input files (domain names) that ``label`` lacks in a building folder's ``sources``."""
    missing = set()
    for req in label.requires:
        if req in sources or req in seen or req in ("gbuffer", "mesh"):
            continue
        lab = registry.get(req)
        if lab is not None and not {"gbuffer", "mesh"} & set(lab.requires):
            missing |= _missing_files(lab, sources, registry, seen + (req,))
        else:
            missing.add("point_info" if req == "camera" else req)
    return missing


def default_derive_tasks() -> list[str]:
    """Every label computable from a building folder's images (no mesh, no render)."""
    return [n for n, lab in all_labels().items() if "gbuffer" not in lab.requires and "mesh" not in lab.requires]


def derive_view(files: dict[str, Path], point, view, tasks, params, out, fov=None, max_pixels=None) -> Summary:
    """Compute ``tasks`` for one view from its files and write them (see derive_building).

    Each input file that cannot be used is reported (one failure per file) and the tasks
    that need it are not made; the other tasks of the view still are. Inputs of different
    sizes fail the whole view.
    """
    labels, summary = derive_view_labels(files, point, view, tasks, params, fov, max_pixels)
    registry = all_labels()
    for name, array in labels.items():
        write_label(out, registry[name], point, view, array)
        summary.files += 1
    summary.views = 1 if labels else 0
    return summary


def derive_view_labels(files: dict[str, Path], point, view, tasks, params, fov=None, max_pixels=None
                       ) -> tuple[dict[str, np.ndarray], Summary]:
    """:func:`derive_view` without writing: the encoded arrays, and a Summary of skipped
    tasks and failures (its ``views`` and ``files`` left at 0)."""
    summary = Summary()
    if view == PANORAMA_VIEW:  # Omnidata panorama files: the image-derived labels need an image plane
        tasks, not_here = split_tasks(tasks, Camera.from_euler([0, 0, 0], [0, 0, 0], 1.0, 2, 1, model="equirectangular"))
        for task, reason in not_here.items():
            summary.skipped[(task, reason)] += 1
        if not tasks:
            return {}, summary
    sources = view_sources(files, point, view, fov, max_pixels=max_pixels)
    order, skipped = plan(tasks, sources)
    registry = all_labels()
    for task, reason in skipped.items():
        missing = _missing_files(registry[task], sources, registry)
        if missing:
            reason = "no " + ", ".join(sorted(missing)) + " file"
        summary.skipped[(task, reason)] += 1
    if not order:
        return {}, summary
    used = sorted({r for name in order for r in registry[name].requires if r in sources})
    good = {}
    for r in used:
        try:
            good[r] = sources[r]
        except LabelgenError as err:
            summary.failures.append(str(err))
    try:
        _check_sizes(good, files)
        labels, _ = compute_view([t for t in tasks if t not in skipped], LazySources(**good), params)
    except LabelgenError as err:
        summary.failures.append(str(err))
        return {}, summary
    return labels, summary


def _derive_worker(args):
    configure()
    return derive_view(*args)


def derive_building(building, out, tasks=None, params=None, workers: int = 1, fov=None,
                    quiet: bool = True, on_failure=None, max_pixels=None) -> Summary:
    """Recompute ``tasks`` for every view of an existing building folder.

    For each view, the inputs each task needs are read from the building's files (either
    layout); a task whose inputs are missing is skipped for that view and counted; a view
    with unreadable inputs is reported and the others go on. ``on_failure(message)`` is
    called for each failure as it happens.
    """
    configure()
    building = Path(building)
    if fov is not None and not (0.0 < float(fov) < math.pi):
        raise LabelgenError("--fov", f"field of view must be in (0, pi) radians, got {fov}")
    if not building.is_dir():
        raise LabelgenError(building, "no such building folder")
    views = scan_building(building)
    if not views:
        raise LabelgenError(building, "no Taskonomy label files found")
    tasks = check_tasks(tasks) if tasks is not None else default_derive_tasks()
    params = resolve_params(params)
    out = Path(out)
    _check_writable(out)
    summary = Summary()
    jobs = [(files, p, v, tasks, params, out, fov, max_pixels) for (p, v), files in sorted(views.items())]
    with _progress(len(jobs), quiet, "derive") as bar:
        if workers <= 1 or len(jobs) <= 1:
            results = map(_derive_worker, jobs)
            pool = None
        else:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            results = pool.map(_derive_worker, jobs)
        try:
            for res in results:
                for msg in res.failures:
                    if on_failure:
                        on_failure(msg)
                summary.add(res)
                bar.update()
        finally:
            if pool is not None:
                pool.shutdown()
    return summary
