"""Benchmark: labelgen sample on a ~300k-triangle building (1000 cameras, 5000 points).

Prints the time of each stage of sampling, of writing the files, and the vanishing-point
kernel against its per-camera reference on the same views, with ratios.

    PYTHONPATH=. python benchmarks/bench_sampling.py [--cameras 1000] [--points 5000] [--write]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def building(rooms_x=6, rooms_y=5, room=(5.0, 4.0), spheres=230, subdivisions=3, seed=0):
    """A one-storey building: a grid of rooms with doors, slabs, and round clutter (~300k faces)."""
    import trimesh

    def box(lo, hi):
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        b = trimesh.creation.box(hi - lo)
        b.apply_translation((lo + hi) / 2)
        return b

    W, D, H, t = rooms_x * room[0], rooms_y * room[1], 2.7, 0.1
    parts = [box([-t, -t, -0.2], [W + t, D + t, 0]), box([-t, -t, H], [W + t, D + t, H + 0.2]),
             box([-t, -t, 0], [0, D + t, H]), box([W, -t, 0], [W + t, D + t, H]),
             box([0, -t, 0], [W, 0, H]), box([0, D, 0], [W, D + t, H])]
    for i in range(1, rooms_x):  # walls between columns, a 1 m door in each room
        x = i * room[0]
        for j in range(rooms_y):
            y0, y1 = j * room[1], (j + 1) * room[1]
            parts += [box([x, y0, 0], [x + t, y0 + 1.5, H]), box([x, y0 + 2.5, 0], [x + t, y1, H]),
                      box([x, y0 + 1.5, 2.1], [x + t, y0 + 2.5, H])]
    for j in range(1, rooms_y):
        y = j * room[1]
        for i in range(rooms_x):
            x0, x1 = i * room[0], (i + 1) * room[0]
            parts += [box([x0, y, 0], [x0 + 2.0, y + t, H]), box([x0 + 3.0, y, 0], [x1, y + t, H]),
                      box([x0 + 2.0, y, 2.1], [x0 + 3.0, y + t, H])]
    rng = np.random.default_rng(seed)
    for _ in range(spheres):
        s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=rng.uniform(0.2, 0.4))
        s.apply_translation([rng.uniform(0.5, W - 0.5), rng.uniform(0.5, D - 0.5), rng.uniform(0.3, 1.0)])
        parts.append(s)
    tm = trimesh.util.concatenate(parts)
    from labelgen.io._meshes import Mesh

    return Mesh(tm.vertices, tm.faces, parts=[(0, tm)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--write", action="store_true", help="also time writing the JSON files")
    args = ap.parse_args()

    from labelgen.sample import _sampling as sampling
    from labelgen.camera._cameras import Camera
    from labelgen.render._raycast import RaycastScene
    from labelgen.sample._sampling import SampleConfig, sample_building, write_sample
    from labelgen.camera._vanishing import vanishing_points, camera_vanishing_points

    mesh = building()
    print(f"building: {len(mesh.faces)} triangles, bounds {mesh.bounds[0].round(2)} .. {mesh.bounds[1].round(2)}")
    cfg = SampleConfig(num_cameras=args.cameras, num_points=args.points, min_camera_distance=0.35, seed=0)

    # stage timings (wrap the stages)
    timings = {}

    def timed(name, fn):
        def run(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return run

    orig = {n: getattr(sampling, n) for n in ("place_scene_cameras", "sample_points", "nonfixated_points",
                                              "estimate_room_boxes")}
    for n, fn in orig.items():
        setattr(sampling, n, timed(n, fn))
    # compile the vanishing kernel outside the timing
    vanishing_points([Camera.look_at([0, 0, 0], [1, 0, 0])])
    t0 = time.perf_counter()
    scene = RaycastScene(mesh)
    t_scene = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = sample_building(mesh, cfg, scene=scene)
    total = time.perf_counter() - t0
    for n, fn in orig.items():
        setattr(sampling, n, fn)
    print(f"cameras placed {len(res.camera_locations)}, points kept {len(res.point_locations)}, "
          f"views {len(res.views)}; warnings: {res.warnings or 'none'}")
    print(f"scene build (Embree BVH)          {t_scene:8.2f} s")
    for n, t in timings.items():
        print(f"  {n:30s}  {t:8.2f} s")
    rest = total - sum(timings.values())
    print(f"  {'point_info assembly, vanishing':30s}  {rest:8.2f} s")
    print(f"sample_building total             {total:8.2f} s   (target <= 60 s)")
    print("stats:", dict(res.stats))

    # vanishing points: Numba kernel vs the per-camera reference, same views
    from labelgen.camera._cameras import camera_from_point_info

    cams = [camera_from_point_info(v) for v in res.views]
    t0 = time.perf_counter()
    fast = vanishing_points(cams)
    t_fast = time.perf_counter() - t0
    n_ref = min(len(cams), 5000)
    t0 = time.perf_counter()
    ref = [camera_vanishing_points(c) for c in cams[:n_ref]]
    t_ref = (time.perf_counter() - t0) * len(cams) / n_ref
    err = max(abs(a - b) for f, r in zip(fast, ref) for k in r for ax in "xyz"
              for a, b in zip(f[k][ax], r[k][ax]))
    print(f"vanishing points, {len(cams)} views: kernel {t_fast:.3f} s, reference {t_ref:.3f} s "
          f"(extrapolated from {n_ref}), ratio {t_ref / max(t_fast, 1e-9):.1f}x, max |diff| {err:.1e}")
    # the bare kernel on arrays (no dict building) against the reference's arithmetic
    from labelgen.kernels.vanishing import vanishing_point_arrays as kernel

    rots = np.stack([c.rotation for c in cams])
    foc = np.array([c.focal for c in cams])
    wid = np.array([float(c.width) for c in cams])
    hei = np.array([float(c.height) for c in cams])
    t0 = time.perf_counter()
    kernel(rots, foc, wid, hei, 0.0)
    t_k = time.perf_counter() - t0
    print(f"vanishing kernel on arrays: {t_k * 1e3:.2f} ms for {len(cams)} views "
          f"({t_ref / max(t_k, 1e-9):.0f}x the reference)")
    if args.write:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            n = write_sample(res, tmp)
            print(f"write {n} files                    {time.perf_counter() - t0:8.2f} s")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
