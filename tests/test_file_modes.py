"""Files labelgen writes get the mode ``open(path, "w")`` gives under the umask (0666 & ~umask).

Every writer goes through :func:`labelgen.io._images.write_bytes_atomic` (a temporary name in the
destination folder, then a rename); the temporary file used to come from ``tempfile.mkstemp``,
which creates files 0600 whatever the umask, so no dataset could be read by a group.
"""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from labelgen.cli import main

REPO = Path(__file__).resolve().parents[1]
MESH = REPO / "sample_meshes" / "apartment.glb"
CAMERAS = REPO / "sample_meshes" / "apartment_cameras.json"


def _modes(root: Path) -> dict[str, int]:
    """Permission bits of every file under ``root``."""
    return {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write_everything(tmp: Path) -> Path:
    """Render, derive, validate with a report, a batch run and a per-mesh cache entry, all under
    ``tmp / "out"``; returns that folder."""
    out = tmp / "out"
    poses = json.loads(CAMERAS.read_text())[:2]  # two small views are enough
    cams = tmp / "camera_poses.json"
    cams.write_text(json.dumps(poses))
    render = out / "render"
    assert main(["render", str(MESH), "--cameras", str(cams), "--resolution", "32", "--out", str(render),
                 "--tasks", "depth_zbuffer,normal", "--quiet"]) == 0
    assert main(["derive", str(render), "--out", str(out / "derive"), "--tasks", "edge_occlusion",
                 "--quiet"]) == 0
    assert main(["validate", str(render), "--mesh", str(MESH), "--report", str(out / "report"),
                 "--quiet"]) == 0
    jobs = tmp / "jobs.json"
    jobs.write_text(json.dumps({"defaults": {"tasks": ["depth_zbuffer", "normal"], "resolution": 32},
                                "jobs": [{"building": "apt", "render": {"mesh": str(MESH), "cameras": str(cams)}},
                                         {"building": "again", "tasks": ["edge_occlusion"], "derive": {"path": str(render)}}]}))
    assert main(["batch", str(jobs), "--out", str(out / "batch"), "--quiet"]) == 0
    from labelgen.io import _cache

    class _Mesh:  # what per_mesh needs of a mesh
        content_hash = "0" * 64
        cache: dict = {}

    old_dir = _cache._STATE["dir"]
    _cache.configure(directory=out / "cache")
    try:
        _cache.per_mesh(_Mesh(), "modes", 1, {}, lambda: {"a": np.arange(3)})
    finally:
        _cache._STATE["dir"] = old_dir
    return out


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_every_file_gets_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        out = _write_everything(tmp_path)
    finally:
        os.umask(old)
    modes = _modes(out)
    want = 0o666 & ~umask
    # every kind of output is there: labels, point_info, derived labels, the report, the batch
    # journal and summary, the cache entry
    for part in ("render/normal/", "render/point_info/", "derive/edge_occlusion/", "report/index.html",
                 "report/report.json", "batch/apt/normal/", "batch/again/edge_occlusion/",
                 "batch/.labelgen/summary.json", "cache/modes-"):
        assert any(name.startswith(part) for name in modes), part
    assert not [n for n in modes if n.endswith(".part")]
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != want}
    assert not wrong, f"want {oct(want)}: {wrong}"


def test_write_bytes_atomic_mode_and_threads(tmp_path):
    """The mode comes from the kernel applying the umask (no umask read, so no window in which
    another thread sees the umask changed); many threads writing at once all get it."""
    from labelgen.io._images import write_bytes_atomic

    old = os.umask(0o007)
    try:
        threads = [threading.Thread(target=write_bytes_atomic, args=(tmp_path / f"f{i}.bin", b"x" * i))
                   for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        write_bytes_atomic(tmp_path / "f1.bin", b"again")  # replacing a file
    finally:
        os.umask(old)
    assert os.umask(old) == old  # restored
    assert _modes(tmp_path) == {f"f{i}.bin": 0o660 for i in range(32)}
    assert (tmp_path / "f1.bin").read_bytes() == b"again"
