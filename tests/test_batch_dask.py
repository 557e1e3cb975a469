"""``labelgen batch --scheduler dask`` on a real cluster (a ``dask scheduler`` and two ``dask
worker`` processes with nannies, all on 127.0.0.1) whose busy worker process is killed with
SIGKILL while the batch runs.

Dask re-runs the tasks of a lost worker itself; the batch must run again only a task whose
future failed with ``KilledWorker``, count only those as lost (``worker_losses``), leave the
other futures alone, and write the same bytes as an uninterrupted local run. The scheduler
runs with ``allowed-failures`` 0: each task the killed worker held (the one it ran, and one
sent to it to run next, if any) fails with ``KilledWorker`` at once, so the batch's own
recovery runs, and the scheduler's count of such failures is what ``worker_losses`` must be.
With Dask's default (3) the kill fails no task: Dask runs them again, and no loss is counted.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_batch import _camera_poses, _kill_group, _room, tree

VIEWS = 40
TIMEOUT = 240  # seconds for one batch run or cluster start (the machine may be loaded)


def _make_jobs(folder: Path) -> Path:
    """One small render building: a room seen from ``VIEWS`` cameras, two labels at 64 px."""
    folder.mkdir(parents=True)
    _room(folder / "a.ply", (6, 4, 2.6), [([1, 1, 0], [2, 2, 0.8]), ([4, 2.5, 0], [5.5, 3.8, 1.8])])
    _camera_poses(folder / "a_cameras.json", (3.0, 2.0, 1.4), VIEWS)
    jobs = {"defaults": {"tasks": ["depth_zbuffer", "normal"], "resolution": 64},
            "jobs": [{"building": "apt_a", "render": {"mesh": "a.ply", "cameras": "a_cameras.json"}}]}
    path = folder / "jobs.json"
    path.write_text(json.dumps(jobs))
    return path


def _batch_cmd(jobs, root, *extra):
    return [sys.executable, "-m", "labelgen", "batch", str(jobs), "--out", str(root), "--quiet", *extra]


def _batch_env():
    return dict(os.environ, LABELGEN_BATCH_CHUNK_VIEWS="1", PYTHONUNBUFFERED="1")


def _cluster_env():
    return dict(os.environ, PYTHONUNBUFFERED="1", DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")


def _start(cmd, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, env=_cluster_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_for(what: str, check, procs, timeout: float = TIMEOUT):
    """``check()``'s first true value, polled until ``timeout``; fails at once if a process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        dead = [p.args for p in procs if p.poll() is not None]
        assert not dead, f"ended while waiting for {what}: {dead}"
        time.sleep(0.005)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _scheduler_address(path: Path):
    try:
        return json.loads(path.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


def _journaled(root: Path) -> bool:
    return any((root / ".labelgen" / "journal").rglob("chunk-*.json"))


def _busiest_worker(client, pids: dict):
    """The process id of the worker process holding the most tasks now (None if none holds any)."""
    held = {w: len(keys) for w, keys in client.processing().items() if keys and w in pids}
    return pids[max(held, key=held.get)] if held else None


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to check the killed process")
def test_killed_dask_worker_loses_only_its_own_task(tmp_path):
    pytest.importorskip("distributed")
    from distributed import Client

    jobs = _make_jobs(tmp_path / "jobs")
    local = tmp_path / "local"
    res = subprocess.run(_batch_cmd(jobs, local, "--scheduler", "local", "--workers", "2"), env=_batch_env(),
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr

    logs = tmp_path / "logs"
    logs.mkdir()
    scheduler_file = tmp_path / "scheduler.json"
    root = tmp_path / "out"
    procs = []
    try:
        procs.append(_start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", "0", "--scheduler-file", str(scheduler_file), "--no-dashboard"],
                            logs / "scheduler.log"))
        address = _wait_for("the scheduler file", lambda: _scheduler_address(scheduler_file), procs)
        assert address.startswith("tcp://127.0.0.1:"), address
        for i in range(2):
            procs.append(_start([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                 str(scheduler_file), "--nthreads", "1", "--nworkers", "1", "--nanny",
                                 "--no-dashboard", "--host", "127.0.0.1"], logs / f"worker-{i}.log"))
        nannies = {p.pid for p in procs[1:]}
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=TIMEOUT)
            pids = client.run(os.getpid)  # worker address -> process id
            batch = subprocess.Popen(_batch_cmd(jobs, root, "--scheduler", "dask", "--address", address),
                                     env=_batch_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
            procs.append(batch)
            _wait_for("the first journaled views", lambda: _journaled(root), procs)
            victim = _wait_for("a busy worker", lambda: _busiest_worker(client, pids), procs)
            # the process that runs the tasks, started by one of the nannies (kept running)
            assert victim not in nannies and _parent(victim) in nannies, (victim, nannies)
            assert batch.poll() is None, "the batch ended before a worker could be killed"
            os.kill(victim, signal.SIGKILL)
            _, err = batch.communicate(timeout=TIMEOUT)
            assert batch.returncode == 0, err
            # the nanny started a new worker process in place of the killed one
            client.wait_for_workers(2, timeout=TIMEOUT)
            now = set(client.run(os.getpid).values())
            assert victim not in now and len(now) == 2, now
            # tasks the scheduler saw on a worker that died: with allowed-failures 0, those it
            # failed with KilledWorker (a lambda: sent by value, the scheduler cannot import tests)
            killed = client.run_on_scheduler(
                lambda dask_scheduler: sum(tp.suspicious for tp in dask_scheduler.task_prefixes.values()))
    finally:
        for p in reversed(procs):
            _kill_group(p)

    summary = json.loads((root / ".labelgen" / "summary.json").read_text())["buildings"]
    assert set(summary) == {"apt_a"}
    for s in summary.values():
        assert s["failures"] == [], s
        assert s["views"] == VIEWS and s["computed"] + s["already_done"] == s["views"], s
    # only the tasks that failed with KilledWorker are lost (none if the worker was between
    # tasks): not those on the other worker or still waiting on the scheduler, which the
    # pool's recovery (every task in flight runs again) would count too
    losses = sum(s["worker_losses"] for s in summary.values())
    assert losses == killed, f"worker_losses {losses}, tasks failed with KilledWorker {killed}"
    files = tree(root)
    assert len(files) == 3 * VIEWS and files == tree(local)
