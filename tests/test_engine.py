"""The one engine under every job: the mesh description and its key, up axes through every job,
meshes handed to validate's workers, a cold-cache panorama render, batch settings checked."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import APARTMENT, APARTMENT_CAMERAS as CAMERAS
from labelgen import Camera, load_mesh
from labelgen.cli import main
from labelgen.engine import MeshSpec, render_building
from labelgen.render import make_renderer
from labelgen.validate import validate_building

GEOMETRY = ["depth_zbuffer", "normal", "mask_valid"]


# -- a textured OBJ and a +Y-up OBJ made here ---------------------------------------------------

def _textured_room(folder: Path, colour) -> Path:
    """A closed box room (OBJ + MTL + one texture image of one ``colour``)."""
    folder.mkdir(parents=True, exist_ok=True)
    v = [(x, y, z) for x in (0, 4) for y in (0, 3) for z in (0, 2.5)]
    quads = [(1, 3, 4, 2), (5, 6, 8, 7), (1, 2, 6, 5), (3, 7, 8, 4), (1, 5, 7, 3), (2, 4, 8, 6)]
    lines = ["mtllib room.mtl"] + [f"v {x} {y} {z}" for x, y, z in v]
    lines += ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1", "usemtl wall"]
    for a, b, c, d in quads:
        lines += [f"f {a}/1 {b}/2 {c}/3", f"f {a}/1 {c}/3 {d}/4"]
    (folder / "room.obj").write_text("\n".join(lines) + "\n")
    (folder / "room.mtl").write_text("newmtl wall\nKd 1 1 1\nmap_Kd wall.png\n")
    _texture(folder, colour)
    return folder / "room.obj"


def _texture(folder: Path, colour):
    img = np.zeros((8, 8, 3), np.uint8)
    img[:] = colour
    img[::2, ::2] = 255 - np.asarray(colour, np.uint8)
    Image.fromarray(img).save(folder / "wall.png")


def _room_cameras(path: Path, n=3, size=32) -> Path:
    poses = []
    for i in range(n):
        cam = Camera.look_at([2.0, 1.5, 1.2], [2.0 + np.cos(i), 1.5 + np.sin(i), 1.0], fov=1.2, width=size, height=size)
        poses.append({"camera_id": f"c{i}", "location": cam.location.tolist(),
                      "rotation_quaternion": _wxyz(cam.rotation), "field_of_view_rads": 1.2, "resolution": size})
    path.write_text(json.dumps(poses))
    return path


def _wxyz(rotation):
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return [float(w), float(x), float(y), float(z)]


@pytest.fixture(scope="module")
def y_up_obj(tmp_path_factory) -> Path:
    """The sample apartment's geometry as an OBJ in the GLB's own (+Y up) coordinates."""
    import trimesh

    folder = tmp_path_factory.mktemp("yup")
    scene = trimesh.load(APARTMENT, force="scene", process=False)
    geometry = trimesh.util.concatenate([g for g in scene.dump() if isinstance(g, trimesh.Trimesh)])
    plain = trimesh.Trimesh(geometry.vertices, geometry.faces, process=False)
    path = folder / "apartment_yup.obj"
    path.write_text(trimesh.exchange.obj.export_obj(plain, include_normals=False, include_texture=False,
                                                     digits=10))
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".labelgen" not in p.relative_to(root).parts}


# -- the mesh description ---------------------------------------------------------------------

def test_mesh_key_covers_every_file_the_render_reads_and_the_up_axis(tmp_path):
    obj = _textured_room(tmp_path / "m", (200, 40, 40))
    spec = MeshSpec(obj)
    assert [p.name for _, p in spec.files()] == ["room.obj", "room.mtl", "wall.png"]
    keys = {"first": spec.key}
    assert MeshSpec(obj).key == keys["first"]  # same files, same key
    _texture(obj.parent, (40, 200, 40))
    keys["texture"] = MeshSpec(obj).key
    (obj.parent / "room.mtl").write_text("newmtl wall\nKd 0.5 1 1\nmap_Kd wall.png\n")
    keys["mtl"] = MeshSpec(obj).key
    keys["up axis"] = MeshSpec(obj, up_axis="+y").key
    sem = tmp_path / "sem.ply"
    import trimesh

    trimesh.creation.box().export(sem)
    keys["semantic"] = MeshSpec(obj, semantic=sem).key
    trimesh.creation.box(extents=[2, 2, 2]).export(sem)
    keys["semantic changed"] = MeshSpec(obj, semantic=sem).key
    assert len(set(keys.values())) == len(keys), keys
    # the per-mesh disk cache is keyed by the same hash
    assert MeshSpec(obj).load().content_hash == MeshSpec(obj).key


def test_mesh_spec_crosses_processes_and_loads_the_same_mesh(tmp_path, apartment_mesh):
    import pickle

    spec = MeshSpec(APARTMENT, up_axis="+y")
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and again.key == spec.key
    a, b = spec.load(), again.load()
    assert np.array_equal(a.vertices, b.vertices) and a.spec == spec
    assert MeshSpec.of(a) is a.spec
    assert MeshSpec.of(apartment_mesh) == MeshSpec(APARTMENT)  # a Mesh read with load_mesh


@pytest.mark.slow
def test_resumed_batch_recomputes_rgb_after_the_texture_changes(tmp_path):
    obj = _textured_room(tmp_path / "m", (200, 40, 40))
    cams = _room_cameras(tmp_path / "cams.json")
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"defaults": {"tasks": ["rgb", "depth_zbuffer"]},
                                "jobs": [{"building": "room", "render": {"mesh": str(obj), "cameras": str(cams)}}]}))
    out = tmp_path / "out"
    assert main(["batch", str(jobs), "--out", str(out), "--quiet"]) == 0
    before = _tree(out)
    _texture(obj.parent, (40, 40, 220))
    assert main(["batch", str(jobs), "--out", str(out), "--quiet"]) == 0
    after = _tree(out)
    summary = json.loads((out / ".labelgen" / "summary.json").read_text())["buildings"]["room"]
    assert summary["computed"] == summary["views"] == 3 and summary["already_done"] == 0
    changed = {k for k in after if after[k] != before[k]}
    rgb = {k for k in after if k.split("/")[1] == "rgb"}  # room/rgb/point_..._domain_rgb.png
    assert changed and changed <= rgb
    assert rgb == changed  # every rgb view made again
    # byte for byte what a first run with the new texture writes
    assert main(["batch", str(jobs), "--out", str(tmp_path / "fresh"), "--quiet"]) == 0
    assert _tree(tmp_path / "fresh") == after


# -- up axes through every job ------------------------------------------------------------------

@pytest.fixture(scope="module")
def glb_render(tmp_path_factory):
    """The apartment's labels rendered from the GLB (+Y up by the glTF specification)."""
    out = tmp_path_factory.mktemp("glb") / "render"
    assert main(["render", str(APARTMENT), "--cameras", str(CAMERAS), "--out", str(out), "--quiet",
                 "--resolution", "64", "--tasks", ",".join(GEOMETRY)]) == 0
    return out


def test_validate_accepts_up_axis(tmp_path, glb_render, y_up_obj):
    """The same geometry as a +Y-up OBJ validates the GLB's render only when read +Y up."""
    report = tmp_path / "report"
    rc = main(["validate", str(glb_render), "--mesh", str(y_up_obj), "--up-axis", "+y", "--report", str(report),
               "--quiet", "--tasks", ",".join(GEOMETRY)])
    files = json.loads((report / "report.json").read_text())["files"]
    assert rc == 0 and len(files) == 10 * len(GEOMETRY) and all(r["passed"] for r in files)
    rc = main(["validate", str(glb_render), "--mesh", str(y_up_obj), "--report", str(report), "--quiet",
               "--tasks", "depth_zbuffer"])
    assert rc == 1  # read +Z up, as an OBJ is by default: another scene


@pytest.mark.slow
def test_batch_accepts_up_axis(tmp_path, y_up_obj):
    render = tmp_path / "render"
    assert main(["render", str(y_up_obj), "--up-axis", "+y", "--cameras", str(CAMERAS), "--out", str(render),
                 "--quiet", "--resolution", "32", "--tasks", ",".join(GEOMETRY)]) == 0
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"defaults": {"tasks": GEOMETRY, "resolution": 32}, "jobs": [
        {"building": "flag", "render": {"mesh": str(y_up_obj), "cameras": str(CAMERAS)}},
        {"building": "field", "render": {"mesh": str(y_up_obj), "cameras": str(CAMERAS), "up_axis": "+y"}},
        {"building": "other", "render": {"mesh": str(y_up_obj), "cameras": str(CAMERAS), "up_axis": "+z"}}]}))
    out = tmp_path / "out"
    assert main(["batch", str(jobs), "--out", str(out), "--up-axis", "+y", "--quiet"]) == 0
    want = _tree(render)
    assert _tree(out / "flag") == want and _tree(out / "field") == want  # the flag, and the job's own field
    assert _tree(out / "other") != want  # a job's field wins over the flag


# -- validate's workers get the mesh as it was given ---------------------------------------------

@pytest.mark.slow
def test_validate_building_with_a_mesh_object_or_renderer_and_workers(glb_render, y_up_obj, apartment_mesh_copy):
    one = validate_building(glb_render, mesh=APARTMENT, tasks=GEOMETRY)
    assert one.passed and len(one.records) == 10 * len(GEOMETRY)
    strip = [{k: v for k, v in r.items()} for r in one.records]
    # the apartment a copy of its own: validate_building hands it to worker processes
    for mesh in (apartment_mesh_copy, make_renderer(load_mesh(y_up_obj, up_axis="+y"))):
        two = validate_building(glb_render, mesh=mesh, tasks=GEOMETRY, workers=2)
        assert two.passed, [r["error"] for r in two.records if not r["passed"]][:3]
        assert [(r["point"], r["view"], r["label"]) for r in two.records] == \
            [(r["point"], r["view"], r["label"]) for r in strip]


def test_validate_building_records_a_badly_named_file_and_goes_on(tmp_path, glb_render):
    building = tmp_path / "b"
    shutil.copytree(glb_render, building)
    bad = building / "depth_zbuffer" / "point_.._view_0_domain_depth_zbuffer.png"
    shutil.copy(next((building / "depth_zbuffer").glob("*.png")), bad)
    report = validate_building(building, tasks=["mask_valid_vs_depth_zbuffer"])
    failed = [r for r in report.records if not r["passed"]]
    assert len(failed) == 1 and failed[0]["file"] == str(bad) and "bad file name" in failed[0]["error"]
    assert sum(r["passed"] for r in report.records) == 10
    assert report.summary["failed"] == 1 and not report.passed


# -- a cold cache -----------------------------------------------------------------------------

COLD = """
import sys
from labelgen.engine import _warmup
started = []
real_start = _warmup.start
def start(tasks, params=None, processes=None):
    _warmup.cache_is_cold = lambda modules=None: True
    started.append(sorted(tasks))
    return real_start(tasks, params, processes)
_warmup.start = start
from labelgen.cli import main
rc = main(sys.argv[1:])
print(started)
sys.exit(rc)
"""


def _cold_render(cameras, out, tasks):
    """``labelgen render`` in a fresh process with the kernel cache taken as cold (a really empty
    cache costs a minute of compiling); the warm-up processes run for real. Returns the run and
    the tasks the warm-up was started for."""
    args = ["render", str(APARTMENT), "--cameras", str(cameras), "--out", str(out), "--resolution", "32",
            "--tasks", tasks, "--quiet"]
    res = subprocess.run([sys.executable, "-c", COLD, *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return res, json.loads(res.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_the_warm_up_renders_a_small_panorama_of_a_panorama(apartment_mesh):
    """The mesh labels are warmed on a small copy of the first camera: 64x32 for a panorama (a
    32x32 one is no panorama: 2H x H), and the render succeeds."""
    import multiprocessing

    from labelgen.engine import _warmup, render_labels, resolve_params

    pano = Camera.look_at([4.2, 3.0, 1.5], [0, 2, 1.3], width=128, height=64, model="equirectangular")
    made = []

    def render(renderer, camera, tasks, params):
        made.append((camera.model, camera.width, camera.height, sorted(render_labels(renderer, camera, tasks,
                                                                                        params)[0])))

    idle = _warmup.Warmup([], {}, multiprocessing.Value("i", 0), [])  # no image labels to warm here
    _warmup.warm_mesh_labels(make_renderer(apartment_mesh), pano, ["depth_euclidean", "normal", "edge_texture"],
                             resolve_params(), idle, render)
    assert made == [("equirectangular", 64, 32, ["depth_euclidean", "normal"])]


@pytest.mark.slow
def test_a_panorama_render_with_a_cold_kernel_cache(tmp_path):
    """The warm-up renders a small copy of the first camera, 2H x H for a panorama; and it
    compiles only what some camera makes (a panorama has no image-derived labels)."""
    poses = json.loads(CAMERAS.read_text())
    pano = tmp_path / "pano.json"
    pano.write_text(json.dumps([dict(p, camera_model="equirectangular") for p in poses]))
    res, started = _cold_render(pano, tmp_path / "pano", "depth_euclidean,normal,edge_texture")
    files = sorted(p.name for p in (tmp_path / "pano" / "depth_euclidean").glob("*.png"))
    assert len(files) == 10 and all("_view_equirectangular_" in f for f in files)
    assert "skipped edge_texture on 10 views" in res.stderr  # an image label: no panorama
    assert started == [["depth_euclidean", "normal"]]
    # a panorama first, then perspective views: the image labels are warmed up, and the mesh
    # labels on a small copy of the panorama
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([dict(poses[0], camera_model="equirectangular")] + poses[1:]))
    res, started = _cold_render(mixed, tmp_path / "mixed", "depth_euclidean,normal,edge_texture")
    assert started == [["depth_euclidean", "edge_texture", "normal"]]
    assert len(list((tmp_path / "mixed" / "edge_texture").glob("*.png"))) == 9
    assert len(list((tmp_path / "mixed" / "normal").glob("*_view_equirectangular_*.png"))) == 1


# -- batch settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["-1", "0", "garbage", "1.5"])
def test_bad_chunk_size_is_an_error_not_an_empty_run(tmp_path, capsys, value, monkeypatch):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"jobs": [{"building": "a", "tasks": ["depth_zbuffer"], "resolution": 16,
                                          "render": {"mesh": str(APARTMENT), "cameras": str(CAMERAS)}}]}))
    monkeypatch.setenv("LABELGEN_BATCH_CHUNK_VIEWS", value)
    rc = main(["batch", str(jobs), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == (f"labelgen: error: LABELGEN_BATCH_CHUNK_VIEWS: must be a positive "
                                       f"number of views, got {value!r}")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_run_batch_takes_job_dicts(tmp_path, monkeypatch):
    from labelgen import run_batch

    monkeypatch.chdir(tmp_path)
    shutil.copy(APARTMENT, tmp_path / "apt.glb")
    result = run_batch([{"building": "a", "tasks": ["depth_zbuffer"], "resolution": 16,
                         "render": {"mesh": "apt.glb", "cameras": str(CAMERAS)}}], tmp_path / "out")
    assert result.failures == [] and result.buildings["a"]["computed"] == 10
    assert len(list((tmp_path / "out" / "a" / "depth_zbuffer").glob("*.png"))) == 10
    with pytest.raises(ValueError, match="chunk_views"):
        run_batch([], tmp_path / "out", chunk_views=0)
