"""Labels in physical units and back (labelgen.read_label / encode_label) and the pinhole
matrices (labelgen.camera_matrices).

References: every shipped Taskonomy / Omnidata file round-trips bit for bit; the units are
checked against the spec's definitions (depth = units / 512, normals' camera axes against the
world's floor, curvature's 254 steps over +-1/r_min); K and the pose back-project the rendered
depth onto the mesh (distance by Open3D's point-to-mesh query).
"""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import labelgen
from labelgen import LabelgenError, camera_matrices, encode_label, read_label
from labelgen.camera import backproject, normals_to_world
from labelgen.data import CODECS
from labelgen.io import encode_png
from labelgen.io import read_image as _read_image
from labelgen.labels import all_labels
from labelgen.labels.geometric import NORMAL_CODE_BAND, encode_unit_normals, unit_normals

from conftest import REPO


def read_image(path):
    """The array of an image file read by its content."""
    return _read_image(path)[0]
from test_omnidata import quad_scene  # noqa: F401 - the fixture (a mesh with face colours: semantic)

APARTMENT = REPO / "sample_meshes" / "apartment.glb"
CAMERAS = REPO / "sample_meshes" / "apartment_cameras.json"


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_every_label_has_a_codec():
    assert set(all_labels()) <= set(CODECS)
    for name, codec in CODECS.items():
        assert codec.kind in ("float", "int", "bool") and codec.validity in ("code", "hit", "all") and codec.units


def test_every_reference_file_round_trips(reference):
    files = sorted(p for p in reference.rglob("*.png"))
    assert len(files) >= 100
    kinds = set()
    for path in files:
        stored = read_image(path)
        lab = read_label(path)
        kinds.add((lab.task, stored.dtype.str, stored.shape[2:]))
        assert lab.valid.shape == stored.shape[:2] and lab.valid.dtype == bool
        assert _same(encode_label(lab.task, lab), stored), path
        # NaN in place of invalid values: the values alone say which pixels are valid
        nan = read_label(path, fill=np.nan)
        if nan.value.dtype == np.float32:
            assert _same(encode_label(nan.task, nan.value), stored), path
    # RGBA and JPEG rgb files (Omnidata) are read by their content
    assert ("rgb", "|u1", (4,)) in kinds
    assert any(read_image(p).shape[2:] == (3,) and p.read_bytes()[:3] == b"\xff\xd8\xff" for p in files)


def test_units_of_the_shipped_taskonomy_view(reference):
    tk = reference / "taskonomy"
    depth = read_label(tk / "point_202_view_5_domain_depth_zbuffer.png")
    raw = read_image(tk / "point_202_view_5_domain_depth_zbuffer.png")
    assert depth.units == "metres" and depth.value.dtype == np.float32
    assert np.array_equal(depth.valid, raw != 65535)
    assert np.array_equal(depth.value[depth.valid], raw[depth.valid] / 512.0)
    assert np.all(depth.value[~depth.valid] == 0)
    normal = read_label(tk / "point_202_view_5_domain_normal.png")
    length = np.linalg.norm(normal.value[normal.valid].astype(np.float64), axis=-1)
    assert np.allclose(length, 1.0, atol=1e-6)
    curv = read_label(tk / "point_202_view_5_domain_principal_curvature.png")
    assert curv.value.shape == (512, 512, 2) and curv.units.startswith("1/m")
    assert np.abs(curv.value).max() <= 1 / 0.03 + 1e-3
    resh = read_label(tk / "point_202_view_5_domain_reshading.png")
    assert resh.value.shape == (512, 512) and 0 <= resh.value.min() and resh.value.max() <= 1
    # reshading's validity from the view's depth (13 is also a shading value); the shipped
    # file's pixels without depth are not all 13, so only labelgen's renders round-trip this way
    exact = read_label(tk / "point_202_view_5_domain_reshading.png", valid=depth.valid)
    assert np.array_equal(exact.valid, depth.valid)
    kp = read_label(tk / "point_202_view_5_domain_keypoints3d.png")
    assert np.array_equal(kp.value, read_image(tk / "point_202_view_5_domain_keypoints3d.png") / 65536.0)


def test_decoded_values_by_definition():
    # depth: metres = units / 512; 65535 invalid
    d = read_label(np.array([[0, 512, 1000, 65535]], np.uint16), "depth")
    assert d.task == "depth_zbuffer" and d.value.tolist() == [[0.0, 1.0, 1000 / 512, 0.0]]
    assert d.valid.tolist() == [[True, True, True, False]]
    # curvature: code 127 = 0, 254 = +1/r_min, 0 = -1/r_min (and (0, 0, 0) invalid)
    c = np.array([[[127, 254, 0], [0, 127, 0], [0, 0, 0]]], np.uint8)
    k = read_label(c, "curvature")
    assert np.allclose(k.value[0, 0], [0.0, 1 / 0.03]) and np.allclose(k.value[0, 1], [-1 / 0.03, 0.0])
    assert k.valid.tolist() == [[True, True, False]]
    # other units with their parameter
    k2 = read_label(c, "principal_curvature", params={"curvature_r_min": 0.05})
    assert np.allclose(k2.value[0, 0], [0.0, 20.0])
    d2 = read_label(np.array([[1000]], np.uint16), "depth_euclidean", params={"depth_units_per_meter": 1000})
    assert d2.value[0, 0] == 1.0
    # ids
    sem = read_label(np.array([[[7, 1, 2], [0, 0, 0]]], np.uint8), "semantic")
    assert sem.value.tolist() == [[[7, 258], [0, 0]]] and sem.valid.tolist() == [[True, False]]
    frag = read_label(np.array([[[0, 1, 0], [0, 0, 0]]], np.uint8), "fragments")
    assert frag.value.tolist() == [[255, -1]]
    mask = read_label(np.array([[0, 255]], np.uint8), "mask_valid")
    assert mask.value.dtype == bool and mask.value.tolist() == [[False, True]] and mask.valid.all()
    seg = read_label(np.array([[0, 3, 200]], np.uint8), "segment_unsup2d")
    assert seg.value.dtype == np.int64 and seg.value.tolist() == [[0, 3, 200]]
    # edges, keypoints: their uint16 scales
    e = read_label(np.array([[0, 65535]], np.uint16), "edge_occlusion")
    assert e.value.tolist() == [[0.0, 1.0]]


def test_normal_codes_round_trip_exactly_and_are_unit():
    """Every code a rounded unit vector can be decodes to a unit vector, and encodes back to
    itself; other codes (not unit-normal codes) come back as they were too."""
    gb = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), -1).reshape(-1, 2)
    near, far = [], []
    for r in range(256):  # every code, one red value at a time
        g = np.column_stack([np.full(len(gb), r), gb])
        off = np.abs(np.linalg.norm(g / 127.5 - 1, axis=-1) - 1) > NORMAL_CODE_BAND
        near.append(g[~off])
        far.append(g[off][::50])
    near = np.concatenate(near).astype(np.uint8)
    assert len(near) > 300_000
    u = unit_normals(near)
    n = near.astype(np.float64) / 127.5 - 1  # the kernel's arithmetic, in numpy
    length = np.sqrt(n[:, 0] * n[:, 0] + n[:, 1] * n[:, 1] + n[:, 2] * n[:, 2])[:, None]
    assert np.array_equal(u, (n / length).astype(np.float32))
    assert np.allclose(np.linalg.norm(u.astype(np.float64), axis=-1), 1.0, atol=1e-6)
    assert np.array_equal(encode_unit_normals(u, np.ones(len(u), bool)), near)
    rng = np.random.default_rng(0)
    other = np.concatenate(far).astype(np.uint8)
    assert np.array_equal(unit_normals(other), (other / 127.5 - 1).astype(np.float32))
    assert np.array_equal(encode_unit_normals(unit_normals(other), np.ones(len(other), bool)), other)
    # a unit normal from a renderer encodes as the label's encoder writes it
    v = rng.normal(size=(1000, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert np.array_equal(encode_label("normal", v[None])[0], np.rint((v + 1) * 127.5).astype(np.uint8))


@pytest.fixture(scope="module")
def apartment_views():
    spec = labelgen.MeshSpec(APARTMENT)
    renderer = labelgen.make_renderer(spec.load())
    cams = labelgen.read_cameras(CAMERAS, resolution="80x64")[:3]
    tasks = labelgen.engine.default_render_tasks(renderer.mesh) + ["fragments"]
    views = [(cam, labelgen.render_view(renderer, cam, tasks)[0]) for cam in cams]
    return renderer, views


def test_every_rendered_label_round_trips(apartment_views, quad_scene, tmp_path):  # noqa: F811
    _, views = apartment_views
    spec = labelgen.MeshSpec(quad_scene["dir"] / "coloured.ply")
    cam = labelgen.Camera.look_at([2.4, 2.0, 1.6], [0.0, -0.5, 0.8], fov=1.3, width=48, height=40)
    semantic = labelgen.render_view(spec, cam, ["semantic"])[0]
    seen = set()
    for labels in [v for _, v in views] + [semantic]:
        mask = labels.get("mask_valid")
        for task, stored in labels.items():
            seen.add(task)
            for valid in (None, None if mask is None else mask == 255):
                lab = read_label(stored, task, valid=valid)
                assert _same(encode_label(task, lab.value, lab.valid), stored), task
            # through a PNG file: the task from its name, the same bytes again
            path = tmp_path / f"point_0_view_0_domain_{task}.png"
            path.write_bytes(encode_png(stored))
            assert encode_png(encode_label(task, read_label(path))) == path.read_bytes()
    assert seen >= set(all_labels())  # every label, semantic from the face-coloured mesh


def test_camera_matrices_conventions():
    info = {"camera_location": [1.0, 2.0, 3.0], "camera_rotation_final": [1.2, 0.1, -0.4],
            "field_of_view_rads": 1.0, "resolution": [640, 480]}
    K, pose = camera_matrices(info)
    f = 640 / (2 * np.tan(0.5))
    assert np.allclose(K, [[f, 0, 319.5], [0, f, 239.5], [0, 0, 1]])
    cam = labelgen.camera.camera_from_point_info(info)
    assert np.array_equal(pose[:3, :3], cam.rotation) and np.array_equal(pose[:3, 3], [1, 2, 3])
    K2, cv = camera_matrices(info, 320, 240, convention="opencv")
    assert np.allclose(K2[0, 2], 159.5) and np.allclose(K2[0, 0], f / 2)
    assert np.allclose(cv[:3, :3], cam.rotation @ np.diag([1, -1, -1])) and np.array_equal(cv[:3, 3], pose[:3, 3])
    # K projects a world point to the pixel the camera's own projection gives
    p = cam.location + cam.rotation @ np.array([0.3, -0.2, -2.0])
    x = np.linalg.inv(cv) @ np.append(p, 1.0)
    uv = (K2 @ x[:3])[:2] / x[2]
    small = labelgen.camera.camera_from_point_info(info, resolution=[320, 240])
    assert np.allclose(uv, small.project(p))
    for bad, where in ((dict(width=320), "camera_matrices"), (dict(convention="gl"), "convention")):
        with pytest.raises(LabelgenError, match=where):
            camera_matrices(info, **bad)


def test_backprojected_depth_lies_on_the_mesh(apartment_views):
    """The K and pose of each view's point_info put the rendered depth on the mesh (< 1 mm)."""
    renderer, views = apartment_views
    for cam, labels in views:
        info = cam.point_info()
        for convention in ("blender", "opencv"):
            K, pose = camera_matrices(info, cam.width, cam.height, convention=convention)
            depth = read_label(labels["depth_zbuffer"], "depth_zbuffer", fill=np.nan)
            pts = backproject(depth.value, K, pose, convention)[depth.valid]
            assert len(pts) > 1000
            dist = renderer.scene.distance(pts)
            assert np.median(dist) < 1e-3, np.median(dist)
            assert np.quantile(dist, 0.95) < 2e-3  # depth is quantised to 1/512 m
        # normals to world axes: a pixel's world normal is the hit face's, facing the camera
        normal = read_label(labels["normal"], "normal")
        world = normals_to_world(normal.value, pose, convention="opencv")
        tri = labelgen.engine.render_labels(renderer, cam, ["fragments"], labelgen.engine.resolve_params())[0]
        face = labelgen.read_label(tri["fragments"], "fragments").value
        ok = normal.valid & (face >= 0)
        face_n = renderer.scene.normals[face[ok]]
        to_cam = cam.location - pts_of(depth, K, pose)[ok]
        face_n = np.where((np.sum(face_n * to_cam, axis=1) < 0)[:, None], -face_n, face_n)
        assert np.quantile(np.abs(world[ok] - face_n), 0.99) < 1 / 127.5 + 1e-6


def pts_of(depth, K, pose):
    return backproject(depth.value, K, pose, "opencv")


def test_bad_input_one_line_errors(tmp_path):
    text = tmp_path / "point_0_view_0_domain_normal.png"
    text.write_text("not an image")
    cases = [
        (lambda: read_label(text), "not a PNG file \\(nor JPEG data\\)"),
        (lambda: read_label(tmp_path / "missing_domain_depth.png", "depth_zbuffer"), "cannot read"),
        (lambda: read_label(tmp_path / "picture.png"), "cannot tell the label"),
        (lambda: read_label(np.zeros((2, 2), np.uint16)), "task="),
        (lambda: read_label(np.zeros((2, 2), np.uint16), "normal"), "normal must be"),
        (lambda: read_label(np.zeros((2, 2), np.uint8), "nonsense"), "unknown task 'nonsense'"),
        (lambda: read_label(np.full((2, 2), 7, np.uint8), "mask_valid"), "values other than 0 and 255"),
        (lambda: read_label(np.zeros((2, 2, 3), np.uint8), "reshading", valid=np.ones((3, 3), bool)), "valid"),
        (lambda: read_label(np.zeros((2, 2), np.uint16), "depth", params={"depth_units_per_meter": -1}),
         "--depth-units-per-meter"),
        (lambda: encode_label("segment_unsup2d", np.full((2, 2), 300)), "0..255"),
        (lambda: encode_label("depth_zbuffer", np.zeros(4)), "shape"),
    ]
    for call, match in cases:
        with pytest.raises(LabelgenError, match=match) as info:
            call()
        assert "\n" not in str(info.value)
    wrong = tmp_path / "point_0_view_0_domain_depth_zbuffer.png"
    wrong.write_bytes(encode_png(np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(LabelgenError, match=str(wrong).replace(".", r"\.")):
        read_label(wrong)


def test_import_labelgen_never_imports_torch():
    code = ("import sys, labelgen, labelgen.data; labelgen.ViewStream; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=REPO,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_reference_names_give_their_task(reference):
    for path, task in itertools.islice(((p, p.name.split("_domain_")[1][:-4]) for p in
                                        sorted(reference.rglob("*.png"))), 0, None, 9):
        assert read_label(path).task == labelgen.get_label(task).name
    assert Path(reference / "taskonomy").is_dir()
