"""Reading what is shipped, in validate and derive alike (``labelgen.engine._sources.read_shipped``):
RGBA rgb (opaque alpha dropped, translucent composited over the background), JPEG data under a
``.png`` name (read by content, noted), every other mismatch a one-line error naming what the
encoding is and what the file is."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from labelgen.cli import main
from labelgen.core._errors import LabelgenError
from labelgen.engine._pipeline import LazySources, compute_view
from labelgen.engine._sources import read_shipped, view_sources
from labelgen.io._images import jpeg_size, read_image, read_png, write_png
from labelgen.validate import validate_building

PREFIX = "point_202_view_5_domain_"


def _rgb(h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_rgba(path, rgba):
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]]))
    assert ok
    path.write_bytes(data.tobytes())


def _write_jpeg(path, rgb, quality=92):
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())
    return data


def test_opaque_rgba_rgb_drops_its_alpha(tmp_path):
    rgb = _rgb()
    path = tmp_path / "point_1_view_0_domain_rgb.png"
    _write_rgba(path, np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    arr, notes = read_shipped("rgb", path)
    assert arr.dtype == np.uint8 and arr.shape == rgb.shape and np.array_equal(arr, rgb)
    assert notes == ["8-bit RGBA with an opaque alpha channel: the alpha channel is dropped"]


def test_translucent_rgba_rgb_is_composited_over_the_background(tmp_path):
    rgb = _rgb()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:10] = 0
    alpha[10:20] = 128
    path = tmp_path / "point_1_view_0_domain_rgb.png"
    _write_rgba(path, np.dstack([rgb, alpha]))
    bg = (10, 200, 30)
    arr, notes = read_shipped("rgb", path, background=bg)
    assert np.array_equal(arr[20:], rgb[20:])
    assert np.array_equal(arr[:10], np.broadcast_to(np.array(bg, np.uint8), arr[:10].shape))
    want = np.round((rgb[10:20].astype(float) * 128 + np.array(bg) * 127) / 255)
    assert np.abs(arr[10:20].astype(float) - want).max() <= 0.5 + 1e-9
    assert notes == [f"8-bit RGBA with {20 * rgb.shape[1]} of {rgb.shape[0] * rgb.shape[1]} pixels not opaque: "
                     "composited over the background (10, 200, 30) (rgb_background)"]
    # view_sources takes the background from the parameters
    src = view_sources({"rgb": path}, "1", "0", params={"rgb_background": bg})
    assert np.array_equal(src["rgb"], arr) and src.notes == {"rgb": notes}
    # a translucent alpha has no meaning on a normal map: an error naming what is found
    normal = tmp_path / "point_1_view_0_domain_normal.png"
    shutil.copy(path, normal)
    with pytest.raises(LabelgenError, match="normal must be an 8-bit RGB image, this file is 8-bit RGBA "
                                            "56x40 with 1120 pixels not opaque"):
        read_shipped("normal", normal)


def test_jpeg_data_under_a_png_name_is_read_by_content(tmp_path):
    rgb = _rgb(48, 64)
    path = tmp_path / "point_1_view_0_domain_rgb.png"
    data = _write_jpeg(path, rgb)
    assert jpeg_size(path.read_bytes()) == (64, 48)
    arr, notes = read_shipped("rgb", path)
    assert np.array_equal(arr, cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])
    assert notes == ["JPEG data under a .png name: read by its content"]
    assert read_image(path)[1] == "jpeg"
    # JPEG data where 16 bits are the encoding: an error naming both
    depth = tmp_path / "point_1_view_0_domain_depth_zbuffer.png"
    _write_jpeg(depth, rgb)
    with pytest.raises(LabelgenError, match=r"depth_zbuffer must be a 16-bit grey image, this file is 8-bit RGB "
                                            r"64x48 \(JPEG data\)"):
        read_shipped("depth_zbuffer", depth)
    # a cut-off JPEG is an error, not a half-grey image
    cut = tmp_path / "point_2_view_0_domain_rgb.png"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(LabelgenError, match="corrupt or truncated JPEG"):
        read_shipped("rgb", cut)


def test_other_mismatches_name_expected_and_found(tmp_path):
    p8 = tmp_path / "point_1_view_0_domain_depth_zbuffer.png"
    write_png(p8, np.zeros((8, 9), np.uint8))
    with pytest.raises(LabelgenError) as err:
        read_shipped("depth_zbuffer", p8)
    assert err.value.problem == "depth_zbuffer must be a 16-bit grey image, this file is 8-bit grey 9x8"
    p16 = tmp_path / "point_1_view_0_domain_rgb.png"
    write_png(p16, np.zeros((8, 9, 3), np.uint16))
    with pytest.raises(LabelgenError, match="rgb must be an 8-bit RGB image, this file is 16-bit RGB 9x8"):
        read_shipped("rgb", p16)
    junk = tmp_path / "point_1_view_0_domain_edge_texture.png"
    junk.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(LabelgenError, match="not a PNG file"):
        read_shipped("edge_texture", junk)
    with pytest.raises(LabelgenError) as err:
        read_shipped("edge_texture", junk)
    assert str(err.value).count("\n") == 0 and str(junk) in str(err.value)


def test_validate_and_derive_read_rgba_and_jpeg_rgb(view, tmp_path, capsys):
    rgb = read_png(view / f"{PREFIX}rgb.png")
    # RGBA with an opaque alpha: every label made from it is the same as from the RGB
    _write_rgba(view / f"{PREFIX}rgb.png", np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    report = validate_building(view, tasks=["rgb", "edge_texture", "keypoints2d"])
    recs = {r["label"]: r for r in report.records}
    assert recs["edge_texture"]["verdict"] == "passed" and recs["keypoints2d"]["verdict"] == "passed"
    assert recs["edge_texture"]["notes"] == ["input rgb: 8-bit RGBA with an opaque alpha channel: the alpha "
                                             "channel is dropped"]
    assert recs["rgb"]["verdict"] == "unchecked" and recs["rgb"]["notes"] == [
        "8-bit RGBA with an opaque alpha channel: the alpha channel is dropped"]
    # JPEG data under the .png name: read, not rejected; the edges shipped with it are the JPEG's
    data = _write_jpeg(view / f"{PREFIX}rgb.png", rgb)
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
    edges = compute_view(["edge_texture"], LazySources(rgb=np.ascontiguousarray(decoded)))[0]["edge_texture"]
    write_png(view / f"{PREFIX}edge_texture.png", edges)
    out = tmp_path / "rep"
    rc = main(["validate", str(view), "--report", str(out), "--tasks", "rgb,edge_texture", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    recs = {r["label"]: r for r in json.loads((out / "report.json").read_text())["files"]}
    assert recs["edge_texture"]["verdict"] == "passed" and recs["edge_texture"]["exact"] == 1.0
    assert recs["rgb"]["notes"] == ["JPEG data under a .png name: read by its content"]
    assert "JPEG data under a .png name" in (out / "index.html").read_text()
    # derive takes the same file as input, and says how it was read
    rc = main(["derive", str(view), "--out", str(tmp_path / "d"), "--tasks", "edge_texture", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "note: 1 rgb file: JPEG data under a .png name: read by its content" in err
    assert np.array_equal(read_png(tmp_path / "d" / "edge_texture" / f"{PREFIX}edge_texture.png"), edges)


def test_omnidata_rgb_files_are_not_rejected(reference, tmp_path, capsys):
    """CLEVR's RGBA rgb and BlendedMVG's JPEG-named rgb, as shipped: derive reads them all."""
    for comp, note in (("clevr_simple", "8-bit RGBA with an opaque alpha channel"),
                       ("blended_mvg", "JPEG data under a .png name")):
        src = reference / "omnidata" / "rgb" / comp / "sample"
        rc = main(["derive", str(src), "--out", str(tmp_path / comp), "--tasks", "edge_texture", "--quiet"])
        err = capsys.readouterr().err
        assert rc == 0, err
        n = len(list(src.glob("*_rgb.png")))
        assert len(list((tmp_path / comp / "edge_texture").glob("*.png"))) == n
        assert f"note: {n} rgb files: {note}" in err
