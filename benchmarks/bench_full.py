"""The whole picture: every default label, one process, one thread, against the bare ray cast.

Run: ``.venv/bin/python benchmarks/bench_full.py [--quick]``.

For the sample apartment (``sample_meshes/apartment.glb`` with its 10 cameras) and a generated
~300k-triangle scene (the apartment plus three finely tessellated, vertex-coloured spheres; 10
views), at 512x512, in one process with one thread (``NUMBA_NUM_THREADS=1``, OpenCV one
thread, Open3D ``cast_rays`` one thread), it prints per view (median over views, each view
best of ``--repeat``; CPU time of the process, which on an idle machine is the wall time):

- the bare Open3D ``cast_rays`` of the view's rays, measured in the same run, beside
- the geometry buffer (rays + cast + per-pixel geometry), each default label's computation
  (inputs from the same view, in the pipeline's order), PNG encoding of every label and the
  total, and the five geometric labels written through the CLI's per-view path (PNG writing
  included) as a multiple of the bare cast,

with the anchor figures of issue 13 (main before the speed work) and the targets beside them.

Then, each in a subprocess (the CLI, as a user runs it):

- cold start: the README's render command with an empty Numba cache (``NUMBA_CACHE_DIR`` and
  ``LABELGEN_CACHE_DIR`` pointing at empty temporary folders) until its first view is written
  (its point_info file appears), and until it ends;
- ``--workers 2`` against ``--workers 1`` for the full label set (warm caches, 20 views of the
  apartment), as the ratio of the two wall times measured back to back (best of 2), with the
  CPU seconds of each (their ratio bounds the speed-up on idle cores), whether both wrote the
  same bytes, how the other process started (forked or spawned), and ``--workers 1`` on one
  view (the start-up that both pay once, which bounds the speed-up on few views).

``--only cold`` or ``--only workers`` measures only that; ``--compile-profile`` adds, for each
process of the cold start, its CPU seconds and its longest Numba compilations (recorded through
a ``sitecustomize`` module on the subprocess's path); ``--workers-views N`` sets the views of
the ``--workers`` comparison.

``--quick`` does 1 repeat, 4 views per scene and skips the cold start (about a minute on
an idle 2-core machine; without it about four minutes). Figures from a loaded machine are
noisy: the ratios (measured side by side) are what to compare.
"""
from __future__ import annotations

import os

# one thread everywhere, before numba / cv2 / open3d are imported
os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

import compile_recorder  # noqa: E402
from bench_render import cameras  # noqa: E402  (the same 300k-scene cameras as bench_render.py)

cv2.setNumThreads(1)

APARTMENT = ROOT / "sample_meshes" / "apartment.glb"
APARTMENT_CAMERAS = ROOT / "sample_meshes" / "apartment_cameras.json"
GEOMETRIC = ["depth_zbuffer", "depth_euclidean", "normal", "reshading", "mask_valid"]

#: issue 13, measured on main before the speed work (ms per 512x512 view, one process)
ANCHOR_MS = {
    "keypoints3d": 421, "segment_unsup25d": 192, "segment_unsup2d": 146, "principal_curvature": 48,
    "geometry buffer": 38, "rgb": 22, "keypoints2d": 18, "edge_texture": 6, "reshading": 4,
    "total": 1200,
}
TARGET_MS = {"keypoints3d": 150, "segment_unsup25d": 80, "segment_unsup2d": 80,
             "principal_curvature": 5, "rgb": 8, "total": 400}
ANCHOR_COLD_S = 105.0
ANCHOR_GEOMETRIC_RATIO = 3.15

#: in-process stages are timed in CPU seconds of this process: everything runs on one thread,
#: so on an idle machine this is the wall time, and on a loaded one it leaves out the waiting
CLOCK = time.process_time


def big_scene():
    """The apartment (textured) plus three 81,920-triangle vertex-coloured icospheres (~300k)."""
    import trimesh

    from labelgen.io._meshes import Mesh

    from labelgen.io._meshes import y_up_to_z_up

    apt = trimesh.load(APARTMENT, force="scene")  # glTF is +Y up: turned +Z up as load_mesh does
    parts = [g for g in apt.dump() if isinstance(g, trimesh.Trimesh)]
    for g in parts:
        g.vertices = y_up_to_z_up(g.vertices)
    rng = np.random.default_rng(0)
    for centre in [(2.3, 4.1, 1.2), (4.2, 1.0, 1.4), (6.8, 1.1, 0.9)]:
        s = trimesh.creation.icosphere(subdivisions=6, radius=0.3)
        s.apply_translation(centre)
        colours = rng.integers(0, 256, (len(s.vertices), 4), dtype=np.uint8)
        colours[:, 3] = 255
        s.visual = trimesh.visual.ColorVisuals(s, vertex_colors=colours)
        parts.append(s)
    return Mesh.from_trimesh(trimesh.Scene(parts))


def profile_view(renderer, cam, tasks, params, out):
    """One view: {stage: seconds} for the bare cast, geometry buffer, each label, PNG, CLI paths."""
    from labelgen.io._images import encode_png
    from labelgen.labels import all_labels
    from labelgen.engine._pipeline import LazySources, plan
    from labelgen.engine import ViewWriter
    from labelgen.engine._jobs import _render_one

    t = {}
    rays = renderer.rays(cam)
    t0 = CLOCK()
    renderer.scene.cast_rays(rays)
    t["bare cast_rays"] = CLOCK() - t0
    t0 = CLOCK()
    gbuffer = renderer.render(cam)
    t["geometry buffer"] = CLOCK() - t0
    sources = LazySources(gbuffer=gbuffer, camera=cam, mesh=renderer.mesh)
    order, _ = plan(tasks, sources)
    registry = all_labels()
    values = {}
    for name in order:
        lab = registry[name]
        inputs = {r: (values[r] if r in values else sources[r]) for r in lab.requires}
        lp = {p.name: params[p.name] for p in lab.params}
        t0 = CLOCK()
        values[name] = lab.compute(inputs, lp)
        t[name] = CLOCK() - t0
    t0 = CLOCK()
    for name in tasks:
        if name in values:
            encode_png(values[name])
    t["PNG encoding"] = CLOCK() - t0
    t["total"] = sum(v for k, v in t.items() if k != "bare cast_rays")
    t0 = CLOCK()
    _render_one(renderer, cam, tasks, params, ViewWriter(out))
    t["full view through the CLI path"] = CLOCK() - t0
    t0 = CLOCK()
    _render_one(renderer, cam, GEOMETRIC, params, ViewWriter(out))
    t["5 geometric labels through the CLI path"] = CLOCK() - t0
    return t


def bench_scene(title, mesh, cams, repeat, skip=()):
    from labelgen.engine._pipeline import resolve_params
    from labelgen.render._renderers import make_renderer
    from labelgen.engine import default_render_tasks

    renderer = make_renderer(mesh, threads=1)
    tasks = [t for t in default_render_tasks(mesh) if t not in skip]
    params = resolve_params()
    print(f"\n== {title}: {len(mesh.faces):,} triangles, {len(cams)} views at "
          f"{cams[0].width}x{cams[0].height}, {len(tasks)} labels" + (f" (not {', '.join(skip)})" if skip else ""))
    with tempfile.TemporaryDirectory() as out:
        profile_view(renderer, cams[0], tasks, params, Path(out))  # compile / warm up
        per_view = []
        for cam in cams:
            best = None
            for _ in range(repeat):
                t = profile_view(renderer, cam, tasks, params, Path(out))
                best = t if best is None else {k: min(best[k], t[k]) for k in t}
            per_view.append(best)
    med = {k: 1000 * float(np.median([v[k] for v in per_view])) for k in per_view[0]}
    cast = med["bare cast_rays"]
    print(f"{'stage (ms per view)':42s} {'now':>8s} {'anchor':>8s} {'target':>8s} {'x cast':>8s}")
    rows = sorted((k for k in med if k not in ("total", "bare cast_rays") and "CLI" not in k),
                  key=lambda k: -med[k])
    for k in ["bare cast_rays"] + rows + ["total", "full view through the CLI path",
                                          "5 geometric labels through the CLI path"]:
        a = ANCHOR_MS.get(k)
        g = TARGET_MS.get(k)
        print(f"{k:42s} {med[k]:8.1f} {'' if a is None else a:>8} {'' if g is None else g:>8} "
              f"{med[k] / cast:8.2f}")
    geo = med["5 geometric labels through the CLI path"] / cast
    print(f"5 geometric labels through the CLI / bare cast: {geo:.2f}x (anchor {ANCHOR_GEOMETRIC_RATIO}x, "
          f"target <= 2.5x); full set / bare cast: {med['total'] / cast:.1f}x (target <= 10x)")
    return med


def _env(**extra):
    env = dict(os.environ)
    env.pop("NUMBA_NUM_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    env.update(extra)
    return env


def cold_start(timeout=600, profile=False):
    """Seconds until the README command's first view is written and until it ends, and the
    CPU seconds it used (with its warm-up processes); with ``profile``, also each process's
    compilations (see :func:`print_compile_profile`)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for d in ("numba", "labelgen"):
            (tmp / d).mkdir()
        out = tmp / "out"
        cmd = [sys.executable, "-m", "labelgen", "render", str(APARTMENT), "--cameras",
               str(APARTMENT_CAMERAS), "--out", str(out), "--quiet"]
        env = _env(NUMBA_CACHE_DIR=str(tmp / "numba"), LABELGEN_CACHE_DIR=str(tmp / "labelgen"))
        if profile:
            log = compile_recorder.install(tmp, env)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        start = time.time()
        # its own process group, so that a timeout also ends the warm-up processes it starts
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True)
        first = None
        while proc.poll() is None:
            if first is None and any((out / "point_info").glob("*.json")):
                first = time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
        end = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        if profile:
            time.sleep(0.5)  # warm-up processes write their logs as they exit
            print_compile_profile(log, start, proc.pid)
        return (first if first is not None else float("nan")), end, cpu, proc.returncode


def print_compile_profile(log, start, main_pid, top=12):
    """Per process of a profiled cold start (``compile_recorder``'s ``log`` folder): its CPU
    seconds, those spent compiling, and its longest compilations (outermost ones; CPU seconds
    include what they compile inside)."""
    print("\ncompilations of the cold start (CPU s of each process; seconds from the start):")
    for pid, rec in compile_recorder.read(log).items():
        spans = sorted(rec["compilations"], key=lambda r: r[0])
        outer = []
        for r in spans:  # outermost compilations (a kernel compiles the kernels it calls inside)
            if not outer or r[0] >= outer[-1][1]:
                outer.append(r)
        if not outer:
            continue
        role = "main" if pid == main_pid else "other"
        ended, total = rec["exit"]
        print(f"  process {pid} ({role}): {total:.1f} CPU s, {sum(r[2] for r in outer):.1f} compiling, "
              f"{len(spans)} compilations, exit at {ended - start:.1f} s")
        for r in sorted(outer, key=lambda r: -r[2])[:top]:
            name = r[4].replace("labelgen.kernels.", "")
            print(f"    {r[2]:6.2f} CPU s  {r[0] - start:6.1f}-{r[1] - start:6.1f} s  {name}{r[5][:70]}")


def workers_ratio(views=20, repeat=1):
    """Wall and CPU seconds of ``--workers 1`` and ``--workers 2`` for the full set on ``views``
    views, each the best of ``repeat`` runs, and of ``--workers 1`` on one of those views (the
    start-up every run pays once, plus one view): ``{workers: (wall, cpu)}`` with key
    ``"one view"`` for the last; also whether ``--workers 2`` wrote the same bytes as 1 (every
    file compared) and how it started its other process (``--verbose``)."""
    poses = json.loads(APARTMENT_CAMERAS.read_text())
    poses = [dict(p, camera_id=f"{p['camera_id']}-{k}") for k in range(-(-views // len(poses)))
             for p in poses][:views]
    with tempfile.TemporaryDirectory() as tmp:
        cams = Path(tmp) / "cameras.json"
        cams.write_text(json.dumps(poses))
        first = Path(tmp) / "first.json"
        first.write_text(json.dumps(poses[:1]))
        times = {1: [], 2: [], "one view": []}
        how = ""
        for _ in range(repeat):
            for w, c in ((1, cams), (2, cams), ("one view", first)):
                cmd = [sys.executable, "-m", "labelgen", "render", str(APARTMENT), "--cameras", str(c),
                       "--out", str(Path(tmp) / f"out{w}"), "--quiet", "--verbose",
                       "--workers", str(w if w != "one view" else 1)]
                cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                res = subprocess.run(cmd, env=_env(), cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
                wall = time.perf_counter() - t0
                cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                times[w].append((wall, cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime))
                how = how or " ".join(ln.split("this process and ", 1)[1] for ln in res.stderr.splitlines()
                                      if "this process and " in ln)
        same = _same_files(Path(tmp) / "out1", Path(tmp) / "out2")
    out = {w: min(t) for w, t in times.items()}
    out["same bytes"], out["other process"] = same, how
    return out


def _same_files(a: Path, b: Path) -> bool:
    """Both folders hold the same files with the same bytes."""
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return fa == fb and all((a / p).read_bytes() == (b / p).read_bytes() for p in fa)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, 4 views per scene, no cold start")
    ap.add_argument("--repeat", type=int, default=None, help="rounds per view, the best is kept (default 2)")
    ap.add_argument("--views", type=int, default=None, help="views per scene (default 10)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    ap.add_argument("--no-workers", action="store_true", help="skip --workers 2 vs 1")
    ap.add_argument("--cold-timeout", type=float, default=900, help="give up the cold start after this (s)")
    ap.add_argument("--workers-views", type=int, default=20, help="views of the --workers comparison (default 20)")
    ap.add_argument("--compile-profile", action="store_true",
                    help="with the cold start, list each process's Numba compilations (CPU seconds)")
    ap.add_argument("--only", choices=("cold", "workers"), default=None,
                    help="measure only the cold start or only --workers 2 vs 1")
    args = ap.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 2)
    nviews = args.views or (4 if args.quick else 10)

    from labelgen.camera._cameras import read_cameras
    from labelgen.io._meshes import load_mesh

    if args.only:
        args.no_workers, args.no_cold = args.only != "workers", args.only != "cold"
    else:
        print(f"one process, one thread; {os.cpu_count()} CPUs; each view best of {repeat}, median over views; "
              f"in-process stages in CPU ms")
        bench_scene("sample apartment", load_mesh(APARTMENT), read_cameras(APARTMENT_CAMERAS)[:nviews], repeat)
        # principal_curvature's per-vertex APSS runs out of memory (over 20 GB) on this mix of metre-
        # sized apartment triangles and millimetre-sized sphere triangles, so it is left out here
        bench_scene("generated scene", big_scene(), cameras(nviews), repeat, skip=("principal_curvature",))

    if not args.no_workers:
        views = 10 if args.quick else args.workers_views
        load = os.getloadavg()[0]
        t = workers_ratio(views=views, repeat=1 if args.quick else 2)
        (one, cpu1), (two, cpu2), (start, cpu_start) = t[1], t[2], t["one view"]
        print(f"\n--workers 2 vs 1 (CLI, full set, {views} apartment views, best of {1 if args.quick else 2}): "
              f"{one:.1f} s / {two:.1f} s wall = {one / two:.2f}x (target >= 1.8x on 2 cores); "
              f"CPU {cpu1:.1f} s / {cpu2:.1f} s = {cpu2 / cpu1:.2f}x; the other process {t['other process']}; "
              f"same bytes: {'yes' if t['same bytes'] else 'NO'}; load average before {load:.1f} on "
              f"{os.cpu_count()} CPUs (other processes share the cores)")
        print(f"  start-up + 1 view (--workers 1, 1 view): {start:.1f} s wall, {cpu_start:.1f} CPU s; the rest of "
              f"--workers 1: {(one - start) / max(views - 1, 1):.2f} s wall per view")
    if args.compile_profile or not (args.no_cold or args.quick):
        first, end, cpu, rc = cold_start(args.cold_timeout, profile=args.compile_profile)
        print(f"\ncold start (README render command, empty Numba cache): first view after {first:.1f} s, "
              f"all 10 after {end:.1f} s, {cpu:.1f} CPU s, exit {rc} "
              f"(anchor ~{ANCHOR_COLD_S:.0f} s, target <= 40 s)")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
