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


class OutputError(LabelgenError):
    """A file could not be written (no space left, a read-only or vanished folder, no
    permission, ...): ``errno`` says why (None when not from the operating system). A failure
    of the machine rather than bad input: exit status 1."""

    exit_status = 1

    def __init__(self, where: str | os.PathLike | None, problem: str, errno: int | None = None):
        super().__init__(where, problem)
        self.errno = errno

    def __reduce__(self):
        return (type(self), (self.where, self.problem, self.errno))
