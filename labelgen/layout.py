"""The Taskonomy building-folder layout (spec section 1).

Current layout: ``{domain}/point_{P}_view_{V}_domain_{domain}.png`` and
``point_info/point_{P}_view_{V}_domain_point_info.json``. Legacy layout: the same with the
legacy domain names (``depth``, ``mist``, ``reshade``, ...) and
``points/point_{P}_view_{V}_domain_fixatedpose.json``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .images import write_png
from .labels import Label, all_labels
from .paths import check_identifier, inside

_FILE = re.compile(r"^point_(?P<point>[^_]+)_view_(?P<view>[^_]+)_domain_(?P<domain>.+)\.(?P<ext>png|json)$")


def label_path(root, domain: str, point, view, ext: str = "png") -> Path:
    """``root/{domain}/point_{P}_view_{V}_domain_{domain}.{ext}``.

    ``point`` and ``view`` must be identifiers (:func:`labelgen.paths.check_identifier`) and
    the path must lie inside ``root`` (checked again here, as a second line of defence).
    """
    point = check_identifier(point, root, "point")
    view = check_identifier(view, root, "view")
    path = Path(root) / domain / f"point_{point}_view_{view}_domain_{domain}.{ext}"
    return inside(root, path)


def point_info_path(root, point, view) -> Path:
    return label_path(root, "point_info", point, view, "json")


def write_label(root, label: Label, point, view, array: np.ndarray) -> Path:
    """Write one encoded label array under its current domain name (atomic)."""
    path = label_path(root, label.name, point, view)
    write_png(path, array)
    return path


#: Image domains read from building folders as inputs even when no label of that name is
#: registered (an RGB image may come from a camera rather than from a render), with their
#: storage ("gray8", "gray16" or "rgb8").
INPUT_DOMAINS = {"rgb": "rgb8"}


def domain_aliases() -> dict[str, str]:
    """Folder/domain names (current and legacy) -> current label name."""
    out = {}
    for lab in all_labels().values():
        out[lab.name] = lab.name
        if lab.legacy_name:
            out.setdefault(lab.legacy_name, lab.name)
    for name in INPUT_DOMAINS:
        out.setdefault(name, name)
    out["point_info"] = "point_info"
    out["fixatedpose"] = "point_info"
    return out


def scan_building(root) -> dict[tuple[str, str], dict[str, Path]]:
    """Find every view's files in a building folder (either layout, or flat).

    Returns ``{(point, view): {label_name_or_"point_info": path}}``. Files directly in
    ``root`` are found too (a folder holding one view's files, as downloaded).
    """
    root = Path(root)
    aliases = domain_aliases()
    views: dict[tuple[str, str], dict[str, Path]] = {}
    candidates = list(root.glob("*")) + list(root.glob("*/*"))
    for path in sorted(candidates):
        if not path.is_file():
            continue
        m = _FILE.match(path.name)
        if not m or m.group("domain") not in aliases:
            continue
        name = aliases[m.group("domain")]
        if (name == "point_info") != (m.group("ext") == "json"):
            continue
        # names from file names become output names: refuse anything but identifiers
        point = check_identifier(m.group("point"), path, "point (from the file name)")
        view = check_identifier(m.group("view"), path, "view (from the file name)")
        entry = views.setdefault((point, view), {})
        # a current-layout file wins over a legacy one for the same label
        if name not in entry or m.group("domain") == name:
            entry[name] = path
    return views
