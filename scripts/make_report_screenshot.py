"""Screenshot of a validation report for the README (docs/validate_report.png).

Builds a small download in the Omnidata layout from the shared Taskonomy view
(``../shared/reference/taskonomy`` or ``$LABELGEN_SHARED/reference/taskonomy``): building
``allensville`` as shipped, building ``damaged`` with a 64x64 block of edge_texture changed
and keypoints2d truncated; runs ``labelgen validate`` on it and takes a screenshot of
``index.html`` with headless Chromium.

    .venv/bin/python scripts/make_report_screenshot.py [--out docs/validate_report.png]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_reference() -> Path:
    env = os.environ.get("LABELGEN_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if (cand / "reference" / "taskonomy").is_dir():
            return cand / "reference" / "taskonomy"
    sys.exit("make_report_screenshot: the shared reference view is not present")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("make_report_screenshot: chromium is not installed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "validate_report.png"))
    ap.add_argument("--size", default="1000,1150", help="window W,H")
    args = ap.parse_args()
    from labelgen.cli import main as labelgen
    from labelgen.io._images import read_png, write_png

    src = shared_reference()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "omnidata"
        for building in ("allensville", "damaged"):
            for p in src.iterdir():
                domain = p.name.split("_domain_")[1].rsplit(".", 1)[0]
                d = root / domain / "taskonomy" / building
                d.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, d / p.name)
        edge = next((root / "edge_texture" / "taskonomy" / "damaged").iterdir())
        img = read_png(edge)
        img[300:364, 60:124] ^= 0x8000
        write_png(edge, img)
        kp = next((root / "keypoints2d" / "taskonomy" / "damaged").iterdir())
        kp.write_bytes(kp.read_bytes()[:40000])
        report = Path(tmp) / "report"
        rc = labelgen(["validate", str(root), "--report", str(report), "--quiet", "--worst", "1"])
        print(f"labelgen validate exited {rc}")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shot = Path(tmp) / "shot.png"
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={args.size}", f"--screenshot={shot}", (report / "index.html").as_uri()],
                       check=True, capture_output=True, timeout=120)
        # a smaller PNG for the README: 8-bit palette
        from PIL import Image

        Image.open(shot).convert("RGB").quantize(colors=128).save(out, optimize=True)
        print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
