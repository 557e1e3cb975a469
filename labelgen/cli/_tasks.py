"""``labelgen tasks``: every label with its inputs and encoding."""
from __future__ import annotations

from labelgen.labels import all_labels


def add_parser(sub):
    return sub.add_parser("tasks", help="list every label with its inputs and encoding")


def run(args) -> int:
    rows = [("label", "legacy", "needs", "stored as", "invalid", "what: encoding")]
    for lab in all_labels().values():
        rows.append((lab.name, lab.legacy_name or "-", ",".join(lab.requires), lab.storage, lab.invalid,
                     f"{lab.description}: {lab.encoding}" if lab.description else lab.encoding))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return 0
