"""A view's inputs read from a building folder: lazy loaders of its label files and its camera."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labelgen.camera._cameras import Camera, camera_from_point_info, parse_resolution
from labelgen.core._errors import LabelgenError
from labelgen.core._limits import check_image_size
from labelgen.engine._layout import INPUT_DOMAINS
from labelgen.engine._pipeline import LazySources
from labelgen.io._images import image_kind, read_image
from labelgen.labels import all_labels

__all__ = ["view_sources", "read_shipped", "describe", "missing_files", "check_sizes"]


def _storage_of(name) -> str:
    label = all_labels().get(name)
    return label.storage if label is not None else INPUT_DOMAINS[name]


_WANT = {"gray8": "an 8-bit grey", "gray16": "a 16-bit grey", "rgb8": "an 8-bit RGB"}


def read_shipped(name: str, path, background=(0, 0, 0), max_pixels=None) -> tuple[np.ndarray, list[str]]:
    """A shipped image file of domain ``name`` read as the domain is stored: ``(array, notes)``.

    The one reader of label files for every job (derive, validate, fit). Files are read by
    their content (:func:`labelgen.io._images.read_image`), and what Omnidata really ships is
    taken as it is, with a note saying what was done:

    - JPEG data under a ``.png`` name (BlendedMVG's rgb) is decoded as JPEG;
    - an 8-bit RGBA image where RGB is the encoding (CLEVR's rgb): an opaque alpha channel is
      dropped; for ``rgb`` a translucent one is composited over ``background`` (the
      ``rgb_background`` parameter) as straight alpha, ``round((c a + b (255 - a)) / 255)``.

    Every other mismatch raises :class:`LabelgenError` naming what the encoding is and what the
    file is (e.g. "depth_zbuffer must be a 16-bit grey image, this file is 8-bit grey 512x512").
    """
    storage = _storage_of(name)
    array, kind = read_image(path, max_pixels)
    notes = []
    if kind == "jpeg":
        notes.append("JPEG data under a .png name: read by its content" if Path(path).suffix.lower() == ".png"
                     else "JPEG data: read by its content")
    if storage == "rgb8" and array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 4:
        alpha = array[:, :, 3]
        translucent = int(np.count_nonzero(alpha != 255))
        if translucent == 0:
            array = np.ascontiguousarray(array[:, :, :3])
            notes.append("8-bit RGBA with an opaque alpha channel: the alpha channel is dropped")
        elif name == "rgb":
            a = alpha.astype(np.uint32)[:, :, None]
            bg = np.asarray(background, np.uint32).reshape(1, 1, 3)
            mixed = (array[:, :, :3].astype(np.uint32) * a + bg * (255 - a) + 127) // 255
            array = mixed.astype(np.uint8)
            notes.append(f"8-bit RGBA with {translucent} of {alpha.size} pixels not opaque: composited over the "
                         f"background {tuple(int(c) for c in background)} (rgb_background)")
        else:
            raise LabelgenError(path, f"{name} must be {_WANT[storage]} image, this file is {describe(array)} "
                                      f"with {translucent} pixels not opaque")
    if storage in _WANT and _mismatch(array, storage):
        found = describe(array) + (" (JPEG data)" if kind == "jpeg" else "")
        raise LabelgenError(path, f"{name} must be {_WANT[storage]} image, this file is {found}")
    return array, notes


def _mismatch(array: np.ndarray, storage: str) -> bool:
    dtype, ndim = {"gray8": (np.uint8, 2), "gray16": (np.uint16, 2), "rgb8": (np.uint8, 3)}[storage]
    return array.dtype != dtype or array.ndim != ndim or (ndim == 3 and array.shape[2] != 3)


def _file_loader(name, path, notes: dict, background, max_pixels=None):
    def load():
        array, said = read_shipped(name, path, background, max_pixels)
        if said:
            notes[name] = said
        return array

    return load


def describe(array: np.ndarray) -> str:
    """'8-bit RGBA 512x512' and the like, for messages about unsuitable images."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    kind = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    return f"{array.dtype.itemsize * 8}-bit {kind} {array.shape[1]}x{array.shape[0]}"


def view_sources(files: dict[str, Path], point, view, fov=None, resolution=None, max_pixels=None,
                 params=None) -> LazySources:
    """Lazy sources for one view of a building folder: its label files and its camera.

    Files are read with :func:`read_shipped` when first used; what was done to read one
    (JPEG data, an alpha channel) is in the returned mapping's ``notes`` (``{name: [note]}``).
    ``params``: label parameters (``rgb_background``, the colour translucent rgb pixels are
    composited over; default black).

    The camera comes from the view's point_info (``fov`` and ``resolution`` override it), or,
    when the view has no point_info and ``fov`` is given, from ``fov`` and the size of the
    view's images: a camera at the origin with Euler angles 0, enough for the labels that
    need only the intrinsics (keypoints3d).
    """
    background = (params or {}).get("rgb_background") or (0, 0, 0)
    notes: dict[str, list[str]] = {}
    loaders = {name: _file_loader(name, path, notes, background, max_pixels)
               for name, path in files.items() if name != "point_info"}
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
            size = image_kind(image)[1]
            if size is None:
                raise LabelgenError(image, "not a PNG file (the camera for --fov takes its size)")
            check_image_size(size[0], size[1], image, max_pixels)
            w, h = size if resolution is None else parse_resolution(resolution, max_pixels=max_pixels)
            return Camera(np.zeros(3), np.eye(3), fov, w, h, point=point, view=view)

        loaders["camera"] = camera
    sources = LazySources(loaders)
    sources.notes = notes
    return sources


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
