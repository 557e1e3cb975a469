"""The engine's worker processes (``--workers N``): the calling process works too and hands views
to the others as they become free; every view is written once, with the same bytes as in one
process, and a failing view stops the job with its error."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labelgen.camera import Camera
from labelgen.engine import ViewWriter, render_building
from labelgen.engine import _workers
from labelgen.engine._jobs import _render_one
from labelgen.engine._pipeline import resolve_params
from labelgen.render._renderers import make_renderer

from conftest import APARTMENT, APARTMENT_CAMERAS

TASKS = ["depth_zbuffer", "normal", "reshading"]
TIMEOUT = 600


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _cameras(n):
    return [Camera.look_at([4.2, 3.0, 1.5], [0.0, 0.3 * k, 1.3], fov=1.2, width=48, height=32, point=str(k))
            for k in range(n)]


class _Bar:
    def __init__(self):
        self.n = 0

    def update(self):
        self.n += 1


@pytest.fixture(scope="module")
def renderer(apartment_mesh):
    return make_renderer(apartment_mesh, threads=1)


def test_shared_views_are_each_rendered_once_with_the_same_bytes(tmp_path, renderer, monkeypatch):
    cams = _cameras(7)
    params = resolve_params()
    for cam in cams:  # reference: one process, in order
        _render_one(renderer, cam, TASKS, params, ViewWriter(tmp_path / "plain"))
    here, there = [], []

    def counted(r, cam, *args):
        (there if r is None else here).append(cam.point)
        return _render_one(renderer, cam, *args)

    monkeypatch.setitem(_workers._STATE, "renderer", None)  # the "other process": a thread here
    bar = _Bar()
    results = []
    with ThreadPoolExecutor(2) as pool:
        _workers._run_shared(renderer, pool, 2, list(enumerate(cams)), counted,
                             (TASKS, params, ViewWriter(tmp_path / "shared")), results.append, False, None, bar)
    summary = results[0]
    for res in results[1:]:
        summary.add(res)
    assert sorted(here + there) == sorted(c.point for c in cams)  # each view once
    assert here and there  # both sides rendered
    assert summary.views == bar.n == len(cams) and summary.files == len(cams) * (len(TASKS) + 1)
    assert _digests(tmp_path / "plain") == _digests(tmp_path / "shared")


@pytest.mark.parametrize("side", ["here", "there"])
def test_a_failing_view_stops_the_job_with_its_error(tmp_path, renderer, monkeypatch, side):
    def failing(r, cam, *args):  # every view of one side fails
        if (r is None) == (side == "there"):
            raise RuntimeError(f"view {cam.point} failed")
        return _render_one(renderer, cam, *args)

    monkeypatch.setitem(_workers._STATE, "renderer", None)
    with ThreadPoolExecutor(1) as pool, pytest.raises(RuntimeError, match="failed"):
        _workers._run_shared(renderer, pool, 1, list(enumerate(_cameras(6))), failing,
                             (TASKS, resolve_params(), ViewWriter(tmp_path)), lambda r: None, False, None, _Bar())


@pytest.mark.slow
def test_render_building_with_more_workers_than_views(tmp_path, apartment_mesh_copy):
    mesh = apartment_mesh_copy  # its own: render_building hands it to worker processes
    cams = _cameras(2)
    render_building(mesh, cams, tmp_path / "one", tasks=TASKS, cache=False)
    summary = render_building(mesh, cams, tmp_path / "three", tasks=TASKS, workers=3, cache=False)
    assert summary.views == 2
    assert _digests(tmp_path / "one") == _digests(tmp_path / "three")


# -- worker processes forked from the command line's process ----------------------------

@pytest.mark.slow
def test_fork_is_safe_only_before_thread_pools_start():
    """In a fresh process workers may be forked; not once Numba's threading layer (a parallel
    kernel) or an Open3D scene has started threads, nor while another Python thread runs."""
    code = """
import threading
from labelgen.engine import fork_is_safe
from labelgen.io._meshes import load_mesh
from labelgen.render._renderers import make_renderer
mesh = load_mesh(%r)
print(fork_is_safe())
t = threading.Thread(target=threading.Event().wait, args=(1,)); t.start()
print(fork_is_safe()); t.join()
make_renderer(mesh)
print(fork_is_safe())
""" % str(APARTMENT)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "False", "False"]
    code = """
from labelgen.engine import fork_is_safe
print(fork_is_safe())
import numba
numba.get_num_threads()  # starts the threading layer, as a parallel kernel does
print(fork_is_safe())
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "False"]


def _camera_file(folder: Path, n: int, size: int) -> Path:
    poses = json.loads(APARTMENT_CAMERAS.read_text())
    poses = [dict(p, camera_id=f"{p['camera_id']}-{k}", resolution=size) for k in range(-(-n // len(poses)))
             for p in poses][:n]
    path = folder / "cameras.json"
    path.write_text(json.dumps(poses))
    return path


def _render_cmd(cameras, out, *extra):
    return [sys.executable, "-m", "labelgen", "render", str(APARTMENT), "--cameras", str(cameras),
            "--out", str(out), "--quiet", *extra]


CLI_TASKS = "depth_zbuffer,normal,rgb,principal_curvature,segment_unsup2d,keypoints2d"


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["2", "3"])
def test_cli_forks_its_workers_and_writes_the_same_bytes(tmp_path, workers):
    cams = _camera_file(tmp_path, 9, 64)
    one = subprocess.run(_render_cmd(cams, tmp_path / "one", "--tasks", CLI_TASKS), capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr
    more = subprocess.run(_render_cmd(cams, tmp_path / "more", "--tasks", CLI_TASKS, "--workers", workers,
                                      "--verbose"), capture_output=True, text=True, timeout=TIMEOUT)
    assert more.returncode == 0, more.stderr
    assert "forked process" in more.stderr
    plain = _digests(tmp_path / "one")
    assert plain == _digests(tmp_path / "more") and len(plain) == 9 * 7


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker")
def test_a_killed_worker_stops_the_job_with_one_line_and_no_partial_view(tmp_path):
    n = 400
    cams = _camera_file(tmp_path, n, 96)
    out = tmp_path / "out"
    proc = subprocess.Popen(_render_cmd(cams, out, "--tasks", CLI_TASKS, "--workers", "2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline and not any((out / "point_info").glob("*")):
            time.sleep(0.01)
        workers = _children(proc.pid)
        assert proc.poll() is None and workers, "the job ended before its worker could be killed"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("labelgen: error: a worker process ended unexpectedly") and "Traceback" not in err
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith(".part")]
    views = {p.name.split("_domain_")[0] for p in (out / "point_info").glob("*.json")}
    assert 0 < len(views) < n and f"after {len(views)} of {n} views" in lines[-1]
    for task in CLI_TASKS.split(","):  # every view whole: all its labels and its point_info, or nothing
        assert {p.name.split("_domain_")[0] for p in (out / task).glob("*.png")} == views


def test_a_view_is_removed_only_once_a_process_began_writing_it(tmp_path, renderer):
    cam = _cameras(1)[0]
    writer = ViewWriter(tmp_path)

    def view_files():
        return _workers.ViewFiles(writer.paths(cam.point, cam.view, TASKS))

    _render_one(renderer, cam, TASKS, resolve_params(), writer)  # an earlier run's view
    earlier = _digests(tmp_path)
    view_files().remove_if_written()  # not begun: kept as it was
    assert _digests(tmp_path) == earlier and len(earlier) == len(TASKS) + 1
    files = view_files()
    label = next((tmp_path / TASKS[0]).glob("*.png"))
    label.write_bytes(label.read_bytes())  # rewritten by a process that then stopped
    files.remove_if_written()
    assert _digests(tmp_path) == {}
    _render_one(renderer, cam, TASKS, resolve_params(), writer)
    files = view_files()
    (label.parent / f".{label.name}.x1y2.part").write_bytes(b"half")  # a temporary file left by a kill
    files.remove_if_written()
    assert _digests(tmp_path) == {}


@pytest.mark.slow
def test_forked_workers_wait_for_the_warm_up_and_write_the_same_bytes(tmp_path, apartment_mesh, apartment_curvature):
    """A cold cache (forced here): the forked worker waits until this process has warmed up the
    kernels (labelgen.engine._warmup) before its first view; same bytes as one process."""
    code = """
import logging
import sys
logging.basicConfig(level=logging.INFO, format="%(message)s")
from pathlib import Path
from labelgen.engine import _warmup as warmup, fork_is_safe, render_building
from labelgen.camera import Camera
from labelgen.io._meshes import load_mesh

real_start = warmup.start
started = []
def forced(tasks, params=None, processes=None):
    warmup.cache_is_cold = lambda modules=None: True
    started.append(real_start(tasks, params, processes=1))
    return started[-1]
warmup.start = forced
cams = [Camera.look_at([4.2, 3.0, 1.5], [0.0, 0.4 * k, 1.3], fov=1.2, width=64, height=48, point=str(k))
        for k in range(5)]
tasks = ["depth_zbuffer", "rgb", "principal_curvature", "edge_texture", "segment_unsup2d"]
safe = fork_is_safe()
s = render_building(load_mesh(sys.argv[1]), cams, Path(sys.argv[2]) / "two", tasks=tasks, workers=2,
                           cache=False)
print(safe, started[0] is not None, s.views)
"""
    res = subprocess.run([sys.executable, "-c", code, str(APARTMENT), str(tmp_path)], capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "True", "5"] and "1 forked process" in res.stderr
    tasks = ["depth_zbuffer", "rgb", "principal_curvature", "edge_texture", "segment_unsup2d"]
    cams = [Camera.look_at([4.2, 3.0, 1.5], [0.0, 0.4 * k, 1.3], fov=1.2, width=64, height=48, point=str(k))
            for k in range(5)]
    render_building(apartment_mesh, cams, tmp_path / "one", tasks=tasks)  # one process, the shared curvature
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")


@pytest.mark.slow
def test_workers_after_a_parallel_kernel_are_spawned_and_write_the_same_bytes(tmp_path):
    """A process that has run a parallel kernel (rgb shading) spawns its workers (a forked one
    would be stopped by Numba's OpenMP layer); same bytes as one process."""
    code = """
import logging
import sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(message)s")
from labelgen.engine import fork_is_safe, render_building
from labelgen.camera import Camera
from labelgen.io._meshes import load_mesh
mesh = load_mesh(sys.argv[1])
cams = [Camera.look_at([4.2, 3.0, 1.5], [0.0, 0.4 * k, 1.3], fov=1.2, width=64, height=48, point=str(k))
        for k in range(4)]
tasks = ["depth_zbuffer", "rgb", "edge_texture"]
render_building(mesh, cams, Path(sys.argv[2]) / "one", tasks=tasks, cache=False)
import numba
print(fork_is_safe(), bool(numba.threading_layer()))  # the layer has started (else ValueError)
render_building(mesh, cams, Path(sys.argv[2]) / "two", tasks=tasks, workers=2, cache=False)
"""
    res = subprocess.run([sys.executable, "-c", code, str(APARTMENT), str(tmp_path)], capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True"] and "1 spawned process" in res.stderr
    one = _digests(tmp_path / "one")
    assert one == _digests(tmp_path / "two") and len(one) == 4 * 4
