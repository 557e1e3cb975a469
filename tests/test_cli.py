"""The command line as a user runs it: outputs, determinism, bad input."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import APARTMENT as SAMPLE, APARTMENT_CAMERAS as SAMPLE_CAMERAS, REPO
from labelgen.cli import main
from labelgen.io._images import read_png

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


@pytest.mark.slow
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
    # measured: depth identical; the normal of axis-aligned walls sits on a rounding boundary
    # (n = 0 encodes to 127.5), where the rotation read back from Euler angles instead of the
    # quaternion moves some pixels by one level
    for dom, tol in (("depth_zbuffer", 0), ("normal", 1)):
        a = read_png(tmp_path / "a" / dom / f"point_0_view_0_domain_{dom}.png").astype(int)
        b = read_png(tmp_path / "b" / dom / f"point_0_view_0_domain_{dom}.png").astype(int)
        assert np.abs(a - b).max() <= tol, dom


@pytest.mark.slow
def test_every_default_label_is_rendered_and_right(tmp_path, apartment_mesh):
    """All labels of a default render of the sample apartment, each decoded and checked against
    the mesh (closest points, face colours), its definition, or derive from the written files."""
    import open3d as o3d

    from labelgen.camera._cameras import read_cameras
    from labelgen.labels import get_label
    from labelgen.labels.rgb import colour_tables
    from labelgen.engine import default_render_tasks

    size, out = 32, tmp_path / "render"
    assert main(["render", str(SAMPLE), "--cameras", str(SAMPLE_CAMERAS), "--resolution", str(size),
                 "--out", str(out), "--quiet"]) == 0
    mesh = apartment_mesh  # the file the command rendered
    tasks = default_render_tasks(mesh)
    assert {p.name for p in out.iterdir()} == set(tasks) | {"point_info"}
    assert len(tasks) == 13
    cams = read_cameras(SAMPLE_CAMERAS, resolution=size)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    tables = colour_tables(mesh)
    params = {"depth_units_per_meter": 512.0, "curvature_r_min": 0.03}

    def label(name, cam):
        return read_png(out / name / f"point_{cam.point}_view_{cam.view}_domain_{name}.png")

    for cam in cams:
        depth = get_label("depth_zbuffer").decode(label("depth_zbuffer", cam), params)
        dist = get_label("depth_euclidean").decode(label("depth_euclidean", cam), params)
        valid = np.isfinite(depth)
        assert valid.mean() > 0.9
        assert np.array_equal(label("mask_valid", cam) == 255, valid)
        # each pixel's point lies on the mesh (within the 1/512 m encoding), at the encoded distance
        rays = cam.pixel_directions()
        pts = cam.location + (rays[valid] * depth[valid, None]) @ cam.rotation.T
        closest = scene.compute_closest_points(o3d.core.Tensor(pts.astype(np.float32)))
        on_mesh = np.linalg.norm(closest["points"].numpy() - pts, axis=1)
        assert np.quantile(on_mesh, 0.99) < 4e-3 and on_mesh.max() < 0.05
        np.testing.assert_allclose(np.linalg.norm(pts - cam.location, axis=1), dist[valid], atol=1.5 / 512)
        # normal: the closest face's normal in OpenCV camera axes, facing the camera
        n_world = closest["primitive_normals"].numpy().astype(np.float64)
        n_cam = (n_world @ cam.rotation) * np.array([1.0, -1.0, -1.0])
        n_cam *= np.where(np.einsum("ij,ij->i", n_world, pts - cam.location) > 0, -1.0, 1.0)[:, None]
        normal = get_label("normal").decode(label("normal", cam), params)
        agree = np.all(np.abs(normal[valid] - n_cam) <= 0.5 / 127.5 + 1e-6, axis=1)
        assert agree.mean() >= 0.97  # the rest: pixels whose closest face is a neighbouring one
        assert np.all(np.isnan(normal[~valid]))
        # reshading from the decoded normal and distance by its definition (lamp at the camera)
        ray_dir = rays[valid] / np.linalg.norm(rays[valid], axis=1, keepdims=True)
        lambert = np.maximum(0.0, -np.einsum("ij,ij->i", n_cam * [1, -1, -1], ray_dir))
        shade = np.clip(1.6 * 8 / (8 + dist[valid] ** 2) * lambert, 0, 1) * 255
        reshading = label("reshading", cam)
        assert np.all(reshading[..., 0] == reshading[..., 1]) and np.all(reshading[..., 0] == reshading[..., 2])
        assert np.mean(np.abs(reshading[valid][:, 0] - shade) <= 2) >= 0.97
        assert np.all(reshading[~valid] == 13)
        # rgb: pixels on faces of one flat colour show that colour
        face = closest["primitive_ids"].numpy().astype(np.int64)
        corner = tables.corner_rgb[face]
        flat = (tables.mode[face] == 1) & np.all(corner == corner[:, :1], axis=(1, 2))
        rgb = label("rgb", cam)
        assert flat.mean() > 0.5
        assert np.mean(np.all(rgb[valid][flat] == np.rint(corner[flat, 0]), axis=1)) >= 0.97
        assert np.all(rgb[~valid] == 0)
        # principal_curvature: its encoding's range and invalid pixels (the values themselves are
        # held against analytic surfaces and pymeshlab in tests/test_curvature.py)
        curv = label("principal_curvature", cam)
        k = get_label("principal_curvature").decode(curv, params)
        assert np.all(np.abs(k[valid]) <= 1 / 0.03 + 1e-9) and np.all(curv[valid][:, :2] <= 254)
        assert np.all(curv[valid][:, 2] == 0) and np.all(curv[~valid] == 0)
    # the image-derived labels and keypoints3d: what derive computes from the written files
    derived = [t for t in tasks if t in ("edge_texture", "keypoints2d", "edge_occlusion", "segment_unsup2d",
                                          "segment_unsup25d", "keypoints3d")]
    assert len(derived) == 6
    assert main(["derive", str(out), "--out", str(tmp_path / "derived"), "--quiet", "--tasks", ",".join(derived)]) == 0
    for name in derived:
        for cam in cams:
            rel = f"{name}/point_{cam.point}_view_{cam.view}_domain_{name}.png"
            assert (tmp_path / "derived" / rel).read_bytes() == (out / rel).read_bytes(), rel


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
            "nan": (nan, "NaN"), "garbage": (garbage, "cannot parse mesh")}


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "empty", "nan", "garbage"])
def test_bad_mesh(tmp_path, case):
    path, message = bad_mesh_files(tmp_path)[case]
    res = run_cli("render", str(path), "--cameras", str(SAMPLE_CAMERAS), "--out", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labelgen: error: ") and str(path) in lines[0]
    assert message in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


@pytest.mark.slow
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


@pytest.mark.slow
def test_bad_camera_file(tmp_path):
    cams = tmp_path / "camera_poses.json"
    cams.write_text(json.dumps([{"camera_id": 0, "location": [0, "a", 1], "rotation_quaternion": [1, 0, 0, 0]}]))
    res = run_cli("render", str(SAMPLE), "--cameras", str(cams), "--fov", "1", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and str(cams) in res.stderr and "must be a number" in res.stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_verbose_reports_mesh(tmp_path):
    cams = write_poses(tmp_path / "camera_poses.json", 1)
    res = run_cli("render", str(SAMPLE), "--cameras", str(cams), "--fov", "1", "--resolution", "16",
                  "--out", str(tmp_path / "o"), "--verbose", "--quiet", "--tasks", "mask_valid")
    assert res.returncode == 0, res.stderr
    assert "vertices" in res.stderr and "faces" in res.stderr and "bounds" in res.stderr
