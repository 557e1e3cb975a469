"""Views made in the process that asks for them (a DataLoader worker, or the main process).

Each process loads the meshes it needs when it first needs them and keeps a few
(:func:`labelgen.engine.renderer_for`, least recently used first out), samples a building's
cameras once (kept likewise), and makes each view's labels with
:func:`labelgen.engine.render_labels`: the bytes ``labelgen render`` writes.

Worker processes. A DataLoader worker gets its share of the cores (``cores // num_workers``
threads for Numba's kernels and the ray casts). Forking is safe as long as the process forked
from has not started a thread pool that a child cannot use: Numba's GNU OpenMP layer is such a
pool (a forked child that runs a kernel is killed). So, in a process where no Numba threading
layer has started and none was chosen (``NUMBA_THREADING_LAYER``), the first view selects
Numba's fork-safe ``workqueue`` layer (the one process-wide effect of the datasets); a worker
forked from a process that runs OpenMP's layer raises a :class:`LabelgenError` that says what to
do instead of being killed.
"""
from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from labelgen.camera._cameras import Camera
from labelgen.camera._matrices import CONVENTIONS, intrinsics, pose
from labelgen.core._errors import LabelgenError
from labelgen.data._inputs import Building
from labelgen.data._units import CODECS, decode_array
from labelgen.engine._pipeline import plan
from labelgen.engine._tasks import default_render_tasks
from labelgen.engine._views import render_labels
from labelgen.engine._workers import numba_threads, renderer_for

__all__ = ["Options", "SamplingFailed", "camera_of", "make_item", "worker_share"]


class SamplingFailed(LabelgenError):
    """A building's sampling found fewer views than asked for (no point seen from enough cameras)."""


@dataclass(frozen=True)
class Options:
    """How items are made (see :class:`labelgen.ViewDataset`)."""

    decode: bool = True
    channels_first: bool = False
    fill: float = 0.0
    convention: str = "blender"
    cache_meshes: int = 2
    threads: int | None = None

    def check(self) -> "Options":
        if self.convention not in CONVENTIONS:
            raise LabelgenError("convention", f"must be one of {', '.join(CONVENTIONS)}, got {self.convention!r}")
        if isinstance(self.cache_meshes, bool) or not isinstance(self.cache_meshes, int) or self.cache_meshes < 1:
            raise LabelgenError("cache_meshes", f"must be a positive integer, got {self.cache_meshes!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 0):
            raise LabelgenError("threads", f"must be None or a non-negative integer, got {self.threads!r}")
        try:
            float(self.fill)
        except (TypeError, ValueError):
            raise LabelgenError("fill", f"must be a number, got {self.fill!r}") from None
        return self


# -- the process -----------------------------------------------------------------------------

_FORK: dict = {"layer": None, "inherited": None}
_LOCK = threading.Lock()
_LOCAL: dict = {"pid": None, "tasks": {}, "samples": OrderedDict()}


def _numba_layer():
    numba = sys.modules.get("numba")
    if numba is None:
        return None
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _before_fork():
    _FORK["layer"] = _numba_layer()


def _after_fork_in_child():
    global _LOCK
    _FORK["inherited"] = _FORK["layer"]
    _LOCK = threading.Lock()  # held by a thread of the parent, perhaps


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _this_process() -> dict:
    """This process's state (anew in a forked child); the first call in a process checks and
    chooses Numba's threading layer (module documentation)."""
    pid = os.getpid()
    if _LOCAL["pid"] != pid:
        if _FORK["inherited"] == "omp":
            raise LabelgenError(None, "this process was forked from one where Numba's OpenMP threads run (it "
                                      "made labels before forking): use DataLoader(..., multiprocessing_context="
                                      "'spawn'), or make no labels in the main process before the DataLoader "
                                      "starts its workers")
        import numba

        if _numba_layer() is None and not os.environ.get("NUMBA_THREADING_LAYER") \
                and numba.config.THREADING_LAYER == "default":
            numba.config.THREADING_LAYER = "workqueue"
        _LOCAL.update(pid=pid, tasks={}, samples=OrderedDict())
    return _LOCAL


def worker_share(threads: int | None) -> int:
    """Threads for this process's kernels and ray casts (0: all cores): ``threads`` when given,
    else the share of a DataLoader worker (``cores // num_workers``), else all cores."""
    if threads is not None:
        return int(threads)
    data = sys.modules.get("torch.utils.data")
    info = data.get_worker_info() if data is not None else None
    if info is not None:
        return max(1, (os.cpu_count() or 1) // max(1, info.num_workers))
    return 0


def _renderer(building: Building, opts: Options):
    local = _this_process()
    threads = worker_share(opts.threads)
    renderer = renderer_for(building.spec, building.backend, threads, keep=opts.cache_meshes)
    return local, renderer, threads


def _threads(n: int):
    return numba_threads(n) if n > 0 else _Nothing()


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _tasks(local, building: Building, mesh) -> list[str]:
    key = (building.spec, building.tasks)
    if key not in local["tasks"]:
        tasks = list(building.tasks) if building.tasks is not None else default_render_tasks(mesh)
        _, skipped = plan(tasks, {"gbuffer": None, "camera": None, "mesh": mesh})
        for task, reason in skipped.items():
            raise LabelgenError(building.spec.path, f"cannot make {task}: {reason}")
        local["tasks"][key] = tasks
    return local["tasks"][key]


def _sampled(local, building: Building, seed: int, renderer, threads: int, keep: int) -> list[Camera]:
    """The first ``building.count`` views :func:`labelgen.sample_building` gives with ``seed``."""
    from labelgen.render._raycast import RaycastScene
    from labelgen.sample._sampling import SampleConfig, sample_building

    key = (building.spec, seed, tuple(sorted((k, repr(v)) for k, v in building.sample.items())), building.count)
    samples: OrderedDict = local["samples"]
    if key not in samples:
        scene = getattr(renderer, "scene", None)
        try:
            with _threads(threads):
                result = sample_building(renderer.mesh, SampleConfig(**building.sample, seed=seed),
                                         scene if isinstance(scene, RaycastScene) else None)
        except LabelgenError as err:
            raise SamplingFailed(err.where, err.problem) from None
        cams = result.cameras()[:building.count]
        if len(cams) < building.count:
            raise SamplingFailed(building.spec.path, f"sampling gave {len(cams)} views, fewer than the "
                                                     f"{building.count} asked for: ask for fewer, or more points "
                                                     "(num_points)")
        while len(samples) >= 4 * keep:
            samples.popitem(last=False)
        samples[key] = cams
    samples.move_to_end(key)
    return samples[key]


def camera_of(building: Building, j: int, opts: Options, seed: int | None = None) -> Camera:
    """The camera of view ``j`` of ``building`` (sampled ones with ``seed``, default its own)."""
    if building.cameras is not None:
        return building.cameras[j]
    with _LOCK:
        local, renderer, threads = _renderer(building, opts)
        return _sampled(local, building, building.seed if seed is None else seed, renderer, threads,
                        opts.cache_meshes)[j]


def _layout(array: np.ndarray, channels_first: bool) -> np.ndarray:
    if not channels_first:
        return array
    return np.ascontiguousarray(array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0))


def make_item(building: Building, camera: Camera, opts: Options, index: int) -> dict:
    """One view's item: each task's array (decoded, or as the PNG stores it), ``valid`` (decoded:
    each task's mask), ``K``, ``cam_to_world``, ``building``, ``point``, ``view`` and ``index``."""
    with _LOCK:
        local, renderer, threads = _renderer(building, opts)
        tasks = _tasks(local, building, renderer.mesh)
        hit = opts.decode and any(CODECS[t].validity == "hit" for t in tasks)
        wanted = tasks + (["mask_valid"] if hit and "mask_valid" not in tasks else [])
        with _threads(threads):
            labels, skipped = render_labels(renderer, camera, wanted, building.params)
    for task, reason in skipped.items():
        raise LabelgenError(building.where or building.spec.path,
                            f"point {camera.point} view {camera.view}: cannot make {task}: {reason}")
    item: dict = {}
    masks: dict = {}
    mask = labels["mask_valid"] == 255 if hit else None
    for task in tasks:
        if opts.decode:
            decoded = decode_array(labels[task], task, building.params, mask, opts.fill, resolved=True)
            item[task] = _layout(decoded.value, opts.channels_first)
            masks[task] = _layout(decoded.valid, opts.channels_first)
        else:
            item[task] = _layout(labels[task], opts.channels_first)
    if opts.decode:
        item["valid"] = masks
    pinhole = camera.model == "perspective"  # panoramas have no K
    item["K"] = (intrinsics(camera) if pinhole else np.full((3, 3), np.nan)).astype(np.float32)
    item["cam_to_world"] = pose(camera, opts.convention).astype(np.float32)
    item.update(building=building.name, point=camera.point, view=camera.view, index=int(index))
    return item
