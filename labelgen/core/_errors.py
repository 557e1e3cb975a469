"""Errors raised for bad input.

Every error a user can cause names the file (or option) at fault and the problem, so that
the command line can print it as one line and exit non-zero.
"""
from __future__ import annotations

import os


class LabelgenError(ValueError):
    """Bad input: ``str(err)`` is ``"<where>: <problem>"`` (or ``"<problem>"`` when ``where`` is None).

    A :class:`ValueError`, so that code catching bad values catches it too."""

    def __init__(self, where: str | os.PathLike | None, problem: str):
        self.where = None if where is None else os.fspath(where)
        self.problem = problem
        super().__init__(problem if self.where is None else f"{self.where}: {problem}")

    def __reduce__(self):  # picklable, so it crosses process pools and Dask workers intact
        return (type(self), (self.where, self.problem))
