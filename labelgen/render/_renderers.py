"""Renderers: mesh + camera -> per-view geometry buffer.

The default renderer casts one ray per pixel centre with Open3D's Embree-backed
``RaycastingScene``; the scene is built once per mesh and reused for every view.
"""
from __future__ import annotations

import os

from pathlib import Path

import numpy as np

from labelgen.kernels import geometry

from labelgen.camera._cameras import Camera
from labelgen.io._meshes import Mesh
from labelgen.render._gbuffer import GeometryBuffer
from labelgen.render._raycast import RaycastScene


class Open3DRenderer:
    """Ray casting with Open3D's ``RaycastingScene`` (Embree), through :class:`~labelgen.render._raycast.RaycastScene`.

    Parameters
    ----------
    mesh : the mesh to render; its scene is built once here.
    threads : threads for ``cast_rays`` (0 = all cores).
    """

    name = "open3d"

    def __init__(self, mesh: Mesh, threads: int = 0):
        self.mesh = mesh
        self.scene = RaycastScene(mesh, threads)

    def rays(self, camera: Camera) -> np.ndarray:
        """(H, W, 6) float32 rays [origin, direction], directions with camera-z length 1."""
        return geometry.camera_rays(camera.location, camera.rotation, camera.focal, camera.width, camera.height)

    def render(self, camera: Camera) -> GeometryBuffer:
        """Cast one ray per pixel centre and return the view's :class:`GeometryBuffer`."""
        if camera.model != "perspective":
            from labelgen.render._panorama import render_equirectangular

            return render_equirectangular(self, camera)
        hit = self.scene.cast_rays(self.rays(camera))
        depth, distance, triangle, normal = geometry.hit_geometry(
            hit["t_hit"], hit["primitive_ids"], self.scene.normals, camera.rotation, camera.focal)
        return GeometryBuffer(camera, depth, distance, triangle, hit["primitive_uvs"], normal)


SHADERS = Path(__file__).resolve().parent / "shaders"


class PyrenderRenderer:
    """Rasterisation with pyrender (OpenGL; EGL when headless).

    OpenGL only decides which triangle each pixel centre sees; the hit distance and
    barycentrics are then computed exactly in float64 by intersecting the pixel's ray with
    that triangle, so the labels agree with the ray-casting renderer except where the two
    pick different triangles (pixel centres exactly on an edge, z-fighting surfaces).

    Parameters
    ----------
    mesh : the mesh; its GPU buffers are built once here.
    znear : near clipping distance in metres (geometry closer than this is not seen).
    zfar : far clipping distance in metres.
    """

    name = "pyrender"
    CHUNK = 1 << 22

    def __init__(self, mesh: Mesh, znear: float = 0.05, zfar: float = 1000.0, threads: int = 0):
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        try:
            import pyrender
        except Exception as err:  # ImportError, or an OpenGL platform that cannot load
            raise RuntimeError(f"the pyrender backend needs pyrender and OpenGL/EGL: {err}") from None
        self._pyrender = pyrender
        self.mesh = mesh
        self.znear, self.zfar = float(znear), float(zfar)
        self._normals = mesh.face_normals()
        self.scene = pyrender.Scene(bg_color=[0, 0, 0, 0])
        self._seg = {}
        verts = mesh.vertices.astype(np.float32)
        for k, start in enumerate(range(0, len(mesh.faces), self.CHUNK)):
            faces = mesh.faces[start:start + self.CHUNK]
            # both windings, so that no triangle is culled whichever side the camera is on
            both = np.concatenate([faces, faces[:, ::-1]]).astype(np.uint32)
            prim = pyrender.Primitive(positions=verts, indices=both, mode=pyrender.constants.GLTF.TRIANGLES)
            node = self.scene.add(pyrender.Mesh([prim]))
            self._seg[node] = (k, len(faces))
        self._gl = None
        self._camera_node = None

    def _renderer(self, width, height):
        """The offscreen renderer (one GL context per mesh), resized to ``width`` x ``height``."""
        if self._gl is None:
            from pyrender.shader_program import ShaderProgram

            self._gl = self._pyrender.OffscreenRenderer(width, height)

            class IdPrograms:
                """Program cache answering every request with the triangle-id program."""

                def __init__(self):
                    self._programs = {}

                def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):
                    key = tuple(sorted((defines or {}).items()))
                    if key not in self._programs:
                        self._programs[key] = ShaderProgram(str(SHADERS / "triangle_id.vert"),
                                                            str(SHADERS / "triangle_id.frag"), None, defines=defines)
                    return self._programs[key]

                def clear(self):
                    for p in self._programs.values():
                        p.delete()
                    self._programs = {}

            self._gl._renderer._program_cache = IdPrograms()
        self._gl.viewport_width, self._gl.viewport_height = width, height
        return self._gl

    def triangle_ids(self, camera: Camera) -> np.ndarray:
        """(H, W) int64 id of the triangle seen at each pixel centre, -1 for none."""
        pr = self._pyrender
        f = camera.focal
        # principal point W/2, H/2 in window coordinates = pixel centre (W-1)/2 of spec section 2
        cam = pr.IntrinsicsCamera(f, f, camera.width / 2.0, camera.height / 2.0, znear=self.znear, zfar=self.zfar)
        pose = np.eye(4)
        pose[:3, :3] = camera.rotation
        pose[:3, 3] = camera.location
        if self._camera_node is not None:
            self.scene.remove_node(self._camera_node)
        self._camera_node = self.scene.add(cam, pose=pose)
        seg = {node: [k, 0, 0] for node, (k, _) in self._seg.items()}
        color, depth = self._renderer(camera.width, camera.height).render(
            self.scene, flags=pr.RenderFlags.SEG | pr.RenderFlags.RGBA, seg_node_map=seg)
        c = color.astype(np.int64)
        raw = c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)
        chunk = c[..., 3]
        n_faces = np.array([n for _, n in sorted(self._seg.values())], dtype=np.int64)
        hit = depth > 0
        ids = np.full(depth.shape, -1, dtype=np.int64)
        k = np.minimum(chunk[hit], len(n_faces) - 1)
        ids[hit] = k * self.CHUNK + raw[hit] % n_faces[k]  # the reversed copy maps back to its face
        return ids

    def render(self, camera: Camera) -> GeometryBuffer:
        """Rasterise the triangle ids, then intersect each pixel's ray with its triangle.

        Panoramas (equirectangular cameras) cannot be rasterised with one projection; they are
        ray cast with an :class:`Open3DRenderer` built on first use.
        """
        if camera.model != "perspective":
            if getattr(self, "_raycaster", None) is None:
                self._raycaster = Open3DRenderer(self.mesh)
            return self._raycaster.render(camera)
        tri = self.triangle_ids(camera)
        t, uv, prim = geometry.intersect_triangles(tri, self.mesh.vertices, self.mesh.faces, camera.location,
                                                   camera.rotation, camera.focal)
        depth, distance, triangle, normal = geometry.hit_geometry(t, prim, self._normals, camera.rotation,
                                                                  camera.focal)
        return GeometryBuffer(camera, depth, distance, triangle, uv, normal)


RENDERERS = {"open3d": Open3DRenderer, "pyrender": PyrenderRenderer}


def make_renderer(mesh: Mesh, backend: str = "open3d", **kw):
    """The renderer named ``backend`` for ``mesh``."""
    try:
        cls = RENDERERS[backend]
    except KeyError:
        raise ValueError(f"unknown renderer '{backend}' (available: {', '.join(RENDERERS)})") from None
    return cls(mesh, **kw)
