"""Omnidata's extra outputs: fragments, semantic labels, equirectangular panoramas, quaternion.

References: triangle ids from trimesh's pure-numpy ray/triangle intersector (independent of
Open3D's Embree), analytic ray/box distances, hand-written PLY/OBJ files, and Hamilton
products for the quaternion.
"""
from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

import labelgen
from labelgen.camera._cameras import Camera, quaternion_wxyz, read_cameras
from labelgen.camera._rotations import matrix_from_euler as rotation_xyz
from labelgen.cli import main
from labelgen.io._images import read_png
from labelgen.labels.surface_ids import decode_fragments, decode_semantic, semantic_table
from labelgen.io._meshes import Mesh, load_mesh
from labelgen.render._panorama import pixel_of_direction
from labelgen.render._renderers import make_renderer
from labelgen.engine import default_render_tasks, render_building, render_view

ROOM_LO, ROOM_HI = np.array([-2.0, -1.5, 0.0]), np.array([3.0, 2.5, 2.7])


def grid_box(lo, hi, n):
    """A box of quads, each face split n x n; outward winding; returns vertices, quads."""
    verts, quads = [], []
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        for side in (0, 1):
            base = len(verts)
            for a in range(n + 1):
                for b in range(n + 1):
                    p = np.empty(3)
                    p[axis] = hi[axis] if side else lo[axis]
                    p[u] = lo[u] + (hi[u] - lo[u]) * a / n
                    p[v] = lo[v] + (hi[v] - lo[v]) * b / n
                    verts.append(p)
            for a in range(n):
                for b in range(n):
                    q = [base + a * (n + 1) + b, base + (a + 1) * (n + 1) + b,
                         base + (a + 1) * (n + 1) + b + 1, base + a * (n + 1) + b + 1]
                    quads.append(q if side else q[::-1])
    return np.array(verts), np.array(quads, dtype=np.int64)


def scene_quads():
    """A room of quads with two boxes inside (many faces of several sizes)."""
    v1, q1 = grid_box(ROOM_LO, ROOM_HI, 6)
    v2, q2 = grid_box([0.5, 0.2, 0.0], [1.3, 1.0, 0.9], 3)
    v3, q3 = grid_box([-1.2, -1.0, 0.4], [-0.6, -0.3, 1.6], 2)
    verts = np.concatenate([v1, v2, v3])
    quads = np.concatenate([q1, q2 + len(v1), q3 + len(v1) + len(v2)])
    return verts, quads


def split_quads(quads):
    """Triangles of quads (my own order: both halves of each quad in turn) and their quad index."""
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return tris, np.concatenate([np.arange(len(quads)), np.arange(len(quads))])


def write_ply(path, verts, polys, face_props):
    """Binary little-endian PLY with per-face properties ``[(name, ply_type, values)]``."""
    codes = {"uchar": "B", "int": "i", "ushort": "H"}
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {len(verts)}", "property float x",
             "property float y", "property float z", f"element face {len(polys)}",
             "property list uchar int vertex_indices"]
    lines += [f"property {t} {name}" for name, t, _ in face_props]
    lines.append("end_header")
    body = bytearray(np.asarray(verts, "<f4").tobytes())
    for k, poly in enumerate(polys):
        body += struct.pack(f"<B{len(poly)}i", len(poly), *[int(i) for i in poly])
        for name, t, values in face_props:
            body += struct.pack("<" + codes[t], int(values[k]))
    path.write_bytes(("\n".join(lines) + "\n").encode() + bytes(body))


def reference_triangles(verts, tris, camera):
    """(H, W) id of the first triangle hit by each pixel-centre ray (-1 for none): brute-force
    Moller-Trumbore in float64 over every (ray, triangle) pair, in numpy."""
    if camera.model == "perspective":
        d = camera.pixel_directions()
    else:
        d = panorama_directions(camera.width, camera.height)
    dirs = d.reshape(-1, 3) @ camera.rotation.T
    a = verts[tris[:, 0]]
    e1, e2 = verts[tris[:, 1]] - a, verts[tris[:, 2]] - a
    s = camera.location - a
    out = np.full(len(dirs), -1)
    for start in range(0, len(dirs), 512):
        dd = dirs[start:start + 512, None, :]
        p = np.cross(dd, e2)
        det = np.sum(e1 * p, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.sum(s * p, axis=-1) / det
            q = np.cross(s, e1)
            v = np.sum(dd * q, axis=-1) / det
            t = np.sum(e2 * q, axis=-1) / det
        ok = (det != 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        t = np.where(ok, t, np.inf)
        best = np.argmin(t, axis=1)
        out[start:start + 512] = np.where(np.isfinite(t[np.arange(len(best)), best]), best, -1)
    return out.reshape(camera.height, camera.width)


def panorama_directions(w, h):
    """The issue's convention, written out: (cos lat sin lon, sin lat, -cos lat cos lon)."""
    lon = 2 * np.pi * (np.arange(w) + 0.5) / w - np.pi
    lat = np.pi / 2 - np.pi * (np.arange(h) + 0.5) / h
    lon, lat = np.meshgrid(lon, lat)
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), -np.cos(lat) * np.cos(lon)], axis=-1)


def interior(labels):
    """Pixels whose 3x3 neighbourhood holds one value of ``labels`` (H, W) (or (H, W, C))."""
    lab = labels if labels.ndim == 2 else labels.astype(np.int64) @ np.array([1, 1 << 8, 1 << 16])
    h, w = lab.shape
    ok = np.zeros((h, w), bool)
    c = lab[1:-1, 1:-1]
    ok[1:-1, 1:-1] = True
    for dj in (-1, 0, 1):
        for di in (-1, 0, 1):
            ok[1:-1, 1:-1] &= lab[1 + dj:h - 1 + dj, 1 + di:w - 1 + di] == c
    return ok


CAMS = [
    Camera.look_at([2.4, 2.0, 1.6], [0.0, -0.5, 0.8], fov=1.3, width=96, height=72, point="0", view="0"),
    Camera.look_at([-1.5, 2.1, 2.0], [1.0, 0.4, 0.5], fov=1.1, width=80, height=80, point="0", view="1"),
]


@pytest.fixture(scope="module")
def quad_scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("quads")
    verts, quads = scene_quads()
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, size=(len(quads), 3))
    objects = rng.integers(-1, 40, size=len(quads))
    # face colours on triangles (trimesh cannot read face colours on quads); both halves of a quad
    # get the quad's colour, so the expected label is the quad's either way
    tris, quad_of = split_quads(quads)
    tc = colours[quad_of]
    write_ply(d / "coloured.ply", verts, tris, [("red", "uchar", tc[:, 0]), ("green", "uchar", tc[:, 1]),
                                                ("blue", "uchar", tc[:, 2])])
    sem = d / "replica"
    sem.mkdir()
    write_ply(sem / "mesh_semantic.ply", verts, quads, [("object_id", "int", objects)])
    id_to_label = [int(x) for x in rng.integers(-1, 90, size=40)]
    (sem / "info_semantic.json").write_text(json.dumps({"classes": [], "id_to_label": id_to_label}))
    return {"dir": d, "verts": verts, "quads": quads, "colours": colours, "objects": objects,
            "id_to_label": id_to_label}


# -- fragments ----------------------------------------------------------------------------

def test_fragments_decode_to_ray_cast_triangles_and_agree_across_views(quad_scene):
    mesh = load_mesh(quad_scene["dir"] / "coloured.ply")
    renderer = make_renderer(mesh)
    maps, refs = [], []
    for cam in CAMS:
        labels, skipped = render_view(renderer, cam, tasks=["fragments"])
        frag = labels["fragments"]
        assert frag.dtype == np.uint8 and frag.shape == (cam.height, cam.width, 3)
        ids = decode_fragments(frag)
        ref = reference_triangles(mesh.vertices, mesh.faces, cam)
        assert np.mean(ids == ref) >= 0.999
        maps.append((cam, ids))
        refs.append(ref)
    # the same triangle seen from both views has the same value: each triangle's centroid,
    # projected into each view where the reference ray cast sees that triangle there
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    seen_in_both = 0
    for t in range(len(mesh.faces)):
        values = []
        for (cam, ids), ref in zip(maps, refs):
            if cam.world_to_camera(centroids[t])[2] >= 0:
                continue
            col, row = np.rint(cam.project(centroids[t])).astype(int)
            if 0 <= col < cam.width and 0 <= row < cam.height and ref[row, col] == t:
                values.append(ids[row, col])
        assert all(v == t for v in values)
        seen_in_both += len(values) == 2
    assert seen_in_both >= 20
    # the encoding itself: index + 1 in 24 bits, R most significant, 0 = no surface
    frag = maps[0][1]
    enc = render_view(renderer, CAMS[0], tasks=["fragments"])[0]["fragments"].astype(np.int64)
    assert np.array_equal(enc[..., 0] * 65536 + enc[..., 1] * 256 + enc[..., 2], frag + 1)


def test_fragments_empty_pixels_and_large_indices():
    from labelgen.labels.surface_ids import encode_fragments

    tri = np.array([[-1, 0, 1], [255, 65535, (1 << 24) - 2]])
    enc = encode_fragments(tri)
    assert enc[0, 0].tolist() == [0, 0, 0]
    assert enc[1, 1].tolist() == [1, 0, 0]
    assert enc[1, 2].tolist() == [255, 255, 255]
    assert np.array_equal(decode_fragments(enc), tri)


def test_fragments_same_with_pyrender(quad_scene):
    mesh = load_mesh(quad_scene["dir"] / "coloured.ply")
    try:
        gl = make_renderer(mesh, "pyrender")
        gl.render(CAMS[0])
    except Exception as err:  # no OpenGL / EGL here
        pytest.skip(f"pyrender/EGL not usable here: {err}")
    a = decode_fragments(render_view(make_renderer(mesh), CAMS[0], tasks=["fragments"])[0]["fragments"])
    b = decode_fragments(render_view(gl, CAMS[0], tasks=["fragments"])[0]["fragments"])
    assert np.mean(a == b) >= 0.999
    pano = CAMS[0].with_model("equirectangular")  # panoramas are ray cast under either renderer
    a = render_view(make_renderer(mesh), pano, tasks=["fragments"])[0]["fragments"]
    b = render_view(gl, pano, tasks=["fragments"])[0]["fragments"]
    assert np.array_equal(a, b)


# -- semantic -----------------------------------------------------------------------------

def _semantic_agreement(mesh, cam, expected_per_quad, quad_scene):
    sem = render_view(make_renderer(mesh), cam, tasks=["semantic"])[0]["semantic"]
    tris, quad_of = split_quads(quad_scene["quads"])
    ref = reference_triangles(quad_scene["verts"], tris, cam)
    want = np.zeros(sem.shape, np.uint8)
    want[ref >= 0] = expected_per_quad[quad_of[ref[ref >= 0]]]
    keep = interior(np.where(ref >= 0, quad_of[ref], -1))
    assert keep.sum() > 0.3 * keep.size
    return np.mean(np.all(sem == want, axis=-1)[keep])


def test_semantic_face_coloured_ply(quad_scene):
    mesh = load_mesh(quad_scene["dir"] / "coloured.ply")
    assert semantic_table(mesh).kind == "colour"
    assert "semantic" in default_render_tasks(mesh)
    assert "fragments" not in default_render_tasks(mesh)
    for cam in CAMS:
        assert _semantic_agreement(mesh, cam, quad_scene["colours"].astype(np.uint8), quad_scene) >= 0.999


def test_semantic_object_id_ply_with_info_semantic(quad_scene):
    mesh = load_mesh(quad_scene["dir"] / "replica" / "mesh_semantic.ply")
    assert semantic_table(mesh).kind == "object_id"
    objs = quad_scene["objects"]
    labels = quad_scene["id_to_label"]
    cls = np.array([max(labels[o], 0) if o >= 0 else 0 for o in objs])
    expected = np.stack([cls, np.where(objs >= 0, objs, 0) >> 8, np.where(objs >= 0, objs, 0) & 255], -1)
    for cam in CAMS:
        assert _semantic_agreement(mesh, cam, expected.astype(np.uint8), quad_scene) >= 0.999
    sem = render_view(make_renderer(mesh), CAMS[0], tasks=["semantic"])[0]["semantic"]
    dec = decode_semantic(sem)
    assert set(np.unique(dec[..., 1])) <= set(np.where(objs >= 0, objs, 0).tolist())


def test_semantic_mesh_apart_from_the_rendered_one(quad_scene, tmp_path):
    """--semantic-mesh: labels cast against a separate labelled mesh (here an unlabelled copy
    of the geometry as triangles is rendered, the quad PLY carries the labels)."""
    tris, _ = split_quads(quad_scene["quads"])
    plain = Mesh.from_arrays(quad_scene["verts"], tris)
    assert semantic_table(plain).colours is None
    assert "semantic" not in default_render_tasks(plain)
    labelled = load_mesh(quad_scene["dir"] / "coloured.ply")
    from labelgen.labels.surface_ids import attach_semantic_mesh

    attach_semantic_mesh(plain, labelled)
    assert "semantic" in default_render_tasks(plain)
    a = render_view(make_renderer(plain), CAMS[1], tasks=["semantic"])[0]["semantic"]
    b = render_view(make_renderer(labelled), CAMS[1], tasks=["semantic"])[0]["semantic"]
    assert np.mean(np.all(a == b, axis=-1)) >= 0.999


def test_semantic_obj_materials(tmp_path):
    """OBJ: a label per material name; opt-in (not in the default set)."""
    verts, quads = grid_box(ROOM_LO, ROOM_HI, 1)
    lines = ["mtllib room.mtl"] + [f"v {x} {y} {z}" for x, y, z in verts]
    # floor + ceiling (axis 2) in material B, the walls in A
    for k, q in enumerate(quads):
        lines.append("usemtl " + ("B" if k >= 4 else "A"))
        lines.append("f " + " ".join(str(i + 1) for i in q))
    (tmp_path / "room.obj").write_text("\n".join(lines) + "\n")
    (tmp_path / "room.mtl").write_text("newmtl A\nKd 0.5 0.5 0.5\nnewmtl B\nKd 0.2 0.3 0.4\n")
    mesh = load_mesh(tmp_path / "room.obj")
    assert semantic_table(mesh).kind == "material"
    assert "semantic" not in default_render_tasks(mesh)
    cam = Camera.look_at([0.5, 0.5, 1.3], [2.0, 1.0, 0.5], fov=1.4, width=64, height=48)
    labels, skipped = render_view(make_renderer(mesh), cam, tasks=["semantic"])
    dec = decode_semantic(labels["semantic"])
    gb = make_renderer(mesh).render(cam)
    normal_z = np.abs(mesh.face_normals()[gb.triangle][..., 2])
    floor = normal_z > 0.9  # floor/ceiling (material B) vs walls (material A)
    names = [labelgen.labels.surface_ids._material_name(tm) for _, tm in mesh.parts]
    number = {n: k + 1 for k, n in enumerate(dict.fromkeys(names))}
    assert np.all(dec[..., 0] == 0)
    assert np.all(dec[floor][:, 1] == number["B"]) and np.all(dec[~floor][:, 1] == number["A"])


def test_semantic_unusable_info_json_is_reported(tmp_path, quad_scene):
    verts, quads = grid_box(ROOM_LO, ROOM_HI, 1)
    write_ply(tmp_path / "m.ply", verts, quads, [("object_id", "int", np.arange(len(quads)))])
    (tmp_path / "info_semantic.json").write_text("{not json")
    mesh = load_mesh(tmp_path / "m.ply")
    labels, skipped = render_view(make_renderer(mesh), CAMS[0], tasks=["semantic", "depth_euclidean"])
    assert "depth_euclidean" in labels and "info_semantic.json" in skipped["semantic"]


# -- panoramas ----------------------------------------------------------------------------

def box_distance(origin, dirs, lo, hi):
    """Distance from ``origin`` inside the box to its walls along unit ``dirs`` (..., 3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dirs > 0, (hi - origin) / dirs, np.where(dirs < 0, (lo - origin) / dirs, np.inf))
    return t.min(axis=-1)


@pytest.fixture(scope="module")
def room():
    from tests.conftest import box_mesh

    v, f = box_mesh(ROOM_LO, ROOM_HI)
    return Mesh.from_arrays(v, f)


PANO_CAM = Camera.from_euler([0.3, 0.2, 1.2], [1.45, 0.12, 0.7], 1.2, 64, 256, point="4").with_model("equirectangular")


def test_equirectangular_depth_matches_analytic_box(room):
    cam = PANO_CAM
    assert (cam.width, cam.height, cam.view) == (512, 256, "equirectangular")
    labels, skipped = render_view(make_renderer(room), cam, tasks=["depth_euclidean", "mask_valid", "depth_zbuffer"])
    assert "depth_zbuffer" in skipped and "panorama" in skipped["depth_zbuffer"]
    depth = labels["depth_euclidean"].astype(np.float64)
    dirs = panorama_directions(cam.width, cam.height) @ cam.rotation.T
    t = box_distance(cam.location, dirs, ROOM_LO, ROOM_HI)
    want = np.rint(t * 512)
    # non-edge: the hit is not within 1 cm of a second wall
    hits = cam.location + dirs * t[..., None]
    near = (np.abs(hits - ROOM_LO) < 0.01) | (np.abs(hits - ROOM_HI) < 0.01)
    keep = near.sum(axis=-1) <= 1
    assert np.mean(np.abs(depth - want)[keep] <= 1) >= 0.999
    assert np.all(labels["mask_valid"] == 255)


def test_equirectangular_agrees_with_perspective_views(room):
    renderer = make_renderer(room)
    pano_cam = Camera.from_euler([0.3, 0.2, 1.2], [1.45, 0.12, 0.7], 1.2, 64, 1024).with_model("equirectangular")
    pano = render_view(renderer, pano_cam, tasks=["depth_euclidean"])[0]["depth_euclidean"].astype(np.float64)
    for euler, fov in (([1.45, 0.12, 0.7], 1.2), ([0.3, -0.4, 2.9], 1.0), ([2.6, 0.0, -1.2], 1.5)):
        cam = Camera.from_euler(pano_cam.location, euler, fov, 64, 48)
        persp = render_view(renderer, cam, tasks=["depth_euclidean"])[0]["depth_euclidean"].astype(np.float64)
        # perspective pixel directions, in the panorama camera's frame
        d = cam.pixel_directions() @ cam.rotation.T @ pano_cam.rotation
        cr = pixel_of_direction(d, pano_cam.width, pano_cam.height) - 0.5  # continuous pixel index
        c0, r0 = np.floor(cr[..., 0]).astype(int), np.floor(cr[..., 1]).astype(int)
        fc, fr = cr[..., 0] - c0, cr[..., 1] - r0
        c1 = (c0 + 1) % pano_cam.width
        c0 %= pano_cam.width
        r0, r1 = np.clip(r0, 0, pano_cam.height - 1), np.clip(r0 + 1, 0, pano_cam.height - 1)
        value = ((1 - fr) * ((1 - fc) * pano[r0, c0] + fc * pano[r0, c1])
                 + fr * ((1 - fc) * pano[r1, c0] + fc * pano[r1, c1]))
        dirs = cam.pixel_directions() @ cam.rotation.T
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        hits = cam.location + dirs * box_distance(cam.location, dirs, ROOM_LO, ROOM_HI)[..., None]
        near = (np.abs(hits - ROOM_LO) < 0.02) | (np.abs(hits - ROOM_HI) < 0.02)
        keep = near.sum(axis=-1) <= 1
        assert np.all(np.abs(value - persp)[keep] <= 1.0)


def test_equirectangular_normals_in_camera_frame(room):
    cam = Camera.from_euler([0.3, 0.2, 1.2], [math.pi / 2, 0.0, 0.4], 1.2, 64, 64).with_model("equirectangular")
    labels, _ = render_view(make_renderer(room), cam, tasks=["normal", "reshading"])
    n = labels["normal"].astype(np.float64) / 127.5 - 1
    # floor in the bottom rows faces up: camera +y (up) = OpenCV -y
    assert np.allclose(n[-3:, :, 1], -1, atol=0.01)
    assert np.allclose(n[:3, :, 1], 1, atol=0.01)
    # every normal faces the camera: n . ray < 0 (ray in OpenCV axes)
    d = panorama_directions(cam.width, cam.height) * np.array([1, -1, -1])
    assert np.all(np.sum(n * d, axis=-1) < 0.05)
    # reshading from the same formula as perspective views
    dist = box_distance(cam.location, panorama_directions(cam.width, cam.height) @ cam.rotation.T, ROOM_LO, ROOM_HI)
    cos = np.clip(-np.sum(n * d, axis=-1), 0, 1)
    want = np.rint(np.clip(1.6 * 8 / (8 + dist ** 2) * cos, 0, 1) * 255)
    assert np.mean(np.abs(labels["reshading"][..., 0] - want) <= 2) > 0.99


def test_pixel_of_direction_inverts_the_ray_convention():
    d = panorama_directions(40, 20)
    cr = pixel_of_direction(d, 40, 20)
    j, i = np.mgrid[0:20, 0:40]
    assert np.allclose(cr[..., 0], i + 0.5) and np.allclose(cr[..., 1], j + 0.5)
    from labelgen.render._panorama import directions

    assert np.allclose(directions(40, 20), d, atol=1e-12)


def test_cli_renders_panoramas_with_omnidata_names(tmp_path, quad_scene):
    poses = [{"camera_id": "a", "location": [0.3, 0.2, 1.2], "rotation_quaternion": [0.7071, 0.7071, 0, 0],
              "resolution": 32}]
    (tmp_path / "camera_poses.json").write_text(json.dumps(poses))
    out = tmp_path / "out"
    rc = main(["render", str(quad_scene["dir"] / "coloured.ply"), "--cameras", str(tmp_path / "camera_poses.json"),
               "--camera-model", "equirectangular", "--out", str(out), "--quiet",
               "--tasks", "depth_euclidean,normal,semantic,fragments,edge_texture"])
    assert rc == 0
    for domain in ("depth_euclidean", "normal", "semantic", "fragments"):
        img = read_png(out / domain / f"point_0_view_equirectangular_domain_{domain}.png")
        assert img.shape[:2] == (32, 64)
    assert not (out / "edge_texture").exists()
    info = json.loads((out / "point_info" / "point_0_view_equirectangular_domain_point_info.json").read_text())
    assert info["camera_model"] == "equirectangular" and info["resolution"] == [64, 32]
    # the point_info written is itself a camera file for the same panorama
    cam = read_cameras(out / "point_info")[0]
    assert (cam.model, cam.width, cam.height) == ("equirectangular", 64, 32)
    # derive skips panoramas' files: the image-derived labels need an image plane
    summary = labelgen.derive_building(out, tmp_path / "derived")
    assert summary.files == 0 and summary.skipped
    assert all("panorama" in reason for (_, reason) in summary.skipped)


def test_camera_model_errors(tmp_path, capsys, quad_scene):
    info = {"camera_location": [0, 0, 1], "camera_rotation_final": [1.5, 0, 0], "field_of_view_rads": 1.0,
            "resolution": 16, "camera_model": "fisheye"}
    (tmp_path / "p.json").write_text(json.dumps(info))
    rc = main(["render", str(quad_scene["dir"] / "coloured.ply"), "--cameras", str(tmp_path / "p.json"),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "p.json" in err and "camera_model" in err
    cams = [Camera.from_euler([0, 0, 1], [1.5, 0, 0], 1.0, 8, 8, point="3", view=str(v)).with_model("equirectangular")
            for v in range(2)]
    with pytest.raises(labelgen.LabelgenError, match="point 3"):
        render_building(load_mesh(quad_scene["dir"] / "coloured.ply"), cams, tmp_path / "o2")
    assert not (tmp_path / "o2" / "depth_euclidean").exists()


# -- point_info quaternion ----------------------------------------------------------------

def _qmul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


@pytest.mark.parametrize("euler", [[1.2, 0.0, 0.3], [0.1, -0.7, 2.9], [math.pi / 2, 0.0, -math.pi], [3.0, 1.2, -2.0]])
def test_point_info_quaternion_matches_euler_angles(euler, tmp_path):
    cam = Camera.from_euler([1, 2, 3], euler, 1.0, 8, 8)
    info = cam.point_info()
    q = np.array(info["camera_rotation_final_quaternion"])
    a = info["camera_rotation_final"]
    # Blender XYZ Euler = extrinsic x, then y, then z: q = qz * qy * qx
    qx = [math.cos(a[0] / 2), math.sin(a[0] / 2), 0, 0]
    qy = [math.cos(a[1] / 2), 0, math.sin(a[1] / 2), 0]
    qz = [math.cos(a[2] / 2), 0, 0, math.sin(a[2] / 2)]
    want = _qmul(qz, _qmul(qy, qx))
    # q and -q are the same rotation; labelgen writes the one with w >= 0
    assert q[0] >= 0 and (np.allclose(q, want, atol=1e-12) or np.allclose(q, -want, atol=1e-12))
    assert np.isclose(np.linalg.norm(q), 1.0)
    again = np.array(quaternion_wxyz(rotation_xyz(a)))
    assert np.allclose(again, q, rtol=0, atol=1e-14) or np.allclose(again, -q, rtol=0, atol=1e-14)


def test_render_writes_the_quaternion_and_new_labels_leave_others_alone(quad_scene, tmp_path):
    mesh = load_mesh(quad_scene["dir"] / "coloured.ply")
    base, _ = render_view(make_renderer(mesh), CAMS[0], tasks=["depth_zbuffer", "normal", "reshading"])
    more, _ = render_view(make_renderer(mesh), CAMS[0],
                          tasks=["fragments", "semantic", "depth_zbuffer", "normal", "reshading"])
    for k in base:
        assert np.array_equal(base[k], more[k])
    render_building(mesh, CAMS[:1], tmp_path, tasks=["depth_zbuffer"])
    info = json.loads((tmp_path / "point_info" / "point_0_view_0_domain_point_info.json").read_text())
    r = rotation_xyz(info["camera_rotation_final"])
    from scipy.spatial.transform import Rotation

    w, x, y, z = info["camera_rotation_final_quaternion"]
    assert np.allclose(Rotation.from_quat([x, y, z, w]).as_matrix(), r, atol=1e-12)


def test_default_sets_leave_out_fragments(quad_scene, room):
    """fragments is opt-in; semantic is in the default set only when the mesh carries labels."""
    labels, skipped = render_view(make_renderer(room), CAMS[0])
    assert "fragments" not in labels and "semantic" not in labels and "semantic" not in skipped
    assert "depth_zbuffer" in labels
    labelled = load_mesh(quad_scene["dir"] / "coloured.ply")
    labels, _ = render_view(make_renderer(labelled), CAMS[0])
    assert "semantic" in labels and "fragments" not in labels


def test_semantic_object_id_ascii_ply(quad_scene, tmp_path):
    """The same Replica-style labels in an ASCII PLY (trimesh keeps those properties differently)."""
    verts, quads, objs = quad_scene["verts"], quad_scene["quads"], quad_scene["objects"]
    lines = ["ply", "format ascii 1.0", f"element vertex {len(verts)}", "property float x", "property float y",
             "property float z", f"element face {len(quads)}", "property list uchar int vertex_indices",
             "property int object_id", "end_header"]
    lines += [" ".join(f"{c:.6f}" for c in v) for v in verts]
    lines += [f"4 {q[0]} {q[1]} {q[2]} {q[3]} {o}" for q, o in zip(quads, objs)]
    (tmp_path / "mesh_semantic.ply").write_text("\n".join(lines) + "\n")
    mesh = load_mesh(tmp_path / "mesh_semantic.ply")
    ids = np.where(objs >= 0, objs, 0)
    expected = np.stack([np.zeros_like(ids), ids >> 8, ids & 255], -1).astype(np.uint8)  # no JSON: class 0
    assert _semantic_agreement(mesh, CAMS[1], expected, quad_scene) >= 0.999


def test_cli_semantic_mesh(quad_scene, tmp_path, capsys):
    tris, _ = split_quads(quad_scene["quads"])
    import trimesh

    trimesh.Trimesh(quad_scene["verts"], tris, process=False).export(tmp_path / "plain.ply")
    info = CAMS[1].point_info()
    (tmp_path / "cams").mkdir()
    (tmp_path / "cams" / "point_0_view_1_domain_point_info.json").write_text(json.dumps(info))
    out = tmp_path / "out"
    rc = main(["render", str(tmp_path / "plain.ply"), "--cameras", str(tmp_path / "cams"), "--out", str(out),
               "--semantic-mesh", str(quad_scene["dir"] / "coloured.ply"), "--quiet"])
    assert rc == 0
    got = read_png(out / "semantic" / "point_0_view_1_domain_semantic.png")
    want = render_view(make_renderer(load_mesh(quad_scene["dir"] / "coloured.ply")), CAMS[1],
                       tasks=["semantic"])[0]["semantic"]
    assert np.mean(np.all(got == want, axis=-1)) >= 0.999
    assert not (out / "fragments").exists()
    capsys.readouterr()
    rc = main(["render", str(tmp_path / "plain.ply"), "--cameras", str(tmp_path / "cams"), "--out",
               str(tmp_path / "o2"), "--semantic-mesh", str(tmp_path / "missing.ply"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "missing.ply" in err
    assert not (tmp_path / "o2").exists()
