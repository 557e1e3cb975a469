"""Which labels a job makes, and what a job did (:class:`Summary`)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from labelgen.core._errors import LabelgenError
from labelgen.engine._pipeline import plan
from labelgen.labels import all_labels, get_label

__all__ = ["Summary", "check_tasks", "default_render_tasks", "default_derive_tasks"]


@dataclass
class Summary:
    """What a render or derive job did.

    Attributes
    ----------
    views : views written.
    files : files written.
    skipped : ``{(task, reason): number of views}`` of tasks that could not be made.
    failures : one message per failure (``"<file>: <problem>"``), in the order they happened.
    notes : ``{(domain, note): number of files}`` of input files read as shipped rather than as
        encoded (JPEG data under a ``.png`` name, an RGBA rgb; see
        :func:`labelgen.engine._sources.read_shipped`).
    """

    views: int = 0
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)

    def add(self, other: "Summary"):
        self.views += other.views
        self.files += other.files
        self.skipped.update(other.skipped)
        self.failures.extend(other.failures)
        self.notes.update(other.notes)

    def lines(self) -> list[str]:
        out = [f"{self.views} views, {self.files} files written"]
        for (task, reason), n in sorted(self.skipped.items()):
            out.append(f"skipped {task} on {n} views: {reason}")
        for (domain, note), n in sorted(self.notes.items()):
            out.append(f"note: {n} {domain} file{'s' if n != 1 else ''}: {note}")
        if self.failures:
            out.append(f"{len(self.failures)} failures")
        return out

    def to_dict(self) -> dict:
        return {"views": self.views, "files": self.files,
                "skipped": {f"{t}: {r}": n for (t, r), n in sorted(self.skipped.items())},
                "failures": list(self.failures),
                "notes": {f"{d}: {note}": n for (d, note), n in sorted(self.notes.items())}}


def check_tasks(tasks: Iterable[str] | None) -> list[str] | None:
    """Current names of ``tasks`` (legacy names accepted); error for unknown names."""
    if tasks is None:
        return None
    if isinstance(tasks, str):
        tasks = [tasks]
    out = []
    for t in tasks:
        try:
            out.append(get_label(t).name)
        except KeyError:
            raise LabelgenError("--tasks", f"unknown task '{t}' (see 'labelgen tasks')") from None
    return out


def default_render_tasks(mesh) -> list[str]:
    """Every label that a render of ``mesh`` can produce (opt-in labels such as fragments aside)."""
    sources = {"gbuffer": None, "camera": None, "mesh": mesh}
    _, skipped = plan(list(all_labels()), sources)
    return [t for t, lab in all_labels().items() if t not in skipped and lab.in_default(sources)]


def default_derive_tasks() -> list[str]:
    """Every label computable from a building folder's images (no mesh, no render)."""
    return [n for n, lab in all_labels().items() if "gbuffer" not in lab.requires and "mesh" not in lab.requires]
