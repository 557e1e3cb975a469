"""``labelgen derive``: image-derived labels recomputed from an existing building folder."""
from __future__ import annotations

import sys

from labelgen.cli import _args


def add_parser(sub):
    d = sub.add_parser("derive", help="recompute image-derived labels from an existing building folder",
                       description="Compute labels from the files of an existing building folder (either layout).")
    d.add_argument("building", metavar="BUILDING_DIR")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (same naming)")
    d.add_argument("--tasks", type=_args.tasks_arg, default=None, metavar="T1,T2,...",
                   help="labels to compute (default: every label computable from images)")
    d.add_argument("--fov", type=float, default=None, metavar="RADIANS", help="override point_info's field of view")
    d.add_argument("--workers", type=int, default=1, metavar="N", help="processes (default 1)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--verbose", action="store_true")
    _args.add_limit_args(d)
    _args.add_params(d)
    return d


def run(args) -> int:
    from labelgen.engine import derive_building

    _args.check_workers(args)
    summary = derive_building(args.building, args.out, args.tasks, _args.params_from(args), workers=args.workers,
                              fov=args.fov, quiet=args.quiet, max_pixels=args.max_pixels,
                              on_failure=lambda m: print(f"labelgen: error: {m}", file=sys.stderr))
    _args.report(summary)
    return _args.EXIT_FAILURES if summary.failures else 0
