"""Benchmark: per-vertex APSS curvature vs. pymeshlab, and rgb time per view.

Prints, for one scan-like mesh (a noisy height field, default 1001 x 1001 = 1,002,001
vertices), our per-vertex curvature time (each phase, then total) next to pymeshlab's
``compute_curvature_and_color_apss_per_vertex`` (filter scale 4, as Taskonomy) on the same
mesh in the same process, their ratio, and the correlation of the two k1 / k2. Then the
``rgb`` label's time per 512 x 512 view on a textured and on a vertex-coloured mesh (render
and colour separately).

Last, per 512 x 512 view of the sample apartment on one thread: the ``principal_curvature``
label (per-point values cached; this is the per-view interpolation) and the ``rgb`` label,
each next to its plain reference (``principal_curvature_reference``, ``rgb_reference``) in the
same process, with the ratio (issue 13 targets: 5 ms and 8 ms, from 48 ms and 22 ms).

    PYTHONPATH=. python benchmarks/bench_curvature_rgb.py [--grid 1001] [--no-pymeshlab] [--views-only]

pymeshlab computes one curvature type per call; getting k1 and k2 takes two calls, both
timed. Numba compilation is excluded (a small warm-up run first).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def height_field(n, seed=1):
    rng = np.random.default_rng(seed)
    size = n * 0.01  # 1 cm spacing
    x, y = np.meshgrid(np.linspace(0, size, n), np.linspace(0, size, n))
    z = 0.3 * np.sin(0.6 * x) * np.cos(0.4 * y) + 0.05 * np.sin(7 * x + 3 * y)
    v = np.stack([x, y, z], -1).reshape(-1, 3) + rng.normal(0, 0.002, (n * n, 3))
    a = np.arange(n * n).reshape(n, n)
    f = np.concatenate([np.stack([a[:-1, :-1], a[:-1, 1:], a[1:, 1:]], -1).reshape(-1, 3),
                        np.stack([a[:-1, :-1], a[1:, 1:], a[1:, :-1]], -1).reshape(-1, 3)])
    return v, f


def ours(v, f):
    from labelgen.kernels import curvature as kc
    from labelgen.labels.curvature import merge_positions

    t = {}
    t0 = time.perf_counter()
    u, inv, fu = merge_positions(v, f)
    t["merge identical positions"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = kc.vertex_normals(u, fu)
    t["vertex normals"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = kc.point_radii(u)
    t["support radii (cKDTree 16-NN)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cand = kc.neighbor_candidates(u, 4.5 * r)
    t["neighbour lists (cKDTree)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    k1, k2, st = kc.apss_curvature(u, n, r, candidates=cand)
    t["APSS fit/project/curvature (Numba)"] = time.perf_counter() - t0
    return k1[inv], k2[inv], t, len(cand[1]) / len(u)


def pymeshlab_apss(v, f):
    import pymeshlab
    import trimesh

    out, times = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mesh.ply")
        trimesh.Trimesh(v, f, process=False).export(path)
        for ct in ("K1", "K2"):
            ms = pymeshlab.MeshSet()
            ms.load_new_mesh(path)
            t0 = time.perf_counter()
            ms.compute_curvature_and_color_apss_per_vertex(filterscale=4.0, projectionaccuracy=1e-4,
                                                           maxprojectioniters=15, sphericalparameter=1.0,
                                                           curvaturetype=ct)
            times[ct] = time.perf_counter() - t0
            out[ct] = ms.current_mesh().vertex_scalar_array()
    return out, times


def bench_rgb(size=512, repeat=5):
    import trimesh
    from PIL import Image
    from trimesh.visual.material import SimpleMaterial
    from trimesh.visual.texture import TextureVisuals

    from labelgen import Camera, Mesh, make_renderer
    from labelgen.engine._pipeline import resolve_params
    from labelgen.labels import get_label

    rng = np.random.default_rng(0)
    v, f = height_field(301)
    tex = Image.fromarray(rng.integers(0, 256, (2048, 2048, 3)).astype(np.uint8))
    textured = trimesh.Trimesh(v, f, visual=TextureVisuals(uv=v[:, :2] / 3.0 * 2.5, material=SimpleMaterial(image=tex)),
                               process=False)
    coloured = trimesh.Trimesh(v, f, vertex_colors=rng.integers(0, 256, (len(v), 4)).astype(np.uint8), process=False)
    cam = Camera.look_at((1.5, 1.5, 1.8), (1.5, 1.5, 0.0), up=(0, 1, 0), fov=math.radians(75), width=size, height=size)
    params = resolve_params({})
    lab = get_label("rgb")
    p = {q.name: params[q.name] for q in lab.params}
    rows = []
    for name, tm in (("UV texture 2048^2", textured), ("vertex colours", coloured)):
        mesh = Mesh.from_trimesh(tm)
        renderer = make_renderer(mesh)
        gb = renderer.render(cam)
        lab.compute({"gbuffer": gb, "mesh": mesh}, p)  # tables + compile
        t0 = time.perf_counter()
        for _ in range(repeat):
            gb = renderer.render(cam)
        t_render = (time.perf_counter() - t0) / repeat
        t0 = time.perf_counter()
        for _ in range(repeat):
            lab.compute({"gbuffer": gb, "mesh": mesh}, p)
        t_rgb = (time.perf_counter() - t0) / repeat
        rows.append((name, t_render, t_rgb, int(gb.hit.sum())))
    return rows


def bench_views(repeat=5):
    """ms per view of principal_curvature and rgb on the sample apartment, fast path and reference."""
    import numba

    from labelgen import load_mesh, make_renderer, read_cameras
    from labelgen.labels import get_label
    from labelgen.labels.curvature import principal_curvature_reference
    from labelgen.labels.rgb import rgb_reference
    from labelgen.engine._pipeline import resolve_params

    numba.set_num_threads(1)
    repo = Path(__file__).resolve().parents[1]
    mesh = load_mesh(repo / "sample_meshes" / "apartment.glb")
    cams = read_cameras(repo / "sample_meshes" / "apartment_cameras.json")
    renderer = make_renderer(mesh)
    gbs = [renderer.render(c) for c in cams]
    params = resolve_params({})
    rows = []
    for name, ref, target in (("principal_curvature", principal_curvature_reference, 5.0), ("rgb", rgb_reference, 8.0)):
        lab = get_label(name)
        p = {q.name: params[q.name] for q in lab.params}
        for gb in gbs:  # per-mesh work, compilation; and the identity check
            assert np.array_equal(lab.compute({"gbuffer": gb, "mesh": mesh}, p), ref(gb, mesh, p))
        t0 = time.perf_counter()
        for _ in range(repeat):
            for gb in gbs:
                lab.compute({"gbuffer": gb, "mesh": mesh}, p)
        fast = (time.perf_counter() - t0) / (repeat * len(gbs))
        t0 = time.perf_counter()
        for gb in gbs:
            ref(gb, mesh, p)
        slow = (time.perf_counter() - t0) / len(gbs)
        rows.append((name, fast, slow, target))
    # the per-view path before issue 13 (NumPy, per-vertex values, no refinement), for the ratio
    from labelgen.labels.curvature import encode_curvature, interpolate_vertex_values, vertex_curvatures

    p = {q.name: params[q.name] for q in get_label("principal_curvature").params}
    t0 = time.perf_counter()
    for gb in gbs:
        curv = vertex_curvatures(mesh, p)
        per_vertex = np.stack([encode_curvature(curv["k1"], 0.03), encode_curvature(curv["k2"], 0.03)], axis=1)
        valid = gb.valid(p["depth_units_per_meter"], 65535)
        out = np.zeros(gb.depth.shape + (3,), dtype=np.uint8)
        vals = interpolate_vertex_values(per_vertex, mesh.faces, gb.triangle[valid], gb.barycentric[valid])
        out[valid, :2] = np.clip(np.rint(vals), 0, 254).astype(np.uint8)
    rows.append(("principal_curvature, path before (NumPy per vertex)", None, (time.perf_counter() - t0) / len(gbs), None))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=1001, help="height field of GRID x GRID vertices (default 1001)")
    ap.add_argument("--no-pymeshlab", action="store_true")
    ap.add_argument("--views-only", action="store_true", help="only the per-view timings on the sample apartment")
    args = ap.parse_args()
    if args.views_only:
        return print_views()

    import numba

    print(f"threads: numba {numba.get_num_threads()}, cpu_count {os.cpu_count()}")
    wv, wf = height_field(30)
    ours(wv, wf)  # compile
    v, f = height_field(args.grid)
    print(f"\ncurvature on a noisy height field: {len(v):,} vertices, {len(f):,} faces")
    k1, k2, t, per = ours(v, f)
    total = sum(t.values())
    for k, s in t.items():
        print(f"  ours  {k:40s} {s:8.2f} s")
    print(f"  ours  {'total (k1 and k2)':40s} {total:8.2f} s   ({per:.0f} candidate neighbours per vertex)")
    if not args.no_pymeshlab:
        try:
            ref, times = pymeshlab_apss(v, f)
        except ImportError:
            print("  pymeshlab not installed: skipped")
        else:
            for ct, s in times.items():
                print(f"  pymeshlab APSS curvaturetype={ct:3s} (one call){'':13s} {s:8.2f} s")
            both = sum(times.values())
            print(f"  pymeshlab total (k1 and k2, two calls){'':10s} {both:8.2f} s")
            print(f"  ratio pymeshlab/ours: {both / total:.2f}x for k1+k2, {times['K1'] / total:.2f}x against one call")
            print(f"  correlation with pymeshlab: k1 {np.corrcoef(k1, ref['K1'])[0, 1]:.4f}, "
                  f"k2 {np.corrcoef(k2, ref['K2'])[0, 1]:.4f}")

    print("\nrgb per 512 x 512 view (mean of 5; ray casting and colouring separately)")
    for name, t_render, t_rgb, hits in bench_rgb():
        print(f"  {name:20s} render {t_render * 1e3:7.1f} ms   rgb label {t_rgb * 1e3:7.1f} ms   ({hits} hit pixels)")
    print_views()


def print_views():
    print("\nper 512 x 512 view of the sample apartment, one thread (outputs checked identical)")
    rows = bench_views()
    for name, fast, slow, target in rows:
        if fast is None:
            print(f"  {name}: {slow * 1e3:.1f} ms; ratio to the new path {slow / rows[0][1]:.1f}x "
                  "(anchor: 48 ms for curvature, 22 ms for rgb on main)")
            continue
        print(f"  {name:20s} {fast * 1e3:7.2f} ms (target {target:.0f} ms)   reference {slow * 1e3:7.1f} ms   "
              f"ratio {slow / fast:5.1f}x")


if __name__ == "__main__":
    main()
