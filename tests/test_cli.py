"""The command line as a user runs it: outputs, determinism, bad input."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from labelgen.cli import main
from labelgen.images import read_png

SAMPLE = REPO / "sample_meshes" / "apartment.glb"
SAMPLE_CAMERAS = REPO / "sample_meshes" / "apartment_cameras.json"
GEOMETRIC = ["depth_zbuffer", "depth_euclidean", "normal", "reshading", "mask_valid"]


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_poses(path, n=2):
    poses = json.loads(SAMPLE_CAMERAS.read_text())[:n]
    for p in poses:
        p.pop("field_of_view_rads"), p.pop("resolution")
    path.write_text(json.dumps(poses))
    return path


def test_render_sample_layout_and_determinism(tmp_path):
    cams = write_poses(tmp_path / "camera_poses.json", 3)
    args = [str(SAMPLE), "--cameras", str(cams), "--fov", "1.2", "--resolution", "96x64", "--quiet",
            "--tasks", ",".join(GEOMETRIC)]
    assert main(["render", *args, "--out", str(tmp_path / "a")]) == 0
    assert main(["render", *args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert a == b  # byte-identical, in one process or several
    for p in range(3):
        for dom in GEOMETRIC:
            img = read_png(tmp_path / "a" / dom / f"point_{p}_view_0_domain_{dom}.png")
            assert img.shape[:2] == (64, 96)
        info = json.loads((tmp_path / "a" / "point_info" / f"point_{p}_view_0_domain_point_info.json").read_text())
        assert info["field_of_view_rads"] == 1.2 and info["resolution"] == [96, 64]
        assert len(info["camera_location"]) == 3 and len(info["camera_rotation_final"]) == 3
    assert not list((tmp_path / "a").rglob("*.part"))


def test_rendered_point_info_renders_the_same_view(tmp_path):
    """The point_info written by render is a camera file that reproduces the view."""
    cams = write_poses(tmp_path / "camera_poses.json", 1)
    common = ["--quiet", "--tasks", "depth_zbuffer,normal"]
    assert main(["render", str(SAMPLE), "--cameras", str(cams), "--fov", "1.0", "--resolution", "48",
                 "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["render", str(SAMPLE), "--cameras", str(tmp_path / "a"), "--out", str(tmp_path / "b"), *common]) == 0
    for dom in ("depth_zbuffer", "normal"):
        a = read_png(tmp_path / "a" / dom / f"point_0_view_0_domain_{dom}.png").astype(int)
        b = read_png(tmp_path / "b" / dom / f"point_0_view_0_domain_{dom}.png").astype(int)
        assert np.abs(a - b).max() <= 1


def test_sample_cameras_file_and_default_tasks(tmp_path):
    assert main(["render", str(SAMPLE), "--cameras", str(SAMPLE_CAMERAS), "--resolution", "32",
                 "--out", str(tmp_path), "--quiet"]) == 0
    domains = {p.name for p in tmp_path.iterdir()}
    assert set(GEOMETRIC) | {"point_info"} <= domains
    assert len(list((tmp_path / "depth_zbuffer").glob("*.png"))) == 10


def test_tasks_lists_every_label(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for dom in GEOMETRIC:
        assert dom in out
    assert "65535" in out


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "labelgen", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def bad_mesh_files(tmp):
    empty = tmp / "empty.ply"
    empty.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
                     "property float z\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n")
    nan = tmp / "nan.obj"
    nan.write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    garbage = tmp / "garbage.glb"
    garbage.write_bytes(b"glTF\x02\x00\x00\x00garbage")
    return {"missing": (tmp / "nope.ply", "no such file"), "empty": (empty, "empty"),
            "nan": (nan, "NaN"), "garbage": (garbage, "")}


@pytest.mark.parametrize("case", ["missing", "empty", "nan", "garbage"])
def test_bad_mesh(tmp_path, case):
    path, message = bad_mesh_files(tmp_path)[case]
    res = run_cli("render", str(path), "--cameras", str(SAMPLE_CAMERAS), "--out", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labelgen: error: ") and str(path) in lines[0]
    assert message in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


@pytest.mark.parametrize("extra,message", [
    (["--fov", "3.5"], "(0, pi)"), (["--fov", "0"], "(0, pi)"), (["--resolution", "0"], "positive"),
    (["--resolution", "12x-3"], "positive"), (["--tasks", "depth_zbuffer,bogus"], "unknown task 'bogus'"),
])
def test_bad_options(tmp_path, extra, message):
    res = run_cli("render", str(SAMPLE), "--cameras", str(SAMPLE_CAMERAS), "--out", str(tmp_path / "o"), "--quiet",
                  *extra)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.png"))


def test_bad_camera_file(tmp_path):
    cams = tmp_path / "camera_poses.json"
    cams.write_text(json.dumps([{"camera_id": 0, "location": [0, "a", 1], "rotation_quaternion": [1, 0, 0, 0]}]))
    res = run_cli("render", str(SAMPLE), "--cameras", str(cams), "--fov", "1", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and str(cams) in res.stderr and "must be a number" in res.stderr


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli("render", str(SAMPLE), "--cameras", str(SAMPLE_CAMERAS), "--out", str(blocker / "sub"), "--quiet")
    assert res.returncode == 2 and str(blocker / "sub") in res.stderr
    assert blocker.read_text() == "x"


def test_existing_outputs_survive_a_failed_run(tmp_path):
    out = tmp_path / "out"
    cams = write_poses(tmp_path / "camera_poses.json", 1)
    assert main(["render", str(SAMPLE), "--cameras", str(cams), "--fov", "1.0", "--resolution", "24",
                 "--out", str(out), "--quiet", "--tasks", "depth_zbuffer"]) == 0
    before = tree_digest(out)
    bad = tmp_path / "bad.json"
    bad.write_text("[")
    assert main(["render", str(SAMPLE), "--cameras", str(bad), "--out", str(out), "--quiet"]) == 2
    assert tree_digest(out) == before


def test_verbose_reports_mesh(tmp_path):
    cams = write_poses(tmp_path / "camera_poses.json", 1)
    res = run_cli("render", str(SAMPLE), "--cameras", str(cams), "--fov", "1", "--resolution", "16",
                  "--out", str(tmp_path / "o"), "--verbose", "--quiet", "--tasks", "mask_valid")
    assert res.returncode == 0, res.stderr
    assert "vertices" in res.stderr and "faces" in res.stderr and "bounds" in res.stderr
