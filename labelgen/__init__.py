"""labelgen: Taskonomy / Omnidata mid-level vision labels from meshes and cameras.

Python API::

    import labelgen
    mesh = labelgen.load_mesh("scan.glb")
    cam = labelgen.Camera.look_at(eye=[0, 0, 1.5], target=[2, 0, 1.5], fov=1.0, width=640, height=480)
    labels, skipped = labelgen.render_view(mesh, cam, tasks=["depth_zbuffer", "normal"])
"""
__version__ = "0.1.0"

from .cameras import Camera, read_cameras  # noqa: E402
from .errors import LabelgenError  # noqa: E402
from .labels import all_labels, get_label  # noqa: E402
from .meshes import Mesh, load_mesh  # noqa: E402
from .rendering import GeometryBuffer, Open3DRenderer, make_renderer  # noqa: E402
from .runner import derive_building, render_building, render_view  # noqa: E402

__all__ = ["Camera", "read_cameras", "LabelgenError", "all_labels", "get_label", "Mesh", "load_mesh",
           "GeometryBuffer", "Open3DRenderer", "make_renderer", "derive_building", "render_building",
           "render_view"]
