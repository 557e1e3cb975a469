"""Every parameter and option is checked once, in resolve_params: NaN, inf and out-of-range
values never get through, and the error names the flag and the valid range."""
from __future__ import annotations

import math
import re

import pytest

from conftest import APARTMENT, APARTMENT_CAMERAS
from labelgen.cli import main
from labelgen.core._errors import LabelgenError
from labelgen.labels import Param, all_params
from labelgen.engine._pipeline import resolve_params
from labelgen.sample._sampling import SAMPLE_PARAMS

EVERY = [*all_params().values(), *SAMPLE_PARAMS.values()]


def test_defaults_are_valid():
    assert resolve_params() == {n: p.default for n, p in all_params().items()}
    sample = resolve_params({}, SAMPLE_PARAMS)
    assert set(sample) == set(SAMPLE_PARAMS)


GARBAGE = ["nan", math.nan, "-inf", "1e400", "abc", ""]


def _takes_infinity(param, bad) -> bool:
    """Whether ``bad`` is an infinity that ``param``'s range takes: a float parameter with
    ``allow_inf`` and no bound on that side (view_distance's far end)."""
    if not (param.allow_inf and param.type is float):
        return False
    return (bad == "1e400" and param.high is None) or (bad == "-inf" and param.low is None)


NUMERIC = [p for p in EVERY if p.type in (int, float)]
REFUSED = [pytest.param(p, bad, id=f"{p.name}-{bad!r}") for p in NUMERIC for bad in GARBAGE
           if not _takes_infinity(p, bad)]
TAKEN = [pytest.param(p, bad, id=f"{p.name}-{bad!r}") for p in NUMERIC for bad in GARBAGE
         if _takes_infinity(p, bad)]


def test_the_infinities_taken_are_the_intended_ones():
    """Every numeric parameter with every garbage value is in REFUSED or TAKEN (neither test
    passes a case unchecked); TAKEN holds only view_distance's open far end, so a range that
    starts taking infinity is added here knowingly."""
    assert {(c.values[0].name, c.values[1]) for c in TAKEN} == {("view_distance", "1e400")}


@pytest.mark.parametrize(("param", "bad"), REFUSED)
def test_nan_inf_and_garbage_never_pass(param, bad):
    value = [bad] * param.count if param.count > 1 else bad
    known = {param.name: param}
    with pytest.raises(LabelgenError) as err:
        resolve_params({param.name: value}, known)
    assert str(err.value).startswith(param.flag + ": ")


@pytest.mark.parametrize(("param", "bad"), TAKEN)
def test_infinity_passes_where_the_range_is_open(param, bad):
    """An infinity on a side the range leaves open (``allow_inf``) is taken, as that infinity."""
    value = [bad] * param.count if param.count > 1 else bad
    inf = math.inf if bad == "1e400" else -math.inf
    want = (inf,) * param.count if param.count > 1 else inf
    assert resolve_params({param.name: value}, {param.name: param}) == {param.name: want}


@pytest.mark.parametrize("param", [p for p in EVERY if p.type in (int, float)
                                   and (p.low is not None or p.high is not None)], ids=lambda p: p.name)
def test_values_just_outside_the_range_are_refused(param):
    outside = []
    if param.low is not None:
        outside.append(param.low if param.open_low else param.low - (1 if param.type is int else 1e-9))
    if param.high is not None:
        outside.append(param.high if param.open_high else param.high + (1 if param.type is int else 1e-9))
    for v in outside:
        with pytest.raises(LabelgenError, match="^" + re.escape(f"{param.flag}: must be {param.range_text()}, got")):
            resolve_params({param.name: [v] * param.count if param.count > 1 else v}, {param.name: param})


def test_integers_must_be_whole():
    p = Param("n", 3, "a count", int, low=1)
    assert p.check("12345678901234567890") == 12345678901234567890
    assert p.check(4.0) == 4 and p.check("4") == 4
    for bad in (2.5, "2.5", True):
        with pytest.raises(LabelgenError, match="^--n: must be an integer in \\[1, inf\\)"):
            p.check(bad)


def test_unknown_parameter_is_a_key_error():
    with pytest.raises(KeyError):
        resolve_params({"no_such_parameter": 1})


@pytest.mark.parametrize("command", ["render", "derive"])
def test_cli_depth_units_zero_is_refused(tmp_path, capsys, command):
    src = [str(APARTMENT), "--cameras", str(APARTMENT_CAMERAS)] if command == "render" else [str(tmp_path)]
    assert main([command, *src, "--out", str(tmp_path / "out"), "--depth-units-per-meter", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "labelgen: error: --depth-units-per-meter: must be a finite number in (0, inf), got 0\n"
    assert not (tmp_path / "out").exists()
