"""The Taskonomy building-folder layout (spec section 1): file names, and the one folder scanner.

Current layout: ``{domain}/point_{P}_view_{V}_domain_{domain}.png`` and
``point_info/point_{P}_view_{V}_domain_point_info.json``. Legacy layout: the same with the
legacy domain names (``depth``, ``mist``, ``reshade``, ...) and
``points/point_{P}_view_{V}_domain_fixatedpose.json``.

Folders of buildings are found in these layouts (:func:`find_buildings`): a building folder
(current or legacy layout, or a flat folder of files); a folder of building folders; the
Omnidata download layout ``ROOT/{domain}/{component}/{building}/...``; the per-domain layout
``ROOT/{domain}/{building}/...``. A file whose name holds no valid point or view identifier is
recorded in :attr:`Building.bad_files` (the other files go on).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from labelgen.core._errors import LabelgenError
from labelgen.core._paths import check_identifier, inside
from labelgen.labels import all_labels

__all__ = ["label_path", "point_info_path", "INPUT_DOMAINS", "domain_aliases", "label_of_file", "Building",
           "scan_building", "find_buildings"]

FILE_NAME = re.compile(r"^point_(?P<point>[^_]+)_view_(?P<view>[^_]+)_domain_(?P<domain>.+)\.(?P<ext>png|json)$")

#: Image domains read from building folders as inputs even when no label of that name is
#: registered (an RGB image may come from a camera rather than from a render), with their
#: storage ("gray8", "gray16" or "rgb8").
INPUT_DOMAINS = {"rgb": "rgb8"}


def label_path(root, domain: str, point, view, ext: str = "png", folder: str = "{domain}") -> Path:
    """``root/{folder}/point_{P}_view_{V}_domain_{domain}.{ext}``, ``folder`` with ``{domain}``
    in place of the domain (the building layout's folder is the domain itself).

    ``point`` and ``view`` must be identifiers (:func:`labelgen.core.check_identifier`) and
    the path must lie inside ``root`` (checked again here, as a second line of defence).
    """
    point = check_identifier(point, root, "point")
    view = check_identifier(view, root, "view")
    path = Path(root) / folder.replace("{domain}", domain) / f"point_{point}_view_{view}_domain_{domain}.{ext}"
    return inside(root, path)


def point_info_path(root, point, view, folder: str = "{domain}") -> Path:
    return label_path(root, "point_info", point, view, "json", folder)


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


def label_of_file(file_name: str) -> str:
    """The label (current name) a layout file name holds, or the name itself."""
    m = FILE_NAME.match(file_name)
    return domain_aliases().get(m.group("domain"), m.group("domain")) if m else file_name


@dataclass
class Building:
    """A building folder's files: ``views[(point, view)][label or "point_info"] = path``."""

    name: str
    component: str | None = None
    views: dict[tuple[str, str], dict[str, Path]] = field(default_factory=dict)
    #: files whose names hold no valid point or view identifier: (path, problem)
    bad_files: list[tuple[Path, str]] = field(default_factory=list)

    def add(self, path: Path, aliases: dict[str, str]) -> None:
        """Take ``path`` if its name is a layout file name (others are not the building's)."""
        m = FILE_NAME.match(path.name)
        if not m or m.group("domain") not in aliases:
            return
        name = aliases[m.group("domain")]
        if (name == "point_info") != (m.group("ext") == "json"):
            return
        try:  # names from file names become output names: only identifiers
            point = check_identifier(m.group("point"), path, "point (from the file name)")
            view = check_identifier(m.group("view"), path, "view (from the file name)")
        except LabelgenError as err:
            self.bad_files.append((path, err.problem))
            return
        entry = self.views.setdefault((point, view), {})
        # a current-layout file wins over a legacy one for the same label
        if name not in entry or m.group("domain") == name:
            entry[name] = path

    def bad_file_errors(self) -> list[str]:
        """One message per badly named file, ``"<path>: <problem>"``."""
        return [str(LabelgenError(path, problem)) for path, problem in self.bad_files]


def scan_building(root, component: str | None = None) -> Building:
    """Every view's files in one building folder (either layout, or flat: files directly in
    ``root`` are found too, a folder holding one view's files as downloaded)."""
    root = Path(root)
    b = Building(root.resolve().name or "building", component)
    aliases = domain_aliases()
    for path in sorted(list(root.glob("*")) + list(root.glob("*/*"))):
        if path.is_file():
            b.add(path, aliases)
    return b


def find_buildings(root) -> list[Building]:
    """Every building under ``root``, in any of the layouts of the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise LabelgenError(root, "no such folder")
    aliases = domain_aliases()
    folders = set(aliases) | {"points"}  # legacy point_info folder
    here = root.resolve().name or "building"
    found: dict[tuple[str | None, str], Building] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        if len(rel) >= 3:
            dirnames[:] = []
        dirnames.sort()
        if len(rel) == 0:
            key = (None, here)                      # ROOT/file (one flat building)
        elif rel[0] in folders:
            if len(rel) == 1:
                key = (None, here)                  # ROOT/{domain}/file (a building folder)
            elif len(rel) == 2:
                key = (None, rel[1])                # ROOT/{domain}/{building}/file
            else:
                key = (rel[1], rel[2])              # ROOT/{domain}/{component}/{building}/file
        elif len(rel) == 1 or (len(rel) == 2 and rel[1] in folders):
            key = (None, rel[0])                    # ROOT/{building}/[{domain}/]file
        elif len(rel) == 3 and rel[2] in folders:
            key = (rel[0], rel[1])                  # ROOT/{component}/{building}/{domain}/file
        else:
            continue
        for fname in sorted(filenames):
            m = FILE_NAME.match(fname)
            if m and m.group("domain") in aliases:
                b = found.setdefault(key, Building(key[1], key[0]))
                b.add(Path(dirpath) / fname, aliases)
    return [found[k] for k in sorted(found, key=lambda k: (k[0] or "", k[1]))]
