"""Validate shipped label files against their recomputation (``labelgen validate``).

For every view of a building and every label file whose inputs are present, the label is
recomputed (image-derived labels from the building's own input files, as ``labelgen derive``
does; with a mesh, the mesh-rendered labels from the mesh and the view's camera) and compared
with the shipped file. The view's metadata is checked too: the vanishing points and other
pose-derived point_info fields against the camera, ``depth_euclidean`` against
``depth_zbuffer`` given the camera, and ``mask_valid`` against the depth.

Each shipped file and each check gives one record (a dict, as in ``report.json``'s ``"files"``)::

    {"building", "component", "point", "view", "label", "verdict", "passed", "exact", "within1",
     "max_abs", "bbox", "ari", "pearson", "median_abs", "fields", "error", "reason", "notes", "file"}

``verdict`` is one of three: ``"passed"``; ``"failed"`` (the file is wrong: ``error`` says
why); ``"unchecked"`` (nothing is known against the file: an input is missing, or the label
cannot be recomputed from what ships, e.g. a mesh label without the mesh; ``reason`` says
which). ``passed`` is True only for ``"passed"``. ``notes`` say how the file or its input was
read (JPEG data under a ``.png`` name, an RGBA rgb) and which fitted value was used.

Metrics that do not apply are None. Metrics by kind (see :mod:`labelgen.validate._metrics`):
images: ``exact``, ``within1`` (fractions of pixels), ``max_abs``, ``bbox`` (``[x0, y0, x1,
y1]`` of the largest differing region); segmentations: ``ari`` (ids are never compared);
``keypoints3d``: ``pearson`` and ``median_abs`` (and the image metrics); ``point_info``:
``fields`` (max abs error per field) and ``max_abs`` (the largest of them). A file that cannot
be read, has the wrong type or size, or whose name holds no valid point or view
identifier fails with ``error`` saying why; a file whose input is missing or unreadable is
unchecked; the others go on. Passing is decided by :data:`DEFAULT_THRESHOLDS` (per label;
changed with ``thresholds``).
"""

from labelgen.engine._layout import Building, find_buildings
from labelgen.validate._buildings import (BuildingResult, ValidationReport, report_dict, summarize,
                                          validate_building, validate_buildings)
from labelgen.validate._checks import CHECKS, DEFAULT_THRESHOLDS, THRESHOLD_KEYS, thresholds_for
from labelgen.validate._presets import PRESETS, preset_params
from labelgen.validate._report import write_report

__all__ = ["Building", "find_buildings", "BuildingResult", "ValidationReport", "report_dict", "summarize",
           "validate_building", "validate_buildings", "CHECKS", "DEFAULT_THRESHOLDS", "THRESHOLD_KEYS",
           "thresholds_for", "PRESETS", "preset_params", "write_report"]
