"""labelgen sample: camera placement, fixated views, point matching and point_info files."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from labelgen.camera._cameras import camera_from_point_info, read_cameras
from labelgen.core._errors import LabelgenError
from labelgen.io._meshes import Mesh
from labelgen.camera._pointinfo import fixated_pairs, fixated_triplets, nonfixated_pairs, nonfixated_pixel, relative_pose
from labelgen.render._renderers import Open3DRenderer
from labelgen.render._raycast import RaycastScene
from labelgen.sample._sampling import SampleConfig, sample_building, write_sample
from labelgen.camera._vanishing import camera_vanishing_points


def _box(lo, hi):
    import trimesh

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    b = trimesh.creation.box(hi - lo)
    b.apply_translation((lo + hi) / 2)
    return b


def apartment(rotation_degrees=0.0):
    """Two rooms joined by a door, floor and ceiling slabs, a table, a wardrobe and a bed."""
    import trimesh

    parts = [_box([-0.2, -0.2, -0.2], [8.2, 6.2, 0.0]), _box([-0.2, -0.2, 2.6], [8.2, 6.2, 2.8]),
             _box([-0.2, -0.2, 0], [0, 6.2, 2.6]), _box([8, -0.2, 0], [8.2, 6.2, 2.6]),
             _box([0, -0.2, 0], [8, 0, 2.6]), _box([0, 6, 0], [8, 6.2, 2.6]),
             _box([4, 0, 0], [4.1, 2.5, 2.6]), _box([4, 3.5, 0], [4.1, 6, 2.6]), _box([4, 2.5, 2.1], [4.1, 3.5, 2.6]),
             _box([1, 1, 0], [2.5, 2, 0.75]), _box([6, 4, 0], [7.5, 5.8, 1.8]), _box([5.5, 1, 0], [6.2, 1.6, 0.45])]
    tm = trimesh.util.concatenate(parts)
    if rotation_degrees:
        tm.apply_transform(trimesh.transformations.rotation_matrix(math.radians(rotation_degrees), [0, 0, 1]))
    return Mesh(tm.vertices, tm.faces, parts=[(0, tm)])


CFG = dict(num_cameras=16, num_points=24, min_views_per_point=3, max_views_per_point=6, resolution=(64, 48),
           camera_height=(1.3, 1.6), min_camera_distance=0.6, min_mesh_distance=0.25, max_roll_degrees=10.0,
           seed=5)


@pytest.fixture(scope="module")
def sampled():
    mesh = apartment()
    cfg = SampleConfig(**CFG)
    return mesh, cfg, sample_building(mesh, cfg)


def _cams(result):
    return [camera_from_point_info(v) for v in result.views]


def test_fixated_views_see_their_point_at_the_centre(sampled):
    mesh, cfg, res = sampled
    assert len(res.point_locations) == cfg.num_points
    renderer = Open3DRenderer(mesh)
    for info, cam in zip(res.views, _cams(res)):
        p = np.array(info["point_location"])
        col, row = cam.project(p)
        assert abs(col - (cam.width - 1) / 2) < 0.5 and abs(row - (cam.height - 1) / 2) < 0.5
        gb = renderer.render(cam)
        h, w = cam.height, cam.width
        centre = gb.depth[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean()
        # placement keeps the four central pixels on the point's plane within 5 mm (measured: 3.8 mm)
        assert abs(centre - info["camera_distance"]) <= 0.005
        assert abs(np.linalg.norm(p - cam.location) - info["camera_distance"]) < 1e-12


def test_points_seen_by_enough_views_and_cameras_keep_distances(sampled):
    mesh, cfg, res = sampled
    per_point = {}
    for info in res.views:
        per_point.setdefault(info["point_uuid"], set()).add(info["camera_uuid"])
    assert len(per_point) == len(res.point_locations)
    assert all(cfg.min_views_per_point <= len(c) <= cfg.max_views_per_point for c in per_point.values())
    cams = res.camera_locations
    d = np.linalg.norm(cams[:, None] - cams[None], axis=2) + np.eye(len(cams)) * 1e9
    assert d.min() >= cfg.min_camera_distance
    scene = RaycastScene(mesh)
    assert scene.distance(cams).min() >= cfg.min_mesh_distance - 1e-5
    # the apartment's floor is z = 0 everywhere (furniture does not count as floor)
    assert np.all((cams[:, 2] >= cfg.camera_height[0]) & (cams[:, 2] <= cfg.camera_height[1]))
    # each view's point is in line of sight within 1 mm, and seen no more obliquely than the limit
    c = np.array([v["camera_location"] for v in res.views])
    p = np.array([v["point_location"] for v in res.views])
    assert not scene.occluded(c, p).any()
    assert max(v["obliqueness_angle"] for v in res.views) <= math.radians(cfg.max_obliqueness_degrees)
    fov = [v["field_of_view_rads"] for v in res.views]
    assert math.radians(cfg.fov_degrees[0]) <= min(fov) and max(fov) <= math.radians(cfg.fov_degrees[1])


def test_point_info_fields_consistent(sampled):
    _, cfg, res = sampled
    from labelgen.camera._pointinfo import complete_point_info

    for info, cam in zip(res.views, _cams(res)):
        assert info["resolution"] == [64, 48]
        # every pose-computable field agrees with its definition (recomputed from scratch)
        bare = {k: info[k] for k in ("camera_location", "camera_rotation_final", "camera_rotation_original",
                                     "field_of_view_rads", "resolution", "point_location", "point_normal")}
        cam2 = camera_from_point_info(bare)
        full = complete_point_info(cam2)
        for key in ("camera_distance", "obliqueness_angle", "point_pitch"):
            assert abs(full[key] - info[key]) < 1e-9, key
        np.testing.assert_allclose(full["camera_rotation_from_original_to_final"],
                                   info["camera_rotation_from_original_to_final"], atol=1e-9)
        vp = camera_vanishing_points(cam, 0.0)
        for key in vp:
            for ax in "xyz":
                np.testing.assert_allclose(info[key][ax], vp[key][ax], atol=1e-9)
        # roll within the limit: the camera's x axis stays within max_roll of horizontal
        tilt = math.degrees(math.asin(abs(cam.rotation[2, 0])))
        assert tilt <= cfg.max_roll_degrees + 1e-9
        box = info["bounding_box_ranges"]
        assert all(box[a][0] <= info["point_location"][i] <= box[a][1] for i, a in enumerate("xyz"))


def test_nonfixated_lists_match_projection_and_line_of_sight(sampled):
    mesh, _, res = sampled
    scene = RaycastScene(mesh)
    pts = res.point_locations
    listed = {}
    for nf in res.nonfixated:
        for e in nf["views"]:
            listed[(int(nf["point_uuid"]), e["point_uuid"], e["view_id"])] = (e["nonfixated_pixel_x"],
                                                                               e["nonfixated_pixel_y"])
    n_checked = 0
    for info, cam in zip(res.views, _cams(res)):
        own = int(info["point_uuid"])
        vis = ~scene.occluded(np.tile(cam.location, (len(pts), 1)), pts)
        expected = []
        for q in range(len(pts)):
            px = nonfixated_pixel(cam, pts[q])
            if q != own and vis[q] and px is not None and 0 <= px[0] < cam.width and 0 <= px[1] < cam.height:
                expected.append(q)
                assert listed[(q, info["point_uuid"], info["view_id"])] == px
                n_checked += 1
        assert info["nonfixated_points_in_view"] == expected
    assert n_checked > 0
    assert len(listed) == n_checked


@pytest.mark.slow
def test_same_seed_same_bytes(tmp_path, sampled):
    """Same seed, same bytes: in this process and in a fresh one (its own hash seed and caches)."""
    import subprocess
    import sys

    mesh, cfg, res = sampled
    write_sample(res, tmp_path / "a")
    code = ("import sys; sys.path.insert(0, 'tests'); from test_sampling import CFG, apartment; "
            "from labelgen.sample._sampling import SampleConfig, sample_building, write_sample; "
            f"write_sample(sample_building(apartment(), SampleConfig(**CFG)), {str(tmp_path / 'b')!r})")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True,
                   env={**os.environ, "PYTHONHASHSEED": "123"}, timeout=600)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == len(res.views) + len(res.nonfixated) + 1
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = sample_building(mesh, SampleConfig(**{**CFG, "seed": 6}))
    assert other.views[0] != res.views[0]


def test_render_writes_complete_point_info(tmp_path, sampled):
    from labelgen.engine import render_building

    mesh, _, res = sampled
    write_sample(res, tmp_path / "s")
    cams = read_cameras(tmp_path / "s")[:3]
    render_building(mesh, cams, tmp_path / "r", tasks=["depth_zbuffer"])
    for cam in cams:
        name = f"point_{cam.point}_view_{cam.view}_domain_point_info.json"
        src = json.loads((tmp_path / "s" / "point_info" / name).read_text())
        out = json.loads((tmp_path / "r" / "point_info" / name).read_text())
        assert out == src
    # camera_poses.json is readable by render's camera reader
    poses = read_cameras(tmp_path / "s" / "camera_poses.json")
    assert len(poses) == len(res.camera_locations)
    np.testing.assert_allclose([c.location for c in poses], res.camera_locations)
    # a view stripped to its pose gets its vanishing points back
    bare = {k: v for k, v in res.views[0].items() if not k.startswith("vanishing")}
    full = camera_from_point_info(bare).point_info()
    for key in ("vanishing_points_image", "vanishing_points_gaussian_sphere"):
        for ax in "xyz":
            np.testing.assert_allclose(full[key][ax], res.views[0][key][ax], rtol=0, atol=1e-9)


def test_relative_pose_helpers(sampled):
    _, _, res = sampled
    pairs = fixated_pairs(res.views)
    assert pairs and all(a["point_uuid"] == b["point_uuid"] for a, b in pairs)
    n_views = {}
    for v in res.views:
        n_views[v["point_uuid"]] = n_views.get(v["point_uuid"], 0) + 1
    assert len(pairs) == sum(k * (k - 1) // 2 for k in n_views.values())
    assert len(fixated_triplets(res.views)) == sum(k * (k - 1) * (k - 2) // 6 for k in n_views.values())
    for a, b, q in nonfixated_pairs(res.views)[:50]:
        assert a["point_uuid"] != b["point_uuid"]
        for v in (a, b):
            assert q == int(v["point_uuid"]) or q in v["nonfixated_points_in_view"]
    a, b = pairs[0]
    r, t = relative_pose(a, b)
    ca, cb = camera_from_point_info(a), camera_from_point_info(b)
    np.testing.assert_allclose(t, ca.world_to_camera(cb.location), atol=1e-12)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)


def test_room_boxes_from_file(tmp_path):
    mesh = apartment()
    rooms = {"west": {"x": [0, 4], "y": [0, 6], "z": [0, 2.6]}, "east": {"x": [4.1, 8], "y": [0, 6], "z": [0, 2.6]}}
    path = tmp_path / "rooms.json"
    path.write_text(json.dumps(rooms))
    res = sample_building(mesh, SampleConfig(**{**CFG, "num_points": 8, "rooms": path}))
    for v in res.views:
        p = v["point_location"]
        if 4.0 < p[0] < 4.1:  # inside the dividing wall's door reveal: in no box
            continue
        assert v["room"] == ("west" if p[0] <= 4 else "east")
        assert v["bounding_box_ranges"] == rooms[v["room"]]
    bad = tmp_path / "bad.json"
    bad.write_text('{"west": {"x": [0, 4], "y": [0]}}')
    with pytest.raises(LabelgenError, match="bad.json"):
        sample_building(mesh, SampleConfig(**{**CFG, "rooms": bad}))
    bad.write_text("{not json")
    with pytest.raises(LabelgenError, match="not valid JSON"):
        sample_building(mesh, SampleConfig(**{**CFG, "rooms": bad}))


def test_manhattan_estimate_on_rotated_apartment():
    from labelgen.camera._vanishing import estimate_manhattan_rotation

    for deg in (0.0, 12.5, -31.0):
        est = estimate_manhattan_rotation(apartment(deg))
        assert abs((est - deg + 45) % 90 - 45) < 0.5
    res = sample_building(apartment(20.0), SampleConfig(**{**CFG, "num_points": 4, "manhattan": "estimate"}))
    assert abs(res.views[0]["model_rotation_degrees"] - 20.0) < 0.5
    # the rotated frame's vertical vanishing point is still the world z axis
    cam = camera_from_point_info(res.views[0])
    np.testing.assert_allclose(res.views[0]["vanishing_points_gaussian_sphere"]["z"], cam.rotation[2], atol=1e-12)


def test_object_mode():
    import trimesh

    tm = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    mesh = Mesh(tm.vertices, tm.faces)
    cfg = SampleConfig(mode="object", num_cameras=12, num_points=10, min_views_per_point=2,
                       view_distance=(0.3, float("inf")), sphere_radius=4.0, min_camera_distance=1.0,
                       resolution=(32, 32), seed=1)
    res = sample_building(mesh, cfg)
    np.testing.assert_allclose(np.linalg.norm(res.camera_locations, axis=1), 4.0, atol=1e-9)
    assert len(res.point_locations) == 10
    for info, cam in zip(res.views, _cams(res)):
        np.testing.assert_allclose(cam.project(info["point_location"]), [15.5, 15.5], atol=1e-6)


def test_bad_input_errors(tmp_path):
    import trimesh

    plane = trimesh.Trimesh([[0, 0, 0], [5, 0, 0], [0, 5, 0]], [[0, 1, 2]])
    with pytest.raises(LabelgenError, match="no enclosed free space"):
        sample_building(Mesh(plane.vertices, plane.faces), SampleConfig(num_cameras=4, num_points=2))
    with pytest.raises(LabelgenError, match="no point is visible from 12 cameras after 500 candidates"):
        sample_building(apartment(), SampleConfig(**{**CFG, "min_views_per_point": 12, "max_views_per_point": 0,
                                                     "max_obliqueness_degrees": 5.0, "max_candidates": 500}))
    with pytest.raises(LabelgenError, match="only 16 could be placed"):
        sample_building(apartment(), SampleConfig(**{**CFG, "min_views_per_point": 50, "max_views_per_point": 0}))
    with pytest.raises(LabelgenError, match="--fov-range"):
        SampleConfig(fov_degrees=(80, 40)).check()
    # too many cameras requested: places what fits and says so
    res = sample_building(apartment(), SampleConfig(**{**CFG, "num_cameras": 500, "num_points": 3}))
    assert any("cameras" in w for w in res.warnings) and len(res.camera_locations) < 500


def test_cli_sample(tmp_path, capsys):
    from labelgen.cli import main

    mesh = apartment()
    path = tmp_path / "apt.ply"
    mesh.parts[0][1].export(path)
    out = tmp_path / "out"
    rc = main(["sample", str(path), "--out", str(out), "--num-cameras", "8", "--num-points", "4",
               "--resolution", "32x24", "--seed", "2", "--quiet"])
    assert rc == 0
    assert len(list((out / "point_info").glob("*.json"))) >= 4 * 3
    assert len(list((out / "nonfixated").glob("*.json"))) == 4
    capsys.readouterr()
    assert main(["sample", str(path), "--out", str(out), "--num-cameras", "8", "--num-points", "2",
                 "--resolution", "32x24", "--seed", "2", "--quiet"]) == 0
    assert "older JSON files" in capsys.readouterr().err
    assert main(["sample", str(path), "--out", str(out), "--rooms", str(tmp_path / "missing.json")]) == 2
    capsys.readouterr()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for flag, value in (("--manhattan", "sideways"), ("--seed", "-1"), ("--points-per-camera", "inf"),
                        ("--min-camera-distance", "nan"), ("--num-cameras", "2.5"), ("--max-roll", "180")):
        assert main(["sample", str(path), "--out", str(tmp_path / "bad"), flag, value]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"labelgen: error: {flag}: ") and err.count("\n") == 1, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_bundled_sample_apartment(apartment_mesh):
    """The project's sample apartment (sample_meshes/apartment.glb)."""
    mesh = apartment_mesh
    cfg = SampleConfig(num_cameras=12, num_points=15, resolution=(64, 48), seed=3)
    res = sample_building(mesh, cfg)
    assert len(res.point_locations) == 15
    renderer = Open3DRenderer(mesh)
    good = 0
    views = {}
    for info in res.views:
        cam = camera_from_point_info(info)
        np.testing.assert_allclose(cam.project(info["point_location"]), [31.5, 23.5], atol=1e-6)
        depth = renderer.render(cam).depth
        good += abs(depth[23:25, 31:33].mean() - info["camera_distance"]) <= 0.01
        views[info["point_uuid"]] = views.get(info["point_uuid"], 0) + 1
    assert good >= 0.95 * len(res.views)
    assert min(views.values()) >= cfg.min_views_per_point
    cams = res.camera_locations
    d = np.linalg.norm(cams[:, None] - cams[None], axis=2) + np.eye(len(cams)) * 1e9
    assert d.min() >= cfg.min_camera_distance
    assert RaycastScene(mesh).distance(cams).min() >= cfg.min_mesh_distance - 1e-5
