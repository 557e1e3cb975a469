"""Where the cold-start compile time goes: per kernel and per Numba compiler pass.

Renders the first camera of the sample apartment with ``labelgen render --tasks TASKS`` in a
subprocess with an empty Numba cache and an empty labelgen cache, and records every Numba
compilation in every process it starts (``compile_recorder``, also behind ``bench_full.py
--compile-profile``): for each kernel its CPU seconds with what it compiles inside ("total")
and without ("self"), then the CPU seconds of each compiler pass (exclusive of the passes
and compilations nested in it; ``(llvm)``: time holding Numba's LLVM lock, which is LLVM's
optimisation and code generation).

    python benchmarks/bench_compile.py [--tasks T1,T2] [--modules curvature,neighbors] [--top 25]
                                       [--env NUMBA_OPT=2 ...]

Default tasks: the mesh-derived labels (the calling process's share of a cold start).
``--env`` sets environment variables of the subprocess (to compare Numba settings). CPU
seconds, not wall time: figures from a loaded machine still compare, roughly; repeat a run
to see the noise.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import compile_recorder

ROOT = Path(__file__).resolve().parents[1]
APARTMENT = ROOT / "sample_meshes" / "apartment.glb"
CAMERAS = ROOT / "sample_meshes" / "apartment_cameras.json"
MESH_TASKS = "depth_zbuffer,depth_euclidean,normal,reshading,mask_valid,principal_curvature"


def run(tasks: str, env_extra: dict) -> list[dict]:
    """Records of each process of one cold render of the first camera."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for d in ("numba", "labelgen"):
            (tmp / d).mkdir()
        cams = json.loads(CAMERAS.read_text())[:1]
        (tmp / "cameras.json").write_text(json.dumps(cams))
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp / "numba"), LABELGEN_CACHE_DIR=str(tmp / "labelgen"))
        log = compile_recorder.install(tmp, env)
        env.update(env_extra)
        cmd = [sys.executable, "-m", "labelgen", "render", str(APARTMENT), "--cameras", str(tmp / "cameras.json"),
               "--out", str(tmp / "out"), "--quiet", "--tasks", tasks]
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return list(compile_recorder.read(log).values())


def report(records: list[dict], modules: list[str] | None, top: int) -> None:
    for rec in records:
        log = rec["compilations"]
        if not log:
            continue
        print(f"\nprocess: {rec['exit'][1]:.1f} CPU s, {sum(r[3] for r in log):.1f} compiling, {len(log)} compilations")
        kernels: dict[str, list[float]] = {}
        for _, _, total, self_, name, _ in log:
            name = name.replace("labelgen.kernels.", "")
            if modules and name.split(".")[0] not in modules:
                continue
            k = kernels.setdefault(name, [0.0, 0.0, 0])
            k[0] = max(k[0], total)
            k[1] += self_
            k[2] += 1
        print(f"  {'total':>6s} {'self':>6s}  kernel (CPU s; total includes what it compiles inside)")
        for name, (total, self_, n) in sorted(kernels.items(), key=lambda kv: -kv[1][1])[:top]:
            print(f"  {total:6.2f} {self_:6.2f}  {name}" + (f" (x{n})" if n > 1 else ""))
        passes = sorted(rec["passes"].items(), key=lambda kv: -kv[1])[:12]
        print("  passes (exclusive CPU s): " + ", ".join(f"{k} {v:.1f}" for k, v in passes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=MESH_TASKS)
    ap.add_argument("--modules", help="only kernels of these modules (e.g. curvature,neighbors,planar)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    env_extra = dict(e.split("=", 1) for e in args.env)
    print(f"cold render of the apartment's first camera, tasks {args.tasks}" + (f", env {env_extra}" if env_extra else ""))
    report(run(args.tasks, env_extra), args.modules.split(",") if args.modules else None, args.top)


if __name__ == "__main__":
    main()
