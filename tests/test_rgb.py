"""rgb: textures (OBJ+MTL, GLB), vertex colours, background, meshes without colour, bad textures."""
from __future__ import annotations

import numpy as np
import pytest

from labelgen.kernels.reference import bilinear_wrap_reference
from labelgen.kernels.texture import bilinear_wrap
from labelgen import Camera, Mesh, load_mesh, render_view
from labelgen.engine import default_render_tasks

EYE = np.array([0.5, 0.5, 1.0])


def camera(size=96, fov=0.7):
    return Camera.look_at(EYE, (0.5, 0.5, 0.0), up=(0, 1, 0), fov=fov, width=size, height=size)


def hit_points(cam):
    """World points where each pixel's ray meets the plane z = 0."""
    d = cam.pixel_directions() @ cam.rotation.T
    t = -cam.location[2] / d[:, :, 2]
    return cam.location + t[:, :, None] * d


def checkerboard(n=8, cell=4):
    rng = np.random.default_rng(0)
    board = ((np.indices((n * cell, n * cell)) // cell).sum(0) % 2).astype(np.uint8)
    img = np.stack([board * 200 + 30, 255 - board * 180, rng.integers(0, 256, board.shape)], -1)
    return img.astype(np.uint8)


def write_textured_obj(folder, texture_name="tex.png", image=None, uv_scale=2.0):
    from PIL import Image

    (folder / "quad.obj").write_text(
        "mtllib quad.mtl\n"
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
        f"vt 0 0\nvt {uv_scale} 0\nvt {uv_scale} {uv_scale}\nvt 0 {uv_scale}\n"
        "usemtl mat\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    (folder / "quad.mtl").write_text(f"newmtl mat\nKd 0.8 0.8 0.8\nmap_Kd {texture_name}\n")
    if image is not None:
        Image.fromarray(image).save(folder / texture_name)
    return folder / "quad.obj"


def expected_texture(cam, image, uv_scale):
    p = hit_points(cam)
    inside = (p[:, :, 0] > 0.01) & (p[:, :, 0] < 0.99) & (p[:, :, 1] > 0.01) & (p[:, :, 1] < 0.99)
    u = p[:, :, 0] * uv_scale
    v = p[:, :, 1] * uv_scale
    want = bilinear_wrap_reference(image, u.ravel(), v.ravel()).reshape(p.shape)
    return want, inside


def test_bilinear_kernel_matches_reference():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (13, 17, 3)).astype(np.uint8)
    u = rng.uniform(-3, 3, 5000)
    v = rng.uniform(-3, 3, 5000)
    assert np.allclose(bilinear_wrap(img, u, v), bilinear_wrap_reference(img, u, v), atol=1e-9)


def test_textured_obj_checkerboard(tmp_path):
    img = checkerboard()
    mesh = load_mesh(write_textured_obj(tmp_path, image=img, uv_scale=2.0))  # UVs up to 2: wraps
    assert "rgb" in default_render_tasks(mesh)
    cam = camera()
    out, skipped = render_view(mesh, cam, tasks=["rgb"])
    assert not skipped
    want, inside = expected_texture(cam, img, 2.0)
    diff = np.abs(out["rgb"].astype(int) - np.rint(want).astype(int)).max(axis=-1)
    assert inside.sum() > 3000
    assert (diff[inside] <= 1).mean() >= 0.99


def test_textured_glb(tmp_path):
    import trimesh
    from PIL import Image
    from trimesh.visual.material import PBRMaterial
    from trimesh.visual.texture import TextureVisuals

    img = checkerboard()
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    f = np.array([[0, 1, 2], [0, 2, 3]])
    uv = v[:, :2] * 1.5
    mat = PBRMaterial(baseColorTexture=Image.fromarray(img), baseColorFactor=[255, 255, 255, 255])
    tm = trimesh.Trimesh(v, f, visual=TextureVisuals(uv=uv, material=mat), process=False)
    path = tmp_path / "quad.glb"
    tm.export(path)
    mesh = load_mesh(path, up_axis="+z")  # the quad is written in labelgen's +Z-up world
    cam = camera()
    out, skipped = render_view(mesh, cam, tasks=["rgb"])
    assert not skipped
    want, inside = expected_texture(cam, img, 1.5)
    diff = np.abs(out["rgb"].astype(int) - np.rint(want).astype(int)).max(axis=-1)
    assert (diff[inside] <= 1).mean() >= 0.99


def test_vertex_colours_interpolate_exactly(tmp_path):
    import trimesh

    n = 11
    x, y = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    v = np.stack([x, y, np.zeros_like(x)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n), np.arange(n))
    # colours linear in position, so interpolation reproduces the linear function exactly
    colours = np.stack([20 * i + 5, 20 * j + 10, 250 - 10 * i - 10 * j, np.full_like(i, 255)], -1).reshape(-1, 4)
    a = np.arange(n * n).reshape(n, n)
    f = np.concatenate([np.stack([a[:-1, :-1], a[:-1, 1:], a[1:, 1:]], -1).reshape(-1, 3),
                        np.stack([a[:-1, :-1], a[1:, 1:], a[1:, :-1]], -1).reshape(-1, 3)])
    path = tmp_path / "colours.ply"
    trimesh.Trimesh(v, f, vertex_colors=colours.astype(np.uint8), process=False).export(path)
    mesh = load_mesh(path)
    cam = camera(fov=1.4)  # sees past the quad's edges
    out, skipped = render_view(mesh, cam, tasks=["rgb"], params={"rgb_background": "10,20,30"})
    assert not skipped
    p = hit_points(cam)
    inside = (p[:, :, 0] > 0) & (p[:, :, 0] < 1) & (p[:, :, 1] > 0) & (p[:, :, 1] < 1)
    s = p[:, :, 0] * (n - 1)
    t = p[:, :, 1] * (n - 1)
    want = np.stack([20 * s + 5, 20 * t + 10, 250 - 10 * s - 10 * t], -1)
    got = out["rgb"].astype(int)
    diff = np.abs(got - np.rint(want).astype(int)).max(axis=-1)
    assert inside.sum() > 2000
    assert (diff[inside] == 0).mean() >= 0.999
    assert diff[inside].max() <= 1
    hit = out["rgb"].any(axis=-1)
    outside = ~inside & ~np.isclose(p[:, :, 0], 0, atol=0.02) & ~np.isclose(p[:, :, 0], 1, atol=0.02) \
        & ~np.isclose(p[:, :, 1], 0, atol=0.02) & ~np.isclose(p[:, :, 1], 1, atol=0.02)
    assert outside.any() and np.all(out["rgb"][outside] == (10, 20, 30))
    assert hit.any()


def test_no_colour_information():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    mesh = Mesh.from_arrays(v, [[0, 1, 2], [0, 2, 3]])
    assert "rgb" not in default_render_tasks(mesh)
    out, skipped = render_view(mesh, camera(32), tasks=["rgb", "depth_zbuffer"])
    assert skipped == {"rgb": "mesh has no colour information"}
    assert "depth_zbuffer" in out


@pytest.mark.parametrize("problem", ["missing", "unreadable"])
def test_bad_texture(tmp_path, problem):
    if problem == "missing":
        path = write_textured_obj(tmp_path, "nothere.png")
    else:
        path = write_textured_obj(tmp_path, "broken.png")
        (tmp_path / "broken.png").write_bytes(b"this is not a png")
    mesh = load_mesh(path)
    assert "rgb" not in default_render_tasks(mesh)
    out, skipped = render_view(mesh, camera(32), tasks=["rgb", "normal"])
    assert "rgb" in skipped and "normal" in out
    name = "nothere.png" if problem == "missing" else "broken.png"
    assert name in skipped["rgb"]
    assert ("does not exist" in skipped["rgb"]) == (problem == "missing")


def test_gltf_missing_external_image(tmp_path):
    import json

    import trimesh
    from PIL import Image
    from trimesh.visual.material import PBRMaterial
    from trimesh.visual.texture import TextureVisuals

    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    mat = PBRMaterial(baseColorTexture=Image.fromarray(checkerboard()))
    tm = trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], visual=TextureVisuals(uv=v[:, :2], material=mat), process=False)
    for name, data in tm.export(file_type="gltf").items():
        (tmp_path / name).write_bytes(data)
    doc = json.loads((tmp_path / "model.gltf").read_text())
    doc["images"] = [{"uri": "wall%20paint.png", "mimeType": "image/png"}]
    (tmp_path / "model.gltf").write_text(json.dumps(doc))
    mesh = load_mesh(tmp_path / "model.gltf")
    _, skipped = render_view(mesh, camera(16), tasks=["rgb"])
    assert "wall paint.png" in skipped["rgb"] and "does not exist" in skipped["rgb"]


def test_background_parameter_parsing():
    from labelgen.labels.rgb import colour

    assert colour("1,2,3") == (1, 2, 3)
    assert colour(7) == (7, 7, 7)
    with pytest.raises(ValueError):
        colour("1,2")
    with pytest.raises(ValueError):
        colour("300,0,0")


def test_sample_apartment(apartment_mesh):
    from conftest import APARTMENT_CAMERAS
    from labelgen import read_cameras

    mesh = apartment_mesh
    assert "rgb" in default_render_tasks(mesh)
    cams = read_cameras(APARTMENT_CAMERAS, resolution="80x60")
    flat = {tuple(int(x) for x in c[:3]) for _, g in mesh.parts if g.visual.kind == "vertex"
            for c in np.unique(np.asarray(g.visual.vertex_colors), axis=0)}
    painted = 0
    for cam in cams:
        out, skipped = render_view(mesh, cam, tasks=["rgb", "mask_valid"])
        assert not skipped
        rgb, valid = out["rgb"], out["mask_valid"] == 255
        assert np.all(rgb[~valid] == 0)
        colours = {tuple(c) for c in rgb[valid]}
        painted += len(colours) > 40  # the textured painting brings many colours
        exact = np.array([tuple(int(x) for x in c) in flat for c in rgb[valid]])
        assert exact.mean() >= 0.9  # flat vertex colours come through exactly
    assert painted >= 1
