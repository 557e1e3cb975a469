"""``labelgen render``: labels of a mesh from cameras into a building folder."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from labelgen.camera._cameras import parse_resolution, read_cameras
from labelgen.cli import _args
from labelgen.render._renderers import RENDERERS


def add_parser(sub):
    r = sub.add_parser("render", help="render labels of a mesh from cameras into a building folder",
                       description="Render labels of MESH from the cameras in PATH into a Taskonomy-layout folder.")
    r.add_argument("mesh", metavar="MESH", help="mesh file (PLY, OBJ+MTL, GLB/GLTF)")
    r.add_argument("--cameras", required=True, metavar="PATH",
                   help="point_info JSON file or folder, or Omnidata camera_poses.json")
    r.add_argument("--out", required=True, metavar="DIR", help="output building folder")
    r.add_argument("--tasks", type=_args.tasks_arg, default=None, metavar="T1,T2,...",
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
    _args.add_up_axis_arg(r)
    _args.add_limit_args(r)
    _args.add_params(r)
    return r


def run(args) -> int:
    from labelgen.engine import MeshSpec, render_building

    _args.check_workers(args)
    if args.resolution is not None:
        parse_resolution(args.resolution, max_pixels=args.max_pixels)
    cameras = read_cameras(args.cameras, fov=args.fov, resolution=args.resolution, max_pixels=args.max_pixels,
                           camera_model=args.camera_model)
    spec = MeshSpec(args.mesh, up_axis=args.up_axis, semantic=args.semantic_mesh)
    mesh = spec.load()
    if args.verbose:
        logging.getLogger("labelgen").setLevel(logging.INFO)
        print(f"labelgen: {args.mesh}: {mesh.summary()}", file=sys.stderr)
        print(f"labelgen: {args.cameras}: {len(cameras)} cameras", file=sys.stderr)
    summary = render_building(mesh, cameras, args.out, args.tasks, _args.params_from(args),
                              workers=args.workers, backend=args.renderer, quiet=args.quiet,
                              cache=not args.no_cache)
    _args.report(summary)
    failed = _requested_but_never_made(summary, args.tasks, len(cameras))
    return _args.EXIT_FAILURES if summary.failures or failed else 0


def _requested_but_never_made(summary, tasks, views) -> bool:
    """Report, as errors, tasks named in --tasks that no view could make because of a bad input
    file (the skip reason names it: a missing MTL or texture for rgb, say); True if any.
    Tasks skipped for other reasons (a mesh without colours) stay skips."""
    if not tasks:
        return False
    from labelgen.engine import check_tasks

    wanted = set(check_tasks(tasks))
    failed = False
    for (task, reason), n in sorted(summary.skipped.items()):
        head = reason.split(": ", 1)[0] if ": " in reason else ""
        names_file = bool(head) and ("/" in head or "\\" in head or bool(Path(head).suffix))
        if task in wanted and n >= views and names_file:
            print(f"labelgen: error: {reason} ({task} could not be made on any view)", file=sys.stderr)
            failed = True
    return failed
