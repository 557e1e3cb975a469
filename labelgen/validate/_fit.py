"""Estimate a building's label parameters from its shipped files (``labelgen validate --fit``).

On a few views (default 3) of the building, each parameter is chosen to reproduce the shipped
files best, keeping the others at their current values:

- ``depth_units_per_meter``: a fixated view looks at its point along the optical axis, so the
  z-buffer depth at the image centre (median of the 2x2 central pixels) divided by
  point_info's ``camera_distance`` is the number of units per metre. The median over the
  views is snapped to a known value (65536 / range for the ranges 0.5, 64 and 128 m of the
  Omnidata settings, or a power of two) when within 3 %.
- field of view (only for views without point_info, when not given): from
  ``depth_euclidean / depth_zbuffer = sqrt(1 + r^2 / f^2)`` (``r`` the pixel's distance from
  the centre) by least squares when both depths are shipped; otherwise the value that makes
  the recomputed ``keypoints3d`` correlate best with the shipped one (a 10-degree grid over
  Omnidata's 30-125 degrees, then a 1-degree grid, then a golden-section search).
- ``canny_sigma``: the value of a grid (0.5 to 5) whose recomputed ``edge_texture`` has the
  most exact pixels.
- ``support_size``: the value of a grid (0.1 to 1 m) whose recomputed ``keypoints3d`` has the
  highest Pearson correlation with the shipped one.

Parameters the user set explicitly are not fitted.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from labelgen.camera._cameras import Camera
from labelgen.core._errors import LabelgenError
from labelgen.engine._pipeline import LazySources, compute_view, resolve_params
from labelgen.engine._sources import view_sources
from labelgen.validate._metrics import pearson

CANNY_SIGMAS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0)
SUPPORT_SIZES = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)
KNOWN_DEPTH_UNITS = (65536 / 128, 65536 / 64, 65536 / 0.5)


def _load(files, names, point, view):
    """The arrays (and camera) ``names`` of one view, or None if any is missing or unreadable."""
    src = view_sources(files, point, view)
    try:
        return {("camera" if n == "point_info" else n): src["camera" if n == "point_info" else n]
                for n in names}
    except (KeyError, LabelgenError):
        return None


def _pick(views, names, n):
    out = []
    for (p, v), files in sorted(views.items()):
        if all(k in files for k in names):
            data = _load(files, names, p, v)
            if data is not None:
                out.append(((p, v), files, data))
        if len(out) >= n:
            break
    return out


def fit_depth_units(samples) -> float | None:
    """Units per metre from the centre depth of fixated views and their camera distance."""
    ratios = []
    for _, _, data in samples:
        z, info = data["depth_zbuffer"], data["camera"].info
        dist = info.get("camera_distance")
        if not isinstance(dist, (int, float)) or not dist > 0:
            p, c = info.get("point_location"), info.get("camera_location")
            try:
                dist = float(np.linalg.norm(np.asarray(p, float) - np.asarray(c, float)))
            except (TypeError, ValueError):
                continue
        h, w = z.shape
        centre = z[(h - 1) // 2:h // 2 + 1, (w - 1) // 2:w // 2 + 1].astype(np.float64)
        centre = centre[centre < 65535]
        if centre.size and dist > 0:
            ratios.append(float(np.median(centre)) / dist)
    if not ratios:
        return None
    est = float(np.median(ratios))
    candidates = list(KNOWN_DEPTH_UNITS) + [2.0 ** k for k in range(0, 21)]
    best = min(candidates, key=lambda c: abs(math.log(est / c)))
    return float(best) if abs(est / best - 1.0) < 0.03 else round(est, 3)


def fit_fov_from_depths(zbuffer: np.ndarray, euclidean: np.ndarray) -> float | None:
    """Horizontal field of view (radians) from a pair of depth images of the same view."""
    h, w = zbuffer.shape
    u = np.arange(w) - (w - 1) / 2.0
    v = (h - 1) / 2.0 - np.arange(h)
    r2 = u[None, :] ** 2 + v[:, None] ** 2
    ok = (zbuffer < 65535) & (euclidean < 65535) & (zbuffer >= 256)
    if np.count_nonzero(ok) < 100:
        return None
    k2 = (euclidean[ok].astype(np.float64) / zbuffer[ok]) ** 2
    s = float(np.sum((k2 - 1.0) * r2[ok]) / np.sum(r2[ok] ** 2))
    if not s > 0:
        return None
    f = 1.0 / math.sqrt(s)
    return 2.0 * math.atan(w / (2.0 * f))


def _keypoints_score(samples, params, fov=None):
    scores = []
    for _, _, data in samples:
        cam = data.get("camera")
        if cam is None or fov is not None:
            h, w = data["depth_zbuffer"].shape
            cam = Camera(np.zeros(3), np.eye(3), fov if fov is not None else cam.fov, w, h)
        ours, _ = compute_view(["keypoints3d"], LazySources(depth_zbuffer=data["depth_zbuffer"], camera=cam),
                               params)
        scores.append(pearson(data["keypoints3d"], ours["keypoints3d"]))
    return float(np.mean(scores))


def fit_fov_from_keypoints(samples, params) -> float:
    """Field of view maximising the keypoints3d correlation (coarse grids, then golden section)."""
    def score(deg):
        return _keypoints_score(samples, params, math.radians(deg))

    best = max(range(30, 126, 10), key=score)
    lo, hi = max(20, best - 9), min(150, best + 9)
    best = max(range(lo, hi + 1), key=score)
    a, b = best - 1.0, best + 1.0
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = score(c), score(d)
    for _ in range(10):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = score(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = score(d)
    return math.radians((a + b) / 2)


def fit_canny_sigma(samples, params) -> float:
    def score(sigma):
        p = {**params, "canny_sigma": sigma}
        s = 0.0
        for _, _, data in samples:
            ours, _ = compute_view(["edge_texture"], LazySources(rgb=data["rgb"]), p)
            d = np.abs(ours["edge_texture"].astype(np.int64) - data["edge_texture"])
            s += np.count_nonzero(d == 0) - 1e-9 * float(d.sum())
        return s

    return max(sorted(set(CANNY_SIGMAS) | {float(params["canny_sigma"])}), key=score)


def fit_support_size(samples, params, fov=None) -> float:
    return max(sorted(set(SUPPORT_SIZES) | {float(params["support_size"])}),
               key=lambda s: _keypoints_score(samples, {**params, "support_size": s}, fov))


def fit_building(views: dict[tuple[str, str], dict[str, Path]], params: dict[str, Any], fov=None,
                 tasks=None, fixed=(), quiet=True, max_views: int = 3) -> dict[str, Any]:
    """Fitted parameters of one building (only those that could be fitted); ``"fov"`` when
    the field of view was estimated."""
    params = resolve_params(params)
    out: dict[str, Any] = {}
    fixed = set(fixed)

    def wanted(label):
        return tasks is None or label in tasks

    if "depth_units_per_meter" not in fixed:
        samples = _pick(views, ("depth_zbuffer", "point_info"), max_views)
        units = fit_depth_units(samples)
        if units is not None:
            out["depth_units_per_meter"] = units
            params = resolve_params({**params, "depth_units_per_meter": units})
    no_info = [pv for pv, files in views.items() if "point_info" not in files]
    if fov is None and no_info:
        pairs = _pick({pv: views[pv] for pv in no_info}, ("depth_zbuffer", "depth_euclidean"), max_views)
        ests = [fit_fov_from_depths(d["depth_zbuffer"], d["depth_euclidean"]) for _, _, d in pairs]
        ests = [e for e in ests if e is not None]
        if ests:
            fov = float(np.median(ests))
        else:
            kp = _pick({pv: views[pv] for pv in no_info}, ("depth_zbuffer", "keypoints3d"), 1)
            if kp:
                fov = fit_fov_from_keypoints(kp, params)
        if fov is not None:
            out["fov"] = fov
    if "canny_sigma" not in fixed and wanted("edge_texture"):
        samples = _pick(views, ("rgb", "edge_texture"), max_views)
        if samples:
            out["canny_sigma"] = float(fit_canny_sigma(samples, params))
            params = resolve_params({**params, "canny_sigma": out["canny_sigma"]})
    if "support_size" not in fixed and wanted("keypoints3d"):
        samples = _pick(views, ("depth_zbuffer", "keypoints3d", "point_info"), 1)
        use_fov = None
        if not samples and fov is not None:
            samples = _pick(views, ("depth_zbuffer", "keypoints3d"), 1)
            use_fov = fov
        if samples:
            try:
                out["support_size"] = float(fit_support_size(samples, params, use_fov))
            except LabelgenError:
                pass
    return out
