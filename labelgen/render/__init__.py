"""Renderers: mesh + camera -> per-view geometry buffer (Open3D ray casting, pyrender/OpenGL, equirectangular panoramas)."""

from labelgen.render._renderers import GeometryBuffer, Open3DRenderer, PyrenderRenderer, RENDERERS, make_renderer
from labelgen.render._raycast import RaycastScene
from labelgen.render._panorama import PANORAMA_LABELS, split_tasks

__all__ = ["GeometryBuffer", "Open3DRenderer", "PyrenderRenderer", "RENDERERS", "make_renderer", "RaycastScene", "PANORAMA_LABELS", "split_tasks"]
