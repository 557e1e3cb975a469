"""Geometric-label pipeline vs. the bare Open3D ray cast.

Renders every geometric label for 20 views of a ~300k-triangle scene (the sample apartment
plus finely tessellated spheres) at 512x512, writing the PNGs, and prints per view the time
of the whole pipeline next to the time of Open3D's ``cast_rays`` on the same rays, in the
same process. Run: ``.venv/bin/python benchmarks/bench_render.py [--threads N]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelgen import Camera, Mesh, load_mesh, make_renderer  # noqa: E402
from labelgen.engine import ViewWriter  # noqa: E402
from labelgen.engine._jobs import _render_one  # noqa: E402
from labelgen.engine._pipeline import resolve_params  # noqa: E402

TASKS = ["depth_zbuffer", "depth_euclidean", "normal", "reshading", "mask_valid"]


def scene():
    apt = load_mesh(ROOT / "sample_meshes" / "apartment.glb")  # glTF +Y up, turned +Z up
    parts = [trimesh.Trimesh(apt.vertices, apt.faces, process=False)]
    for i, centre in enumerate([(2.3, 4.1, 1.2), (4.2, 1.0, 1.4), (1.0, 1.5, 0.8), (6.8, 1.1, 0.9)]):
        s = trimesh.creation.icosphere(subdivisions=6, radius=0.3)
        s.apply_translation(centre)
        parts.append(s)
    merged = trimesh.util.concatenate([trimesh.Trimesh(p.vertices, p.faces, process=False) for p in parts])
    return Mesh.from_arrays(merged.vertices, merged.faces)


def cameras(n=20, size=512):
    rng = np.random.default_rng(0)
    cams = []
    for i in range(n):
        eye = rng.uniform([0.5, 0.5, 1.2], [4.5, 5.5, 1.8])
        target = rng.uniform([0, 0, 0.3], [8, 6, 1.5])
        cams.append(Camera.look_at(eye, target, fov=1.2, width=size, height=size, point=str(i)))
    return cams


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="cast_rays threads (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per view (the best is kept)")
    ap.add_argument("--renderer", default="open3d", help="renderer of the pipeline (open3d or pyrender)")
    args = ap.parse_args()
    mesh = scene()
    renderer = make_renderer(mesh, args.renderer, threads=args.threads)
    bare = renderer if args.renderer == "open3d" else make_renderer(mesh, threads=args.threads)
    cams = cameras(args.views)
    params = resolve_params()
    print(f"scene: {len(mesh.faces)} triangles; {len(cams)} views at 512x512; cast_rays threads={args.threads or 'all'}")
    # warm up both paths once
    bare.scene.cast_rays(bare.rays(cams[0]))
    with tempfile.TemporaryDirectory() as out:
        _render_one(renderer, cams[0], TASKS, params, ViewWriter(out))
        # each view: bare cast and whole pipeline back to back, best of `repeat` rounds, so
        # that a burst of load from other processes hits both sides alike
        cast_ms, pipe_ms = [], []
        for cam in cams:
            rays = bare.rays(cam)
            best_cast = best_pipe = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                bare.scene.cast_rays(rays)
                best_cast = min(best_cast, time.perf_counter() - t0)
                t0 = time.perf_counter()
                _render_one(renderer, cam, TASKS, params, ViewWriter(out))
                best_pipe = min(best_pipe, time.perf_counter() - t0)
            cast_ms.append(1000 * best_cast)
            pipe_ms.append(1000 * best_pipe)
    cast, pipe = float(np.median(cast_ms)), float(np.median(pipe_ms))
    print(f"bare Open3D cast_rays                   : {cast:8.1f} ms/view (median over views, best of {args.repeat})")
    print(f"full pipeline (5 labels + PNG, {args.renderer:8s}): {pipe:8.1f} ms/view")
    print(f"ratio pipeline / cast_rays              : {pipe / cast:8.2f}x  (target <= 3x)")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
