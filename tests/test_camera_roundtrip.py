"""The point_info labelgen writes gives back the exact camera it rendered with, bit for bit.

Normals of axis-aligned walls lie exactly on a rounding tie (n = 0 encodes to 127.5), so a
rotation that differs from the rendered one in the last bit flips them by one level: validating
a render of the sample apartment against its own mesh failed ``normal`` on view point_8 (23 %
exact) when the camera was rebuilt from the Euler angles, or from a quaternion recomputed from
the rendered matrix.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from labelgen.camera._cameras import Camera, camera_from_point_info, read_cameras
from labelgen.camera._rotations import matrix_from_euler
from labelgen.cli import main
from labelgen.core._errors import LabelgenError

REPO = Path(__file__).resolve().parents[1]
MESH = REPO / "sample_meshes" / "apartment.glb"
CAMERAS = REPO / "sample_meshes" / "apartment_cameras.json"
TASKS = "depth_zbuffer,normal,reshading,mask_valid"


def _point_infos(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "point_info").glob("*.json"))}


def test_render_then_validate_is_exact(tmp_path):
    """Render the apartment's 10 views, validate them against the mesh: every file passes, and
    the camera read back from each point_info has the rendered rotation matrix, bit for bit."""
    out = tmp_path / "out"
    assert main(["render", str(MESH), "--cameras", str(CAMERAS), "--resolution", "128", "--out", str(out),
                 "--tasks", TASKS, "--quiet"]) == 0
    report = tmp_path / "report"
    rc = main(["validate", str(out), "--mesh", str(MESH), "--report", str(report), "--quiet"])
    failed = [(f["point"], f["label"], f.get("error")) for f in json.loads((report / "report.json").read_text())["files"]
              if not f["passed"]]
    assert rc == 0 and not failed, failed
    rendered = {(c.point, c.view): c for c in read_cameras(CAMERAS, resolution=128)}
    infos = _point_infos(out)
    assert len(infos) == 10
    for name, info in infos.items():
        cam = camera_from_point_info(info, name)
        want = rendered[cam.point, cam.view]
        assert np.array_equal(cam.rotation, want.rotation), name
        assert np.array_equal(cam.location, want.location) and cam.fov == want.fov, name
        # and again: the point_info of the camera read back is the same file
        assert cam.point_info() == info, name


def _euler_camera():
    return Camera.from_euler([1.0, 2.0, 1.5], [1.3, 0.01, -2.2], 1.1, 16, 16, point="4", view="2")


@pytest.mark.parametrize("make", [
    lambda: read_cameras(CAMERAS)[8],  # from a camera_poses.json quaternion
    _euler_camera,  # from Euler angles (a Taskonomy point_info)
    lambda: Camera.look_at([0.5, 0.2, 1.4], [3.0, 2.5, 0.3], fov=1.0, width=8, height=8),  # from a matrix
], ids=["quaternion", "euler", "look_at"])
def test_point_info_round_trip_is_exact(make):
    cam = make()
    info = json.loads(json.dumps(cam.point_info()))  # as written to a file and read back
    again = camera_from_point_info(info, "p.json")
    assert np.array_equal(again.rotation, cam.rotation)
    assert json.loads(json.dumps(again.point_info())) == info


def test_euler_only_files_keep_the_euler_path():
    """A point_info without the quaternion (Taskonomy's) is read from its Euler angles, as before."""
    info = {"camera_location": [0, 0, 1], "camera_rotation_final": [1.2, 0.1, -0.4], "field_of_view_rads": 1.0,
            "resolution": 8}
    cam = camera_from_point_info(info, "p.json")
    assert np.array_equal(cam.rotation, matrix_from_euler([1.2, 0.1, -0.4]))


def test_quaternion_field_is_used_and_normalised():
    info = {"camera_location": [0, 0, 1], "camera_rotation_final": [0.0, 0.0, 0.0], "field_of_view_rads": 1.0,
            "resolution": 8, "camera_rotation_final_quaternion": [2.0, 0.0, 0.0, 2.0]}
    cam = camera_from_point_info(info, "p.json")
    assert np.allclose(cam.rotation, Rotation.from_rotvec([0, 0, math.pi / 2]).as_matrix(), rtol=0, atol=1e-15)
    written = cam.point_info()["camera_rotation_final_quaternion"]
    assert abs(np.linalg.norm(written) - 1) < 1e-15
    # without Euler angles at all
    del info["camera_rotation_final"]
    assert np.array_equal(camera_from_point_info(info, "p.json").rotation, cam.rotation)


@pytest.mark.parametrize("value, message", [
    ([1, 0, 0], "must be a list of 4 numbers"),
    ([1, 0, 0, 0, 0], "must be a list of 4 numbers"),
    ("1 0 0 0", "must be a list of 4 numbers"),
    ([1, "x", 0, 0], "must be a number"),
    ([1, None, 0, 0], "must be a number"),
    ([1, True, 0, 0], "must be a number"),
    ([float("nan"), 0, 0, 0], "not finite"),
    ([0, 0, 0, 0], "is zero"),
    ([0.0, -0.0, 0, 0], "is zero"),
])
def test_bad_quaternion_is_a_one_line_error(value, message):
    info = {"camera_location": [0, 0, 1], "camera_rotation_final": [0.0, 0.0, 0.0], "field_of_view_rads": 1.0,
            "resolution": 8, "camera_rotation_final_quaternion": value}
    with pytest.raises(LabelgenError) as err:
        camera_from_point_info(info, "dir/p.json")
    text = str(err.value)
    assert "\n" not in text and "dir/p.json" in text and "camera_rotation_final_quaternion" in text, text
    assert message in text, text


def test_tiny_and_huge_quaternions_are_normalised():
    for scale in (1e-320, 1e300):
        info = {"camera_location": [0, 0, 1], "field_of_view_rads": 1.0, "resolution": 8,
                "camera_rotation_final_quaternion": [scale, 0, 0, 0]}
        assert np.array_equal(camera_from_point_info(info, "p.json").rotation, np.eye(3))


def test_quaternion_sign_and_camera_poses():
    """q and -q are one rotation, bit for bit; a camera_poses.json camera keeps its quaternion."""
    q = [-0.448312344873485, -0.4280254405768628, -0.5419012654993943, -0.5675854844014024]
    a = camera_from_point_info({"camera_location": [0, 0, 1], "field_of_view_rads": 1.0, "resolution": 8,
                                "camera_rotation_final_quaternion": q}, "p.json")
    w, x, y, z = q
    assert np.array_equal(a.rotation, Rotation.from_quat([x, y, z, w]).as_matrix())
    assert a.point_info()["camera_rotation_final_quaternion"] == [-v for v in q]
    cam = read_cameras(CAMERAS)[0]
    assert cam.point_info()["camera_rotation_final_quaternion"] == json.loads(CAMERAS.read_text())[0]["rotation_quaternion"]


def test_matrix_field_must_match_the_rotation():
    cam = Camera.from_euler([1.0, 2.0, 1.5], [1.3, 0.01, -2.2], 1.1, 16, 16)
    info = cam.point_info()
    assert "camera_rotation_final_matrix" in info  # this quaternion does not give the matrix back exactly
    bad = dict(info, camera_rotation_final_quaternion=[1.0, 0.0, 0.0, 0.0])
    with pytest.raises(LabelgenError, match="camera_rotation_final_matrix"):
        camera_from_point_info(bad, "p.json")
    bad = dict(info, camera_rotation_final_matrix=[[1, 0, 0], [0, 1, 0]])
    with pytest.raises(LabelgenError, match="camera_rotation_final_matrix.*3 rows"):
        camera_from_point_info(bad, "p.json")
    # a camera that no longer has that rotation does not carry the stale matrix into its point_info
    import dataclasses

    moved = dataclasses.replace(camera_from_point_info(info, "p.json"), rotation=np.eye(3))
    out = moved.point_info()
    assert "camera_rotation_final_matrix" not in out and out["camera_rotation_final_quaternion"] == [1.0, 0, 0, 0]
