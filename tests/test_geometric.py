"""Geometric labels on analytic scenes (spec section 3): a tilted plane and a box room."""
import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import box_mesh
from labelgen import Camera, Mesh, make_renderer, render_view
from labelgen.labels.geometric import INVALID_DEPTH

GEOMETRIC = ["depth_zbuffer", "depth_euclidean", "normal", "reshading", "mask_valid"]


def world_rays(cam):
    """Per-pixel world directions (camera-z length 1) and their Euclidean length factor."""
    d = cam.pixel_directions()
    return d @ cam.rotation.T, np.linalg.norm(d, axis=-1)


def expected_labels(cam, t, normal_world, valid, units=512.0):
    """The spec's encodings, computed independently from analytic hit distances and normals."""
    dirs, length = world_rays(cam)
    out = {}
    z = np.where(valid, t, np.nan)
    r = z * length
    out["depth_zbuffer"] = z * units
    out["depth_euclidean"] = r * units
    n = np.array(normal_world, dtype=float)
    n = np.where((np.einsum("...i,...i", n, dirs) > 0)[..., None], -n, n)  # face the camera
    n_cv = n @ cam.rotation * np.array([1, -1, -1])
    out["normal"] = (n_cv + 1) / 2 * 255
    cos = -np.einsum("...i,...i", n, dirs) / length
    out["reshading"] = np.clip(1.6 * 8 / (8 + r ** 2) * np.maximum(cos, 0), 0, 1) * 255
    return out


def compare(labels, expected, valid, ok_pixels, tol=0.52):
    """Assert encoded labels match the analytic values within ``tol`` levels on every pixel.

    The encodings round to the nearest level (0.5); Embree's float32 hit distances add the
    rest (measured: at most 0.514 levels over every scene below)."""
    assert np.array_equal(labels["mask_valid"] == 255, valid)
    for name in ("depth_zbuffer", "depth_euclidean"):
        enc = labels[name].astype(float)
        assert np.all(labels[name][~valid] == INVALID_DEPTH)
        err = np.abs(enc - expected[name])[ok_pixels]
        assert err.max() <= tol, (name, np.mean(err <= tol), err.max())
    for name in ("normal", "reshading"):
        enc = labels[name].astype(float)
        exp = expected[name] if expected[name].ndim == 3 else expected[name][..., None]
        err = np.abs(enc - exp).max(axis=-1)[ok_pixels]
        assert err.max() <= tol, (name, np.mean(err <= tol), err.max())
    assert np.all(labels["normal"][~valid] == 128)
    assert np.all(labels["reshading"][~valid] == 13)


def plane_mesh(point, normal, half=60.0):
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    a = np.cross(normal, [0.3, 0.5, 0.8])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    p = np.asarray(point, float)
    verts = np.array([p - half * a - half * b, p + half * a - half * b, p + half * a + half * b, p - half * a + half * b])
    return Mesh.from_arrays(verts, [[0, 1, 2], [0, 2, 3]]), normal


@pytest.mark.parametrize("distance,tilt_deg,size", [(3.0, 0.0, (96, 64)), (2.5, 35.0, (128, 128)),
                                                    (7.0, 50.0, (90, 110))])
def test_plane_at_known_distance_and_angle(distance, tilt_deg, size):
    tilt = math.radians(tilt_deg)
    cam = Camera.look_at([0.2, -0.1, 1.3], [0.2, distance - 0.1, 1.3], fov=1.1, width=size[0], height=size[1])
    # plane through the look-at point, its normal tilted by `tilt` about the world z axis
    normal = np.array([math.sin(tilt), -math.cos(tilt), 0.0])
    mesh, n = plane_mesh([0.2, distance - 0.1, 1.3], normal)
    labels, skipped = render_view(mesh, cam, GEOMETRIC)
    assert skipped == {}
    dirs, _ = world_rays(cam)
    t = np.einsum("i,i", n, [0.2, distance - 0.1, 1.3]) - n @ cam.location
    t = t / np.einsum("...i,i", dirs, n)
    valid = t > 0
    assert valid.all()
    # the centre ray's z-buffer depth is the look-at distance
    assert t[size[1] // 2, size[0] // 2] == pytest.approx(distance, rel=0.05)
    expected = expected_labels(cam, t, np.broadcast_to(n, t.shape + (3,)), valid)
    compare(labels, expected, valid, valid)


def box_analytic(cam, lo, hi):
    """Hit distance (camera-z units), face id and inward normal for a camera inside a box."""
    dirs, _ = world_rays(cam)
    o = cam.location
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(dirs > 0, np.asarray(hi), np.asarray(lo))
        ts = (bound - o) / dirs
    ts = np.where(np.isfinite(ts) & (ts > 0), ts, np.inf)
    axis = np.argmin(ts, axis=-1)
    t = np.take_along_axis(ts, axis[..., None], -1)[..., 0]
    sign = np.take_along_axis(np.sign(dirs), axis[..., None], -1)[..., 0]
    face = axis * 2 + (sign > 0)
    normal = np.zeros(t.shape + (3,))
    np.put_along_axis(normal, axis[..., None], -sign[..., None], -1)
    return t, face, normal


def not_on_edge(face):
    """Pixels whose 3x3 neighbourhood sees a single box face."""
    pad = np.pad(face, 1, mode="edge")
    ok = np.ones(face.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ok &= pad[1 + dy:1 + dy + face.shape[0], 1 + dx:1 + dx + face.shape[1]] == face
    return ok


LO, HI = np.array([-4.0, -3.0, -1.5]), np.array([5.0, 3.5, 1.6])


def _box_room_check(cam, renderer):
    labels, skipped = render_view(renderer, cam, GEOMETRIC)
    assert skipped == {}
    t, face, normal = box_analytic(cam, LO, HI)
    valid = np.isfinite(t)
    assert valid.all()
    ok = not_on_edge(face)
    assert ok.mean() > 0.9
    compare(labels, expected_labels(cam, t, normal, valid), valid, ok)


def test_box_room_reference_camera_poses(reference):
    mesh = Mesh.from_arrays(*box_mesh(LO, HI))
    renderer = make_renderer(mesh)
    files = sorted((reference / "sample_building" / "points").glob("*.json"))
    assert files
    rng = np.random.default_rng(0)
    for f in files:
        info = json.loads(f.read_text())
        # the shipped rotation and field of view, the camera moved inside the box
        cam = Camera.from_euler(rng.uniform(-1, 1, 3), info["camera_rotation_final"], info["field_of_view_rads"],
                                256, 256)
        _box_room_check(cam, renderer)


def test_box_room_many_rotations():
    mesh = Mesh.from_arrays(*box_mesh(LO, HI))
    renderer = make_renderer(mesh)
    rotations = Rotation.random(24, random_state=1)
    rng = np.random.default_rng(1)
    for i, rot in enumerate(rotations):
        w, h = [(160, 120), (100, 140), (128, 128)][i % 3]
        cam = Camera(rng.uniform(-1, 1, 3), rot.as_matrix(), rng.uniform(0.5, 2.0), w, h)
        _box_room_check(cam, renderer)


def test_looking_at_nothing_is_all_invalid():
    mesh, _ = plane_mesh([0, 5, 0], [0, -1, 0])
    cam = Camera.look_at([0, 0, 0], [0, -1, 0], fov=1.0, width=40, height=30)
    labels, _ = render_view(mesh, cam, GEOMETRIC)
    assert np.all(labels["depth_zbuffer"] == 65535) and np.all(labels["depth_euclidean"] == 65535)
    assert np.all(labels["normal"] == 128) and np.all(labels["reshading"] == 13)
    assert np.all(labels["mask_valid"] == 0)


def test_depth_range_is_a_parameter():
    mesh, _ = plane_mesh([0, 130, 0], [0, -1, 0], half=500)
    cam = Camera.look_at([0, 0, 0], [0, 1, 0], fov=0.2, width=16, height=16)
    labels, _ = render_view(mesh, cam, GEOMETRIC)  # 130 m is beyond 65534 / 512 m
    assert np.all(labels["mask_valid"] == 0) and np.all(labels["depth_zbuffer"] == 65535)
    labels, _ = render_view(mesh, cam, GEOMETRIC, params={"depth_units_per_meter": 256.0})
    assert np.all(labels["mask_valid"] == 255)
    assert np.all(np.abs(labels["depth_zbuffer"].astype(int) - 130 * 256) <= 1)


def test_euclidean_relation_matches_spec():
    """depth_euclidean == depth_zbuffer * sqrt(1 + (x/f)^2 + (y/f)^2), within one unit."""
    mesh = Mesh.from_arrays(*box_mesh(LO, HI))
    cam = Camera.look_at([0.5, 0.2, 0.1], [3, 2, -1], fov=1.3, width=200, height=150)
    labels, _ = render_view(mesh, cam, ["depth_zbuffer", "depth_euclidean"])
    d = cam.pixel_directions()
    length = np.linalg.norm(d, axis=-1)
    err = np.abs(labels["depth_zbuffer"] * length - labels["depth_euclidean"])
    assert np.mean(err <= 1.0) >= 0.995
    assert np.all(err <= 0.5 * length + 0.5 + 1e-6)  # rounding of each encoding
