"""Speed of the NARF interest image (keypoints3d), single thread.

Prints the time per view and per stage for a 512x512 depth image (the shipped Taskonomy
sample when ``../shared/reference`` is present, else a synthetic room), our kernel against
the plain-Python reference on a small scene (same process), and, with ``--pcl BINARY``, the
time of PCL itself (a build of ``shared/tools/pcl_narf_reference.cpp``; non-recursive, since
PCL 1.13's recursive mode crashes) against our non-recursive run on the same input, with the
agreement between the two.

    python benchmarks/bench_narf.py [--reps 3] [--support-size 0.3] [--pcl /path/to/narf_time]
                                    [--against GIT_REV] [--views OUT_DIR] [--compile]

``--against REV`` also times the NARF kernels (``kernels/narf*.py``) as they were at git
revision REV (loaded from a temporary copy, compiled there), alternating runs of the two in
this process, per stage, and checks that both give the same bits.

``--views OUT_DIR`` times the views of a ``labelgen render`` output folder (its
``depth_zbuffer`` and ``point_info``; issue 13's target is for the sample apartment:
``labelgen render sample_meshes/apartment.glb --cameras sample_meshes/apartment_cameras.json
--out OUT_DIR --tasks depth_zbuffer``): ms per view, and with ``--against`` the mean per stage
of both revisions over those views and whether every view gives the same bits.

``--compile`` measures the compilation of the NARF kernels: a fresh Python process with an
empty Numba cache computes the interest image of a small scene that takes every path, and
prints the CPU seconds of each kernel's compilation (nested ones indented, their time
included in their caller's) and the total; with ``--against REV``, also for that revision.
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labelgen.kernels import narf  # noqa: E402


def find_reference() -> Path | None:
    for base in [REPO, *REPO.parents]:
        cand = base / "shared" / "reference" / "taskonomy"
        if cand.is_dir():
            return cand
    return None


def load_view():
    """(depth in metres float32, focal, name)."""
    ref = find_reference()
    if ref is not None:
        from labelgen.io._images import read_png
        from labelgen.labels.keypoints3d import depth_metres_float32

        d = read_png(ref / "point_202_view_5_domain_depth_zbuffer.png")
        fov = json.loads((ref / "point_202_view_5_domain_point_info.json").read_text())["field_of_view_rads"]
        return depth_metres_float32(d, 512.0), d.shape[1] / (2 * math.tan(fov / 2)), "shipped Taskonomy view"
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:512, 0:512]
    depth = (4.0 + 0.004 * xs + 0.002 * ys).astype(np.float32)
    for _ in range(12):
        x0, y0 = rng.integers(0, 450, size=2)
        s = rng.integers(30, 120)
        depth[y0:y0 + s, x0:x0 + s] = rng.uniform(1.0, 3.5)
    return depth, 512 / (2 * math.tan(1.18 / 2)), "synthetic room"


def best_of(fn, reps):
    times = []
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + " / ")
        else:
            yield prefix + k, v


def load_revision(rev: str, tmp: Path):
    """The NARF kernels of git revision ``rev`` as a module (``kernels/narf*.py`` copied into
    a package under ``tmp``, compiled there; files are rewritten only when they change, so
    Numba's cache there stays valid between runs)."""
    import importlib

    names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", rev, "kernels/"],
                           capture_output=True, text=True, check=True).stdout.split()
    pkg_name = "narf_at_" + "".join(c if c.isalnum() else "_" for c in rev)
    pkg = tmp / pkg_name
    pkg.mkdir(parents=True, exist_ok=True)
    files = {"__init__.py": ""}
    for name in names:
        base = name.split("/")[-1]
        if base.startswith("narf") and base.endswith(".py"):
            files[base] = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{name}"],
                                         capture_output=True, text=True, check=True).stdout
    for base, code in files.items():
        if not (pkg / base).exists() or (pkg / base).read_text() != code:
            (pkg / base).write_text(code)
    sys.path.insert(0, str(tmp))
    try:
        return importlib.import_module(pkg_name + ".narf")
    finally:
        sys.path.remove(str(tmp))


def load_views(folder: Path):
    """[(name, depth in metres, focal)] of a ``labelgen render`` output folder."""
    from labelgen.io._images import read_png
    from labelgen.labels.keypoints3d import depth_metres_float32

    out = []
    for png in sorted((folder / "depth_zbuffer").glob("*_domain_depth_zbuffer.png")):
        name = png.name.split("_domain_")[0]
        info = json.loads((folder / "point_info" / f"{name}_domain_point_info.json").read_text())
        d = read_png(png)
        out.append((name, depth_metres_float32(d, 512.0), d.shape[1] / (2 * math.tan(info["field_of_view_rads"] / 2))))
    if not out:
        raise SystemExit(f"bench_narf: error: {folder}: no depth_zbuffer/*_domain_depth_zbuffer.png")
    return out


def against(rev, views, support, reps):
    """Per-stage times of the NARF kernels at git revision ``rev`` and of this tree, alternating
    in this process (best of ``reps`` per view and stage, then the mean over ``views``), and
    whether both give the same bits on every view."""
    old = load_revision(rev, Path(tempfile.gettempdir()) / "labelgen-bench-narf")
    t = time.perf_counter()
    old.interest_image(views[0][1], views[0][2], support)
    print(f"\n--against {rev}: compiled in {time.perf_counter() - t:.1f} s; {len(views)} view(s)")
    sums = [{}, {}]
    same = True
    for name, depth, focal in views:
        best = [{}, {}]
        outs = [None, None]
        for _ in range(reps):
            for i, mod in enumerate((old, narf)):
                tm = {}
                t = time.perf_counter()
                outs[i] = mod.interest_image(depth, focal, support, timings=tm)
                tm["total"] = time.perf_counter() - t
                for k, v in flat(tm):
                    best[i][k] = min(best[i].get(k, math.inf), v)
        same &= outs[0].tobytes() == outs[1].tobytes()
        for i in range(2):
            for k, v in best[i].items():
                sums[i][k] = sums[i].get(k, 0.0) + v
        if len(views) > 1:
            print(f"  {name:30s} {best[0]['total'] * 1e3:8.1f} ms {best[1]['total'] * 1e3:8.1f} ms"
                  f"  x{best[0]['total'] / best[1]['total']:.2f}")
    print(f"  same bits as {rev} on every view: {same}")
    print(f"  {'stage (mean over views of best of ' + str(reps) + ', ms)':55s} {rev[:10]:>10s} {'this tree':>10s} {'speed-up':>8s}")
    nv = len(views)
    for k in sums[1]:
        b0 = sums[0].get(k, math.nan) / nv
        b1 = sums[1][k] / nv
        if b0 < 5e-4 and b1 < 5e-4:
            continue
        print(f"  {k:55s} {b0 * 1e3:10.1f} {b1 * 1e3:10.1f} {b0 / max(b1, 1e-9):8.2f}")


#: run in a fresh process (``python -c``, argv: [folder to put on sys.path or "", module]):
#: CPU seconds of each Numba compilation of the first interest image of a small scene
_COMPILE_PROBE = r"""
import importlib, os, shutil, sys, tempfile, time
cache = tempfile.mkdtemp(prefix="narf-compile-")
os.environ["NUMBA_CACHE_DIR"] = cache
import numpy as np
import numba.core.event as ev
log, started, depth = [], {}, [0]
class Recorder(ev.Listener):
    def on_start(self, e):
        started[id(e.data["dispatcher"]), str(e.data["args"])] = (time.process_time(), depth[0])
        depth[0] += 1
    def on_end(self, e):
        depth[0] -= 1
        c, d = started.pop((id(e.data["dispatcher"]), str(e.data["args"])))
        f = e.data["dispatcher"].py_func
        log.append((d, time.process_time() - c, f.__module__, f.__qualname__))
ev.register("numba:compile", Recorder())
if sys.argv[1]:
    sys.path.insert(0, sys.argv[1])
narf = importlib.import_module(sys.argv[2])
ys, xs = np.mgrid[0:72, 0:96]
d = (0.25 + 0.004 * xs + 0.002 * ys).astype(np.float32)  # close: windows wider than 62 pixels
d[20:40, 30:55] = 0.2
d[50:60, 10:30] = 2.0
t = time.process_time()
narf.interest_image(d, 70.0)
total = time.process_time() - t
pkg = sys.argv[2].rsplit(".", 1)[0]
for d, c, mod, name in log:
    if mod.startswith(pkg) and c >= 0.05:
        print(f"  {'  ' * d}{mod.rsplit('.', 1)[-1] + '.' + name:50s} {c:6.1f}")
print(f"  first interest image, all compilations: {total:.1f} CPU s")
shutil.rmtree(cache, ignore_errors=True)
"""


def compile_profile(label, path, module):
    """Print the compile CPU seconds per kernel of ``module`` (importable from ``path``) with an
    empty Numba cache, in a fresh process."""
    print(f"\ncompilation with an empty Numba cache, {label} (CPU s; nested kernels indented, "
          "included in their caller's):")
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _COMPILE_PROBE, path, module], env=env,
                         capture_output=True, text=True)
    print(res.stdout.rstrip() or res.stderr.strip().splitlines()[-1])


def time_views(views, support, reps):
    """ms per view (best of ``reps``) of the interest image of each view, and the mean."""
    print(f"\n{len(views)} rendered view(s), best of {reps} each:")
    tot = []
    for name, depth, focal in views:
        best = min(best_of(lambda: narf.interest_image(depth, focal, support), 1)[0] for _ in range(reps))
        tot.append(best)
        print(f"  {name:30s} {best * 1e3:8.1f} ms")
    print(f"  mean {np.mean(tot) * 1e3:.1f} ms per view, slowest {max(tot) * 1e3:.1f} ms "
          "(issue 13 target: <= 150 ms per 512x512 view on one core)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--support-size", type=float, default=0.3)
    ap.add_argument("--pcl", help="PCL binary built from shared/tools/pcl_narf_reference.cpp")
    ap.add_argument("--against", metavar="GIT_REV", help="also time the NARF kernels (kernels/narf*.py) of this git revision")
    ap.add_argument("--views", metavar="OUT_DIR", type=Path,
                    help="also time the views of this labelgen render output folder (depth_zbuffer + point_info)")
    ap.add_argument("--compile", action="store_true",
                    help="only measure the compilation of the NARF kernels (empty Numba cache, fresh process)")
    args = ap.parse_args()
    if args.compile:
        if args.against:
            tmp = Path(tempfile.gettempdir()) / "labelgen-bench-narf"
            old = load_revision(args.against, tmp)
            compile_profile(args.against, str(tmp), old.__name__)
        compile_profile("this tree", "", "labelgen.kernels.narf")
        return
    views = load_views(args.views) if args.views else None

    depth, focal, name = load_view()
    h, w = depth.shape
    print(f"input: {name}, {w}x{h}, f = {focal:.3f} px, support {args.support_size} m, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}")
    t = time.perf_counter()
    narf.interest_image(depth[:64, :64], focal, args.support_size)
    print(f"first call (Numba compile or cache load): {time.perf_counter() - t:.2f} s")

    # whole view with per-stage timings (best of reps)
    runs = []
    for _ in range(args.reps):
        tm = {}
        t = time.perf_counter()
        narf.interest_image(depth, focal, args.support_size, timings=tm)
        runs.append((time.perf_counter() - t, tm))
    total, tm = min(runs, key=lambda r: r[0])
    print(f"\nkeypoints3d, recursive scale reduction (Taskonomy): {total:.3f} s per view (best of {args.reps})")
    print("  (issue 13: anchor 0.421 s per view on an idle core before the speed work, target 0.15 s;"
          " compare revisions in one run with --against, the sample apartment with --views)")
    for k, v in flat(tm):
        print(f"  {k:55s} {v:8.3f} s")

    # kernel vs plain-Python reference on a small scene (same process)
    ys, xs = np.mgrid[0:40, 0:40]
    small = (3.0 + 0.011 * xs - 0.006 * ys).astype(np.float32)
    small[12:28, 12:28] = 2.0
    ri = narf.planar_range_image(small, 40.0)
    be = narf.border_extraction(ri)
    t_ref, ref = best_of(lambda: narf.interest_values_reference(ri, be, 0.2), 1)
    narf.interest_image(small, 40.0, 0.2, recursive=False)
    small_runs = []
    for _ in range(args.reps):
        tm_small = {}
        narf.interest_image(small, 40.0, 0.2, recursive=False, timings=tm_small)
        small_runs.append(tm_small["interest values"])
    t_ker_int = min(small_runs)
    print(f"\ninterest values, 40x40 scene: plain-Python reference {t_ref:.3f} s, "
          f"kernel {t_ker_int * 1e3:.2f} ms  (x{t_ref / max(t_ker_int, 1e-9):.0f})")

    if views:
        time_views(views, args.support_size, args.reps)

    if args.against:
        against(args.against, views or [(name, depth, focal)], args.support_size, args.reps)

    if args.pcl:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "depth.raw", Path(tmp) / "interest.raw"
            depth.astype(np.float32).tofile(src)
            res = subprocess.run([args.pcl, str(src), str(dst), str(w), str(h), repr(float(focal)),
                                  str(args.support_size), str(args.reps)],
                                 capture_output=True, text=True, check=True)
            t_pcl = float(res.stdout.split()[-1])
            pcl = np.fromfile(dst, np.float32).reshape(h, w)
        # PCL >= 1.10 re-orthogonalises eigenvectors differently from Taskonomy's PCL 1.7:
        # use its variant here so that the two programs compute the same thing
        t_ours, ours = best_of(lambda: narf.interest_image(depth, focal, args.support_size, recursive=False,
                                                           eigen_variant=1), args.reps)
        print(f"\nnon-recursive interest image (what PCL 1.13 can run): PCL {t_pcl:.3f} s, "
              f"ours {t_ours:.3f} s  (x{t_pcl / t_ours:.1f} faster)")
        print(f"  ours == PCL on {np.mean(ours == pcl) * 100:.3f} % of pixels, "
              f"max |diff| {np.abs(ours - pcl).max():.2e}")
        print(f"  recursive (Taskonomy) ours {total:.3f} s vs PCL non-recursive: x{t_pcl / total:.1f}")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
