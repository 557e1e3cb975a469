"""Panoramas and the Omnidata labels vs. the bare Open3D ray cast, in the same process.

For a 2048 x 1024 equirectangular panorama of the sample apartment (Omnidata's panorama size)
and for a 512 x 512 perspective view, prints the time of Open3D's ``cast_rays`` on the view's
rays, of the geometric labels (depth_euclidean, normal, reshading, mask_valid, in memory), and of
``fragments`` alone (the geometry buffer plus its encoding); best of 3 each, and the ratios to
the bare cast. Run: ``.venv/bin/python benchmarks/bench_panorama.py [--threads N]``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelgen import Camera, load_mesh  # noqa: E402
from labelgen.kernels import panorama  # noqa: E402
from labelgen.render._renderers import Open3DRenderer  # noqa: E402
from labelgen.engine import render_view  # noqa: E402

GEOMETRIC = ["depth_euclidean", "normal", "reshading", "mask_valid"]


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=0, help="cast_rays threads (0 = all)")
    args = ap.parse_args()
    mesh = load_mesh(ROOT / "sample_meshes" / "apartment.glb")
    renderer = Open3DRenderer(mesh, threads=args.threads)
    persp = Camera.look_at([4.2, 3.0, 1.5], [0, 2, 1.3], fov=1.2, width=512, height=512)
    pano = Camera.look_at([4.2, 3.0, 1.5], [0, 2, 1.3], fov=1.2, width=2048, height=1024).with_model("equirectangular")
    print(f"{len(mesh.faces)} triangles, cast_rays threads: {args.threads or 'all'}")
    for name, cam in (("perspective 512x512", persp), ("equirectangular 2048x1024", pano)):
        if cam.model == "perspective":
            rays = renderer.rays(cam)
        else:
            rays = panorama.equirectangular_rays(cam.location, cam.rotation, cam.width, cam.height)
        render_view(renderer, cam, tasks=GEOMETRIC + ["fragments"])  # compile the kernels
        bare = best(lambda: renderer.scene.cast_rays(rays))
        geo = best(lambda: render_view(renderer, cam, tasks=GEOMETRIC))
        frag = best(lambda: render_view(renderer, cam, tasks=["fragments"]))
        print(f"{name}: cast_rays {bare * 1e3:.1f} ms, geometric labels {geo * 1e3:.1f} ms "
              f"({geo / bare:.2f}x), fragments {frag * 1e3:.1f} ms ({frag / bare:.2f}x)")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
