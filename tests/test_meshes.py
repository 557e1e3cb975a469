"""Mesh input: formats, scenes merged with their transforms, bad meshes."""
import numpy as np
import pytest
import trimesh

from conftest import APARTMENT as SAMPLE
from labelgen import Camera, LabelgenError, load_mesh, render_view


def test_sample_mesh_loads_merged(apartment_mesh):
    mesh = apartment_mesh
    scene = trimesh.load(SAMPLE, force="scene")
    assert len(mesh.faces) == sum(len(g.faces) for g in scene.dump())
    assert len(mesh.parts) == len(scene.geometry) >= 12
    lo, hi = mesh.bounds
    np.testing.assert_allclose(lo, [-0.05, -0.05, -0.1], atol=1e-6)
    np.testing.assert_allclose(hi, [8.05, 6.05, 2.7], atol=1e-6)
    assert f"{len(mesh.faces)} faces" in mesh.summary() and f"{len(mesh.vertices)} vertices" in mesh.summary()


@pytest.mark.parametrize("ext", ["ply", "obj", "gltf"])
def test_formats_render_the_same(tmp_path, ext, apartment_mesh):
    """The sample's glTF coordinates (+Y up) written as PLY/OBJ read back with up_axis="+y"."""
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
    ref, _ = render_view(apartment_mesh, cam, ["depth_zbuffer"])
    got, _ = render_view(load_mesh(path, up_axis=None if ext == "gltf" else "+y"), cam, ["depth_zbuffer"])
    assert np.abs(ref["depth_zbuffer"].astype(int) - got["depth_zbuffer"]).max() <= 1


def test_scene_transforms_are_applied(tmp_path):
    scene = trimesh.Scene()
    box = trimesh.creation.box(extents=[1, 1, 1])
    scene.add_geometry(box, geom_name="a", transform=trimesh.transformations.translation_matrix([10, 0, 0]))
    scene.add_geometry(box, geom_name="b", transform=trimesh.transformations.translation_matrix([0, 0, 5]))
    path = tmp_path / "two.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load_mesh(path, up_axis="+z")
    assert len(mesh.faces) == 24 and len(mesh.parts) == 2
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [10.5, 0.5, 5.5]], atol=1e-6)
    # as glTF (+Y up, the default): the node at glTF (0, 0, 5) lies at world (0, -5, 0)
    mesh = load_mesh(path)
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -5.5, -0.5], [10.5, 0.5, 0.5]], atol=1e-6)


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


def test_gltf_y_up_loads_as_z_up(tmp_path):
    """A GLB whose content is +Y up (a 2 m tall post along glTF +Y, a 0.4 m foot towards glTF +Z)
    loads standing along +Z, as Blender's glTF importer maps (x, y, z) -> (x, -z, y)."""
    post = trimesh.creation.box(extents=[0.2, 2.0, 0.2])
    post.apply_translation([0.0, 1.0, 0.0])  # from the ground (y = 0) up to y = 2
    foot = trimesh.creation.box(extents=[0.2, 0.2, 0.4])
    foot.apply_translation([0.0, 0.1, 0.3])  # sticks out towards glTF +Z
    path = tmp_path / "post.glb"
    path.write_bytes(trimesh.util.concatenate([post, foot]).export(file_type="glb"))
    raw = trimesh.load(path, force="mesh", process=False)
    mesh = load_mesh(path)
    assert mesh.up_axis == "+y"
    lo, hi = mesh.bounds
    np.testing.assert_allclose([lo[2], hi[2]], [0.0, 2.0], atol=1e-6)  # standing on z = 0, 2 m tall
    np.testing.assert_allclose([lo[1], hi[1]], [-0.5, 0.1], atol=1e-6)  # the foot went to world -y
    # exact: a swap and a negation of the file's coordinates, zeros as +0.0
    v = np.asarray(raw.vertices, dtype=np.float64)
    np.testing.assert_array_equal(mesh.vertices, np.column_stack([v[:, 0], -v[:, 2], v[:, 1]]))
    assert not np.any(np.signbit(mesh.vertices) & (mesh.vertices == 0))
    # the same file read as +Z up keeps the file's coordinates; PLY/OBJ default to +Z up
    np.testing.assert_array_equal(load_mesh(path, up_axis="+z").vertices, v)
    ply = tmp_path / "post.ply"
    ply.write_bytes(raw.export(file_type="ply"))
    assert load_mesh(ply).up_axis == "+z"
    np.testing.assert_array_equal(load_mesh(ply, up_axis="+y").vertices, mesh.vertices)
    assert load_mesh(ply, up_axis="+y").content_hash != load_mesh(ply).content_hash
    with pytest.raises(LabelgenError, match="up-axis"):
        load_mesh(ply, up_axis="-x")
