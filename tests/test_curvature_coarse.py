"""principal_curvature on coarse meshes (refinement), bounded neighbourhoods, fast paths vs references."""
from __future__ import annotations

import numpy as np
import pytest

from labelgen import Camera, Mesh, render_view
from labelgen.io import _cache as cache
from labelgen.kernels import curvature as kc
from labelgen.kernels import refinement as kr
from labelgen.kernels.reference import interpolate_refined_reference
from labelgen.labels.curvature import vertex_curvatures

R_MIN = 0.03


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELGEN_CACHE_DIR", str(tmp_path / "cache"))


def level(k):
    return int(np.rint((np.clip(k * R_MIN, -1, 1) + 1) / 2 * 254))


@pytest.mark.slow
def test_coarse_cylinder_reads_its_curvature():
    """A CAD cylinder (vertices on the rims only) reads k1 = 1/R, k2 = 0 on its side."""
    import trimesh

    c = trimesh.creation.cylinder(radius=0.25, height=3, sections=512)
    mesh = Mesh.from_arrays(np.asarray(c.vertices), np.asarray(c.faces))
    cam = Camera.look_at((4.0, 0.3, 0.0), (0, 0, 0), up=(0, 0, 1), fov=0.9, width=128, height=128)
    out, skipped = render_view(mesh, cam, tasks=["principal_curvature"])
    img = out["principal_curvature"]
    side = img.any(axis=-1)  # seen level with its middle: only the side is visible
    assert side.sum() > 1500
    r, g = img[side][:, 0].astype(int), img[side][:, 1].astype(int)
    assert (level(1 / 0.25), level(0.0)) == (142, 127)
    ok = (np.abs(r - 142) <= 2) & (np.abs(g - 127) <= 2)
    assert ok.mean() >= 0.95
    # without the refinement the same mesh is wrong everywhere (what the refinement fixes)
    out0, _ = render_view(Mesh.from_arrays(np.asarray(c.vertices), np.asarray(c.faces)), cam,
                          tasks=["principal_curvature"], params={"curvature_max_edge": 0.0})
    img0 = out0["principal_curvature"]
    ok0 = (np.abs(img0[side][:, 0].astype(int) - 142) <= 2) & (np.abs(img0[side][:, 1].astype(int) - 127) <= 2)
    assert ok0.mean() < 0.5


def normal_changes(normal, valid):
    ch = ~valid.copy()
    d0 = np.abs(np.diff(normal, axis=0)).sum(-1) > 1e-3
    d1 = np.abs(np.diff(normal, axis=1)).sum(-1) > 1e-3
    ch[:-1] |= d0
    ch[1:] |= d0
    ch[:, :-1] |= d1
    ch[:, 1:] |= d1
    return ch


def test_apartment_flat_surfaces_read_flat(apartment_mesh, apartment_curvature):
    """On every view of the sample apartment, >= 95 % of the pixels at least 12 px from any
    change of normal (or edge of the valid area) read flat curvature 127 +- 2."""
    from scipy import ndimage as ndi

    from conftest import APARTMENT_CAMERAS
    from labelgen import make_renderer, read_cameras
    from labelgen.labels import get_label
    from labelgen.engine._pipeline import resolve_params

    mesh = apartment_mesh
    cams = read_cameras(APARTMENT_CAMERAS)
    renderer = make_renderer(mesh)
    params = resolve_params({})
    lab = get_label("principal_curvature")
    p = {q.name: params[q.name] for q in lab.params}
    assert vertex_curvatures(mesh, p) is apartment_curvature  # the label reads the shared curvature
    for cam in cams:
        gb = renderer.render(cam)
        img = lab.compute({"gbuffer": gb, "mesh": mesh}, p)
        valid = gb.valid(p["depth_units_per_meter"], 65535)
        far = (ndi.distance_transform_edt(~normal_changes(gb.normal, valid)) >= 12) & valid
        assert far.sum() > 50_000
        flat = (np.abs(img[..., 0].astype(int) - 127) <= 2) & (np.abs(img[..., 1].astype(int) - 127) <= 2)
        assert flat[far].mean() >= 0.95, (cam.view, flat[far].mean())


def test_refine_plan_and_surface_geometry():
    v = np.array([[0, 0, 0], [1.0, 0, 0], [0, 0.2, 0], [1.0, 0.2, 0.1], [0.5, 0.5, 0.3]])
    f = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4]])
    apex, rows, cols = kr.refine_plan(v, f, 0.07)
    pts, spacing, off, grid, sub = kr.refine_surface(v, f, apex, rows, cols)
    assert np.array_equal(pts[:len(v)], v) and np.all(spacing[:len(v)] == 0)
    for fi in range(len(f)):
        corner = f[fi, (apex[fi] + np.arange(3)) % 3]
        A, B, C = v[corner]
        m, k = rows[fi], cols[fi]
        edges = [np.linalg.norm(B - A), np.linalg.norm(C - A), np.linalg.norm(C - B)]
        assert min(edges) == pytest.approx(edges[2])  # apex opposite the shortest edge
        assert m == int(np.ceil(max(edges) / 0.07)) and k == int(np.ceil(edges[2] / 0.07))
        g = grid[off[fi]:off[fi + 1]].reshape(m + 1, k + 1)
        for i in range(m + 1):
            for j in range(k + 1):
                want = A + i / m * ((1 - j / k) * (B - A) + j / k * (C - A))
                np.testing.assert_allclose(pts[g[i, j]], want, atol=1e-12)
    # shared edges are shared points: no two points at the same place
    assert len(np.unique(np.round(pts, 9), axis=0)) == len(pts)
    # the sub-triangles tile each face with its winding
    def area(tri):
        return 0.5 * np.cross(pts[tri[:, 1]] - pts[tri[:, 0]], pts[tri[:, 2]] - pts[tri[:, 0]])
    face_area = 0.5 * np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    np.testing.assert_allclose(area(sub).sum(0), face_area.sum(0))
    assert np.all(np.linalg.norm(area(sub), axis=1) > 0)
    # no refinement: the faces unchanged
    a0, r0, c0 = kr.refine_plan(v, f, 0.0)
    p0, s0, o0, g0, sub0 = kr.refine_surface(v, f, a0, r0, c0)
    assert np.array_equal(p0, v) and np.array_equal(sub0, f)


def random_gbuffer(n_faces, shape=(64, 80), seed=0):
    rng = np.random.default_rng(seed)
    tri = rng.integers(-1, n_faces, shape)
    uv = rng.random(shape + (2,)).astype(np.float32)
    flip = uv.sum(-1) > 1
    uv[flip] = 1 - uv[flip]
    uv[0, 0] = (1.0, 0.0)  # corners of the face
    uv[0, 1] = (0.0, 1.0)
    uv[0, 2] = (0.0, 0.0)
    return tri, uv, tri >= 0


def test_interpolation_kernel_matches_reference():
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=1)
    v, f = np.asarray(s.vertices) * np.array([3.0, 0.4, 1.0]), np.asarray(s.faces)
    for max_edge in (0.0, 0.3, 0.05):
        apex, rows, cols = kr.refine_plan(v, f, max_edge)
        pts, _, off, grid, _ = kr.refine_surface(v, f, apex, rows, cols)
        # few distinct values (cells of one value take a short cut; 255 is clipped to 254 there too)
        few = np.random.default_rng(2).choice(np.array([0, 127, 255], np.uint8), (len(pts), 2), p=(0.05, 0.9, 0.05))
        tri, uv, valid = random_gbuffer(len(f))
        got = kr.interpolate_refined(few, apex, rows, cols, off, grid, tri, uv, valid, channels=3)
        assert np.array_equal(got[..., :2], interpolate_refined_reference(few, apex, rows, cols, off, grid, tri, uv,
                                                                          valid))
        vals = np.random.default_rng(1).integers(0, 255, (len(pts), 2)).astype(np.uint8)
        got = kr.interpolate_refined(vals, apex, rows, cols, off, grid, tri, uv, valid, channels=3)
        want = interpolate_refined_reference(vals, apex, rows, cols, off, grid, tri, uv, valid)
        assert np.array_equal(got[..., :2], want) and not got[..., 2].any()
        assert not got[~valid].any()
        if max_edge == 0.0:  # plain barycentric interpolation of the vertices' values
            u, w = uv[..., 0].astype(np.float64), uv[..., 1].astype(np.float64)
            fv = f[np.maximum(tri, 0)]
            plain = ((1 - u - w)[..., None] * vals[fv[..., 0]] + u[..., None] * vals[fv[..., 1]]
                     + w[..., None] * vals[fv[..., 2]])
            assert np.array_equal(got[valid][:, :2], np.clip(np.rint(plain[valid]), 0, 254).astype(np.uint8))
        else:  # exact at the face corners
            for px, corner in ((0, 1), (1, 2), (2, 0)):
                if valid[0, px]:
                    assert np.array_equal(got[0, px, :2], np.minimum(vals[f[tri[0, px], corner]], 254))


def test_label_matches_reference_on_the_apartment(apartment_mesh, apartment_curvature):
    """The label's fast path is bit-identical to the plain reference, view by view."""
    from conftest import APARTMENT_CAMERAS
    from labelgen import make_renderer, read_cameras
    from labelgen.labels import get_label
    from labelgen.labels.curvature import principal_curvature_reference
    from labelgen.labels.rgb import rgb_reference
    from labelgen.engine._pipeline import resolve_params

    mesh = apartment_mesh
    cams = read_cameras(APARTMENT_CAMERAS)
    renderer = make_renderer(mesh)
    params = resolve_params({})
    curvature_params = {q.name: params[q.name] for q in get_label("principal_curvature").params}
    assert vertex_curvatures(mesh, curvature_params) is apartment_curvature  # both read the shared one
    for name, ref in (("principal_curvature", principal_curvature_reference), ("rgb", rgb_reference)):
        lab = get_label(name)
        p = {q.name: params[q.name] for q in lab.params}
        for cam in cams[:4]:
            gb = renderer.render(cam)
            assert np.array_equal(lab.compute({"gbuffer": gb, "mesh": mesh}, p), ref(gb, mesh, p)), (name, cam.view)


def test_far_neighbourhoods_are_sized_per_point():
    """Sparse vertices with huge balls beside dense spheres: the redo lists of far-moved
    vertices hold only the points whose own ball reaches them, not every point within the
    largest ball; the result equals an exhaustive search."""
    import trimesh

    room = trimesh.creation.box(extents=(8.0, 6.0, 3.0))
    balls = []
    for x in (-2.0, 0.0, 2.0):
        b = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
        b.apply_translation((x, 0.0, -1.2))
        balls.append(b)
    m = trimesh.util.concatenate([room] + balls)
    v, f = np.asarray(m.vertices), np.asarray(m.faces)
    n = kc.vertex_normals(v, f)
    r = kc.point_radii(v)
    assert r.max() / r.min() > 50
    far = np.arange(len(v))
    slack = 2.0 * r
    ptr, idx = kc.far_candidates(v, r, far, slack, 4.0)
    sizes = np.diff(ptr)
    # exact definition, by brute force
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    want = (d < 4.0 * r[None, :] + slack[:, None]) & ~np.eye(len(v), dtype=bool)
    assert np.array_equal(sizes, want.sum(1))
    for i in (0, 10, len(v) - 1):
        assert np.array_equal(idx[ptr[i]:ptr[i + 1]], np.flatnonzero(want[i]))
    # the old search (every point within filter_scale * max radius) would hold them all
    assert sizes.mean() < 0.2 * len(v)
    k1, k2, st = kc.apss_curvature(v, n, r)
    everything = kc.neighbor_candidates(v, np.full(len(v), 1e3))
    e1, e2, est = kc.apss_curvature(v, n, r, candidates=everything)
    assert np.array_equal(st, est)
    np.testing.assert_allclose(k1, e1, rtol=1e-7, atol=1e-9)


def test_memory_linear_and_bounded(monkeypatch):
    """Peak traced memory of the per-mesh computation grows linearly with the point count and
    stays under the documented estimate; a mesh that cannot fit is a one-line error."""
    import tracemalloc

    from labelgen.core._errors import LabelgenError
    from labelgen.labels import curvature as lc
    from tests.test_curvature import scan_like_surface

    cache.configure(enabled=False)
    try:
        peaks = []
        v, f = scan_like_surface(n=30)
        vertex_curvatures(Mesh.from_arrays(v, f), {})  # compile outside the trace
        for n in (100, 200):
            v, f = scan_like_surface(n=n)
            mesh = Mesh.from_arrays(v, f)
            tracemalloc.start()
            out = vertex_curvatures(mesh, {})
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            points = len(out["point_k1"])
            assert points == n * n  # a dense scan is not refined
            peaks.append(peak / points)
            assert peak < kc.memory_estimate(points, 100 * points), (peak, points)
        assert peaks[1] < 1.25 * peaks[0]  # linear in the point count
        monkeypatch.setattr(lc, "available_memory", lambda: 10**6)
        with pytest.raises(LabelgenError, match="too large for the memory available"):
            vertex_curvatures(Mesh.from_arrays(v, f), {"curvature_max_edge": 0.5})
    finally:
        cache.configure(enabled=True)


def test_cache_key_includes_refinement():
    import trimesh

    c = trimesh.creation.cylinder(radius=0.2, height=0.6, sections=32)
    v, f = np.asarray(c.vertices), np.asarray(c.faces)
    a = vertex_curvatures(Mesh.from_arrays(v, f), {"curvature_max_edge": 0.1})
    b = vertex_curvatures(Mesh.from_arrays(v, f), {"curvature_max_edge": 0.05})
    assert len(b["point_k1"]) > len(a["point_k1"])
    c2 = vertex_curvatures(Mesh.from_arrays(v, f), {"curvature_max_edge": 0.1})
    assert np.array_equal(c2["point_k1"], a["point_k1"]) and np.array_equal(c2["grid"], a["grid"])
