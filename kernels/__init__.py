"""Numba-compiled numeric kernels for labelgen.

Kernels take and return numpy arrays and do no I/O. Each has a slow, obviously-correct
reference (usually scikit-image or scipy) that the tests hold it against. Kernels are
compiled lazily on first call and cached on disk (``cache=True``), never at import. The
threading layer of the parallel kernels is chosen by :func:`labelgen.core._runtime.configure`.

Compile time (a fresh clone's first view compiles every kernel it needs) goes mostly into
Numba's own passes, not LLVM's: on the 2-core development machine, keypoints3d's kernels
spend about 44 of 100 CPU s inlining ``inline="always"`` helpers at the Numba-IR level
(each call site runs the helper's whole untyped pipeline again, helpers inside helpers once
per path), the curvature path about 60% in lowering and type inference. What cuts it, at
the same bits:

* nested calls pass plain types (``np.int64(k)``, variables; not literals such as ``0``
  or ``True``), so that a helper compiles once, not once per literal;
* element loops instead of slice copies and array expressions on small arrays
  (``a[:, :m] = b`` compiles Numba's shape-error formatting, about 4 CPU s);
* ``inline="always"`` only where it pays at run time (measure both: dropping it from
  every narf helper cut keypoints3d's compile from 96 to 38 CPU s at the same bits, but
  made it about 17% slower per view; from ``_eigen33`` alone, 70 to 32 CPU s and 8%
  slower: a big helper inlined at several call sites is compiled once per site);
* ``parallel=True`` loops with a small body that calls a plain ``@njit`` function
  (Numba's parfor passes analyse the whole body, and turn its array expressions into
  nested parfors);
* a plain binary search rather than ``np.searchsorted`` with both sides.

Global settings do not help measurably (curvature path, compile CPU s within the noise
of the loaded machine): ``NUMBA_OPT=2`` or ``1``, ``NUMBA_LOOP_VECTORIZE=0`` with
``NUMBA_SLP_VECTORIZE=0``, ``error_model="numpy"``; ``NUMBA_OPT=0`` saves about 20% of
the compile but makes the kernels several times slower. Numba's cache index does not record
these settings, so a cache written under one would be loaded under another.
"""
