"""The ``labelgen`` command line: a thin layer over the Python API, one module per command."""

from labelgen.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
