"""Untrusted identifiers, output paths and resource limits (issue 12).

Identifiers from camera files, file names and room files become parts of output file names;
each command rejects anything but the Taskonomy forms with one line naming the file and field
(exit 2), and nothing ever appears outside ``--out`` (the whole temporary folder holding the
inputs and ``--out`` is compared before and after).
"""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from labelgen.camera._cameras import Camera, parse_resolution
from labelgen.cli import main
from labelgen.core._errors import LabelgenError
from labelgen.engine._layout import label_path
from labelgen.core._limits import MAX_PIXELS, MAX_SIDE, check_image_size
from labelgen.core._paths import check_identifier, check_name, inside

BAD = ["../../../../tmp/x", "../x", "/tmp/x", "", "a\x00b", "..", "a/b", "a\\b", "a_b", " 1", "x" * 65]


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _run(argv, capsys):
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err


def _one_error(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err
    errors = [ln for ln in lines if ln.startswith("labelgen: error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize("value", [0, 7, "7", "ab12-CD", "0f3e2d1c-aaaa-4bbb-8ccc-0123456789ab", 3.0])
def test_identifier_accepted(value):
    assert check_identifier(value, "f.json", "point_uuid") == str(int(value) if isinstance(value, float) else value)


@pytest.mark.parametrize("value", BAD + [-1, True, None, 1.5, [1], {"a": 1}, 10 ** 64, 1e300, float("nan"),
                                   float("inf")])
def test_identifier_rejected(value):
    with pytest.raises(LabelgenError, match="f.json: point_uuid must"):
        check_identifier(value, "f.json", "point_uuid")


def test_room_names():
    assert check_name("Living room 2", "r.json", "room name") == "Living room 2"
    for bad in ["../x", "/tmp/x", "", "a\x00b", ".hidden", "a/b", 3]:
        with pytest.raises(LabelgenError, match="r.json: room name"):
            check_name(bad, "r.json", "room name")


def test_inside(tmp_path):
    out = tmp_path / "out"
    assert inside(out, out / "a" / "b.png") == out / "a" / "b.png"
    for bad in (out / ".." / "x.png", tmp_path / "x.png", out / "a" / ".." / ".." / "x"):
        with pytest.raises(LabelgenError, match="outside the output folder"):
            inside(out, bad)
    (tmp_path / "elsewhere").mkdir()
    out.mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LabelgenError, match="outside"):
        inside(out, out / "link" / "x.png")


def _scene(tmp_path):
    import trimesh

    room = trimesh.creation.box(extents=(4.0, 4.0, 3.0))
    room.apply_translation((0.0, 0.0, 1.5))
    mesh = tmp_path / "room.ply"
    mesh.write_bytes(room.export(file_type="ply"))
    return mesh


def _info(**change):
    info = {"point_uuid": "1", "view_id": 0, "camera_location": [0.0, 0.0, 1.5],
            "camera_rotation_final": [math.pi / 2, 0.0, 0.0], "field_of_view_rads": 1.0, "resolution": 8}
    info.update(change)
    return info


@pytest.mark.parametrize("field", ["point_uuid", "view_id"])
@pytest.mark.parametrize("value", BAD)
def test_render_rejects_identifiers(tmp_path, capsys, field, value):
    mesh = _scene(tmp_path)
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps(_info(**{field: value})))
    before = _tree(tmp_path)
    rc, err = _run(["render", str(mesh), "--cameras", str(cams), "--out", str(tmp_path / "out"),
                    "--tasks", "depth_zbuffer", "--quiet"], capsys)
    assert rc == 2
    line = _one_error(err)
    assert line.startswith(f"labelgen: error: {cams}: {field} must")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("value", BAD)
def test_render_rejects_camera_ids(tmp_path, capsys, value):
    mesh = _scene(tmp_path)
    poses = tmp_path / "camera_poses.json"
    poses.write_text(json.dumps([{"camera_id": value, "location": [0, 0, 1.5], "rotation_quaternion": [1, 0, 0, 0],
                                  "field_of_view_rads": 1.0, "resolution": 8}]))
    before = _tree(tmp_path)
    rc, err = _run(["render", str(mesh), "--cameras", str(poses), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert rc == 2
    assert _one_error(err).startswith(f"labelgen: error: {poses} (camera 0): camera_id must")
    assert _tree(tmp_path) == before


def test_writers_refuse_paths_outside_out(tmp_path):
    """Defence in depth: identifiers that bypassed the readers still cannot leave --out."""
    from labelgen.io._meshes import load_mesh
    from labelgen.engine import render_building

    out = tmp_path / "out"
    with pytest.raises(LabelgenError, match="point must"):
        label_path(out, "depth_zbuffer", "../../x", 0)
    with pytest.raises(LabelgenError, match="outside the output folder"):
        label_path(out, "../../elsewhere", 1, 0)
    cam = Camera.look_at([0, 0, 1.5], [1, 0, 1.5], width=8, height=8, point="../../../x", view="0")
    before = _tree(tmp_path)
    with pytest.raises(LabelgenError, match="point must"):
        render_building(load_mesh(_scene(tmp_path)), [cam], out, ["depth_zbuffer"])
    assert [p for p in _tree(tmp_path) if p not in before] in (["out", "room.ply"], ["room.ply", "out"],
                                                                  ["out", "out/depth_zbuffer", "room.ply"])
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


@pytest.mark.parametrize("name", ["point_.._view_0", "point_0_view_..", "point_._view_0"])
def test_derive_reports_identifiers_in_file_names_and_goes_on(tmp_path, capsys, name):
    """A badly named file is one failure (exit 1) naming it, as validate records it; the
    building's other views are still derived."""
    from labelgen.io._images import write_png

    building = tmp_path / "b"
    depth = building / "depth_zbuffer" / f"{name}_domain_depth_zbuffer.png"
    write_png(depth, np.full((8, 8), 1000, np.uint16))
    good = building / "depth_zbuffer" / "point_1_view_0_domain_depth_zbuffer.png"
    write_png(good, np.full((8, 8), 1000, np.uint16))
    rc, err = _run(["derive", str(building), "--out", str(tmp_path / "out"), "--tasks", "edge_occlusion",
                    "--quiet"], capsys)
    assert rc == 1
    line = _one_error(err)
    assert line.startswith(f"labelgen: error: {depth}: ") and "(from the file name) must" in line
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["edge_occlusion/point_1_view_0_domain_edge_occlusion.png"]


@pytest.mark.parametrize("value", BAD)
def test_derive_rejects_identifiers_in_point_info(tmp_path, capsys, value):
    from labelgen.io._images import write_png

    building = tmp_path / "b"
    write_png(building / "depth_zbuffer" / "point_1_view_0_domain_depth_zbuffer.png", np.full((8, 8), 1000, np.uint16))
    info = building / "point_info" / "point_1_view_0_domain_point_info.json"
    info.parent.mkdir()
    info.write_text(json.dumps(_info(point_uuid=value)))
    rc, err = _run(["derive", str(building), "--out", str(tmp_path / "out"), "--tasks", "keypoints3d", "--quiet"],
                   capsys)
    assert rc == 1  # derive goes on with the other views: one failure line for the file
    assert _one_error(err).startswith(f"labelgen: error: {info}: point_uuid must")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert not (tmp_path / "tmp").exists()


@pytest.mark.parametrize("value", ["../../../../tmp/x", "../x", "/tmp/x", "", "a\x00b"])
def test_sample_rejects_room_names(tmp_path, capsys, value):
    mesh = _scene(tmp_path)
    rooms = tmp_path / "rooms.json"
    rooms.write_text(json.dumps({value: {"x": [-2, 2], "y": [-2, 2], "z": [0, 3]}}))
    before = _tree(tmp_path)
    rc, err = _run(["sample", str(mesh), "--rooms", str(rooms), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert rc == 2
    assert _one_error(err).startswith(f"labelgen: error: {rooms}: room name must")
    assert _tree(tmp_path) == before


# -- resource limits -------------------------------------------------------------------------

def test_image_size_limits():
    assert check_image_size(MAX_SIDE, MAX_PIXELS // MAX_SIDE, "x") == (MAX_SIDE, MAX_PIXELS // MAX_SIDE)
    with pytest.raises(LabelgenError, match="per side"):
        check_image_size(MAX_SIDE + 1, 1, "x")
    with pytest.raises(LabelgenError, match="per view"):
        check_image_size(8193, 8192, "x")
    assert check_image_size(100000, 2, "x", max_pixels=2 * MAX_PIXELS) == (100000, 2)  # raised: no side limit
    with pytest.raises(LabelgenError, match="per view"):
        check_image_size(9, 9, "x", max_pixels=80)
    assert parse_resolution(100000, max_pixels=10 ** 10) == (100000, 100000)
    with pytest.raises(LabelgenError, match="--resolution: image size 100000x100000"):
        parse_resolution("100000")


def test_resolution_100000_is_one_line_error(tmp_path, capsys):
    mesh = _scene(tmp_path)
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps(_info(resolution=100000)))
    rc, err = _run(["render", str(mesh), "--cameras", str(cams), "--out", str(tmp_path / "out")], capsys)
    assert rc == 2
    assert _one_error(err).startswith(f"labelgen: error: {cams}: image size 100000x100000")
    cams.write_text(json.dumps(_info()))
    rc, err = _run(["render", str(mesh), "--cameras", str(cams), "--out", str(tmp_path / "out"),
                    "--resolution", "100000"], capsys)
    assert rc == 2 and "--resolution: image size 100000x100000" in _one_error(err)
    rc, err = _run(["sample", str(mesh), "--out", str(tmp_path / "out"), "--resolution", "100000"], capsys)
    assert rc == 2 and "--resolution: image size 100000x100000" in _one_error(err)
    assert not (tmp_path / "out").exists()


def test_memory_error_is_one_line(tmp_path, capsys, monkeypatch):
    import labelgen.engine._mesh

    mesh = _scene(tmp_path)
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps(_info()))

    def no_memory(*args, **kw):
        raise MemoryError

    monkeypatch.setattr(labelgen.engine._mesh, "load_mesh", no_memory)
    rc, err = _run(["render", str(mesh), "--cameras", str(cams), "--out", str(tmp_path / "out")], capsys)
    assert rc == 1
    assert _one_error(err).startswith(f"labelgen: error: {mesh}: out of memory")


def test_derive_fov_without_point_info(tmp_path, capsys, reference):
    """keypoints3d from a depth image and --fov equals the one made with a point_info of that fov."""
    src = reference / "taskonomy"
    depth = next(src.glob("*_domain_depth_zbuffer.png"))
    info = next(src.glob("*_domain_point_info.json"))
    fov = json.loads(info.read_text())["field_of_view_rads"]
    with_info, alone = tmp_path / "with_info", tmp_path / "alone"
    for d in (with_info, alone):
        d.mkdir()
        shutil.copy(depth, d / depth.name)
    shutil.copy(info, with_info / info.name)
    rc, err = _run(["derive", str(with_info), "--out", str(tmp_path / "a"), "--tasks", "keypoints3d", "--quiet"],
                   capsys)
    assert rc == 0, err
    rc, err = _run(["derive", str(alone), "--out", str(tmp_path / "b"), "--tasks", "keypoints3d", "--quiet"], capsys)
    assert rc == 0 and "no point_info file" in err  # without --fov the view is skipped
    assert not list((tmp_path / "b").rglob("*.png"))
    rc, err = _run(["derive", str(alone), "--out", str(tmp_path / "b"), "--tasks", "keypoints3d", "--quiet",
                    "--fov", repr(fov)], capsys)
    assert rc == 0, err
    a = sorted((tmp_path / "a").rglob("*.png"))
    b = sorted((tmp_path / "b").rglob("*.png"))
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 1
    assert a[0].read_bytes() == b[0].read_bytes()
    rc, err = _run(["derive", str(alone), "--out", str(tmp_path / "c"), "--tasks", "keypoints3d", "--fov", "4"],
                   capsys)
    assert rc == 2 and _one_error(err).startswith("labelgen: error: --fov: ")


def test_mesh_too_large_for_memory(tmp_path, capsys, monkeypatch):
    """A mesh file larger than the available memory allows is refused before it is read."""
    import labelgen.io._meshes

    mesh = _scene(tmp_path)
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps(_info()))
    size = mesh.stat().st_size
    assert labelgen.io._meshes.available_memory() is None or labelgen.io._meshes.available_memory() > 0
    monkeypatch.setattr(labelgen.io._meshes, "available_memory", lambda: size * labelgen.io._meshes.MEMORY_PER_FILE_BYTE - 1)
    rc, err = _run(["render", str(mesh), "--cameras", str(cams), "--out", str(tmp_path / "out")], capsys)
    assert rc == 2
    assert _one_error(err).startswith(f"labelgen: error: {mesh}: mesh too large for memory")
    monkeypatch.setattr(labelgen.io._meshes, "available_memory", lambda: size * labelgen.io._meshes.MEMORY_PER_FILE_BYTE)
    assert len(labelgen.io._meshes.load_mesh(mesh).faces) == 12
