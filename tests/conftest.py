"""Shared test fixtures: where the third-party reference data lives, small meshes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """``../shared`` beside the repository (or ``$LABELGEN_SHARED``), if present."""
    env = os.environ.get("LABELGEN_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared", Path("/work/shared")]:
        if (cand / "reference").is_dir():
            return cand
    return None


@pytest.fixture
def reference():
    """The shipped reference data folder; skips the test when it is absent."""
    d = shared_dir()
    if d is None:
        pytest.skip("../shared/reference is not present")
    return d / "reference"


def box_mesh(lo, hi):
    """Vertices and faces of an axis-aligned box (outward right-hand winding)."""
    import trimesh

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(extents=hi - lo)
    m.apply_translation((lo + hi) / 2)
    return np.asarray(m.vertices), np.asarray(m.faces)


@pytest.fixture(autouse=True, scope="session")
def _private_labelgen_cache(tmp_path_factory):
    """Per-mesh results (curvature) go to a temporary cache folder, not ~/.cache/labelgen."""
    old = os.environ.get("LABELGEN_CACHE_DIR")
    os.environ["LABELGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("labelgen-cache"))
    yield
    if old is None:
        os.environ.pop("LABELGEN_CACHE_DIR", None)
    else:
        os.environ["LABELGEN_CACHE_DIR"] = old
