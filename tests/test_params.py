"""Every parameter and option is checked once, in resolve_params: NaN, inf and out-of-range
values never get through, and the error names the flag and the valid range."""
from __future__ import annotations

import math
import re

import pytest

from conftest import REPO
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


@pytest.mark.parametrize("param", [p for p in EVERY if p.type in (int, float)], ids=lambda p: p.name)
@pytest.mark.parametrize("bad", ["nan", math.nan, "-inf", "1e400", "abc", ""])
def test_nan_inf_and_garbage_never_pass(param, bad):
    if param.allow_inf and bad == "1e400" or (param.allow_inf and bad == "-inf" and param.low is None):
        return  # an open range that takes infinity (view_distance's far end)
    value = [bad] * param.count if param.count > 1 else bad
    known = {param.name: param}
    with pytest.raises(LabelgenError) as err:
        resolve_params({param.name: value}, known)
    assert str(err.value).startswith(param.flag + ": ")


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
    sample = REPO / "sample_meshes"
    src = ([str(sample / "apartment.glb"), "--cameras", str(sample / "apartment_cameras.json")]
           if command == "render" else [str(tmp_path)])
    assert main([command, *src, "--out", str(tmp_path / "out"), "--depth-units-per-meter", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "labelgen: error: --depth-units-per-meter: must be a finite number in (0, inf), got 0\n"
    assert not (tmp_path / "out").exists()
