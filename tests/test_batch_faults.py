"""``labelgen batch`` under faults, with real processes and a real tmpfs (``docs/batch.md``).

- Repeated worker loss: 8 copies of the sample apartment with sampled cameras (213 views of
  two labels at 32 px) on the local pool and on a real ``dask scheduler`` with two ``dask
  worker --nanny`` processes, a worker process SIGKILLed again and again (each time 15 more
  views are journaled: every second or few) until the batch ends, at least 5 times; the nanny
  restarts Dask's, a new pool replaces the local one.
- Full disk: the output on a small tmpfs filled by a ballast file (the "files of other
  buildings"), filling up while render views, derived views and validate reports are
  written, in turn; then a bigger mount.
- A read-only (tmpfs remounted read-only) and a vanished (moved away) output folder.
- Damaged state files: truncated, garbled and emptied journal chunks, a truncated summary, a
  truncated and a garbled sampled-cameras file (and an output file garbled at the same size).

Each compares the output, byte for byte, with an uninterrupted run, and records (pytest
``record_property``, printed at the end of the session by ``conftest.py``) the faults injected
and the views lost, duplicated and corrupt (all must be 0).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from test_batch import _children, _kill_group, _pool_workers
from test_batch_dask import _scheduler_address, _wait_for

REPO = Path(__file__).resolve().parents[1]
APARTMENT = REPO / "sample_meshes" / "apartment.glb"
TASKS = ["depth_zbuffer", "normal"]
RESOLUTION = 32
BUILDINGS = 8
TIMEOUT = 300  # seconds for one batch run or a cluster start (the machine may be loaded)
KILL_AFTER = 15  # a worker is killed each time this many more views are journaled (the batch moves
KILL_EVERY = 0.5  # on between kills), at least this many seconds after the last kill: every second or few
MIN_KILLS = 5
CI = os.environ.get("CI", "").lower() in ("true", "1")
_VIEW = re.compile(r"point_(?P<p>[^_]+)_view_(?P<v>[^_]+)_domain_")


# -- jobs and uninterrupted runs -------------------------------------------------------------

def _sample(seed: int) -> dict:
    return {"num_cameras": 8, "num_points": 10, "seed": seed, "min_views_per_point": 2, "max_views_per_point": 3}


def _make_apartments(folder: Path) -> Path:
    """8 buildings, each a copy of the sample apartment with its own sampled cameras."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for i in range(BUILDINGS):
        shutil.copyfile(APARTMENT, folder / f"apt{i}.glb")
        jobs.append({"building": f"apt{i}", "render": {"mesh": f"apt{i}.glb", "sample": _sample(i)}})
    path = folder / "jobs.json"
    path.write_text(json.dumps({"defaults": {"tasks": TASKS, "resolution": RESOLUTION}, "jobs": jobs}, indent=1))
    return path


def _make_mixed(folder: Path, rendered: Path) -> Path:
    """Render (two sampled apartments), derive (from a rendered building) and validate (two
    rendered buildings against the mesh) jobs, in that order."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(APARTMENT, folder / "apt.glb")
    jobs = [{"building": f"r{i}", "render": {"mesh": "apt.glb", "sample": _sample(10 + i)}} for i in range(2)]
    jobs.append({"building": "d", "tasks": ["edge_occlusion", "keypoints3d"], "derive": {"path": str(rendered / "apt7")}})
    jobs += [{"building": f"v{i}", "tasks": TASKS, "validate": {"path": str(rendered / f"apt{5 + i}"), "mesh": "apt.glb"}}
             for i in range(2)]
    path = folder / "jobs.json"
    path.write_text(json.dumps({"defaults": {"tasks": TASKS, "resolution": RESOLUTION}, "jobs": jobs}, indent=1))
    return path


def _cmd(jobs, root, *extra):
    return [sys.executable, "-m", "labelgen", "batch", str(jobs), "--out", str(root), "--quiet", *extra]


def _env(**extra):
    return dict(os.environ, LABELGEN_BATCH_CHUNK_VIEWS="1", PYTHONUNBUFFERED="1", **extra)


def _run(jobs, root, *extra) -> subprocess.CompletedProcess:
    """The batch run to its end (at most TIMEOUT s); its process group killed after it in any case."""
    proc = subprocess.Popen(_cmd(jobs, root, *extra), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        _kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _summary(root: Path) -> dict:
    return json.loads((root / ".labelgen" / "summary.json").read_text())


@pytest.fixture(scope="module")
def apartments(tmp_path_factory) -> Path:
    return _make_apartments(tmp_path_factory.mktemp("apartments"))


@pytest.fixture(scope="module")
def apartments_ref(apartments, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("apartments-ref") / "out"
    res = _run(apartments, root, "--workers", "2")
    assert res.returncode == 0, res.stderr
    views = sum(s["views"] for s in _summary(root)["buildings"].values())
    assert 150 <= views <= 260, views  # about 200 views
    return root


@pytest.fixture(scope="module")
def mixed(apartments_ref, tmp_path_factory) -> Path:
    return _make_mixed(tmp_path_factory.mktemp("mixed"), apartments_ref)


@pytest.fixture(scope="module")
def mixed_ref(mixed, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed-ref") / "out"
    res = _run(mixed, root, "--workers", "1")
    assert res.returncode == 0, res.stderr
    return root


# -- what a run left -------------------------------------------------------------------------

def _files(root: Path, state: bool = False) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: the outputs, and with ``state`` the state under
    .labelgen too (the sampled cameras; not the journal, checked by :func:`journal_views`, nor
    the summary or files moved aside as damaged)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if (not p.is_file() or rel == ".labelgen/summary.json" or rel.endswith(".damaged")
                or rel.startswith(".labelgen/journal/")):
            continue
        if state or not rel.startswith(".labelgen/"):
            out[rel] = p.read_bytes()
    return out


def journal_views(root: Path) -> dict[str, set[str]]:
    """The views each building's journal records, every record checked true: a journal file as
    labelgen writes it, its files there with the recorded sizes and SHA-256."""
    from labelgen.batch._store import check_journal_file

    out: dict[str, set[str]] = {}
    for chunk in (root / ".labelgen" / "journal").rglob("chunk-*.json"):
        for name, rec in check_journal_file(json.loads(chunk.read_bytes())).items():
            for rel, (size, digest) in rec["files"].items():
                data = (root / rel).read_bytes()
                assert len(data) == size and hashlib.sha256(data).hexdigest() == digest, (chunk, name, rel)
            out.setdefault(chunk.parent.name, set()).add(name)
    return out


def _view_of(rel: str) -> str:
    """The view a file belongs to: ``building/point_view`` (or the file itself: reports, state)."""
    m = _VIEW.search(rel.rsplit("/", 1)[-1])
    return f"{rel.split('/', 1)[0]}/{m['p']}_{m['v']}" if m and not rel.startswith(".labelgen/") else rel


def audit(root: Path, ref: Path, summary: dict | None = None) -> dict[str, int]:
    """Views lost (a file of the uninterrupted run missing), corrupt (a file there with other
    bytes) and duplicated (a file the uninterrupted run did not write: a second copy, a
    leftover temporary file; or a view counted more than once in ``summary``)."""
    want, got = _files(ref, state=True), _files(root, state=True)
    views: dict[str, list[str]] = {}
    for rel in want:
        views.setdefault(_view_of(rel), []).append(rel)
    lost = {v for v, rels in views.items() if any(r not in got for r in rels)}
    corrupt = {v for v, rels in views.items() if v not in lost and any(got[r] != want[r] for r in rels)}
    extra = [rel for rel in got if rel not in want]
    twice = 0
    if summary is not None:
        twice = sum(max(0, s["computed"] + s["already_done"] - s["views"]) for s in summary["buildings"].values())
    return {"lost": len(lost), "duplicated": len(extra) + twice, "corrupt": len(corrupt), "extra": extra[:5]}


def check_partial_state(root: Path, ref: Path) -> int:
    """After a stopped run: every file under a final name is whole (the bytes of the
    uninterrupted run: none partial, none empty, none stray) and every journal record is true;
    returns the number of views recorded."""
    want = _files(ref, state=True)
    for rel, data in _files(root, state=True).items():
        if re.search(r"/\.[^/]+\.part$", "/" + rel):
            continue  # a temporary name: a write the fault cut short (removed by the next run)
        assert rel in want, f"a file the uninterrupted run did not write: {rel}"
        assert data == want[rel], f"{rel}: {len(data)} bytes, not the {len(want[rel])} of the uninterrupted run"
    return sum(map(len, journal_views(root).values()))


def check_complete(root: Path, ref: Path, summary: dict) -> dict[str, int]:
    """A finished batch: no failure, every view counted once, the output byte-identical."""
    for name, s in summary["buildings"].items():
        assert s["failures"] == [], (name, s)
        assert s["views"] > 0 and s["computed"] + s["already_done"] == s["views"], (name, s)
    assert sum(s["views"] for s in summary["buildings"].values()) == \
        sum(s["views"] for s in _summary(ref)["buildings"].values())
    found = audit(root, ref, summary)
    assert found["lost"] == found["duplicated"] == found["corrupt"] == 0, found
    assert _files(root) == _files(ref)
    assert {b: len(v) for b, v in journal_views(root).items()} == \
        {b: len(v) for b, v in journal_views(ref).items()}  # every view recorded, truly
    return found


def report(record_property, faults: int, found: dict, **more):
    """The figures of a fault test (printed at the end of the session by conftest.py)."""
    record_property("faults", faults)
    record_property("views_lost", found["lost"])
    record_property("views_duplicated", found["duplicated"])
    record_property("views_corrupt", found["corrupt"])
    for k, v in more.items():
        record_property(k, v)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _journaled(root: Path) -> int:
    return sum(1 for _ in (root / ".labelgen" / "journal").rglob("chunk-*.json"))


def _start_batch(jobs, root, *extra, log: Path) -> subprocess.Popen:
    with open(log, "w") as err:
        return subprocess.Popen(_cmd(jobs, root, *extra), env=_env(), stdout=subprocess.DEVNULL, stderr=err,
                                text=True, start_new_session=True)


def _wait_journaled(proc, root, n):
    deadline = time.monotonic() + TIMEOUT
    while _journaled(root) < n:
        assert proc.poll() is None, "the batch ended before the fault could be injected"
        assert time.monotonic() < deadline, "timed out waiting for journaled views"
        time.sleep(0.01)


# -- a real tmpfs ------------------------------------------------------------------------------

@contextmanager
def tmpfs(path: Path, size: str):
    """A tmpfs of ``size`` mounted at ``path`` (root, on Linux) for the test, unmounted after it.
    Without permission to mount, the test is skipped, and fails under CI=true."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                             capture_output=True, text=True, timeout=30)
        problem = None if res.returncode == 0 else (res.stderr.strip() or f"exit status {res.returncode}")
    except (OSError, subprocess.TimeoutExpired) as err:
        problem = str(err)
    if problem is not None:
        message = f"cannot mount a tmpfs at {path} (needs root on Linux): {problem}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        for args in (["umount", str(path)], ["umount", "-l", str(path)]):
            if subprocess.run(args, capture_output=True, timeout=60).returncode == 0:
                break


def _remount(path: Path, options: str, tries: int = 500):
    """``mount -o remount,OPTIONS``; a read-only remount is refused while a file is open for
    writing (EBUSY), so it is tried again until it lands between two writes."""
    for _ in range(tries):
        res = subprocess.run(["mount", "-o", f"remount,{options}", str(path)], capture_output=True, text=True,
                             timeout=30)
        if res.returncode == 0:
            return
        time.sleep(0.01)
    pytest.fail(f"cannot remount {path} {options}: {res.stderr.strip()}")


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# -- repeated worker loss ----------------------------------------------------------------------

def _nanny_workers(pid: int) -> list[int]:
    """The worker processes a Dask nanny ``pid`` started (its multiprocessing children)."""
    return [child for child, cmd in _children(pid) if b"multiprocessing" in cmd and b"resource_tracker" not in cmd]


def _kill_repeatedly(proc: subprocess.Popen, root: Path, victim, after: int) -> int:
    """SIGKILL the process ``victim()`` names each time ``after`` more views are journaled (and
    KILL_EVERY seconds have passed) until the batch ends: kills paced by the batch's progress,
    so that the batch ends whatever the machine's speed, and is killed about as often."""
    kills, last, seen = 0, time.monotonic(), 0
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None:
        assert time.monotonic() < deadline, f"the batch did not end in {TIMEOUT} s ({kills} kills)"
        n = _journaled(root)
        if n >= seen + after and time.monotonic() - last >= KILL_EVERY:
            pid = victim()
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    last, seen = time.monotonic(), n
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    return kills


def _finish(jobs, root, first: subprocess.Popen, log: Path, *extra) -> tuple[dict, int, int]:
    """``(summary, resumed, losses)`` once the batch is complete: the killed run's summary, or
    that of the same command run again (``resumed``) when the killed run reported a task lost
    MAX_LOSSES times (exit 1); ``losses``: tasks the killed run lost with a worker and ran again."""
    losses = sum(s["worker_losses"] for s in _summary(root)["buildings"].values())
    if first.returncode == 0:
        return _summary(root), 0, losses
    assert first.returncode == 1, log.read_text()
    assert all("failed: worker lost" in line for line in log.read_text().strip().splitlines()), log.read_text()
    res = _run(jobs, root, *extra)
    assert res.returncode == 0, res.stderr
    return _summary(root), 1, losses


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the pool's workers")
def test_local_pool_worker_killed_again_and_again(apartments, apartments_ref, tmp_path, record_property):
    root = tmp_path / "out"
    log = tmp_path / "batch.log"
    proc = _start_batch(apartments, root, "--workers", "2", log=log)
    try:
        kills = _kill_repeatedly(proc, root, lambda: next(iter(_pool_workers(proc.pid)), None), KILL_AFTER)
        proc.wait(timeout=TIMEOUT)
    finally:
        _kill_group(proc)
    summary, resumed, losses = _finish(apartments, root, proc, log, "--workers", "2")
    assert kills >= MIN_KILLS, f"only {kills} kills: the batch ended too soon"
    found = check_complete(root, apartments_ref, summary)
    report(record_property, kills, found, resumed=resumed, tasks_rerun=losses)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_dask_nanny_workers_killed_again_and_again(apartments, apartments_ref, tmp_path, record_property):
    pytest.importorskip("distributed")
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    root = tmp_path / "out"
    log = tmp_path / "batch.log"
    # allowed-failures 1: a task lost with its worker once is run again by Dask, a second time
    # it fails with KilledWorker and the batch runs it again itself: both recoveries, repeatedly
    env = _env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")
    procs = []

    def start(cmd, name):
        with open(tmp_path / f"{name}.log", "wb") as out:
            procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
               "--scheduler-file", str(scheduler_file), "--no-dashboard"], "scheduler")
        address = _wait_for("the scheduler file", lambda: _scheduler_address(scheduler_file), procs)
        assert address.startswith("tcp://127.0.0.1:"), address
        for i in range(2):  # the nanny restarts its worker process whenever it dies
            start([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
                   "--nthreads", "1", "--nworkers", "1", "--nanny", "--no-dashboard", "--host", "127.0.0.1"],
                  f"worker-{i}")
        nannies = {p.pid for p in procs[1:]}
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=TIMEOUT)
            killed: list[int] = []
            info = client.scheduler_info()["workers"]  # nanny address -> its process id (a nanny stays)
            nanny_pids = {info[w]["nanny"]: pid for w, pid in client.run(os.getpid, nanny=True).items()}

            def busiest():
                """The worker process (a nanny's child) holding the most tasks now."""
                try:
                    held = {w: len(k) for w, k in client.processing().items() if k}
                    info = client.scheduler_info()["workers"]
                except Exception:  # a worker being lost or started: next time
                    return None
                for w in sorted(held, key=held.get, reverse=True):
                    nanny = nanny_pids.get(info.get(w, {}).get("nanny"))
                    pid = next((p for p in _nanny_workers(nanny) if p not in killed), None) if nanny else None
                    if pid is not None:
                        killed.append(pid)
                        return pid
                return None

            batch = _start_batch(apartments, root, "--scheduler", "dask", "--address", address, log=log)
            procs.append(batch)
            kills = _kill_repeatedly(batch, root, busiest, KILL_AFTER)
            batch.wait(timeout=TIMEOUT)
            summary, resumed, losses = _finish(apartments, root, batch, log, "--scheduler", "dask", "--address",
                                               address)
            # the nannies are still there and restarted their workers: new processes
            client.wait_for_workers(2, timeout=TIMEOUT)
            assert all(p.poll() is None for p in procs[:3])
            assert not set(client.run(os.getpid).values()) & set(killed)
            assert not nannies & set(killed)  # only worker processes were killed, never a nanny
            assert set(nanny_pids.values()) == nannies
    finally:
        for p in reversed(procs):
            _kill_group(p)
    assert kills >= MIN_KILLS, f"only {kills} kills: the batch ended too soon"
    found = check_complete(root, apartments_ref, summary)
    report(record_property, kills, found, resumed=resumed, tasks_rerun_by_batch=losses)


# -- full disk -----------------------------------------------------------------------------

def _groups(ref: Path) -> dict[str, dict[str, int]]:
    """The uninterrupted mixed run's files (outputs and state) by job kind (and validate job):
    path -> size."""
    out: dict[str, dict[str, int]] = {"render": {}, "derive": {}, "v0": {}, "v1": {}}
    for p in ref.rglob("*"):
        rel = p.relative_to(ref).as_posix()
        if p.is_file() and rel != ".labelgen/summary.json":
            building = rel.split("/")[3] if rel.startswith(".labelgen/") else rel.split("/")[0]
            out[{"r0": "render", "r1": "render", "d": "derive"}.get(building, building)][rel] = p.stat().st_size
    return out


def _missing(root: Path, group: dict[str, int], page: int) -> int:
    """Bytes (whole pages, as tmpfs counts them) the files of ``group`` not yet whole under
    ``root`` will take."""
    need = 0
    for rel, size in group.items():
        p = root / rel
        if not (p.is_file() and p.stat().st_size == size):
            need += -(-size // page) * page
    return need


def _leave_free(mount: Path, ballast: Path, free: int, page: int):
    """Make the ballast (another building's files, as it were) leave ``free`` bytes (whole pages)."""
    free = free // page * page
    ballast.unlink(missing_ok=True)
    size = (_free(mount) - free) // page * page
    assert size >= 0, "the tmpfs is too small for the test"
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * size)
    assert _free(mount) == free, (_free(mount), free)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_full_disk_stops_with_one_line_and_resumes(mixed, mixed_ref, tmp_path, record_property):
    groups = _groups(mixed_ref)
    mount = tmp_path / "mnt"
    ballast = mount / "ballast"
    root = mount / "out"
    faults = 0
    with tmpfs(mount, "4m"):
        page = os.statvfs(mount).f_frsize
        missing = {k: lambda k=k: _missing(root, groups[k], page) for k in groups}
        v1_report = next(size for rel, size in groups["v1"].items() if rel.endswith("validate.json"))
        # the disk fills while writing: render views, derived views, then a validate report
        phases = [("render", lambda: missing["render"]() // 2),
                  ("derive", lambda: missing["render"]() + missing["derive"]() // 2),
                  ("v1", lambda: missing["render"]() + missing["derive"]() + missing["v0"]()
                   + max(0, -(-v1_report // page) - 1) * page)]
        root.mkdir()
        for kind, free in phases:
            _leave_free(mount, ballast, free(), page)
            res = _run(mixed, root, "--workers", "1")
            faults += 1
            assert res.returncode == 1, (kind, res.stderr)
            line = _one_line(res.stderr)
            assert line.startswith(f"labelgen: error: {root}: no space left on device (writing "), line
            written = line.split("(writing ", 1)[1].split(")", 1)[0]
            assert written in groups[kind], (kind, line)  # it filled up while writing this kind's files
            check_partial_state(root, mixed_ref)
            done = {k: missing[k]() == 0 for k in groups}
            assert not done[kind] and all(done[k] for k in list(groups)[:list(groups).index(kind)]), (kind, done)
            assert not any(done[k] for k in list(groups)[list(groups).index(kind) + 1:]), (kind, done)
        # a bigger mount: the same command completes, byte-identical
        _remount(mount, "size=64m")
        res = _run(mixed, root, "--workers", "1")
        assert res.returncode == 0, res.stderr
        assert res.stderr == ""
        summary = _summary(root)
        found = check_complete(root, mixed_ref, summary)
        assert sum(s["already_done"] for s in summary["buildings"].values()) > 0
    report(record_property, faults, found)


# -- read-only and vanished output folder ----------------------------------------------------------

def _stopped_by(jobs, root, fault, log: Path) -> str:
    """Start the batch, call ``fault()`` once 10 views are journaled; the batch must stop with
    exit status 1 and one line on stderr, returned."""
    proc = _start_batch(jobs, root, "--workers", "2", log=log)
    try:
        _wait_journaled(proc, root, 10)
        fault()
        proc.wait(timeout=TIMEOUT)
    finally:
        _kill_group(proc)
    assert proc.returncode == 1, log.read_text()
    return _one_line(log.read_text())


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_read_only_or_vanished_output_folder(apartments, apartments_ref, tmp_path, record_property):
    faults = 0
    # read-only: the tmpfs holding the output is remounted read-only while the batch writes
    mount = tmp_path / "mnt"
    root = mount / "out"
    with tmpfs(mount, "64m"):
        line = _stopped_by(apartments, root, lambda: _remount(mount, "ro"), tmp_path / "ro.log")
        faults += 1
        assert line.startswith(f"labelgen: error: {root}: read-only file system"), line
        assert check_partial_state(root, apartments_ref) >= 10
        # a read-only output at the start: one line, exit 1 too
        res = _run(apartments, root, "--workers", "2")
        assert res.returncode == 1 and "read-only file system" in _one_line(res.stderr), res.stderr
        _remount(mount, "rw")
        res = _run(apartments, root, "--workers", "2")
        assert res.returncode == 0, res.stderr
        summary = _summary(root)
        found_ro = check_complete(root, apartments_ref, summary)
        assert sum(s["already_done"] for s in summary["buildings"].values()) >= 10

    # vanished: the output folder is moved away while the batch writes; the batch must not
    # make it again, and the same command finishes the batch once it is back
    root = tmp_path / "disk" / "out"
    moved = tmp_path / "disk" / "moved"
    line = _stopped_by(apartments, root, lambda: os.rename(root, moved), tmp_path / "gone.log")
    faults += 1
    assert line.startswith(f"labelgen: error: {root}: output folder vanished"), line
    assert not root.exists(), "the batch made the vanished output folder again"
    assert check_partial_state(moved, apartments_ref) >= 10
    os.rename(moved, root)
    res = _run(apartments, root, "--workers", "2")
    assert res.returncode == 0, res.stderr
    summary = _summary(root)
    found = check_complete(root, apartments_ref, summary)
    assert sum(s["already_done"] for s in summary["buildings"].values()) >= 10
    found = {k: found[k] + found_ro[k] for k in ("lost", "duplicated", "corrupt")}
    report(record_property, faults, found)


# -- damaged state files ---------------------------------------------------------------------

def _chunks_of(root: Path, building: str) -> dict[str, Path]:
    """The journal file of each view of ``building`` (one view per chunk)."""
    out = {}
    for chunk in sorted((root / ".labelgen" / "journal" / "labelgen" / building).glob("chunk-*.json")):
        (name,) = json.loads(chunk.read_bytes())["views"]
        out[name] = chunk
    return out


def _garble(path: Path, at: float, junk: bytes):
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    data[i:i + len(junk)] = junk
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_damaged_state_files_are_reported_and_never_trusted(apartments, apartments_ref, tmp_path, record_property):
    from labelgen.batch._store import write_journal

    root = tmp_path / "out"
    shutil.copytree(apartments_ref, root)
    state = root / ".labelgen"
    damaged = []  # state files damaged
    # apt0: view A is also recorded in a valid two-view chunk (as a run with two views per chunk
    # writes it); its own chunk is truncated. View B's output file is garbled at the same size.
    apt0 = _chunks_of(root, "apt0")
    (a, b), c = sorted(apt0)[:2], sorted(apt0)[2]
    records = {n: json.loads(apt0[n].read_bytes())["views"][n] for n in (a, c)}
    write_journal(apt0[a].parent, records)
    apt0[a].write_bytes(apt0[a].read_bytes()[:len(apt0[a].read_bytes()) // 2])
    damaged.append(apt0[a])
    png = root / next(iter(json.loads(apt0[b].read_bytes())["views"][b]["files"]))
    _garble(png, 0.6, b"\x00garbled\x00")
    # apt1: a chunk garbled into other valid JSON (a hash digit changed); apt2: junk bytes;
    # apt5: a chunk emptied
    chunk = next(iter(_chunks_of(root, "apt1").values()))
    text = chunk.read_text()
    i = re.compile("[0-9a-f]{64}").search(text, text.index('"files"')).start() + 5  # in a file's SHA-256
    chunk.write_text(text[:i] + ("0" if text[i] != "0" else "1") + text[i + 1:])
    damaged.append(chunk)
    chunk = next(iter(_chunks_of(root, "apt2").values()))
    _garble(chunk, 0.5, b"\xff\xfe{{ not json")
    damaged.append(chunk)
    chunk = next(iter(_chunks_of(root, "apt5").values()))
    chunk.write_bytes(b"")
    damaged.append(chunk)
    # the summary truncated; a sampled camera of apt3 truncated, apt4's sample marker garbled
    summary = state / "summary.json"
    summary.write_bytes(summary.read_bytes()[:100])
    damaged.append(summary)
    cam = sorted((state / "sample" / "labelgen" / "apt3" / "point_info").glob("*.json"))[1]
    cam.write_bytes(cam.read_bytes()[:-40])
    damaged.append(cam)
    marker = state / "sample" / "labelgen" / "apt4" / "done.json"
    _garble(marker, 0.3, b"\x00\x01\x02")
    damaged.append(marker)

    res = _run(apartments, root, "--workers", "2")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert all(line.startswith("labelgen: warning: ") for line in lines), res.stderr
    for path in damaged:  # one warning naming each damaged file
        assert sum(line.startswith(f"labelgen: warning: {path}: damaged ") for line in lines) == 1, (path, res.stderr)
    assert "garbled: its records do not match their SHA-256" in next(line for line in lines if str(damaged[1]) in line)
    assert len(lines) == len(damaged), res.stderr
    summary = _summary(root)
    computed = {name: s["computed"] for name, s in summary["buildings"].items()}
    # recomputed: B (its file differs from every record), the views of the garbled, junk and
    # emptied chunks (no other record); kept: A (another valid record, its files matching it)
    # and the views of the resampled buildings (the same cameras again)
    assert computed == {"apt0": 1, "apt1": 1, "apt2": 1, "apt3": 0, "apt4": 0, "apt5": 1, "apt6": 0, "apt7": 0}, \
        computed
    assert len(summary["warnings"]) == len(damaged)
    found = check_complete(root, apartments_ref, summary)
    assert all(Path(str(p) + ".damaged").is_file() for p in damaged[:4]), "damaged journal files set aside"
    # a second run: nothing damaged any more, nothing to compute
    res = _run(apartments, root, "--workers", "2")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert all(s["computed"] == 0 for s in _summary(root)["buildings"].values())
    report(record_property, len(damaged) + 1, found)


# -- the pieces, quickly ---------------------------------------------------------------------------

def _journal_text(views) -> dict:
    from labelgen.batch._store import JOURNAL_VERSION, records_digest

    return {"version": JOURNAL_VERSION, "views": views, "sha256": records_digest(views)}


GOOD = {"1_0": {"key": "a" * 64, "files": {"b/normal/x.png": [10, "b" * 64]}, "skipped": {}}}


@pytest.mark.parametrize("data, problem", [
    ([], "not a journal object"),
    ({"version": 9, "views": GOOD}, "unknown journal version"),
    ({"version": 2, "views": {}}, "no records"),
    ({**_journal_text(GOOD), "sha256": "0" * 64}, "garbled"),
    (_journal_text({"1_0": {"key": "short", "files": {"x": [1, "b" * 64]}}}), "no valid key"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {}}}), "no files"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {"../../etc/x": [1, "b" * 64]}}}), "a file path"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {"/etc/x": [1, "b" * 64]}}}), "a file path"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {"x": [True, "b" * 64]}}}), "no valid size"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {"x": [-1, "b" * 64]}}}), "no valid size"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {"x": [1, "B" * 64]}}}), "no valid size"),
    (_journal_text({"1_0": {"key": "a" * 64, "files": {"x": [1, "b" * 64]}, "skipped": [1]}}), "skipped"),
])
def test_journal_file_checks(data, problem):
    from labelgen.batch._store import check_journal_file

    with pytest.raises(ValueError, match=problem):
        check_journal_file(data)
    assert check_journal_file(_journal_text(GOOD)) == GOOD
    assert check_journal_file({"version": 1, "views": GOOD}) == GOOD  # written before checksums


def test_read_journal_reports_damaged_files(tmp_path):
    from labelgen.batch._store import read_journal, view_done, write_journal

    root = tmp_path
    (root / "b" / "normal").mkdir(parents=True)
    (root / "b" / "normal" / "x.png").write_bytes(b"0123456789")
    digest = hashlib.sha256(b"0123456789").hexdigest()
    folder = root / "journal"
    write_journal(folder, {"1_0": {"key": "a" * 64, "files": {"b/normal/x.png": [10, digest]}}})
    (folder / "chunk-bad.json").write_bytes(b'{"version": 2, "views": {"2_0"')
    (folder / "chunk-nul.json").write_bytes(b"\0" * 30)
    journal = read_journal(folder)
    assert set(journal.records) == {"1_0"}
    assert sorted((p.name, why) for p, why in journal.damaged) == [
        ("chunk-bad.json", "truncated or not valid JSON"), ("chunk-nul.json", "truncated or not valid JSON")]
    assert view_done(root, journal.get("1_0"), "a" * 64, verify=True)
    (root / "b" / "normal" / "x.png").write_bytes(b"0123456780")  # same size, other bytes
    assert view_done(root, journal.get("1_0"), "a" * 64) and not view_done(root, journal.get("1_0"), "a" * 64, True)


def test_writes_never_make_the_output_root_again(tmp_path):
    from labelgen.core import OutputError
    from labelgen.io import write_bytes_atomic

    root = tmp_path / "out"
    root.mkdir()
    write_bytes_atomic(root / "a" / "b" / "f.bin", b"x", root)
    assert (root / "a" / "b" / "f.bin").read_bytes() == b"x"
    shutil.rmtree(root)
    with pytest.raises(OutputError) as err:
        write_bytes_atomic(root / "a" / "f.bin", b"x", root)
    assert err.value.errno == errno.ENOENT and not root.exists()
    again = pickle.loads(pickle.dumps(err.value))  # crosses process pools and Dask intact
    assert (type(again), again.errno, str(again)) == (OutputError, errno.ENOENT, str(err.value))


def test_stopping_errors(tmp_path):
    from labelgen.batch._store import VANISHED, StopBatch, root_id, stopping_error
    from labelgen.core import OutputError

    root = tmp_path / "out"
    root.mkdir()
    ident = root_id(root)
    full = stopping_error(OutputError(root / "f", "cannot write: No space left on device", errno.ENOSPC), root, ident)
    assert isinstance(full, StopBatch) and full.problem == "no space left on device" and full.file == str(root / "f")
    assert pickle.loads(pickle.dumps(full)).file == str(root / "f")
    assert stopping_error(OutputError(root / "f", "cannot write: x", errno.EIO), root, ident) is None
    (tmp_path / "other").mkdir()
    root.rmdir()
    (tmp_path / "other").rename(root)  # another folder in its place
    assert stopping_error(OutputError(root / "f", "x", errno.ENOENT), root, ident).problem == VANISHED
    root.rmdir()
    assert stopping_error(OutputError(root / "f", "x", errno.ENOENT), root, ident).problem == VANISHED
