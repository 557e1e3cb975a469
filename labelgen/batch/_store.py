"""What a batch keeps under ``ROOT/.labelgen`` and how it is checked before it is believed; and
whether the output folder still takes files.

- The journal (:func:`write_journal`, :func:`read_journal`, :func:`view_done`): once every file of
  a chunk's views is written, the worker records them in one journal file of the chunk, written
  atomically: ``ROOT/.labelgen/journal/{component}/{building}/chunk-{hash}.json`` with, per view,
  the key of its inputs and parameters and each file's path (relative to ROOT), size and
  SHA-256, and the SHA-256 of those records. A view counts as done when a well-formed record
  with the current key lists it and every file is there with the recorded size. A journal file
  that is not what labelgen wrote (truncated, garbled, not matching its checksum) is reported
  and none of its records is trusted; the driver then checks the building's views by SHA-256
  and moves the file aside (:func:`set_aside`).
- Sampled cameras (:func:`sample_state`): ``done.json``, written last, lists every file of a
  building's sample with its size and SHA-256.
- The summary (:func:`check_summary`): a report of the last run, never read to plan one.
- The output folder (:func:`stopping_error`): a failed write that means it takes no more files
  (no space left, read-only, no permission, the folder gone) becomes :class:`StopBatch`, which
  stops the whole batch.

See ``docs/batch.md`` for what this guarantees.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath

from labelgen.core._errors import OutputError
from labelgen.engine._views import json_bytes
from labelgen.io._images import write_bytes_atomic

JOURNAL_VERSION = 2  # 2: with the SHA-256 of its records; 1 (without) is still read
DAMAGED_SUFFIX = ".damaged"  # a damaged state file is moved aside to its name + this

_HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_of(obj) -> str:
    """A stable hash of a JSON-able description (sorted keys)."""
    return sha256(json.dumps(obj, sort_keys=True, default=str).encode())


# -- the output folder ----------------------------------------------------------------------

#: errno of a failed write that means the output takes no more files: the batch stops
STOPPING = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied"}
VANISHED = "output folder vanished (deleted, moved or unmounted while the batch ran)"


class StopBatch(OutputError):
    """The output folder ``where`` takes no more files (``problem``: no space left, read-only,
    permission denied, vanished): the chunk stops, and the driver stops the batch. ``file``: the
    file whose write failed."""

    def __init__(self, where, problem: str, errno: int | None = None, file: str | None = None):
        super().__init__(where, problem, errno)
        self.file = file

    def __reduce__(self):
        return (type(self), (self.where, self.problem, self.errno, self.file))


def root_id(root) -> list[int] | None:
    """The identity (device, inode) of the output folder, to tell that it was replaced."""
    try:
        st = os.stat(root)
    except OSError:
        return None
    return [st.st_dev, st.st_ino]


def root_problem(root, ident=None) -> str | None:
    """Why the output folder ``root`` cannot be written to at all now (vanished, or another
    folder in its place), else None."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return VANISHED
    except OSError as err:
        return STOPPING.get(err.errno)
    if ident is not None and [st.st_dev, st.st_ino] != list(ident):
        return VANISHED
    return None


def stopping_error(err: OutputError | OSError, root, ident=None) -> StopBatch | None:
    """The :class:`StopBatch` to raise when the failed write ``err`` means that the output
    folder ``root`` takes no more files (see ``STOPPING``; or ``root`` vanished, ``ident``: its
    :func:`root_id` when the batch began); None when the failure is about one file."""
    problem = root_problem(root, ident) or STOPPING.get(getattr(err, "errno", None))
    if problem is None:
        return None
    where = getattr(err, "where", None) or getattr(err, "filename", None)
    return StopBatch(root, problem, getattr(err, "errno", None), None if where is None else os.fspath(where))


# -- journal -------------------------------------------------------------------------------

def records_digest(views: dict) -> str:
    """The SHA-256 a journal file records of its records (canonical JSON)."""
    return sha256(json.dumps(views, sort_keys=True, separators=(",", ":")).encode())


def _check_rel(rel) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return (not PurePosixPath(rel).is_absolute() and ".." not in parts
            and not {".", ""} & set(rel.split("/")))


def _check_record(name, rec) -> str | None:
    """What is wrong with one journal record (None: well formed)."""
    if not isinstance(name, str) or not name or "/" in name:
        return f"a record named {name!r}"
    if not isinstance(rec, dict) or not isinstance(rec.get("key"), str) or not _HEX64.fullmatch(rec["key"]):
        return f"record {name}: no valid key"
    files = rec.get("files")
    if not isinstance(files, dict) or not files:
        return f"record {name}: no files"
    for rel, meta in files.items():
        if not _check_rel(rel):
            return f"record {name}: a file path {rel!r}"
        if (not isinstance(meta, list) or len(meta) != 2 or isinstance(meta[0], bool) or not isinstance(meta[0], int)
                or meta[0] < 0 or not isinstance(meta[1], str) or not _HEX64.fullmatch(meta[1])):
            return f"record {name}: file {rel}: no valid size and SHA-256"
    skipped = rec.get("skipped", {})
    if not isinstance(skipped, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in skipped.items()):
        return f"record {name}: a bad 'skipped'"
    return None


def check_journal_file(data) -> dict:
    """The records of a parsed journal file; ValueError saying what is wrong when it is not a
    journal file as labelgen writes it (then none of its records is to be trusted)."""
    if not isinstance(data, dict):
        raise ValueError("not a journal object")
    version = data.get("version")
    if version not in (1, 2):
        raise ValueError(f"unknown journal version {version!r}")
    views = data.get("views")
    if not isinstance(views, dict) or not views:
        raise ValueError("no records")
    if version == 2 and data.get("sha256") != records_digest(views):
        raise ValueError("garbled: its records do not match their SHA-256")
    for name, rec in views.items():
        problem = _check_record(name, rec)
        if problem:
            raise ValueError(problem)
    return views


class Journal:
    """The records of one building's journal folder (:func:`read_journal`).

    ``records``: by view ``"P_V"``, every well-formed record of the valid journal files;
    ``damaged``: ``(path, problem)`` of each journal file not trusted (truncated, garbled,
    unreadable), none of whose records is in ``records``."""

    def __init__(self):
        self.records: dict[str, list[dict]] = {}
        self.damaged: list[tuple[Path, str]] = []

    def get(self, name):
        return self.records.get(name)


def read_journal(folder: Path) -> Journal:
    """Every record under a building's journal folder, and the journal files found damaged."""
    out = Journal()
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("chunk-*.json")):
        try:
            raw = path.read_bytes()
        except OSError as err:
            out.damaged.append((path, f"cannot read: {err.strerror or err}"))
            continue
        try:
            views = check_journal_file(json.loads(raw))
        except (UnicodeDecodeError, json.JSONDecodeError):
            out.damaged.append((path, "truncated or not valid JSON" if raw.strip() else "empty"))
            continue
        except RecursionError:
            out.damaged.append((path, "not valid JSON (nested too deeply)"))
            continue
        except ValueError as err:
            out.damaged.append((path, str(err)))
            continue
        for name, rec in views.items():
            out.records.setdefault(name, []).append(rec)
    return out


def view_done(root: Path, records: list[dict] | None, key: str, verify: bool = False) -> dict | None:
    """The record showing the view done for ``key``: its files all there with the recorded
    sizes (and, with ``verify``, the recorded SHA-256)."""
    for rec in records or ():
        if rec.get("key") != key or not isinstance(rec.get("files"), dict):
            continue
        try:
            ok = True
            for rel, (size, digest) in rec["files"].items():
                path = root / rel
                if path.stat().st_size != size or (verify and sha256(path.read_bytes()) != digest):
                    ok = False
                    break
        except (OSError, TypeError, ValueError):
            continue
        if ok:
            return rec
    return None


def set_aside(path: Path) -> Path | None:
    """Move a damaged state file aside (to its name + ``.damaged``, replacing an earlier one),
    so that it is reported once; its new path, or None where it cannot be moved."""
    target = path.with_name(path.name + DAMAGED_SUFFIX)
    try:
        os.replace(path, target)
    except OSError:
        return None
    return target


def write_journal(folder: Path, views: dict[str, dict], root=None) -> None:
    """Record finished views in a new chunk journal file (atomic; ``root``: the output folder,
    never created)."""
    if not views:
        return
    name = "chunk-" + key_of(sorted((v, r["key"]) for v, r in views.items()))[:24] + ".json"
    write_bytes_atomic(folder / name, json_bytes({"version": JOURNAL_VERSION, "views": views,
                                                  "sha256": records_digest(views)}), root)


# -- sampled cameras -------------------------------------------------------------------------

def _files_under(folder: Path) -> dict[str, Path]:
    """The files of a sample folder (its marker, leftover temporary files and files moved aside
    left out), by path relative to it."""
    out = {}
    for path in folder.rglob("*"):
        name = path.name
        if name == "done.json" and path.parent == folder:
            continue
        if (name.startswith(".") and name.endswith(".part")) or name.endswith(DAMAGED_SUFFIX):
            continue
        if path.is_file():
            out[path.relative_to(folder).as_posix()] = path
    return out


def sample_manifest(folder: Path) -> dict[str, list]:
    """``{path relative to the sample folder: [size, SHA-256]}`` of its files."""
    out = {}
    for rel, path in sorted(_files_under(folder).items()):
        data = path.read_bytes()
        out[rel] = [len(data), sha256(data)]
    return out


def sample_state(folder: Path, key: str) -> tuple[str, tuple[Path, str] | None]:
    """Whether a building's sampled cameras in ``folder`` are there for ``key``: ``("done",
    None)``; ``("missing", None)`` (never finished, or made with other settings); or
    ``("damaged", (file, problem))`` when its marker ``done.json`` or a file it lists is not
    what the sampling wrote (truncated, garbled, missing, or a file it does not list)."""
    marker = folder / "done.json"
    try:
        raw = marker.read_bytes()
    except FileNotFoundError:
        return "missing", None
    except OSError as err:
        return "damaged", (marker, f"cannot read: {err.strerror or err}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "damaged", (marker, "truncated or not valid JSON")
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return "damaged", (marker, "not a sample marker")
    if data["key"] != key:
        return "missing", None
    files = data.get("files")
    if (not isinstance(files, dict) or not all(_check_rel(r) for r in files)
            or not all(isinstance(m, list) and len(m) == 2 for m in files.values())):
        return "damaged", (marker, "no valid list of the sample's files")
    try:
        there = _files_under(folder)
    except OSError as err:
        return "damaged", (folder, f"cannot list: {err.strerror or err}")
    for rel, (size, digest) in sorted(files.items()):
        path = folder / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return "damaged", (path, "missing")
        except OSError as err:
            return "damaged", (path, f"cannot read: {err.strerror or err}")
        if len(data) != size:
            return "damaged", (path, f"truncated or garbled: {len(data)} bytes where the sampling wrote {size}")
        if sha256(data) != digest:
            return "damaged", (path, "garbled: not the bytes the sampling wrote")
    extra = sorted(set(there) - set(files))
    if extra:
        return "damaged", (there[extra[0]], "not written by the sampling")
    return "done", None


def remove_stale_parts(folder: Path, recursive: bool = False) -> int:
    """Delete temporary ``.NAME.XXXX.part`` files a killed or failed writer left in ``folder``
    (and the folders below it, with ``recursive``)."""
    n = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        try:
            if e.name.startswith(".") and e.name.endswith(".part") and e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                n += 1
            elif recursive and e.is_dir(follow_symlinks=False):
                n += remove_stale_parts(Path(e.path), True)
        except OSError:
            pass
    return n


# -- summary -------------------------------------------------------------------------------

def check_summary(path: Path) -> str | None:
    """What is wrong with an earlier run's ``summary.json`` (None: nothing, or no such file).
    The summary is a report and is never read to plan a run; a damaged one is reported and
    replaced at the end of the run."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "truncated or not valid JSON"
    if (not isinstance(data, dict) or not isinstance(data.get("buildings"), dict)
            or not all(isinstance(b, dict) and isinstance(b.get("views"), int) for b in data["buildings"].values())):
        return "not a batch summary"
    return None
