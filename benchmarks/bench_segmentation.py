"""Time segment_unsup2d / segment_unsup25d against the scikit-image reference pipeline.

Usage: ``python benchmarks/bench_segmentation.py [--repeat N] [--size S]``

Both run in this process on the same 512x512 views (the shipped Taskonomy view when
``shared/reference/taskonomy`` is found next to the repository, plus a synthetic view),
with the Taskonomy defaults. Each figure is the best of ``--repeat`` runs (the Numba
kernels are compiled before timing). The reference includes its own 2.5D feature
construction, as ours does. Prints seconds per view, the speed-up and the adjusted Rand
index between the two results. Then the Felzenszwalb merge alone, the bucketed fast path
against the plain loop over the stably sorted edges, on the same views.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import segmentation_reference as ref  # noqa: E402
from conftest import _shared_reference  # noqa: E402
from test_segmentation import VIEW, ari, planes_25d, textured_rgb  # noqa: E402

from labelgen.io._images import read_png  # noqa: E402
from labelgen.labels import segmentation as labseg  # noqa: E402
from labelgen.engine._pipeline import resolve_params  # noqa: E402


def best_of(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def views(size):
    out = []
    REF = _shared_reference() / "taskonomy"
    REF = REF if REF.is_dir() else None
    if REF is not None and all((REF / f"{VIEW}{d}.png").is_file()
                               for d in ("rgb", "depth_zbuffer", "normal", "edge_occlusion")):
        out.append(("taskonomy point_202_view_5",
                    {d: read_png(REF / f"{VIEW}{d}.png") for d in ("rgb", "depth_zbuffer", "normal", "edge_occlusion")}))
    depth, normal, edge = planes_25d(size, size)
    out.append((f"synthetic {size}x{size}",
                {"rgb": textured_rgb(size, size), "depth_zbuffer": depth, "normal": normal, "edge_occlusion": edge}))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    p = resolve_params()
    p2 = {k: p[k] for k in p if k.startswith("seg2d_")}
    p25 = {k: p[k] for k in p if k.startswith("seg25d_")}

    data = views(args.size)
    t = time.perf_counter()
    labseg._segment_unsup2d({"rgb": data[-1][1]["rgb"][:64, :64]}, p2)
    src = data[-1][1]
    labseg._segment_unsup25d({k: v[:64, :64] for k, v in src.items()}, p25)
    print(f"Numba compile / cache load: {time.perf_counter() - t:.2f} s")
    print(f"{'view':28s} {'label':17s} {'ours s':>8s} {'skimage s':>10s} {'speed-up':>9s} {'ARI':>7s} {'segments':>9s}")
    ratios = []
    for name, src in data:
        rows = [
            ("segment_unsup2d",
             lambda: labseg._segment_unsup2d({"rgb": src["rgb"]}, p2),
             lambda: ref.reference_2d(src["rgb"])),
            ("segment_unsup25d",
             lambda: labseg._segment_unsup25d(src, p25),
             lambda: ref.reference_25d(src["depth_zbuffer"], src["normal"], src["edge_occlusion"])),
        ]
        for label, ours_fn, ref_fn in rows:
            t_ours, ours = best_of(ours_fn, args.repeat)
            t_ref, theirs = best_of(ref_fn, max(1, min(args.repeat, 2)))
            ratios.append(t_ref / t_ours)
            print(f"{name:28s} {label:17s} {t_ours:8.3f} {t_ref:10.3f} {t_ref / t_ours:8.1f}x "
                  f"{ari(ours, theirs):7.4f} {int(ours.max()) + 1:4d}/{len(np.unique(theirs)):<4d}")
    print(f"geometric mean speed-up: {np.exp(np.mean(np.log(ratios))):.1f}x")

    # the Felzenszwalb merge alone: bucketed fast path against the plain loop over the
    # stably sorted edges (np.argsort kind="stable"), same process, same images
    from labelgen.kernels import segmentation as kseg

    print(f"{'view':28s} {'felzenszwalb':17s} {'fast s':>8s} {'plain s':>10s} {'speed-up':>9s} {'same':>7s}")
    for name, src in data:
        feat = np.ascontiguousarray(labseg.features_25d(src["depth_zbuffer"], src["normal"],
                                                        src["edge_occlusion"], p25))
        for label, img, min_size in [("2d (rgb, sigma 3)", kseg.gaussian_reflect(src["rgb"][:, :, :3] / 255.0, 3.0), 20),
                                     ("25d (features)", feat, 200)]:
            t_fast, fast = best_of(lambda: kseg._felzenszwalb_fast(img, 200 / 255.0, min_size), args.repeat)
            t_plain, plain = best_of(lambda: kseg._felzenszwalb_plain(img, 200 / 255.0, min_size), args.repeat)
            same = fast[1] == plain[1] and np.array_equal(fast[0], plain[0])
            print(f"{name:28s} {label:17s} {t_fast:8.3f} {t_plain:10.3f} {t_plain / t_fast:8.1f}x {str(same):>7s}")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
