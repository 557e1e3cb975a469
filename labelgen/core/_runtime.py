"""Process-wide settings for labelgen's own processes: the command line and the worker
processes labelgen starts apply them; a library call never changes them for its caller, and
importing labelgen changes nothing.
"""
from __future__ import annotations

import os

_DONE = False


def configure() -> None:
    """Apply the settings once per process (later calls do nothing).

    * Numba's threading layer: OpenMP (libgomp, always present) unless
      ``NUMBA_THREADING_LAYER`` is set; Numba's TBB layer needs a newer TBB than some systems
      ship. The variable is also set in the environment, so worker processes (started with
      "spawn") inherit it. It takes effect as long as no parallel kernel has run yet.
    * OpenCV: one thread per call (PNGs are encoded in a pool of threads already), and its own
      log lines silenced (:func:`labelgen.io._images.read_png` reports corrupt files itself, naming
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
