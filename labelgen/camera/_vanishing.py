"""Vanishing points and the building's Manhattan frame (spec section 5).

Vanishing points are analytic: the three axes of the building's Manhattan frame, expressed
in the camera frame, and their projections into the image. The Manhattan frame is the world
axes rotated by ``model_rotation_degrees`` about the world z axis (0 for Taskonomy); for a
mesh whose walls are not aligned with the world axes, :func:`estimate_manhattan_rotation`
finds that angle from the area-weighted face normals.

Of the four rotations of the Manhattan frame by ``k * 90`` degrees about z, the one whose
y axis lies closest to the camera's right (+X) axis is used (this is what the original code's
"camera matrix with its first two rows swapped and one negated" amounts to; it reproduces
the shipped files to 1e-12). ``vanishing_points_gaussian_sphere`` holds the x, y, z axes of
that frame in Blender camera coordinates, and ``vanishing_points_image`` projects each axis
``p`` as ``K' (0.1 p - [0, 0, 0.2])`` divided by its third coordinate, with
``K' = [[f, 0, -W/2], [0, -f, -H/2], [0, 0, -1]]`` (the intrinsic matrix with its second and
third columns negated).
"""
from __future__ import annotations

import math

import numpy as np

from labelgen.core._errors import LabelgenError

AXES = ("x", "y", "z")


def _manhattan_axes(theta: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Manhattan x and y axes (world) rotated by k * 90 degrees about z (exact for theta=0)."""
    c, s = (1.0, 0.0) if theta == 0.0 else (math.cos(theta), math.sin(theta))
    x, y = np.array([c, s, 0.0]), np.array([-s, c, 0.0])
    for _ in range(k):
        x = np.array([-x[1], x[0], 0.0])
        y = np.array([-y[1], y[0], 0.0])
    return x, y


def camera_vanishing_points(camera, model_rotation_degrees: float = 0.0) -> dict:
    """Vanishing points of one :class:`~labelgen.camera._cameras.Camera`, with explicit matrices (the
    reference that :func:`labelgen.kernels.vanishing.vanishing_point_arrays` is tested against;
    ``point_info`` of a rendered view uses it).

    Returns ``{"vanishing_points_gaussian_sphere": {x,y,z: [3]}, "vanishing_points_image":
    {x,y,z: [2]}}`` as in Taskonomy's point_info.
    """
    theta = math.radians(model_rotation_degrees)
    R = camera.rotation
    best = max(range(4), key=lambda k: (float(_manhattan_axes(theta, k)[1] @ R[:, 0]), -k))
    mx, my = _manhattan_axes(theta, best)
    axes = {"x": R.T @ mx, "y": R.T @ my, "z": R.T @ np.array([0.0, 0.0, 1.0])}
    f, W, H = camera.focal, camera.width, camera.height
    K = np.array([[f, 0.0, W / 2.0], [0.0, f, H / 2.0], [0.0, 0.0, 1.0]])
    K[:, 1:] *= -1.0
    image = {}
    for name, p in axes.items():
        q = K @ (0.1 * p - np.array([0.0, 0.0, 0.2]))
        image[name] = [float(q[0] / q[2]), float(q[1] / q[2])]
    return {"vanishing_points_gaussian_sphere": {a: [float(v) for v in axes[a]] for a in AXES},
            "vanishing_points_image": image}


def vanishing_points(cameras, model_rotation_degrees: float = 0.0) -> list[dict]:
    """Vanishing points of many cameras (the Numba kernel); the same fields as
    :func:`camera_vanishing_points`, equal to it for the world Manhattan frame and within
    1e-12 otherwise."""
    from labelgen.kernels.vanishing import vanishing_point_arrays

    cameras = list(cameras)
    if not cameras:
        return []
    gs, img = vanishing_point_arrays(np.stack([c.rotation for c in cameras]), [c.focal for c in cameras],
                     [c.width for c in cameras], [c.height for c in cameras],
                     math.radians(model_rotation_degrees))
    return [vanishing_dict(gs[i], img[i]) for i in range(len(cameras))]


def vanishing_dict(gs: np.ndarray, img: np.ndarray) -> dict:
    """The point_info fields for one camera from the kernel's (3, 3) and (3, 2) arrays."""
    return {"vanishing_points_gaussian_sphere": {a: [float(v) for v in gs[i]] for i, a in enumerate(AXES)},
            "vanishing_points_image": {a: [float(v) for v in img[i]] for i, a in enumerate(AXES)}}


def estimate_manhattan_rotation(mesh, vertical_tolerance_degrees: float = 30.0, iterations: int = 5) -> float:
    """Rotation (degrees, in [-45, 45)) of the mesh's dominant wall directions about z.

    Faces whose normal is within ``vertical_tolerance_degrees`` of horizontal vote for the
    angle of their normal modulo 90 degrees, weighted by area (the circular mean of ``4 phi``).
    The estimate is then refined a few times using only faces within 15 degrees of it, so
    that non-Manhattan clutter does not pull it. Raises :class:`LabelgenError` when the mesh
    has no (near-)vertical faces.
    """
    v, f = mesh.vertices, mesh.faces
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    area2 = np.linalg.norm(cross, axis=1)
    ok = area2 > 0
    n = cross[ok] / area2[ok, None]
    w = area2[ok]
    horiz = np.hypot(n[:, 0], n[:, 1])
    wall = horiz >= math.cos(math.radians(vertical_tolerance_degrees))
    if not np.any(wall):
        raise LabelgenError(getattr(mesh, "path", None) or "mesh",
                            "cannot estimate the Manhattan frame: the mesh has no vertical faces")
    phi = np.arctan2(n[wall, 1], n[wall, 0])
    w = w[wall]
    theta = 0.25 * math.atan2(float(np.sum(w * np.sin(4 * phi))), float(np.sum(w * np.cos(4 * phi))))
    for _ in range(iterations):
        d = (phi - theta + math.pi / 4) % (math.pi / 2) - math.pi / 4
        near = np.abs(d) < math.radians(15.0)
        if not np.any(near):
            break
        theta = theta + float(np.sum(w[near] * d[near]) / np.sum(w[near]))
    deg = math.degrees(theta)
    return (deg + 45.0) % 90.0 - 45.0
