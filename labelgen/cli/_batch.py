"""``labelgen batch``: render, derive and validate jobs over many buildings (resumable)."""
from __future__ import annotations

import os
import sys

from labelgen.batch._executors import SCHEDULERS
from labelgen.cli import _args
from labelgen.core._errors import LabelgenError


def add_parser(sub):
    b = sub.add_parser("batch", help="run render/derive/validate jobs over many buildings (resumable)",
                       description="Run the jobs of a YAML/JSON jobs file over many buildings into ROOT. "
                                   "Re-running the same command after a crash computes only what is missing.")
    b.add_argument("jobs", metavar="JOBS", help="jobs file (YAML or JSON)")
    b.add_argument("--out", required=True, metavar="ROOT", help="output folder")
    b.add_argument("--scheduler", choices=SCHEDULERS, default="local",
                   help="local: a process pool on this machine (default); dask: Dask workers")
    b.add_argument("--address", default=None, metavar="TCP_ADDRESS",
                   help="with --scheduler dask: a running scheduler (default: start a LocalCluster)")
    b.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes for local and for a Dask LocalCluster (default 1)")
    b.add_argument("--layout", choices=("building", "omnidata"), default="building",
                   help="building: ROOT/{building}/{domain}/... (default); "
                        "omnidata: ROOT/{domain}/{component}/{building}/...")
    b.add_argument("--force", action="store_true", help="redo every view, even those already done")
    b.add_argument("--quiet", action="store_true", help="no progress bar and no per-building summary")
    _args.add_up_axis_arg(b, "the up axis of the jobs' meshes where a job does not give one (up_axis)")
    return b


def chunk_views_from_env() -> int | None:
    """``LABELGEN_BATCH_CHUNK_VIEWS`` (views per chunk), checked; None when unset."""
    text = os.environ.get("LABELGEN_BATCH_CHUNK_VIEWS")
    if text is None or text.strip() == "":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise LabelgenError("LABELGEN_BATCH_CHUNK_VIEWS", f"must be a positive number of views, got {text!r}")
    return n


def run(args) -> int:
    from labelgen.batch import run_batch

    _args.check_workers(args)
    if args.address and args.scheduler != "dask":
        raise LabelgenError("--address", "needs --scheduler dask")
    result = run_batch(args.jobs, args.out, args.scheduler, args.address, args.workers, args.layout,
                       args.force, args.quiet, chunk_views_from_env(), up_axis=args.up_axis)
    failed = False
    for name, s in result.buildings.items():
        failed = failed or bool(s["failures"])
        for msg in s["failures"]:
            print(f"labelgen: error: {msg}", file=sys.stderr)
        if not args.quiet:
            lost = f", {s['worker_losses']} tasks lost with their worker" if s["worker_losses"] else ""
            print(f"labelgen: {name}: {s['views']} views ({s['computed']} computed, {s['already_done']} already "
                  f"done), {s['files']} files written, {len(s['failures'])} failures{lost}, {s['seconds']:.1f} s",
                  file=sys.stderr)
            for what, n in s["skipped"].items():
                print(f"labelgen: {name}: skipped {what} on {n} views", file=sys.stderr)
    return 1 if failed else 0
