"""Equirectangular panoramas: Omnidata's ``point_{P}_view_equirectangular_domain_*`` files.

A camera with ``model="equirectangular"`` (:meth:`labelgen.camera._cameras.Camera.with_model`) renders a
``2H x H`` panorama around its location. Pixel centre ``(i + 0.5, j + 0.5)`` is the ray with
longitude ``lon = 2 pi (i + 0.5) / W - pi`` and latitude ``lat = pi / 2 - pi (j + 0.5) / H``,
direction ``(cos lat sin lon, sin lat, -cos lat cos lon)`` in Blender camera axes (x right,
y up, -z forward): the centre column looks forward, the top row straight up, the right half
to the camera's right. This is Blender's equirectangular camera (Cycles: longitude -180..180,
latitude -90..90), which Omnidata's annotator used (``utils.make_camera_data_pano``).

Labels on a panorama (:data:`PANORAMA_LABELS`) are computed from the panorama's geometry buffer
with the same encodings as for perspective views: ``depth_euclidean`` (distance along the
ray), ``normal`` (camera frame, OpenCV axes, facing the camera), ``reshading`` (lamp at the
camera), ``mask_valid``, ``rgb``, ``semantic``, ``fragments``, ``principal_curvature``. The
others assume an image plane (z-buffer depth, 2D filters on a perspective image, NARF's range
image, vanishing points in the image) and are skipped with a reason.

Omnidata's shipped Replica panoramas (``omnidata_annotator/assets/replica/
point_000{6,9}_view_equirectangular_domain_{depth_euclidean,normal}.png``) agree with this ray
convention: the normals recomputed from their depth panoramas with these rays match their
normal panoramas on 98-99 % of pixels, with up at the top and no mirroring. Their normals,
however, are not in the camera frame: they are Cycles shading normals in *world* axes (the
annotator's bump-node material writes ``R = x, G = -z, B = y`` of the world normal), which
equals the camera frame only for a camera with rotation (90 deg, 0, 0); the two panoramas need
a turn of 230 and 165 degrees about the vertical to match the camera frame. labelgen writes
camera-frame normals, as for perspective views (see ``docs/omnidata.md``).
"""
from __future__ import annotations

import numpy as np

from labelgen.kernels import panorama as kernels

#: Labels that a panorama can carry.
PANORAMA_LABELS = ("depth_euclidean", "normal", "reshading", "mask_valid", "rgb", "semantic", "fragments",
                   "principal_curvature")
#: Why the others are skipped on panoramas.
NOT_ON_PANORAMA = "not made for equirectangular panoramas (needs a perspective image plane)"


def split_tasks(tasks, camera) -> tuple[list[str], dict[str, str]]:
    """``(tasks to make, {task: reason skipped})`` for ``camera`` (all tasks for perspective)."""
    if getattr(camera, "model", "perspective") == "perspective":
        return list(tasks), {}
    keep = [t for t in tasks if t in PANORAMA_LABELS]
    return keep, {t: NOT_ON_PANORAMA for t in tasks if t not in PANORAMA_LABELS}


def directions(width: int, height: int) -> np.ndarray:
    """(H, W, 3) unit ray directions of a ``width x height`` panorama in Blender camera axes."""
    return kernels.equirectangular_directions(int(width), int(height))


def pixel_of_direction(direction, width: int, height: int) -> np.ndarray:
    """(..., 2) continuous pixel coordinates (column, row) of camera-frame directions.

    Pixel ``(i, j)``'s centre is at ``(i + 0.5, j + 0.5)`` in these coordinates, so the pixel
    holding a direction is ``floor`` of the result.
    """
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    lon = np.arctan2(d[..., 0], -d[..., 2])
    lat = np.arcsin(np.clip(d[..., 1], -1.0, 1.0))
    col = (lon + np.pi) / (2 * np.pi) * width
    row = (np.pi / 2 - lat) / np.pi * height
    return np.stack([col, row], axis=-1)


def render_equirectangular(renderer, camera):
    """The :class:`~labelgen.render._renderers.GeometryBuffer` of a panorama, ray cast with ``renderer``.

    ``renderer`` is an :class:`~labelgen.render._renderers.Open3DRenderer`. The buffer's ``depth``
    holds the Euclidean distance too (a panorama has no viewing axis), so that validity is the
    distance being encodable.
    """
    from labelgen.render._gbuffer import GeometryBuffer

    rays = kernels.equirectangular_rays(camera.location, camera.rotation, camera.width, camera.height)
    hit = renderer.scene.cast_rays(rays)
    distance, triangle, normal = kernels.equirectangular_hit_geometry(
        hit["t_hit"], hit["primitive_ids"], renderer.scene.normals, camera.rotation)
    return GeometryBuffer(camera, distance, distance, triangle, hit["primitive_uvs"], normal)


def reshade(gbuffer, energy: float, falloff: float, units: float, invalid_depth: int, invalid: int) -> np.ndarray:
    """uint8 grey reshading of a panorama's geometry buffer (see the reshading label)."""
    return kernels.equirectangular_reshade(gbuffer.normal, gbuffer.distance, gbuffer.valid(units, invalid_depth),
                                           float(energy), float(falloff), int(invalid))


def check_unique_points(cameras) -> None:
    """Error when two panorama cameras would write the same files (same point)."""
    from labelgen.core._errors import LabelgenError

    seen = set()
    for cam in cameras:
        if cam.model == "perspective":
            continue
        if cam.point in seen:
            raise LabelgenError("--cameras", f"two equirectangular cameras for point {cam.point}: panoramas are "
                                             f"named point_{{P}}_view_equirectangular, one per point")
        seen.add(cam.point)
