"""Time the image kernels against their scipy / scikit-image references, side by side.

Usage: ``python benchmarks/bench_image_kernels.py [--repeat N] [--size N]``

Single thread (Numba and BLAS threads are pinned to 1 before anything is imported). Inputs
are the shipped Taskonomy sample (``shared/reference/taskonomy`` next to the checkout) when
present, otherwise random images of the same size. Each line prints the best-of-N time of
our kernel and of the reference, their ratio, and whether the outputs are identical
(bit for bit) or only close. Compilation is done (and cached) before timing.
"""
import os

for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labelgen.kernels.edges import sobel_magnitude  # noqa: E402
from labelgen.kernels.filters import gaussian_masked  # noqa: E402
from labelgen.kernels.hessian import hessian_det, hessian_det_max, integral_image  # noqa: E402
from labelgen.kernels.reference import (gaussian_masked_ref, hessian_det_max_ref, sobel_ref)  # noqa: E402
from labelgen.labels.image_edges import encode_unit16, rgb_to_grey  # noqa: E402


def load_inputs(size):
    for parent in REPO.parents:
        ref = parent / "shared" / "reference" / "taskonomy"
        if (ref / "point_202_view_5_domain_rgb.png").exists() and size == 512:
            from labelgen.io._images import read_png

            rgb = read_png(ref / "point_202_view_5_domain_rgb.png")
            depth = read_png(ref / "point_202_view_5_domain_depth_zbuffer.png")
            return rgb, depth, f"shipped sample {ref}"
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    depth = rng.integers(500, 8000, (size, size)).astype(np.uint16)
    depth[rng.random((size, size)) < 0.02] = 65535
    return rgb, depth, "random images"


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def compare(name, ours, ref, repeat, exact=True):
    a = ours()
    b = ref()
    same = np.array_equal(a, b)
    if same:
        verdict = "identical"
    else:
        err = np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)))
        verdict = f"max |diff| {err:.2e}" + ("  (NOT IDENTICAL)" if exact else "")
    # interleave the two so that load on a shared machine hits both alike
    t_ours, t_ref = [], []
    for _ in range(repeat):
        t_ours.append(best_of(ours, 1))
        t_ref.append(best_of(ref, 1))
    to, tr = min(t_ours), min(t_ref)
    print(f"{name:<44} {to * 1e3:9.2f} ms {tr * 1e3:10.2f} ms {tr / to:8.1f}x   {verdict}")
    return tr / to, same


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    rgb, depth, what = load_inputs(args.size)
    grey = rgb_to_grey(rgb)
    valid = depth < 65036
    x = np.sqrt(depth.astype(np.float32)) / np.float32(256.0)
    yy, xx = np.mgrid[:grey.shape[0], :grey.shape[1]]
    blob = ((yy - grey.shape[0] // 3) ** 2 + (xx - grey.shape[1] // 2) ** 2 > (grey.shape[0] // 8) ** 2) & (xx > 3)
    sigmas = np.linspace(1, 30, 10)
    integral = integral_image(grey)
    from skimage.feature._hessian_det_appx import _hessian_matrix_det

    # compile (and cache) everything before timing
    gaussian_masked(grey, None, 3.0), gaussian_masked(grey, blob, 3.0), sobel_magnitude(x, valid)
    hessian_det_max(grey[:40, :40], sigmas[:2]), hessian_det_max(grey[:40, :40], sigmas[:2], False)

    print(f"inputs: {what}, {grey.shape[1]}x{grey.shape[0]}; best of {args.repeat}; single thread")
    print(f"{'kernel (reference)':<44} {'ours':>12} {'reference':>13} {'ratio':>9}   output")
    rows = [
        ("gaussian_masked f32, no mask (scipy+skimage)",
         lambda: gaussian_masked(grey, None, 3.0), lambda: gaussian_masked_ref(grey, None, 3.0), True),
        ("gaussian_masked f32, disc mask",
         lambda: gaussian_masked(grey, blob, 3.0), lambda: gaussian_masked_ref(grey, blob, 3.0), True),
        ("gaussian_masked f64, depth-valid mask, s=1",
         lambda: gaussian_masked(x.astype(np.float64), valid, 1.0),
         lambda: gaussian_masked_ref(x.astype(np.float64), valid, 1.0), True),
        ("sobel_magnitude, no mask (ndimage)",
         lambda: sobel_magnitude(grey), lambda: sobel_ref(grey), True),
        ("sobel_magnitude, depth-valid mask",
         lambda: sobel_magnitude(x, valid), lambda: sobel_ref(x, valid), True),
        ("hessian_det f64, sigma 10.7 (skimage)",
         lambda: hessian_det(integral, 10.666666666666668, False),
         lambda: _hessian_matrix_det(integral, 10.666666666666668), True),
        ("hessian_det_max f64, 10 scales (skimage)",
         lambda: hessian_det_max(grey, sigmas, False), lambda: hessian_det_max_ref(grey, sigmas, False), True),
        ("hessian_det_max f32 (Taskonomy) vs skimage f64",
         lambda: hessian_det_max(grey, sigmas, True), lambda: hessian_det_max_ref(grey, sigmas, False), False),
    ]
    ratios = []
    for name, ours, ref, exact in rows:
        ratios.append(compare(name, ours, ref, args.repeat, exact)[0])
    print()
    print("whole labels from the decoded inputs (ours vs the reference recipe):")
    label_rows = [
        ("edge_texture",
         lambda: encode_unit16(sobel_magnitude(gaussian_masked(rgb_to_grey(rgb), None, 3.0))),
         lambda: encode_unit16(sobel_ref(gaussian_masked_ref(rgb_to_grey(rgb), None, 3.0)))),
        ("keypoints2d (reference: skimage f64)",
         lambda: encode_unit16(hessian_det_max(rgb_to_grey(rgb), sigmas, True)),
         lambda: encode_unit16(hessian_det_max_ref(rgb_to_grey(rgb), sigmas, False))),
        ("edge_occlusion",
         lambda: encode_unit16(sobel_magnitude(np.sqrt(depth.astype(np.float32)) / np.float32(256), depth < 65036)),
         lambda: encode_unit16(sobel_ref(np.sqrt(depth.astype(np.float32)) / np.float32(256), depth < 65036))),
    ]
    for name, ours, ref in label_rows:
        compare(name, ours, ref, args.repeat, exact=False)
    print()
    print("PNG encoding (labelgen.io._images.encode_png vs OpenCV imencode, zlib 3, filter sub; bytes):")
    import cv2

    from labelgen.io._images import encode_png

    def cv_png(image):
        opts = [cv2.IMWRITE_PNG_COMPRESSION, 3, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
        image = image[:, :, ::-1] if image.ndim == 3 else image
        return cv2.imencode(".png", np.ascontiguousarray(image), opts)[1].tobytes()

    occl = encode_unit16(sobel_magnitude(np.sqrt(depth.astype(np.float32)) / np.float32(256), depth < 65036))
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):
        for name, img in [("PNG uint16 depth_zbuffer", depth), ("PNG uint16 edge_occlusion", occl),
                          ("PNG uint8 RGB", np.ascontiguousarray(rgb[:, :, :3])), ("PNG uint8 grey", grey.astype(np.uint8))]:
            compare(name, lambda img=img: encode_png(img), lambda img=img: cv_png(img), args.repeat)
    print()
    print(f"smallest kernel ratio: {min(ratios):.1f}x")


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
