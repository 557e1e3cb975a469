"""labelgen sample places cameras whatever the winding and normal orientation of the rooms.

A room modelled as one closed box (``trimesh.creation.box``: faces pointing outward, as CAD
and scan exports often are) with closed spheres inside, the same room turned inward, and one
with the winding of every other face flipped at random: each gives enough points, every
fixated view has its point exactly at the image centre and sees it there (a render's depth
at the central pixels equals the camera distance).
"""
from __future__ import annotations

import numpy as np
import pytest

from labelgen.camera._cameras import camera_from_point_info
from labelgen.io._meshes import Mesh
from labelgen.render._renderers import Open3DRenderer
from labelgen.sample._placement import parity_facing
from labelgen.render._raycast import RaycastScene
from labelgen.sample._sampling import SampleConfig, sample_building


def box_room(orientation: str) -> Mesh:
    """A 10 x 8 x 3 m room (one closed box) holding 60 spheres of radius 0.3 m."""
    import trimesh

    rng = np.random.default_rng(7)
    room = trimesh.creation.box(extents=(10.0, 8.0, 3.0))
    room.apply_translation((0.0, 0.0, 1.5))
    parts = [room]
    for _ in range(60):
        s = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
        s.apply_translation(rng.uniform((-4.5, -3.5, 0.4), (4.5, 3.5, 2.6)))
        parts.append(s)
    tm = trimesh.util.concatenate(parts)
    faces = np.asarray(tm.faces).copy()
    n_room = len(room.faces)
    if orientation == "inward":
        faces[:n_room] = faces[:n_room, ::-1]
    elif orientation == "mixed":
        flip = np.random.default_rng(8).random(len(faces)) < 0.5
        faces[flip] = faces[flip, ::-1]
    return Mesh.from_arrays(tm.vertices, faces)


def test_parity_facing_alternates_from_a_ceiling():
    assert parity_facing(0).shape == (0,)
    np.testing.assert_array_equal(parity_facing(5), [-1, 1, -1, 1, -1])


def test_outward_room_normals_point_out():
    """The test scene really is outward: the box's faces point away from its centre."""
    mesh = box_room("outward")
    n = mesh.face_normals()[:12]
    c = mesh.vertices[mesh.faces[:12]].mean(axis=1) - np.array([0.0, 0.0, 1.5])
    assert np.all(np.einsum("ij,ij->i", n, c) > 0)


@pytest.mark.parametrize("orientation", ["outward", "inward", "mixed"])
def test_box_room_with_spheres(orientation):
    mesh = box_room(orientation)
    cfg = SampleConfig(num_cameras=20, num_points=24, min_views_per_point=2, max_views_per_point=4,
                       resolution=(64, 48), seed=1)
    res = sample_building(mesh, cfg)
    per_point = {}
    for info in res.views:
        per_point.setdefault(info["point_uuid"], set()).add(info["camera_uuid"])
    assert len(per_point) >= 20
    assert min(len(c) for c in per_point.values()) >= 2
    cams = res.camera_locations
    # every camera inside the room, clear of the mesh
    assert np.all(np.abs(cams[:, 0]) < 5) and np.all(np.abs(cams[:, 1]) < 4)
    assert np.all((cams[:, 2] > 0) & (cams[:, 2] < 3))
    assert RaycastScene(mesh).distance(cams).min() >= cfg.min_mesh_distance - 1e-5
    renderer = Open3DRenderer(mesh)
    for info in res.views:
        cam = camera_from_point_info(info)
        np.testing.assert_allclose(cam.project(info["point_location"]), [31.5, 23.5], atol=1e-6)
        depth = renderer.render(cam).depth
        assert abs(depth[23:25, 31:33].mean() - info["camera_distance"]) <= 0.01
