"""Label units and their registry.

A :class:`Label` declares its name (the current Taskonomy domain name) and legacy name, what
it needs (``requires``: sources such as ``"gbuffer"``, ``"camera"``, ``"mesh"``, or other
labels by name), its parameters with the Taskonomy defaults, its encoding, and a
``compute`` function that returns the encoded array exactly as it is stored on disk.
Labels that consume other labels receive those labels' *encoded* arrays, as the original
pipeline read them from PNG files; the pipeline passes them in memory.

Modules in this package register their labels on import; :func:`all_labels` imports them.
The modules are public: one per family of labels (``geometric``, ``curvature``, ``rgb``,
``image_edges``, ``keypoints2d``, ``keypoints3d``, ``segmentation``, ``surface_ids``), each with
its label's functions on arrays.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from labelgen.core._errors import LabelgenError

__all__ = ["Param", "Label", "register", "all_labels", "get_label", "all_params"]


@dataclass(frozen=True)
class Param:
    """A parameter with its default and valid values; ``name`` is also the CLI flag
    ``--name-with-dashes``.

    ``type`` converts a value (``float``, ``int``, or a converter such as
    :func:`labelgen.labels.rgb.colour`). ``float`` values must be finite (NaN and inf never
    pass) and ``int`` values whole numbers; ``low``/``high`` bound the value (``open_low``,
    ``open_high``: the bound itself is excluded); ``choices`` lists the allowed values;
    ``optional``: None is allowed (meaning "not given"). ``count`` > 1: a tuple of that many
    values, each checked. ``option``: the flag's name when it is not the parameter's name
    with dashes. :meth:`check` is the one place where values are checked
    (:func:`labelgen.engine._pipeline.resolve_params` calls it for every command).
    """

    name: str
    default: Any
    help: str
    type: Callable = float
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple | None = None
    optional: bool = False
    count: int = 1
    allow_inf: bool = False
    option: str | None = None

    @property
    def flag(self) -> str:
        """The command-line flag: ``--`` and ``option``, or the name with dashes."""
        return "--" + (self.option or self.name.replace("_", "-"))

    def range_text(self) -> str:
        """The valid values in words, e.g. ``a finite number in (0, 180]`` ("" for a converter
        type, whose help says what it takes)."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type not in (int, float):
            return ""
        kind = "an integer" if self.type is int else "a finite number" if not self.allow_inf else "a number"
        if self.low is None and self.high is None:
            return kind
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.open_low or self.low is None else "["
        right = ")" if self.open_high or self.high is None else "]"
        return f"{kind} in {left}{lo}, {hi}{right}"

    def check(self, value):
        """``value`` converted with :attr:`type` and checked; :class:`LabelgenError` naming
        the flag and the valid range otherwise."""
        if value is None:
            if self.optional:
                return None
            raise LabelgenError(self.flag, f"a value is required ({self.range_text()})")
        if self.count > 1:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != self.count:
                raise LabelgenError(self.flag, f"needs {self.count} values, got {value!r}")
            return tuple(self._one(v) for v in value)
        return self._one(value)

    def _one(self, value):
        shown = value if isinstance(value, str) and value.strip() == value and value else repr(value)
        bad = f"must be {self.range_text()}, got {shown}"
        if self.choices is not None:
            if value not in self.choices:
                raise LabelgenError(self.flag, bad)
            return value
        if self.type in (int, float):
            if isinstance(value, bool):
                raise LabelgenError(self.flag, bad)
            try:
                v = int(value) if self.type is int and isinstance(value, (int, str)) else float(value)
            except (TypeError, ValueError, OverflowError):
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    raise LabelgenError(self.flag, bad) from None
            if isinstance(v, float) and (math.isnan(v) or (math.isinf(v) and not (self.allow_inf and self.type is float))):
                raise LabelgenError(self.flag, bad)
            if self.type is int:
                if v != int(v):
                    raise LabelgenError(self.flag, bad)
                v = int(v)
            elif self.type is float:
                v = float(v)
        else:
            try:
                v = self.type(value)
            except LabelgenError:
                raise
            except (TypeError, ValueError) as err:
                raise LabelgenError(self.flag, str(err)) from None
            return v
        if self.low is not None and not (v > self.low if self.open_low else v >= self.low):
            raise LabelgenError(self.flag, bad)
        if self.high is not None and not (v < self.high if self.open_high else v <= self.high):
            raise LabelgenError(self.flag, bad)
        return v


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
                if q.name == p.name and q != p:
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
