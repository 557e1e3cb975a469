"""``labelgen sample``: command-line options and runner (kept out of cli.py to merge cleanly)."""
from __future__ import annotations

import argparse
import sys

from .cameras import parse_resolution

EPILOG = """\
Writes DIR/point_info/point_{P}_view_{V}_domain_point_info.json (one fixated view per point and
camera that sees it), DIR/nonfixated/point_{P}_view_all_domain_nonfixatedpose.json and
DIR/camera_poses.json. Render labels for the views with: labelgen render MESH --cameras DIR --out DIR.
See docs/sampling.md.
"""


def _manhattan(text):
    if text in ("world", "estimate"):
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'world', 'estimate' or an angle in degrees, got {text!r}") from None


def add_sample_parser(sub):
    s = sub.add_parser("sample", help="place cameras and points of interest in a mesh and write point_info",
                       description="Place cameras and points of interest in MESH and write Taskonomy point_info "
                                   "JSON for fixated views, nonfixated (point matching) files and camera_poses.json.",
                       epilog=EPILOG)
    s.add_argument("mesh", metavar="MESH", help="mesh file (PLY, OBJ+MTL, GLB/GLTF)")
    s.add_argument("--out", required=True, metavar="DIR", help="output building folder")
    s.add_argument("--mode", choices=("scene", "object"), default="scene",
                   help="scene: cameras inside the building's free space; object: cameras on a sphere around it")
    s.add_argument("--num-cameras", type=int, default=50, metavar="N", help="cameras to place (default 50)")
    s.add_argument("--num-points", type=int, default=None, metavar="N", help="points of interest to keep")
    s.add_argument("--points-per-camera", type=float, default=None, metavar="K",
                   help="points = K * cameras requested (default 5; --num-points wins)")
    s.add_argument("--min-views-per-point", type=int, default=3, metavar="N",
                   help="keep a point only if at least N cameras see it (default 3)")
    s.add_argument("--max-views-per-point", type=int, default=10, metavar="N",
                   help="at most N fixated views per point, chosen at random; 0 = all (default 10)")
    s.add_argument("--camera-height", type=float, nargs=2, default=(1.2, 1.7), metavar=("MIN", "MAX"),
                   help="camera height above the floor below it, metres (scene mode; default 1.2 1.7)")
    s.add_argument("--min-camera-distance", type=float, default=0.5, metavar="M",
                   help="minimum distance between cameras, metres (default 0.5)")
    s.add_argument("--min-mesh-distance", type=float, default=0.2, metavar="M",
                   help="minimum distance from a camera to the mesh, metres (default 0.2)")
    s.add_argument("--max-roll", type=float, default=1.0, metavar="DEG",
                   help="roll of fixated views drawn from [-DEG, DEG] (default 1)")
    s.add_argument("--fov-range", type=float, nargs=2, default=(45.0, 75.0), metavar=("MIN", "MAX"),
                   help="horizontal field of view range, degrees (default 45 75)")
    s.add_argument("--resolution", default="512", metavar="W|WxH", help="image size (default 512)")
    s.add_argument("--view-distance", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="camera-to-point distance range of a view, metres (default 0.3 10; object mode 0.3 inf)")
    s.add_argument("--max-obliqueness", type=float, default=75.0, metavar="DEG",
                   help="largest angle between a view's ray and the point's normal (default 75)")
    s.add_argument("--sphere-radius", type=float, default=None, metavar="M",
                   help="object mode: radius of the camera sphere (default: the mesh's bounding-box diagonal)")
    s.add_argument("--manhattan", type=_manhattan, default="world", metavar="world|estimate|DEG",
                   help="building frame for vanishing points and room boxes: the world axes (Taskonomy), "
                        "estimated from the mesh's face normals, or rotated by DEG about z "
                        "(recorded as model_rotation_degrees)")
    s.add_argument("--rooms", default=None, metavar="JSON",
                   help="named axis-aligned room boxes {name: {x: [min,max], y: [..], z: [..]}} for "
                        "bounding_box_ranges and room (default: estimated per point)")
    s.add_argument("--seed", type=int, default=0, help="random seed (same seed, same output bytes)")
    s.add_argument("--max-candidates", type=int, default=None, metavar="N",
                   help="give up after N candidate points (default max(200 * points, 20000))")
    s.add_argument("--quiet", action="store_true", help="no summary")
    s.add_argument("--verbose", action="store_true", help="report counts of every rejection reason")
    from .cli import add_limit_args, add_up_axis_arg

    add_up_axis_arg(s)
    add_limit_args(s)
    return s


def cmd_sample(args) -> int:
    from .meshes import load_mesh
    from .runner import _check_writable
    from .sampling import SampleConfig, read_room_boxes, sample_building, write_sample

    w, h = parse_resolution(args.resolution, max_pixels=args.max_pixels)
    view_distance = tuple(args.view_distance) if args.view_distance else None
    cfg = SampleConfig(
        mode=args.mode, num_cameras=args.num_cameras, num_points=args.num_points,
        points_per_camera=args.points_per_camera, min_views_per_point=args.min_views_per_point,
        max_views_per_point=args.max_views_per_point, camera_height=tuple(args.camera_height),
        min_camera_distance=args.min_camera_distance, min_mesh_distance=args.min_mesh_distance,
        max_roll_degrees=args.max_roll, fov_degrees=tuple(args.fov_range), resolution=(w, h),
        view_distance=view_distance, max_obliqueness_degrees=args.max_obliqueness,
        sphere_radius=args.sphere_radius, manhattan=args.manhattan, seed=args.seed,
        max_candidates=args.max_candidates)
    cfg.check()
    if args.rooms is not None:
        cfg.rooms = read_room_boxes(args.rooms)
    mesh = load_mesh(args.mesh, up_axis=args.up_axis)
    if args.verbose:
        print(f"labelgen: {args.mesh}: {mesh.summary()}", file=sys.stderr)
    result = sample_building(mesh, cfg)
    _check_writable(__import__("pathlib").Path(args.out))
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
