"""labelgen.io._images.encode_png against OpenCV's libpng writer, and PNG round trips.

encode_png builds the PNG with numpy (the "sub" row filter) and zlib; the reference is
``cv2.imencode`` with the same settings (zlib level 3, filter "sub"), which is what
labelgen used before and what the shipped label files were written with: the bytes must
be the same, and decoding must give the image back.
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from labelgen.io._images import encode_png, read_png, write_png

SHAPES = [(1, 1), (1, 7), (5, 1), (3, 4), (17, 33), (64, 64), (100, 3), (90, 91), (130, 128)]


def opencv_png(image: np.ndarray) -> bytes:
    """The reference: libpng through OpenCV, zlib level 3, filter "sub"."""
    opts = [cv2.IMWRITE_PNG_COMPRESSION, 3, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
    if image.ndim == 3:
        image = image[:, :, ::-1]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), opts)
    assert ok
    return buf.tobytes()


def images(seed=0):
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        for dtype in (np.uint8, np.uint16):
            top = np.iinfo(dtype).max
            for channels in (None, 3):
                s = shape if channels is None else shape + (channels,)
                yield rng.integers(0, top + 1, s).astype(dtype)  # incompressible
                ramp = (np.add.outer(np.arange(shape[0]), 3 * np.arange(shape[1])) % 300).astype(dtype)
                yield ramp if channels is None else np.stack([ramp, ramp // 2, top - ramp], axis=2)
                yield np.full(s, 7, dtype)


@pytest.mark.skipif(not hasattr(cv2, "IMWRITE_PNG_FILTER"), reason="OpenCV < 4.11 cannot fix the filter")
def test_bytes_match_opencv():
    n = 0
    for img in images():
        assert encode_png(img) == opencv_png(img), (img.shape, img.dtype)
        n += 1
    assert n == len(SHAPES) * 12


def test_round_trip_and_structure(tmp_path):
    for k, img in enumerate(images(1)):
        data = encode_png(img)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img.ndim == 3:
            decoded = decoded[:, :, ::-1]
        assert decoded.dtype == img.dtype and np.array_equal(decoded, img)
        path = tmp_path / f"{k}.png"
        write_png(path, img)
        assert path.read_bytes() == data and np.array_equal(read_png(path), img)
    # chunks: IHDR, IDATs of 8192 bytes but the last, IEND; valid CRCs; one zlib stream
    big = np.random.default_rng(2).integers(0, 65536, (200, 300), dtype=np.uint16)
    data = encode_png(big)
    pos, kinds, idat = 8, [], []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big") == zlib.crc32(kind + body)
        kinds.append(kind)
        if kind == b"IDAT":
            idat.append(len(body))
        pos += 12 + n
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds[1:-1]) == {b"IDAT"}
    assert all(n == 8192 for n in idat[:-1]) and 0 < idat[-1] <= 8192
    raw = zlib.decompress(b"".join(_bodies(data, b"IDAT")))
    assert len(raw) == 200 * (1 + 600) and all(raw[r * 601] == 1 for r in range(200))


def _bodies(data: bytes, kind: bytes):
    pos = 8
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] == kind:
            yield data[pos + 8:pos + 8 + n]
        pos += 12 + n


def test_deterministic_and_bad_input():
    img = np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert encode_png(img) == encode_png(img.copy())
    assert encode_png(np.asfortranarray(img)) == encode_png(img)
    with pytest.raises(TypeError):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((0, 4), np.uint8))
