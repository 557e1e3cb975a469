"""The one per-view path: a view's labels from a render or from a building folder's files, and
the one writer of a view's files.

Every job goes through these: ``render``/``render_building`` and batch render chunks through
:func:`render_labels`, ``derive``/batch derive chunks and ``validate`` through
:func:`derive_labels` (validate compares instead of writing), and every writer through
:class:`ViewWriter`.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from labelgen.camera._cameras import PANORAMA_VIEW, Camera
from labelgen.core._errors import LabelgenError
from labelgen.engine._layout import label_path
from labelgen.engine._pipeline import LazySources, compute_view, plan
from labelgen.engine._sources import check_sizes, missing_files, view_sources
from labelgen.engine._tasks import Summary
from labelgen.io._images import encode_png, write_bytes_atomic
from labelgen.labels import all_labels
from labelgen.render._panorama import split_tasks

__all__ = ["render_labels", "derive_labels", "ViewWriter", "json_bytes"]


def render_labels(renderer, camera: Camera, tasks: list[str], params: dict):
    """Encoded arrays of ``tasks`` (checked names) for one camera, and the tasks that could not be
    made with the reason: ``(labels, skipped)``. ``params`` are resolved parameters."""
    tasks, not_here = split_tasks(tasks, camera)  # panoramas: only the labels defined on a sphere
    gbuffer = renderer.render(camera)
    sources = LazySources(gbuffer=gbuffer, camera=camera, mesh=renderer.mesh)
    labels, skipped = compute_view(tasks, sources, params)
    skipped.update(not_here)
    return labels, skipped


def derive_labels(files: dict[str, Path], point, view, tasks, params, fov=None, max_pixels=None
                  ) -> tuple[dict[str, np.ndarray], Summary]:
    """Encoded arrays of ``tasks`` for one view of a building folder, from its ``files``, and a
    :class:`Summary` of the tasks skipped and the failures (its ``views`` and ``files`` left 0).

    Input files are read by their content (:func:`labelgen.engine._sources.read_shipped`: JPEG
    data under a ``.png`` name, an RGBA rgb), each such file counted in the summary's ``notes``.
    Each input file that cannot be used is reported (one failure per file) and the tasks that
    need it are not made; the other tasks of the view still are. Inputs of different sizes fail
    the whole view.
    """
    summary = Summary()
    if view == PANORAMA_VIEW:  # Omnidata panorama files: the image-derived labels need an image plane
        tasks, not_here = split_tasks(tasks, Camera.from_euler([0, 0, 0], [0, 0, 0], 1.0, 2, 1, model="equirectangular"))
        for task, reason in not_here.items():
            summary.skipped[(task, reason)] += 1
        if not tasks:
            return {}, summary
    sources = view_sources(files, point, view, fov, max_pixels=max_pixels, params=params)
    order, skipped = plan(tasks, sources)
    registry = all_labels()
    for task, reason in skipped.items():
        missing = missing_files(registry[task], sources, registry)
        if missing:
            reason = "no " + ", ".join(sorted(missing)) + " file"
        summary.skipped[(task, reason)] += 1
    if not order:
        return {}, summary
    used = sorted({r for name in order for r in registry[name].requires if r in sources})
    good = {}
    for r in used:
        try:
            good[r] = sources[r]
        except LabelgenError as err:
            summary.failures.append(str(err))
    for name, notes in sorted(sources.notes.items()):
        for note in notes:
            summary.notes[(name, note)] += 1
    try:
        check_sizes(good, files)
        labels, _ = compute_view([t for t in tasks if t not in skipped], LazySources(**good), params)
    except LabelgenError as err:
        summary.failures.append(str(err))
        return {}, summary
    return labels, summary


def json_bytes(obj) -> bytes:
    """The bytes a JSON file of labelgen holds (keys in insertion order, one-space indent)."""
    return (json.dumps(obj, indent=1) + "\n").encode()


_ENCODERS: list = [None]
_ENCODERS_LOCK = threading.Lock()


def _encoders() -> ThreadPoolExecutor:
    """The threads that encode and write PNGs, started on first use (anew in a forked child)."""
    with _ENCODERS_LOCK:
        if _ENCODERS[0] is None:
            _ENCODERS[0] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="labelgen-png")
        return _ENCODERS[0]


def _forget_encoders():  # a forked child has no threads of its parent's pool
    global _ENCODERS_LOCK
    _ENCODERS[0] = None
    _ENCODERS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_encoders)


def _write(path: Path, data: bytes, digest: bool, root=None) -> tuple[int, str | None]:
    write_bytes_atomic(path, data, root)
    return len(data), hashlib.sha256(data).hexdigest() if digest else None


def _encode_and_write(path: Path, array: np.ndarray, digest: bool, root=None) -> tuple[int, str | None]:
    return _write(path, encode_png(array), digest, root)


class ViewWriter:
    """Writes views into the folder ``root``: each label of a view as a PNG, its point_info as JSON.

    Every path is built from identifiers checked here and must stay inside ``root``; every file
    is written under a temporary name and renamed into place (never partial under its final
    name), with the mode ``open()`` gives under the current umask. ``folder`` is each domain's
    folder relative to ``root`` with ``{domain}`` in place of the domain name (the building
    layout's is ``"{domain}"``; see :class:`labelgen.batch.Layout`). ``digests``: record each
    file's SHA-256 (the batch journal's check), else None in its place. ``make_root``: create
    ``root`` when it is missing; False: it must exist, and only the folders below it are
    created (a write into an output folder deleted or moved away meanwhile fails,
    :class:`~labelgen.core.OutputError` with ``ENOENT``, instead of making it again).
    """

    def __init__(self, root, folder: str = "{domain}", digests: bool = False, make_root: bool = True):
        self.root = Path(root)
        self.folder = folder
        self.digests = digests
        self._keep = None if make_root else self.root  # the folder write_bytes_atomic never creates

    def paths(self, point, view, domains, point_info: bool = True) -> list[Path]:
        """The files a view's ``domains`` (and point_info) go to (identifiers checked)."""
        out = [label_path(self.root, d, point, view, folder=self.folder) for d in domains]
        if point_info:
            out.append(label_path(self.root, "point_info", point, view, "json", self.folder))
        return out

    def write(self, point, view, labels: dict[str, np.ndarray], point_info: dict | None = None) -> dict[str, list]:
        """Write one view (PNG encoding in threads); returns ``{path relative to root: [size, sha256]}``
        of the files written (sha256 None unless ``digests``), labels first in the order given,
        then point_info."""
        names = list(labels)
        paths = self.paths(point, view, names, point_info=point_info is not None)
        futures = [_encoders().submit(_encode_and_write, path, labels[name], self.digests, self._keep)
                   for name, path in zip(names, paths)]
        errors = [fut.exception() for fut in futures]  # every write has ended before any error is raised
        if any(errors):
            raise next(e for e in errors if e is not None)
        results = [fut.result() for fut in futures]
        if point_info is not None:
            results.append(_write(paths[-1], json_bytes(point_info), self.digests, self._keep))
        return {p.relative_to(self.root).as_posix(): [size, digest] for p, (size, digest) in zip(paths, results)}
