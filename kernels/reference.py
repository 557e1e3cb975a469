"""Slow, obviously-correct references for the kernels (numpy / scipy / scikit-image).

Tests hold the Numba kernels in :mod:`labelgen.kernels.filters`, :mod:`~labelgen.kernels.edges`,
:mod:`~labelgen.kernels.hessian` and :mod:`~labelgen.kernels.texture` against these, and ``benchmarks/bench_image_kernels.py`` times them
side by side. Each one is written the way the original Taskonomy scripts computed the label
(scikit-image of 2017 on top of scipy.ndimage), so that agreement means bit-exactness.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from . import curvature

#: scikit-image's Sobel kernels (``HSOBEL_WEIGHTS``, ``VSOBEL_WEIGHTS``), used with
#: ``scipy.ndimage.convolve``.
HSOBEL = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) / 4.0
VSOBEL = HSOBEL.T


def gaussian_masked_ref(image, mask, sigma, truncate=4.0):
    """scikit-image's ``smooth_with_function_and_mask`` around ``ndi.gaussian_filter``.

    ``image`` (H, W) or (H, W, C) float32/float64; channels are smoothed independently.
    """
    image = np.asarray(image)
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    if mask is None:
        mask = np.ones(image.shape[:2], bool)
    sig = (sigma, sigma) + (0,) * (image.ndim - 2)

    def fsmooth(x, s):
        return ndi.gaussian_filter(x, s, mode="constant", truncate=truncate)

    bleed_over = fsmooth(mask.astype(float), (sigma, sigma))
    masked_image = np.zeros(image.shape, image.dtype)
    masked_image[mask] = image[mask]
    smoothed = fsmooth(masked_image, sig)
    if image.ndim == 3:
        bleed_over = bleed_over[:, :, None]
    return smoothed / (bleed_over + np.finfo(float).eps)


def sobel_ref(image, mask=None):
    """Sobel magnitude as scikit-image <= 0.14 computed it.

    ``sqrt(sobel_h^2 + sobel_v^2) / sqrt(2)``, each from ``ndi.convolve`` with the 3x3
    kernels above, and 0 outside the mask eroded by a 3x3 square (border value 0), so the
    outermost rows and columns are always 0.
    """
    image = np.asarray(image, dtype=np.float64)
    if mask is None:
        mask = np.ones(image.shape, bool)
    keep = ndi.binary_erosion(mask, np.ones((3, 3), bool), border_value=0)
    h = ndi.convolve(image, HSOBEL)
    v = ndi.convolve(image, VSOBEL)
    h[~keep] = 0
    v[~keep] = 0
    out = np.sqrt(h ** 2 + v ** 2)
    out /= np.sqrt(2)
    return out


def integral_image_ref(image):
    """scikit-image's ``integral_image`` in float64 (cumulative sums, axis 0 then 1)."""
    from skimage.transform import integral_image

    return integral_image(np.asarray(image, dtype=np.float64))


def hessian_det_ref(integral, sigma, float32_intermediate=True):
    """Box-filter (SURF) Hessian determinant of an integral image at one scale.

    With ``float32_intermediate=False`` this is scikit-image's current
    ``_hessian_matrix_det`` itself. With ``True`` it is the 2015-2021 Cython version that made
    the Taskonomy labels, whose ``dxx``, ``dyy``, ``dxy`` were C ``float``: the same formula
    written out with numpy, rounding to float32 where that code did.
    """
    integral = np.ascontiguousarray(integral, dtype=np.float64)
    if not float32_intermediate:
        from skimage.feature._hessian_det_appx import _hessian_matrix_det

        return _hessian_matrix_det(integral, sigma)
    f32 = np.float32
    h, w = integral.shape
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")

    def integ(r, c, rl, cl):
        r0 = np.clip(r, 0, h - 1)
        c0 = np.clip(c, 0, w - 1)
        r2 = np.clip(r0 + rl, 0, h - 1)
        c2 = np.clip(c0 + cl, 0, w - 1)
        ans = integral[r0, c0] + integral[r2, c2] - integral[r0, c2] - integral[r2, c0]
        return np.maximum(ans, 0.0)

    size = int(3 * sigma)
    s2 = (size - 1) // 2
    s3 = size // 3
    w_i = 1.0 / size / size
    tl = integ(rr - s3, cc - s3, s3, s3)
    br = integ(rr + 1, cc + 1, s3, s3)
    bl = integ(rr - s3, cc + 1, s3, s3)
    tr = integ(rr + 1, cc - s3, s3, s3)
    dxy = (bl + tr - tl - br).astype(f32)
    dxy = (-dxy.astype(np.float64) * w_i).astype(f32)
    mid = integ(rr - s3 + 1, cc - s2, 2 * s3 - 1, size)
    side = integ(rr - s3 + 1, cc - s3 // 2, 2 * s3 - 1, s3)
    dxx = (mid - 3 * side).astype(f32)
    dxx = (-dxx.astype(np.float64) * w_i).astype(f32)
    mid = integ(rr - s2, cc - s3 + 1, size, 2 * s3 - 1)
    side = integ(rr - s3 // 2, cc - s3 + 1, s3, 2 * s3 - 1)
    dyy = (mid - 3 * side).astype(f32)
    dyy = (-dyy.astype(np.float64) * w_i).astype(f32)
    return (dxx * dyy).astype(np.float64) - 0.81 * (dxy * dxy).astype(np.float64)


def hessian_det_max_ref(image, sigmas, float32_intermediate=True):
    """Per-pixel maximum over ``sigmas`` of :func:`hessian_det_ref` of ``image``'s integral."""
    integral = integral_image_ref(image)
    cube = np.dstack([hessian_det_ref(integral, s, float32_intermediate) for s in sigmas])
    return np.max(cube, axis=2)


def bilinear_wrap_reference(image: np.ndarray, u, v) -> np.ndarray:
    """:func:`labelgen.kernels.texture.bilinear_wrap` with :func:`scipy.ndimage.map_coordinates` (slow reference)."""
    from scipy.ndimage import map_coordinates

    img = image if image.ndim == 3 else image[:, :, None]
    h, w = img.shape[:2]
    x = np.asarray(u, np.float64) * w - 0.5
    y = (1.0 - np.asarray(v, np.float64)) * h - 0.5
    out = np.empty((len(x), img.shape[2]))
    for c in range(img.shape[2]):
        out[:, c] = map_coordinates(img[:, :, c].astype(np.float64), [y, x], order=1, mode="grid-wrap")
    return out


# -- principal curvature (labelgen.kernels.curvature) -----------------------------------

def _apss_fit_reference(x, P, N, R, scale, beta, facing):
    """Algebraic sphere (u0, uL, u4) fitted at ``x`` (NumPy) to the points ``facing`` (bool),
    or None without neighbours."""
    d2 = np.sum((P - x) ** 2, axis=1)
    t = 1.0 - d2 / (scale * R) ** 2
    m = (t > 0) & facing
    if not np.any(m):
        return None
    w = t[m] ** 4
    p, nn = P[m], N[m]
    sw = w.sum()
    sp = w @ p
    sn = w @ nn
    spn = w @ np.sum(p * nn, axis=1)
    spp = w @ np.sum(p * p, axis=1)
    u4 = beta * 0.5 * (spn - sp @ sn / sw) / (spp - sp @ sp / sw)
    uL = (sn - 2.0 * u4 * sp) / sw
    u0 = -(uL @ sp + u4 * spp) / sw
    return u0, uL, u4, int(m.sum())


def apss_curvature_reference(points, normals, radii, filter_scale=4.0, spherical=1.0, accuracy=1e-4,
                             max_iters=15, min_neighbors=6, step=None, max_move=None):
    """Slow reference for :func:`labelgen.kernels.curvature.apss_curvature`: the same fit and projection written with
    NumPy over all points, gradient and Hessian of the field by central finite differences.

    ``step`` is the finite-difference step (default 1e-3 times each point's radius).
    Returns ``(k1, k2, status)`` like :func:`~labelgen.kernels.curvature.apss_curvature`.
    """
    P = np.asarray(points, dtype=np.float64)
    N = np.asarray(normals, dtype=np.float64)
    R = np.asarray(radii, dtype=np.float64)
    n = len(P)
    k1 = np.zeros(n)
    k2 = np.zeros(n)
    status = np.full(n, curvature.NO_POINT, dtype=np.int8)
    use = np.linalg.norm(N, axis=1) > 1e-12
    Pu, Nu, Ru = P[use], N[use], R[use]
    eps2 = (accuracy * Ru.mean()) ** 2
    max_move = filter_scale if max_move is None else max_move

    for i in np.flatnonzero(use):
        c = P[i]
        Pc = Pu - c  # centred coordinates, as in the kernel
        facing = Nu @ N[i] > 0  # points whose normal faces the same side as this vertex's
        x0 = np.zeros(3)
        fit = _apss_fit_reference(x0, Pc, Nu, Ru, filter_scale, spherical, facing)
        if fit is None or fit[3] < min_neighbors:
            status[i] = curvature.TOO_FEW
            continue
        pos = x0.copy()
        for _ in range(max_iters):
            fit = _apss_fit_reference(pos, Pc, Nu, Ru, filter_scale, spherical, facing)
            if fit is None:
                break
            u0, uL, u4, _ = fit
            prev = pos
            pos = _apss_project_step(x0, u0, uL, u4)
            if np.linalg.norm(pos) > max_move * R[i]:
                break
            if np.sum((prev - pos) ** 2) <= eps2:
                break
        if np.linalg.norm(pos) > max_move * R[i]:
            status[i] = curvature.DIVERGED
            continue

        def field(y):
            f = _apss_fit_reference(y, Pc, Nu, Ru, filter_scale, spherical, facing)
            u0, uL, u4, _ = f
            return u0 + uL @ y + u4 * (y @ y)

        hstep = (1e-3 * R[i]) if step is None else step
        g = np.zeros(3)
        H = np.zeros((3, 3))
        f0 = field(pos)
        E = np.eye(3) * hstep
        for a in range(3):
            g[a] = (field(pos + E[a]) - field(pos - E[a])) / (2 * hstep)
            H[a, a] = (field(pos + E[a]) - 2 * f0 + field(pos - E[a])) / hstep ** 2
            for b in range(a + 1, 3):
                H[a, b] = H[b, a] = (field(pos + E[a] + E[b]) - field(pos + E[a] - E[b])
                                     - field(pos - E[a] + E[b]) + field(pos - E[a] - E[b])) / (4 * hstep ** 2)
        gl = np.linalg.norm(g)
        if not gl > 1e-12:
            status[i] = curvature.NO_GRADIENT
            continue
        nrm = g / gl
        proj = np.eye(3) - np.outer(nrm, nrm)
        W = proj @ H @ proj / gl
        a, b = _apss_tangent_eigs(W, nrm)
        if abs(a) < abs(b):
            a, b = b, a
        k1[i], k2[i], status[i] = a, b, curvature.OK
    return k1, k2, status


def _apss_tangent_eigs(W, nrm):
    t1 = np.cross(nrm, [1.0, 0, 0] if abs(nrm[0]) < 0.9 else [0, 1.0, 0])
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(nrm, t1)
    T = np.stack([t1, t2], axis=1)
    return np.linalg.eigvalsh(T.T @ W @ T)


def _apss_project_step(x0, u0, uL, u4):
    """One APSS projection of ``x0`` onto the algebraic sphere (u0, uL, u4) (NumPy)."""
    if abs(u4) > 1e-7:
        centre = -0.5 * uL / u4
        radius = np.sqrt(max(centre @ centre - u0 / u4, 0.0))
        d = x0 - centre
        return centre + d / np.linalg.norm(d) * radius
    gl = np.linalg.norm(uL)
    return x0 - uL / gl * ((uL @ x0 + u0) / gl)


def interpolate_refined_reference(values, apex, rows, cols, grid_offset, grid, triangle, barycentric, valid):
    """Slow reference for :func:`labelgen.kernels.refinement.interpolate_refined`: NumPy over
    the valid pixels, the same grid cell and the same float64 operations."""
    values = np.asarray(values, dtype=np.uint8)
    if values.ndim == 1:
        values = values[:, None]
    out = np.zeros(triangle.shape + (values.shape[1],), dtype=np.uint8)
    f = triangle[valid]
    u = barycentric[valid][:, 0].astype(np.float64)
    v = barycentric[valid][:, 1].astype(np.float64)
    ap, m, k, o = (np.asarray(x, dtype=np.int64)[f] for x in (apex, rows, cols, grid_offset))
    vals = values.astype(np.float64)
    res = np.empty((len(f), values.shape[1]))
    plain = (m == 1) & (k == 1)
    # faces not split: (1-u-v) a + u b + v c
    i0, i1, i2 = grid[o[plain]], grid[o[plain] + 2], grid[o[plain] + 3]
    up, vp = u[plain][:, None], v[plain][:, None]
    res[plain] = (1.0 - up - vp) * vals[i0] + up * vals[i1] + vp * vals[i2]
    # split faces: grid coordinates from the apex, bilinear in the cell
    sp = ~plain
    u, v, ap, m, k, o = u[sp], v[sp], ap[sp], m[sp], k[sp], o[sp]
    w0 = 1.0 - u - v
    wb = np.select([ap == 0, ap == 1], [u, v], w0)
    wc = np.select([ap == 0, ap == 1], [v, w0], u)
    s = wb + wc
    t = np.divide(wc, s, out=np.zeros_like(s), where=s > 0.0)
    x, y = s * m, t * k
    i = np.clip(np.floor(x).astype(np.int64), 0, m - 1)
    j = np.clip(np.floor(y).astype(np.int64), 0, k - 1)
    fs, ft = (x - i)[:, None], (y - j)[:, None]
    q00 = vals[grid[o + i * (k + 1) + j]]
    q01 = vals[grid[o + i * (k + 1) + j + 1]]
    q10 = vals[grid[o + (i + 1) * (k + 1) + j]]
    q11 = vals[grid[o + (i + 1) * (k + 1) + j + 1]]
    lo = q00 + ft * (q01 - q00)
    hi = q10 + ft * (q11 - q10)
    res[sp] = lo + fs * (hi - lo)
    out[valid] = np.clip(np.rint(res), 0, 254).astype(np.uint8)
    return out
