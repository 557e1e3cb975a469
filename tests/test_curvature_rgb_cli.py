"""labelgen render with principal_curvature and rgb: cache folder, --no-cache, skipped rgb."""
from __future__ import annotations

import json

import numpy as np
import pytest

from labelgen import Camera
from labelgen.cli import main
from labelgen.io._images import read_png


@pytest.fixture
def scene(tmp_path):
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    s.visual.vertex_colors = np.tile([200, 100, 50, 255], (len(s.vertices), 1)).astype(np.uint8)
    mesh = tmp_path / "ball.ply"
    s.export(mesh)
    plain = tmp_path / "plain.ply"
    trimesh.Trimesh(s.vertices, s.faces, process=False).export(plain)
    cam = Camera.look_at((2, 0, 0), (0, 0, 0), fov=0.8, width=48, height=40, point="0", view="1")
    info = tmp_path / "point_0_view_1_domain_point_info.json"
    info.write_text(json.dumps(cam.point_info()))
    return mesh, plain, info


def run(args, monkeypatch, cache_dir):
    monkeypatch.setenv("LABELGEN_CACHE_DIR", str(cache_dir))
    return main(["render", *map(str, args), "--quiet"])


def test_render_curvature_and_rgb_with_cache(scene, tmp_path, monkeypatch, capsys):
    mesh, _, info = scene
    cache_dir = tmp_path / "cache"
    out = tmp_path / "out"
    assert run([mesh, "--cameras", info, "--out", out, "--tasks", "rgb,principal_curvature"],
               monkeypatch, cache_dir) == 0
    entries = list(cache_dir.glob("curvature-*.npz"))
    assert len(entries) == 1
    rgb = read_png(out / "rgb" / "point_0_view_1_domain_rgb.png")
    curv = read_png(out / "principal_curvature" / "point_0_view_1_domain_principal_curvature.png")
    assert rgb.shape == (40, 48, 3) and curv.shape == (40, 48, 3)
    hit = curv.any(axis=-1)
    assert np.all(rgb[hit] == (200, 100, 50)) and np.all(rgb[~hit] == 0)
    assert np.median(curv[hit][:, 0]) > 127
    # again: same bytes, cache entry reused (not rewritten)
    stamp = entries[0].stat().st_mtime_ns
    out2 = tmp_path / "out2"
    assert run([mesh, "--cameras", info, "--out", out2, "--tasks", "principal_curvature"], monkeypatch, cache_dir) == 0
    assert entries[0].stat().st_mtime_ns == stamp
    name = "principal_curvature/point_0_view_1_domain_principal_curvature.png"
    assert (out / name).read_bytes() == (out2 / name).read_bytes()


def test_no_cache_flag(scene, tmp_path, monkeypatch):
    mesh, _, info = scene
    cache_dir = tmp_path / "cache"
    assert run([mesh, "--cameras", info, "--out", tmp_path / "o", "--tasks", "principal_curvature", "--no-cache"],
               monkeypatch, cache_dir) == 0
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_rgb_of_mesh_without_colour_is_skipped(scene, tmp_path, monkeypatch, capsys):
    _, plain, info = scene
    out = tmp_path / "o"
    assert run([plain, "--cameras", info, "--out", out, "--tasks", "rgb,depth_zbuffer"], monkeypatch,
               tmp_path / "cache") == 0
    err = capsys.readouterr().err
    assert "skipped rgb on 1 views: mesh has no colour information" in err
    assert not (out / "rgb").exists()
    assert (out / "depth_zbuffer").is_dir()


def test_rgb_background_flag(scene, tmp_path, monkeypatch):
    mesh, _, info = scene
    out = tmp_path / "o"
    assert run([mesh, "--cameras", info, "--out", out, "--tasks", "rgb", "--rgb-background", "1,2,3"],
               monkeypatch, tmp_path / "cache") == 0
    rgb = read_png(out / "rgb" / "point_0_view_1_domain_rgb.png")
    assert np.all(rgb[0, 0] == (1, 2, 3))
