"""Equirectangular (panorama) kernels: rays, hit geometry and shading of a 2H x H panorama.

Ray convention (Blender's equirectangular camera, which Omnidata used for its panoramas): the
centre of pixel (column ``i``, row ``j``) of a ``W x H`` panorama is the ray with longitude
``lon = 2 pi (i + 0.5) / W - pi`` and latitude ``lat = pi / 2 - pi (j + 0.5) / H``, whose unit
direction in Blender camera axes (x right, y up, -z forward) is
``(cos lat sin lon, sin lat, -cos lat cos lon)``: the centre column looks forward, the top
row up, the right half of the image to the camera's right. Rays have unit length, so a hit
parameter along them is the Euclidean distance. References for the tests: the plain numpy
expressions in ``tests/test_omnidata.py``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

INVALID_ID = np.uint32(0xFFFFFFFF)


@njit(cache=True)
def _direction(i, j, width, height):
    lon = 2.0 * np.pi * (i + 0.5) / width - np.pi
    lat = 0.5 * np.pi - np.pi * (j + 0.5) / height
    c = np.cos(lat)
    return c * np.sin(lon), np.sin(lat), -c * np.cos(lon)


@njit(cache=True)
def equirectangular_directions(width, height):
    """(H, W, 3) float64 unit ray directions in Blender camera axes (see the module docstring)."""
    out = np.empty((height, width, 3))
    for j in range(height):
        for i in range(width):
            x, y, z = _direction(i, j, width, height)
            out[j, i, 0] = x
            out[j, i, 1] = y
            out[j, i, 2] = z
    return out


@njit(cache=True)
def equirectangular_rays(location, rotation, width, height):
    """(H, W, 6) float32 rays [origin, unit world direction] through the pixel centres."""
    rays = np.empty((height, width, 6), dtype=np.float32)
    for j in range(height):
        for i in range(width):
            x, y, z = _direction(i, j, width, height)
            for k in range(3):
                rays[j, i, k] = location[k]
                rays[j, i, 3 + k] = rotation[k, 0] * x + rotation[k, 1] * y + rotation[k, 2] * z
    return rays


@njit(cache=True)
def equirectangular_hit_geometry(t_hit, primitive, face_normals, rotation):
    """Distances and camera-space normals of one panorama.

    Parameters
    ----------
    t_hit : (H, W) float32 hit parameter along unit rays (the Euclidean distance); inf for none.
    primitive : (H, W) uint32 triangle ids (0xFFFFFFFF for no hit).
    face_normals : (M, 3) float64 unit face normals in world axes.
    rotation : (3, 3) float64 camera-to-world rotation.

    Returns
    -------
    distance : (H, W) float64 Euclidean distance (inf for no hit).
    triangle : (H, W) int64 triangle id (-1 for no hit).
    normal : (H, W, 3) float64 normal in OpenCV camera axes (x right, y down, z forward),
        flipped to face the camera (against the pixel's ray); 0 for no hit.
    """
    h, w = t_hit.shape
    distance = np.empty((h, w))
    triangle = np.empty((h, w), dtype=np.int64)
    normal = np.zeros((h, w, 3))
    for j in range(h):
        for i in range(w):
            t = np.float64(t_hit[j, i])
            p = primitive[j, i]
            if p == INVALID_ID or not np.isfinite(t):
                distance[j, i] = np.inf
                triangle[j, i] = -1
                continue
            distance[j, i] = t
            triangle[j, i] = p
            x, y, z = _direction(i, j, w, h)
            nx = rotation[0, 0] * face_normals[p, 0] + rotation[1, 0] * face_normals[p, 1] + rotation[2, 0] * face_normals[p, 2]
            ny = rotation[0, 1] * face_normals[p, 0] + rotation[1, 1] * face_normals[p, 1] + rotation[2, 1] * face_normals[p, 2]
            nz = rotation[0, 2] * face_normals[p, 0] + rotation[1, 2] * face_normals[p, 1] + rotation[2, 2] * face_normals[p, 2]
            if nx * x + ny * y + nz * z > 0.0:  # faces away from the camera: flip
                nx, ny, nz = -nx, -ny, -nz
            normal[j, i, 0] = nx
            normal[j, i, 1] = -ny
            normal[j, i, 2] = -nz
    return distance, triangle, normal


@njit(cache=True)
def equirectangular_reshade(normal, distance, valid, energy, falloff, invalid):
    """uint8 Lambert shading from a point lamp at the camera, for a panorama.

    The same formula as the perspective kernel (:func:`labelgen.kernels.geometry.reshade`):
    ``s = energy * falloff / (falloff + r^2) * max(0, n . l)``, ``l`` the unit vector from the
    hit to the camera (minus the pixel's ray), ``normal`` in OpenCV camera axes.
    """
    h, w = valid.shape
    out = np.empty((h, w), dtype=np.uint8)
    for j in range(h):
        for i in range(w):
            if not valid[j, i]:
                out[j, i] = invalid
                continue
            x, y, z = _direction(i, j, w, h)
            # ray in OpenCV axes: (x, -y, -z); l = -ray
            cos = -(normal[j, i, 0] * x - normal[j, i, 1] * y - normal[j, i, 2] * z)
            r = distance[j, i]
            s = energy * falloff / (falloff + r * r) * max(0.0, cos)
            out[j, i] = np.uint8(np.rint(min(1.0, max(0.0, s)) * 255.0))
    return out
