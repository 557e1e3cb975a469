"""Estimate label parameters from a building's shipped files (``labelgen validate --fit``).

What varies per view is fitted per view; what a dataset component fixes is fitted per building
on a few views and confirmed by validating the rest. Closed forms come first; labels are
recomputed only to confirm a value or, when it is not confirmed, to search for a better one.

Per view:

- **field of view** of each view without point_info that needs a camera (its keypoints3d, or
  its depth_euclidean-vs-depth_zbuffer check), when ``fov`` is not given. Omnidata draws a new
  field of view for every camera, and some components ship no camera metadata. In order:

  1. ``depth_zbuffer`` and ``depth_euclidean`` both shipped: ``(E / Z)^2 - 1 = r^2 / f^2``
     (``r`` the pixel's distance from the image centre), least squares for ``1 / f^2``: a
     closed form (:func:`fit_fov_from_depths`);
  2. ``depth_zbuffer`` and ``normal``: the normal implied by the back-projected depth,
     ``(-f dZ/di, -f dZ/dj, u dZ/di + v dZ/dj + Z)`` in OpenCV camera axes, must be parallel to
     the shipped normal; each smooth pixel gives two equations linear in ``f``, solved by
     iteratively reweighted (Huber) least squares: a one-dimensional fit, no label recomputed
     (:func:`labelgen.validate._fov.fit_fov_from_normals`);
  3. ``depth_zbuffer`` and ``keypoints3d`` only: the value that makes the recomputed
     keypoints3d correlate best with the shipped one (coarse grid over Omnidata's 30-125
     degrees, then golden section): NARF recomputed some twenty times, the last resort
     (:func:`fit_fov_from_keypoints`).

- **canny_sigma** of each view with rgb and edge_texture: edge_texture is local (a Gaussian of
  radius ``int(truncate * sigma + 0.5)`` then a 3x3 Sobel), so it is recomputed on a crop (the
  most textured of nine windows, with a margin that makes its inside exact): the current value
  first, then a grid (0.25 to 8 by 0.25), then 0.05 steps around the best. The building's
  value is the consensus (the value most views have); the views that disagree are named, and
  each view is validated with its own value.

Per building (parameters a component's pipeline fixes):

- ``depth_units_per_meter``: a fixated view looks at its point along the optical axis, so the
  z-buffer depth at the image centre divided by point_info's ``camera_distance`` is the number
  of units per metre (median over up to 3 views, snapped to 512, 1024, 131072 or a power of two
  within 3 %).
- ``support_size`` (keypoints3d), ``seg25d_edge_weight`` (segment_unsup25d: HM3D's files were
  made without the occlusion-edge channel) and ``doh_integral`` (keypoints2d: float32 integral
  image for Omnidata's Replica): the current value is confirmed on one view (the label is
  recomputed once, and that result is reused by the validation); only when it does not meet
  the label's threshold are the alternatives tried on that view.

Parameters the user set explicitly are not fitted, nor is the field of view of views with
point_info or when ``fov`` is given.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelgen.core._errors import LabelgenError
from labelgen.engine._pipeline import LazySources, compute_view, resolve_params
from labelgen.engine._sources import view_sources
from labelgen.validate._checks import DEPTH_CHECK, meets, metrics
from labelgen.validate._fov import (_keypoints3d, fit_fov_from_depths, fit_fov_from_keypoints,
                                    fit_fov_from_normals)
from labelgen.validate._view import fingerprint

#: canny_sigma grid (then 0.05 steps around the best when none reproduces the file).
CANNY_SIGMAS = tuple(0.25 * k for k in range(1, 33))
SUPPORT_SIZES = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)
SEG25D_EDGE_WEIGHTS = (10.0, 0.0)
DOH_INTEGRALS = ("float64", "float32")
KNOWN_DEPTH_UNITS = (65536 / 128, 65536 / 64, 65536 / 0.5)
#: inside of the canny_sigma crop, pixels per side
CANNY_CROP = 128


def view_name(pv) -> str:
    """``point_P_view_V``: a view's key in the report."""
    return f"point_{pv[0]}_view_{pv[1]}"


@dataclass
class FitResult:
    """What :func:`fit_building` found.

    Attributes
    ----------
    params : the building's values (fitted or confirmed), by parameter name.
    views : per view (``(point, view)``), the values fitted for that view: ``fov`` (radians)
        with ``fov_from`` (``"depths"``, ``"normals"`` or ``"keypoints3d"``), ``canny_sigma``.
    dissenters : per parameter, the views whose own value differs from the building's.
    computed : per view, labels recomputed while fitting with that view's final parameters:
        ``{label: (fingerprint, array)}`` (the validation reuses them).
    not_fitted : parameters (``"fov point_P_view_V"`` for a view's field of view) whose fit
        failed on what ships, with the reason; they keep their values.
    """

    params: dict[str, Any] = field(default_factory=dict)
    views: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    dissenters: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    computed: dict[tuple[str, str], dict[str, tuple]] = field(default_factory=dict)
    not_fitted: dict[str, str] = field(default_factory=dict)

    def view_params(self, pv) -> dict[str, Any]:
        """The label parameters fitted for view ``pv`` (not its field of view)."""
        return {k: v for k, v in self.views.get(pv, {}).items() if k not in ("fov", "fov_from")}

    def to_dict(self) -> dict:
        """``report.json``'s ``fitted`` entry of the building: the building's values, then
        ``"views"`` (per view, by ``point_P_view_V``) and ``"dissenters"`` when there are any."""
        out: dict[str, Any] = dict(self.params)
        if self.views:
            out["views"] = {view_name(pv): dict(v) for pv, v in sorted(self.views.items(), key=_view_order)}
        if self.dissenters:
            out["dissenters"] = {k: [view_name(pv) for pv in v] for k, v in self.dissenters.items()}
        if self.not_fitted:
            out["not_fitted"] = dict(self.not_fitted)
        return out


def _view_order(item):
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in item[0])


def _load(files, names, point, view, params, max_pixels=None):
    """The arrays (and camera) ``names`` of one view, or None if any is missing or unreadable or
    the images differ in size."""
    src = view_sources(files, point, view, params=params, max_pixels=max_pixels)
    try:
        data = {("camera" if n == "point_info" else n): src["camera" if n == "point_info" else n]
                for n in names}
    except (KeyError, LabelgenError):
        return None
    if len({a.shape[:2] for a in data.values() if isinstance(a, np.ndarray)}) > 1:
        return None
    return data


def _pick(views, names, n, params, max_pixels=None):
    out = []
    for (p, v), files in sorted(views.items(), key=_view_order):
        if all(k in files for k in names):
            data = _load(files, names, p, v, params, max_pixels)
            if data is not None:
                out.append(((p, v), files, data))
        if len(out) >= n:
            break
    return out


# -- depth units -------------------------------------------------------------------------

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


# -- canny sigma -------------------------------------------------------------------------

def _textured_window(edges: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` window, among a 3x3 grid of windows, with the most edge
    strength in the shipped edge_texture."""
    h, w = edges.shape
    best, where = -1.0, (0, 0)
    for y in np.linspace(0, h - size, 3).astype(int):
        for x in np.linspace(0, w - size, 3).astype(int):
            s = float(edges[y:y + size, x:x + size].sum(dtype=np.float64))
            if s > best:
                best, where = s, (int(y), int(x))
    return where


def fit_canny_sigma(rgb: np.ndarray, shipped: np.ndarray, params, thresholds=None) -> float | None:
    """The canny_sigma that reproduces a view's edge_texture (on a crop), or None when the
    images do not fit together (sizes)."""
    from labelgen.labels.image_edges import edge_texture, encode_unit16

    if rgb.shape[:2] != shipped.shape or shipped.dtype != np.uint16:
        return None
    h, w = shipped.shape
    truncate = float(params["canny_truncate"])
    current = float(params["canny_sigma"])
    margin = int(truncate * max(CANNY_SIGMAS[-1] + 0.25, current) + 0.5) + 2  # the kernel's radius, Sobel's pixel
    inner = min(CANNY_CROP, h, w)
    y, x = _textured_window(shipped, inner)
    y0, x0 = max(0, y - margin), max(0, x - margin)
    y1, x1 = min(h, y + inner + margin), min(w, x + inner + margin)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    # inside: at least `margin` from every crop edge that is not an image edge
    iy0, ix0 = (y - y0) if y0 > 0 else 0, (x - x0) if x0 > 0 else 0
    iy1 = (y + inner - y0) if y1 < h else y1 - y0
    ix1 = (x + inner - x0) if x1 < w else x1 - x0
    want = shipped[y0:y1, x0:x1][iy0:iy1, ix0:ix1].astype(np.int64)
    th = dict(min_exact=0.99, min_within1=0.999)
    th.update({k: v for k, v in _thresholds("edge_texture", thresholds).items() if k in th})
    scores: dict[float, tuple] = {}

    def score(sigma):
        sigma = round(float(sigma), 4)
        if sigma not in scores:
            ours = encode_unit16(edge_texture(crop, sigma, truncate))
            # whole rows and columns at the image's own edges are 0 in the full image too
            d = np.abs(ours[iy0:iy1, ix0:ix1].astype(np.int64) - want)
            scores[sigma] = (float(np.mean(d == 0)), float(np.mean(d <= 1)), -float(d.mean()))
        return scores[sigma]

    def good(sigma):
        e, w1, _ = score(sigma)
        return e >= th["min_exact"] and w1 >= th["min_within1"]

    if good(current):
        return current
    best = max(CANNY_SIGMAS, key=score)
    if not good(best):
        best = max([x for x in np.round(np.arange(best - 0.25, best + 0.2501, 0.05), 4) if x > 0], key=score)
        best = max((best, current), key=score)
    return float(round(best, 4))


def _thresholds(label, thresholds):
    from labelgen.validate._checks import thresholds_for

    return thresholds_for(label, thresholds)


def consensus(values: dict, preferred) -> Any:
    """The value most views have (ties: ``preferred`` if among them, else the smallest)."""
    counts = Counter(values.values())
    top = max(counts.values())
    tied = sorted(v for v, n in counts.items() if n == top)
    return preferred if preferred in tied else tied[0]


# -- the building ------------------------------------------------------------------------

def _needs_camera(files, tasks) -> bool:
    def wanted(name):
        return tasks is None or name in tasks

    return (("keypoints3d" in files and "depth_zbuffer" in files and wanted("keypoints3d"))
            or ({"depth_zbuffer", "depth_euclidean"} <= set(files) and wanted(DEPTH_CHECK)))


def _fit_fov(pv, files, params, max_pixels=None) -> tuple[float, str, np.ndarray | None] | None:
    """(fov, method, keypoints3d recomputed with it or None) of one view without point_info."""
    p, v = pv
    src = view_sources(files, p, v, params=params, max_pixels=max_pixels)

    def get(name):
        try:
            return src[name] if name in src else None
        except LabelgenError:
            return None

    z = get("depth_zbuffer")
    if z is None:
        return None
    if "depth_euclidean" in files:
        e = get("depth_euclidean")
        fov = fit_fov_from_depths(z, e) if e is not None else None
        if fov is not None:
            return fov, "depths", None
    if "normal" in files:
        nrm = get("normal")
        fov = fit_fov_from_normals(z, nrm) if nrm is not None else None
        if fov is not None:
            return fov, "normals", None
    if "keypoints3d" in files:
        kp = get("keypoints3d")
        if kp is not None and kp.shape == z.shape:
            fov, ours = fit_fov_from_keypoints(z, kp, params)
            return fov, "keypoints3d", ours
    return None


def _confirm(label, samples, params, thresholds, name, alternatives, compute):
    """Confirm ``params[name]`` on the first of ``samples`` (``(pv, data)``), else the best of
    ``alternatives`` there: ``(value, pv, array recomputed with the value)``."""
    pv, data = samples[0]
    tried = {}

    def run(value):
        if value not in tried:
            ours = compute(data, {**params, name: value})
            shipped = data[label]
            m = metrics(label, shipped, ours) if ours.shape == shipped.shape else None
            tried[value] = (m, ours)
        return tried[value]

    current = params[name]
    m, ours = run(current)
    if m is not None and meets(label, _as_record(m), thresholds):
        return current, pv, ours

    def rank(value):
        m = run(value)[0]
        if m is None:
            return (-math.inf,)
        return tuple(m.get(k) if m.get(k) is not None else -math.inf for k in ("pearson", "ari", "exact"))

    best = max([current, *[a for a in alternatives if a != current]], key=rank)
    return best, pv, run(best)[1]


def _as_record(m: dict) -> dict:
    rec = {"exact": None, "within1": None, "ari": None, "pearson": None, "median_abs": None}
    rec.update(m)
    return rec


def _unexpected(err: Exception) -> str:
    return err.problem if isinstance(err, LabelgenError) else f"{type(err).__name__}: {err}"


def fit_building(views: dict[tuple[str, str], dict[str, Path]], params: dict[str, Any], fov=None,
                 tasks=None, fixed=(), quiet=True, max_views: int = 3, thresholds=None,
                 max_pixels: int | None = None) -> FitResult:
    """Fitted parameters of one building (see the module's documentation).

    The fit is best effort: files it cannot use (unreadable, of different sizes) are passed
    over, and a parameter whose fit fails on what ships keeps its value, with the reason in
    :attr:`FitResult.not_fitted` (the validation then reports the files themselves)."""
    state = {"params": resolve_params(params)}
    fixed = set(fixed)
    out = FitResult()
    fovs: dict[tuple, float] = {}

    def wanted(label):
        return tasks is None or label in tasks

    def use(name, value):
        out.params[name] = value
        state["params"] = resolve_params({**state["params"], name: value})

    def depth_units():
        units = fit_depth_units(_pick(views, ("depth_zbuffer", "point_info"), max_views, state["params"], max_pixels))
        if units is not None:
            use("depth_units_per_meter", units)

    def fields_of_view():  # per view: the field of view of views without a camera
        for pv, files in sorted(views.items(), key=_view_order):
            if "point_info" in files or not _needs_camera(files, tasks):
                continue
            try:
                found = _fit_fov(pv, files, state["params"], max_pixels)
            except Exception as err:  # noqa: BLE001 - this view only; its files are validated anyway
                out.not_fitted[f"fov {view_name(pv)}"] = _unexpected(err)
                continue
            if found is None:
                continue
            value, method, kp = found
            fovs[pv] = value
            out.views.setdefault(pv, {}).update(fov=value, fov_from=method)
            if kp is not None:
                out.computed.setdefault(pv, {})["keypoints3d"] = (
                    fingerprint("keypoints3d", state["params"], value), kp)

    def canny():  # per view, then the building's consensus
        params, sigmas = state["params"], {}
        for pv, files in sorted(views.items(), key=_view_order):
            if not {"rgb", "edge_texture"} <= set(files):
                continue
            data = _load(files, ("rgb", "edge_texture"), pv[0], pv[1], params, max_pixels)
            s = fit_canny_sigma(data["rgb"], data["edge_texture"], params, thresholds) if data else None
            if s is not None:
                sigmas[pv] = s
        if sigmas:
            agreed = float(consensus(sigmas, float(params["canny_sigma"])))
            use("canny_sigma", agreed)
            for pv, s in sigmas.items():
                out.views.setdefault(pv, {})["canny_sigma"] = s
            others = [pv for pv, s in sorted(sigmas.items(), key=_view_order) if s != agreed]
            if others:
                out.dissenters["canny_sigma"] = others

    def camera_sample(pv, files):
        data = _load(files, ("depth_zbuffer", "keypoints3d"), pv[0], pv[1], state["params"], max_pixels)
        if data is None:
            return None
        if fov is not None:  # given: every view's camera has it
            cam_fov = fov
        elif "point_info" in files:
            try:
                cam_fov = view_sources(files, pv[0], pv[1], params=state["params"],
                                       max_pixels=max_pixels)["camera"].fov
            except LabelgenError:
                return None
        elif pv in fovs:
            cam_fov = fovs[pv]
        else:
            return None
        return pv, dict(data, fov=float(cam_fov))

    def support_size():  # per building: confirmed on one view, searched there only when not confirmed
        order = sorted(views.items(), key=lambda kv: (_fov_rank(kv, out), _view_order(kv)))
        for pv, files in order:
            sample = camera_sample(pv, files) if {"keypoints3d", "depth_zbuffer"} <= set(files) else None
            if sample is not None:
                break
        else:
            return
        value, pv, ours = _confirm("keypoints3d", [sample], state["params"], thresholds, "support_size",
                                   SUPPORT_SIZES, lambda d, p: _keypoints3d(d["depth_zbuffer"], d["fov"], p))
        use("support_size", float(value))
        out.computed.setdefault(pv, {})["keypoints3d"] = (
            fingerprint("keypoints3d", state["params"], sample[1]["fov"]), ours)

    def seg25d_edge_weight():
        need = ("segment_unsup25d", "depth_zbuffer", "normal", "edge_occlusion")
        samples = [(pv, d) for pv, _, d in _pick(views, need, 1, state["params"], max_pixels)]
        if samples:
            value, pv, ours = _confirm(
                "segment_unsup25d", samples, state["params"], thresholds, "seg25d_edge_weight",
                SEG25D_EDGE_WEIGHTS, lambda d, p: compute_view(["segment_unsup25d"], LazySources(
                    depth_zbuffer=d["depth_zbuffer"], normal=d["normal"], edge_occlusion=d["edge_occlusion"]),
                    p)[0]["segment_unsup25d"])
            use("seg25d_edge_weight", float(value))
            out.computed.setdefault(pv, {})["segment_unsup25d"] = (
                fingerprint("segment_unsup25d", state["params"], None), ours)

    def doh_integral():
        samples = [(pv, d) for pv, _, d in _pick(views, ("keypoints2d", "rgb"), 1, state["params"], max_pixels)]
        if samples:
            value, pv, ours = _confirm(
                "keypoints2d", samples, state["params"], thresholds, "doh_integral", DOH_INTEGRALS,
                lambda d, p: compute_view(["keypoints2d"], LazySources(rgb=d["rgb"]), p)[0]["keypoints2d"])
            use("doh_integral", value)
            out.computed.setdefault(pv, {})["keypoints2d"] = (fingerprint("keypoints2d", state["params"], None), ours)

    steps = [("depth_units_per_meter", True, depth_units), ("fov", fov is None, fields_of_view),
             ("canny_sigma", wanted("edge_texture"), canny), ("support_size", wanted("keypoints3d"), support_size),
             ("seg25d_edge_weight", wanted("segment_unsup25d"), seg25d_edge_weight),
             ("doh_integral", wanted("keypoints2d"), doh_integral)]
    for name, wanted_here, step in steps:
        if name in fixed or not wanted_here:
            continue
        try:
            step()
        except Exception as err:  # noqa: BLE001 - a fit that fails on what ships: the value stays as it was
            out.not_fitted[name] = _unexpected(err)
    return out


def _fov_rank(kv, out: FitResult) -> int:
    """Views to confirm keypoints3d's support size on, best first: with point_info, then with a
    field of view from a closed form; a field of view fitted by keypoints3d itself last."""
    pv, files = kv
    if "point_info" in files:
        return 0
    method = out.views.get(pv, {}).get("fov_from")
    return {"depths": 1, "normals": 2}.get(method, 3)
