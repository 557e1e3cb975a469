"""Numba-compiled numeric kernels for labelgen.

Kernels take and return numpy arrays and do no I/O. Each has a slow, obviously-correct
reference (usually scikit-image or scipy) that the tests hold it against. Kernels are
compiled lazily on first call and cached on disk (``cache=True``), never at import. The
threading layer of the parallel kernels is chosen by :func:`labelgen.runtime.configure`.
"""
