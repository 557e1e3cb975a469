"""``labelgen validate``: metrics, layouts, damaged copies of the shipped view, presets, fit.

The shipped view comes from the conftest ``reference`` fixture (skipped when absent); the
damaged copies are made in temporary folders.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from labelgen.cli import main
from labelgen.io._images import read_png, write_png
from labelgen.engine._pipeline import LazySources, compute_view
from labelgen.validate import find_buildings, validate_building
from labelgen.validate._metrics import adjusted_rand_index, image_agreement, largest_region_bbox, pearson

PREFIX = "point_202_view_5_domain_"
FAST = "edge_texture,edge_occlusion,point_info"


# -- metrics ----------------------------------------------------------------------------

def _comb2(n):
    return n * (n - 1) // 2


def test_ari_hand_computed():
    a = [0, 0, 0, 1, 1, 1]
    b = [0, 0, 1, 1, 2, 2]
    # contingency table rows (a=0: 2,1,0), (a=1: 0,1,2); row sums 3,3; column sums 2,2,2
    index = _comb2(2) + _comb2(1) + _comb2(1) + _comb2(2)            # 2
    sum_a = _comb2(3) + _comb2(3)                                   # 6
    sum_b = 3 * _comb2(2)                                           # 3
    expected = sum_a * sum_b / _comb2(6)                            # 18 / 15
    want = (index - expected) / ((sum_a + sum_b) / 2 - expected)    # 0.8 / 3.3 = 8/33
    assert adjusted_rand_index(np.array(a), np.array(b)) == pytest.approx(want, abs=1e-12)
    assert want == pytest.approx(8 / 33)
    # ids are arbitrary: a relabelling of the same partition gives 1
    assert adjusted_rand_index(np.array(a), np.array([7, 7, 7, 3, 3, 3])) == 1.0
    assert adjusted_rand_index(np.array(b), np.array(b) * 50 + 1) == 1.0


def test_ari_of_random_partitions_is_near_zero():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 20000), rng.integers(0, 5, 20000)
    assert abs(adjusted_rand_index(a, b)) < 0.01


def test_largest_region_and_image_agreement():
    mask = np.zeros((50, 60), bool)
    mask[5:8, 5:9] = True          # 12 pixels
    mask[20:30, 40:45] = True      # 50 pixels: the largest
    assert largest_region_bbox(mask) == [40, 20, 44, 29]
    assert largest_region_bbox(np.zeros((4, 4), bool)) is None
    a = np.zeros((10, 10), np.uint16)
    b = a.copy()
    b[2, 3] = 1
    b[7:9, 1:4] = 9
    m = image_agreement(a, b)
    assert m["exact"] == pytest.approx(93 / 100) and m["within1"] == pytest.approx(94 / 100)
    assert m["max_abs"] == 9 and m["bbox"] == [1, 7, 3, 8]
    assert image_agreement(a, a) == {"exact": 1.0, "within1": 1.0, "max_abs": 0, "bbox": None}


def test_pearson_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000)
    y = x + rng.normal(size=1000)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


# -- the shipped view -------------------------------------------------------------------



def _run(args, capsys):
    rc = main(["validate", *map(str, args), "--quiet"])
    return rc, capsys.readouterr().err


def _by_label(report_dir):
    rep = json.loads((Path(report_dir) / "report.json").read_text())
    return rep, {r["label"]: r for r in rep["files"]}


MESH_LABELS = {"depth_zbuffer", "depth_euclidean", "normal", "reshading", "principal_curvature", "rgb"}


def test_shipped_view_passes_every_label_it_can_recompute(reference, tmp_path, capsys):
    out = tmp_path / "rep"
    rc, err = _run([reference / "taskonomy", "--report", out], capsys)
    assert rc == 0, err
    rep, recs = _by_label(out)
    checked = {k for k, r in recs.items() if r["verdict"] != "unchecked"}
    assert checked == {"edge_texture", "keypoints2d", "edge_occlusion", "keypoints3d", "point_info",
                       "depth_euclidean_vs_depth_zbuffer"}
    assert all(recs[k]["passed"] and recs[k]["verdict"] == "passed" for k in checked)
    # every other shipped file has a record too: unchecked, with the reason (no mesh given)
    assert set(recs) - checked == MESH_LABELS
    assert all(recs[k]["reason"] == "rendered from the mesh: give --mesh to check it" and not recs[k]["passed"]
               and recs[k]["error"] is None for k in MESH_LABELS)
    s = rep["summary"]
    assert (s["files"], s["passed"], s["failed"], s["unchecked"]) == (12, 6, 0, 6)
    assert s["by_component"] == [{"component": None, "buildings": 1, "files": 12, "passed": 6, "failed": 0,
                                  "unchecked": 6, "labels": {k: {"files": 1, "passed": int(k in checked),
                                                                 "failed": 0, "unchecked": int(k not in checked)}
                                                             for k in sorted(recs)}}]
    # --strict counts the unchecked files as failures
    rc, _ = _run([reference / "taskonomy", "--report", out, "--strict"], capsys)
    assert rc == 1
    rc, _ = _run([reference / "taskonomy", "--report", out, "--strict", "--tasks", ",".join(checked)], capsys)
    assert rc == 0
    # the same fractions as the files derive writes
    main(["derive", str(reference / "taskonomy"), "--out", str(tmp_path / "d"), "--quiet",
          "--tasks", "edge_texture,keypoints2d,edge_occlusion,keypoints3d"])
    for label in ("edge_texture", "keypoints2d", "edge_occlusion", "keypoints3d"):
        derived = read_png(tmp_path / "d" / label / f"{PREFIX}{label}.png")
        shipped = read_png(reference / "taskonomy" / f"{PREFIX}{label}.png")
        want = image_agreement(shipped, derived)
        assert recs[label]["exact"] == want["exact"] and recs[label]["within1"] == want["within1"], label
    assert recs["keypoints3d"]["pearson"] > 0.9999 and recs["keypoints3d"]["median_abs"] == 0
    assert recs["point_info"]["fields"]["vanishing_points_image"] < 1e-9
    html = (out / "index.html").read_text()
    assert "ALL PASSED" in html and "class='summary'" in html


def test_damaged_edge_texture_block_fails_with_its_region(view, tmp_path, capsys):
    path = view / f"{PREFIX}edge_texture.png"
    img = read_png(path)
    img[200:264, 100:164] ^= 0x8000  # every pixel of the block changes
    write_png(path, img)
    out = tmp_path / "rep"
    rc, err = _run([view, "--report", out, "--tasks", FAST], capsys)
    assert rc == 1
    _, recs = _by_label(out)
    r = recs["edge_texture"]
    assert not r["passed"] and r["bbox"] == [100, 200, 163, 263]
    assert r["exact"] == pytest.approx(1 - 64 * 64 / 512 ** 2, abs=1e-4)
    assert recs["edge_occlusion"]["passed"] and recs["point_info"]["passed"]
    assert "FAILURES" in (out / "index.html").read_text()


def test_truncated_keypoints2d_fails_with_reason_others_pass(view, tmp_path, capsys):
    path = view / f"{PREFIX}keypoints2d.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "rep"
    rc, err = _run([view, "--report", out, "--tasks", "keypoints2d," + FAST], capsys)
    assert rc == 1
    rep, recs = _by_label(out)
    bad = recs["keypoints2d"]
    assert not bad["passed"] and "truncated" in bad["error"]
    assert all(r["passed"] for r in rep["files"] if r["label"] != "keypoints2d")


def test_missing_input_is_unchecked_with_its_reason(view, tmp_path, capsys):
    (view / f"{PREFIX}rgb.png").unlink()
    out = tmp_path / "rep"
    rc, _ = _run([view, "--report", out, "--tasks", "edge_texture,edge_occlusion"], capsys)
    assert rc == 0  # nothing failed: a file that cannot be checked is not a damaged file
    rep, recs = _by_label(out)
    r = recs["edge_texture"]
    assert r["verdict"] == "unchecked" and r["reason"] == "missing input: rgb file"
    assert not r["passed"] and r["error"] is None
    assert recs["edge_occlusion"]["passed"] and recs["edge_occlusion"]["verdict"] == "passed"
    assert (rep["summary"]["passed"], rep["summary"]["failed"], rep["summary"]["unchecked"]) == (1, 0, 1)
    row = next(x for x in rep["summary"]["by_label"] if x["label"] == "edge_texture")
    assert (row["files"], row["passed"], row["failed"], row["unchecked"]) == (1, 0, 0, 1)
    html = (out / "index.html").read_text()
    assert "NO FAILURES" in html and "<ul class='unchecked'>" in html and "missing input: rgb file" in html
    rc, _ = _run([view, "--report", out, "--tasks", "edge_texture,edge_occlusion", "--strict"], capsys)
    assert rc == 1
    # the Python API gives the same verdicts
    report = validate_building(view, tasks=["edge_texture", "edge_occlusion"])
    assert [(r["label"], r["verdict"], r["reason"]) for r in report.records] == \
        [(r["label"], r["verdict"], r["reason"]) for r in rep["files"]]
    assert report.passed and report.ok() and not report.ok(strict=True)
    assert report.counts == {"passed": 1, "failed": 0, "unchecked": 1}


def test_three_verdicts_and_exit_codes(view, tmp_path, capsys):
    """One view with a passing, a failing and an unchecked file: exit 1 because of the failure
    only; without it, 0 (and 1 with --strict)."""
    (view / f"{PREFIX}point_info.json").unlink()  # keypoints3d: no camera, so unchecked
    path = view / f"{PREFIX}edge_texture.png"
    good = read_png(path)
    bad = good.copy()
    bad[:100] ^= 0x4000
    write_png(path, bad)
    out = tmp_path / "rep"
    tasks = "edge_texture,edge_occlusion,keypoints3d"
    rc, err = _run([view, "--report", out, "--tasks", tasks], capsys)
    assert rc == 1
    rep, recs = _by_label(out)
    assert {k: r["verdict"] for k, r in recs.items()} == {"edge_texture": "failed", "edge_occlusion": "passed",
                                                          "keypoints3d": "unchecked"}
    assert recs["edge_texture"]["error"].startswith("exact") and recs["edge_texture"]["reason"] is None
    assert "point_info" in recs["keypoints3d"]["reason"] and recs["keypoints3d"]["error"] is None
    assert [recs[k]["passed"] for k in ("edge_texture", "edge_occlusion", "keypoints3d")] == [False, True, False]
    write_png(path, good)
    rc, _ = _run([view, "--report", out, "--tasks", tasks], capsys)
    assert rc == 0
    rc, _ = _run([view, "--report", out, "--tasks", tasks, "--strict"], capsys)
    assert rc == 1
    rc, _ = _run([view, "--report", out, "--tasks", tasks, "--strict", "--fov", "1.1805"], capsys)
    assert rc == 0


def test_wrong_type_is_a_failure(view, tmp_path, capsys):
    path = view / f"{PREFIX}edge_occlusion.png"
    write_png(path, (read_png(path) >> 8).astype(np.uint8))
    out = tmp_path / "rep"
    rc, _ = _run([view, "--report", out, "--tasks", "edge_occlusion"], capsys)
    assert rc == 1
    _, recs = _by_label(out)
    assert "16-bit" in recs["edge_occlusion"]["error"]


def test_permuted_segment_ids_still_pass(view, tmp_path, capsys):
    rgb = read_png(view / f"{PREFIX}rgb.png")
    seg = compute_view(["segment_unsup2d"], LazySources(rgb=rgb))[0]["segment_unsup2d"]
    perm = np.random.default_rng(3).permutation(256).astype(np.uint8)
    shipped = perm[seg]
    assert not np.array_equal(shipped, seg)
    write_png(view / f"{PREFIX}segment_unsup2d.png", shipped)
    out = tmp_path / "rep"
    rc, err = _run([view, "--report", out, "--tasks", "segment_unsup2d"], capsys)
    assert rc == 0, err
    _, recs = _by_label(out)
    assert recs["segment_unsup2d"]["ari"] == pytest.approx(1.0) and recs["segment_unsup2d"]["exact"] is None
    # merging the two largest segments changes the partition: ARI drops below 1
    ids, counts = np.unique(seg, return_counts=True)
    big = ids[np.argsort(counts)[-2:]]
    merged = np.where(seg == big[0], big[1], seg).astype(np.uint8)
    write_png(view / f"{PREFIX}segment_unsup2d.png", merged)
    _run([view, "--report", out, "--tasks", "segment_unsup2d", "--min-ari", "0.999"], capsys)
    _, recs = _by_label(out)
    assert recs["segment_unsup2d"]["ari"] < 0.999 and not recs["segment_unsup2d"]["passed"]


def test_altered_vanishing_point_fails(view, tmp_path, capsys):
    path = view / f"{PREFIX}point_info.json"
    info = json.loads(path.read_text())
    info["vanishing_points_image"]["y"][0] += 3.0
    path.write_text(json.dumps(info))
    out = tmp_path / "rep"
    rc, _ = _run([view, "--report", out, "--tasks", "point_info"], capsys)
    assert rc == 1
    _, recs = _by_label(out)
    r = recs["point_info"]
    assert not r["passed"] and "vanishing_points_image" in r["error"]
    assert r["fields"]["vanishing_points_image"] == pytest.approx(3.0)
    assert r["fields"]["vanishing_points_gaussian_sphere"] < 1e-9


def _spread(src: Path, root: Path, component: str | None, building: str):
    """Copy a flat view folder into ROOT/{domain}/[{component}/]{building}/ (download layouts)."""
    for p in src.iterdir():
        domain = p.name.split("_domain_")[1].rsplit(".", 1)[0]
        parts = [domain] + ([component] if component else []) + [building]
        d = root.joinpath(*parts)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, d / p.name)


def test_download_and_per_domain_layouts_give_the_same_records(reference, tmp_path, capsys):
    src = reference / "taskonomy"
    _spread(src, tmp_path / "dl", "taskonomy", "allensville")
    _spread(src, tmp_path / "pd", None, "allensville")
    found = find_buildings(tmp_path / "dl")
    assert [(b.name, b.component) for b in found] == [("allensville", "taskonomy")]
    assert len(found[0].views) == 1 and len(found[0].views[("202", "5")]) == 11
    recs = {}
    for name in ("dl", "pd"):
        rc, err = _run([tmp_path / name, "--report", tmp_path / f"rep-{name}", "--tasks", FAST], capsys)
        assert rc == 0, err
        recs[name] = json.loads((tmp_path / f"rep-{name}" / "report.json").read_text())["files"]
    assert [r["component"] for r in recs["dl"]] == ["taskonomy"] * len(recs["dl"])
    # every record names its own file; the rest is the same whatever the layout
    assert all(Path(r["file"]).is_relative_to(tmp_path / name) for name in recs for r in recs[name])
    strip = [{k: v for k, v in r.items() if k not in ("component", "file")} for r in recs["dl"]]
    assert strip == [{k: v for k, v in r.items() if k not in ("component", "file")} for r in recs["pd"]]
    assert len(strip) == 3
    # and the same as the Python API on the flat folder
    api = validate_building(src, tasks=FAST.split(",")).records
    assert [{k: v for k, v in r.items() if k not in ("component", "building", "file")} for r in api] == \
        [{k: v for k, v in r.items() if k != "building"} for r in strip]


def test_component_preset_is_used_unless_overridden(reference, tmp_path, capsys):
    _spread(reference / "taskonomy", tmp_path / "dl", "replica_gso", "b1")
    rc, _ = _run([tmp_path / "dl", "--report", tmp_path / "r1", "--tasks", "edge_texture"], capsys)
    rep, recs = _by_label(tmp_path / "r1")
    # Replica+GSO's canny sigma (2.0) does not reproduce a Taskonomy file
    assert rc == 1 and rep["params"]["replica_gso/b1"]["canny_sigma"] == 2.0
    assert rep["presets"]["replica_gso/b1"] == "replica_gso" and not recs["edge_texture"]["passed"]
    rc, _ = _run([tmp_path / "dl", "--report", tmp_path / "r2", "--tasks", "edge_texture", "--preset", "taskonomy"],
                 capsys)
    assert rc == 0
    rc, _ = _run([tmp_path / "dl", "--report", tmp_path / "r3", "--tasks", "edge_texture", "--canny-sigma", "3"],
                 capsys)
    assert rc == 0


@pytest.mark.slow
def test_fit_recovers_the_taskonomy_parameters(view, tmp_path, capsys):
    out = tmp_path / "rep"
    rc, err = _run([view, "--report", out, "--fit", "--preset", "clevr",
                    "--tasks", "edge_texture,keypoints3d,point_info"], capsys)
    assert rc == 0, err
    rep, _ = _by_label(out)
    params = rep["params"]["building"]
    assert params["canny_sigma"] == 3.0 and params["depth_units_per_meter"] == 512.0
    assert params["support_size"] == 0.3
    assert set(rep["fitted"]["building"]) >= {"canny_sigma", "depth_units_per_meter", "support_size"}


def test_fit_estimates_the_field_of_view_without_point_info(view, tmp_path, capsys):
    fov = json.loads((view / f"{PREFIX}point_info.json").read_text())["field_of_view_rads"]
    (view / f"{PREFIX}point_info.json").unlink()
    out = tmp_path / "rep"
    rc, err = _run([view, "--report", out, "--fit", "--tasks", "keypoints3d,depth_euclidean_vs_depth_zbuffer",
                    "--support-size", "0.3"], capsys)
    assert rc == 0, err
    rep, recs = _by_label(out)
    fitted = rep["fitted"]["building"]["views"]["point_202_view_5"]
    assert fitted["fov"] == pytest.approx(fov, abs=2e-3) and fitted["fov_from"] == "depths"
    assert "fov" not in rep["params"]["building"]
    assert recs["keypoints3d"]["pearson"] > 0.99
    assert recs["keypoints3d"]["notes"] == [f"field of view {fitted['fov']:.4f} rad "
                                            f"({np.degrees(fitted['fov']):.2f} degrees) fitted for this view from "
                                            "depth_zbuffer and depth_euclidean"]
    # without --fit or --fov, keypoints3d lacks its camera: unchecked, not failed
    rc, _ = _run([view, "--report", out, "--tasks", "keypoints3d"], capsys)
    _, recs = _by_label(out)
    assert rc == 0 and recs["keypoints3d"]["verdict"] == "unchecked"
    assert recs["keypoints3d"]["reason"].startswith("missing input: point_info file")


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    rc, err = _run([tmp_path / "nope", "--report", tmp_path / "r"], capsys)
    assert rc == 2 and err.strip().count("\n") == 0 and err.startswith("labelgen: error: ")
    (tmp_path / "empty").mkdir()
    rc, err = _run([tmp_path / "empty", "--report", tmp_path / "r"], capsys)
    assert rc == 2 and "no Taskonomy" in err
    rc, err = _run([tmp_path / "empty", "--report", tmp_path / "r", "--threshold", "edge_texture:nonsense=1"],
                   capsys)
    assert rc == 2


@pytest.mark.slow
def test_workers_give_the_same_report(reference, tmp_path, capsys):
    for b in ("b1", "b2"):
        shutil.copytree(reference / "taskonomy", tmp_path / "root" / b)
    reps = []
    for w in (1, 2):
        rc, err = _run([tmp_path / "root", "--report", tmp_path / f"r{w}", "--tasks", FAST, "--workers", w], capsys)
        assert rc == 0, err
        reps.append((tmp_path / f"r{w}" / "report.json").read_bytes())
    assert reps[0] == reps[1]
    assert (tmp_path / "r1" / "index.html").read_bytes() == (tmp_path / "r2" / "index.html").read_bytes()
    assert len(json.loads(reps[0])["files"]) == 6


# -- against the mesh -------------------------------------------------------------------

@pytest.mark.slow
def test_rendered_apartment_validates_against_its_mesh(tmp_path, capsys, apartment_path, apartment_mesh):
    import trimesh

    from conftest import APARTMENT_CAMERAS

    mesh = apartment_path
    cams = json.loads(APARTMENT_CAMERAS.read_text())[:2]
    (tmp_path / "cams.json").write_text(json.dumps(cams))
    assert main(["render", str(mesh), "--cameras", str(tmp_path / "cams.json"), "--resolution", "96",
                 "--out", str(tmp_path / "apt"), "--quiet"]) == 0
    rc, err = _run([tmp_path / "apt", "--mesh", mesh, "--report", tmp_path / "rep"], capsys)
    assert rc == 0, err
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    labels = {r["label"] for r in rep["files"]}
    assert {"depth_zbuffer", "depth_euclidean", "normal", "reshading", "mask_valid", "rgb", "principal_curvature",
            "edge_texture", "keypoints3d", "segment_unsup2d", "segment_unsup25d", "point_info"} <= labels
    for r in rep["files"]:
        assert r["passed"], r
        if r["label"] in ("depth_zbuffer", "normal", "rgb", "principal_curvature", "reshading", "keypoints3d"):
            assert r["exact"] == 1.0, r
    assert rep["summary"]["files"] == len(rep["files"]) == 2 * 16
    # the same mesh moved by 5 cm: the depth no longer matches
    apt = apartment_mesh  # in the +Z-up world the labels were rendered in (the GLB is +Y up)
    trimesh.Trimesh(apt.vertices + [0.05, 0.0, 0.0], apt.faces, process=False).export(tmp_path / "moved.ply")
    rc, _ = _run([tmp_path / "apt", "--mesh", tmp_path / "moved.ply", "--report", tmp_path / "rep2",
                  "--tasks", "depth_zbuffer,depth_euclidean,edge_texture"], capsys)
    assert rc == 1
    recs = json.loads((tmp_path / "rep2" / "report.json").read_text())["files"]
    depth = [r for r in recs if r["label"].startswith("depth_")]
    assert len(depth) == 4 and not any(r["passed"] for r in depth)
    assert all(r["passed"] for r in recs if r["label"] == "edge_texture")  # from the shipped rgb, not the mesh


# -- the report in a real browser -------------------------------------------------------

@pytest.mark.slow
def test_report_loads_in_headless_chromium(view, tmp_path, capsys):
    import re
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it when it can)")
    path = view / f"{PREFIX}edge_texture.png"
    img = read_png(path)
    img[10:40, 10:40] ^= 0x8000
    write_png(path, img)
    out = tmp_path / "rep"
    rc, _ = _run([view, "--report", out, "--tasks", FAST], capsys)
    assert rc == 1
    # a copy of the page with a script that writes what the browser rendered into the DOM
    probe = ("<script>window.addEventListener('load', () => {const imgs = [...document.images];"
             "document.body.setAttribute('data-probe', JSON.stringify({n: imgs.length,"
             " loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,"
             " rows: document.querySelectorAll('table.summary tr').length,"
             " verdict: document.getElementById('verdict').innerText}));});</script>")
    page = (out / "index.html").read_text().replace("</body>", probe + "</body>")
    (out / "probe.html").write_text(page)
    res = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", (out / "probe.html").as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r"data-probe=\"([^\"]*)\"", res.stdout)
    assert m, res.stderr[-2000:]
    probe = json.loads(m.group(1).replace("&quot;", '"'))
    assert probe["rows"] == 4  # header + edge_occlusion, edge_texture, point_info
    assert probe["n"] >= 3 and probe["loaded"] == probe["n"]
    assert probe["verdict"].startswith("FAILURES")


def test_wrong_size_is_a_failure_others_go_on(view, tmp_path, capsys):
    import cv2

    path = view / f"{PREFIX}edge_texture.png"
    write_png(path, cv2.resize(read_png(path), (256, 256), interpolation=cv2.INTER_NEAREST))
    out = tmp_path / "rep"
    rc, _ = _run([view, "--report", out, "--tasks", FAST], capsys)
    assert rc == 1
    _, recs = _by_label(out)
    assert recs["edge_texture"]["error"] == "wrong size: 256x256, its input rgb is 512x512"
    assert recs["edge_occlusion"]["passed"] and recs["point_info"]["passed"]
