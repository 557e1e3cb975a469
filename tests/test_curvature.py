"""principal_curvature: APSS kernel vs. its reference and pymeshlab, analytic surfaces via render."""
from __future__ import annotations

import math

import numpy as np
import pytest

from labelgen.kernels import curvature as kc
from labelgen.kernels.reference import apss_curvature_reference
from labelgen import Camera, Mesh, render_view
from labelgen.io import _cache as cache
from labelgen.labels.curvature import encode_curvature, merge_positions, vertex_curvatures

R_MIN = 0.03


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELGEN_CACHE_DIR", str(tmp_path / "cache"))


def grid_faces(nu, nv, wrap_u=False):
    """Two triangles per cell of an (nv, nu) vertex grid (u fastest), counter-clockwise in (u, v)."""
    cols = nu if wrap_u else nu - 1
    j, i = np.meshgrid(np.arange(nv - 1), np.arange(cols), indexing="ij")
    a = j * nu + i
    b = j * nu + (i + 1) % nu
    c = (j + 1) * nu + (i + 1) % nu
    d = (j + 1) * nu + i
    return np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])


def sphere(radius, subdivisions=6):
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(s.vertices), np.asarray(s.faces)


def cylinder(radius, height, n_around=360, n_along=None):
    n_along = n_along or int(round(height / (2 * math.pi * radius / n_around))) + 1
    t = np.linspace(0, 2 * math.pi, n_around, endpoint=False)
    z = np.linspace(-height / 2, height / 2, n_along)
    T, Z = np.meshgrid(t, z)
    v = np.stack([radius * np.cos(T), radius * np.sin(T), Z], -1).reshape(-1, 3)
    return v, grid_faces(n_around, n_along, wrap_u=True)  # outward normals


def plane(size, n):
    x = np.linspace(-size / 2, size / 2, n)
    X, Y = np.meshgrid(x, x)
    v = np.stack([X, Y, np.zeros_like(X)], -1).reshape(-1, 3)
    return v, grid_faces(n, n)


def expected_level(k):
    return int(np.rint((np.clip(k * R_MIN, -1, 1) + 1) / 2 * 254))


def render_curvature(v, f, eye, target, up=(0, 0, 1), size=96, fov=0.5):
    mesh = Mesh.from_arrays(v, f)
    cam = Camera.look_at(eye, target, up=up, fov=fov, width=size, height=size)
    out, skipped = render_view(mesh, cam, tasks=["principal_curvature"])
    assert not skipped
    return out["principal_curvature"]


def test_encoding_matches_spec():
    k = np.array([0.0, 1 / 0.5, -1 / 0.5, 1e3, -1e3])
    assert encode_curvature(k, R_MIN).tolist() == [127, 135, 119, 254, 0]


def test_sphere_both_channels():
    R = 0.5
    v, f = sphere(R)
    img = render_curvature(v, f, eye=(2.2, 0.3, 0.4), target=(0, 0, 0))
    valid = np.any(img != 0, axis=-1)
    assert valid.sum() > 2000
    want = expected_level(1 / R)
    assert want > 127  # convex seen from outside
    for ch in (0, 1):
        close = np.abs(img[valid][:, ch].astype(int) - want) <= 2
        assert close.mean() >= 0.95
    assert np.all(img[valid][:, 2] == 0)
    assert np.all(img[~valid] == 0)


def test_sphere_inside_out_is_concave():
    v, f = sphere(0.5, subdivisions=5)
    k1, k2, st = kc.apss_curvature(v, kc.vertex_normals(v, f[:, ::-1]))
    assert np.all(st == kc.OK)
    assert np.median(k1) == pytest.approx(-2.0, rel=0.02)
    assert np.median(k2) == pytest.approx(-2.0, rel=0.02)


def test_cylinder():
    R = 0.25
    v, f = cylinder(R, 1.0, n_around=360)
    img = render_curvature(v, f, eye=(2.0, 0.0, 0.0), target=(0, 0, 0), fov=0.3)
    valid = np.any(img != 0, axis=-1)
    assert valid.sum() > 2000
    r = img[valid][:, 0].astype(int)
    g = img[valid][:, 1].astype(int)
    assert (np.abs(r - expected_level(1 / R)) <= 2).mean() >= 0.95
    assert (np.abs(g - 127) <= 2).mean() >= 0.95


def test_plane():
    v, f = plane(2.0, 101)
    img = render_curvature(v, f, eye=(0.1, 0.2, 1.5), target=(0, 0, 0), up=(0, 1, 0), fov=0.8)
    valid = np.any(img != 0, axis=-1)
    assert valid.sum() > 5000
    assert np.all(img[valid] == (127, 127, 0))


def test_kernel_matches_reference():
    rng = np.random.default_rng(3)
    v, f = sphere(0.4, subdivisions=3)
    v = v + rng.normal(0, 0.003, v.shape)
    n = kc.vertex_normals(v, f)
    r = kc.point_radii(v)
    k1, k2, st = kc.apss_curvature(v, n, r)
    r1, r2, rst = apss_curvature_reference(v, n, r)
    assert np.array_equal(st, rst)
    scale = np.abs(r1).mean()
    assert np.abs(k1 - r1).max() < 1e-4 * scale
    assert np.abs(k2 - r2).max() < 1e-4 * scale


def scan_like_surface(n=120, noise=0.002, seed=1):
    """A bumpy height field with scan-like noise (metres)."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(0, 1.2, n), np.linspace(0, 1.2, n))
    z = 0.08 * np.sin(6 * x) * np.cos(4 * y) + 0.15 * np.exp(-((x - 0.6) ** 2 + (y - 0.6) ** 2) / 0.02)
    v = np.stack([x, y, z], -1).reshape(-1, 3) + rng.normal(0, noise, (n * n, 3))
    return v, grid_faces(n, n)


def test_against_pymeshlab(tmp_path):
    pymeshlab = pytest.importorskip("pymeshlab")
    import trimesh

    v, f = scan_like_surface()
    path = tmp_path / "scan.ply"
    trimesh.Trimesh(v, f, process=False).export(path)
    ref = {}
    for ct in ("K1", "K2"):
        ms = pymeshlab.MeshSet()
        ms.load_new_mesh(str(path))
        ms.compute_curvature_and_color_apss_per_vertex(filterscale=4.0, projectionaccuracy=1e-4,
                                                       maxprojectioniters=15, sphericalparameter=1.0,
                                                       curvaturetype=ct)
        ref[ct] = ms.current_mesh().vertex_scalar_array()
        # MeshLab's vertex normals: angle-weighted, not normalised (what APSS is fed)
        np.testing.assert_allclose(kc.vertex_normals(v, f), ms.current_mesh().vertex_normal_matrix(), atol=2e-3)
    curv = vertex_curvatures(Mesh.from_arrays(v, f), {})
    assert np.corrcoef(curv["k1"], ref["K1"])[0, 1] >= 0.9
    assert np.corrcoef(curv["k2"], ref["K2"])[0, 1] >= 0.9


def test_merge_positions_and_bad_vertices(caplog):
    v, f = plane(1.0, 21)
    # a seam: duplicate column of vertices used by half of the faces; an isolated vertex;
    # a degenerate face on its own vertices
    dup = v[10::21].copy()
    extra = np.array([[5.0, 5.0, 5.0], [7.0, 7.0, 7.0], [7.0, 7.0, 7.0], [7.0, 7.0, 7.0]])
    v2 = np.concatenate([v, dup, extra])
    f2 = f.copy()
    ids = {int(i): len(v) + k for k, i in enumerate(range(10, len(v), 21))}
    half = f2[: len(f2) // 2]
    for old, new in ids.items():
        half[half == old] = new
    f2 = np.concatenate([f2, [[len(v) + len(dup) + 1, len(v) + len(dup) + 2, len(v) + len(dup) + 3]]])
    u, inv, fu = merge_positions(v2, f2)
    assert len(u) == len(v) + 2
    with caplog.at_level("WARNING", logger="labelgen"):
        curv = vertex_curvatures(Mesh.from_arrays(v2, f2), {})
    assert np.allclose(curv["k1"][: len(v)], 0, atol=1e-6)
    assert curv["k1"][len(v) + len(dup)] == 0 and curv["status"][len(v) + len(dup)] != kc.OK
    text = caplog.text
    assert "1 vertices used by no face" in text
    assert "vertices without a normal (only degenerate faces" in text


def test_too_few_neighbours():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.0]])
    k1, k2, st = kc.apss_curvature(v, kc.vertex_normals(v, np.array([[0, 1, 2]])))
    assert np.all(st == kc.TOO_FEW) and np.all(k1 == 0) and np.all(k2 == 0)


def test_cache_memory_and_disk(tmp_path, monkeypatch):
    v, f = sphere(0.5, subdivisions=3)
    calls = []

    def counting(real):
        def fit(*a, **k):
            calls.append(1)
            return real(*a, **k)
        return fit

    # the fit of every point, or of the refined surface's points that are not flat
    monkeypatch.setattr(kc, "apss_curvature", counting(kc.apss_curvature))
    monkeypatch.setattr(kc, "apss_curvature_at", counting(kc.apss_curvature_at))
    m = Mesh.from_arrays(v, f)
    a = vertex_curvatures(m, {})
    b = vertex_curvatures(m, {})
    assert len(calls) == 1 and a is b
    files = list((tmp_path / "cache").glob("curvature-*.npz"))
    assert len(files) == 1
    c = vertex_curvatures(Mesh.from_arrays(v, f), {})  # new mesh object, same content: disk
    assert len(calls) == 1 and np.array_equal(c["k1"], a["k1"])
    vertex_curvatures(Mesh.from_arrays(v, f), {"curvature_filter_scale": 3.0})  # other params
    assert len(calls) == 2
    files[0].write_bytes(b"damaged")
    cache.configure(enabled=False)
    try:
        vertex_curvatures(Mesh.from_arrays(v, f), {})
        assert len(calls) == 3
        assert files[0].read_bytes() == b"damaged"  # --no-cache neither reads nor writes
    finally:
        cache.configure(enabled=True)
    d = vertex_curvatures(Mesh.from_arrays(v, f), {})  # damaged entry: recomputed and replaced
    assert len(calls) == 4 and np.array_equal(d["k1"], a["k1"])


def test_deterministic():
    v, f = scan_like_surface(n=40)
    a = kc.apss_curvature(v, kc.vertex_normals(v, f))
    b = kc.apss_curvature(v, kc.vertex_normals(v, f))
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_uneven_sampling_same_as_exhaustive_search():
    """Candidate lists (binned by radius, with the fallback for far projections) give the
    same curvature as searching every point, on a mesh whose point spacing varies a lot."""
    import trimesh

    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    ball.apply_translation((0, 0, 0.2))
    box = trimesh.creation.box(extents=(1.0, 1.0, 0.1))
    box.apply_translation((0, 0, -0.05))
    pv, pf = plane(3.0, 15)
    mesh = trimesh.util.concatenate([ball, box, trimesh.Trimesh(pv - (0, 0, 0.5), pf)])
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    n = kc.vertex_normals(v, f)
    r = kc.point_radii(v)
    assert r.max() / r.min() > 10
    k1, k2, st = kc.apss_curvature(v, n, r)
    everything = kc.neighbor_candidates(v, np.full(len(v), 1e3))
    e1, e2, est = kc.apss_curvature(v, n, r, candidates=everything)
    assert np.array_equal(st, est)
    np.testing.assert_allclose(k1, e1, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(k2, e2, rtol=1e-7, atol=1e-9)
