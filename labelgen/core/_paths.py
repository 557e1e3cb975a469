"""Untrusted identifiers and output paths.

Point, view and camera identifiers come from other people's files (point_info JSON, camera
lists, folder names) and become parts of file names. :func:`check_identifier` accepts only the
forms Taskonomy and Omnidata use (integers, or short tokens of ASCII letters, digits and ``-``);
:func:`inside` checks, as a second line of defence, that a path built for writing stays inside
its output folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from labelgen.core._errors import LabelgenError

#: Longest accepted identifier (a UUID with dashes is 36 characters).
MAX_IDENTIFIER = 64
_IDENTIFIER = re.compile(r"[A-Za-z0-9-]{1,%d}" % MAX_IDENTIFIER)


def check_identifier(value, where, field: str) -> str:
    """``value`` as a string if it is a valid point/view/camera identifier, else LabelgenError.

    Accepted: non-negative integers (``3``, ``"3"``), and tokens of 1-64 ASCII letters, digits
    and ``-`` (``"ab12-cd"``, a UUID). Rejected with a one-line error naming ``where`` (the
    file) and ``field``: anything else, including ``..``, ``/``, ``_`` (the file-name
    separator of the layout), empty strings, NUL bytes, booleans and negative numbers.
    """
    if isinstance(value, bool) or value is None:
        raise LabelgenError(where, f"{field} must be an integer or a token of letters, digits and '-', "
                                   f"got {value!r}")
    if isinstance(value, float) and value.is_integer() and 0 <= value < 10.0 ** MAX_IDENTIFIER:
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise LabelgenError(where, f"{field} must not be negative, got {value}")
        if value >= 10 ** MAX_IDENTIFIER:
            raise LabelgenError(where, f"{field} must have at most {MAX_IDENTIFIER} digits")
        return str(value)
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
        return value
    raise LabelgenError(where, f"{field} must be an integer or a token of 1-{MAX_IDENTIFIER} letters, "
                               f"digits and '-', got {_shown(value)}")


def _shown(value) -> str:
    """``repr(value)``, cut to 80 characters for error messages."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def inside(root, path) -> Path:
    """``path`` if it lies inside folder ``root`` (after resolving ``..`` and links), else error."""
    root_r = Path(os.path.realpath(root))
    path_r = Path(os.path.realpath(path))
    if path_r != root_r and root_r not in path_r.parents:
        raise LabelgenError(path, f"refusing to write outside the output folder {root}")
    return Path(path)


_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_. -]{0,%d}" % (MAX_IDENTIFIER - 1))


def check_name(value, where, field: str) -> str:
    """``value`` if it is a short name (e.g. a room name) safe to show and to use in a file name.

    Accepted: 1-64 ASCII letters, digits, ``_``, ``-``, ``.`` and spaces, not starting with
    ``.`` or a space. Rejected with a one-line error naming ``where`` and ``field``: path
    separators, ``..``, control characters (NUL), empty strings and non-strings.
    """
    if isinstance(value, str) and _NAME.fullmatch(value) and ".." not in value:
        return value
    raise LabelgenError(where, f"{field} must be 1-{MAX_IDENTIFIER} letters, digits, '_', '-', '.' or spaces, "
                               f"got {_shown(value)}")
