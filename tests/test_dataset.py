"""labelgen.ViewDataset and labelgen.ViewStream: views rendered when asked for.

The reference for every byte is ``labelgen render --cameras`` on the item's point_info (run as
a command); determinism across processes is checked in a fresh interpreter and through real
DataLoader worker processes (torch, the ``test`` extra).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import labelgen
from labelgen import LabelgenError, ViewDataset, ViewStream
from labelgen.data import _views, decode_array
from labelgen.io import encode_png

from conftest import REPO, box_mesh

APARTMENT = REPO / "sample_meshes" / "apartment.glb"
CAMERAS = REPO / "sample_meshes" / "apartment_cameras.json"
FAST = ["depth_zbuffer", "normal", "reshading", "rgb"]


def digests(item) -> dict:
    return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() + str(v.dtype) + str(tuple(v.shape))
            for k, v in item.items() if isinstance(v, np.ndarray) and v.ndim > 0}


@pytest.fixture(scope="module")
def files_ds():
    return ViewDataset(APARTMENT, cameras=CAMERAS, resolution="64x48")


def test_items(files_ds):
    ds = files_ds
    assert len(ds) == 10 and "apartment" in repr(ds)
    item = ds[3]
    tasks = labelgen.engine.default_render_tasks(labelgen.load_mesh(APARTMENT))
    assert [k for k in item if k in labelgen.all_labels()] == tasks
    assert item["building"] == "apartment" and (item["point"], item["view"], item["index"]) == ("3", "0", 3)
    assert item["depth_zbuffer"].dtype == np.float32 and item["depth_zbuffer"].shape == (48, 64)
    assert item["normal"].shape == (48, 64, 3) and item["principal_curvature"].shape == (48, 64, 2)
    assert item["mask_valid"].dtype == bool and item["segment_unsup2d"].dtype == np.int64
    assert set(item["valid"]) == set(tasks)
    K, pose = labelgen.camera_matrices(ds.point_info(3))
    assert np.allclose(item["K"], K) and np.allclose(item["cam_to_world"], pose)
    assert item["K"].dtype == np.float32
    enc = ViewDataset(APARTMENT, cameras=CAMERAS, resolution="64x48", decode=False)[3]
    assert "valid" not in enc and enc["depth_zbuffer"].dtype == np.uint16
    mask = enc["mask_valid"] == 255
    for task in tasks:  # decoded items are read_label of the encoded arrays, with the view's mask
        ref = decode_array(enc[task], task, valid=mask)
        assert np.array_equal(item[task], ref.value) and np.array_equal(item["valid"][task], ref.valid)
    cf = ViewDataset(APARTMENT, cameras=CAMERAS, resolution="64x48", channels_first=True, tasks=FAST,
                     convention="opencv", fill=float("nan"))[3]
    assert cf["normal"].shape == (3, 48, 64) and cf["depth_zbuffer"].shape == (1, 48, 64)
    assert cf["valid"]["rgb"].shape == (1, 48, 64)
    assert np.array_equal(np.isnan(cf["depth_zbuffer"][0]), ~item["valid"]["depth_zbuffer"])
    assert np.allclose(cf["cam_to_world"][:3, :3], pose[:3, :3] @ np.diag([1, -1, -1]), atol=1e-6)
    assert np.array_equal(ds[-7]["normal"], item["normal"])
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(TypeError):
        ds["3"]


def test_sampled_views_are_the_same_for_the_same_seed(tmp_path):
    copy = tmp_path / "flat" / "apartment.glb"
    copy.parent.mkdir()
    copy.write_bytes(APARTMENT.read_bytes())
    a = ViewDataset([APARTMENT, copy], num_views=4, resolution=48, seed=5, tasks=FAST, fov_range=(50, 60))
    b = ViewDataset([APARTMENT, copy], num_views=4, resolution=48, seed=5, tasks=FAST, fov_range=(50, 60))
    c = ViewDataset([APARTMENT], num_views=4, resolution=48, seed=6, tasks=FAST)
    assert len(a) == 8 and [x.name for x in a.buildings] == ["sample_meshes_apartment", "flat_apartment"]
    infos = [a.point_info(i) for i in range(8)]
    assert infos == [b.point_info(i) for i in range(8)]
    assert infos[:4] != [c.point_info(i) for i in range(4)]
    assert infos[:4] != infos[4:]  # each building samples with its own seed
    assert all(50 <= np.degrees(i["field_of_view_rads"]) <= 60 and i["resolution"] == 48 for i in infos)
    assert a[5]["building"] == "flat_apartment"
    assert digests(a[6]) == digests(b[6])


@pytest.mark.slow
def test_encoded_items_are_the_bytes_render_writes(tmp_path):
    """Every task, on the sample apartment: ds[i] encoded, as PNG, is the file ``labelgen render
    --cameras`` writes for ds.point_info(i) (camera-file and sampled views)."""
    from test_cli import run_cli

    tasks = labelgen.engine.default_render_tasks(labelgen.load_mesh(APARTMENT)) + ["fragments"]
    sets = {"files": ViewDataset(APARTMENT, cameras=CAMERAS, resolution="64x48", decode=False, tasks=tasks),
            "sampled": ViewDataset(APARTMENT, num_views=3, resolution=56, decode=False, tasks=tasks, seed=2)}
    for name, ds in sets.items():
        cams = tmp_path / name / "point_info"
        cams.mkdir(parents=True)
        indices = [0, 1, len(ds) - 1]
        for i in indices:
            info = ds.point_info(i)
            (cams / f"point_{info['point_uuid']}_view_{info['view_id']}_domain_point_info.json").write_text(
                json.dumps(info))
        out = tmp_path / name / "out"
        res = run_cli("render", str(APARTMENT), "--cameras", str(cams.parent), "--out", str(out),
                      "--tasks", ",".join(tasks), "--quiet")
        assert res.returncode == 0, res.stderr
        for i in indices:
            item = ds[i]
            for task in tasks:
                path = out / task / f"point_{item['point']}_view_{item['view']}_domain_{task}.png"
                assert encode_png(item[task]) == path.read_bytes(), (name, i, task)


# A fresh training script: items read in the main process first (its Numba layer is then the
# datasets' fork-safe one), then DataLoaders with 2 forked workers. (The test process itself has
# made labels with Numba's OpenMP layer, under which forked workers refuse to work: tested below.)
_FRESH = """
import hashlib, itertools, json, sys, numpy as np, torch, labelgen
from torch.utils.data import DataLoader

def digest(v):
    v = v.numpy() if isinstance(v, torch.Tensor) else v
    return hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() + str(v.dtype) + str(tuple(v.shape))

def digests(item):
    return {k: digest(v) for k, v in item.items() if isinstance(v, (np.ndarray, torch.Tensor)) and v.ndim > 0}

mesh, cams = sys.argv[1], sys.argv[2]
ds = labelgen.ViewDataset(mesh, cameras=cams, resolution="64x48", decode=False)
out = {"fresh": {i: digests(ds[i]) for i in (8, 2)}, "loader": {}, "batches": {}, "stream": []}
for item in DataLoader(ds, batch_size=None, num_workers=2):
    out["loader"][int(item["index"])] = digests(item)
dec = labelgen.ViewDataset(mesh, cameras=cams, resolution="64x48")
batches = list(DataLoader(dec, batch_size=4, num_workers=2))
out["sizes"] = [len(b["building"]) for b in batches]
out["batches"] = {"normal6": digest(batches[1]["normal"][2]), "reshading9": digest(batches[2]["valid"]["reshading"][1])}
stream = labelgen.ViewStream(mesh, resolution=40, views_per_sample=3, tasks=["depth_zbuffer", "normal"], seed=1)
for it in itertools.islice(DataLoader(stream, batch_size=None, num_workers=2), 12):
    out["stream"].append([int(it["index"]), it["point"], it["view"], digest(it["normal"])])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def fresh_process():
    # a training script's fresh process: none of the settings the in-process command line runs of
    # the other tests gave this one (NUMBA_THREADING_LAYER)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    res = subprocess.run([sys.executable, "-c", _FRESH, str(APARTMENT), str(CAMERAS)], capture_output=True,
                         text=True, timeout=600, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.slow
def test_same_bytes_in_a_fresh_process_and_through_dataloader_workers(files_ds, fresh_process):
    ds = ViewDataset(APARTMENT, cameras=CAMERAS, resolution="64x48", decode=False)
    want = {str(i): digests(ds[i]) for i in range(len(ds))}
    assert fresh_process["fresh"] == {i: want[i] for i in ("8", "2")}
    assert fresh_process["loader"] == want  # 2 forked workers, after items were read in their parent
    # decoded, batched: the default collate stacks every array; the same values as here
    assert fresh_process["sizes"] == [4, 4, 2]
    assert fresh_process["batches"] == {"normal6": digests({"x": files_ds[6]["normal"]})["x"],
                                        "reshading9": digests({"x": files_ds[9]["valid"]["reshading"]})["x"]}


@pytest.mark.slow
def test_spawned_workers_load_their_own_meshes():
    """Spawned workers get the dataset pickled (plain data: mesh descriptions, cameras) and load
    the mesh themselves; the bytes are the same."""
    import torch
    from torch.utils.data import DataLoader

    ds = ViewDataset(APARTMENT, cameras=CAMERAS, resolution="40x32", decode=False, tasks=FAST)
    assert len(pickle.dumps(ds)) < 200_000
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    for item in loader:
        arrays = {k: v.numpy() for k, v in item.items() if isinstance(v, torch.Tensor) and v.ndim > 0}
        assert digests(arrays) == digests(ds[int(item["index"])])


@pytest.mark.slow
def test_stream_splits_across_workers_without_repeats(fresh_process):
    from torch.utils.data import IterableDataset

    stream = ViewStream(APARTMENT, resolution=40, views_per_sample=3, tasks=["depth_zbuffer", "normal"], seed=1)
    assert isinstance(stream, IterableDataset)
    here = list(itertools.islice(iter(stream), 12))  # samples 0..3, one after the other
    assert [it["index"] for it in here] == list(range(12))
    assert sorted(stream.order(0)) == [0] and stream.unit(5) == (0, 5)
    again = pickle.loads(pickle.dumps(stream))
    assert digests(next(iter(again))) == digests(here[0])
    # two forked workers (fresh process): samples 0, 2 and 1, 3, each view once, the same bytes
    seen = fresh_process["stream"]
    index = [i for i, *_ in seen]
    assert sorted(index) == list(range(12)) and index[:6] == [0, 3, 1, 4, 2, 5]
    for i, point, view, normal in seen:
        mine = here[i]
        assert (point, view, normal) == (mine["point"], mine["view"], digests({"n": mine["normal"]})["n"])
    poses = {tuple(np.round(it["cam_to_world"].reshape(-1), 5)) for it in here}
    assert len(poses) == 12  # different samples, different views


def test_each_process_keeps_a_few_meshes(tmp_path, monkeypatch):
    import trimesh

    from labelgen.engine import _workers
    from labelgen.render import _renderers

    paths = []
    for k in range(3):
        v, f = box_mesh([-3 - k, -3, -1], [3, 3, 2])
        paths.append(tmp_path / f"room{k}.ply")
        trimesh.Trimesh(v, f[:, ::-1], process=False).export(paths[-1])
    cam = labelgen.Camera.look_at([0, 0, 0.5], [1, 0.2, 0.3], fov=1.0, width=16, height=12)
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps(cam.point_info()))
    built = []
    real = _renderers.make_renderer
    monkeypatch.setattr(_renderers, "make_renderer",
                        lambda mesh, *a, **kw: built.append(mesh.path) or real(mesh, *a, **kw))
    monkeypatch.setattr(_workers, "_CURRENT", type(_workers._CURRENT)())
    ds = ViewDataset(paths, cameras=[cams] * 3, tasks=["depth_zbuffer"], cache_meshes=2)
    for i in (0, 1, 0, 2, 0, 1):
        assert ds[i]["building"] == f"room{i}"
    assert [p.name for p in built] == ["room0.ply", "room1.ply", "room2.ply", "room1.ply"]
    assert len(_workers._CURRENT) == 2


def test_a_worker_forked_from_an_openmp_process_says_so(files_ds, monkeypatch):
    monkeypatch.setitem(_views._FORK, "inherited", "omp")
    monkeypatch.setitem(_views._LOCAL, "pid", None)
    with pytest.raises(LabelgenError, match="multiprocessing_context='spawn'"):
        files_ds[0]


_OPENMP = """
import sys, labelgen, numba
from torch.utils.data import DataLoader
cam = labelgen.Camera.look_at([4.2, 3.0, 1.5], [0, 2, 1.3], fov=1.2, width=16, height=12)
labelgen.render_view(sys.argv[1], cam, ["rgb"])   # a parallel kernel: Numba picks OpenMP
assert numba.threading_layer() == "omp", numba.threading_layer()
ds = labelgen.ViewDataset(sys.argv[1], cameras=sys.argv[2], resolution=16, tasks=["depth_zbuffer"])
try:
    next(iter(DataLoader(ds, num_workers=1)))
except RuntimeError as err:
    print(str(err).splitlines()[-1])
"""


@pytest.mark.slow
def test_forked_workers_of_an_openmp_process_fail_with_a_message():
    res = subprocess.run([sys.executable, "-c", _OPENMP, str(APARTMENT), str(CAMERAS)], capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "LabelgenError: this process was forked from one where Numba's OpenMP threads run" in res.stdout
    assert "multiprocessing_context='spawn'" in res.stdout


def test_jobs_file(tmp_path):
    jobs = {"defaults": {"tasks": ["depth_zbuffer"], "resolution": 32},
            "jobs": [{"building": "a", "render": {"mesh": str(APARTMENT), "cameras": str(CAMERAS)}},
                     {"building": "b", "tasks": ["normal"],
                      "render": {"mesh": str(APARTMENT), "sample": {"num_points": 2, "seed": 4}}}]}
    path = tmp_path / "jobs.yaml"
    path.write_text(json.dumps(jobs))
    ds = ViewDataset(jobs=path, num_views=2)
    assert [(b.name, b.count, b.tasks) for b in ds.buildings] == [("a", 10, ("depth_zbuffer",)), ("b", 2, ("normal",))]
    assert ds.buildings[1].seed == 4
    assert list(ds[11])[:1] == ["normal"] and ds[11]["normal"].shape == (32, 32, 3)
    both = ViewDataset(jobs=path, num_views=2, tasks=["mask_valid"])
    assert "mask_valid" in both[0] and "mask_valid" in both[11]
    bad = dict(jobs, jobs=jobs["jobs"] + [{"building": "c", "derive": {"path": str(tmp_path)}}])
    with pytest.raises(LabelgenError, match=r"job 3 \(c\): a dataset renders meshes; this is a derive job"):
        ViewDataset(jobs=bad)


def test_bad_input_one_line_errors(tmp_path):
    cases = [
        (dict(), "give meshes, or jobs"),
        (dict(meshes=APARTMENT, jobs=[]), "not both"),
        (dict(meshes=tmp_path / "none.glb"), "no such mesh file"),
        (dict(meshes=[APARTMENT, APARTMENT], cameras=CAMERAS), "one camera file for 2 meshes"),
        (dict(meshes=APARTMENT, cameras={"other": CAMERAS}), "no mesh named 'other'"),
        (dict(meshes=APARTMENT, cameras=tmp_path / "none.json"), "no such file"),
        (dict(meshes=APARTMENT, tasks=["nonsense"]), "unknown task 'nonsense'"),
        (dict(meshes=APARTMENT, num_views=0), "num_views: must be a positive integer"),
        (dict(meshes=APARTMENT, fov_range=(80, 60)), "fov_range: needs min <= max"),
        (dict(meshes=APARTMENT, sample={"mode": "sideways"}), "sample.mode"),
        (dict(meshes=APARTMENT, resolution="big"), "resolution"),
        (dict(meshes=APARTMENT, convention="gl"), "convention"),
        (dict(meshes=APARTMENT, params={"canny_sigma": -1}), "--canny-sigma"),
        (dict(meshes=APARTMENT, params={"nonsense": 1}), "unknown parameter"),
        (dict(meshes=APARTMENT, cache_meshes=0), "cache_meshes"),
        (dict(meshes=APARTMENT, seed=-1), "seed"),
    ]
    for kw, match in cases:
        with pytest.raises(LabelgenError, match=match) as info:
            ViewDataset(**kw)
        assert "\n" not in str(info.value)
    impossible = dict(resolution=32, sample={"num_points": 1, "max_views_per_point": 5}, tasks=["depth_zbuffer"])
    few = ViewDataset(APARTMENT, num_views=40, **impossible)
    with pytest.raises(LabelgenError, match="sampling gave .* fewer than the 40"):
        few[0]
    with pytest.raises(LabelgenError, match="3 samples in a row gave no views; the last: sampling gave"):
        next(iter(ViewStream(APARTMENT, views_per_sample=40, **impossible)))
    plain = tmp_path / "plain.ply"
    v, f = box_mesh([-2, -2, -1], [2, 2, 2])
    import trimesh

    trimesh.Trimesh(v, f[:, ::-1], process=False).export(plain)
    cam = labelgen.Camera.look_at([0, 0, 0.5], [1, 0.2, 0.3], fov=1.0, width=16, height=12)
    (tmp_path / "cam.json").write_text(json.dumps(cam.point_info()))
    no_rgb = ViewDataset(plain, cameras=tmp_path / "cam.json", tasks=["rgb"])
    with pytest.raises(LabelgenError, match="plain.ply: cannot make rgb"):
        no_rgb[0]
