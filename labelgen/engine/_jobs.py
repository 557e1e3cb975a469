"""Whole-building jobs on the per-view engine: render labels from a mesh, derive them from a folder.

These are the functions behind ``labelgen render`` and ``labelgen derive``: each checks its
inputs, then runs the one per-view path (:mod:`labelgen.engine._views`) over the views with the
one worker-process model (:func:`labelgen.engine._workers.run_views`) and the one writer.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterable

from labelgen.camera._cameras import Camera
from labelgen.core._errors import LabelgenError
from labelgen.engine import _warmup as warmup
from labelgen.engine._layout import scan_building
from labelgen.engine._mesh import MeshSpec
from labelgen.engine._pipeline import resolve_params
from labelgen.engine._tasks import Summary, check_tasks, default_derive_tasks, default_render_tasks
from labelgen.engine._views import ViewWriter, derive_labels, render_labels
from labelgen.engine._workers import ViewFiles, WorkerSetup, run_views
from labelgen.io import _cache as mesh_cache
from labelgen.io._images import check_writable
from labelgen.io._meshes import Mesh
from labelgen.render._panorama import check_unique_points, split_tasks
from labelgen.render._renderers import make_renderer

__all__ = ["render_view", "render_building", "derive_building"]


def _progress(total, quiet, desc):
    from tqdm import tqdm

    return tqdm(total=total, disable=quiet, desc=desc, unit="view", file=sys.stderr, leave=False)


def _mesh_of(mesh, up_axis=None, semantic_mesh=None) -> Mesh:
    """A loaded mesh from a path, a :class:`MeshSpec` or a :class:`Mesh` (``semantic_mesh``, a
    path or Mesh, attached)."""
    if isinstance(mesh, Mesh):
        obj = mesh
    else:
        spec = MeshSpec.of(mesh, up_axis=up_axis,
                           semantic=semantic_mesh if not isinstance(semantic_mesh, Mesh) else None)
        obj = spec.load()
        if not isinstance(semantic_mesh, Mesh):
            return obj
    if semantic_mesh is not None:
        from labelgen.labels.surface_ids import attach_semantic_mesh

        sem = semantic_mesh if isinstance(semantic_mesh, Mesh) else MeshSpec.of(semantic_mesh, up_axis).load()
        attach_semantic_mesh(obj, sem)
        obj.spec = None  # the description no longer covers it: MeshSpec.of rebuilds it from the paths
    return obj


def render_view(mesh, camera: Camera, tasks: Iterable[str] | None = None, params: dict[str, Any] | None = None):
    """Render the labels of one camera, in memory.

    Parameters
    ----------
    mesh : a :class:`~labelgen.io.Mesh`, a mesh file, a :class:`~labelgen.engine.MeshSpec`, or a
        renderer (:func:`labelgen.render.make_renderer`; reuse one for many views of a mesh).
    camera : the :class:`~labelgen.camera.Camera`.
    tasks : label names (legacy names accepted); default: every label the mesh allows, as
        :func:`render_building` makes.
    params : label parameters (``labelgen tasks`` and the spec list them); others keep their
        Taskonomy defaults.

    Returns
    -------
    labels : dict of label name to the encoded array, exactly as the PNG stores it.
    skipped : dict of label name to the reason it could not be made for this view.
    """
    renderer = mesh if hasattr(mesh, "render") else make_renderer(_mesh_of(mesh))
    tasks = default_render_tasks(renderer.mesh) if tasks is None else check_tasks(tasks)
    return render_labels(renderer, camera, tasks, resolve_params(params))


def _render_one(renderer, camera, tasks, params, writer: ViewWriter) -> Summary:
    labels, skipped = render_labels(renderer, camera, tasks, params)
    files = writer.write(camera.point, camera.view, labels, camera.point_info())
    summary = Summary(views=1, files=len(files))
    summary.skipped.update(skipped.items())
    return summary


def render_building(mesh, cameras: list[Camera], out, tasks=None, params: dict[str, Any] | None = None,
                    workers: int = 1, backend: str = "open3d", quiet: bool = True, cache: bool = True,
                    semantic_mesh=None, up_axis: str | None = None) -> Summary:
    """Render every camera's labels into the building folder ``out``.

    Parameters
    ----------
    mesh : a mesh file, a :class:`~labelgen.engine.MeshSpec` or a loaded :class:`~labelgen.io.Mesh`.
    cameras : the :class:`~labelgen.camera.Camera` list (:func:`labelgen.camera.read_cameras`).
    out : the building folder (created; files already there are replaced view by view).
    tasks : label names; default: every label the mesh allows (:func:`labelgen.engine.default_render_tasks`).
    params : label parameters; others keep their Taskonomy defaults.
    workers : processes (this one and ``workers - 1`` more).
    backend : ``"open3d"`` (ray casting, default) or ``"pyrender"`` (OpenGL).
    quiet : no progress bar on stderr.
    cache : read and write the disk cache of per-mesh results (:mod:`labelgen.io._cache`); they
        are computed once per mesh in each process either way.
    semantic_mesh : a labelled mesh (file or Mesh) aligned with ``mesh`` that the ``semantic``
        label is read from (see :mod:`labelgen.labels.surface_ids`).
    up_axis : the mesh file's up axis when ``mesh`` is a path (see :func:`labelgen.io.load_mesh`).

    Returns
    -------
    Summary
    """
    previous = mesh_cache.enabled()
    mesh_cache.configure(enabled=cache)
    try:
        mesh_obj = _mesh_of(mesh, up_axis, semantic_mesh)
        check_unique_points(cameras)
        tasks = default_render_tasks(mesh_obj) if tasks is None else check_tasks(tasks)
        params = resolve_params(params)
        out = check_writable(out)
        writer = ViewWriter(out)
        # a cold Numba cache: compile the kernels in parallel before the first view (labelgen.engine._warmup),
        # those of the labels some camera makes (panoramas have no image-derived labels)
        made = sorted({t for cam in cameras for t in split_tasks(tasks, cam)[0]}, key=tasks.index)
        cold = warmup.start(made, params) if cameras else None

        def prepare(forking):
            if workers > 1 and cache:
                mesh_cache.prepare(mesh_obj, tasks, params)
            if forking and cold is None:
                # a warm cache: load the image labels' kernels here (on a small synthetic view), so
                # that the forked processes start with them loaded (about 0.4 CPU s less each)
                warmup.warm_labels([t for t in tasks if t in warmup.IMAGE_LABELS], params)

        def warm(renderer):
            warmup.warm_mesh_labels(renderer, cameras[0], tasks, params, cold, render_labels)

        summary = Summary()
        run_views(cameras, _render_one, (tasks, params, writer),
                  WorkerSetup(mesh_obj, MeshSpec.of(mesh_obj), backend, cache), workers, summary.add,
                  lambda: _progress(len(cameras), quiet, "render"),
                  files_of=lambda cam: ViewFiles(writer.paths(cam.point, cam.view, tasks)),
                  prepare=prepare, warm=warm if cold is not None else None)
        return summary
    finally:
        mesh_cache.configure(enabled=previous)


def _derive_one(_renderer, item, tasks, params, writer: ViewWriter, fov, max_pixels) -> Summary:
    files, point, view = item
    labels, summary = derive_labels(files, point, view, tasks, params, fov, max_pixels)
    summary.files = len(writer.write(point, view, labels)) if labels else 0
    summary.views = 1 if labels else 0
    return summary


def derive_building(building, out, tasks=None, params=None, workers: int = 1, fov=None,
                    quiet: bool = True, on_failure=None, max_pixels=None) -> Summary:
    """Recompute ``tasks`` for every view of an existing building folder into ``out``.

    Parameters
    ----------
    building : the building folder (current or legacy layout, or a flat folder of one view's files).
    out : the output folder (same naming).
    tasks : label names; default: every label computable from images (:func:`labelgen.engine.default_derive_tasks`).
    params : label parameters; others keep their Taskonomy defaults.
    workers : processes.
    fov : field of view (radians) overriding point_info's, or for views without point_info.
    quiet : no progress bar on stderr.
    on_failure : called with each failure message as it happens.
    max_pixels : largest image read (see :mod:`labelgen.core._limits`).

    For each view, the inputs each task needs are read from the building's files; a task whose
    inputs are missing is skipped for that view and counted; an unreadable input file, or a file
    whose name holds no valid point or view identifier, is a failure, and the others go on.

    Returns
    -------
    Summary
    """
    building = Path(building)
    if fov is not None and not (0.0 < float(fov) < math.pi):
        raise LabelgenError("--fov", f"field of view must be in (0, pi) radians, got {fov}")
    if not building.is_dir():
        raise LabelgenError(building, "no such building folder")
    found = scan_building(building)
    if not found.views and not found.bad_files:
        raise LabelgenError(building, "no Taskonomy label files found")
    tasks = check_tasks(tasks) if tasks is not None else default_derive_tasks()
    params = resolve_params(params)
    out = check_writable(out)
    writer = ViewWriter(out)
    summary = Summary(failures=found.bad_file_errors())
    for msg in summary.failures:
        if on_failure:
            on_failure(msg)

    def add(res: Summary):
        for msg in res.failures:
            if on_failure:
                on_failure(msg)
        summary.add(res)

    items = [(files, p, v) for (p, v), files in sorted(found.views.items())]
    run_views(items, _derive_one, (tasks, params, writer, fov, max_pixels), None, workers, add,
              lambda: _progress(len(items), quiet, "derive"),
              files_of=lambda it: ViewFiles(writer.paths(it[1], it[2], tasks, point_info=False)), ordered=True)
    return summary
