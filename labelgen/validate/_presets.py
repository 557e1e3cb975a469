"""Label parameters of the known dataset components (``labelgen validate --preset NAME``).

Each preset lists only the parameters that differ from the label defaults (which are
Taskonomy's, confirmed on the shipped Taskonomy sample: see docs/image_labels.md and
docs/keypoints3d.md). Sources for the Omnidata components: the annotator's settings file,
``omnidata_annotator/scripts/settings.py`` in github.com/EPFL-VILAB/omnidata (commit
f69ff3aedf983cb34c490a0afd0d29fdd83f6a1c), whose comments give per-component values:

- ``DEPTH_ZBUFFER_MAX_DISTANCE_METERS = 128  #64:clevr , 128:all, 0.5:google_scanned``: 16-bit
  depth over that range, i.e. ``depth_units_per_meter = 65536 / range``: 512 (all), 1024
  (CLEVR), 131072 (Google Scanned Objects).
- ``MIN_CURVATURE_RADIUS = 0.03  #0.0001:clevr , 0.03:all``: ``curvature_r_min``.
- ``CANNY_RGB_BLUR_SIGMA = 2.0  # 1.0:clevr, 1.0:google_scanned, 1.0:carla, 3.0:all``:
  ``canny_sigma``. The file's own value, 2.0, is not attributed; the same file has its other
  settings at their Replica+GSO values (support size 0.2 and lamp energy 2, both labelled
  ``replica-gso``), so 2.0 is taken as Replica+GSO's; not confirmed on shipped files.
- ``KEYPOINT_SUPPORT_SIZE = 0.2  #0.3:all , 0.3:clevr, 0.2:replica-gso, 1.0:carla``:
  ``support_size``.
- ``LAMP_ENERGY = 2  #2.5:all , 10:clevr, 1.5:google_scanned, replica-gso:2``: ``lamp_energy``
  (the diffuse reflectance, 0.8, is the same everywhere).

"all" is used for HM3D, Replica, Hypersim and BlendedMVG, which the file does not name
separately.

Measured on shipped files (Omnidata's published samples, ``shared/reference/omnidata``; see
docs/validate.md for each preset and parameter, measured or taken from the settings):

- HM3D (5 views): ``canny_sigma`` 0.5, not the settings' 3.0 ("all"): every edge_texture
  file is reproduced exactly with 0.5 and on 1 % of its pixels with 3.0.
  ``seg25d_edge_weight`` 0: the segment_unsup25d files were made without the occlusion-edge
  channel (adjusted Rand index 0.99-1.0 against 0.85-0.95 with it). ``depth_units_per_meter``
  512 and ``support_size`` 0.3 are confirmed (edge_occlusion exact, which rescales depth by
  its units; keypoints3d Pearson r >= 0.99 with each view's fitted field of view).
- Replica (point 47 view 25, the one view with most labels): ``doh_integral`` float32:
  keypoints2d is exact only with a float32 integral image. canny_sigma 3.0 ("all") reproduces
  that view; another view (point 202 view 22) was made with 1.0, so Replica's sigma varies
  and ``--fit`` fits it per view. ``support_size`` 0.3, 512 depth units per metre (from
  the view's camera distance), the segmentation parameters: confirmed.
"""
from __future__ import annotations

from typing import Any

from labelgen.core._errors import LabelgenError

_OMNIDATA_ALL = {"lamp_energy": 2.5}

#: Preset name -> parameters that differ from the label defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "taskonomy": {},
    "hm3d": {**_OMNIDATA_ALL, "canny_sigma": 0.5, "seg25d_edge_weight": 0.0},
    "replica": {**_OMNIDATA_ALL, "doh_integral": "float32"},
    "replica_gso": {"canny_sigma": 2.0, "support_size": 0.2, "lamp_energy": 2.0},
    "hypersim": dict(_OMNIDATA_ALL),
    "google_scanned_objects": {"depth_units_per_meter": 65536 / 0.5, "canny_sigma": 1.0,
                               "lamp_energy": 1.5},
    "blendedmvg": dict(_OMNIDATA_ALL),
    "clevr": {"depth_units_per_meter": 65536 / 64, "curvature_r_min": 0.0001, "canny_sigma": 1.0,
              "support_size": 0.3, "lamp_energy": 10.0},
}

#: Other spellings (folder names of the Omnidata download tool, e.g. ``replica_gso``,
#: ``blendedMVS``, ``clevr_simple``) -> preset name.
ALIASES = {
    "replica-gso": "replica_gso", "replicagso": "replica_gso", "replica+gso": "replica_gso",
    "gso": "google_scanned_objects", "google_objects": "google_scanned_objects",
    "google-objects": "google_scanned_objects", "google_scanned": "google_scanned_objects",
    "blended_mvg": "blendedmvg", "blendedmvs": "blendedmvg", "blended_mvs": "blendedmvg",
    "clevr_simple": "clevr", "clevr_complex": "clevr", "habitat": "hm3d",
}


def preset_name(name: str | None) -> str | None:
    """The preset a component or preset name refers to (case-insensitive), or None."""
    if not name:
        return None
    key = str(name).lower()
    key = ALIASES.get(key, key)
    return key if key in PRESETS else None


def preset_params(name: str) -> dict[str, Any]:
    """Parameters of preset ``name`` (an error naming the known presets if there is none)."""
    key = preset_name(name)
    if key is None:
        raise LabelgenError("--preset", f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return dict(PRESETS[key])
