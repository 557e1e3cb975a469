"""``labelgen sample``: cameras and points of interest for a mesh, written as point_info."""
from __future__ import annotations

import sys
from pathlib import Path

from labelgen.cli import _args
from labelgen.sample._rooms import read_room_boxes
from labelgen.sample._sampling import SAMPLE_PARAMS, SampleConfig, sample_building, write_sample

EPILOG = """\
Writes DIR/point_info/point_{P}_view_{V}_domain_point_info.json (one fixated view per point and
camera that sees it), DIR/nonfixated/point_{P}_view_all_domain_nonfixatedpose.json and
DIR/camera_poses.json. Render labels for the views with: labelgen render MESH --cameras DIR --out DIR.
"""


_METAVARS = {"mode": "MODE", "camera_height": ("MIN", "MAX"), "fov_degrees": ("MIN", "MAX"),
             "view_distance": ("MIN", "MAX"), "resolution": "W|WxH", "max_roll_degrees": "DEG",
             "max_obliqueness_degrees": "DEG", "min_camera_distance": "M", "min_mesh_distance": "M",
             "sphere_radius": "M", "manhattan": "world|estimate|DEG", "points_per_camera": "K",
             "seed": "SEED"}


def _shown(value):
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) if value[0] != value[-1] or len(value) != 2 else str(value[0])
    return str(value)


def add_parser(sub):
    s = sub.add_parser("sample", help="place cameras and points of interest in a mesh and write point_info",
                       description="Place cameras and points of interest in MESH and write Taskonomy point_info "
                                   "JSON for fixated views, nonfixated (point matching) files and camera_poses.json.",
                       epilog=EPILOG)
    s.add_argument("mesh", metavar="MESH", help="mesh file (PLY, OBJ+MTL, GLB/GLTF)")
    s.add_argument("--out", required=True, metavar="DIR", help="output building folder")
    for p in SAMPLE_PARAMS.values():
        # values are converted and checked in SampleConfig.check (one-line errors naming the flag)
        notes = [p.range_text()] + ([] if p.default is None or "default" in p.help
                                    else [f"default {_shown(p.default)}"])
        notes = "; ".join(n for n in notes if n)
        s.add_argument(p.flag, dest=p.name, default=None, nargs=p.count if p.count > 1 else None,
                       metavar=_METAVARS.get(p.name, "N" if p.type is int else "X"),
                       help=f"{p.help} ({notes})" if notes else p.help)
    s.add_argument("--rooms", default=None, metavar="JSON",
                   help="named axis-aligned room boxes {name: {x: [min,max], y: [..], z: [..]}} for "
                        "bounding_box_ranges and room (default: estimated per point)")
    s.add_argument("--quiet", action="store_true", help="no summary")
    s.add_argument("--verbose", action="store_true", help="report counts of every rejection reason")
    _args.add_up_axis_arg(s)
    _args.add_limit_args(s)
    return s


def run(args) -> int:
    from labelgen.engine._mesh import MeshSpec
    from labelgen.io._images import check_writable as _check_writable

    cfg = SampleConfig(**{name: getattr(args, name) for name in SAMPLE_PARAMS if getattr(args, name) is not None})
    cfg.max_pixels = args.max_pixels
    cfg.check()
    if args.rooms is not None:
        cfg.rooms = read_room_boxes(args.rooms)
    mesh = MeshSpec(args.mesh, up_axis=args.up_axis).load()
    if args.verbose:
        print(f"labelgen: {args.mesh}: {mesh.summary()}", file=sys.stderr)
    result = sample_building(mesh, cfg)
    _check_writable(Path(args.out))
    files = write_sample(result, args.out)
    for w_ in result.warnings:
        print(f"labelgen: warning: {w_}", file=sys.stderr)
    if args.verbose:
        for k, v in result.stats.items():
            print(f"labelgen: {k}: {v}", file=sys.stderr)
    if not args.quiet:
        print(f"labelgen: {len(result.camera_locations)} cameras, {len(result.point_locations)} points, "
              f"{len(result.views)} views, {files} files written", file=sys.stderr)
    return 0
