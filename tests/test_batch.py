"""``labelgen batch``: jobs file checks, layouts, and resuming after SIGKILL of the driver or a worker.

The kill tests run the real command line in subprocesses over three small buildings (two
meshes made here, one rendered from a camera file and one from sampled cameras, and a derive
job on a copy of the shipped Taskonomy view), kill it with SIGKILL once its first views are in
the journal, run the same command again and compare every output file byte for byte with an
uninterrupted run.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labelgen.batch._jobs import read_jobs
from labelgen.cli import main
from labelgen.core._errors import LabelgenError

RENDER_TASKS = ["depth_zbuffer", "normal", "reshading", "mask_valid"]
TIMEOUT = 240  # seconds for one batch run (the machine may be loaded)


# -- small buildings -----------------------------------------------------------------------

def _slab(lo, hi):
    import trimesh

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    b = trimesh.creation.box(hi - lo)
    b.apply_translation((lo + hi) / 2)
    return b


def _room(path, size, furniture):
    """A closed room of wall slabs (floor, ceiling, four walls) with furniture boxes, as PLY."""
    import trimesh

    x, y, z = size
    t = 0.1
    parts = [_slab([-t, -t, -t], [x + t, y + t, 0]), _slab([-t, -t, z], [x + t, y + t, z + t]),
             _slab([-t, -t, 0], [0, y + t, z]), _slab([x, -t, 0], [x + t, y + t, z]),
             _slab([0, -t, 0], [x, 0, z]), _slab([0, y, 0], [x, y + t, z])]
    parts += [_slab(lo, hi) for lo, hi in furniture]
    trimesh.util.concatenate(parts).export(path)
    return path


def _camera_poses(path, centre, n, fov=1.2, resolution=64):
    """``n`` cameras at ``centre`` turning around the vertical axis, as camera_poses.json."""
    from scipy.spatial.transform import Rotation

    from labelgen.camera._cameras import Camera

    poses = []
    for i in range(n):
        a = 2 * math.pi * i / n
        target = np.asarray(centre) + [math.cos(a), math.sin(a), -0.2]
        cam = Camera.look_at(centre, target, fov=fov, width=resolution, height=resolution)
        x, y, z, w = Rotation.from_matrix(cam.rotation).as_quat()
        poses.append({"camera_id": f"c{i}", "location": list(map(float, centre)),
                      "rotation_quaternion": [float(w), float(x), float(y), float(z)],
                      "field_of_view_rads": fov, "resolution": resolution})
    Path(path).write_text(json.dumps(poses))
    return path


def make_jobs(folder: Path, reference: Path, n_cameras: int = 24) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _room(folder / "a.ply", (6, 4, 2.6), [([1, 1, 0], [2, 2, 0.8]), ([4, 2.5, 0], [5.5, 3.8, 1.8])])
    _camera_poses(folder / "a_cameras.json", (3.0, 2.0, 1.4), n_cameras)
    _room(folder / "b.ply", (5, 5, 2.8), [([2, 2, 0], [3, 3, 1.0])])
    shutil.copytree(reference / "taskonomy", folder / "shipped")
    jobs = {"defaults": {"tasks": RENDER_TASKS, "resolution": 64},
            "jobs": [{"building": "apt_a", "render": {"mesh": "a.ply", "cameras": "a_cameras.json"}},
                     {"building": "room.b", "render": {"mesh": "b.ply", "sample": {
                         "num_cameras": 5, "num_points": 6, "seed": 1, "camera_height": [1.2, 1.5],
                         "min_views_per_point": 2, "max_views_per_point": 4}}},
                     {"building": "shipped", "tasks": ["edge_occlusion", "edge_texture"],
                      "params": {"canny_sigma": 2}, "derive": {"path": "shipped"}}]}
    path = folder / "jobs.json"
    path.write_text(json.dumps(jobs, indent=1))
    return path


def tree(root: Path) -> dict[str, bytes]:
    """Every output file under ``root`` (the .labelgen state folder aside) with its bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".labelgen/"):
            out[rel] = p.read_bytes()
    return out


def _cmd(jobs, root, *extra):
    return [sys.executable, "-m", "labelgen", "batch", str(jobs), "--out", str(root), "--quiet", *extra]


def _env():
    env = dict(os.environ, LABELGEN_BATCH_CHUNK_VIEWS="1", PYTHONUNBUFFERED="1")
    return env


def run_cli(jobs, root, *extra):
    res = subprocess.run(_cmd(jobs, root, *extra), env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    return json.loads((Path(root) / ".labelgen" / "summary.json").read_text())


def _journal_files(root: Path):
    return list((root / ".labelgen" / "journal").rglob("chunk-*.json"))


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def run_killed(jobs, root, *extra):
    """Start the batch, SIGKILL the driver once the first views are journaled (then the rest of
    its process group, so no orphan keeps writing); returns whether it was still running."""
    proc = subprocess.Popen(_cmd(jobs, root, *extra), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _journal_files(root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _kill_group(proc)
    return running


@pytest.fixture(scope="module")
def jobs_file(tmp_path_factory, reference):
    return make_jobs(tmp_path_factory.mktemp("jobs"), reference)


@pytest.fixture(scope="module")
def uninterrupted(jobs_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    summary = run_cli(jobs_file, root, "--workers", "2")
    return root, summary


# -- the whole run -------------------------------------------------------------------------

@pytest.mark.slow
def test_uninterrupted_run_writes_every_view(uninterrupted, jobs_file):
    from labelgen.camera._cameras import read_cameras

    root, summary = uninterrupted
    b = summary["buildings"]
    assert set(b) == {"apt_a", "room.b", "shipped"}
    for s in b.values():
        assert s["failures"] == [] and s["already_done"] == 0 and s["computed"] == s["views"] > 0
    files = tree(root)
    # every camera of the camera file: four labels and a point_info, at the requested size
    cams = read_cameras(jobs_file.parent / "a_cameras.json", resolution=64)
    assert b["apt_a"]["views"] == len(cams) and b["apt_a"]["files"] == 5 * len(cams)
    for cam in cams:
        for task in RENDER_TASKS:
            assert f"apt_a/{task}/point_{cam.point}_view_{cam.view}_domain_{task}.png" in files
        info = json.loads(files[f"apt_a/point_info/point_{cam.point}_view_{cam.view}_domain_point_info.json"])
        assert info["resolution"] == 64
    # the sampled building: the views of the sample stored under .labelgen, all rendered
    sampled = read_cameras(root / ".labelgen" / "sample" / "labelgen" / "room.b" / "point_info")
    assert b["room.b"]["views"] == len(sampled) > 0
    assert sum(f.startswith("room.b/point_info/") for f in files) == len(sampled)
    # the derive job wrote its two labels, with its own canny_sigma
    assert sorted(f for f in files if f.startswith("shipped/")) == [
        "shipped/edge_occlusion/point_202_view_5_domain_edge_occlusion.png",
        "shipped/edge_texture/point_202_view_5_domain_edge_texture.png"]
    # the journal records each file with its size and hash
    for jf in _journal_files(root):
        for rec in json.loads(jf.read_text())["views"].values():
            for rel, (size, digest) in rec["files"].items():
                data = (root / rel).read_bytes()
                assert len(data) == size
                import hashlib

                assert hashlib.sha256(data).hexdigest() == digest
    assert not [f for f in files if f.endswith(".part")]


@pytest.mark.slow
def test_labels_match_labelgen_render_and_derive(uninterrupted, jobs_file, tmp_path):
    """The batch writes the same bytes as the single-building commands."""
    root, _ = uninterrupted
    d = jobs_file.parent
    assert main(["render", str(d / "a.ply"), "--cameras", str(d / "a_cameras.json"), "--out", str(tmp_path / "a"),
                 "--tasks", ",".join(RENDER_TASKS), "--resolution", "64", "--quiet"]) == 0
    assert main(["derive", str(d / "shipped"), "--out", str(tmp_path / "shipped"), "--tasks",
                 "edge_occlusion,edge_texture", "--canny-sigma", "2", "--quiet"]) == 0
    single = {f"apt_a/{k}": v for k, v in tree(tmp_path / "a").items()}
    single.update({f"shipped/{k}": v for k, v in tree(tmp_path / "shipped").items()})
    batch = tree(root)
    assert single and all(batch[k] == v for k, v in single.items())


@pytest.mark.slow
def test_rerun_computes_nothing(uninterrupted, jobs_file, tmp_path):
    root, _ = uninterrupted
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    # a deleted output file makes its view be computed again, and only that one
    victim = copy / "apt_a" / "normal" / "point_3_view_0_domain_normal.png"
    victim.unlink()
    summary = run_cli(jobs_file, copy, "--workers", "1")
    for name, s in summary["buildings"].items():
        assert s["computed"] == (name == "apt_a") and s["already_done"] == s["views"] - s["computed"]
    assert summary["buildings"]["apt_a"]["files"] == len(RENDER_TASKS) + 1
    assert tree(copy) == tree(root)
    # --force redoes everything, same bytes
    summary = run_cli(jobs_file, copy, "--workers", "1", "--force")
    assert all(s["computed"] == s["views"] and s["already_done"] == 0 for s in summary["buildings"].values())
    assert tree(copy) == tree(root)


def _check_resumed(summary, root, uninterrupted_root):
    total_done = sum(s["already_done"] for s in summary["buildings"].values())
    total_computed = sum(s["computed"] for s in summary["buildings"].values())
    assert total_done > 0, summary
    assert total_computed > 0, summary  # the kill left work to do
    for s in summary["buildings"].values():
        assert s["failures"] == [] and s["already_done"] + s["computed"] == s["views"]
    assert tree(root) == tree(uninterrupted_root)


@pytest.mark.slow
def test_sigkill_then_rerun_local(uninterrupted, jobs_file, tmp_path):
    root = tmp_path / "out"
    assert run_killed(jobs_file, root, "--workers", "2")
    summary = run_cli(jobs_file, root, "--workers", "2")
    _check_resumed(summary, root, uninterrupted[0])


@pytest.mark.slow
def test_sigkill_then_rerun_dask_localcluster(uninterrupted, jobs_file, tmp_path):
    pytest.importorskip("distributed")
    root = tmp_path / "out"
    assert run_killed(jobs_file, root, "--scheduler", "dask", "--workers", "2")
    summary = run_cli(jobs_file, root, "--scheduler", "dask", "--workers", "2")
    _check_resumed(summary, root, uninterrupted[0])


def _children(pid: int) -> list[tuple[int, bytes]]:
    """(process id, command line) of each child process of ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append((int(d.name), cmd))
    return out


def _pool_workers(pid: int) -> list[int]:
    """Process ids of the pool workers among the children of ``pid``: spawned ones run
    ``spawn_main``, forked ones have their parent's command line."""
    try:
        parent = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [child for child, cmd in _children(pid) if b"spawn_main" in cmd or cmd == parent]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the pool's workers")
def test_local_pool_survives_a_killed_worker(uninterrupted, jobs_file, tmp_path):
    root = tmp_path / "out"
    batch = subprocess.Popen(_cmd(jobs_file, root, "--workers", "2"), env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _journal_files(root) and batch.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        workers = _pool_workers(batch.pid)
        assert batch.poll() is None and workers, "the batch ended before a worker could be killed"
        os.kill(workers[0], signal.SIGKILL)
        _, err = batch.communicate(timeout=TIMEOUT)
        assert batch.returncode == 0, err
    finally:
        _kill_group(batch)
    summary = json.loads((root / ".labelgen" / "summary.json").read_text())
    for s in summary["buildings"].values():
        assert s["failures"] == [] and s["computed"] == s["views"]
    assert tree(root) == tree(uninterrupted[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dask_cluster_survives_a_killed_worker(uninterrupted, jobs_file, tmp_path):
    pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                       "--port", str(port), "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        for _ in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                           "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        root = tmp_path / "out"
        batch = subprocess.Popen(_cmd(jobs_file, root, "--scheduler", "dask", "--address", address), env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(batch)
        deadline = time.monotonic() + TIMEOUT
        while not _journal_files(root) and batch.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert batch.poll() is None, "the batch ended before a worker could be killed"
        os.kill(procs[1].pid, signal.SIGKILL)
        _, err = batch.communicate(timeout=TIMEOUT)
        assert batch.returncode == 0, err
        summary = json.loads((root / ".labelgen" / "summary.json").read_text())
        for s in summary["buildings"].values():
            assert s["failures"] == [] and s["computed"] == s["views"]
        assert tree(root) == tree(uninterrupted[0])
    finally:
        for p in reversed(procs):
            _kill_group(p)


# -- jobs file and layouts -----------------------------------------------------------------

def _write(tmp_path, obj, name="jobs.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.mark.parametrize("jobs, field", [
    ({"jobs": [{"building": "../up", "derive": {"path": "."}}]}, "job 1: building"),
    ({"jobs": [{"building": "a/b", "derive": {"path": "."}}]}, "job 1: building"),
    ({"jobs": [{"building": "", "derive": {"path": "."}}]}, "job 1: building"),
    ({"jobs": [{"building": "x", "component": "..", "derive": {"path": "."}}]}, "job 1 (x): component"),
    ({"jobs": [{"building": "x", "derive": {"path": "nowhere"}}]}, "job 1 (x): derive.path"),
    ({"jobs": [{"building": "x", "derive": {"path": "."}, "tasks": ["nope"]}]}, "job 1 (x): tasks"),
    ({"jobs": [{"building": "x", "derive": {"path": "."}, "params": {"nope": 1}}]}, "job 1 (x): params"),
    ({"jobs": [{"building": "x", "derive": {"path": "."}, "resolution": -3}]}, "job 1 (x): resolution"),
    ({"jobs": [{"building": "x", "derive": {"path": "."}}, {"building": "x", "derive": {"path": "."}}]},
     "job 2 (x)"),
    ({"jobs": [{"building": "x", "render": {"mesh": "m.ply"}}]}, "job 1 (x): render"),
    ({"jobs": [{"building": "x", "render": {"mesh": "m.ply", "sample": {"num_points": 0}}}]},
     "job 1 (x): render.sample.num_points"),
    ({"jobs": [{"building": "x", "render": {"mesh": "m.ply", "sample": {"bogus": 1}}}]}, "job 1 (x): render.sample"),
    ({"jobs": [{"building": "x", "derive": {"path": "."}, "validate": {"path": "."}}]}, "job 1 (x)"),
    ({"jobs": [{"building": "x", "derive": {"path": "."}, "colour": 1}]}, "job 1 (x)"),
    ({"defaults": {"params": {"canny_sigma": "wide"}}, "jobs": [{"building": "x", "derive": {"path": "."}}]},
     "defaults.params"),
    ({"jobs": []}, "jobs"),
    ("jobs: [building: x", "line"),
])
def test_bad_jobs_file_is_one_line_exit_2_nothing_written(tmp_path, capsys, jobs, field):
    (tmp_path / "m.ply").write_text("ply\n")
    path = _write(tmp_path, jobs)
    out = tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"labelgen: error: {path}: ") and field in err[0], err
    assert not out.exists()


def test_jobs_file_yaml_relative_paths_and_overrides(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.ply").write_text("ply\n")
    path = _write(tmp_path, "defaults: {tasks: [depth_zbuffer], params: {canny_sigma: 2}, resolution: 32}\n"
                            "jobs:\n"
                            "  - {building: a, render: {mesh: sub/m.ply, sample: {num_points: 4, seed: 3}}}\n"
                            "  - building: b\n    tasks: normal\n    params: {canny_sigma: 4}\n"
                            "    component: replica\n    derive: {path: sub}\n", "jobs.yaml")
    a, b = read_jobs(path)
    assert a.mesh == tmp_path / "sub" / "m.ply" and a.sample == {"num_points": 4, "seed": 3}
    assert a.tasks == ["depth_zbuffer"] and a.params == {"canny_sigma": 2} and a.resolution == 32
    assert b.path == tmp_path / "sub" and b.tasks == ["normal"] and b.params == {"canny_sigma": 4}
    assert a.component == "labelgen" and b.component == "replica"
    # the same building name in two components is two output folders only in the omnidata layout
    path = _write(tmp_path, {"jobs": [{"building": "x", "derive": {"path": "sub"}},
                                      {"building": "x", "component": "other", "derive": {"path": "sub"}}]})
    assert len(read_jobs(path, "omnidata")) == 2
    with pytest.raises(LabelgenError, match="job 2"):
        read_jobs(path, "building")
    # JSON as it is, even indented with tabs (which YAML refuses)
    path = _write(tmp_path, json.dumps({"jobs": [{"building": "t", "derive": {"path": "sub"}}]}, indent="\t"))
    assert [j.building for j in read_jobs(path)] == ["t"]


@pytest.mark.slow
def test_omnidata_layout_unreadable_mesh_and_validate(tmp_path, capsys, reference):
    shutil.copytree(reference / "taskonomy", tmp_path / "shipped")
    (tmp_path / "broken.ply").write_bytes(b"ply\nformat nonsense\n")
    _camera_poses(tmp_path / "cams.json", (0, 0, 1), 2)
    path = _write(tmp_path, {"jobs": [
        {"building": "broken", "render": {"mesh": "broken.ply", "cameras": "cams.json"}},
        {"building": "shipped", "component": "taskonomy", "tasks": ["edge_occlusion"], "derive": {"path": "shipped"}},
        {"building": "checked", "validate": {"path": "shipped"}}]})
    out = tmp_path / "out"
    code = main(["batch", str(path), "--out", str(out), "--layout", "omnidata", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.ply" in err
    summary = json.loads((out / ".labelgen" / "summary.json").read_text())
    assert summary["buildings"]["broken"]["failures"] and summary["buildings"]["broken"]["computed"] == 0
    assert summary["buildings"]["shipped"] == {**summary["buildings"]["shipped"], "computed": 1, "failures": []}
    assert (out / "edge_occlusion" / "taskonomy" / "shipped" / "point_202_view_5_domain_edge_occlusion.png").is_file()
    assert summary["buildings"]["checked"]["failures"] == []
    assert (out / "validate" / "labelgen" / "checked" / "validate.json").is_file()
