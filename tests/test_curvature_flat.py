"""principal_curvature on refined surfaces: the flat test, the per-point neighbour grid, the
thinned samples and the chunked fit, each against its plain definition."""
from __future__ import annotations

import numpy as np
import pytest

from labelgen import Mesh
from labelgen.io import _cache as cache
from labelgen.kernels import curvature as kc
from labelgen.kernels import neighbors as kn
from labelgen.kernels import planar as kp
from labelgen.kernels import refinement as kr
from labelgen.labels.curvature import encode_curvature, merge_positions, vertex_curvatures


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELGEN_CACHE_DIR", str(tmp_path / "cache"))


def room_scene(max_edge=0.12):
    """A coarse box room (outward faces), a ball on its floor, a thin panel 2 cm in front
    of a wall (back to back with it) and a tilted board: refined like principal_curvature
    refines it. Returns the refined surface's arrays."""
    import trimesh

    room = trimesh.creation.box(extents=(2.0, 1.6, 1.0))
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.15)
    ball.apply_translation((0.3, 0.0, -0.35))
    panel = trimesh.creation.box(extents=(0.02, 0.6, 0.4))
    panel.apply_translation((0.98 - 0.02, 0.2, 0.0))
    board = trimesh.creation.box(extents=(0.5, 0.3, 0.01))
    board.apply_transform(trimesh.transformations.rotation_matrix(0.3, (1, 0, 0)))
    board.apply_translation((-0.5, -0.3, 0.1))
    m = trimesh.util.concatenate([room, ball, panel, board])
    u, _, f = merge_positions(np.asarray(m.vertices), np.asarray(m.faces))
    apex, rows, cols = kr.refine_plan(u, f, max_edge)
    pts, spacing, off, grid, sub = kr.refine_surface(u, f, apex, rows, cols)
    normals = kr.surface_normals(pts, sub)
    samples = kr.sample_points(len(pts), rows, cols, off, grid)
    radii = kr.refined_radii(pts, spacing, len(u), samples=samples)
    cls = kp.point_classes(len(pts), sub, np.repeat(kp.plane_classes(u, f), cols * (2 * rows - 1)))
    return pts, normals, radii, samples, cls


def test_surface_normals_match_vertex_normals():
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=2)
    v, f = np.asarray(s.vertices) * (1.0, 2.0, 0.5), np.asarray(s.faces)
    f = np.concatenate([f, [[0, 0, 1]]])  # a degenerate face adds nothing
    np.testing.assert_allclose(kr.surface_normals(v, f), kc.vertex_normals(v, f), rtol=0, atol=1e-13)


def test_plane_and_point_classes():
    # two coplanar triangles, one tilted by 1e-3 rad, one degenerate
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0.001], [2, 1, 0], [3, 0, 0.0]])
    f = np.array([[0, 1, 2], [0, 2, 3], [1, 4, 5], [4, 6, 6]])
    c = kp.plane_classes(v, f)
    assert c[0] == c[1] and c[2] != c[0] and c[3] == -1
    pc = kp.point_classes(len(v), f, c)
    assert pc[0] == pc[3] == c[0] and pc[1] == -1 and pc[4] == -1 and pc[6] == -1


def test_flat_points_within_definition():
    """Every point reported flat is flat by the brute-force definition (conservative), and
    the test finds most of them."""
    pts, normals, radii, samples, cls = room_scene(max_edge=0.1)
    ball = np.where(samples, 4.0 * radii, 0.0)
    got = kp.flat_points(pts, normals, ball, cls)
    want = kp.flat_points_reference(pts, normals, ball, cls)
    assert want.mean() > 0.2
    assert not np.any(got & ~want)
    assert got.sum() >= 0.8 * want.sum()
    # a finer cell grid is still conservative
    fine = kp.flat_points(pts, normals, ball, cls, cell=0.05)
    assert not np.any(fine & ~want)


def test_flat_points_fit_flat():
    """The points the flat test skips read exactly flat (127) when fitted anyway: skipping
    them changes no output level."""
    pts, normals, radii, samples, cls = room_scene(max_edge=0.08)
    flat = kp.flat_points(pts, normals, np.where(samples, 4.0 * radii, 0.0), cls)
    assert flat.mean() > 0.25
    k1, k2, st = kc.apss_curvature_at(pts, normals, radii, np.flatnonzero(flat), samples=samples)
    assert np.all(st == kc.OK)
    assert np.abs(k1).max() < 1e-3 and np.abs(k2).max() < 1e-3
    assert np.all(encode_curvature(k1, 0.03) == 127) and np.all(encode_curvature(k2, 0.03) == 127)
    # and the ball's points, near the floor and the panel's ones are fitted, not skipped
    assert (~flat).sum() > 0.1 * len(pts)


def test_reaching_matches_far_candidates():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.random((2000, 3)), rng.random((150, 3)) * 4.0])
    r = np.concatenate([rng.random(2000) * 0.02 + 0.01, rng.random(150) * 0.4])
    n = rng.normal(size=(len(p), 3))
    which = rng.choice(len(p), 400, replace=False)
    slack = rng.random(400) * 0.1
    g = kn.ball_grid(p, 4.0 * r, normals=n)
    ptr, idx = kn.reaching(g, which, slack)
    rp, ri = kc.far_candidates(p, r, which, slack, 4.0)
    fptr, fidx = kn.reaching(g, which, slack, p, n)
    for q, i in enumerate(which):
        mine = idx[ptr[q]:ptr[q + 1]]
        assert np.array_equal(np.sort(mine), ri[rp[q]:rp[q + 1]])
        facing = mine[n[mine] @ n[i] > 0]
        assert np.array_equal(fidx[fptr[q]:fptr[q + 1]], facing)  # same order, facing ones only
    # queries that are not in the grid (positions given), and a tiny output buffer
    g2 = kn.ball_grid(p[:1000], 4.0 * r[:1000])
    ptr2, idx2 = kn.reaching(g2, np.arange(1000, 1200), np.zeros(200), p)
    rp2, ri2 = kc.far_candidates(p, np.r_[r[:1000], np.zeros(len(p) - 1000)], np.arange(1000, 1200),
                                 np.zeros(200), 4.0)
    for q in range(200):
        assert np.array_equal(np.sort(idx2[ptr2[q]:ptr2[q + 1]]), ri2[rp2[q]:rp2[q + 1]])
    # a slack of many cubes (a projection that moved far): thousands of cube rows per query
    p3 = rng.random((3000, 3)) * 2.0
    r3 = rng.random(3000) * 0.01 + 0.002
    q3 = np.arange(0, 3000, 100)
    ptr3, idx3 = kn.reaching(kn.ball_grid(p3, 4.0 * r3), q3, np.full(len(q3), 0.6))
    rp3, ri3 = kc.far_candidates(p3, r3, q3, np.full(len(q3), 0.6), 4.0)
    for q in range(len(q3)):
        assert np.array_equal(np.sort(idx3[ptr3[q]:ptr3[q + 1]]), ri3[rp3[q]:rp3[q + 1]])


def test_sample_points_thin_the_apex_rows():
    """A big triangle's rows near the apex keep points about one cell apart across; every
    vertex and edge point is kept."""
    v = np.array([[0.0, 0, 0], [4.0, -1.5, 0], [4.0, 1.5, 0]])
    f = np.array([[0, 1, 2]])
    apex, rows, cols = kr.refine_plan(v, f, 0.1)
    pts, spacing, off, grid, sub = kr.refine_surface(v, f, apex, rows, cols)
    keep = kr.sample_points(len(pts), rows, cols, off, grid)
    m, k = int(rows[0]), int(cols[0])
    g = grid[off[0]:off[1]].reshape(m + 1, k + 1)
    assert keep[g[:, 0]].all() and keep[g[:, -1]].all() and keep[g[-1]].all() and keep[:3].all()
    cell = spacing.max()
    for i in range(1, m):
        row = pts[g[i][keep[g[i]]]]
        gaps = np.linalg.norm(np.diff(row, axis=0), axis=1)
        assert gaps.max() <= 1.0001 * cell
    assert keep.sum() < 0.75 * len(pts)  # about half of the grid, plus its edges


def test_chunked_fit_equals_plain_fit():
    """apss_curvature_at (per-point lists, chunks) gives apss_curvature's values."""
    from tests.test_curvature import scan_like_surface

    v, f = scan_like_surface(n=60)
    n = kc.vertex_normals(v, f)
    r = kc.point_radii(v)
    k1, k2, st = kc.apss_curvature(v, n, r)
    which = np.arange(len(v))[::-1]
    a1, a2, ast = kc.apss_curvature_at(v, n, r, which, chunk=500)
    assert np.array_equal(ast, st[which])
    np.testing.assert_allclose(a1, k1[which], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a2, k2[which], rtol=1e-9, atol=1e-9)


def test_dense_mesh_takes_the_plain_path():
    """A mesh with no face to split is fitted exactly as before (bit for bit)."""
    from tests.test_curvature import scan_like_surface

    v, f = scan_like_surface(n=80)  # edges of 1.5 cm
    assert not (kr.refine_plan(v, f, 0.04)[1] > 1).any()
    out = vertex_curvatures(Mesh.from_arrays(v, f), {})
    u, inv, fu = merge_positions(v, f)
    k1, k2, st = kc.apss_curvature(u, kc.vertex_normals(u, fu), kc.point_radii(u))
    assert np.array_equal(out["point_k1"], k1) and np.array_equal(out["point_k2"], k2)
    assert np.array_equal(out["status"], st[inv])


def test_refined_memory_error(monkeypatch):
    """A coarse mesh whose refined surface cannot fit is a one-line error before refining."""
    import trimesh

    from labelgen.core._errors import LabelgenError
    from labelgen.labels import curvature as lc

    box = trimesh.creation.box(extents=(20.0, 16.0, 3.0))
    need = kc.BYTES_PER_REFINED_POINT * 500_000
    monkeypatch.setattr(lc, "available_memory", lambda: need)
    with pytest.raises(LabelgenError, match="too large for the memory available") as err:
        vertex_curvatures(Mesh.from_arrays(np.asarray(box.vertices), np.asarray(box.faces)), {})
    assert "\n" not in str(err.value)


def test_refined_memory_linear():
    """Traced peak of the refined computation is linear in the point count and under the
    documented constant (NumPy allocations; the resident figures are the benchmark's)."""
    import tracemalloc

    import trimesh

    cache.configure(enabled=False)
    try:
        per = []
        box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
        small = Mesh.from_arrays(np.asarray(box.vertices), np.asarray(box.faces))
        vertex_curvatures(small, {"curvature_max_edge": 0.2})  # compile outside the trace
        for size in (2.0, 4.0):
            box = trimesh.creation.box(extents=(size, size, 1.0))
            mesh = Mesh.from_arrays(np.asarray(box.vertices), np.asarray(box.faces))
            tracemalloc.start()
            out = vertex_curvatures(mesh, {})
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            points = len(out["point_k1"])
            assert peak < kc.BYTES_PER_REFINED_POINT * points, (peak, points)
            per.append(peak / points)
            # a plain box: flat everywhere but within a ball of its edges
            assert np.all(out["status"] == kc.OK)
        assert per[1] < 1.25 * per[0]
    finally:
        cache.configure(enabled=True)


def test_refined_deterministic():
    import trimesh

    c = trimesh.creation.cylinder(radius=0.2, height=0.8, sections=24)
    v, f = np.asarray(c.vertices), np.asarray(c.faces)
    cache.configure(enabled=False)
    try:
        a = vertex_curvatures(Mesh.from_arrays(v, f), {})
        b = vertex_curvatures(Mesh.from_arrays(v, f), {})
    finally:
        cache.configure(enabled=True)
    assert len(a["point_k1"]) > len(v)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
