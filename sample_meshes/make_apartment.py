"""Build the bundled sample apartment: ``apartment.glb`` and ``apartment_cameras.json``.

A small three-room apartment (8 m x 6 m, 2.6 m high) with doorways, furniture, a sphere, a
cylinder and one UV-textured surface (a painting); every other object carries a flat vertex
colour. Flat surfaces are subdivided to edges of at most 0.3 m so that the curvature estimate
stays local (see :func:`even`). Cameras: 10 views inside the rooms in Omnidata ``camera_poses.json`` form, each
entry also carrying ``field_of_view_rads`` and ``resolution``.

The apartment is modelled +Z up (Taskonomy's world) and written +Y up, as the glTF
specification requires (:func:`to_gltf_axes`); labelgen (like Blender's glTF importer) turns it
back on load with ``(x, y, z) -> (x, -z, y)``, exactly. The cameras are in the +Z-up world.

Run ``python sample_meshes/make_apartment.py`` to rebuild both files (deterministic).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

HERE = Path(__file__).resolve().parent
HEIGHT = 2.6
WALL = 0.1
MAX_EDGE = 0.3


def box(lo, hi, colour):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(extents=hi - lo)
    m.apply_translation((lo + hi) / 2)
    m.visual.vertex_colors = np.tile(np.append(colour, 255), (len(m.vertices), 1)).astype(np.uint8)
    return m


def even(mesh, max_edge=MAX_EDGE):
    """``mesh`` subdivided to edges of at most ``max_edge`` (flat vertex colour kept).

    APSS curvature (principal_curvature) sizes each vertex's support from its 16 nearest
    vertices, so the 8 corners of a large box would each reach across the room; a roughly
    even sampling keeps the estimate local.
    """
    colour = mesh.visual.vertex_colors[0]
    v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=max_edge)
    out = trimesh.Trimesh(v, f, process=True)
    out.visual.vertex_colors = np.tile(colour, (len(out.vertices), 1))
    return out


def wall_x(y, x0, x1, colour, doors=()):
    """A wall along x at y, from x0 to x1, with door gaps (xa, xb) 2.0 m high."""
    parts, x = [], x0
    for xa, xb in sorted(doors):
        parts.append(box((x, y - WALL / 2, 0), (xa, y + WALL / 2, HEIGHT), colour))
        parts.append(box((xa, y - WALL / 2, 2.0), (xb, y + WALL / 2, HEIGHT), colour))
        x = xb
    parts.append(box((x, y - WALL / 2, 0), (x1, y + WALL / 2, HEIGHT), colour))
    return parts


def wall_y(x, y0, y1, colour, doors=()):
    parts, y = [], y0
    for ya, yb in sorted(doors):
        parts.append(box((x - WALL / 2, y, 0), (x + WALL / 2, ya, HEIGHT), colour))
        parts.append(box((x - WALL / 2, ya, 2.0), (x + WALL / 2, yb, HEIGHT), colour))
        y = yb
    parts.append(box((x - WALL / 2, y, 0), (x + WALL / 2, y1, HEIGHT), colour))
    return parts


def painting(width=1.2, height=0.8, size=256):
    """A UV-textured quad on the west wall (x = 0.05 + eps) facing +x."""
    u, v = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size))
    img = np.zeros((size, size, 3), np.uint8)
    img[..., 0] = (255 * u).astype(np.uint8)
    img[..., 1] = (255 * v).astype(np.uint8)
    checker = ((np.floor(u * 8) + np.floor(v * 8)) % 2).astype(bool)
    img[..., 2] = np.where(checker, 220, 40)
    x, y0, z0 = WALL / 2 + 0.01, 1.4, 1.0
    verts = np.array([[x, y0, z0], [x, y0 + width, z0], [x, y0 + width, z0 + height], [x, y0, z0 + height]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])  # normal +x
    uv = np.array([[1, 0], [0, 0], [0, 1], [1, 1]], float)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(img),
                                                   metallicFactor=0.0, roughnessFactor=1.0)
    return trimesh.Trimesh(verts, faces, visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
                           process=False)


def build_scene() -> trimesh.Scene:
    wall_c, floor_c, ceil_c = (225, 220, 205), (150, 110, 80), (245, 245, 245)
    parts = {
        "floor": [box((0, 0, -0.1), (8, 6, 0), floor_c)],
        "ceiling": [box((0, 0, HEIGHT), (8, 6, HEIGHT + 0.1), ceil_c)],
        "outer_walls": wall_x(0, 0, 8, wall_c) + wall_x(6, 0, 8, wall_c)
        + wall_y(0, 0, 6, wall_c) + wall_y(8, 0, 6, wall_c),
        # living room x in [0, 5]; bedroom x in [5, 8], y in [0, 3]; bathroom x in [5, 8], y in [3, 6]
        "inner_walls": wall_y(5, 0, 6, (200, 215, 230), doors=[(1.0, 1.9), (4.0, 4.9)])
        + wall_x(3, 5, 8, (230, 200, 200), doors=[(6.5, 7.3)]),
        "table": [box((1.6, 3.6, 0.72), (3.0, 4.6, 0.77), (120, 80, 40))]
        + [box((x, y, 0), (x + 0.06, y + 0.06, 0.72), (90, 60, 30))
           for x in (1.65, 2.89) for y in (3.65, 4.49)],
        "sofa": [box((0.3, 0.6, 0), (1.2, 2.8, 0.45), (60, 90, 140)),
                 box((0.15, 0.6, 0), (0.3, 2.8, 0.9), (50, 80, 130)),
                 box((0.3, 0.45, 0), (1.2, 0.6, 0.65), (50, 80, 130)),
                 box((0.3, 2.8, 0), (1.2, 2.95, 0.65), (50, 80, 130))],
        "bed": [box((5.9, 0.3, 0), (7.8, 1.9, 0.5), (240, 240, 250)),
                box((7.75, 0.3, 0), (7.85, 1.9, 1.0), (110, 70, 50))],
        "shelf": [box((3.8, 5.55, 0), (4.8, 5.9, 1.8), (160, 120, 70))],
        "bathtub": [box((6.2, 4.9, 0), (7.9, 5.9, 0.55), (250, 250, 250))],
    }
    scene = trimesh.Scene()
    for name, meshes in parts.items():
        scene.add_geometry(even(trimesh.util.concatenate(meshes)), geom_name=name)
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.2)
    sphere.apply_translation((2.3, 4.1, 0.97))
    sphere.visual.vertex_colors = np.tile((200, 60, 50, 255), (len(sphere.vertices), 1)).astype(np.uint8)
    scene.add_geometry(sphere, geom_name="sphere")
    cyl = trimesh.creation.cylinder(radius=0.25, height=1.1, sections=96)
    cyl.apply_translation((4.2, 1.0, 0.55))
    cyl.visual.vertex_colors = np.tile((70, 150, 90, 255), (len(cyl.vertices), 1)).astype(np.uint8)
    scene.add_geometry(even(cyl), geom_name="cylinder")
    scene.add_geometry(painting(), geom_name="painting")
    return scene


# (eye, target) pairs: living room, bedroom, bathroom, through doorways
VIEWS = [
    ((4.2, 3.0, 1.5), (0.0, 2.0, 1.3)),
    ((4.5, 5.0, 1.6), (2.3, 4.1, 0.9)),
    ((1.5, 1.0, 1.4), (3.0, 5.0, 1.0)),
    ((0.8, 5.2, 1.7), (4.2, 1.0, 0.6)),
    ((2.5, 0.5, 1.5), (0.1, 1.8, 1.4)),
    ((6.5, 2.5, 1.5), (7.0, 0.8, 0.5)),
    ((7.5, 0.5, 1.6), (5.0, 1.5, 1.2)),
    ((6.0, 3.6, 1.5), (7.2, 5.4, 0.5)),
    ((3.0, 1.4, 1.5), (8.0, 1.4, 1.3)),
    ((2.0, 4.4, 1.2), (2.3, 4.1, 0.97)),
]
FOV = 1.2
RESOLUTION = 512


def camera_poses():
    poses = []
    for i, (eye, target) in enumerate(VIEWS):
        eye, target = np.array(eye), np.array(target)
        forward = (target - eye) / np.linalg.norm(target - eye)
        right = np.cross(forward, [0, 0, 1])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        rot = np.stack([right, up, -forward], axis=1)
        x, y, z, w = Rotation.from_matrix(rot).as_quat()
        poses.append({"camera_id": f"cam{i:02d}", "location": [round(float(c), 6) for c in eye],
                      "rotation_quaternion": [float(w), float(x), float(y), float(z)],
                      "field_of_view_rads": FOV, "resolution": RESOLUTION})
    return poses


def to_gltf_axes(scene: trimesh.Scene) -> trimesh.Scene:
    """The +Z-up ``scene`` turned +Y up for glTF: ``(x, y, z) -> (x, z, -y)`` on every vertex.

    The inverse of the importer's ``(x, y, z) -> (x, -z, y)``; only swaps and negations, so a
    round trip gives back the same bits (zeros are written as +0.0).
    """
    for geom in scene.geometry.values():
        v = np.asarray(geom.vertices, dtype=np.float64)
        geom.vertices = np.column_stack([v[:, 0], v[:, 2], -v[:, 1] + 0.0])
    return scene


def main():
    scene = to_gltf_axes(build_scene())
    (HERE / "apartment.glb").write_bytes(scene.export(file_type="glb"))
    (HERE / "apartment_cameras.json").write_text(json.dumps(camera_poses(), indent=1) + "\n")
    print(f"wrote {HERE / 'apartment.glb'} ({sum(len(g.faces) for g in scene.geometry.values())} faces) "
          f"and {HERE / 'apartment_cameras.json'} ({len(VIEWS)} cameras)")


if __name__ == "__main__":
    main()
