"""The ``labelgen`` command line: a thin layer over :mod:`labelgen.runner`.

Every label parameter is also a flag (``--name-with-dashes``), generated from the label
registry, so ``labelgen render --help`` and ``labelgen derive --help`` list them all.
"""
from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .cameras import parse_resolution, read_cameras
from .errors import LabelgenError
from .labels import all_labels, all_params
from .meshes import load_mesh
from .rendering import RENDERERS

EXIT_BAD_INPUT = 2
EXIT_FAILURES = 1


def _tasks_arg(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_params(parser):
    group = parser.add_argument_group("label parameters (Taskonomy defaults)")
    for p in sorted(all_params().values(), key=lambda p: p.name):
        group.add_argument(p.flag, dest=f"param_{p.name}", type=p.type, default=None, metavar=p.type.__name__.upper(),
                           help=f"{p.help} (default {p.default})")


def _params_from(args):
    return {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_") and v is not None}


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
    r.add_argument("--verbose", action="store_true", help="report the mesh and cameras")
    r.add_argument("--no-cache", action="store_true",
                   help="do not read or write the cache of per-mesh results such as curvature "
                        "($LABELGEN_CACHE_DIR, default ~/.cache/labelgen)")
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
    _add_params(d)

    sub.add_parser("tasks", help="list every label with its inputs and encoding")

    from .sample_cli import add_sample_parser  # labelgen sample (issue 7)

    add_sample_parser(sub)
    return parser


def _cmd_tasks(args):
    rows = [("label", "legacy", "needs", "stored as", "invalid", "encoding")]
    for lab in all_labels().values():
        rows.append((lab.name, lab.legacy_name or "-", ",".join(lab.requires), lab.storage, lab.invalid, lab.encoding))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return 0


def _report(summary, quiet):
    for line in summary.lines():
        print(f"labelgen: {line}", file=sys.stderr)


def _cmd_render(args):
    from .runner import render_building

    if args.workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    if args.resolution is not None:
        parse_resolution(args.resolution)
    mesh = load_mesh(args.mesh)
    semantic_mesh = load_mesh(args.semantic_mesh) if args.semantic_mesh is not None else None
    cameras = read_cameras(args.cameras, fov=args.fov, resolution=args.resolution, camera_model=args.camera_model)
    if args.verbose:
        print(f"labelgen: {args.mesh}: {mesh.summary()}", file=sys.stderr)
        print(f"labelgen: {args.cameras}: {len(cameras)} cameras", file=sys.stderr)
    summary = render_building(mesh, cameras, args.out, args.tasks, _params_from(args),
                              workers=args.workers, backend=args.renderer, quiet=args.quiet,
                              cache=not args.no_cache, semantic_mesh=semantic_mesh)
    _report(summary, args.quiet)
    return EXIT_FAILURES if summary.failures else 0


def _cmd_derive(args):
    from .runner import derive_building

    if args.workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
    summary = derive_building(args.building, args.out, args.tasks, _params_from(args), workers=args.workers,
                              fov=args.fov, quiet=args.quiet,
                              on_failure=lambda m: print(f"labelgen: error: {m}", file=sys.stderr))
    _report(summary, args.quiet)
    return EXIT_FAILURES if summary.failures else 0


def main(argv=None) -> int:
    logging.basicConfig(format="labelgen: %(message)s", level=logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        from .sample_cli import cmd_sample

        return {"render": _cmd_render, "derive": _cmd_derive, "tasks": _cmd_tasks,
                "sample": cmd_sample}[args.command](args)
    except LabelgenError as err:
        print(f"labelgen: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("labelgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
