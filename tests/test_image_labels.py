"""edge_texture, keypoints2d and edge_occlusion: the shipped Taskonomy sample and the CLI.

The reference folder (one shipped view, flat) lives outside the repository, in
``../shared/reference/taskonomy`` (the ``reference`` fixture of conftest.py); tests that need it are
skipped when it is absent (they fail under CI).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from labelgen.cli import main
from labelgen.core._errors import LabelgenError
from labelgen.io._images import read_png, write_png
from labelgen.labels import get_label
from labelgen.labels.image_edges import edge_occlusion, edge_texture, encode_unit16, rgb_to_grey
from labelgen.labels.keypoints2d import keypoints2d
from labelgen.engine._pipeline import compute_view, resolve_params

from conftest import REPO

PREFIX = "point_202_view_5_domain_"


IMAGE_TASKS = "edge_texture,keypoints2d,edge_occlusion"

@pytest.fixture(scope="module")
def shipped(reference):
    """The shipped Taskonomy view's files by domain (reads on demand)."""
    base = reference / "taskonomy"
    return lambda domain: read_png(base / f"{PREFIX}{domain}.png")


def _assert_identical(ours, theirs, name):
    """Bit-exact (measured: every pixel of the shipped view); the message says by how much not."""
    d = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
    assert ours.dtype == theirs.dtype and d.max() == 0, (
        f"{name}: {(d == 0).mean():.6%} exact, {(d <= 1).mean():.6%} within 1, max difference {d.max()}")


def test_edge_texture_matches_shipped(shipped):
    _assert_identical(encode_unit16(edge_texture(shipped("rgb"))), shipped("edge_texture"), "edge_texture")


def test_keypoints2d_matches_shipped(shipped):
    _assert_identical(encode_unit16(keypoints2d(shipped("rgb"))), shipped("keypoints2d"), "keypoints2d")


def test_edge_occlusion_matches_shipped(shipped):
    _assert_identical(encode_unit16(edge_occlusion(shipped("depth_zbuffer"))), shipped("edge_occlusion"), "edge_occlusion")


def test_grey_is_pils_float_conversion():
    from PIL import Image

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (17, 29, 3), dtype=np.uint8)
    grey = rgb_to_grey(rgb)
    assert grey.dtype == np.float32
    pil = np.asarray(Image.fromarray(rgb).convert("F")) / np.float32(255.0)
    assert np.array_equal(grey, pil.astype(np.float32))
    with pytest.raises(ValueError):
        rgb_to_grey(rgb[:, :, :2])


def _scene(h=45, w=71):
    """A synthetic view: a textured RGB and a depth map with a step and invalid pixels."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:h, :w]
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = (xx * 3) % 256
    rgb[..., 1] = np.where((yy // 8 + xx // 8) % 2 == 0, 200, 30)
    rgb[..., 2] = rng.integers(0, 256, (h, w))
    depth = np.where(xx < w // 2, 1024, 2048).astype(np.uint16)
    depth[:4, :4] = 65535
    return rgb, depth


def test_labels_through_the_pipeline_any_size():
    for h, w in [(45, 71), (64, 33), (8, 8)]:
        rgb, depth = _scene(h, w)
        labels, skipped = compute_view(["edge_texture", "keypoints2d", "edge_occlusion"],
                                       {"rgb": rgb, "depth_zbuffer": depth})
        assert not skipped
        for name, arr in labels.items():
            assert arr.dtype == np.uint16 and arr.shape == (h, w), name
        occ = labels["edge_occlusion"]
        # the depth step is an edge, flat depth is not, invalid depth and the border are 0
        assert occ[h - 2, w // 2 - 1] > 1000 and occ[h - 2, 1] == 0
        assert np.all(occ[:5, :5] == 0) and np.all(occ[0] == 0) and np.all(occ[:, -1] == 0)


def test_parameters_change_the_labels():
    rgb, depth = _scene()
    sources = {"rgb": rgb, "depth_zbuffer": depth}
    base, _ = compute_view(["edge_texture", "keypoints2d", "edge_occlusion"], sources)
    other, _ = compute_view(["edge_texture", "keypoints2d", "edge_occlusion"], sources,
                            resolve_params({"canny_sigma": 1.0, "doh_num_sigma": 3,
                                            "depth_units_per_meter": 1000.0}))
    for name in base:
        assert not np.array_equal(base[name], other[name]), name
    # depth units: a depth in 1/1000 m gives the same edges as the same depth in 1/512 m
    d512 = np.array([[512, 512, 1024, 1024]] * 4, np.uint16)
    d1000 = np.array([[1000, 1000, 2000, 2000]] * 4, np.uint16)
    np.testing.assert_allclose(edge_occlusion(d1000, 1000.0), edge_occlusion(d512), rtol=1e-6)
    # the valid threshold: everything invalid gives no edges
    assert not edge_occlusion(depth, valid_below=0).any()


def test_label_registry_entries():
    for name, legacy in [("edge_texture", "edge2d"), ("keypoints2d", "keypoint2d"), ("edge_occlusion", "edge")]:
        lab = get_label(legacy)
        assert lab.name == name and lab.storage == "gray16"
    params = resolve_params()
    assert params["canny_sigma"] == 3.0 and params["doh_num_sigma"] == 10
    assert params["depth_units_per_meter"] == 512.0 and params["occlusion_valid_below"] == 65036


def _flat_view(tmp_path, rgb, depth, point=1, view=0):
    write_png(tmp_path / f"point_{point}_view_{view}_domain_rgb.png", rgb)
    write_png(tmp_path / f"point_{point}_view_{view}_domain_depth_zbuffer.png", depth)


def test_derive_reference_folder_cli(tmp_path, capsys, reference, shipped):
    out = tmp_path / "out"
    rc = main(["derive", str(reference / "taskonomy"), "--out", str(out), "--quiet",
               "--tasks", "edge_texture,keypoints2d,edge_occlusion"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "1 views, 3 files written" in err
    for domain in ("edge_texture", "keypoints2d", "edge_occlusion"):
        _assert_identical(read_png(out / domain / f"{PREFIX}{domain}.png"), shipped(domain), domain)


@pytest.mark.slow
def test_derive_is_deterministic_and_takes_flags(tmp_path, capsys):
    rgb, depth = _scene()
    src = tmp_path / "b"
    src.mkdir()
    _flat_view(src, rgb, depth)
    outs = []
    for k, extra in enumerate([[], ["--canny-sigma", "1.5"]]):
        out = tmp_path / f"o{k}"
        assert main(["derive", str(src), "--out", str(out), "--quiet"] + extra) == 0
        outs.append((out / "edge_texture" / "point_1_view_0_domain_edge_texture.png").read_bytes())
    # the same again in a fresh process (its own hash seed, compiled-kernel cache state)
    res = subprocess.run([sys.executable, "-m", "labelgen", "derive", str(src), "--out", str(tmp_path / "p"),
                          "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONHASHSEED": "7"})
    assert res.returncode == 0, res.stderr
    outs.append((tmp_path / "p" / "edge_texture" / "point_1_view_0_domain_edge_texture.png").read_bytes())
    assert outs[0] == outs[2] and outs[0] != outs[1]


def test_derive_legacy_layout(tmp_path, capsys):
    rgb, depth = _scene()
    b = tmp_path / "legacy"
    write_png(b / "rgb" / "point_3_view_2_domain_rgb.png", rgb)
    write_png(b / "depth" / "point_3_view_2_domain_depth.png", depth)
    out = tmp_path / "out"
    assert main(["derive", str(b), "--out", str(out), "--quiet"]) == 0
    got = read_png(out / "edge_occlusion" / "point_3_view_2_domain_edge_occlusion.png")
    assert np.array_equal(got, encode_unit16(edge_occlusion(depth)))
    assert (out / "keypoints2d" / "point_3_view_2_domain_keypoints2d.png").exists()


def test_derive_bad_inputs(tmp_path, capsys):
    rgb, depth = _scene()
    b = tmp_path / "bad"
    b.mkdir()
    _flat_view(b, rgb, depth, point=1)                                   # good
    good_png = (b / "point_1_view_0_domain_rgb.png").read_bytes()
    (b / "point_2_view_0_domain_rgb.png").write_bytes(good_png[:len(good_png) // 2])   # truncated
    write_png(b / "point_2_view_0_domain_depth_zbuffer.png", (depth >> 8).astype(np.uint8))  # 8-bit
    import cv2
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    cv2.imwrite(str(b / "point_3_view_0_domain_rgb.png"), rgba)               # RGBA, opaque: read as RGB
    write_png(b / "point_3_view_0_domain_depth_zbuffer.png", depth)           # good depth
    write_png(b / "point_4_view_0_domain_rgb.png", rgb[:, :, 0])              # grey
    write_png(b / "point_5_view_0_domain_rgb.png", rgb)                       # size mismatch
    write_png(b / "point_5_view_0_domain_depth_zbuffer.png", depth[:-2])
    (b / "point_6_view_0_domain_rgb.png").write_text("not an image")          # not a PNG
    write_png(b / "point_7_view_0_domain_rgb.png", rgb.astype(np.uint16) * 257)  # 16-bit RGB
    out = tmp_path / "out"
    rc = main(["derive", str(b), "--out", str(out), "--quiet", "--tasks", IMAGE_TASKS])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("labelgen: error:")]

    def has(fname, text):
        return any(fname in ln and text in ln for ln in lines)

    assert has("point_2_view_0_domain_rgb.png", "corrupt or truncated PNG")
    assert has("point_2_view_0_domain_depth_zbuffer.png", "must be a 16-bit grey image, this file is 8-bit grey")
    assert has("point_4_view_0_domain_rgb.png", "rgb must be an 8-bit RGB image, this file is 8-bit grey")
    assert has("point_5_view_0_domain", "differ in size")
    assert has("point_6_view_0_domain_rgb.png", "not a PNG")
    assert has("point_7_view_0_domain_rgb.png", "rgb must be an 8-bit RGB image, this file is 16-bit RGB")
    assert len(lines) == 6
    assert "labelgen: 6 failures" in err
    # an opaque RGBA rgb is what Omnidata ships (CLEVR): read, with a note
    assert "note: 1 rgb file: 8-bit RGBA with an opaque alpha channel: the alpha channel is dropped" in err
    # the good views were still processed; nothing else written
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["edge_occlusion/point_1_view_0_domain_edge_occlusion.png",
                       "edge_occlusion/point_3_view_0_domain_edge_occlusion.png",
                       "edge_texture/point_1_view_0_domain_edge_texture.png",
                       "edge_texture/point_3_view_0_domain_edge_texture.png",
                       "keypoints2d/point_1_view_0_domain_keypoints2d.png",
                       "keypoints2d/point_3_view_0_domain_keypoints2d.png"]
    # (cv2.imwrite took the array as BGRA: the file's RGB is the array's channels reversed)
    assert np.array_equal(read_png(out / "edge_texture" / "point_3_view_0_domain_edge_texture.png"),
                          encode_unit16(edge_texture(np.ascontiguousarray(rgb[:, :, ::-1]))))
    assert not list(out.rglob("*.part"))
    # views without depth are skipped for edge_occlusion and counted
    assert "skipped edge_occlusion on 3 views: no depth_zbuffer file" in err


def test_derive_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["derive", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such building folder" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_lists_the_flags():
    res = subprocess.run([sys.executable, "-m", "labelgen", "derive", "--help"], capture_output=True,
                         text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0
    for flag in ("--canny-sigma", "--doh-num-sigma", "--depth-units-per-meter", "--occlusion-valid-below"):
        assert flag in res.stdout


def test_edge_occlusion_in_render_pipeline():
    """From a rendered depth, in memory: the same as edge_occlusion of the depth label."""
    import trimesh

    from labelgen import Camera, Mesh, render_view

    room = trimesh.creation.box(extents=[6, 6, 3])
    room.invert()
    cube = trimesh.creation.box(extents=[0.6, 0.6, 0.6])
    cube.apply_translation([1.5, 0, 0])
    mesh = Mesh.from_trimesh(trimesh.util.concatenate([room, cube]))
    cam = Camera.look_at(eye=[-1, 0, 0], target=[2, 0, 0], fov=1.0, width=48, height=36)
    labels, skipped = render_view(mesh, cam, tasks=["depth_zbuffer", "edge_occlusion", "edge_texture"])
    assert "edge_texture" in skipped  # an uncoloured mesh has no rgb
    occ = labels["edge_occlusion"]
    assert np.array_equal(occ, encode_unit16(edge_occlusion(labels["depth_zbuffer"])))
    assert occ.max() > 1000  # the cube's silhouette


def test_bad_parameters_are_refused(tmp_path, capsys):
    with pytest.raises(LabelgenError, match="--doh-min-sigma"):
        resolve_params({"doh_min_sigma": 0.5})
    with pytest.raises(LabelgenError, match="--canny-sigma"):
        resolve_params({"canny_sigma": 0})
    assert resolve_params({"doh_num_sigma": "4"})["doh_num_sigma"] == 4
    assert main(["derive", str(tmp_path), "--out", str(tmp_path / "o"), "--canny-sigma", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "labelgen: error: --canny-sigma: must be a finite number in (0, inf), got -1\n"


@pytest.mark.slow
def test_derive_with_workers_gives_the_same_files(tmp_path, capsys):
    rgb, depth = _scene(33, 40)
    src = tmp_path / "b"
    src.mkdir()
    _flat_view(src, rgb, depth, point=1)
    _flat_view(src, rgb[::-1].copy(), depth[::-1].copy(), point=2)
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["derive", str(src), "--out", str(out), "--quiet", "--workers", str(workers),
                     "--tasks", IMAGE_TASKS]) == 0
        outs.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))})
    assert len(outs[0]) == 6 and outs[0] == outs[1]
