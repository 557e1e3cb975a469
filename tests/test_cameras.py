"""Camera convention and camera files (spec section 2)."""
import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from labelgen.camera._cameras import Camera, parse_resolution, read_cameras
from labelgen.core._errors import LabelgenError


def test_fixated_reference_cameras_put_point_at_centre(reference):
    files = sorted((reference / "sample_building" / "points").glob("*.json"))
    files += sorted((reference / "taskonomy").glob("*point_info.json"))
    assert len(files) == 13
    for f in files:
        info = json.loads(f.read_text())
        cam = read_cameras(f)[0]
        col, row = cam.project(info["point_location"])
        # spec: a fixated view puts point_location at ((W-1)/2, (H-1)/2) = (255.5, 255.5)
        assert abs(col - 255.5) < 0.01 and abs(row - 255.5) < 0.01, f.name
        # and the point lies in front of the camera at camera_distance
        assert cam.world_to_camera(info["point_location"])[2] < 0
        assert np.linalg.norm(np.subtract(info["point_location"], cam.location)) == pytest.approx(
            info["camera_distance"], rel=1e-6)


def test_reference_folder_layouts(reference):
    legacy = read_cameras(reference / "sample_building")
    assert [(c.point, c.view) for c in legacy][:3] == [("0", "0"), ("0", "1"), ("0", "2")]
    assert len(legacy) == 12
    flat = read_cameras(reference / "taskonomy")
    assert [(c.point, c.view) for c in flat] == [("202", "5")]
    assert flat[0].width == flat[0].height == 512


def test_focal_and_pixel_centres():
    cam = Camera.look_at([0, 0, 0], [0, 1, 0], fov=math.pi / 2, width=4, height=2)
    assert cam.focal == pytest.approx(2.0)
    d = cam.pixel_directions()
    assert d.shape == (2, 4, 3)
    np.testing.assert_allclose(d[0, :, 0], np.array([-1.5, -0.5, 0.5, 1.5]) / 2)
    np.testing.assert_allclose(d[:, 0, 1], np.array([0.5, -0.5]) / 2)
    assert np.all(d[..., 2] == -1)


def test_look_at_projects_target_to_centre_non_square():
    cam = Camera.look_at([1, 2, 3], [4, -1, 2], fov=1.0, width=640, height=480)
    col, row = cam.project([4, -1, 2])
    assert col == pytest.approx(319.5) and row == pytest.approx(239.5)
    # camera +Y is "up": a point above the target is higher in the image (smaller row)
    assert cam.project([4, -1, 2.5])[1] < row
    np.testing.assert_allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-12)


def test_euler_round_trip():
    angles = [1.5115954875946045, -0.004465199075639248, -1.702255129814148]
    cam = Camera.from_euler([0, 0, 0], angles, 1.0, 8, 8)
    np.testing.assert_allclose(cam.euler_angles, angles, atol=1e-12)
    np.testing.assert_allclose(cam.rotation, Rotation.from_euler("xyz", angles).as_matrix())


def test_camera_poses_json(tmp_path):
    rot = Rotation.from_euler("xyz", [1.2, 0.1, -0.4])
    x, y, z, w = rot.as_quat()
    path = tmp_path / "camera_poses.json"
    path.write_text(json.dumps([{"camera_id": "a", "location": [1, 2, 3], "rotation_quaternion": [w, x, y, z]},
                                {"camera_id": "b", "location": [0, 0, 1], "rotation_quaternion": [1, 0, 0, 0]}]))
    with pytest.raises(LabelgenError, match="--fov"):
        read_cameras(path)
    cams = read_cameras(path, fov=1.1, resolution="640x480")
    assert [(c.point, c.view) for c in cams] == [("0", "0"), ("1", "0")]
    np.testing.assert_allclose(cams[0].rotation, rot.as_matrix(), atol=1e-12)
    assert (cams[0].width, cams[0].height, cams[0].fov) == (640, 480, 1.1)
    assert cams[0].point_info()["resolution"] == [640, 480]


@pytest.mark.parametrize("value,expected", [(512, (512, 512)), ("512", (512, 512)), ("640x480", (640, 480)),
                                            ([320, 200], (320, 200))])
def test_parse_resolution(value, expected):
    assert parse_resolution(value) == expected


@pytest.mark.parametrize("value", [0, -5, "0x10", "abc", "10x", [1, 2, 3], 2.5, True])
def test_parse_resolution_rejects(value):
    with pytest.raises(LabelgenError):
        parse_resolution(value)


GOOD = {"camera_location": [0, 0, 1], "camera_rotation_final": [1.5, 0, 0], "field_of_view_rads": 1.0,
        "resolution": 64}


@pytest.mark.parametrize("change,message", [
    ({"camera_location": None}, "missing field 'camera_location'"),
    ({"camera_rotation_final": [1, "x", 0]}, "must be a number"),
    ({"camera_location": [0, 1]}, "list of 3 numbers"),
    ({"field_of_view_rads": 3.2}, r"\(0, pi\)"),
    ({"field_of_view_rads": 0}, r"\(0, pi\)"),
    ({"resolution": 0}, "positive"),
    ({"camera_location": [0, float("nan"), 1]}, "not finite"),
])
def test_point_info_bad_input_names_file(tmp_path, change, message):
    info = dict(GOOD)
    for k, v in change.items():
        if v is None:
            del info[k]
        else:
            info[k] = v
    path = tmp_path / "point_1_view_2_domain_point_info.json"
    path.write_text(json.dumps(info))
    with pytest.raises(LabelgenError, match=message) as err:
        read_cameras(path)
    assert str(path) in str(err.value)


def test_unreadable_camera_files(tmp_path):
    bad = tmp_path / "cams.json"
    bad.write_text("{not json")
    with pytest.raises(LabelgenError, match="not valid JSON"):
        read_cameras(bad)
    with pytest.raises(LabelgenError, match="no such file"):
        read_cameras(tmp_path / "missing.json")
    with pytest.raises(LabelgenError, match="no camera files"):
        read_cameras(tmp_path)
