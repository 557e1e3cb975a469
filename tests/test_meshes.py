"""Mesh input: formats, scenes merged with their transforms, bad meshes."""
import numpy as np
import pytest
import trimesh

from conftest import REPO
from labelgen import Camera, LabelgenError, load_mesh, render_view

SAMPLE = REPO / "sample_meshes" / "apartment.glb"


def test_sample_mesh_loads_merged():
    mesh = load_mesh(SAMPLE)
    scene = trimesh.load(SAMPLE, force="scene")
    assert len(mesh.faces) == sum(len(g.faces) for g in scene.dump())
    assert len(mesh.parts) == len(scene.geometry) >= 12
    lo, hi = mesh.bounds
    np.testing.assert_allclose(lo, [-0.05, -0.05, -0.1], atol=1e-6)
    np.testing.assert_allclose(hi, [8.05, 6.05, 2.7], atol=1e-6)
    assert f"{len(mesh.faces)} faces" in mesh.summary() and f"{len(mesh.vertices)} vertices" in mesh.summary()


@pytest.mark.parametrize("ext", ["ply", "obj", "gltf"])
def test_formats_render_the_same(tmp_path, ext):
    scene = trimesh.load(SAMPLE, force="scene")
    path = tmp_path / f"apartment.{ext}"
    if ext == "gltf":
        for name, data in scene.export(file_type="gltf").items():
            (tmp_path / name).write_bytes(data)
        path = tmp_path / "model.gltf"
    elif ext == "obj":
        scene.export(path)  # writes the .mtl and texture beside it
        assert list(tmp_path.glob("*.mtl"))
    else:
        trimesh.util.concatenate(scene.dump()).export(path)
    cam = Camera.look_at([4.2, 3.0, 1.5], [0.0, 2.0, 1.3], fov=1.2, width=64, height=48)
    ref, _ = render_view(load_mesh(SAMPLE), cam, ["depth_zbuffer"])
    got, _ = render_view(load_mesh(path), cam, ["depth_zbuffer"])
    assert np.abs(ref["depth_zbuffer"].astype(int) - got["depth_zbuffer"]).max() <= 1


def test_scene_transforms_are_applied(tmp_path):
    scene = trimesh.Scene()
    box = trimesh.creation.box(extents=[1, 1, 1])
    scene.add_geometry(box, geom_name="a", transform=trimesh.transformations.translation_matrix([10, 0, 0]))
    scene.add_geometry(box, geom_name="b", transform=trimesh.transformations.translation_matrix([0, 0, 5]))
    path = tmp_path / "two.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load_mesh(path)
    assert len(mesh.faces) == 24 and len(mesh.parts) == 2
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [10.5, 0.5, 5.5]], atol=1e-6)


def test_bad_meshes(tmp_path):
    with pytest.raises(LabelgenError, match="no such file"):
        load_mesh(tmp_path / "missing.obj")
    with pytest.raises(LabelgenError, match="folder"):
        load_mesh(tmp_path)
    txt = tmp_path / "mesh.txt"
    txt.write_text("hello")
    with pytest.raises(LabelgenError, match="unsupported mesh format"):
        load_mesh(txt)
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing\n")
    with pytest.raises(LabelgenError, match="empty") as err:
        load_mesh(empty)
    assert str(empty) in str(err.value)
    inf = tmp_path / "inf.obj"
    inf.write_text("v 0 0 0\nv 1 0 inf\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(LabelgenError, match="NaN or infinite"):
        load_mesh(inf)
