"""The README gallery (docs/gallery.png): one view of the sample apartment, every label.

Renders camera 0 of ``sample_meshes/apartment_cameras.json`` with every label the mesh allows
(``labelgen.render_view``, the same code as ``labelgen render``) and tiles the encoded images
side by side, each shown as in the validation report (:func:`labelgen.validate._report.display`: grey
ramps stretched, segment ids as colours), with its name underneath.

    .venv/bin/python scripts/make_gallery.py [--out docs/gallery.png] [--size 224] [--camera 0]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "gallery.png"))
    ap.add_argument("--size", type=int, default=192, help="tile size, pixels")
    ap.add_argument("--camera", type=int, default=0)
    ap.add_argument("--columns", type=int, default=7)
    args = ap.parse_args()

    import labelgen
    from labelgen.camera._cameras import read_cameras
    from labelgen.io._images import write_png
    from labelgen.validate._report import display
    from labelgen.engine import default_render_tasks

    mesh = labelgen.load_mesh(REPO / "sample_meshes" / "apartment.glb")
    cams = read_cameras(REPO / "sample_meshes" / "apartment_cameras.json", resolution=args.size)
    camera = cams[args.camera]
    tasks = default_render_tasks(mesh)
    order = ["rgb"] + [t for t in tasks if t != "rgb"]
    labels, skipped = labelgen.render_view(mesh, camera, tasks=order)
    if skipped:
        print("skipped:", json.dumps(skipped))
    tiles = []
    caption_h = 22
    for name in order:
        if name not in labels:
            continue
        tile = np.full((args.size + caption_h, args.size, 3), 255, np.uint8)
        tile[:args.size] = display(name, labels[name])
        cv2.rectangle(tile, (0, 0), (args.size - 1, args.size - 1), (160, 160, 160), 1)  # white images show
        cv2.putText(tile, name, (4, args.size + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(tile)
    cols = args.columns
    rows = -(-len(tiles) // cols)
    gap = 4
    h, w = tiles[0].shape[:2]
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = tile
    out = Path(args.out)
    write_png(out, sheet)
    print(f"wrote {out}: {len(tiles)} labels, {sheet.shape[1]}x{sheet.shape[0]}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
