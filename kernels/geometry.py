"""Per-pixel geometry kernels: ray hits to camera-space geometry, and label encoders.

Conventions are those of spec sections 2 and 3: pixel column ``i`` sits at
``x = i - (W - 1) / 2``, row ``j`` at ``y = (H - 1) / 2 - j`` (Blender camera: +Y up, looking
along -Z). Normals returned here are in OpenCV camera axes (x right, y down, z forward),
flipped to face the camera. References for the tests: the plain numpy expressions in
``tests/test_kernels_geometry.py``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

INVALID_ID = np.uint32(0xFFFFFFFF)


@njit(cache=True)
def hit_geometry(t_hit, primitive, face_normals, rotation, focal):
    """Hit distances and camera-space normals of one view.

    Parameters
    ----------
    t_hit : (H, W) float32, hit parameter along rays whose camera-z component is -1
        (so it is the z-buffer depth); inf for no hit.
    primitive : (H, W) uint32 triangle ids (0xFFFFFFFF for no hit).
    face_normals : (M, 3) float64 unit face normals in world axes.
    rotation : (3, 3) float64 camera-to-world rotation.
    focal : focal length in pixels.

    Returns
    -------
    depth : (H, W) float64 z-buffer depth (inf for no hit).
    distance : (H, W) float64 Euclidean distance from the optical centre (inf for no hit).
    triangle : (H, W) int64 triangle id (-1 for no hit).
    normal : (H, W, 3) float64 OpenCV-camera-axes normal facing the camera (0 for no hit).
    """
    h, w = t_hit.shape
    depth = np.empty((h, w))
    distance = np.empty((h, w))
    triangle = np.empty((h, w), dtype=np.int64)
    normal = np.zeros((h, w, 3))
    cx = (w - 1) / 2.0
    cy = (h - 1) / 2.0
    for j in range(h):
        y = (cy - j) / focal
        for i in range(w):
            t = np.float64(t_hit[j, i])
            p = primitive[j, i]
            if p == INVALID_ID or not np.isfinite(t):
                depth[j, i] = np.inf
                distance[j, i] = np.inf
                triangle[j, i] = -1
                continue
            x = (i - cx) / focal
            length = np.sqrt(x * x + y * y + 1.0)
            depth[j, i] = t
            distance[j, i] = t * length
            triangle[j, i] = p
            # world normal -> Blender camera axes (R^T n)
            nx = rotation[0, 0] * face_normals[p, 0] + rotation[1, 0] * face_normals[p, 1] + rotation[2, 0] * face_normals[p, 2]
            ny = rotation[0, 1] * face_normals[p, 0] + rotation[1, 1] * face_normals[p, 1] + rotation[2, 1] * face_normals[p, 2]
            nz = rotation[0, 2] * face_normals[p, 0] + rotation[1, 2] * face_normals[p, 1] + rotation[2, 2] * face_normals[p, 2]
            if nx * x + ny * y - nz > 0.0:  # faces away from the camera: flip
                nx, ny, nz = -nx, -ny, -nz
            normal[j, i, 0] = nx
            normal[j, i, 1] = -ny
            normal[j, i, 2] = -nz
    return depth, distance, triangle, normal


@njit(cache=True)
def valid_depth(depth, distance, units, invalid):
    """Pixels whose z-buffer and Euclidean depths are both finite and encodable (< invalid)."""
    h, w = depth.shape
    out = np.empty((h, w), dtype=np.bool_)
    limit = invalid - 0.5
    for j in range(h):
        for i in range(w):
            a = depth[j, i] * units
            b = distance[j, i] * units
            out[j, i] = np.isfinite(a) and np.isfinite(b) and 0.0 <= a < limit and 0.0 <= b < limit
    return out


@njit(cache=True)
def encode_depth(metres, valid, units, invalid):
    """uint16 ``rint(metres * units)`` where valid, ``invalid`` elsewhere."""
    h, w = metres.shape
    out = np.empty((h, w), dtype=np.uint16)
    for j in range(h):
        for i in range(w):
            out[j, i] = np.uint16(np.rint(metres[j, i] * units)) if valid[j, i] else invalid
    return out


@njit(cache=True)
def encode_normal(normal, valid, invalid):
    """uint8 ``rint((n + 1) * 127.5)`` per channel (n clipped to [-1, 1]); ``invalid`` elsewhere."""
    h, w = valid.shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    for j in range(h):
        for i in range(w):
            for c in range(3):
                if valid[j, i]:
                    n = min(1.0, max(-1.0, normal[j, i, c]))
                    out[j, i, c] = np.uint8(np.rint((n + 1.0) * 127.5))
                else:
                    out[j, i, c] = invalid
    return out


@njit(cache=True)
def reshade(normal, distance, valid, focal, energy, falloff, invalid):
    """uint8 Lambert shading from a point lamp at the camera (spec section 3).

    ``s = energy * falloff / (falloff + r^2) * max(0, n . l)``, ``l`` the unit vector from the
    hit to the camera, ``normal`` in OpenCV camera axes; stored as ``rint(clip(s, 0, 1) * 255)``.
    """
    h, w = valid.shape
    out = np.empty((h, w), dtype=np.uint8)
    cx = (w - 1) / 2.0
    cy = (h - 1) / 2.0
    for j in range(h):
        y = (j - cy) / focal  # OpenCV y (down)
        for i in range(w):
            if not valid[j, i]:
                out[j, i] = invalid
                continue
            x = (i - cx) / focal
            length = np.sqrt(x * x + y * y + 1.0)
            cos = -(normal[j, i, 0] * x + normal[j, i, 1] * y + normal[j, i, 2]) / length
            r = distance[j, i]
            s = energy * falloff / (falloff + r * r) * max(0.0, cos)
            out[j, i] = np.uint8(np.rint(min(1.0, max(0.0, s)) * 255.0))
    return out


@njit(cache=True)
def camera_rays(location, rotation, focal, width, height):
    """(H, W, 6) float32 rays [origin, direction] through the pixel centres.

    Directions are ``R @ (x / f, y / f, -1)`` (camera-z component -1), so a hit parameter
    along them is the z-buffer depth.
    """
    rays = np.empty((height, width, 6), dtype=np.float32)
    cx = (width - 1) / 2.0
    cy = (height - 1) / 2.0
    for j in range(height):
        y = (cy - j) / focal
        for i in range(width):
            x = (i - cx) / focal
            for k in range(3):
                rays[j, i, k] = location[k]
                rays[j, i, 3 + k] = rotation[k, 0] * x + rotation[k, 1] * y - rotation[k, 2]
    return rays


@njit(cache=True)
def intersect_triangles(triangle, vertices, faces, location, rotation, focal):
    """Exact ray / triangle intersection for rays whose hit triangle is already known.

    For each pixel whose ``triangle`` id is >= 0, intersects the pixel-centre ray (direction
    ``R @ (x / f, y / f, -1)``) with the plane of that triangle in float64 (Moller-Trumbore).

    Returns ``(t, uv, primitive)``: ``t`` (H, W) float64 hit parameter (= z-buffer depth; inf
    where there is no triangle or the ray is parallel to it), ``uv`` (H, W, 2) float32
    barycentrics (hit = (1-u-v) v0 + u v1 + v v2), ``primitive`` (H, W) uint32 ids with
    0xFFFFFFFF for no hit, as Open3D's ray casting returns them.
    """
    h, w = triangle.shape
    t_out = np.full((h, w), np.inf)
    uv = np.zeros((h, w, 2), dtype=np.float32)
    prim = np.full((h, w), INVALID_ID, dtype=np.uint32)
    cx = (w - 1) / 2.0
    cy = (h - 1) / 2.0
    for j in range(h):
        y = (cy - j) / focal
        for i in range(w):
            f = triangle[j, i]
            if f < 0:
                continue
            x = (i - cx) / focal
            d = np.empty(3)
            for k in range(3):
                d[k] = rotation[k, 0] * x + rotation[k, 1] * y - rotation[k, 2]
            a = vertices[faces[f, 0]]
            e1 = vertices[faces[f, 1]] - a
            e2 = vertices[faces[f, 2]] - a
            p = np.cross(d, e2)
            det = np.dot(e1, p)
            if det == 0.0:
                continue
            s = location - a
            u = np.dot(s, p) / det
            q = np.cross(s, e1)
            v = np.dot(d, q) / det
            t = np.dot(e2, q) / det
            if not t > 0.0:
                continue
            t_out[j, i] = t
            uv[j, i, 0] = u
            uv[j, i, 1] = v
            prim[j, i] = f
    return t_out, uv, prim


@njit(cache=True)
def unit_normals(codes, band):
    """(N, 3) float32 normals of (N, 3) uint8 normal codes: ``n = c / 127.5 - 1`` (float64),
    divided by its length ``sqrt(x*x + y*y + z*z)`` where that length is within ``band`` of 1,
    else kept. The same arithmetic as the numpy expression in ``tests/test_units.py``."""
    n = codes.shape[0]
    out = np.empty((n, 3), dtype=np.float32)
    for k in range(n):
        x = codes[k, 0] / 127.5 - 1.0
        y = codes[k, 1] / 127.5 - 1.0
        z = codes[k, 2] / 127.5 - 1.0
        length = np.sqrt(x * x + y * y + z * z)
        if abs(length - 1.0) <= band:
            x = x / length
            y = y / length
            z = z / length
        out[k, 0] = np.float32(x)
        out[k, 1] = np.float32(y)
        out[k, 2] = np.float32(z)
    return out
