"""Importing labelgen changes nothing in the process; running it picks Numba's OpenMP layer."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

CHECK = r"""
import json, os, threading
import cv2
before = cv2.getNumThreads()
import labelgen, labelgen.cli._main, labelgen.sample._sampling, labelgen.kernels.texture, labelgen.kernels.vanishing
from labelgen.labels import all_labels
all_labels()
state = {"env": os.environ.get("NUMBA_THREADING_LAYER"), "cv2_threads_unchanged": cv2.getNumThreads() == before,
         "threads": sorted(t.name for t in threading.enumerate())}
import numpy as np
from labelgen.camera._cameras import Camera
from labelgen.io._meshes import Mesh
import trimesh
room = trimesh.creation.box(extents=[4, 4, 3])
labels, _ = labelgen.render_view(Mesh.from_trimesh(room), Camera.look_at([0, 0, 0], [1, 0, 0], width=16, height=12),
                                 tasks=["depth_zbuffer", "normal"])
import numba
@numba.njit(parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(len(a)):
        s += a[i]
    return s
total(np.ones(1000))  # the first parallel launch picks the layer
state["layer_after_run"] = numba.threading_layer()
state["cv2_threads_after_run"] = cv2.getNumThreads()
print(json.dumps(state))
"""


def test_import_has_no_side_effects_and_runs_use_openmp():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True)
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["env"] is None
    assert state["cv2_threads_unchanged"]
    assert state["threads"] == ["MainThread"]
    assert state["layer_after_run"] == "omp"
    assert state["cv2_threads_after_run"] == 1
