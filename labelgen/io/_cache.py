"""Per-mesh results computed once: in memory on ``Mesh.cache`` and on disk.

Some labels need an expensive computation over the whole mesh (per-vertex curvature). It is
done once per mesh and parameters: the result is kept on the :class:`~labelgen.io._meshes.Mesh`
for every further view in this process, and written to a cache folder so that later runs
(and the worker processes of ``--workers N``) reuse it. The disk entry is keyed by the
mesh's content hash (the SHA-256 of the mesh file's bytes), the computation's name and
version, and its parameters, so editing the mesh or changing a parameter never reuses a
stale entry.

Cache folder: ``$LABELGEN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/labelgen``, else
``~/.cache/labelgen``. ``labelgen render --no-cache`` (or :func:`configure` with
``enabled=False``) neither reads nor writes it. Entries are ``.npz`` files, safe to delete.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("labelgen")

_STATE = {"enabled": True, "dir": None}


#: Per-mesh computations of labels, by label name: ``f(mesh, params)``. The runner calls
#: them (:func:`prepare`) before starting worker processes, so that the workers find the
#: results in the disk cache instead of each computing them.
PREPARERS: dict[str, Callable] = {}


def prepare(mesh, tasks, params: dict) -> None:
    """Run the per-mesh computations of ``tasks`` for ``mesh`` now (see :data:`PREPARERS`)."""
    for task in tasks:
        if task in PREPARERS:
            PREPARERS[task](mesh, params)


def configure(enabled: bool | None = None, directory: str | os.PathLike | None = None) -> None:
    """Turn the disk cache on or off, or point it at ``directory``, for this process."""
    if enabled is not None:
        _STATE["enabled"] = bool(enabled)
    if directory is not None:
        _STATE["dir"] = Path(directory)


def enabled() -> bool:
    return bool(_STATE["enabled"])


def cache_dir() -> Path:
    """The disk cache folder (see the module documentation)."""
    if _STATE["dir"] is not None:
        return Path(_STATE["dir"])
    env = os.environ.get("LABELGEN_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "labelgen"


def cache_key(mesh, name: str, version: int, params: dict) -> str:
    text = json.dumps({"mesh": mesh.content_hash, "name": name, "version": version, "params": params},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def per_mesh(mesh, name: str, version: int, params: dict,
             compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays ``compute()`` returns for ``mesh``, computed at most once.

    Looked up in ``mesh.cache``, then (when enabled) in the disk cache; otherwise computed,
    kept on the mesh and written to disk. An unreadable or damaged disk entry is ignored
    and replaced; a cache folder that cannot be written is reported once and skipped.
    """
    key = cache_key(mesh, name, version, params)
    mem = mesh.cache.setdefault("per_mesh", {})
    if key in mem:
        return mem[key]
    path = cache_dir() / f"{name}-{key[:40]}.npz"
    result = None
    if enabled() and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                result = {k: data[k] for k in data.files}
        except Exception as err:  # damaged entry: recompute
            log.warning("%s: ignoring damaged cache entry (%s)", path, err)
            result = None
    if result is None:
        result = compute()
        if enabled():
            _write(path, result)
    mem[key] = result
    return result


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from labelgen.core._errors import LabelgenError
    from labelgen.io._images import write_bytes_atomic

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buf.getvalue())
    except (OSError, LabelgenError) as err:
        if not _STATE.get("warned"):
            _STATE["warned"] = True
            log.warning("%s: cannot write the cache (%s); going on without it", path.parent,
                        getattr(err, "problem", None) or getattr(err, "strerror", None) or err)
