"""Numba-compiled numeric kernels for labelgen.

Kernels take and return numpy arrays and do no I/O. Each has a slow, obviously-correct
reference (usually scikit-image or scipy) that the tests hold it against. Kernels are
compiled lazily on first call and cached on disk (``cache=True``), never at import.
"""

import os as _os

# Numba's TBB layer needs a newer TBB than some systems ship; OpenMP (libgomp) is always
# there. Processes started by labelgen use "spawn", so OpenMP's fork restrictions do not bite.
_os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")
