"""Importing labelgen and calling its Python API change nothing in the calling process (no
environment variable, no OpenCV or Numba setting); the command line picks Numba's OpenMP layer
and one OpenCV thread for itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

LIBRARY = r"""
import json, os, threading
import cv2
cv2.setNumThreads(3)
before = cv2.getNumThreads(), cv2.utils.logging.getLogLevel()
import labelgen, labelgen.cli, labelgen.sample, labelgen.kernels.texture, labelgen.kernels.vanishing
from labelgen.labels import all_labels
all_labels()
state = {"env": os.environ.get("NUMBA_THREADING_LAYER"),
         "cv2_unchanged_on_import": (cv2.getNumThreads(), cv2.utils.logging.getLogLevel()) == before,
         "threads": sorted(t.name for t in threading.enumerate())}
import trimesh
from labelgen import Camera, Mesh
room = trimesh.creation.box(extents=[4, 4, 3])
labels, _ = labelgen.render_view(Mesh.from_trimesh(room), Camera.look_at([0, 0, 0], [1, 0, 0], width=16, height=12),
                                 tasks=["depth_zbuffer", "normal", "edge_occlusion"])
state["env_after_call"] = os.environ.get("NUMBA_THREADING_LAYER")
state["cv2_unchanged_after_call"] = (cv2.getNumThreads(), cv2.utils.logging.getLogLevel()) == before
print(json.dumps(state))
"""

COMMAND_LINE = r"""
import json, sys, cv2, numba
import numpy as np
from labelgen.cli import main
rc = main(["tasks"])
@numba.njit(parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(len(a)):
        s += a[i]
    return s
total(np.ones(1000))  # the first parallel launch picks the layer
print(json.dumps({"rc": rc, "layer": numba.threading_layer(), "cv2_threads": cv2.getNumThreads()}))
"""


def _run(code):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_import_and_library_calls_have_no_process_wide_side_effects():
    state = _run(LIBRARY)
    assert state["env"] is None and state["env_after_call"] is None
    assert state["cv2_unchanged_on_import"] and state["cv2_unchanged_after_call"]
    assert state["threads"] == ["MainThread"]


@pytest.mark.slow
def test_the_command_line_uses_openmp_and_one_opencv_thread():
    state = _run(COMMAND_LINE)
    assert state == {"rc": 0, "layer": "omp", "cv2_threads": 1}
