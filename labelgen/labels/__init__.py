"""Label units and their registry.

A :class:`Label` declares its name (the current Taskonomy domain name) and legacy name, what
it needs (``requires``: sources such as ``"gbuffer"``, ``"camera"``, ``"mesh"``, or other
labels by name), its parameters with the Taskonomy defaults, its encoding, and a
``compute`` function that returns the encoded array exactly as it is stored on disk.
Labels that consume other labels receive those labels' *encoded* arrays, as the original
pipeline read them from PNG files; the pipeline passes them in memory.

Modules in this package register their labels on import; :func:`all_labels` imports them.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

#: Inputs that are not labels. ``gbuffer``: the rendered geometry buffer; ``camera``: the
#: view's :class:`~labelgen.cameras.Camera`; ``mesh``: the :class:`~labelgen.meshes.Mesh`.
SOURCES = ("gbuffer", "camera", "mesh")


@dataclass(frozen=True)
class Param:
    """A label parameter: ``name`` (also the CLI flag ``--name-with-dashes``), default, help."""

    name: str
    default: Any
    help: str
    type: type = float

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Label:
    """One label: what it needs, its parameters, and how it is computed and stored.

    ``compute(inputs, params)`` gets ``inputs`` (a dict from each name in ``requires`` to
    its value) and ``params`` (a dict with this label's parameters) and returns the encoded
    array. ``decode(array, params)`` turns a stored array back into physical values (NaN
    for invalid pixels). ``available(sources)`` may return a reason why the label cannot be
    made from the given sources (for example, a mesh without colour has no ``rgb``).
    ``default`` says whether ``labelgen render`` makes the label when no tasks are given:
    a bool, or a function of the sources (``{"mesh": ...}``) returning one.
    """

    name: str
    requires: tuple[str, ...]
    compute: Callable[[dict, dict], np.ndarray]
    storage: str  # "gray8", "gray16", "rgb8" or "json"
    encoding: str
    invalid: str
    legacy_name: str | None = None
    params: tuple[Param, ...] = ()
    decode: Callable[[np.ndarray, dict], np.ndarray] | None = None
    available: Callable[[dict], str | None] | None = None
    description: str = ""
    default: bool | Callable[[dict], bool] = True

    def in_default(self, sources) -> bool:
        """Whether this label is in the default render set for ``sources``."""
        return bool(self.default(sources) if callable(self.default) else self.default)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def check_array(self, array: np.ndarray, where) -> str | None:
        """Reason why a stored array cannot be this label's input, or None if it can."""
        want = {"gray8": (np.uint8, 2), "gray16": (np.uint16, 2), "rgb8": (np.uint8, 3)}.get(self.storage)
        if want is None:
            return None
        dtype, ndim = want
        if array.dtype != dtype:
            return f"{self.name} must be {np.dtype(dtype).itemsize * 8}-bit, file is {array.dtype.itemsize * 8}-bit"
        if ndim == 3 and (array.ndim != 3 or array.shape[2] != 3):
            return f"{self.name} must be RGB, file has shape {array.shape}"
        if ndim == 2 and array.ndim != 2:
            return f"{self.name} must be single-channel, file has shape {array.shape}"
        return None


_REGISTRY: dict[str, Label] = {}
_LOADED = False


def register(label: Label) -> Label:
    """Add ``label`` to the registry (its parameters must agree with same-named ones)."""
    if label.name in _REGISTRY and _REGISTRY[label.name] is not label:
        raise ValueError(f"label '{label.name}' registered twice")
    for p in label.params:
        for other in _REGISTRY.values():
            for q in other.params:
                if q.name == p.name and (q.default != p.default or q.type is not p.type):
                    raise ValueError(f"parameter '{p.name}' of '{label.name}' disagrees with '{other.name}'")
    _REGISTRY[label.name] = label
    return label


def all_labels() -> dict[str, Label]:
    """Every registered label, by name, in registration order (imports the label modules)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
            importlib.import_module(f"{__name__}.{mod}")
    return dict(_REGISTRY)


def get_label(name: str) -> Label:
    """The label called ``name`` (current or legacy domain name)."""
    labels = all_labels()
    if name in labels:
        return labels[name]
    for lab in labels.values():
        if lab.legacy_name == name:
            return lab
    raise KeyError(name)


def all_params() -> dict[str, Param]:
    """Every parameter of every label, by name."""
    out: dict[str, Param] = {}
    for lab in all_labels().values():
        for p in lab.params:
            out.setdefault(p.name, p)
    return out
