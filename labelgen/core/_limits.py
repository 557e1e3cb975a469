"""Resource limits checked before any large allocation.

An image (a rendered view, or a PNG read by ``derive``) may have at most :data:`MAX_SIDE`
pixels per side and :data:`MAX_PIXELS` pixels in all. A render holds about 100 bytes per
pixel in flight (rays, hit buffers, float labels), so the default per-view limit of 64 Mpixel
(8192 x 8192) needs some 6-7 GB; ``--max-pixels N`` raises (or lowers) the per-view limit and,
when raised above the default, lifts the per-side limit to match.
"""
from __future__ import annotations

from labelgen.core._errors import LabelgenError

#: Largest width or height of an image, in pixels.
MAX_SIDE = 16384
#: Largest number of pixels of one image (64 Mpixel).
MAX_PIXELS = 64 * 1024 * 1024


def check_image_size(width: int, height: int, where, max_pixels: int | None = None) -> tuple[int, int]:
    """``(width, height)`` if within the limits, else a one-line :class:`LabelgenError`.

    ``max_pixels`` replaces :data:`MAX_PIXELS`; a value above it also replaces the per-side
    limit (a side may then be as long as ``max_pixels``).
    """
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    side = MAX_SIDE if limit <= MAX_PIXELS else limit
    if width > side or height > side:
        raise LabelgenError(where, f"image size {width}x{height} exceeds the limit of {side} pixels per side "
                                   f"(raise it with --max-pixels)")
    if width * height > limit:
        raise LabelgenError(where, f"image size {width}x{height} = {width * height} pixels exceeds the limit of "
                                   f"{limit} pixels per view (raise it with --max-pixels)")
    return width, height


def positive_int(text: str) -> int:
    """argparse type for ``--max-pixels``: a positive integer."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def png_size(path) -> tuple[int, int] | None:
    """(width, height) from a PNG file's header, or None when it has no PNG header."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError as err:
        raise LabelgenError(path, f"cannot read: {err.strerror or err}") from None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_png_size(path, max_pixels: int | None = None) -> tuple[int, int] | None:
    """The PNG's (width, height) from its header, checked against the limits before decoding
    (a small file may decode to a huge image); None when the file has no PNG header."""
    size = png_size(path)
    if size is not None:
        check_image_size(size[0], size[1], path, max_pixels)
    return size


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smallest of the free memory
    (``MemAvailable``), the cgroup's limit minus its usage, and the address-space limit minus
    the address space in use; None if none of them can be read."""
    import resource

    found = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/proc/self/cgroup") as fh:
            rel = [ln.split(":", 2)[2].strip() for ln in fh if ln.startswith("0::")]
        if rel:
            base = "/sys/fs/cgroup" + rel[0].rstrip("/")
            with open(base + "/memory.max") as fh:
                limit = fh.read().strip()
            if limit != "max":
                with open(base + "/memory.current") as fh:
                    found.append(int(limit) - int(fh.read().strip()))
    except (OSError, ValueError, IndexError):
        pass
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/status") as fh:
                vm = [int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmSize:")]
            found.append(soft - (vm[0] if vm else 0))
    except (OSError, ValueError, IndexError):
        pass
    return max(min(found), 0) if found else None
