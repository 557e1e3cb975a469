"""Parallel kernel warm-up (labelgen.engine._warmup): it computes every image-derived label on its
synthetic view, and a render that warms up first writes the same bytes as one that does not."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from labelgen.engine import _warmup as warmup
from labelgen.camera._cameras import Camera
from labelgen.engine import render_building


def test_synthetic_view_computes_every_image_label():
    tasks = [t for g in warmup.GROUPS for t in g]
    assert warmup.warm_labels(tasks) == tasks


def test_mesh_labels_are_left_out():
    assert warmup.warm_labels(["depth_zbuffer", "keypoints2d"]) == ["keypoints2d"]


def test_cache_check_reads_numba_index_files(tmp_path, monkeypatch):
    from labelgen.kernels import edges

    paths = warmup._index_paths(edges)
    assert paths and all(p.endswith(".nbi") for p in paths)
    monkeypatch.setattr(warmup, "_index_paths", lambda module: [str(tmp_path / "missing.nbi")])
    assert warmup.cache_is_cold()
    (tmp_path / "missing.nbi").write_bytes(b"")
    assert not warmup.cache_is_cold()


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_render_with_warmup_is_byte_identical(tmp_path, monkeypatch, workers, apartment_mesh_copy):
    mesh = apartment_mesh_copy  # its own: render_building hands it to worker processes
    cams = [Camera.look_at([4.2, 3.0, 1.5], [0.0, 2.0, 1.3], fov=1.2, width=96, height=64, point=str(k))
            for k in range(2)]
    tasks = ["depth_zbuffer", "normal", "rgb", "edge_texture", "keypoints2d", "segment_unsup2d"]
    render_building(mesh, cams, tmp_path / "plain", tasks=tasks, cache=False)
    started = []
    real_start = warmup.start

    def forced(tasks, params=None, processes=None):
        monkeypatch.setattr(warmup, "cache_is_cold", lambda modules=None: True)
        started.append(real_start(tasks, params, processes=1))
        return started[-1]

    monkeypatch.setattr(warmup, "start", forced)
    render_building(mesh, cams, tmp_path / "warm", tasks=tasks, workers=workers, cache=False)
    assert started and started[0] is not None
    plain, warm = _digests(tmp_path / "plain"), _digests(tmp_path / "warm")
    assert plain == warm and len(plain) == 2 * (len(tasks) + 1)
