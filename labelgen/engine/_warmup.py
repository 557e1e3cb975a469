"""Compile the Numba kernels of the requested labels ahead of need, in parallel processes.

Kernels compile on first use and are cached on disk (``numba.njit(cache=True)``), so a
first run on a machine, or with an empty ``NUMBA_CACHE_DIR``, spends most of its first view
compiling, one kernel after another. :func:`start` spreads that work over processes: each
computes some of the image-derived labels (``keypoints3d``, the segmentations, ...) on a
small synthetic view, which compiles their kernels and writes them to the disk cache, while
the calling process compiles the mesh-derived labels (geometry buffer, curvature, rgb) by
rendering its first view at a small size. Jobs go to whichever process is free, the longest
first, and the calling process takes those left once its own are compiled. When every
process is done, the real views load all kernels from the cache. Outputs do not change: the
same kernels, compiled for the same argument types, compute every label.

Nothing is started when the cache already holds the kernels (:func:`cache_is_cold`).
"""
from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os

import numpy as np

#: kernel modules of the image-derived labels (a module with no cached kernel means a cold cache)
KERNEL_MODULES = ("narf", "segmentation", "filters", "hessian", "edges")

#: image-derived labels, warmed together in jobs (one label's kernels in one process), the
#: jobs in the order their kernels take longest to compile (CPU seconds with an empty cache on
#: the 2-core development machine, measured with ``benchmarks/bench_full.py --compile-profile``:
#: keypoints3d ~49, the two segmentations ~21-25, keypoints2d and the edges ~4 each); small jobs
#: last, so that the processes finish together
GROUPS = (("keypoints3d",), ("segment_unsup25d", "segment_unsup2d"), ("keypoints2d",),
          ("edge_texture", "edge_occlusion"))


def _index_paths(module) -> list[str]:
    """Index file of each cached Numba dispatcher defined at the top level of ``module``."""
    from numba.core.dispatcher import Dispatcher

    paths = []
    for obj in vars(module).values():
        if isinstance(obj, Dispatcher):
            cache_file = getattr(getattr(obj, "_cache", None), "_cache_file", None)
            path = getattr(cache_file, "_index_path", None)
            if path:
                paths.append(path)
    return paths


def cache_is_cold(modules=KERNEL_MODULES) -> bool:
    """True when one of the kernel ``modules`` has no kernel in Numba's disk cache."""
    for name in modules:
        paths = _index_paths(importlib.import_module(f"labelgen.kernels.{name}"))
        if paths and not any(os.path.exists(p) for p in paths):
            return True
    return False


def synthetic_sources(size: int = 64) -> dict:
    """A small view's encoded inputs: rgb, depth_zbuffer (with invalid pixels), normal, camera.

    Only the array types matter (they decide what Numba compiles), not the values.
    """
    from labelgen.camera._cameras import Camera

    rng = np.random.default_rng(0)
    j, i = np.mgrid[0:size, 0:size]
    depth = (1024 + 8 * i + 3 * j + rng.integers(0, 4, (size, size))).astype(np.uint16)
    depth[: size // 8] = 65535
    normal = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
    normal[depth == 65535] = 128
    rgb = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
    camera = Camera.look_at([0.0, 0.0, 1.5], [1.0, 0.0, 1.5], fov=1.2, width=size, height=size)
    return {"rgb": rgb, "depth_zbuffer": depth, "normal": normal, "camera": camera}


def warm_labels(tasks, params=None) -> list[str]:
    """Compute ``tasks`` on :func:`synthetic_sources` (compiling and caching their kernels).

    Returns the tasks that were computed; tasks that need the mesh are left out.
    """
    from labelgen.engine._pipeline import compute_view, plan

    sources = synthetic_sources()
    order, skipped = plan(list(tasks), sources)
    todo = [t for t in tasks if t not in skipped]
    if todo:
        try:
            compute_view(todo, sources, params)
        except Exception:  # noqa: BLE001 - warming is best effort; real views report errors
            return []
    return todo


def _next_job(counter, count):
    """Index of the next job nobody has taken (shared ``counter``), None when none is left."""
    with counter.get_lock():
        k = counter.value
        if k >= count:
            return None
        counter.value = k + 1
        return k


def _warm_jobs(jobs, params, counter):
    """Warm ``jobs`` (lists of labels) one after another, each taken from ``counter`` in turn."""
    from labelgen.core._runtime import configure

    configure()
    while (k := _next_job(counter, len(jobs))) is not None:
        warm_labels(jobs[k], params)


class Warmup:
    """Processes warming kernels, taking jobs from a shared list.

    :meth:`help` lets the calling process take the jobs still left once it is free;
    :meth:`wait` blocks until every process is done.
    """

    def __init__(self, jobs, params, counter, processes):
        self._jobs = jobs
        self._params = params
        self._counter = counter
        self._processes = processes

    def help(self):
        """Warm the jobs nobody has taken yet in this process."""
        _warm_jobs(self._jobs, self._params, self._counter)

    def wait(self):
        for proc in self._processes:
            proc.join()


def start(tasks, params=None, processes: int | None = None) -> Warmup | None:
    """Start warming the kernels of the image-derived labels among ``tasks`` in other processes.

    Returns ``None`` (nothing to do) when the disk cache already holds the kernels or no
    such label is requested. The jobs (:data:`GROUPS`, longest first) go to whichever process
    is free: ``processes`` other processes (default: one per CPU, at most one per job; none
    on a single CPU, where the first view compiles as fast) and this one once it calls
    :meth:`Warmup.help`. One per CPU, not one fewer: this process spends about half of its
    time before the first view on work other than compiling (imports, the mesh's curvature),
    so with one process fewer a core sat idle while the last job compiled. The processes are
    forked from this one when :func:`labelgen.engine._workers.fork_is_safe`, else spawned.
    """
    tasks = list(tasks)
    jobs = [[t for t in g if t in tasks] for g in GROUPS]
    jobs = [g for g in jobs if g]
    cpus = os.cpu_count() or 1
    if not jobs or (processes is None and cpus < 2) or not cache_is_cold():
        return None  # nothing to warm, or one CPU: the first view compiles as fast
    n = processes or min(len(jobs), cpus)
    from labelgen.engine._workers import fork_is_safe

    # forked, they start with this process's imports (about 1.5 CPU s less each than spawned)
    ctx = multiprocessing.get_context("fork" if fork_is_safe() else "spawn")
    counter = ctx.Value("i", 0)
    procs = [ctx.Process(target=_warm_jobs, args=(jobs, params, counter), name="labelgen-warmup", daemon=True)
             for _ in range(n)]
    for proc in procs:
        proc.start()
    return Warmup(jobs, params, counter, procs)


#: labels computed from images only (warmed on a synthetic view in the warm-up processes)
IMAGE_LABELS = frozenset(t for g in GROUPS for t in g)


def warm_mesh_labels(renderer, camera, tasks, params, warm: Warmup, render) -> None:
    """Compile the kernels of the mesh-derived labels on a small copy of ``camera`` (32x32, or
    64x32 for a panorama, which is 2H x H) with ``render(renderer, camera, tasks, params)``
    while ``warm`` compiles the image-derived ones in other processes; then take the
    image-derived labels nobody has started yet and wait for the others."""
    w, h = (64, 32) if camera.model == "equirectangular" else (32, 32)
    try:
        render(renderer, dataclasses.replace(camera, width=w, height=h), [t for t in tasks if t not in IMAGE_LABELS],
               params)
    except Exception:  # noqa: BLE001 - only warming: the real views report any error
        pass
    finally:
        warm.help()
        warm.wait()
