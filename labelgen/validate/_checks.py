"""Checks of one file against its recomputation: thresholds, metrics, verdicts, metadata checks.

Each check gives one record (a dict, as in ``report.json``'s ``"files"``): see
:mod:`labelgen.validate` for its fields.
"""
from __future__ import annotations

import math

import numpy as np

from labelgen.camera._cameras import Camera
from labelgen.camera._pointinfo import complete_point_info
from labelgen.camera._rotations import matrix_from_euler
from labelgen.engine._sources import describe as _describe
from labelgen.validate._metrics import adjusted_rand_index, image_agreement, median_abs_difference, pearson

DEPTH_CHECK = "depth_euclidean_vs_depth_zbuffer"
MASK_CHECK = "mask_valid_vs_depth_zbuffer"
POINT_INFO = "point_info"
CHECKS = (POINT_INFO, DEPTH_CHECK, MASK_CHECK)

SEGMENTATIONS = ("segment_unsup2d", "segment_unsup25d")

#: Pass/fail thresholds. ``"*"`` applies to every image label without its own entry.
#: Images: at least ``min_exact`` of the pixels equal and ``min_within1`` within 1 unit
#: (the image-derived labels reproduce the shipped Taskonomy sample on > 99.99 % of pixels,
#: a 64x64 damaged block is 1.6 % of a 512x512 image). Segmentations: adjusted Rand index at
#: least ``min_ari`` (the original scikit-image segmentation is not deterministic, so the
#: partitions are compared, not bit for bit). keypoints3d: Pearson r at least ``min_pearson``
#: and median absolute difference at most ``max_median_abs`` units. depth_euclidean from
#: depth_zbuffer: both are rounded, so the prediction is within 1 unit, not exact.
#: point_info: each field within ``atol + rtol * max|value|`` (the files hold float32 numbers).
DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "*": {"min_exact": 0.99, "min_within1": 0.999},
    "keypoints3d": {"min_pearson": 0.99, "max_median_abs": 1.0},
    "segment_unsup2d": {"min_ari": 0.9},
    "segment_unsup25d": {"min_ari": 0.9},
    DEPTH_CHECK: {"min_within1": 0.99},
    MASK_CHECK: {"min_exact": 0.999},
    POINT_INFO: {"atol": 1e-4, "rtol": 1e-6},
}

THRESHOLD_KEYS = ("min_exact", "min_within1", "min_ari", "min_pearson", "max_median_abs", "atol", "rtol")


def thresholds_for(label: str, overrides: dict | None = None) -> dict[str, float]:
    """Thresholds of ``label``: its defaults, then ``overrides[label]`` (or ``overrides["*"]``
    for keys the label uses)."""
    base = dict(DEFAULT_THRESHOLDS.get(label, DEFAULT_THRESHOLDS["*"]))
    overrides = overrides or {}
    for key, value in overrides.get("*", {}).items():
        if key in base:
            base[key] = float(value)
    for key, value in overrides.get(label, {}).items():
        base[key] = float(value)
    return base


#: The three verdicts of a record.
PASSED, FAILED, UNCHECKED = "passed", "failed", "unchecked"
VERDICTS = (PASSED, FAILED, UNCHECKED)


def new_record(building, component, point, view, label, file=None) -> dict:
    """A record not yet judged (``verdict`` "failed" until a check sets it)."""
    return {"building": building, "component": component, "point": str(point), "view": str(view),
            "label": label, "verdict": FAILED, "passed": False, "exact": None, "within1": None, "max_abs": None,
            "bbox": None, "ari": None, "pearson": None, "median_abs": None, "fields": None,
            "error": None, "reason": None, "notes": [], "file": None if file is None else str(file)}


def fail(rec: dict, error: str) -> dict:
    """``rec`` failed: the file is wrong (unreadable, wrong type or size, or off its definition)."""
    rec.update(verdict=FAILED, passed=False, error=error, reason=None)
    return rec


def unchecked(rec: dict, reason: str) -> dict:
    """``rec`` could not be checked: an input is missing or unusable, or the label cannot be
    recomputed from what ships (``reason`` says which); nothing is known against the file."""
    rec.update(verdict=UNCHECKED, passed=False, error=None, reason=reason)
    return rec


def note(rec: dict, *notes: str) -> dict:
    """Add notes (how a file was read, which fitted value was used) to ``rec``, each once."""
    for n in notes:
        if n not in rec["notes"]:
            rec["notes"].append(n)
    return rec


def _judge(rec: dict, th: dict) -> dict:
    """Set ``verdict`` and ``passed`` (and ``error`` with the failed criteria) from the metrics."""
    fails = []
    for key, metric in (("min_exact", "exact"), ("min_within1", "within1"), ("min_ari", "ari"),
                        ("min_pearson", "pearson")):
        if key in th and rec[metric] is not None and not rec[metric] >= th[key]:
            fails.append(f"{metric} {rec[metric]:.6g} < {th[key]:g}")
    if "max_median_abs" in th and rec["median_abs"] is not None and not rec["median_abs"] <= th["max_median_abs"]:
        fails.append(f"median_abs {rec['median_abs']:g} > {th['max_median_abs']:g}")
    rec["passed"] = not fails and rec["error"] is None
    if fails and rec["error"] is None:
        rec["error"] = "; ".join(fails)
    rec["verdict"] = PASSED if rec["passed"] else FAILED
    return rec


def meets(label: str, rec: dict, thresholds=None) -> bool:
    """Whether a record's metrics meet ``label``'s thresholds (without touching ``rec``)."""
    return _judge(dict(rec, error=None), thresholds_for(label, thresholds))["passed"]


def metrics(label: str, shipped: np.ndarray, recomputed: np.ndarray) -> dict:
    """The metrics of ``label``'s kind (arrays of the same shape)."""
    if label in SEGMENTATIONS:
        return {"ari": adjusted_rand_index(shipped, recomputed)}
    out = image_agreement(shipped, recomputed)
    if label == "keypoints3d":
        out["pearson"] = pearson(shipped, recomputed)
        out["median_abs"] = median_abs_difference(shipped, recomputed)
    return out


def compare(label: str, shipped: np.ndarray, recomputed: np.ndarray, rec: dict, thresholds=None) -> dict:
    """Fill ``rec`` with the metrics of ``label``'s kind and judge it."""
    if shipped.shape != recomputed.shape:
        rec["error"] = (f"wrong size: {_describe(shipped)}, recomputed {recomputed.shape[1]}x{recomputed.shape[0]}"
                        if shipped.shape[:2] != recomputed.shape[:2] else
                        f"wrong type: {_describe(shipped)}, expected {_describe(recomputed)}")
        return _judge(rec, {})
    th = thresholds_for(label, thresholds)
    if label in SEGMENTATIONS:
        rec["ari"] = adjusted_rand_index(shipped, recomputed)
        th = {k: v for k, v in th.items() if k == "min_ari"}
    else:
        rec.update(image_agreement(shipped, recomputed))
        if label == "keypoints3d":
            rec["pearson"] = pearson(shipped, recomputed)
            rec["median_abs"] = median_abs_difference(shipped, recomputed)
    return _judge(rec, th)


# -- metadata checks --------------------------------------------------------------------

#: Pose-derived point_info fields that are recomputed from the camera.
POSE_FIELDS = ("vanishing_points_gaussian_sphere", "vanishing_points_image", "camera_distance",
               "obliqueness_angle", "point_pitch", "camera_rotation_from_original_to_final")


def _flat(value) -> np.ndarray | None:
    if isinstance(value, dict):
        parts = [_flat(value.get(k)) for k in ("x", "y", "z")]
        return None if any(p is None for p in parts) else np.concatenate(parts)
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return arr if arr.size and np.all(np.isfinite(arr)) else None


def point_info_errors(info: dict, camera: Camera) -> dict[str, float]:
    """Max abs error of each pose-derived field of ``info`` against its recomputation.

    ``camera_rotation_from_original_to_final`` is compared as rotation matrices (Euler
    angles are not unique); an unreadable field gets ``inf``.
    """
    stripped = {k: v for k, v in info.items() if k not in POSE_FIELDS}
    ours = complete_point_info(camera, stripped)
    errors = {}
    for key in POSE_FIELDS:
        if key not in info or key not in ours:
            continue
        a, b = _flat(info[key]), _flat(ours[key])
        if a is None or b is None or a.shape != b.shape:
            errors[key] = math.inf
            continue
        if key == "camera_rotation_from_original_to_final":
            a, b = matrix_from_euler(a).ravel(), matrix_from_euler(b).ravel()
        errors[key] = float(np.max(np.abs(a - b)))
    return errors


def check_point_info(info: dict, camera: Camera, rec: dict, thresholds=None) -> dict:
    th = thresholds_for(POINT_INFO, thresholds)
    errors = point_info_errors(info, camera)
    rec["fields"] = errors
    rec["max_abs"] = max(errors.values()) if errors else None
    bad = []
    for key, err in errors.items():
        scale = np.max(np.abs(_flat(info[key]))) if _flat(info[key]) is not None else 0.0
        tol = th["atol"] + th["rtol"] * float(scale)
        if not err <= tol:
            bad.append(f"{key} off by {err:.3g} (tolerance {tol:.3g})")
    rec["error"] = "; ".join(bad) if bad else None
    rec["passed"] = not bad
    rec["verdict"] = PASSED if rec["passed"] else FAILED
    return rec


def euclidean_from_zbuffer(zbuffer: np.ndarray, camera_fov: float) -> np.ndarray:
    """depth_euclidean predicted from a depth_zbuffer image: ``round(D * |ray| / f)`` per pixel
    (same units; 65535 stays 65535)."""
    h, w = zbuffer.shape
    f = w / (2.0 * math.tan(camera_fov / 2.0))
    x = (np.arange(w) - (w - 1) / 2.0) / f
    y = ((h - 1) / 2.0 - np.arange(h)) / f
    k = np.sqrt(1.0 + x[None, :] ** 2 + y[:, None] ** 2)
    pred = np.round(zbuffer.astype(np.float64) * k)
    pred[(zbuffer == 65535) | (pred >= 65535)] = 65535
    return pred.astype(np.uint16)


def mask_from_depth(zbuffer: np.ndarray) -> np.ndarray:
    return np.where(zbuffer != 65535, 255, 0).astype(np.uint8)
