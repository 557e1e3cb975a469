"""The per-view engine under every job (render, derive, validate, batch).

One per-view path (:func:`render_labels`, :func:`derive_labels`), one folder scanner
(:func:`scan_building`, :func:`find_buildings`), one way to load a mesh (:class:`MeshSpec`), one
writer of a view's files (:class:`ViewWriter`) and one worker-process model (:func:`run_views`).
"""

from labelgen.engine._jobs import derive_building, render_building, render_view
from labelgen.engine._layout import (INPUT_DOMAINS, Building, domain_aliases, find_buildings, label_of_file,
                                     label_path, point_info_path, scan_building)
from labelgen.engine._mesh import MeshSpec
from labelgen.engine._pipeline import LazySources, compute_view, plan, resolve_params
from labelgen.engine._sources import view_sources
from labelgen.engine._tasks import Summary, check_tasks, default_derive_tasks, default_render_tasks
from labelgen.engine._views import ViewWriter, derive_labels, render_labels
from labelgen.engine._workers import WorkerLost, WorkerSetup, fork_is_safe, renderer_for, run_views

__all__ = ["derive_building", "render_building", "render_view", "INPUT_DOMAINS", "Building", "domain_aliases",
           "find_buildings", "label_of_file", "label_path", "point_info_path", "scan_building", "MeshSpec",
           "LazySources", "compute_view", "plan", "resolve_params", "view_sources", "Summary", "check_tasks",
           "default_derive_tasks", "default_render_tasks", "ViewWriter", "derive_labels", "render_labels",
           "WorkerLost", "WorkerSetup", "fork_is_safe", "renderer_for", "run_views"]
