"""What the commands share: label-parameter flags, limits, the up axis, exit statuses, summaries."""
from __future__ import annotations

import sys
from pathlib import Path

from labelgen.core._limits import MAX_PIXELS, MAX_SIDE, positive_int
from labelgen.engine._pipeline import resolve_params
from labelgen.io._meshes import UP_AXES
from labelgen.labels import all_params

EXIT_BAD_INPUT = 2
EXIT_FAILURES = 1

def tasks_arg(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def add_params(parser):
    """One flag per label parameter (generated from the label registry)."""
    group = parser.add_argument_group("label parameters (Taskonomy defaults)")
    for p in sorted(all_params().values(), key=lambda p: p.name):
        # values are converted and checked in resolve_params (one-line errors naming the flag)
        group.add_argument(p.flag, dest=f"param_{p.name}", default=None, metavar=p.type.__name__.upper(),
                           help=f"{p.help} ({'; '.join(filter(None, (p.range_text(), f'default {p.default}')))})")


def add_limit_args(parser):
    """``--max-pixels`` (render, derive, sample, validate; see :mod:`labelgen.core._limits`)."""
    parser.add_argument("--max-pixels", type=positive_int, default=None, metavar="N",
                        help=f"largest image per view in pixels (default {MAX_PIXELS}, with at most {MAX_SIDE} "
                             f"per side; a larger N also lifts the per-side limit)")


def add_up_axis_arg(parser, what="the mesh file's up axis"):
    """``--up-axis`` (render, sample, validate, batch; see :func:`labelgen.io.load_mesh`)."""
    parser.add_argument("--up-axis", choices=UP_AXES, default=None,
                        help=f"{what}: +y files are turned to +z up as Blender's glTF importer "
                             "does, (x, y, z) -> (x, -z, y) (default: +y for glTF/GLB, +z for other formats)")


def overrides_from(args) -> dict:
    """The label parameters given on the command line, converted and checked."""
    given = {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_") and v is not None}
    resolved = resolve_params(given)
    return {name: resolved[name] for name in given}


def params_from(args) -> dict:
    """Every label parameter: the defaults updated with those given on the command line."""
    return resolve_params(overrides_from(args))


def report(summary):
    """A job summary's lines on stderr."""
    for line in summary.lines():
        print(f"labelgen: {line}", file=sys.stderr)


def check_workers(args):
    from labelgen.core._errors import LabelgenError

    if args.workers < 1:
        raise LabelgenError("--workers", "must be at least 1")
