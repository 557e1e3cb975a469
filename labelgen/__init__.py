"""labelgen: Taskonomy / Omnidata mid-level vision labels from meshes and cameras.

Python API (``docs/api.md``)::

    import labelgen
    mesh = labelgen.load_mesh("scan.glb")
    cam = labelgen.Camera.look_at(eye=[0, 0, 1.5], target=[2, 0, 1.5], fov=1.0, width=640, height=480)
    labels, skipped = labelgen.render_view(mesh, cam, tasks=["depth_zbuffer", "normal"])

Whole jobs: :func:`render_building`, :func:`derive_building`, :func:`sample_building`,
:func:`validate_building`, :func:`run_batch`. Training time: :class:`ViewDataset` and
:class:`ViewStream` (views rendered on demand), :func:`read_label` / :func:`encode_label` (labels
in physical units and back), :func:`camera_matrices` (K and pose). Subpackages, by job and
stage: ``core`` (errors, identifiers, limits), ``io`` (PNG/JSON, meshes, cache), ``camera``,
``render`` (geometry buffers), ``labels``, ``engine`` (the per-view engine every job runs on),
``sample``, ``validate``, ``batch``, ``data`` (training time) and ``cli``; ``labelgen.kernels``
holds the Numba kernels.
"""
from labelgen._version import __version__
from labelgen.camera import Camera, read_cameras
from labelgen.core import LabelgenError
from labelgen.labels import all_labels, get_label
from labelgen.io import Mesh, load_mesh
from labelgen.render import GeometryBuffer, Open3DRenderer, make_renderer
from labelgen.engine import MeshSpec, derive_building, render_building, render_view
from labelgen.sample import sample_building
from labelgen.validate import validate_building
from labelgen.batch import run_batch
from labelgen.data import (DecodedLabel, ViewDataset, ViewStream, camera_matrices, encode_label, normals_to_world,
                           read_label)

__all__ = ["__version__", "Camera", "read_cameras", "LabelgenError", "all_labels", "get_label", "Mesh", "load_mesh",
           "GeometryBuffer", "Open3DRenderer", "make_renderer", "MeshSpec", "derive_building", "render_building",
           "render_view", "sample_building", "validate_building", "run_batch", "read_label", "encode_label",
           "DecodedLabel", "camera_matrices", "normals_to_world", "ViewDataset", "ViewStream"]
