"""Texture and vertex-colour shading of ray hits (no lighting).

:func:`bilinear_wrap` samples an image at texture coordinates with bilinear filtering and
repeat wrapping, the sampling of OpenGL's ``GL_LINEAR`` + ``GL_REPEAT`` (and of glTF's default
sampler): ``u`` runs left to right, ``v`` bottom to top (OpenGL convention, as trimesh
stores UVs for every format), texel ``(i, j)`` has its centre at
``u = (i + 0.5) / W``, ``v = 1 - (j + 0.5) / H``. Its reference,
:func:`labelgen.kernels.reference.bilinear_wrap_reference`, is
:func:`scipy.ndimage.map_coordinates` with ``order=1, mode="grid-wrap"``.

:func:`shade` colours each hit from per-face tables: a texture (UVs interpolated with the
barycentrics, then sampled), per-corner colours (vertex or face colours, interpolated), or
nothing (a default colour).
"""
from __future__ import annotations

import numba as nb
import numpy as np

#: Face colour modes for :func:`shade`.
NONE, CORNER, TEXTURE = 0, 1, 2


def bilinear_wrap(image: np.ndarray, u, v) -> np.ndarray:
    """Bilinear, repeat-wrapped samples of ``image`` (H, W, C) uint8 at ``(u, v)``; float64 (n, C)."""
    img = np.ascontiguousarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    u = np.ascontiguousarray(np.asarray(u, dtype=np.float64).ravel())
    v = np.ascontiguousarray(np.asarray(v, dtype=np.float64).ravel())
    return _bilinear(img, u, v)


def shade(triangle, barycentric, mode, corner_rgb, corner_uv, face_tex, tex_data, tex_offset, tex_height,
          tex_width, tex_factor, default_rgb) -> np.ndarray:
    """uint8 (n, 3) colours of ``n`` hits.

    Parameters
    ----------
    triangle : (n,) face index of each hit; barycentric : (n, 2) ``(u, v)`` of the hit.
    mode : (M,) int8 per face, :data:`NONE`, :data:`CORNER` or :data:`TEXTURE`.
    corner_rgb : (M, 3, 3) float32 colour (0-255) at each corner (CORNER faces).
    corner_uv : (M, 3, 2) float64 texture coordinates at each corner (TEXTURE faces).
    face_tex : (M,) int32 texture of each TEXTURE face.
    tex_data : all textures' RGB bytes, concatenated (uint8, 1-D); ``tex_offset``,
        ``tex_height``, ``tex_width`` (int64, one per texture) locate each.
    tex_factor : (T, 3) float32 factor multiplied into each texture's colour.
    default_rgb : (3,) float32 colour of NONE faces.
    """
    return _shade(np.ascontiguousarray(triangle, dtype=np.int64),
                  np.ascontiguousarray(barycentric, dtype=np.float64), mode, corner_rgb, corner_uv,
                  face_tex, tex_data, tex_offset, tex_height, tex_width, tex_factor,
                  np.asarray(default_rgb, dtype=np.float32))


@nb.njit(cache=True)
def _sample(data, off, h, w, nch, u, v, out):
    x = u * w - 0.5
    y = (1.0 - v) * h - 0.5
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    ix0 = np.int64(x0) % w
    iy0 = np.int64(y0) % h
    ix1 = (ix0 + 1) % w
    iy1 = (iy0 + 1) % h
    for c in range(nch):
        a = np.float64(data[off + (iy0 * w + ix0) * nch + c])
        b = np.float64(data[off + (iy0 * w + ix1) * nch + c])
        d = np.float64(data[off + (iy1 * w + ix0) * nch + c])
        e = np.float64(data[off + (iy1 * w + ix1) * nch + c])
        top = a + (b - a) * fx
        bot = d + (e - d) * fx
        out[c] = top + (bot - top) * fy


@nb.njit(cache=True)
def _bilinear(img, u, v):
    h, w, nch = img.shape
    flat = img.ravel()
    out = np.empty((len(u), nch))
    tmp = np.empty(nch)
    for k in range(len(u)):
        _sample(flat, 0, h, w, nch, u[k], v[k], tmp)
        out[k] = tmp
    return out


@nb.njit(cache=True)
def _to_uint8(x):
    x = np.rint(x)
    return np.uint8(0.0 if x < 0.0 else (255.0 if x > 255.0 else x))


@nb.njit(parallel=True, cache=True)
def _shade(tri, bary, mode, corner_rgb, corner_uv, face_tex, tex_data, tex_off, tex_h, tex_w,
          tex_factor, default):
    n = len(tri)
    out = np.empty((n, 3), dtype=np.uint8)
    for k in nb.prange(n):
        f = tri[k]
        b1 = bary[k, 0]
        b2 = bary[k, 1]
        b0 = 1.0 - b1 - b2
        col = np.empty(3)
        m = mode[f]
        if m == 2:
            uu = b0 * corner_uv[f, 0, 0] + b1 * corner_uv[f, 1, 0] + b2 * corner_uv[f, 2, 0]
            vv = b0 * corner_uv[f, 0, 1] + b1 * corner_uv[f, 1, 1] + b2 * corner_uv[f, 2, 1]
            t = face_tex[f]
            _sample(tex_data, tex_off[t], tex_h[t], tex_w[t], 3, uu, vv, col)
            for c in range(3):
                col[c] *= tex_factor[t, c]
        elif m == 1:
            for c in range(3):
                col[c] = b0 * corner_rgb[f, 0, c] + b1 * corner_rgb[f, 1, c] + b2 * corner_rgb[f, 2, c]
        else:
            for c in range(3):
                col[c] = default[c]
        for c in range(3):
            out[k, c] = _to_uint8(col[c])
    return out


# -- image-level shading (the labels' fast path; :func:`shade` is its reference) ------------

def shade_image(triangle, barycentric, valid, mode, corner_rgb, corner_uv, face_tex, tex_data, tex_offset,
                tex_height, tex_width, tex_factor, default_rgb, background) -> np.ndarray:
    """(H, W, 3) uint8 image: :func:`shade` of every ``valid`` pixel, ``background`` elsewhere.

    ``triangle`` (H, W) int, ``barycentric`` (H, W, 2) float32 or float64, ``valid`` (H, W)
    bool; the tables as for :func:`shade`. Bit-identical to
    ``out[valid] = shade(triangle[valid], barycentric[valid], ...)`` without gathering the
    valid pixels first.
    """
    h, w = triangle.shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    _shade_image(np.ascontiguousarray(triangle), np.ascontiguousarray(barycentric), np.ascontiguousarray(valid),
                 mode, corner_rgb, corner_uv, face_tex, tex_data, tex_offset, tex_height, tex_width, tex_factor,
                 np.asarray(default_rgb, dtype=np.float32), np.asarray(background, dtype=np.uint8), out)
    return out


@nb.njit(parallel=True, cache=True)
def _shade_image(tri, bary, valid, mode, corner_rgb, corner_uv, face_tex, tex_data, tex_off, tex_h, tex_w,
                    tex_factor, default, background, out):
    for r in nb.prange(tri.shape[0]):
        texel = np.empty(3)
        for col in range(tri.shape[1]):
            if not valid[r, col]:
                out[r, col, 0] = background[0]
                out[r, col, 1] = background[1]
                out[r, col, 2] = background[2]
                continue
            f = tri[r, col]
            b1 = np.float64(bary[r, col, 0])
            b2 = np.float64(bary[r, col, 1])
            b0 = 1.0 - b1 - b2
            m = mode[f]
            if m == 2:
                uu = b0 * corner_uv[f, 0, 0] + b1 * corner_uv[f, 1, 0] + b2 * corner_uv[f, 2, 0]
                vv = b0 * corner_uv[f, 0, 1] + b1 * corner_uv[f, 1, 1] + b2 * corner_uv[f, 2, 1]
                t = face_tex[f]
                _sample(tex_data, tex_off[t], tex_h[t], tex_w[t], 3, uu, vv, texel)
                for c in range(3):
                    out[r, col, c] = _to_uint8(texel[c] * tex_factor[t, c])
            elif m == 1:
                for c in range(3):
                    out[r, col, c] = _to_uint8(b0 * corner_rgb[f, 0, c] + b1 * corner_rgb[f, 1, c]
                                               + b2 * corner_rgb[f, 2, c])
            else:
                for c in range(3):
                    out[r, col, c] = _to_uint8(np.float64(default[c]))

