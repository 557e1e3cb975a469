"""What a training-time dataset renders: its buildings (mesh, cameras or sampling options, tasks,
parameters), read and checked once, in the process that makes the dataset.

Everything here is plain data (it crosses to DataLoader workers, forked or spawned); meshes are
loaded only where views are rendered (:mod:`labelgen.data._views`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelgen.camera._cameras import Camera, parse_resolution, read_cameras
from labelgen.core._errors import LabelgenError
from labelgen.engine._mesh import MeshSpec
from labelgen.engine._pipeline import resolve_params
from labelgen.engine._tasks import check_tasks
from labelgen.render._renderers import RENDERERS

__all__ = ["Building", "buildings_from", "sample_options", "building_seed"]


@dataclass(frozen=True)
class Building:
    """One mesh of a dataset.

    ``cameras``: its views from a camera file (None: sampled with ``sample``, the options of
    :func:`labelgen.sample_building` less the seed, ``seed`` the building's own); ``count``: its
    number of views; ``tasks``: its labels (None: every label its mesh allows); ``params``: every
    label parameter (resolved).
    """

    name: str
    spec: MeshSpec
    count: int
    params: dict
    tasks: tuple[str, ...] | None = None
    cameras: tuple[Camera, ...] | None = None
    sample: dict | None = None
    seed: int = 0
    backend: str = "open3d"
    where: str = field(default="", compare=False)


def building_seed(seed: int, *parts: int) -> int:
    """A building's (and a stream round's) sampling seed, from the dataset's seed: the same in
    every process, different for every building and round."""
    return int(np.random.SeedSequence([int(seed), *map(int, parts)]).generate_state(1, np.uint32)[0])


def _flag_names() -> dict[str, str]:
    from labelgen.sample._sampling import SAMPLE_PARAMS

    return {p.flag: name for name, p in SAMPLE_PARAMS.items()}


def sample_options(num_views, fov_range=None, resolution=None, sample: dict | None = None,
                   where: str = "sample") -> dict:
    """The :class:`~labelgen.sample.SampleConfig` options (seed aside) that give at least
    ``num_views`` views: ``sample``'s, with ``fov_range`` (degrees) and ``resolution``, and by
    default enough points (each has at least ``min_views_per_point`` views) and cameras; checked."""
    from labelgen.sample._sampling import SampleConfig

    if isinstance(num_views, bool) or not isinstance(num_views, (int, np.integer)) or num_views < 1:
        raise LabelgenError("num_views", f"must be a positive integer, got {num_views!r}")
    if sample is not None and not isinstance(sample, dict):
        raise LabelgenError(where, "must be a mapping of sample options (num_cameras, min_views_per_point, ...)")
    opts = dict(sample or {})
    opts.pop("seed", None)  # each building's own (building_seed)
    if fov_range is not None:
        opts["fov_degrees"] = tuple(fov_range) if isinstance(fov_range, (list, tuple)) else fov_range
    if resolution is not None:
        opts["resolution"] = resolution
    per_point = int(opts.get("min_views_per_point") or 3)
    opts.setdefault("num_points", max(1, math.ceil(num_views / max(per_point, 1))))
    opts.setdefault("num_cameras", max(10, 3 * per_point, math.ceil(num_views / 4)))
    try:
        cfg = SampleConfig(**opts)
    except TypeError as err:
        raise LabelgenError(where, f"unknown option ({err})") from None
    try:
        cfg.check()
    except LabelgenError as err:
        name = _flag_names().get(err.where or "", None)
        raise LabelgenError("fov_range" if name == "fov_degrees" and fov_range is not None else
                            "resolution" if name == "resolution" and resolution is not None else
                            f"{where}.{name}" if name else where, err.problem) from None
    return opts


def _resolution(value):
    if value is None:
        return None
    w, h = parse_resolution(value, "resolution")
    return (w, h)


def _names(specs: list[MeshSpec]) -> list[str]:
    """Building names: the mesh file's stem, with the parent folder's name where stems repeat,
    then a number."""
    stems = [s.path.stem for s in specs]
    out = [f"{s.path.parent.name}_{s.path.stem}" if stems.count(s.path.stem) > 1 else s.path.stem for s in specs]
    seen: dict[str, int] = {}
    for i, name in enumerate(out):
        if out.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            out[i] = f"{name}_{seen[name]}"
    return out


def _mesh_specs(meshes, up_axis) -> tuple[list[str] | None, list[MeshSpec]]:
    if isinstance(meshes, (str, os.PathLike, MeshSpec)):
        meshes = [meshes]
    names = None
    if isinstance(meshes, dict):
        names, meshes = [str(k) for k in meshes], list(meshes.values())
    if not isinstance(meshes, (list, tuple)) or not meshes:
        raise LabelgenError("meshes", "must be a mesh file, a MeshSpec, or a non-empty list (or dict) of them")
    specs = []
    for m in meshes:
        if isinstance(m, MeshSpec):
            specs.append(m)
        elif isinstance(m, (str, os.PathLike)):
            specs.append(MeshSpec(m, up_axis))
        else:
            raise LabelgenError("meshes", f"expected a mesh file or a MeshSpec, got {type(m).__name__}")
        if not specs[-1].path.is_file():
            raise LabelgenError(specs[-1].path, "no such mesh file")
    return names, specs


def _camera_files(cameras, names) -> list:
    if cameras is None or isinstance(cameras, (str, os.PathLike)):
        if cameras is not None and len(names) > 1:
            raise LabelgenError("cameras", f"one camera file for {len(names)} meshes: give a list or a dict of them")
        return [cameras] * len(names)
    if isinstance(cameras, dict):
        unknown = sorted(set(map(str, cameras)) - set(names))
        if unknown:
            raise LabelgenError("cameras", f"no mesh named '{unknown[0]}' (buildings: {', '.join(names)})")
        return [cameras.get(n) for n in names]
    if isinstance(cameras, (list, tuple)) and len(cameras) == len(names):
        return list(cameras)
    raise LabelgenError("cameras", f"must be a camera file, or a list (or dict) of {len(names)} camera files")


def buildings_from(meshes=None, jobs=None, cameras=None, tasks=None, resolution=None, fov=None, num_views=None,
                   fov_range=None, seed=0, sample=None, params=None, up_axis=None, backend="open3d",
                   max_pixels=None) -> list[Building]:
    """The buildings of a dataset (see :class:`labelgen.ViewDataset` for the arguments)."""
    if (meshes is None) == (jobs is None):
        raise LabelgenError("meshes", "give meshes or jobs (a batch jobs file), not both" if meshes is not None
                            else "give meshes, or jobs (a batch jobs file)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LabelgenError("seed", f"must be a non-negative integer, got {seed!r}")
    if backend not in RENDERERS:
        raise LabelgenError("backend", f"must be one of {', '.join(sorted(RENDERERS))}, got {backend!r}")
    tasks = None if tasks is None else tuple(check_tasks(tasks))
    res = _resolution(resolution)
    views = 100 if num_views is None else num_views
    overrides = dict(params or {})
    out = []
    if jobs is not None:
        from labelgen.batch._jobs import read_jobs

        for job in read_jobs(jobs, up_axis=up_axis):
            if job.kind != "render":
                raise LabelgenError(jobs if isinstance(jobs, (str, os.PathLike)) else "jobs",
                                    f"{job.label}: a dataset renders meshes; this is a {job.kind} job")
            job_res = res or _resolution(job.resolution)
            job_params = _params({**job.params, **overrides})
            job_tasks = tasks or (tuple(job.tasks) if job.tasks else None)
            if job.cameras is not None:
                cams = tuple(read_cameras(job.cameras, fov=fov if fov is not None else job.fov, resolution=job_res,
                                          max_pixels=max_pixels))
                out.append(Building(job.building, job.mesh_spec(), len(cams), job_params, job_tasks, cams,
                                    backend=job.renderer, where=str(job.cameras)))
            else:
                opts = sample_options(views, fov_range, job_res, job.sample, where=f"{job.label}: render.sample")
                own = (job.sample or {}).get("seed")
                out.append(Building(job.building, job.mesh_spec(), views, job_params, job_tasks, None, opts,
                                    building_seed(seed, len(out)) if own is None else int(own),
                                    backend=job.renderer, where=job.label))
        return out
    names, specs = _mesh_specs(meshes, up_axis)
    names = names or _names(specs)
    params = _params(overrides)
    files = _camera_files(cameras, names)
    opts = sample_options(views, fov_range, res, sample) if any(f is None for f in files) else None
    for i, (name, spec, file) in enumerate(zip(names, specs, files)):
        if file is None:
            out.append(Building(name, spec, views, params, tasks, None, opts, building_seed(seed, i), backend,
                                where=str(spec.path)))
        else:
            cams = tuple(read_cameras(file, fov=fov, resolution=res, max_pixels=max_pixels))
            out.append(Building(name, spec, len(cams), params, tasks, cams, backend=backend, where=str(file)))
    return out


def _params(values: dict[str, Any]) -> dict[str, Any]:
    try:
        return resolve_params(values)
    except KeyError as err:
        raise LabelgenError("params", err.args[0]) from None
