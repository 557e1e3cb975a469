"""Process-wide settings that labelgen's work needs, applied by the code that starts the work
(the command line, :func:`labelgen.runner.render_building`, :func:`~labelgen.runner.derive_building`,
:func:`~labelgen.runner.render_view` and their worker processes), never on import.
"""
from __future__ import annotations

import multiprocessing
import os
import threading

_DONE = False


def configure() -> None:
    """Apply the settings once per process (later calls do nothing).

    * Numba's threading layer: OpenMP (libgomp, always present) unless
      ``NUMBA_THREADING_LAYER`` is set; Numba's TBB layer needs a newer TBB than some systems
      ship. The variable is also set in the environment, so worker processes (started with
      "spawn") inherit it. It takes effect as long as no parallel kernel has run yet.
    * OpenCV: one thread per call (PNGs are encoded in a pool of threads already), and its own
      log lines silenced (:func:`labelgen.images.read_png` reports corrupt files itself, naming
      the file).
    """
    global _DONE
    if _DONE:
        return
    _DONE = True
    layer = os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")
    import numba

    numba.config.THREADING_LAYER = layer
    import cv2

    cv2.setNumThreads(1)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def fork_is_safe() -> bool:
    """True when labelgen's worker processes can be forked from this process.

    A forked worker starts in milliseconds with this process's imports (and, for ``render
    --workers N``, its mesh and per-mesh results), where a spawned one spends seconds
    importing and loading (about 5 CPU s for a render worker on the sample apartment). It is
    safe only while no thread pool of a native library exists here: Numba's threading layer
    (OpenMP is not fork-safe: once the parent has started Numba's OpenMP layer, a forked
    child that runs a parallel kernel is stopped), Open3D's TBB threads (started by a
    ray-casting scene: :func:`labelgen.raycast.scenes_built`) and other Python threads. The
    command line starts its processes before any of these; a process that has used them
    spawns its workers instead.
    """
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return False
    import numba

    try:
        numba.threading_layer()
        return False  # Numba's threading layer has started
    except ValueError:  # not started
        pass
    from .raycast import scenes_built

    return not scenes_built()
