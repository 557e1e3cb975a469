"""PNG reading and writing, and atomic file writes.

Files are written under a temporary name in the destination folder and renamed into
place, so an interrupted run never leaves a partial or corrupt file under a final name; files
get the mode ``open(path, "w")`` gives them under the umask (see :func:`write_bytes_atomic`).
PNG encoding is deterministic (the same array gives the same bytes); decoding goes through OpenCV.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from labelgen.core._errors import LabelgenError, OutputError
from labelgen.core._limits import check_image_size, png_size

# OpenCV's thread count and log level are set by labelgen.core._runtime.configure, not on import.

def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """Create a new file ``.{name}.{random}.part`` in ``folder``: its descriptor and path.

    Opened with ``O_CREAT | O_EXCL`` (never an existing file or a symbolic link) and mode
    0666, which the kernel reduces by the process's umask, as it does for ``open(path, "w")``.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.part"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def write_bytes_atomic(path: str | os.PathLike, data: bytes, root: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The data goes to a new file ``.{name}.{random}.part`` beside ``path``, which is then renamed
    onto ``path``: no reader ever sees a partial file under the final name, and an interrupted
    write leaves at most a ``.part`` file. Every file labelgen writes (labels, point_info,
    reports, the batch journal, the per-mesh cache) goes through this function. A write that
    fails (no space left, a read-only folder, ...) removes its temporary file and raises
    :class:`~labelgen.core.OutputError` with the ``errno``.

    ``root``: an output folder that ``path`` lies in and that must exist: missing folders
    are created below it, never it, so that an output folder deleted or moved away while a job
    runs is not silently made again (the write fails with ``ENOENT``). Without ``root``, every
    missing folder above ``path`` is created.

    The file gets the mode ``open(path, "w")`` would give it: 0666 less the process's umask
    (0644 under umask 022, 0640 under 027), or what the folder's default ACL gives. The
    temporary file is created with ``os.open(..., O_CREAT | O_EXCL, 0o666)`` so that the
    kernel applies the umask itself when it creates the file (``tempfile.mkstemp`` would
    create it 0600 whatever the umask). The umask is never read: reading it with
    ``os.umask`` means setting it and setting it back, which is a race with the other threads
    of the process (files they create in between would get the wrong mode), and a value
    cached per process would miss a later ``os.umask`` call.
    """
    path = Path(path)
    try:
        _make_folders(path.parent, root)
        fd, tmp = _create_temporary(path.parent, path.name)
    except OSError as err:
        raise OutputError(path, f"cannot write: {err.strerror or err}", err.errno) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise OutputError(path, f"cannot write: {err.strerror or err}", err.errno) from None
        raise


def _make_folders(folder: Path, root) -> None:
    """Create ``folder`` and the missing folders above it (below ``root`` only, when given)."""
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        return
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(root))
    try:
        parts = folder.relative_to(root).parts
    except ValueError:  # not spelled from root (callers keep files inside it): only root must exist
        folder.mkdir(parents=True, exist_ok=True)
        return
    here = root
    for part in parts:
        here = here / part
        try:
            here.mkdir()
        except FileExistsError:
            pass


def read_json(path: str | os.PathLike):
    """The JSON value in file ``path``; a one-line :class:`LabelgenError` naming the file when
    it cannot be read or is not valid JSON (also when nested too deeply to parse)."""
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LabelgenError(path, f"not valid JSON ({err})") from None
    except RecursionError:
        raise LabelgenError(path, "not valid JSON (nested too deeply)") from None


def check_writable(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and check that files can be written in it (one-line error)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LabelgenError(folder, f"cannot create {what}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK):
        raise LabelgenError(folder, f"{what} is not writable")
    return folder


def write_json(path: str | os.PathLike, obj, root: str | os.PathLike | None = None) -> None:
    """Write ``obj`` as JSON (keys in insertion order, atomic; ``root``: see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, (json.dumps(obj, indent=1) + "\n").encode(), root)


# PNG as OpenCV (libpng) writes it with IMWRITE_PNG_COMPRESSION 3 and the "sub" filter, byte
# for byte: on label images this is about twice as fast as libpng's adaptive filter choice and
# gives slightly smaller files (benchmarks/bench_render.py). It is built here with numpy (the
# filter) and zlib (the same deflate, level 3, default strategy), which skips OpenCV's per-row
# libpng calls and its RGB -> BGR -> RGB copies: 10-15% less time (benchmarks/
# bench_image_kernels.py); the rest is deflate itself. The tests hold the bytes to OpenCV's.
_PNG_LEVEL = 3
_PNG_IDAT = 8192  # libpng's compression buffer: IDAT chunks of this many bytes
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + bytes(data) + struct.pack(">I", crc)


def _png_window_bits(size: int) -> int:
    """The zlib window libpng uses for ``size`` bytes of filtered image data (it shrinks
    the window of small images, png_deflate_claim)."""
    bits = 15
    if size <= 16384:
        half = 1 << (bits - 1)
        while size + 262 <= half:
            half >>= 1
            bits -= 1
    return bits


def _png_small_window_header(data: bytes, size: int) -> bytes:
    """``data`` with its zlib header declaring the smallest window that holds ``size``
    bytes, as libpng rewrites it (optimize_cmf): deflate needs 262 bytes beyond the data,
    inflate does not."""
    cmf = data[0]
    if (cmf & 0x0F) != 8 or (cmf & 0xF0) > 0x70:
        return data
    cinfo = cmf >> 4
    half = 1 << (cinfo + 7)
    if size > half:
        return data
    while True:
        half >>= 1
        cinfo -= 1
        if not (cinfo > 0 and size <= half):
            break
    cmf = (cmf & 0x0F) | (cinfo << 4)
    flg = data[1] & 0xE0
    flg += 0x1F - ((cmf << 8) + flg) % 0x1F
    return bytes((cmf, flg)) + data[2:]


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes for a (H, W) uint8/uint16 image or a (H, W, 3) RGB one.

    Deterministic (the same array gives the same bytes): the "sub" row filter, zlib level
    3, IDAT chunks of 8192 bytes, no other chunks; the bytes OpenCV's ``imencode`` writes
    with ``IMWRITE_PNG_COMPRESSION 3`` and ``IMWRITE_PNG_FILTER_SUB``.
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG images must be uint8 or uint16, not {image.dtype}")
    if image.ndim == 3:
        if image.shape[2] != 3:
            raise ValueError(f"expected an RGB image, got shape {image.shape}")
    elif image.ndim != 2:
        raise ValueError(f"expected a 2D or RGB image, got shape {image.shape}")
    h, w = image.shape[:2]
    if h < 1 or w < 1 or h >= 2 ** 31 or w >= 2 ** 31:
        raise ValueError(f"cannot write a PNG of shape {image.shape}")
    channels = 3 if image.ndim == 3 else 1
    depth = 8 * image.itemsize
    if image.dtype == np.uint16:  # PNG stores 16-bit samples big-endian
        image = image.astype(">u2")
    raw = np.ascontiguousarray(image).reshape(h, -1).view(np.uint8)
    bpp = channels * image.itemsize
    rows = np.empty((h, raw.shape[1] + 1), np.uint8)
    # filter type "sub" (each byte minus the one bpp bytes to its left); libpng drops it
    # for one-pixel rows, where it changes nothing, and writes type "none"
    rows[:, 0] = 1 if w > 1 else 0
    rows[:, 1:bpp + 1] = raw[:, :bpp]
    np.subtract(raw[:, bpp:], raw[:, :-bpp], out=rows[:, bpp + 1:])
    comp = zlib.compressobj(_PNG_LEVEL, zlib.DEFLATED, _png_window_bits(rows.size), 8,
                            zlib.Z_DEFAULT_STRATEGY)
    data = comp.compress(rows) + comp.flush()
    if rows.size <= 16384:
        data = _png_small_window_header(data, rows.size)
    view = memoryview(data)
    parts = [_PNG_SIGNATURE,
             _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 2 if channels == 3 else 0, 0, 0, 0))]
    for start in range(0, len(data), _PNG_IDAT):
        parts.append(_png_chunk(b"IDAT", view[start:start + _PNG_IDAT]))
    parts.append(_png_chunk(b"IEND", b""))
    return b"".join(parts)


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an image as PNG atomically (see :func:`encode_png`)."""
    write_bytes_atomic(path, encode_png(image))


_JPEG_SIGNATURE = b"\xff\xd8\xff"
# JPEG start-of-frame markers (baseline, progressive, lossless ...; not DHT C4, JPG C8, DAC CC)
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the start-of-frame segment of JPEG ``data``, or None if none is found
    (read from the header: a small file may decode to a huge image)."""
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # segments without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _JPEG_SOF:
            if i + 9 > n or length < 7:
                return None
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return (w, h) if w and h else None
        if marker == 0xDA or length < 2:  # scan data before any frame header
            return None
        i += 2 + length
    return None


def image_kind(path: str | os.PathLike) -> tuple[str | None, tuple[int, int] | None]:
    """What a file holds by its content, whatever its name: ``("png" | "jpeg" | None, (width,
    height) from its header or None)``. Nothing is decoded."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    if head[:8] == _PNG_SIGNATURE:
        return "png", png_size(path)
    if head[:3] == _JPEG_SIGNATURE:
        size = jpeg_size(head)
        if size is None and len(head) == 65536:  # a frame header after 64 KiB of metadata
            size = jpeg_size(Path(path).read_bytes())
        return "jpeg", size
    return None, None


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[np.ndarray, str]:
    """An image file read by its content: ``(array, kind)``.

    PNG data is read as :func:`read_png` reads it (``kind`` ``"png"``); JPEG data, whatever the
    file's name (Omnidata ships BlendedMVG's rgb as JPEG data in ``.png`` files), is decoded as
    8-bit grey or RGB (``kind`` ``"jpeg"``). The size in the header is checked against the
    limits (:mod:`labelgen.core._limits`) before decoding. Anything else raises
    :class:`LabelgenError` naming the file ("not a PNG file", "corrupt or truncated JPEG").
    """
    kind, size = image_kind(path)
    if kind is None:
        raise LabelgenError(path, "not a PNG file (nor JPEG data)")
    if size is not None:
        check_image_size(size[0], size[1], path, max_pixels)
    if kind == "png":
        return read_png(path), kind
    if size is None:
        raise LabelgenError(path, "corrupt or truncated JPEG (no frame header)")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    if b"\xff\xd9" not in data[-4096:].tobytes():  # OpenCV decodes a cut-off file without a word
        raise LabelgenError(path, "corrupt or truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[1::-1] != tuple(size):
        raise LabelgenError(path, "corrupt or truncated JPEG")
    if image.ndim == 3:
        image = image[:, :, ::-1] if image.shape[2] == 3 else image
    return np.ascontiguousarray(image), kind


def read_png(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG as stored: (H, W) uint8/uint16, or (H, W, 3) RGB, or (H, W, 4) RGBA.

    Raises :class:`LabelgenError` naming the file when it is missing, unreadable or corrupt.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    if data.size < 8 or data[:8].tobytes() != b"\x89PNG\r\n\x1a\n":
        raise LabelgenError(path, "not a PNG file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LabelgenError(path, "corrupt or truncated PNG")
    if image.ndim == 3:
        image = image[:, :, ::-1] if image.shape[2] == 3 else image[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(image)

