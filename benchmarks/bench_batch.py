"""``labelgen batch`` throughput: 1 and 2 local workers, and a 2-worker Dask LocalCluster.

Makes a jobs file of ``--buildings`` copies of the sample apartment (each a separate mesh
file, so every worker loads each building it works on), each with ``--views`` cameras at
``--size`` pixels and the geometric labels plus occlusion edges, and runs it into a fresh
folder on each executor. Each executor is started and warmed up first (a small jobs file, so
imports and compiled kernels are loaded), then the timed run measures views per second of
steady work. Prints views/s per executor, the 1 -> 2 worker scaling as a fraction of linear,
and Dask's throughput relative to the local pool with the same number of workers.

``--memory`` instead reports the peak resident memory of a worker process rendering the
sample apartment and a ~1M-triangle mesh (the apartment plus finely tessellated spheres),
from the summary of a one-worker run each; ``--curvature`` adds principal_curvature (for the
apartment only unless ``--big-curvature``: never run that without a memory cap).

Run: ``.venv/bin/python benchmarks/bench_batch.py [--views 20 --buildings 3 --size 256]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelgen.batch import DaskExecutor, LocalExecutor, run_batch  # noqa: E402

TASKS = ["depth_zbuffer", "depth_euclidean", "normal", "reshading", "mask_valid", "edge_occlusion"]


def camera_poses(n, size, seed=0):
    from scipy.spatial.transform import Rotation

    from labelgen.camera._cameras import Camera

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        eye = rng.uniform([0.5, 0.5, 1.2], [3.5, 5.5, 1.8])
        target = rng.uniform([0, 0, 0.3], [8, 6, 1.5])
        cam = Camera.look_at(eye, target, fov=1.2, width=size, height=size)
        x, y, z, w = Rotation.from_matrix(cam.rotation).as_quat()
        out.append({"camera_id": f"c{i}", "location": [float(v) for v in eye],
                    "rotation_quaternion": [float(w), float(x), float(y), float(z)],
                    "field_of_view_rads": 1.2, "resolution": size})
    return out


def make_jobs(folder: Path, buildings: int, views: int, size: int, tasks, mesh=None, name="jobs.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for b in range(buildings):
        m = folder / f"mesh{b}{Path(mesh).suffix if mesh else '.glb'}"
        if not m.exists():
            shutil.copy(mesh or ROOT / "sample_meshes" / "apartment.glb", m)
        cams = folder / f"cams{b}_{views}_{size}.json"
        cams.write_text(json.dumps(camera_poses(views, size, seed=b)))
        jobs.append({"building": f"b{b}", "render": {"mesh": m.name, "cameras": cams.name}})
    path = folder / name
    path.write_text(json.dumps({"defaults": {"tasks": tasks}, "jobs": jobs}))
    return path


def _proc_cpu(pid) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(executor) -> float:
    """CPU seconds (user + sys) used so far by the driver and the executor's worker processes."""
    total = time.process_time()
    if isinstance(executor, LocalExecutor):
        return total + sum(_proc_cpu(pid) for pid in executor._pool._processes)
    times = executor.client.run(os.times)
    return total + sum(t[0] + t[1] for t in times.values())


def timed(executor, jobs, warm, out: Path):
    run_batch(warm, out / "warm", executor=executor)
    c, t = cpu_seconds(executor), time.perf_counter()
    summary = run_batch(jobs, out / "run", executor=executor)
    dt, cpu = time.perf_counter() - t, cpu_seconds(executor) - c
    views = sum(s["computed"] for s in summary["buildings"].values())
    failures = [f for s in summary["buildings"].values() for f in s["failures"]]
    if failures:
        raise SystemExit(f"failures: {failures[:3]}")
    return views / dt, dt, views, cpu / views


def bench_speed(args):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs = make_jobs(tmp / "in", args.buildings, args.views, args.size, TASKS)
        warm = make_jobs(tmp / "in", 2, 2, 32, TASKS, name="warm.json")
        results = {}
        for label, make in [("local, 1 worker", lambda: LocalExecutor(1)),
                            ("local, 2 workers", lambda: LocalExecutor(2)),
                            ("dask LocalCluster, 2 workers", lambda: DaskExecutor(None, 2))]:
            ex = make()
            try:
                rate, dt, n, cpv = timed(ex, jobs, warm, tmp / label.replace(" ", "_").replace(",", ""))
            finally:
                ex.close()
            results[label] = rate, cpv
            print(f"{label:30s} {n} views in {dt:6.2f} s: {rate:6.2f} views/s, {cpv * 1000:6.1f} CPU ms/view",
                  flush=True)
        (r1, c1), (r2, c2), (rd, cd) = results.values()
        print(f"scaling 1 -> 2 local workers: {r2 / r1:.2f}x = {r2 / (2 * r1) * 100:.0f} % of linear (target >= 85 %)")
        print(f"dask / local with 2 workers: {rd / r2 * 100:.0f} % (target >= 90 %)")
        print(f"CPU per view, 1 worker / 2 workers: {c1 / c2 * 100:.0f} %; local / dask with 2 workers: "
              f"{c2 / cd * 100:.0f} % (on a loaded machine the wall-clock figures follow the other jobs; "
              f"these CPU ratios bound the scaling an idle machine with >= 2 free cores would show)")


def big_mesh(path: Path):
    import trimesh

    from labelgen.io._meshes import load_mesh

    apt = load_mesh(ROOT / "sample_meshes" / "apartment.glb")  # glTF +Y up, turned +Z up
    parts = [trimesh.Trimesh(apt.vertices, apt.faces, process=False)]
    for subdiv, centre in [(7, (2.3, 4.1, 1.2)), (7, (6.0, 1.5, 1.0)), (7, (1.0, 1.5, 0.8))]:
        s = trimesh.creation.icosphere(subdivisions=subdiv, radius=0.4)
        s.apply_translation(centre)
        parts.append(s)
    merged = trimesh.util.concatenate(parts)
    merged.export(path)
    return len(merged.faces)


def bench_memory(args):
    tasks = TASKS + (["principal_curvature"] if args.curvature else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = tmp / "big.ply"
        faces = big_mesh(big)
        meshes = [("sample apartment", None), (f"{faces:,}-triangle mesh", big)]
        if args.curvature and not args.big_curvature:
            print("principal_curvature: the big mesh is left out (its curvature memory can exceed what this "
                  "machine has; --big-curvature measures it anyway, under a memory cap)")
            meshes = meshes[:1]
        for label, mesh in meshes:
            jobs = make_jobs(tmp / label.replace(" ", "_"), 1, args.views, args.size, tasks, mesh=mesh)
            summary = run_batch(jobs, tmp / "out" / label.replace(" ", "_"), workers=1)
            s = summary["buildings"]["b0"]
            print(f"{label:28s} {s['views']} views {args.size}x{args.size}, tasks {','.join(tasks)}: "
                  f"worker peak {s['worker_peak_rss_mb']:.0f} MiB, {s['seconds']:.1f} s"
                  + (f", failures {s['failures'][:2]}" if s["failures"] else ""), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buildings", type=int, default=3)
    ap.add_argument("--views", type=int, default=20, help="views per building")
    ap.add_argument("--size", type=int, default=256, help="image width and height")
    ap.add_argument("--memory", action="store_true", help="report worker peak memory instead of speed")
    ap.add_argument("--curvature", action="store_true", help="with --memory: add principal_curvature")
    ap.add_argument("--big-curvature", action="store_true", help="with --curvature: the big mesh too")
    args = ap.parse_args()
    (bench_memory if args.memory else bench_speed)(args)


if __name__ == "__main__":
    main()
