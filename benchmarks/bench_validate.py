"""Validation speed: against deriving the same labels, and ``--fit`` against plain validation.

Default (target: validate <= 1.3x derive): renders the sample apartment (every label, 10 views
at 512x512) into a temporary building unless ``--building`` is given, then times, alternately,
``derive_building`` (the image-derived labels, written as PNGs) and ``validate_buildings`` (the
same labels recomputed and compared, plus the metadata checks and the report thumbnails; the
report itself is not written), best of ``--repeat``. With ``--workers N`` (N > 1) it also
times validation with N processes against 1.

``--omnidata [ROOT]`` (target: ``--fit`` <= 3x plain validation on the same tree): times,
alternately, ``validate_buildings`` without and with ``fit=True`` on Omnidata's published
samples in the download layout (default ``$LABELGEN_SHARED/reference/omnidata``, else
``../shared/reference/omnidata``), best of
``--repeat``, in this process after a warm-up of both (compiled kernels loaded), and prints
the verdict counts of each.

    .venv/bin/python benchmarks/bench_validate.py [--building DIR] [--repeat 3] [--workers 2]
    .venv/bin/python benchmarks/bench_validate.py --omnidata [ROOT] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the shared samples: $LABELGEN_SHARED/reference/omnidata, else ../shared beside the repository
OMNIDATA = Path(os.environ.get("LABELGEN_SHARED") or REPO.parent / "shared") / "reference" / "omnidata"


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def bench_fit(root: Path, repeat: int):
    """``--fit`` against plain validation on the same tree."""
    from labelgen.validate import find_buildings, validate_buildings

    buildings = find_buildings(root)
    views = sum(len(b.views) for b in buildings)
    # warm up: imports, compiled kernels
    for fit in (False, True):
        validate_buildings(buildings, keep_worst=3, fit=fit)
    plain, fitted = [], []
    for _ in range(repeat):
        plain.append(_timed(lambda: validate_buildings(buildings, keep_worst=3)))
        fitted.append(_timed(lambda: validate_buildings(buildings, keep_worst=3, fit=True)))
    for kind, runs in (("plain", plain), ("--fit", fitted)):
        print(f"{kind}: {runs[0][2].counts} ({len(buildings)} buildings, {views} views)")
    for i, kind in ((0, "wall"), (1, "CPU")):
        bp, bf = min(x[i] for x in plain), min(x[i] for x in fitted)
        pairs = sorted(b[i] / a[i] for a, b in zip(plain, fitted))
        print(f"{kind}: validate {bp:.2f} s, validate --fit {bf:.2f} s (best of {repeat}); --fit/plain "
              f"{bf / bp:.2f}x, pairwise median {pairs[len(pairs) // 2]:.2f}x (target <= 3x)")
    print(json.dumps({"plain_s": [x[0] for x in plain], "fit_s": [x[0] for x in fitted]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--building", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--omnidata", nargs="?", const=str(OMNIDATA), default=None, metavar="ROOT",
                    help="time --fit against plain validation on this tree (default: the shared samples)")
    args = ap.parse_args()
    if args.omnidata is not None:
        bench_fit(Path(args.omnidata), args.repeat)
        return

    from labelgen.cli import main as labelgen
    from labelgen.engine import derive_building
    from labelgen.validate import find_buildings, validate_buildings

    tmp = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    try:
        building = Path(args.building) if args.building else tmp / "apartment"
        if args.building is None:
            labelgen(["render", str(REPO / "sample_meshes" / "apartment.glb"), "--cameras",
                      str(REPO / "sample_meshes" / "apartment_cameras.json"), "--out", str(building), "--quiet"])
        buildings = find_buildings(building)
        views = sum(len(b.views) for b in buildings)
        # warm up (Numba caches, imports)
        derive_building(building, tmp / "warm", quiet=True)
        validate_buildings(buildings, keep_worst=3)

        def t_derive():
            shutil.rmtree(tmp / "d", ignore_errors=True)
            t, c = time.perf_counter(), time.process_time()
            derive_building(building, tmp / "d", quiet=True)
            return time.perf_counter() - t, time.process_time() - c

        def t_validate(workers=1):
            t, c = time.perf_counter(), time.process_time()
            report = validate_buildings(buildings, keep_worst=3, workers=workers)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            assert report.passed, "validation failed"
            return dt, dc

        d, v = [], []
        for _ in range(args.repeat):
            d.append(t_derive())
            v.append(t_validate())
        for i, kind in ((0, "wall"), (1, "CPU")):
            bd, bv = min(x[i] for x in d), min(x[i] for x in v)
            pairs = sorted(b[i] / a[i] for a, b in zip(d, v))
            print(f"{views} views, {kind}: derive {bd / views * 1000:.0f} ms/view, validate {bv / views * 1000:.0f} "
                  f"ms/view (best of {args.repeat}); validate/derive {bv / bd:.2f}x, pairwise median "
                  f"{pairs[len(pairs) // 2]:.2f}x (target <= 1.3x)")
        v = [x[0] for x in v]
        if args.workers > 1:
            w = [t_validate(args.workers)[0] for _ in range(args.repeat)]
            print(f"validate --workers {args.workers}: {min(w) / views * 1000:.0f} ms/view; "
                  f"speed-up over 1 worker {min(v) / min(w):.2f}x")
        print(json.dumps({"derive_s": d, "validate_s": v}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    from labelgen.core import configure

    configure()  # the command line's process settings (Numba's OpenMP layer, one OpenCV thread)
    main()
