"""NARF interest image (spec section 4, keypoints3d): stages on synthetic range images with a
known answer, the kernels against slow references, and the shipped Taskonomy sample."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from labelgen.kernels import narf, narf_borders, narf_interest, narf_numerics, narf_surface
from labelgen import Camera
from labelgen.core._errors import LabelgenError
from labelgen.engine._pipeline import LazySources, compute_view

F32 = np.float32


# -- helpers ------------------------------------------------------------------------------

def wall(h, w, z):
    return np.full((h, w), z, np.float32)


def box_scene(h=80, w=80, lo=24, hi=56, z_box=2.0, z_wall=3.0):
    """A square box face (rows/cols lo..hi-1) at ``z_box`` in front of a wall at ``z_wall``."""
    d = wall(h, w, z_wall)
    d[lo:hi, lo:hi] = z_box
    return d


def step_scene(h=48, w=64, split=32, z_near=2.0, z_far=4.0):
    """Left part near, right part far: one vertical occlusion boundary."""
    d = wall(h, w, z_far)
    d[:, :split] = z_near
    return d


# -- small linear algebra and sorting ------------------------------------------------------

@pytest.mark.parametrize("variant", [0, 1])
def test_eigen33_matches_numpy(variant):
    rng = np.random.default_rng(0)
    evecs = np.empty((3, 3), np.float32)
    evals = np.empty(3, np.float32)
    for _ in range(200):
        pts = rng.normal(size=(20, 3)) * rng.uniform(0.01, 3, size=3)
        cov = np.cov(pts.T, bias=True).astype(np.float32)
        narf.eigen33(cov, evecs, evals, variant)
        ref_vals, ref_vecs = np.linalg.eigh(cov.astype(np.float64))
        scale = np.abs(cov).max()
        assert np.allclose(evals, ref_vals, atol=1e-4 * scale, rtol=1e-3)
        # eigenvectors: unit, orthogonal, and (up to sign) numpy's where eigenvalues are distinct
        assert np.allclose(evecs.T @ evecs, np.eye(3), atol=1e-3)
        gaps = np.diff(ref_vals) / scale
        if gaps.min() > 1e-2:
            assert np.allclose(np.abs(np.sum(evecs * ref_vecs, axis=0)), 1.0, atol=1e-3)


def test_std_sort_sorts_pairs():
    rng = np.random.default_rng(1)
    for n in range(1, 26):
        for _ in range(20):
            d = rng.integers(0, 6, size=n).astype(np.float32)  # many ties
            k = np.arange(n, dtype=np.int64)
            d0 = d.copy()
            narf_numerics._std_sort(d, k, n, np.empty(64, np.int64))
            assert np.array_equal(d, np.sort(d0))
            assert np.array_equal(np.sort(k), np.arange(n))
            assert np.array_equal(d0[k], d)


# -- range images ---------------------------------------------------------------------------

def test_planar_range_image_geometry():
    h, w, f = 6, 8, 5.0
    depth = np.linspace(1.0, 3.0, h * w, dtype=np.float32).reshape(h, w)
    depth[2, 3] = 0.0
    depth[4, 5] = np.nan
    ri = narf.planar_range_image(depth, f)
    ys, xs = np.mgrid[0:h, 0:w]
    exp = np.stack([(xs - w / 2) * depth / f, (ys - h / 2) * depth / f, depth], -1).reshape(-1, 3)
    ok = np.isfinite(depth).ravel() & (depth.ravel() > 0)
    assert np.allclose(ri.points[ok], exp[ok], rtol=1e-6)
    assert np.allclose(ri.ranges[ok], np.linalg.norm(exp[ok], axis=1), rtol=1e-6)
    assert np.all(np.isneginf(ri.ranges[~ok])) and np.all(np.isnan(ri.points[~ok]))
    assert math.isclose(ri.angular_resolution, math.asin(w / 2 / f) / (w / 2), rel_tol=1e-6)


def test_half_image_keeps_closest_point():
    rng = np.random.default_rng(2)
    depth = rng.uniform(1, 5, size=(10, 12)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.3] = 0
    ri = narf.planar_range_image(depth, 10.0)
    half = narf.half_image(ri)
    r = np.where(np.isfinite(ri.ranges), ri.ranges, np.inf).reshape(10, 12)
    blocks = r.reshape(5, 2, 6, 2).transpose(0, 2, 1, 3).reshape(5, 6, 4)
    exp = blocks.min(axis=2)
    got = half.ranges.reshape(5, 6)
    assert np.array_equal(np.where(np.isfinite(exp), exp, -np.inf), got)
    assert (half.width, half.height) == (6, 5)
    assert math.isclose(half.angular_resolution, 2 * ri.angular_resolution, rel_tol=1e-7)


def test_scale_space_stops_at_two_degrees():
    ri = narf.planar_range_image(wall(512, 512, 2.0), 512 / (2 * math.tan(1.18 / 2)))
    scales = narf.scale_space(ri)
    res = [math.degrees(s.angular_resolution) for s in scales]
    assert [s.width for s in scales] == [512, 256, 128, 64, 32, 16]
    assert all(0.5 * r < 2.0 for r in res[:-1]) and 0.5 * res[-1] >= 2.0


# -- border extraction on synthetic scenes ---------------------------------------------------

def test_flat_wall_has_no_borders_and_no_interest():
    depth = wall(48, 64, 2.0)
    ri = narf.planar_range_image(depth, 60.0)
    be = narf.border_extraction(ri)
    assert be.valid_surface.all()
    assert not be.traits.any()
    assert be.surface_change_scores.max() < 0.05
    normals = be.normals.reshape(48, 64, 3)
    assert np.allclose(np.abs(normals[..., 2]), 1.0, atol=1e-4)   # facing the camera
    for recursive in (False, True):
        interest = narf.interest_image(depth, 60.0, 0.2, recursive=recursive)
        assert not interest.any()


def test_occlusion_boundary_border_and_shadow_on_the_right_sides():
    h, w, split = 48, 64, 32
    depth = step_scene(h, w, split)
    be = narf.border_extraction(narf.planar_range_image(depth, 60.0))
    t = be.traits.reshape(h, w)
    rows = slice(3, h - 3)
    ob_cols = np.nonzero((t[rows] & narf.OBSTACLE_BORDER).any(axis=0))[0]
    sh_cols = np.nonzero((t[rows] & narf.SHADOW_BORDER).any(axis=0))[0]
    # the near (left) surface ends in an obstacle border facing right (PCL's 3-pixel
    # averaged scores put it up to 2 pixels before the jump, the rest are veil points) ...
    assert len(ob_cols) == 1 and split - 3 <= ob_cols[0] <= split - 1
    ob = ob_cols[0]
    assert np.all(t[rows, ob] & narf.OBSTACLE_BORDER_RIGHT)
    # ... and the far surface starts with its shadow border, seen from the left
    assert len(sh_cols) == 1 and split <= sh_cols[0] <= split + 2
    assert np.all(t[rows, sh_cols[0]] & narf.SHADOW_BORDER_LEFT)
    assert np.all(t[rows, ob + 1:sh_cols[0]] & narf.VEIL_POINT)
    assert not (t & (narf.OBSTACLE_BORDER_LEFT | narf.OBSTACLE_BORDER_TOP | narf.OBSTACLE_BORDER_BOTTOM)).any()
    # the 3D border direction points from the obstacle towards the background (+x)
    bdir = be.border_directions.reshape(h, w, 3)[rows, ob]
    assert np.all(bdir[:, 0] > 0.9)
    # a border is a strong surface change; shadow borders are not interesting
    assert np.all(be.surface_change_scores.reshape(h, w)[rows, ob] == 1.0)
    interest = narf.interest_image(depth, 60.0, 0.2, recursive=False)
    assert not interest[rows, sh_cols[0]].any()


def test_box_corner_is_interesting_and_straight_edges_are_not():
    depth = box_scene()
    interest = narf.interest_image(depth, 80.0, 0.2, recursive=False)
    lo, hi = 24, 55
    for cy, cx in [(lo, lo), (lo, hi), (hi, lo), (hi, hi)]:
        assert interest[cy - 2:cy + 3, cx - 2:cx + 3].max() > 0.5
    mid = (lo + hi) // 2
    assert interest[lo, mid] < 0.05 and interest[mid, lo] < 0.05   # middle of straight edges
    assert interest[mid, mid] == 0                                   # flat face, far from borders
    assert interest[5, 5] == 0                                       # flat wall
    # the corners are the maxima of the image
    assert interest.max() == max(interest[c - 3:c + 4, d - 3:d + 4].max()
                                 for c in (lo, hi) for d in (lo, hi))


# -- the interest stage against a slow reference -------------------------------------------

def tilted_box_scene(n=40):
    """A rotated box face on a tilted plane in front of a tilted wall (no direction lies
    exactly on a histogram cell boundary, so float32 and float64 agree)."""
    ys, xs = np.mgrid[0:n, 0:n]
    depth = (3.0 + 0.011 * xs - 0.006 * ys).astype(np.float32)
    c = (n - 1) / 2
    face = (abs(xs - c + 0.3 * (ys - c)) < n / 5) & (abs(ys - c + 0.2 * (xs - c)) < n / 5)
    depth[face] = (2.0 + 0.009 * xs + 0.004 * ys)[face]
    return depth


@pytest.mark.parametrize("scene", ["box", "step"])
def test_interest_kernel_matches_reference(scene):
    depth = tilted_box_scene() if scene == "box" else step_scene(24, 32, 16)
    ri = narf.planar_range_image(depth, 40.0)
    be = narf.border_extraction(ri)
    got = narf.interest_image(depth, 40.0, 0.2, recursive=False)
    ref = narf.interest_values_reference(ri, be, 0.2)
    assert np.abs(got - ref).max() < 1e-4


def test_recursive_scales_take_coarser_values_for_close_points():
    # a box close to the camera: every point is nearer than the first start-usage range, so
    # full-resolution values are copied from the half image (PCL: the 2x2 block's value)
    depth = box_scene(128, 128, 40, 88, z_box=0.4, z_wall=0.6)
    f = 128 / (2 * math.tan(1.18 / 2))
    ri = narf.planar_range_image(depth, f)
    starts = narf.start_usage_ranges(narf.scale_space(ri), 0.2)
    assert ri.ranges.max() < starts[0]
    nearest = narf.interest_image(depth, f, 0.2, taskonomy_upsampling=False)
    bilinear = narf.interest_image(depth, f, 0.2, taskonomy_upsampling=True)
    flat = narf.interest_image(depth, f, 0.2, recursive=False)
    usable = ((narf.border_extraction(ri).traits & (narf.SHADOW_BORDER | narf.VEIL_POINT)) == 0)
    blocks = usable.reshape(64, 2, 64, 2).all(axis=(1, 3))
    v = nearest.reshape(64, 2, 64, 2).transpose(0, 2, 1, 3).reshape(64, 64, 4)
    assert np.all(v[blocks] == v[blocks][:, :1])
    assert nearest.max() > 0.1 and not np.array_equal(nearest, flat)
    # Taskonomy's bilinear version interpolates the same coarse values
    assert not np.array_equal(bilinear, nearest)
    assert bilinear.min() >= 0 and bilinear.max() <= nearest.max() + 1e-6
    # all versions find the four box corners among their strongest responses
    for img in (nearest, bilinear, flat):
        for cy, cx in [(40, 40), (40, 87), (87, 40), (87, 87)]:
            assert img[cy - 4:cy + 5, cx - 4:cx + 5].max() > 0.15


def test_same_input_same_output():
    depth = box_scene()
    a = narf.interest_image(depth, 80.0, 0.2)
    b = narf.interest_image(depth, 80.0, 0.2)
    assert a.tobytes() == b.tobytes()


def test_encode_interest_truncates_like_taskonomy():
    v = np.array([0.0, 1 / 6, 0.25, 0.9999999, 1.5, -0.1], np.float32)
    assert narf.encode_interest(v).tolist() == [0, 10922, 16384, 65535, 65535, 0]


# -- the label -------------------------------------------------------------------------------

def _camera(w, h, fov=1.18):
    return Camera.look_at([0, 0, 0], [0, 1, 0], fov=fov, width=w, height=h)


def test_keypoints3d_label_on_synthetic_depth():
    depth = (box_scene(64, 64, 20, 44) * 512).astype(np.uint16)
    sources = LazySources(depth_zbuffer=depth, camera=_camera(64, 64))
    labels, skipped = compute_view(["keypoints3d"], sources, {"support_size": 0.2})
    out = labels["keypoints3d"]
    assert not skipped and out.dtype == np.uint16 and out.shape == (64, 64)
    f = 64 / (2 * math.tan(1.18 / 2))
    exp = narf.encode_interest(narf.interest_image(depth.astype(np.float32) / 512, f, 0.2))
    assert np.array_equal(out, exp)
    assert out.max() > 0


def test_keypoints3d_rejects_bad_support_size():
    sources = LazySources(depth_zbuffer=np.full((16, 16), 1024, np.uint16), camera=_camera(16, 16))
    with pytest.raises(LabelgenError, match="support-size"):
        compute_view(["keypoints3d"], sources, {"support_size": -1.0})


# -- the shipped Taskonomy sample ------------------------------------------------------------

def test_shipped_keypoints3d_is_reproduced(reference):
    from labelgen.io._images import read_png

    base = reference / "taskonomy"
    depth = read_png(base / "point_202_view_5_domain_depth_zbuffer.png")
    shipped = read_png(base / "point_202_view_5_domain_keypoints3d.png").astype(np.int64)
    info = json.loads((base / "point_202_view_5_domain_point_info.json").read_text())
    cam = _camera(depth.shape[1], depth.shape[0], info["field_of_view_rads"])
    labels, _ = compute_view(["keypoints3d"], LazySources(depth_zbuffer=depth, camera=cam))
    ours = labels["keypoints3d"].astype(np.int64)
    err = np.abs(ours - shipped)
    # measured: 3 of 262144 pixels differ, by one unit (float32 rounding of the original build)
    assert np.count_nonzero(err) <= 3 and err.max() <= 1


def test_odd_non_square_sizes_and_empty_depth():
    depth = box_scene(67, 101, 20, 45)
    f = 101 / (2 * math.tan(1.18 / 2))
    out = narf.interest_image(depth, f, 0.2)
    assert out.shape == (67, 101) and np.isfinite(out).all() and out.max() > 0
    assert [s.width for s in narf.scale_space(narf.planar_range_image(depth, f))][:2] == [101, 50]
    assert not narf.interest_image(np.zeros((33, 47), np.float32), 30.0, 0.2).any()
    nan = np.full((20, 30), np.nan, np.float32)
    nan[5:15, 5:25] = 2.0
    assert np.isfinite(narf.interest_image(nan, 30.0, 0.2)).all()


# -- the faster paths give the same bits as the simple ones ----------------------------------

def _speed_scenes():
    """Small depth images with borders, noise, holes and tilted faces."""
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:72, 0:96]
    room = (4.0 + 0.01 * xs + 0.005 * ys).astype(np.float32)
    for _ in range(6):
        x0, y0 = rng.integers(0, 80, size=2)
        s = rng.integers(6, 30)
        room[y0:y0 + s, x0:x0 + s] = rng.uniform(1.0, 3.5)
    noisy = room + rng.normal(0, 0.004, room.shape).astype(np.float32)
    noisy[rng.random(room.shape) < 0.02] = 0
    quantised = np.round(tilted_box_scene() * 512) / 512  # z-buffer steps: many distance ties
    # close to the sensor: support windows wider than 62 pixels (the scan-line path)
    close = (0.25 + 0.004 * xs[:, :80] + 0.002 * ys[:, :80]).astype(np.float32)
    close[20:40, 30:55] = 0.2
    return [(room, 70.0), (noisy, 70.0), (quantised.astype(np.float32), 40.0), (box_scene(67, 101, 20, 45), 60.0),
            (close, 70.0)]


def _slow_paths(monkeypatch):
    """Replace every fast kernel by the simple version it is held against."""
    monkeypatch.setattr(narf, "_PATHS", narf.SIMPLE)


@pytest.mark.parametrize("kw", [{}, {"taskonomy_upsampling": False}, {"recursive": False, "eigen_variant": 1}])
def test_fast_paths_equal_simple_paths(monkeypatch, kw):
    scenes = _speed_scenes()
    fast = [narf.interest_image(d, f, 0.3, **kw) for d, f in scenes]
    with monkeypatch.context() as m:
        _slow_paths(m)
        slow = [narf.interest_image(d, f, 0.3, **kw) for d, f in scenes]
    for a, b in zip(fast, slow):
        assert a.tobytes() == b.tobytes()
    assert any(a.max() > 0.1 for a in fast)


def _shipped_depth(reference):
    from labelgen.io._images import read_png
    from labelgen.labels.keypoints3d import depth_metres_float32

    base = reference / "taskonomy"
    depth = read_png(base / "point_202_view_5_domain_depth_zbuffer.png")
    info = json.loads((base / "point_202_view_5_domain_point_info.json").read_text())
    return depth_metres_float32(depth, 512.0), depth.shape[1] / (2 * math.tan(info["field_of_view_rads"] / 2))


@pytest.mark.parametrize("part", ["whole", "crop"])
def test_fast_paths_equal_simple_paths_on_shipped_view(reference, monkeypatch, part):
    depth, f = _shipped_depth(reference)
    kw = {}
    if part == "crop":  # other geometry: farther, another focal length, stock PCL upsampling
        depth = np.ascontiguousarray(depth[96:352, 40:424] * np.float32(1.6))
        f *= 0.7
        kw = {"support_size": 0.2, "taskonomy_upsampling": False}
    fast = narf.interest_image(depth, f, **kw)
    with monkeypatch.context() as m:
        _slow_paths(m)
        slow = narf.interest_image(depth, f, **kw)
    assert fast.tobytes() == slow.tobytes()
    assert np.count_nonzero(fast) > 1000


def test_direction_cell_table_equals_acos_pipeline():
    # dense float32 samples around every cell threshold and the band edges, plus random ones
    # (an exhaustive run over all float32 in [-1, 1] found no difference)
    vals = [np.float32(np.linspace(-1, 1, 200001))]
    for e in narf_interest._CELL_EDGES:
        for c in (e, e - narf_interest._CELL_BAND, e + narf_interest._CELL_BAND):
            v = np.float32(c)
            ulps = np.arange(-3000, 3001, dtype=np.int64)
            bits = (v.view(np.int32).astype(np.int64) + ulps * (1 if v >= 0 else -1)).astype(np.int32)
            vals.append(bits.view(np.float32))
    vals.append(np.random.default_rng(0).uniform(-1, 1, 200000).astype(np.float32))
    vals.append(np.array([-1.0, -0.0, 0.0, 1.0], np.float32))
    vals = np.concatenate(vals)
    vals = vals[np.abs(vals) <= 1]  # beyond, both use the same acos formula (acos gives NaN)
    got, exp = narf_interest._direction_cells_both(vals, narf_interest._CELL_TABLE)
    assert np.array_equal(got, exp)


def test_neighbour_distances_and_border_scores_equal_plain_loops():
    # the vectorised 9th-closest distances against _local_surfaces without plane fits, on
    # scenes with holes, borders, distance ties and images smaller than the 5x5 window
    scenes = _speed_scenes() + [(np.full((3, 7), 2.0, np.float32), 10.0), (wall(5, 4, 3.0), 10.0)]
    for depth, f in scenes:
        for im in narf.scale_space(narf.planar_range_image(depth, f)):
            none = np.zeros(im.width * im.height, np.bool_)
            ok0, d0, _, _ = narf_borders._local_surfaces(im, 2, 0, none, False, np.zeros(0, np.float32))
            ok1, d1 = narf_borders._neighbour_distances(im)
            assert ok0.tobytes() == ok1.tobytes() and d0.tobytes() == d1.tobytes()
            # and the row-wise border scores against the per-pixel ones
            s0 = narf_borders._border_scores(im, ok0, d0, 3)
            s1 = narf_borders._border_scores_rows(im, ok0, d0, 3)
            assert s0.tobytes() == s1.tobytes()


def test_surface_changes_by_rows_equal_plain_loop():
    # row-wise streaming covariance of the normals against the per-pixel loop: every score
    # (min_score 0) and the vote threshold, all pixels, a random half and a sparse set
    for depth, f in _speed_scenes():
        for im in narf.scale_space(narf.planar_range_image(depth, f)):
            b = narf_borders.classify_borders(im, 0, narf_borders.lap_clock(None))
            n = im.width * im.height
            everything = np.ones(n, np.bool_)
            fit = narf_borders._obstacle_or(everything, b.traits)
            _, _, normal, mean = narf_borders._local_surfaces(im, 2, 0, fit, True, b.maxd2)
            bdir, bhas = narf_surface._border_directions(im, b, normal, mean, 2, F32(0.8))
            sparse = np.random.default_rng(n).random(n) < 0.02  # short spans per row
            for need in (everything, np.random.default_rng(n).random(n) < 0.5, sparse):
                for min_score in (F32(0), F32(0.2)):
                    args = (im, b, normal, bdir, bhas, 2, 0, need, min_score)
                    s0, d0 = narf_surface._surface_changes(*args)
                    s1, d1 = narf_surface._surface_changes_rows(*args)
                    assert s0.tobytes() == s1.tobytes() and d0.tobytes() == d1.tobytes()


def test_plane_fits_ranked_equal_insertion_sort():
    # neighbours ordered by counting ranks (std::sort emulation on ties) against the insertion
    # sort: every pixel, a random subset and the pipeline's reuse of the first pass's
    # distances; scenes with ties (quantised depth) and holes
    fitted = 0
    for depth, f in _speed_scenes():
        for im in narf.scale_space(narf.planar_range_image(depth, f)):
            n = im.width * im.height
            none = np.zeros(n, np.bool_)
            _, maxd2, _, _ = narf_borders._local_surfaces(im, 2, 0, none, False, np.zeros(0, np.float32))
            for need in (np.ones(n, np.bool_), np.random.default_rng(n).random(n) < 0.3):
                for fit_only in (False, True):
                    args = (im, 2, 0, need, fit_only, maxd2, False)
                    plain = narf_borders._local_surfaces(*args, False)
                    fast = narf_borders._local_surfaces(*args, True)
                    for a, b in zip(plain, fast):
                        assert a.tobytes() == b.tobytes()
                    fitted += np.count_nonzero(fast[2][:, 2])
    assert fitted > 10000
