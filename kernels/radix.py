"""LSD radix sorting of unsigned 64-bit values by bit fields, shared by the kernels.

One compiled function serves every caller (the Felzenszwalb buckets and runs, the region
adjacency graph's edge keys): callers pass plain ``int64`` arguments (no literals), so Numba
compiles it once.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["radix_sort_counted"]


@njit(cache=True)
def radix_sort_counted(v, n, tmp, first_bit, dbits, npass, cnt):
    """Stable LSD radix sort of ``v[:n]`` by ``npass`` digits of ``dbits`` bits from bit
    ``first_bit`` up, with ``cnt[q, d + 1]`` the number of values whose digit q is d (the
    caller counts; overwritten). A digit every value shares is skipped; ``tmp``: scratch,
    ``n`` long."""
    nb = 1 << dbits
    mask = np.uint64(nb - 1)
    src = v
    dst = tmp
    moved = False  # the values are in tmp
    for q in range(npass):
        sh = np.uint64(first_bit + dbits * q)
        if cnt[q, ((src[0] >> sh) & mask) + 1] == n:
            continue
        for d in range(nb):
            cnt[q, d + 1] += cnt[q, d]
        for t in range(n):
            d = (src[t] >> sh) & mask
            u = cnt[q, d]
            cnt[q, d] = u + 1
            dst[u] = src[t]
        src, dst = dst, src
        moved = not moved
    if moved:
        for t in range(n):
            v[t] = src[t]
