"""A view's inputs read from a building folder: lazy loaders of its label files and its camera."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labelgen.camera._cameras import Camera, camera_from_point_info, parse_resolution
from labelgen.core._errors import LabelgenError
from labelgen.core._limits import check_png_size
from labelgen.engine._layout import INPUT_DOMAINS
from labelgen.engine._pipeline import LazySources
from labelgen.io._images import read_png
from labelgen.labels import Label, all_labels

__all__ = ["view_sources", "describe", "missing_files", "check_sizes"]


def _file_loader(name, path, max_pixels=None):
    label = all_labels().get(name)
    if label is None:  # an input-only domain (INPUT_DOMAINS), e.g. rgb
        label = Label(name, (), None, INPUT_DOMAINS[name], encoding="", invalid="")

    def load():
        check_png_size(path, max_pixels)
        array = read_png(path)
        if label.check_array(array, path):
            want = {"gray8": "an 8-bit grey", "gray16": "a 16-bit grey", "rgb8": "an 8-bit RGB"}[label.storage]
            raise LabelgenError(path, f"{name} must be {want} image, this file is {describe(array)}")
        return array

    return load


def describe(array: np.ndarray) -> str:
    """'8-bit RGBA 512x512' and the like, for messages about unsuitable images."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    kind = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    return f"{array.dtype.itemsize * 8}-bit {kind} {array.shape[1]}x{array.shape[0]}"


def view_sources(files: dict[str, Path], point, view, fov=None, resolution=None, max_pixels=None) -> LazySources:
    """Lazy sources for one view of a building folder: its label files and its camera.

    The camera comes from the view's point_info (``fov`` and ``resolution`` override it), or,
    when the view has no point_info and ``fov`` is given, from ``fov`` and the size of the
    view's images: a camera at the origin with Euler angles 0, enough for the labels that
    need only the intrinsics (keypoints3d).
    """
    loaders = {name: _file_loader(name, path, max_pixels) for name, path in files.items() if name != "point_info"}
    if "point_info" in files:
        def camera():
            try:
                info = json.loads(Path(files["point_info"]).read_text())
            except (OSError, ValueError, RecursionError) as err:
                text = "nested too deeply" if isinstance(err, RecursionError) else err
                raise LabelgenError(files["point_info"], f"cannot read point_info: {text}") from None
            return camera_from_point_info(info, files["point_info"], point, view, fov, resolution, max_pixels)

        loaders["camera"] = camera
    elif fov is not None and loaders:
        image = files[sorted(n for n in files if n != "point_info")[0]]

        def camera():
            size = check_png_size(image, max_pixels)
            if size is None:
                raise LabelgenError(image, "not a PNG file (the camera for --fov takes its size)")
            w, h = size if resolution is None else parse_resolution(resolution, max_pixels=max_pixels)
            return Camera(np.zeros(3), np.eye(3), fov, w, h, point=point, view=view)

        loaders["camera"] = camera
    return LazySources(loaders)


def check_sizes(inputs: dict[str, np.ndarray], files: dict[str, Path]):
    """Error when the images of one view differ in size."""
    shapes = {name: a.shape[:2] for name, a in inputs.items() if isinstance(a, np.ndarray)}
    if len(set(shapes.values())) > 1:
        detail = ", ".join(f"{files.get(n, n)} {s[1]}x{s[0]}" for n, s in shapes.items())
        raise LabelgenError(next(iter(files.values())).parent, f"inputs of one view differ in size: {detail}")


def missing_files(label, sources, registry=None, seen=()) -> set[str]:
    """Input files (domain names) that ``label`` lacks in a building folder's ``sources``."""
    registry = all_labels() if registry is None else registry
    missing = set()
    for req in label.requires:
        if req in sources or req in seen or req in ("gbuffer", "mesh"):
            continue
        lab = registry.get(req)
        if lab is not None and not {"gbuffer", "mesh"} & set(lab.requires):
            missing |= missing_files(lab, sources, registry, seen + (req,))
        else:
            missing.add("point_info" if req == "camera" else req)
    return missing
