"""Fuzz corpus: malformed inputs through every command that reads files.

Every case is generated here (nothing downloaded, nothing stored): 0-byte, truncated and
garbage meshes of every format, OBJ files with a missing MTL or texture, NaN/inf vertices,
faces indexing missing vertices, camera JSON with wrong types, nesting, huge numbers and
duplicated views, PNGs truncated, of the wrong bit depth or size, a PNG bomb, and
untrusted identifiers. Each runs through each command that reads that kind of input (see
:data:`READERS`) and must end with:

* exit status 1 or 2 and no traceback: every line on stderr is a ``labelgen:`` line, at least
  one of them ``labelgen: error: <file>: <problem>`` naming a file of the case (commands that
  go on, like ``derive``, print one such line per failed file);
* no partial file (no ``*.part`` temporary left, every PNG written decodes) and, for exit 2,
  nothing written at all;
* nothing written outside ``--out`` (the case folder holding the inputs is unchanged).

Most cases run in-process through :func:`labelgen.cli._main.main` (fast); a few run as real
``python -m labelgen`` processes to prove the real exit path.

Integrators: to put a new command through the corpus, add an ``argv`` builder for it to
the lists in :data:`READERS` (for instance ``READERS["building"].append(("validate", ...))``).
"""
from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from labelgen.cli import main

REPO = Path(__file__).resolve().parents[1]
RES = 8  # pixels per side of every image of the corpus: small, so that runs that get far stay fast


# -- valid inputs the malformed ones are made from -----------------------------------------

def room_trimesh():
    """A 4 x 4 x 3 m closed box room, faces pointing inward, with a box inside."""
    import trimesh

    room = trimesh.creation.box(extents=(4.0, 4.0, 3.0))
    room.apply_translation((0.0, 0.0, 1.5))
    room.invert()
    table = trimesh.creation.box(extents=(0.8, 0.8, 0.8))
    table.apply_translation((1.0, 0.0, 0.4))
    return trimesh.util.concatenate([room, table])


def point_info(**change):
    info = {"point_uuid": "0", "view_id": 0, "camera_location": [0.0, 0.0, 1.5],
            "camera_rotation_final": [math.pi / 2, 0.0, -math.pi / 2], "field_of_view_rads": 1.0,
            "resolution": RES}
    info.update(change)
    return info


def png_bytes(array) -> bytes:
    from labelgen.io._images import encode_png

    return encode_png(np.asarray(array))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 8-bit grey pixels."""
    head = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return head + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


@dataclass
class Base:
    """Valid inputs shared by the cases (a mesh, a camera file, a derivable building)."""

    mesh: Path
    cameras: Path
    building: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    d = tmp_path_factory.mktemp("fuzz-base")
    tm = room_trimesh()
    mesh = d / "room.ply"
    mesh.write_bytes(tm.export(file_type="ply"))
    cameras = d / "point_0_view_0_domain_point_info.json"
    cameras.write_text(json.dumps(point_info()))
    building = d / "building"
    for sub in ("depth_zbuffer", "point_info"):
        (building / sub).mkdir(parents=True)
    depth = np.full((RES, RES), 1500, np.uint16)
    (building / "depth_zbuffer" / "point_0_view_0_domain_depth_zbuffer.png").write_bytes(png_bytes(depth))
    (building / "point_info" / "point_0_view_0_domain_point_info.json").write_text(json.dumps(point_info()))
    return Base(mesh, cameras, building)


# -- the corpus ------------------------------------------------------------------------------

def _obj(vertices, faces, head="") -> bytes:
    lines = [head] if head else []
    lines += [f"v {x} {y} {z}" for x, y, z in vertices]
    lines += ["f " + " ".join(str(i) for i in f) for f in faces]
    return ("\n".join(lines) + "\n").encode()


TRI = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)]


def _ply_ascii(vertices, faces) -> bytes:
    head = ["ply", "format ascii 1.0", f"element vertex {len(vertices)}", "property float x",
            "property float y", "property float z", f"element face {len(faces)}",
            "property list uchar int vertex_indices", "end_header"]
    body = [" ".join(str(c) for c in v) for v in vertices] + [f"3 {a} {b} {c}" for a, b, c in faces]
    return ("\n".join(head + body) + "\n").encode()


def _valid(kind: str) -> bytes:
    data = room_trimesh().export(file_type=kind)
    return data.encode() if isinstance(data, str) else data


def _garbage(n=4096, seed=0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@dataclass
class Case:
    """One malformed input: ``files`` (relative name -> bytes) written into the case's input
    folder; ``target`` names the file or folder given to the command."""

    name: str
    kind: str  # "mesh", "cameras", "building" or "rooms": which commands read it (READERS)
    files: Callable[[], dict[str, bytes]]
    target: str
    extra: tuple[str, ...] = ()


def _mesh_cases():
    cases = []
    for ext in ("ply", "obj", "glb", "stl"):
        cases.append(Case(f"empty-{ext}", "mesh", lambda ext=ext: {f"m.{ext}": b""}, f"m.{ext}"))
        cases.append(Case(f"garbage-{ext}", "mesh", lambda ext=ext: {f"m.{ext}": _garbage(seed=len(ext))},
                          f"m.{ext}"))
    for ext, cut in (("ply", 0.5), ("glb", 0.5), ("stl", 0.3), ("obj", 0.02)):
        cases.append(Case(f"truncated-{ext}", "mesh",
                          lambda ext=ext, cut=cut: {f"m.{ext}": (lambda b: b[:int(len(b) * cut)])(_valid(ext))},
                          f"m.{ext}"))
    cases += [
        Case("glb-bad-json-chunk", "mesh",
             lambda: {"m.glb": b"glTF" + struct.pack("<II", 2, 40) + struct.pack("<I", 20) + b"JSON" + b"{not json!!}" +
                      b" " * 8}, "m.glb"),
        Case("gltf-invalid-json", "mesh", lambda: {"m.gltf": b'{"asset": {"version": "2.0"}, "meshes": ['}, "m.gltf"),
        Case("gltf-missing-buffer", "mesh", lambda: {"m.gltf": json.dumps({
            "asset": {"version": "2.0"}, "buffers": [{"uri": "missing.bin", "byteLength": 36}],
            "bufferViews": [{"buffer": 0, "byteLength": 36}],
            "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}], "nodes": [{"mesh": 0}],
            "scenes": [{"nodes": [0]}], "scene": 0}).encode()}, "m.gltf"),
        Case("obj-nan-vertex", "mesh", lambda: {"m.obj": _obj(TRI[:2] + [("nan", 1.0, 0.0)], [(1, 2, 3)])}, "m.obj"),
        Case("obj-inf-vertex", "mesh", lambda: {"m.obj": _obj(TRI[:2] + [("inf", 1.0, 0.0)], [(1, 2, 3)])}, "m.obj"),
        Case("ply-nan-vertex", "mesh", lambda: {"m.ply": _ply_ascii(TRI[:2] + [(float("nan"), 1.0, 0.0)],
                                                                    [(0, 1, 2)])}, "m.ply"),
        Case("obj-face-missing-vertex", "mesh", lambda: {"m.obj": _obj(TRI, [(1, 2, 99)])}, "m.obj"),
        Case("ply-face-missing-vertex", "mesh", lambda: {"m.ply": _ply_ascii(TRI, [(0, 1, 7)])}, "m.ply"),
        Case("obj-no-faces", "mesh", lambda: {"m.obj": _obj(TRI, [])}, "m.obj"),
        Case("stl-ascii-garbage", "mesh", lambda: {"m.stl": b"solid x\n facet normal a b c\n outer loop\n"}, "m.stl"),
        Case("off-bad-counts", "mesh", lambda: {"m.off": b"OFF\n9 9 0\n0 0 0\n"}, "m.off"),
        Case("mesh-is-folder", "mesh", lambda: {"m.ply/keep": b""}, "m.ply"),
        Case("mesh-unsupported-format", "mesh", lambda: {"m.xyz": b"0 0 0\n"}, "m.xyz"),
        Case("mesh-missing", "mesh", lambda: {}, "nothing.ply"),
        # OBJ with a missing MTL or texture: the geometry loads, the rgb label cannot be made
        Case("obj-missing-mtl", "mesh-rgb", lambda: {"m.obj": _obj([tuple(v) for v in room_trimesh().vertices],
                                                                   (room_trimesh().faces + 1).tolist(),
                                                                   "mtllib missing.mtl\nusemtl wood")}, "m.obj"),
        Case("obj-missing-texture", "mesh-rgb", lambda: {
            "m.obj": _obj([tuple(v) for v in room_trimesh().vertices], (room_trimesh().faces + 1).tolist(),
                          "mtllib m.mtl\nusemtl wood"),
            "m.mtl": b"newmtl wood\nKd 1 1 1\nmap_Kd missing.png\n"}, "m.obj"),
    ]
    return cases


def _camera_cases():
    def pi_file(**change):
        return lambda: {"point_0_view_0_domain_point_info.json": json.dumps(point_info(**change)).encode()}

    target = "point_0_view_0_domain_point_info.json"
    cases = [
        Case("camera-empty-file", "cameras", lambda: {"c.json": b""}, "c.json"),
        Case("camera-invalid-json", "cameras", lambda: {"c.json": b'{"camera_location": [0, 0,'}, "c.json"),
        Case("camera-not-utf8", "cameras", lambda: {"c.json": b'{"a": "\xff\xfe"}'}, "c.json"),
        Case("camera-deep-nesting", "cameras", lambda: {"c.json": b"[" * 200000 + b"]" * 200000}, "c.json"),
        Case("camera-null", "cameras", lambda: {"c.json": b"null"}, "c.json"),
        Case("camera-list-of-numbers", "cameras", lambda: {"c.json": b"[1, 2, 3]"}, "c.json"),
        Case("camera-location-string", "cameras", pi_file(camera_location="here"), target),
        Case("camera-location-nested", "cameras", pi_file(camera_location=[[0.0, 0.0, 1.5]]), target),
        Case("camera-location-infinite", "cameras",
             lambda: {target: json.dumps(point_info()).replace("[0.0, 0.0, 1.5]", "[1e400, 0, 1.5]").encode()},
             target),
        Case("camera-location-nan", "cameras",
             lambda: {target: json.dumps(point_info()).replace("[0.0, 0.0, 1.5]", "[NaN, 0, 1.5]").encode()},
             target),
        Case("camera-rotation-missing", "cameras",
             lambda: {target: json.dumps({k: v for k, v in point_info().items()
                                          if k != "camera_rotation_final"}).encode()}, target),
        Case("camera-fov-string", "cameras", pi_file(field_of_view_rads="wide"), target),
        Case("camera-fov-huge", "cameras", pi_file(field_of_view_rads=1e308), target),
        Case("camera-resolution-huge", "cameras", pi_file(resolution=100000), target),
        Case("camera-resolution-1e20", "cameras", pi_file(resolution=1e20), target),
        Case("camera-resolution-negative", "cameras", pi_file(resolution=-5), target),
        Case("camera-resolution-bool", "cameras", pi_file(resolution=True), target),
        Case("camera-resolution-text", "cameras", pi_file(resolution="big"), target),
        Case("camera-duplicated-views", "cameras", lambda: {
            "a_point_info.json": json.dumps(point_info()).encode(),
            "b_point_info.json": json.dumps(point_info()).encode()}, "."),
        Case("poses-not-objects", "cameras", lambda: {"camera_poses.json": b'["a", "b"]'}, "camera_poses.json"),
        Case("poses-zero-quaternion", "cameras", lambda: {"camera_poses.json": json.dumps([
            {"location": [0, 0, 1.5], "rotation_quaternion": [0, 0, 0, 0], "field_of_view_rads": 1.0,
             "resolution": RES}]).encode()}, "camera_poses.json"),
        Case("poses-quaternion-wrong-length", "cameras", lambda: {"camera_poses.json": json.dumps([
            {"location": [0, 0, 1.5], "rotation_quaternion": [1, 0, 0], "field_of_view_rads": 1.0}]).encode()},
             "camera_poses.json"),
    ]
    for bad in ("../../../../tmp/x", "../x", "/tmp/abs", "", "a\x00b", "a_b", -3, True, None, 1.5, [1]):
        tag = repr(bad).strip("'\"").replace("/", "S").replace("\\", "B").replace(".", "D")[:12]
        cases.append(Case(f"camera-point-uuid-{tag}", "cameras", pi_file(point_uuid=bad), target))
        cases.append(Case(f"camera-point-uuid-{tag}-unnamed", "cameras",
                          lambda bad=bad: {"c.json": json.dumps(point_info(point_uuid=bad)).encode()}, "c.json"))
        cases.append(Case(f"camera-view-id-{tag}", "cameras", pi_file(view_id=bad), target))
        cases.append(Case(f"poses-camera-id-{tag}", "cameras", lambda bad=bad: {"camera_poses.json": json.dumps([
            {"camera_id": bad, "location": [0, 0, 1.5], "rotation_quaternion": [1, 0, 0, 0],
             "field_of_view_rads": 1.0, "resolution": RES}]).encode()}, "camera_poses.json"))
    return cases


def _building_cases():
    def view(depth: bytes | None = None, info=None, extra=None, name="point_0_view_0"):
        files = {f"b/point_info/{name}_domain_point_info.json": json.dumps(info or point_info()).encode()}
        files[f"b/depth_zbuffer/{name}_domain_depth_zbuffer.png"] = (
            png_bytes(np.full((RES, RES), 1500, np.uint16)) if depth is None else depth)
        files.update(extra or {})
        return files

    good = png_bytes(np.full((RES, RES), 1500, np.uint16))
    return [
        Case("png-empty", "building", lambda: view(b""), "b"),
        Case("png-truncated", "building", lambda: view(good[:len(good) // 2]), "b"),
        Case("png-garbage", "building", lambda: view(_garbage(300)), "b"),
        Case("png-8-bit-depth", "building", lambda: view(png_bytes(np.full((RES, RES), 150, np.uint8))), "b"),
        Case("png-rgb-depth", "building", lambda: view(png_bytes(np.zeros((RES, RES, 3), np.uint8))), "b"),
        Case("png-sizes-differ", "building", lambda: view(extra={
            "b/normal/point_0_view_0_domain_normal.png": png_bytes(np.full((RES + 4, RES, 3), 128, np.uint8))}),
             "b", ("--tasks", "segment_unsup25d")),
        Case("png-bomb", "building", lambda: view(png_bomb(100000, 100000)), "b"),
        Case("png-over-max-pixels", "building", lambda: view(), "b", ("--max-pixels", "32")),
        Case("derive-point-info-broken", "building", lambda: view(info={"resolution": RES}), "b",
             ("--tasks", "keypoints3d")),
        Case("derive-point-uuid-traversal", "building",
             lambda: view(info=point_info(point_uuid="../../../../tmp/x")), "b", ("--tasks", "keypoints3d")),
        Case("derive-file-name-dotdot", "building", lambda: view(name="point_.._view_0"), "b"),
        Case("derive-file-name-dot-view", "building", lambda: view(name="point_0_view_."), "b"),
        Case("derive-no-label-files", "building", lambda: {"b/readme.txt": b"nothing here"}, "b"),
    ]


def _rooms_cases():
    def rooms(obj) -> Callable[[], dict[str, bytes]]:
        return lambda: {"rooms.json": obj if isinstance(obj, bytes) else json.dumps(obj).encode()}

    box = {"x": [-2, 2], "y": [-2, 2], "z": [0, 3]}
    cases = [Case("rooms-invalid-json", "rooms", rooms(b"{"), "rooms.json"),
             Case("rooms-wrong-type", "rooms", rooms({"hall": [1, 2]}), "rooms.json"),
             Case("rooms-range-reversed", "rooms", rooms({"hall": {**box, "x": [2, -2]}}), "rooms.json")]
    for bad in ("../../../../tmp/x", "../x", "/tmp/abs", "", "a\x00b"):
        tag = bad.replace("/", "S").replace(".", "D").replace("\x00", "0")[:12] or "empty"
        cases.append(Case(f"rooms-name-{tag}", "rooms", rooms({bad: box}), "rooms.json"))
    return cases


CASES = _mesh_cases() + _camera_cases() + _building_cases() + _rooms_cases()


# -- commands that read each kind of input ---------------------------------------------------

def _render_mesh(inp, out, base, extra):
    return ["render", str(inp), "--cameras", str(base.cameras), "--out", str(out), "--tasks", "depth_zbuffer",
            "--quiet", "--no-cache", *extra]


def _render_mesh_rgb(inp, out, base, extra):
    return ["render", str(inp), "--cameras", str(base.cameras), "--out", str(out), "--tasks", "rgb",
            "--quiet", "--no-cache", *extra]


def _sample_mesh(inp, out, base, extra):
    return ["sample", str(inp), "--out", str(out), "--num-cameras", "3", "--num-points", "2",
            "--min-views-per-point", "1", "--resolution", str(RES), "--quiet", *extra]


def _render_cameras(inp, out, base, extra):
    return ["render", str(base.mesh), "--cameras", str(inp), "--out", str(out), "--tasks", "depth_zbuffer",
            "--quiet", "--no-cache", *extra]


def _derive(inp, out, base, extra):
    return ["derive", str(inp), "--out", str(out), "--quiet", *(extra or ("--tasks", "keypoints3d,edge_occlusion"))]


def _derive_cameras(inp, out, base, extra):
    """A camera file as the point_info of a building view with a valid depth image."""
    building = inp.parent / "derive_building"
    (building / "point_info").mkdir(parents=True)
    (building / "point_info" / "point_0_view_0_domain_point_info.json").write_bytes(inp.read_bytes())
    depth = base.building / "depth_zbuffer" / "point_0_view_0_domain_depth_zbuffer.png"
    (building / "depth_zbuffer").mkdir()
    (building / "depth_zbuffer" / depth.name).write_bytes(depth.read_bytes())
    return ["derive", str(building), "--out", str(out), "--quiet", "--tasks", "keypoints3d", *extra]


def _sample_rooms(inp, out, base, extra):
    return ["sample", str(base.mesh), "--rooms", str(inp), "--out", str(out), "--num-cameras", "3",
            "--num-points", "2", "--min-views-per-point", "1", "--resolution", str(RES), "--quiet", *extra]


def _validate(inp, out, base, extra):
    # every check validate can make (the cases' --tasks name labels that are not shipped)
    extra = [a for i, a in enumerate(extra) if a != "--tasks" and (i == 0 or extra[i - 1] != "--tasks")]
    return ["validate", str(inp), "--report", str(out), "--quiet", *extra]


def _validate_fit(inp, out, base, extra):
    """The same with --fit: the fit reads the same files first and must not stop on them."""
    return _validate(inp, out, base, extra) + ["--fit"]


def _batch_mesh(inp, out, base, extra):
    """A jobs file (written beside the input) that renders the malformed mesh."""
    jobs = inp.parent / "jobs.json"
    jobs.write_text(json.dumps({"defaults": {"tasks": ["depth_zbuffer"]},
                                "jobs": [{"building": "b", "render": {"mesh": inp.name, "cameras": str(base.cameras)}}]}))
    return ["batch", str(jobs), "--out", str(out), "--quiet", "--workers", "1", *extra]


#: kind of input -> [(command name, argv builder(input path, out folder, Base, extra args))].
#: Extend these lists to put another command (validate, batch) through the whole corpus.
READERS: dict[str, list[tuple[str, Callable]]] = {
    "mesh": [("render", _render_mesh), ("sample", _sample_mesh), ("batch", _batch_mesh)],
    "mesh-rgb": [("render", _render_mesh_rgb)],
    "cameras": [("render", _render_cameras), ("derive", _derive_cameras)],
    "building": [("derive", _derive), ("validate", _validate), ("validate-fit", _validate_fit)],
    "rooms": [("sample", _sample_rooms)],
}

#: batch starts a pool of worker processes, one even with --workers 1: those runs are slow
RUNS = [pytest.param(case, command, build, id=f"{command}-{case.name}",
                     marks=pytest.mark.slow if command == "batch" else ())
        for case in CASES for command, build in READERS[case.kind]
        if not (build is _derive_cameras and case.target == ".")]  # a folder of camera files is no view


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def _setup(case: Case, tmp_path: Path):
    case_dir = tmp_path / "case"
    inputs = case_dir / "in"
    inputs.mkdir(parents=True)
    for name, data in case.files().items():
        p = inputs / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return case_dir, inputs, case_dir / "out"


def check_outcome(rc, err: str, case_dir: Path, inputs: Path, out: Path, before: dict):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc in (1, 2), f"exit {rc}, stderr:\n{err}"
    assert "Traceback" not in err, err
    assert all(ln.startswith("labelgen: ") for ln in lines), f"stray stderr lines:\n{err}"
    errors = [ln for ln in lines if ln.startswith("labelgen: error: ")]
    assert errors, f"no error line:\n{err}"
    assert all(str(inputs) in ln for ln in errors), f"an error line names no input file:\n{err}"
    # nothing written beside the inputs, outside --out
    after = {k: v for k, v in _snapshot(case_dir).items() if not k.startswith("out")}
    assert after == before
    # no partial file
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not [p for p in written if p.name.endswith(".part")]
    if rc == 2:
        assert written == [], written
    from labelgen.io._images import read_png

    for p in written:
        if p.suffix == ".png":
            read_png(p)
        elif p.suffix == ".json":
            json.loads(p.read_text())


def test_corpus_size():
    """At least 40 generated malformed inputs, each through every command that reads its kind."""
    assert len(CASES) >= 40
    assert {"render", "derive", "sample", "validate", "batch"} <= {c for readers in READERS.values() for c, _ in readers}


@pytest.mark.parametrize("case, command, build", RUNS)
def test_fuzz_in_process(case, command, build, base, tmp_path, capsys):
    case_dir, inputs, out = _setup(case, tmp_path)
    argv = build(inputs / case.target, out, base, case.extra)
    before = _snapshot(case_dir)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    check_outcome(rc, err, case_dir, inputs, out, before)


SUBPROCESS = ["garbage-glb", "camera-point-uuid-DDSDDSDDSDDS", "png-truncated", "camera-resolution-huge"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBPROCESS)
def test_fuzz_real_process(name, base, tmp_path):
    """The real exit path: ``python -m labelgen`` prints one error line and exits non-zero."""
    case = next(c for c in CASES if c.name == name)
    command, build = READERS[case.kind][0]
    case_dir, inputs, out = _setup(case, tmp_path)
    argv = build(inputs / case.target, out, base, case.extra)
    before = _snapshot(case_dir)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "labelgen", *argv],
                          capture_output=True, text=True, env=env, timeout=300)
    check_outcome(proc.returncode, proc.stderr, case_dir, inputs, out, before)
