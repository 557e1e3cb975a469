"""Resolve the label graph for one view and compute the requested labels in memory.

Each requested task is computed; each of its inputs is taken from the view's sources when
present there (a rendered geometry buffer, a camera, labels read from an existing building
folder) and otherwise computed, recursively. Nothing is written and read back in between.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from labelgen.labels import Label, Param, all_labels, all_params, get_label


class LazySources(Mapping):
    """A mapping whose values are produced on first access by zero-argument loaders.

    ``notes``: what was noted while loading values (``{name: [note]}``; see
    :func:`labelgen.engine.view_sources`)."""

    def __init__(self, loaders: dict[str, Callable[[], Any]] | None = None, **values):
        self._loaders = dict(loaders or {})
        self._values = dict(values)
        self.notes: dict[str, list[str]] = {}

    def __getitem__(self, key):
        if key not in self._values:
            if key not in self._loaders:
                raise KeyError(key)
            self._values[key] = self._loaders[key]()
        return self._values[key]

    def __iter__(self):
        return iter(set(self._values) | set(self._loaders))

    def __len__(self):
        return len(set(self._values) | set(self._loaders))

    def __contains__(self, key):
        return key in self._values or key in self._loaders


def resolve_params(overrides: Mapping[str, Any] | None = None,
                   known: Mapping[str, Param] | None = None) -> dict[str, Any]:
    """Every parameter in ``known`` (default: all label parameters): its default, updated with
    ``overrides`` (None values mean "not given"), each value converted and checked against
    its :class:`~labelgen.labels.Param` (range, finiteness, integer-ness, choices).

    This is the one place where parameter values are checked, for every command. A bad value
    raises :class:`~labelgen.core._errors.LabelgenError` naming the flag and the valid range; an
    unknown name raises ``KeyError``.
    """
    known = all_params() if known is None else known
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for name in given:
        if name not in known:
            raise KeyError(f"unknown parameter '{name}' (known: {', '.join(sorted(known))})")
    return {name: p.check(given.get(name, p.default)) for name, p in known.items()}


def plan(tasks, sources: Mapping) -> tuple[list[str], dict[str, str]]:
    """Order in which to compute ``tasks`` from ``sources``, and the tasks that cannot be made.

    Returns ``(order, skipped)``: ``order`` lists the labels to compute (dependencies first,
    each once); ``skipped`` maps each task that cannot be made to the reason.
    """
    labels = all_labels()
    order: list[str] = []
    skipped: dict[str, str] = {}
    reasons: dict[str, str | None] = {}

    def visit(name: str, requested: bool, stack: tuple[str, ...]) -> str | None:
        if not requested and name in sources:
            return None
        if name in reasons:
            return reasons[name]
        if name in stack:
            raise ValueError(f"label dependency cycle: {' -> '.join(stack + (name,))}")
        if name not in labels:
            reasons[name] = f"needs '{name}', which is not available"
            return reasons[name]
        lab = labels[name]
        reason = None
        for req in lab.requires:
            sub = visit(req, False, stack + (name,))
            if sub is not None:
                reason = sub if sub.startswith("needs") else f"needs {req}: {sub}"
                break
        if reason is None and lab.available is not None:
            reason = lab.available(sources)
        reasons[name] = reason
        if reason is None:
            order.append(name)
        return reason

    for task in tasks:
        reason = visit(get_label(task).name, True, ())
        if reason is not None:
            skipped[task] = reason
    return order, skipped


def compute_view(tasks, sources: Mapping, params: dict[str, Any] | None = None,
                 ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Compute ``tasks`` for one view.

    Returns ``(results, skipped)``: the encoded arrays of the requested tasks, and the
    requested tasks that could not be made from ``sources`` with the reason.
    """
    params = resolve_params(params)
    order, skipped = plan(tasks, sources)
    values: dict[str, Any] = {}
    for name in order:
        lab: Label = all_labels()[name]
        inputs = {r: (values[r] if r in values else sources[r]) for r in lab.requires}
        values[name] = lab.compute(inputs, {p.name: params[p.name] for p in lab.params})
    wanted = [get_label(t).name for t in tasks]
    return {name: values[name] for name in wanted if name in values}, skipped
