"""Vanishing points, point matching pixels and pose fields against the shipped sample."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from labelgen.camera._cameras import camera_from_point_info
from labelgen.camera._pointinfo import (complete_point_info, nonfixated_pixel, obliqueness_angle, point_pitch,
                                relative_pose, rotation_from_original_to_final)
from labelgen.camera._rotations import matrix_from_euler
from labelgen.camera._vanishing import estimate_manhattan_rotation, vanishing_points, camera_vanishing_points


@pytest.fixture(scope="module")
def sample_files(reference):
    """The 12 fixated point_info files of the shipped sample building."""
    files = sorted((reference / "sample_building" / "points").glob("*_fixatedpose.json"))
    assert len(files) == 12, "shared/reference/sample_building/points is incomplete"
    return files


def _load(path):
    return json.loads(Path(path).read_text())


def _strip(info):
    return {k: v for k, v in info.items() if not k.startswith("vanishing_points")}


def test_vanishing_points_match_shipped_files(sample_files):
    files = sample_files
    cams = [camera_from_point_info(_strip(_load(f)), f) for f in files]
    fast = vanishing_points(cams)
    for f, cam, vp in zip(files, cams, fast):
        shipped = _load(f)
        ref = camera_vanishing_points(cam, shipped["model_rotation_degrees"])
        for got in (ref, vp):
            for key in ("vanishing_points_gaussian_sphere", "vanishing_points_image"):
                for axis in "xyz":
                    np.testing.assert_allclose(got[key][axis], shipped[key][axis], rtol=0, atol=1e-9,
                                               err_msg=f"{f.name} {key} {axis}")


def test_kernel_matches_reference_with_rotated_frame():
    rng = np.random.default_rng(3)
    from labelgen.camera._cameras import Camera
    cams = [Camera.from_euler(rng.normal(size=3), rng.uniform(-math.pi, math.pi, 3), rng.uniform(0.5, 2.0),
                              int(rng.integers(64, 900)), int(rng.integers(64, 900))) for _ in range(50)]
    for deg in (0.0, 17.0, -40.0):
        fast = vanishing_points(cams, deg)
        for cam, vp in zip(cams, fast):
            ref = camera_vanishing_points(cam, deg)
            for key in ref:
                for axis in "xyz":
                    np.testing.assert_allclose(vp[key][axis], ref[key][axis], rtol=1e-12, atol=1e-9)


def test_render_point_info_adds_vanishing_points(sample_files):
    files = sample_files
    for f in files:
        shipped = _load(f)
        cam = camera_from_point_info(_strip(shipped), f)
        out = cam.point_info()
        for key in ("vanishing_points_gaussian_sphere", "vanishing_points_image"):
            for axis in "xyz":
                np.testing.assert_allclose(out[key][axis], shipped[key][axis], rtol=0, atol=1e-9)
        # input fields preserved
        for key, value in _strip(shipped).items():
            assert out[key] == value, key


def test_nonfixated_pixel_of_point_0_in_views_of_point_46(sample_files, reference):
    files = [f for f in sample_files if f.name.startswith("point_46_")]
    nf_path = reference / "sample_building" / "nonfixated" / "point_0_view_all_domain_nonfixatedpose.json"
    nf = _load(nf_path)
    expected = {(e["point_uuid"], e["view_id"]): (e["nonfixated_pixel_x"], e["nonfixated_pixel_y"], e["camera_uuid"])
                for e in nf["views"]}
    assert len(files) == 4
    for f in files:
        info = _load(f)
        cam = camera_from_point_info(info, f)
        px = nonfixated_pixel(cam, nf["point_location"])
        ex = expected[("46", info["view_id"])]
        assert px == ex[:2], f.name
        assert info["camera_uuid"] == ex[2]


def test_pose_fields_match_shipped_files(sample_files):
    for f in sample_files:
        info = _load(f)
        c, p = np.array(info["camera_location"]), np.array(info["point_location"])
        r_orig = matrix_from_euler(info["camera_rotation_original"])
        r_final = matrix_from_euler(info["camera_rotation_final"])
        # shipped fields are float32: agreement to float32 precision
        assert abs(np.linalg.norm(p - c) - info["camera_distance"]) < 1e-5
        assert abs(obliqueness_angle(c, p, info["point_normal"]) - info["obliqueness_angle"]) < 1e-5
        assert abs(point_pitch(c, r_orig, p) - info["point_pitch"]) < 1e-5
        d = rotation_from_original_to_final(r_orig, r_final)
        np.testing.assert_allclose(d, matrix_from_euler(info["camera_rotation_from_original_to_final"]), atol=1e-5)
        # the fixated camera looks at its point
        cam = camera_from_point_info(info, f)
        np.testing.assert_allclose(cam.project(p), [255.5, 255.5], atol=0.05)
        full = complete_point_info(cam, {k: v for k, v in info.items()
                                         if k not in ("camera_distance", "obliqueness_angle", "point_pitch")})
        assert abs(full["camera_distance"] - info["camera_distance"]) < 1e-5
        assert abs(full["point_pitch"] - info["point_pitch"]) < 1e-5


def test_relative_pose_round_trip():
    from labelgen.camera._cameras import Camera
    a = Camera.look_at([0, 0, 1.5], [2, 1, 1.0])
    b = Camera.look_at([1, -1, 1.2], [0, 3, 2.0])
    r, t = relative_pose(a, b)
    x_b = np.array([0.3, -0.2, -2.0])
    world = b.rotation @ x_b + b.location
    np.testing.assert_allclose(r @ x_b + t, a.world_to_camera(world), atol=1e-12)


def test_manhattan_estimate_recovers_rotation():
    import trimesh
    from labelgen.io._meshes import Mesh
    parts = [trimesh.creation.box([6, 0.2, 3]), trimesh.creation.box([0.2, 4, 3]),
             trimesh.creation.box([1.0, 0.5, 0.8])]
    parts[1].apply_translation([3, 2, 0])
    parts[2].apply_translation([1, 1, -1])
    clutter = trimesh.creation.icosphere(subdivisions=2, radius=0.4)
    clutter.apply_translation([-1, 1, -1])
    tm = trimesh.util.concatenate(parts + [clutter])
    for deg in (0.0, 23.0, -37.5, 44.0):
        rot = trimesh.transformations.rotation_matrix(math.radians(deg), [0, 0, 1])
        m = tm.copy()
        m.apply_transform(rot)
        est = estimate_manhattan_rotation(Mesh(m.vertices, m.faces))
        diff = (est - deg + 45.0) % 90.0 - 45.0
        assert abs(diff) < 0.5, (deg, est)


def test_render_point_info_recomputes_vanishing_points_on_fov_override(sample_files):
    files = sample_files
    shipped = _load(files[0])
    cam = camera_from_point_info(shipped, files[0], fov=1.0, resolution="640x480")
    out = cam.point_info()
    ref = camera_vanishing_points(cam)
    assert out["vanishing_points_image"] == ref["vanishing_points_image"]
    assert out["vanishing_points_image"] != shipped["vanishing_points_image"]
    assert out["field_of_view_rads"] == 1.0 and out["resolution"] == [640, 480]


def test_manhattan_estimate_on_bundled_sample_apartment(apartment_mesh):
    from scipy.spatial.transform import Rotation

    from labelgen.io._meshes import Mesh

    mesh = apartment_mesh
    for deg in (0.0, 7.3, -38.2, 44.9, 60.0):
        rot = Rotation.from_euler("z", deg, degrees=True).as_matrix()
        est = estimate_manhattan_rotation(Mesh(mesh.vertices @ rot.T, mesh.faces))
        assert abs((est - deg + 45.0) % 90.0 - 45.0) < 0.5, (deg, est)
