"""Fuzzed Python plan files and ``-p NAME=VALUE`` overrides: parsing the overrides, loading
the plan (its parameters validated against the plan's signature) and checking it on the rig
(a dry run) either work or raise a ``ConfigError`` naming the ``-p`` parameter or the file;
a check's problems are reported, never raised.  Plans with odd signatures and odd behaviour
(yielding non-commands, looping without time, a wait of years) end the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.errors import ConfigError, IontoError
from mock_daq import load_preset
from protocols.check import check_protocol
from protocols.loader import load, parse_overrides

RIG = load_preset("cortex")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "protocols/examples/titrate_then_antagonist.py"

TYPED_PLAN = '''from typing import Annotated, Literal

from pydantic import Field

from protocols import Eject, Retain, Wait


def plan(barrel: str = "glu", current_nA: Annotated[float, Field(gt=0, le=150)] = 20.0,
         currents_nA: list[float] = [10.0, 20.0], repeats: int = 1, order: Literal["up", "down"] = "up",
         verbose: bool = False, eject_s: float = 0.5):
    levels = sorted(currents_nA, reverse=order == "down")
    for _ in range(repeats):
        for cur in [current_nA, *levels]:
            yield Eject(barrel, cur)
            yield Wait(eject_s)
            yield Retain(barrel)
            yield Wait(0.5)
'''
NAMES = ("barrel", "current_nA", "currents_nA", "repeats", "order", "verbose", "eject_s", "bic_nA", "bic_s",
         "target_change_pct")
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10), st.lists(st.one_of(st.floats(-500, 500), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.sampled_from(["glu", "gaba", "up", "down"]))
override = st.one_of(
    st.tuples(st.sampled_from(NAMES) | st.text(max_size=6), odd_values).map(
        lambda nv: f"{nv[0]}={yaml.safe_dump(nv[1], default_flow_style=True).strip().removesuffix('...').strip()}"),
    st.text(max_size=20))


@pytest.fixture(scope="module")
def typed_plan(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("plans") / "typed.py"
    p.write_text(TYPED_PLAN)
    return p


def _load_and_check(path: Path, items: list[str]) -> None:
    try:
        proto = load(path, parse_overrides(items))
    except ConfigError as exc:
        assert str(path) in str(exc) or "-p" in str(exc), str(exc)
        return
    report = check_protocol(proto, RIG, "sim:cortex", max_duration_s=4 * 3600)
    for problem in report.problems:
        assert "Traceback" not in problem


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(override, max_size=3))
def test_fuzzed_overrides_of_a_typed_plan(typed_plan, items):
    _load_and_check(typed_plan, items)


@settings(max_examples=40, deadline=None)
@given(items=st.lists(override, max_size=3))
def test_fuzzed_overrides_of_the_example_plan(items):
    _load_and_check(EXAMPLE, items)


ODD_PLANS = {
    "not a generator": "def plan():\n    return 1\n",
    "no plan": "x = 1\n",
    "syntax error": "def plan(:\n    yield\n",
    "raises on import": "raise ValueError('nope')\n",
    "a required parameter": "from protocols import Wait\ndef plan(current_nA):\n    yield Wait(1)\n",
    "*args and **kwargs": "from protocols import Wait\ndef plan(*args, **kw):\n    yield Wait(1)\n",
    "an unknown annotation": "from protocols import Wait\nclass Thing: pass\n"
                             "def plan(t: Thing = None):\n    yield Wait(1)\n",
    "yields a number": "def plan():\n    yield 5\n",
    "yields None": "def plan():\n    yield\n",
    "loops without time": "from protocols import Mark\ndef plan():\n    while True:\n        yield Mark('x')\n",
    "a wait of years": "from protocols import Wait\ndef plan():\n    yield Wait(1e9)\n",
    "a negative wait": "from protocols import Wait\ndef plan():\n    yield Wait(-1)\n",
    "a NaN current": "from protocols import Eject, Wait\ndef plan():\n    yield Eject('glu', float('nan'))\n"
                     "    yield Wait(1)\n",
    "an unknown barrel": "from protocols import Eject, Wait\ndef plan():\n    yield Eject('xyz', 10)\n    yield Wait(1)\n",
    "a check that raises": "from protocols import Wait\ndef check(params, pipette):\n    raise KeyError('k')\n"
                           "def plan():\n    yield Wait(1)\n",
    "a check that returns junk": "from protocols import Wait\ndef check(params, pipette):\n    return [1, None]\n"
                                 "def plan():\n    yield Wait(1)\n",
    "raises on close": "from protocols import Wait\ndef plan():\n    try:\n        yield Wait(1)\n"
                       "        raise RuntimeError('bug')\n    finally:\n        yield Wait(1)\n",
}


@pytest.mark.parametrize("name", sorted(ODD_PLANS))
def test_odd_plan_files_give_a_config_error_or_a_reported_problem(tmp_path, name):
    path = tmp_path / "odd.py"
    path.write_text(ODD_PLANS[name])
    try:
        proto = load(path, {})
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    try:
        report = check_protocol(proto, RIG, "sim:cortex", max_duration_s=4 * 3600)
    except IontoError as exc:  # a clear error is fine too; anything else is a bug
        assert str(path) in str(exc) or "odd" in str(exc), str(exc)
        return
    for problem in report.problems:
        assert "Traceback" not in problem


def test_an_annotation_no_protocol_can_set_is_named(tmp_path):
    """Found by this fuzz: pydantic's schema error escaped as an internal error."""
    path = tmp_path / "thing.py"
    path.write_text(ODD_PLANS["an unknown annotation"])
    with pytest.raises(ConfigError, match=r"thing\.py: .*parameter 't' is annotated Thing, not a type a protocol "
                                          r"can set"):
        load(path, {})
    path.write_text(ODD_PLANS["*args and **kwargs"])
    with pytest.raises(ConfigError, match=r"thing\.py: .*no \*args or \*\*kwargs"):
        load(path, {})
