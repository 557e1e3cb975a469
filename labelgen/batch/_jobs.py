"""The jobs file of ``labelgen batch``: reading and checking it, and the output layouts.

A jobs file is YAML (JSON is valid YAML)::

    defaults: {tasks: [depth_zbuffer, normal], params: {canny_sigma: 3}, resolution: 512}
    jobs:
      - {building: apt, render: {mesh: a.glb, cameras: a_cameras.json}}
      - {building: new, render: {mesh: b.ply, sample: {num_points: 40, seed: 1}}}
      - {building: shipped, derive: {path: some/building}}
      - {building: check, validate: {path: some/building, mesh: c.ply}}

Relative paths are relative to the jobs file. Every job may override ``tasks``, ``params``,
``resolution``, ``fov`` and ``component``. ``render`` also takes ``renderer``, ``up_axis``
(``+z`` or ``+y``; the mesh file's up axis) and ``semantic_mesh``; ``validate`` takes ``mesh``
and its ``up_axis``; ``defaults`` may give ``up_axis`` too. :func:`read_jobs` checks the whole file before any
work starts and reports the first problem as one :class:`LabelgenError` naming the job and
the field.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelgen.core._errors import LabelgenError
from labelgen.core._paths import inside

KINDS = ("render", "derive", "validate")
LAYOUTS = ("building", "omnidata")
DEFAULT_COMPONENT = "labelgen"

#: Building and component names: letters, digits, '-', '_' and '.', starting with a letter or
#: digit (so never '.', '..' or a hidden name), at most 128 characters, never '/' or NUL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

_JOB_KEYS = {"building", "component", "tasks", "params", "resolution", "fov"} | set(KINDS)
_DEFAULT_KEYS = {"component", "tasks", "params", "resolution", "fov", "up_axis"}
_KIND_KEYS = {"render": {"mesh", "cameras", "sample", "renderer", "up_axis", "semantic_mesh"},
              "derive": {"path"},
              "validate": {"path", "mesh", "preset", "fit", "up_axis"}}
_SAMPLE_PAIRS = {"camera_height", "fov_degrees", "view_distance"}


@dataclass
class Job:
    """One building's job, with paths resolved against the jobs file."""

    index: int
    building: str
    kind: str
    component: str = DEFAULT_COMPONENT
    tasks: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)  # overrides (defaults merged in)
    resolution: Any = None
    fov: float | None = None
    mesh: Path | None = None
    cameras: Path | None = None
    sample: dict[str, Any] | None = None  # SampleConfig fields
    renderer: str = "open3d"
    path: Path | None = None
    preset: str | None = None
    fit: bool = False
    up_axis: str | None = None  # the mesh file's up axis (None: its format's default)
    semantic_mesh: Path | None = None

    @property
    def label(self) -> str:
        return f"job {self.index + 1} ({self.building})"

    def mesh_spec(self):
        """The job's :class:`~labelgen.engine.MeshSpec` (None for a job without a mesh)."""
        from labelgen.engine._mesh import MeshSpec

        if self.mesh is None:
            return None
        return MeshSpec(self.mesh, self.up_axis, self.semantic_mesh)


def check_name(value, where, what: str) -> str:
    """A building or component name that is safe as one path component, else LabelgenError."""
    if isinstance(value, str) and _NAME.fullmatch(value) and not value.endswith("."):
        return value
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise LabelgenError(where, f"{what + ' ' if what else ''}must be 1-128 letters, digits, '-', '_' or '.' starting with a letter "
                               f"or digit, got {shown}")


class Layout:
    """Where a building's files go under ``root``.

    ``building``: ``root/{building}/{domain}/point_P_view_V_domain_{domain}.{ext}`` (Taskonomy's
    building folder). ``omnidata``: ``root/{domain}/{component}/{building}/...``, the tree
    Omnidata's download tool writes.
    """

    def __init__(self, root, name: str = "building"):
        if name not in LAYOUTS:
            raise LabelgenError("--layout", f"must be one of {', '.join(LAYOUTS)}, got {name!r}")
        self.root = Path(root)
        self.name = name

    def folder(self, job: Job, domain: str) -> Path:
        if self.name == "building":
            return self.root / job.building / domain
        return self.root / domain / job.component / job.building

    def template(self, job: Job) -> str:
        """A view file's folder relative to the root, with ``{domain}`` for the domain."""
        return self.folder(job, "{domain}").relative_to(self.root).as_posix()

    def path(self, job: Job, domain: str, point, view, ext: str = "png") -> Path:
        """The file of one view's ``domain``, checked to lie inside the root."""
        return inside(self.root, self.folder(job, domain) / f"point_{point}_view_{view}_domain_{domain}.{ext}")

    def report_path(self, job: Job) -> Path:
        """Where a validate job's report goes."""
        return inside(self.root, self.folder(job, "validate") / "validate.json")

    def state(self, job: Job, what: str) -> Path:
        """``root/.labelgen/{what}/{component}/{building}`` (journal, sampled cameras)."""
        return inside(self.root, self.root / ".labelgen" / what / job.component / job.building)

    def output_key(self, job: Job):
        return job.building if self.name == "building" else (job.component, job.building)


def _load(path: Path):
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelgenError(path, "no such jobs file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise LabelgenError(path, f"cannot read: {getattr(err, 'strerror', None) or err}") from None
    try:  # JSON first: YAML refuses some valid JSON (tab indentation)
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise LabelgenError(path, f"not valid YAML or JSON{where}: {problem}") from None


def read_jobs(path, layout: str = "building", up_axis: str | None = None) -> list[Job]:
    """Read and check a jobs file (see the module documentation), or jobs given as data.

    ``path`` is the jobs file, or its content: a mapping with ``jobs`` (and optional
    ``defaults``), or a list of job mappings; relative paths in data are relative to the
    current folder. ``up_axis`` is the default up axis of the jobs' meshes (a job's or the
    defaults' ``up_axis`` field wins).

    Everything that can be checked without reading meshes and images is: names, kinds,
    unknown fields, tasks, parameters, resolution, field of view, up axes, sample options, that
    the input files and folders exist, and that no two jobs write the same output folder.
    """
    from labelgen.camera._cameras import _check_fov, parse_resolution
    from labelgen.engine._pipeline import resolve_params
    from labelgen.engine import check_tasks

    if isinstance(path, (dict, list)):
        data = {"jobs": path} if isinstance(path, list) else path
        path, base = Path("jobs"), Path.cwd()
    else:
        path = Path(path)
        data = _load(path)
        base = path.resolve().parent

    def bad(where, problem):
        raise LabelgenError(path, f"{where}: {problem}")

    if not isinstance(data, dict):
        bad("top level", "must be a mapping with 'jobs' (and optional 'defaults')")
    extra = set(data) - {"defaults", "jobs"}
    if extra:
        bad("top level", f"unknown field '{sorted(map(str, extra))[0]}' (expected 'defaults' and 'jobs')")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        bad("defaults", "must be a mapping")
    extra = set(defaults) - _DEFAULT_KEYS
    if extra:
        bad("defaults", f"unknown field '{sorted(map(str, extra))[0]}' (expected {', '.join(sorted(_DEFAULT_KEYS))})")
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        bad("jobs", "must be a non-empty list")

    def file_field(where, value, want_dir):
        if not isinstance(value, str) or not value:
            bad(where, "must be a path")
        p = Path(os.path.expanduser(value))
        p = p if p.is_absolute() else base / p
        if not p.exists():
            bad(where, f"no such {'folder' if want_dir else 'file'} {value}")
        if want_dir is not None and p.is_dir() != want_dir:
            bad(where, f"{value} is {'not ' if want_dir else ''}a folder")
        return p

    def tasks_field(where, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = [t.strip() for t in value.split(",") if t.strip()]
        if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
            bad(where, "must be a non-empty list of task names")
        try:
            return check_tasks(value)
        except LabelgenError as err:
            bad(where, err.problem)

    def params_field(where, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            bad(where, "must be a mapping of parameter names to values")
        try:
            resolve_params(value)
        except LabelgenError as err:
            bad(where, str(err))
        except KeyError as err:
            bad(where, err.args[0])
        except (TypeError, ValueError) as err:
            bad(where, f"bad value: {err}")
        return dict(value)

    def resolution_field(where, value):
        if value is None:
            return None
        try:
            parse_resolution(value, where)
        except LabelgenError as err:
            bad(where, err.problem)
        return value

    def fov_field(where, value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad(where, f"must be a number of radians, got {value!r}")
        try:
            _check_fov(float(value), where)
        except LabelgenError as err:
            bad(where, err.problem)
        return float(value)

    d_tasks = tasks_field("defaults.tasks", defaults.get("tasks"))
    d_params = params_field("defaults.params", defaults.get("params"))
    d_res = resolution_field("defaults.resolution", defaults.get("resolution"))
    d_fov = fov_field("defaults.fov", defaults.get("fov"))

    def up_axis_field(where, value):
        from labelgen.io._meshes import UP_AXES

        if value is not None and value not in UP_AXES:
            bad(where, f"must be one of {', '.join(UP_AXES)}, got {value!r}")
        return value

    if up_axis is not None:
        up_axis_field("--up-axis", up_axis)
    d_up = up_axis_field("defaults.up_axis", defaults.get("up_axis", up_axis))
    d_comp = DEFAULT_COMPONENT
    if "component" in defaults:
        try:
            d_comp = check_name(defaults["component"], None, "")
        except LabelgenError as err:
            bad("defaults.component", err.problem)

    out: list[Job] = []
    seen: dict[Any, int] = {}
    for i, entry in enumerate(jobs):
        name = entry.get("building") if isinstance(entry, dict) else None
        ok = isinstance(name, str) and _NAME.fullmatch(name) and not name.endswith(".")
        tag = f"job {i + 1}" + (f" ({name})" if ok else "")
        if not isinstance(entry, dict):
            bad(tag, "must be a mapping")
        if "building" not in entry:
            bad(tag, "building: missing")
        try:
            building = check_name(entry["building"], None, "")
        except LabelgenError as err:
            bad(f"{tag}: building", err.problem)
        try:
            component = check_name(entry.get("component", d_comp), None, "")
        except LabelgenError as err:
            bad(f"{tag}: component", err.problem)
        extra = set(entry) - _JOB_KEYS
        if extra:
            bad(tag, f"unknown field '{sorted(map(str, extra))[0]}'")
        kinds = [k for k in KINDS if k in entry]
        if len(kinds) != 1:
            bad(tag, f"needs exactly one of {', '.join(KINDS)}" + (f", has {', '.join(kinds)}" if kinds else ""))
        kind = kinds[0]
        spec = entry[kind]
        if not isinstance(spec, dict):
            bad(f"{tag}: {kind}", "must be a mapping")
        extra = set(spec) - _KIND_KEYS[kind]
        if extra:
            bad(f"{tag}: {kind}", f"unknown field '{sorted(map(str, extra))[0]}' "
                                  f"(expected {', '.join(sorted(_KIND_KEYS[kind]))})")
        job = Job(i, building, kind, component)
        job.tasks = tasks_field(f"{tag}: tasks", entry["tasks"]) if "tasks" in entry else d_tasks
        job.params = {**d_params, **params_field(f"{tag}: params", entry.get("params"))}
        params_field(f"{tag}: params", job.params)
        job.resolution = resolution_field(f"{tag}: resolution", entry.get("resolution", d_res))
        job.fov = fov_field(f"{tag}: fov", entry.get("fov", d_fov))
        if kind == "render":
            if "mesh" not in spec:
                bad(f"{tag}: render.mesh", "missing")
            job.mesh = file_field(f"{tag}: render.mesh", spec["mesh"], False)
            if ("cameras" in spec) == ("sample" in spec):
                bad(f"{tag}: render", "needs exactly one of 'cameras' and 'sample'")
            if "cameras" in spec:
                job.cameras = file_field(f"{tag}: render.cameras", spec["cameras"], None)
            else:
                job.sample = _sample_field(f"{tag}: render.sample", spec["sample"], job, bad, file_field)
            from labelgen.render._renderers import RENDERERS

            job.up_axis = up_axis_field(f"{tag}: render.up_axis", spec.get("up_axis", d_up))
            if spec.get("semantic_mesh") is not None:
                job.semantic_mesh = file_field(f"{tag}: render.semantic_mesh", spec["semantic_mesh"], False)
            job.renderer = spec.get("renderer", "open3d")
            if job.renderer not in RENDERERS:
                bad(f"{tag}: render.renderer", f"must be one of {', '.join(sorted(RENDERERS))}, got {job.renderer!r}")
        elif kind == "derive":
            if "path" not in spec:
                bad(f"{tag}: derive.path", "missing")
            job.path = file_field(f"{tag}: derive.path", spec["path"], True)
        else:
            if "path" not in spec:
                bad(f"{tag}: validate.path", "missing")
            job.path = file_field(f"{tag}: validate.path", spec["path"], True)
            if spec.get("mesh") is not None:
                job.mesh = file_field(f"{tag}: validate.mesh", spec["mesh"], False)
                job.up_axis = up_axis_field(f"{tag}: validate.up_axis", spec.get("up_axis", d_up))
            preset = spec.get("preset")
            if preset is not None and not isinstance(preset, str):
                bad(f"{tag}: validate.preset", f"must be a name, got {preset!r}")
            job.preset = preset
            if not isinstance(spec.get("fit", False), bool):
                bad(f"{tag}: validate.fit", f"must be true or false, got {spec['fit']!r}")
            job.fit = bool(spec.get("fit", False))
        key = Layout(".", layout).output_key(job)
        if key in seen:
            bad(tag, f"writes the same output folder as job {seen[key] + 1}")
        seen[key] = i
        out.append(job)
    return out


def _sample_field(where, value, job, bad, file_field) -> dict:
    from labelgen.sample._sampling import SampleConfig

    if not isinstance(value, dict):
        bad(where, "must be a mapping of sample options (num_points, seed, ...)")
    known = {f.name for f in dataclasses.fields(SampleConfig)} - {"resolution"}
    kw: dict[str, Any] = {}
    for key, v in value.items():
        if key not in known:
            bad(where, f"unknown option '{key}' (known: {', '.join(sorted(known))})")
        if key in _SAMPLE_PAIRS and v is not None:
            if not isinstance(v, list) or len(v) != 2:
                bad(f"{where}.{key}", f"must be a pair [min, max], got {v!r}")
            v = tuple(v)
        if key == "rooms" and v is not None:
            v = str(file_field(f"{where}.rooms", v, False))
        kw[key] = v
    try:
        from labelgen.camera._cameras import parse_resolution

        cfg = SampleConfig(**kw)
        if job.resolution is not None:
            cfg.resolution = parse_resolution(job.resolution)
        cfg.check()
        if cfg.rooms is not None:
            from labelgen.sample._rooms import read_room_boxes

            read_room_boxes(cfg.rooms)
    except LabelgenError as err:
        opt = (err.where or "").lstrip("-").replace("-", "_")
        bad(f"{where}.{opt}" if opt and opt in known else where, err.problem)
    except (TypeError, ValueError) as err:
        bad(where, f"bad option: {err}")
    return kw
