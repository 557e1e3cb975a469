"""The ``labelgen`` command line: a thin layer over :mod:`labelgen.runner`.

Every label parameter is also a flag (``--name-with-dashes``), generated from the label
registry, so ``labelgen render --help`` and ``labelgen derive --help`` list them all.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .cameras import parse_resolution, read_cameras
from .errors import LabelgenError
from .labels import all_labels, all_params
from .limits import MAX_PIXELS, MAX_SIDE, positive_int
from .meshes import UP_AXES, load_mesh
from .pipeline import resolve_params
from .rendering import RENDERERS
from .runtime import configure
from .sample_cli import add_sample_parser, cmd_sample

EXIT_BAD_INPUT = 2
EXIT_FAILURES = 1


def _tasks_arg(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_params(parser):
    group = parser.add_argument_group("label parameters (Taskonomy defaults)")
    for p in sorted(all_params().values(), key=lambda p: p.name):
        # values are converted and checked in resolve_params (one-line errors naming the flag)
        group.add_argument(p.flag, dest=f"param_{p.name}", default=None, metavar=p.type.__name__.upper(),
                           help=f"{p.help} ({'; '.join(filter(None, (p.range_text(), f'default {p.default}')))})")


def add_limit_args(parser):
    """``--max-pixels`` (render, derive, sample; see :mod:`labelgen.limits`)."""
    parser.add_argument("--max-pixels", type=positive_int, default=None, metavar="N",
                        help=f"largest image per view in pixels (default {MAX_PIXELS}, with at most {MAX_SIDE} "
                             f"per side; a larger N also lifts the per-side limit)")


def add_up_axis_arg(parser):
    """``--up-axis`` (render, sample; see :func:`labelgen.meshes.load_mesh`)."""
    parser.add_argument("--up-axis", choices=UP_AXES, default=None,
                        help="the mesh file's up axis: +y files are turned to +z up as Blender's glTF importer "
                             "does, (x, y, z) -> (x, -z, y) (default: +y for glTF/GLB, +z for other formats)")


def _overrides_from(args) -> dict:
    """The label parameters given on the command line, converted and checked."""
    given = {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_") and v is not None}
    resolved = resolve_params(given)
    return {name: resolved[name] for name in given}


def _params_from(args) -> dict:
    """Every label parameter: the defaults updated with those given on the command line."""
    return resolve_params(_overrides_from(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelgen", description=(
        "Taskonomy / Omnidata mid-level vision labels from meshes and cameras."))
    parser.add_argument("--version", action="version", version=f"labelgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render labels of a mesh from cameras into a building folder",
                       description="Render labels of MESH from the cameras in PATH into a Taskonomy-layout folder.")
    r.add_argument("mesh", metavar="MESH", help="mesh file (PLY, OBJ+MTL, GLB/GLTF)")
    r.add_argument("--cameras", required=True, metavar="PATH",
                   help="point_info JSON file or folder, or Omnidata camera_poses.json")
    r.add_argument("--out", required=True, metavar="DIR", help="output building folder")
    r.add_argument("--tasks", type=_tasks_arg, default=None, metavar="T1,T2,...",
                   help="labels to render (default: every label the mesh and inputs allow)")
    r.add_argument("--resolution", default=None, metavar="W|WxH", help="override the cameras' resolution")
    r.add_argument("--fov", type=float, default=None, metavar="RADIANS",
                   help="override the cameras' horizontal field of view (required for camera_poses.json)")
    r.add_argument("--workers", type=int, default=1, metavar="N", help="processes to render with (default 1)")
    r.add_argument("--renderer", choices=sorted(RENDERERS), default="open3d",
                   help="open3d: Embree ray casting (default); pyrender: OpenGL rasterisation (EGL when headless)")
    r.add_argument("--camera-model", choices=("perspective", "equirectangular"), default=None,
                   help="render every camera as this model (default: each camera's camera_model field, else "
                        "perspective); equirectangular: 2H x H panoramas named point_{P}_view_equirectangular")
    r.add_argument("--semantic-mesh", default=None, metavar="PATH",
                   help="labelled mesh aligned with MESH to read the semantic label from (PLY with face "
                        "object_id or colours, OBJ with materials)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--verbose", action="store_true", help="report the mesh, the cameras and the processes")
    r.add_argument("--no-cache", action="store_true",
                   help="do not read or write the cache of per-mesh results such as curvature "
                        "($LABELGEN_CACHE_DIR, default ~/.cache/labelgen)")
    add_up_axis_arg(r)
    add_limit_args(r)
    _add_params(r)

    d = sub.add_parser("derive", help="recompute image-derived labels from an existing building folder",
                       description="Compute labels from the files of an existing building folder (either layout).")
    d.add_argument("building", metavar="BUILDING_DIR")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (same naming)")
    d.add_argument("--tasks", type=_tasks_arg, default=None, metavar="T1,T2,...",
                   help="labels to compute (default: every label computable from images)")
    d.add_argument("--fov", type=float, default=None, metavar="RADIANS", help="override point_info's field of view")
    d.add_argument("--workers", type=int, default=1, metavar="N", help="processes (default 1)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--verbose", action="store_true")
    add_limit_args(d)
    _add_params(d)

    sub.add_parser("tasks", help="list every label with its inputs and encoding")

    add_sample_parser(sub)
    from .batch import add_batch_parser  # labelgen batch (issue 11)

    add_batch_parser(sub)

    from .validate_cli import add_validate_parser  # labelgen validate (issue 10)

    add_validate_parser(sub, _add_params)
    return parser


def _cmd_tasks(args):
    rows = [("label", "legacy", "needs", "stored as", "invalid", "what: encoding")]
    for lab in all_labels().values():
        rows.append((lab.name, lab.legacy_name or "-", ",".join(lab.requires), lab.storage, lab.invalid,
                     f"{lab.description}: {lab.encoding}" if lab.description else lab.encoding))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return 0


def _report(summary):
    for line in summary.lines():
        print(f"labelgen: {line}", file=sys.stderr)


def _cmd_render(args):
    from .runner import render_building

    if args.workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    if args.resolution is not None:
        parse_resolution(args.resolution, max_pixels=args.max_pixels)
    cameras = read_cameras(args.cameras, fov=args.fov, resolution=args.resolution, max_pixels=args.max_pixels,
                           camera_model=args.camera_model)
    mesh = load_mesh(args.mesh, up_axis=args.up_axis)
    semantic_mesh = load_mesh(args.semantic_mesh, up_axis=args.up_axis) if args.semantic_mesh is not None else None
    if args.verbose:
        logging.getLogger("labelgen").setLevel(logging.INFO)
        print(f"labelgen: {args.mesh}: {mesh.summary()}", file=sys.stderr)
        print(f"labelgen: {args.cameras}: {len(cameras)} cameras", file=sys.stderr)
    summary = render_building(mesh, cameras, args.out, args.tasks, _params_from(args),
                              workers=args.workers, backend=args.renderer, quiet=args.quiet,
                              cache=not args.no_cache, semantic_mesh=semantic_mesh)
    _report(summary)
    failed = _requested_but_never_made(summary, args.tasks, len(cameras))
    return EXIT_FAILURES if summary.failures or failed else 0


def _requested_but_never_made(summary, tasks, views) -> bool:
    """Report, as errors, tasks named in --tasks that no view could make because of a bad input
    file (the skip reason names it: a missing MTL or texture for rgb, say); True if any.
    Tasks skipped for other reasons (a mesh without colours) stay skips."""
    if not tasks:
        return False
    from .runner import check_tasks

    wanted = set(check_tasks(tasks))
    failed = False
    for (task, reason), n in sorted(summary.skipped.items()):
        head = reason.split(": ", 1)[0] if ": " in reason else ""
        names_file = bool(head) and ("/" in head or "\\" in head or bool(Path(head).suffix))
        if task in wanted and n >= views and names_file:
            print(f"labelgen: error: {reason} ({task} could not be made on any view)", file=sys.stderr)
            failed = True
    return failed


def _cmd_derive(args):
    from .runner import derive_building

    if args.workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    summary = derive_building(args.building, args.out, args.tasks, _params_from(args), workers=args.workers,
                              fov=args.fov, quiet=args.quiet, max_pixels=args.max_pixels,
                              on_failure=lambda m: print(f"labelgen: error: {m}", file=sys.stderr))
    _report(summary)
    return EXIT_FAILURES if summary.failures else 0


def main(argv=None) -> int:
    logging.basicConfig(format="labelgen: %(message)s", level=logging.WARNING)
    args = build_parser().parse_args(argv)
    configure()
    try:
        from .batch import cmd_batch

        from .validate_cli import cmd_validate

        if args.command == "validate":
            return cmd_validate(args, _overrides_from(args))
        return {"render": _cmd_render, "derive": _cmd_derive, "tasks": _cmd_tasks,
                "sample": cmd_sample, "batch": cmd_batch}[args.command](args)
    except LabelgenError as err:
        print(f"labelgen: error: {err}", file=sys.stderr)
        return getattr(err, "exit_status", EXIT_BAD_INPUT)
    except MemoryError:
        # an allocation failed (a mesh or image too large for this machine): one line, no traceback
        where = getattr(args, "mesh", None) or getattr(args, "building", None) or args.command
        print(f"labelgen: error: {where}: out of memory (the input is too large for this machine; "
              f"try smaller images, fewer workers or a decimated mesh)", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print("labelgen: interrupted", file=sys.stderr)
        return 130

