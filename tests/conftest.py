"""Shared test fixtures: where the third-party reference data lives, small meshes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: the bundled sample apartment (+Y-up GLB) and its cameras
APARTMENT = REPO / "sample_meshes" / "apartment.glb"
APARTMENT_CAMERAS = REPO / "sample_meshes" / "apartment_cameras.json"


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


@pytest.fixture
def view(reference, tmp_path):
    """A writable copy of the shipped Taskonomy view (a flat folder of one view's files)."""
    import shutil

    dst = tmp_path / "building"
    shutil.copytree(reference / "taskonomy", dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    dst.chmod(0o755)
    return dst


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


# -- the sample apartment, loaded once ----------------------------------------------------------

@pytest.fixture(scope="session")
def apartment_path() -> Path:
    """The sample apartment's mesh file (``sample_meshes/apartment.glb``)."""
    return APARTMENT


@pytest.fixture(scope="session")
def apartment_mesh(apartment_path):
    """The sample apartment loaded once (:func:`labelgen.io.load_mesh`) and shared by every test
    that reads it: render it, compute labels on it, sample it. Its ``mesh.cache`` fills with
    results that depend on the mesh alone (the per-vertex curvature of :func:`apartment_curvature`,
    colour tables, face normals), so a label computed from it is what a freshly loaded mesh
    gives. Never change it (vertices, faces, parts, cache entries): a test that does, or that
    needs an empty cache, takes :func:`apartment_mesh_copy`. At the end of the session its
    geometry is checked against the file's, so a test that changed it is an error."""
    from labelgen.io import load_mesh

    mesh = load_mesh(apartment_path)
    vertices, faces = mesh.vertices.copy(), mesh.faces.copy()
    yield mesh
    assert np.array_equal(mesh.vertices, vertices) and np.array_equal(mesh.faces, faces), \
        "a test changed the shared apartment_mesh (use apartment_mesh_copy)"


@pytest.fixture
def apartment_mesh_copy(apartment_path):
    """A sample apartment of this test's own, loaded afresh (empty ``mesh.cache``): for tests
    that change the mesh or its cache, or whose result depends on what is cached."""
    from labelgen.io import load_mesh

    return load_mesh(apartment_path)


@pytest.fixture(scope="session")
def apartment_curvature(apartment_mesh):
    """The per-vertex curvature of :func:`apartment_mesh` with the default parameters
    (:func:`labelgen.labels.curvature.vertex_curvatures`), computed once per session and kept
    on the shared mesh's cache, where ``principal_curvature`` reads it. Its arrays are
    read-only: a test cannot change what the others see."""
    from labelgen.labels.curvature import vertex_curvatures

    curvature = vertex_curvatures(apartment_mesh, {})  # {}: every curvature_* parameter's default
    for array in curvature.values():
        array.setflags(write=False)
    return curvature


_FAULT_FIGURES = ("faults", "views_lost", "views_duplicated", "views_corrupt")


def pytest_terminal_summary(terminalreporter):
    """The figures the batch fault tests record (tests/test_batch_faults.py): faults injected,
    and views lost, duplicated and corrupt (each must be 0)."""
    rows = []
    for reports in terminalreporter.stats.values():
        for rep in reports:
            props = dict(getattr(rep, "user_properties", ()) or ())
            if getattr(rep, "when", None) == "call" and "faults" in props:
                rows.append((rep.nodeid.split("::")[-1], rep.duration, props))
    if not rows:
        return
    terminalreporter.write_sep("-", "batch fault tests")
    for name, duration, p in sorted(rows):
        more = "".join(f", {k} {v}" for k, v in p.items() if k not in _FAULT_FIGURES)
        terminalreporter.write_line(f"{name} ({duration:.0f} s): {p['faults']} faults injected; views lost "
                                    f"{p['views_lost']}, duplicated {p['views_duplicated']}, corrupt "
                                    f"{p['views_corrupt']}{more}")
