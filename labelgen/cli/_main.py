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

#: each command's documentation page (the last line of its ``--help``)
DOCS = {None: "README.md", "render": "docs/render.md", "derive": "docs/render.md", "tasks": "docs/labels.md",
        "sample": "docs/sampling.md", "batch": "docs/batch.md", "validate": "docs/validate.md"}


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, keeping the epilog's paragraphs (blank-line separated) apart."""

    def _fill_text(self, text, width, indent):
        return "\n\n".join(super(_HelpFormatter, self)._fill_text(part, width, indent)
                            for part in text.split("\n\n"))


def _docs_line(parser: argparse.ArgumentParser, command: str | None):
    line = f"Documentation: {DOCS[command]} (in the labelgen source tree)"
    parser.epilog = f"{parser.epilog.rstrip()}\n\n{line}" if parser.epilog else line
    parser.formatter_class = _HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelgen", description=(
        "Taskonomy / Omnidata mid-level vision labels from meshes and cameras."))
    parser.add_argument("--version", action="version", version=f"labelgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        _docs_line(module.add_parser(sub), name)
    _docs_line(parser, None)
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
