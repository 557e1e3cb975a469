"""``render --workers N``: the calling process renders too and hands views to the others as
they become free; every view is written once, with the same bytes as in one process, and a
failing view stops the job with its error."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labelgen import runner
from labelgen.cameras import Camera
from labelgen.meshes import load_mesh
from labelgen.pipeline import resolve_params
from labelgen.rendering import make_renderer

ROOT = Path(__file__).resolve().parents[1]
APARTMENT = ROOT / "sample_meshes" / "apartment.glb"
TASKS = ["depth_zbuffer", "normal", "reshading"]


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _cameras(n):
    return [Camera.look_at([4.2, 3.0, 1.5], [0.0, 0.3 * k, 1.3], fov=1.2, width=48, height=32, point=str(k))
            for k in range(n)]


class _Bar:
    def __init__(self):
        self.n = 0

    def update(self):
        self.n += 1


@pytest.fixture(scope="module")
def renderer():
    return make_renderer(load_mesh(APARTMENT), threads=1)


def test_shared_views_are_each_rendered_once_with_the_same_bytes(tmp_path, renderer, monkeypatch):
    cams = _cameras(7)
    params = resolve_params()
    for cam in cams:  # reference: one process, in order
        runner._render_and_write(renderer, cam, TASKS, params, tmp_path / "plain")
    here, there = [], []
    real = runner._render_and_write

    def counted(r, cam, *args):
        (there if r is None else here).append(cam.point)
        return real(renderer, cam, *args)

    monkeypatch.setattr(runner, "_render_and_write", counted)
    monkeypatch.setitem(runner._WORKER, "renderer", None)  # the "other process": a thread here
    bar = _Bar()
    with ThreadPoolExecutor(2) as pool:
        summary = runner._render_shared(renderer, pool, 2, cams, TASKS, params, tmp_path / "shared", bar)
    assert sorted(here + there) == sorted(c.point for c in cams)  # each view once
    assert here and there  # both sides rendered
    assert summary.views == bar.n == len(cams) and summary.files == len(cams) * (len(TASKS) + 1)
    assert _digests(tmp_path / "plain") == _digests(tmp_path / "shared")


@pytest.mark.parametrize("side", ["here", "there"])
def test_a_failing_view_stops_the_job_with_its_error(tmp_path, renderer, monkeypatch, side):
    real = runner._render_and_write

    def failing(r, cam, *args):  # every view of one side fails
        if (r is None) == (side == "there"):
            raise RuntimeError(f"view {cam.point} failed")
        return real(renderer, cam, *args)

    monkeypatch.setattr(runner, "_render_and_write", failing)
    monkeypatch.setitem(runner._WORKER, "renderer", None)
    with ThreadPoolExecutor(1) as pool, pytest.raises(RuntimeError, match="failed"):
        runner._render_shared(renderer, pool, 1, _cameras(6), TASKS, resolve_params(), tmp_path, _Bar())


def test_render_building_with_more_workers_than_views(tmp_path):
    mesh = load_mesh(APARTMENT)
    cams = _cameras(2)
    runner.render_building(mesh, cams, tmp_path / "one", tasks=TASKS, cache=False)
    summary = runner.render_building(mesh, cams, tmp_path / "three", tasks=TASKS, workers=3, cache=False)
    assert summary.views == 2
    assert _digests(tmp_path / "one") == _digests(tmp_path / "three")
