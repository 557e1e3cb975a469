"""Shared test fixtures: where the third-party reference data lives, small meshes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_reference() -> Path:
    """``$LABELGEN_SHARED/reference`` when the variable is set, else ``../shared/reference``
    beside the repository."""
    env = os.environ.get("LABELGEN_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shipped third-party reference data (``shared/reference``, never copied into the
    repository). The one way tests find it: when it is missing the test is skipped, or fails
    under CI (``CI=true``), so that bit-exact tests cannot pass by skipping there."""
    ref = _shared_reference()
    if not ref.is_dir():
        message = f"shared reference data not found at {ref} (set LABELGEN_SHARED to the shared folder)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    return ref


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
