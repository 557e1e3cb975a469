"""The ``labelgen`` command line: one module per command (``labelgen.cli._<command>``) over the
shared arguments of :mod:`labelgen.cli._args`, each a thin layer over the Python API.

Every label parameter is also a flag (``--name-with-dashes``), generated from the label
registry, so ``labelgen render --help`` and ``labelgen derive --help`` list them all.
"""
from __future__ import annotations

import argparse
import logging
import sys

from labelgen._version import __version__
from labelgen.cli import _args, _batch, _derive, _render, _sample, _tasks, _validate
from labelgen.core._errors import LabelgenError
from labelgen.core._runtime import configure

#: the commands, in the order ``labelgen --help`` lists them
COMMANDS = {"render": _render, "derive": _derive, "tasks": _tasks, "sample": _sample, "batch": _batch,
            "validate": _validate}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelgen", description=(
        "Taskonomy / Omnidata mid-level vision labels from meshes and cameras."))
    parser.add_argument("--version", action="version", version=f"labelgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line (``argv``: its arguments, default ``sys.argv[1:]``); returns the exit status."""
    logging.basicConfig(format="labelgen: %(message)s", level=logging.WARNING)
    args = build_parser().parse_args(argv)
    configure()
    try:
        return COMMANDS[args.command].run(args)
    except LabelgenError as err:
        print(f"labelgen: error: {err}", file=sys.stderr)
        return getattr(err, "exit_status", _args.EXIT_BAD_INPUT)
    except MemoryError:
        # an allocation failed (a mesh or image too large for this machine): one line, no traceback
        where = getattr(args, "mesh", None) or getattr(args, "building", None) or args.command
        print(f"labelgen: error: {where}: out of memory (the input is too large for this machine; "
              f"try smaller images, fewer workers or a decimated mesh)", file=sys.stderr)
        return _args.EXIT_FAILURES
    except KeyboardInterrupt:
        print("labelgen: interrupted", file=sys.stderr)
        return 130
