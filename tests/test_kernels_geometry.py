"""kernels.geometry against plain numpy references on random inputs."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from labelgen.kernels import geometry


def directions(w, h, f):
    x = (np.arange(w) - (w - 1) / 2) / f
    y = ((h - 1) / 2 - np.arange(h)) / f
    d = np.stack(np.broadcast_arrays(x[None, :], y[:, None], -np.ones((h, w))), axis=-1)
    return d


@pytest.fixture
def view():
    rng = np.random.default_rng(3)
    h, w, f = 37, 51, 40.0
    rot = Rotation.random(random_state=4).as_matrix()
    t = rng.uniform(0.1, 50, (h, w)).astype(np.float32)
    t[rng.random((h, w)) < 0.1] = np.inf
    prim = rng.integers(0, 100, (h, w)).astype(np.uint32)
    prim[~np.isfinite(t)] = 0xFFFFFFFF
    normals = rng.normal(size=(100, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return t, prim, normals, rot, f


def test_camera_rays():
    rot = Rotation.random(random_state=1).as_matrix()
    loc = np.array([1.0, -2.0, 3.0])
    rays = geometry.camera_rays(loc, rot, 30.0, 13, 7)
    ref = directions(13, 7, 30.0) @ rot.T
    np.testing.assert_allclose(rays[..., 3:], ref, rtol=1e-6, atol=1e-6)
    assert np.all(rays[..., :3] == loc.astype(np.float32))


def test_hit_geometry(view):
    t, prim, normals, rot, f = view
    depth, dist, tri, normal = geometry.hit_geometry(t, prim, normals, rot, f)
    h, w = t.shape
    hit = np.isfinite(t)
    d = directions(w, h, f)
    np.testing.assert_array_equal(tri, np.where(hit, prim.astype(np.int64), -1))
    np.testing.assert_array_equal(depth, np.where(hit, t.astype(np.float64), np.inf))
    np.testing.assert_allclose(dist[hit], (t * np.linalg.norm(d, axis=-1))[hit], rtol=1e-12)
    assert np.all(np.isinf(dist[~hit]))
    n_cam = normals[np.where(hit, prim, 0)] @ rot  # Blender camera axes
    flip = np.einsum("...i,...i", n_cam, d) > 0
    n_cam[flip] *= -1
    ref = n_cam * [1, -1, -1]
    np.testing.assert_allclose(normal[hit], ref[hit], atol=1e-12)
    assert np.all(normal[~hit] == 0)


def test_encoders(view):
    t, prim, normals, rot, f = view
    depth, dist, tri, normal = geometry.hit_geometry(t, prim, normals, rot, f)
    units = 2000.0  # puts part of the range past 65535 units
    valid = geometry.valid_depth(depth, dist, units, 65535)
    ref_valid = np.isfinite(dist) & (np.rint(depth * units) < 65535) & (np.rint(dist * units) < 65535)
    np.testing.assert_array_equal(valid, ref_valid)
    assert 0 < valid.mean() < 1
    enc = geometry.encode_depth(dist, valid, units, 65535)
    np.testing.assert_array_equal(enc, np.where(valid, np.rint(np.where(valid, dist, 0) * units), 65535))
    nenc = geometry.encode_normal(normal, valid, 128)
    np.testing.assert_array_equal(nenc, np.where(valid[..., None], np.rint((normal + 1) / 2 * 255), 128))
    shade = geometry.reshade(normal, dist, valid, f, 1.6, 8.0, 13)
    h, w = t.shape
    d = directions(w, h, f) * [1, -1, -1]  # OpenCV axes
    cos = -np.einsum("...i,...i", normal, d) / np.linalg.norm(d, axis=-1)
    s = 1.6 * 8 / (8 + np.where(valid, dist, 0) ** 2) * np.maximum(cos, 0)
    np.testing.assert_array_equal(shade, np.where(valid, np.rint(np.clip(s, 0, 1) * 255), 13))
