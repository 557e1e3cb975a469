"""``labelgen validate``: check shipped label files against their recomputation (JSON + HTML report)."""
from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

from labelgen.cli import _args
from labelgen.core._errors import LabelgenError
from labelgen.validate._presets import PRESETS

#: Threshold flags: flag -> threshold key (applies to every label that uses the key).
THRESHOLD_FLAGS = {
    "--min-exact": ("min_exact", "fraction of pixels that must be exactly equal (default 0.99)"),
    "--min-within1": ("min_within1", "fraction of pixels that must be within 1 unit (default 0.999; "
                                     "depth_euclidean_vs_depth_zbuffer 0.99)"),
    "--min-ari": ("min_ari", "segmentations: smallest adjusted Rand index (default 0.9)"),
    "--min-pearson": ("min_pearson", "keypoints3d: smallest Pearson r (default 0.99)"),
    "--max-median-abs": ("max_median_abs", "keypoints3d: largest median absolute difference (default 1)"),
    "--point-info-atol": ("atol", "point_info: absolute tolerance per field (default 1e-4)"),
}


def _threshold_arg(text):
    """``LABEL:KEY=VALUE`` -> (label, key, value)."""
    try:
        left, value = text.split("=", 1)
        label, key = left.split(":", 1) if ":" in left else ("*", left)
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LABEL:KEY=NUMBER, got '{text}'") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"threshold must be finite, got '{value}'")
    return label.strip(), key.strip(), v


def add_parser(sub):
    v = sub.add_parser(
        "validate", help="check shipped label files against their recomputation (JSON + HTML report)",
        description="Recompute each label file of a building (folder, Omnidata download or per-domain "
                    "layout) from its inputs (and, with --mesh, from the mesh) and compare. Each file is "
                    "passed, failed, or unchecked (with the reason: an input is missing, or the label cannot "
                    "be recomputed from what ships). Exit status: 0 nothing failed, 1 some file failed (or, "
                    "with --strict, was left unchecked), 2 bad input.")
    v.add_argument("path", metavar="PATH", help="building folder, a folder of them, or a download root")
    v.add_argument("--mesh", default=None, metavar="MESH", help="mesh of the building: check the mesh-rendered labels too")
    v.add_argument("--tasks", type=_args.tasks_arg, default=None, metavar="T1,T2,...",
                   help="labels and checks to validate (default: all that can be; checks: point_info, "
                        "depth_euclidean_vs_depth_zbuffer, mask_valid_vs_depth_zbuffer)")
    v.add_argument("--preset", default=None, metavar="NAME",
                   help=f"parameters of a dataset component: {', '.join(PRESETS)} (default: from the "
                        "download layout's component folder, else Taskonomy)")
    v.add_argument("--fit", action="store_true",
                   help="estimate parameters from the shipped files first: per view the field of view (views "
                        "without point_info) and canny_sigma; per building depth_units_per_meter, support_size, "
                        "seg25d_edge_weight and doh_integral (confirmed on one view, searched only if not)")
    v.add_argument("--strict", action="store_true",
                   help="count files that could not be checked (unchecked) as failures in the exit status")
    v.add_argument("--report", default="validation", metavar="DIR", help="report folder (default: validation)")
    v.add_argument("--fov", type=float, default=None, metavar="RADIANS", help="field of view for views without point_info")
    _args.add_limit_args(v)
    _args.add_up_axis_arg(v, "the --mesh file's up axis")
    v.add_argument("--workers", type=int, default=1, metavar="N", help="processes (default 1)")
    v.add_argument("--worst", type=int, default=3, metavar="N",
                   help="thumbnails of the N worst files per building and label (default 3)")
    v.add_argument("--quiet", action="store_true", help="no progress bar and no per-file failure lines")
    g = v.add_argument_group("thresholds (defaults per label: see docs/validate.md)")
    for flag, (key, help_) in THRESHOLD_FLAGS.items():
        g.add_argument(flag, dest=f"th_{key}", type=float, default=None, metavar="X", help=help_)
    g.add_argument("--threshold", action="append", type=_threshold_arg, default=[], metavar="LABEL:KEY=X",
                   help="one label's threshold, e.g. keypoints3d:min_pearson=0.95 (repeatable)")
    _args.add_params(v)
    return v


def run(args) -> int:
    params = _args.overrides_from(args)
    from labelgen.io._images import check_writable
    from labelgen.validate._report import write_report
    from labelgen.validate import find_buildings, validate_buildings

    _args.check_workers(args)
    if args.worst < 0:
        raise LabelgenError("--worst", "must not be negative")
    thresholds: dict[str, dict[str, float]] = {}
    for key in ("min_exact", "min_within1", "min_ari", "min_pearson", "max_median_abs", "atol"):
        value = getattr(args, f"th_{key}")
        if value is not None:
            thresholds.setdefault("*", {})[key] = value
    for label, key, value in args.threshold:
        thresholds.setdefault(label, {})[key] = value
    if args.mesh is not None and not Path(args.mesh).is_file():
        raise LabelgenError(args.mesh, "no such mesh file")
    if args.up_axis is not None and args.mesh is None:
        raise LabelgenError("--up-axis", "is the up axis of --mesh: give --mesh too")
    out = check_writable(args.report, "report folder")
    buildings = find_buildings(args.path)
    if not buildings:
        raise LabelgenError(args.path, "no Taskonomy/Omnidata label files found")
    result = validate_buildings(buildings, args.mesh, args.tasks, params, args.preset, args.fit,
                                args.workers, args.fov, thresholds, args.quiet, keep_worst=args.worst,
                                max_pixels=args.max_pixels, up_axis=args.up_axis)
    report = result.to_dict()
    page = write_report(result, out)
    failed = [r for r in report["files"] if r["verdict"] == "failed"]
    for r in failed:  # files that could not be read at all: one error line each, as derive does
        if r["error"] and r.get("file") and r["exact"] is None and r["ari"] is None and r["pearson"] is None \
                and not r.get("fields"):
            print(f"labelgen: error: {r['file']}: {r['error']}", file=sys.stderr)
    if not args.quiet:
        for r in failed[:20]:
            where = r["building"] if r["component"] is None else f"{r['component']}/{r['building']}"
            print(f"labelgen: FAIL {where} point {r['point']} view {r['view']} {r['label']}: {r['error']}",
                  file=sys.stderr)
        if len(failed) > 20:
            print(f"labelgen: ... and {len(failed) - 20} more failures", file=sys.stderr)
        reasons = Counter(r["reason"] for r in report["files"] if r["verdict"] == "unchecked")
        for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"labelgen: unchecked: {n} file{'s' if n != 1 else ''}: {reason}", file=sys.stderr)
    s = report["summary"]
    print(f"labelgen: validated {len(buildings)} building(s): {s['files']} files, {s['passed']} passed, "
          f"{s['failed']} failed, {s['unchecked']} unchecked; report: {page}", file=sys.stderr)
    return 0 if result.ok(strict=args.strict) else _args.EXIT_FAILURES
