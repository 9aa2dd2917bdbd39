import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from daq.errors import ConfigError, CurrentLimitError
from daq.pipette import Pipette
from tests.daq.strategies import pipettes


def test_safe_currents_retain_opposite_to_polarity_and_balance_sums_to_zero(pipette):
    safe = pipette.safe_currents_nA()
    assert safe[pipette.index("glu")] == 15.0  # anion retained with +
    assert safe[pipette.index("gaba")] == -10.0  # cation retained with -
    assert safe[pipette.index("nacl")] == 0.0
    assert safe.sum() == pytest.approx(0.0)


def test_eject_sign_comes_from_polarity(pipette):
    assert pipette.barrel("glu").eject_current_nA(20) == -20.0
    assert pipette.barrel("gaba").eject_current_nA(20) == 20.0
    with pytest.raises(CurrentLimitError, match="no fixed polarity"):
        pipette.barrel("nacl").eject_current_nA(20)
    assert pipette.barrel("nacl").eject_current_nA(20, polarity=-1) == -20.0
    with pytest.raises(CurrentLimitError, match="ejects with polarity"):
        pipette.barrel("glu").eject_current_nA(20, polarity=+1)


def test_limits_name_barrel_and_value(pipette):
    cur = pipette.with_balance(np.array([-151.0, 0, 0, 0]))
    with pytest.raises(CurrentLimitError, match=r"'glu'.*151.*150"):
        pipette.check(cur)
    cur = pipette.with_balance(np.array([16.0 + 50, 0, 0, 0]))  # retain direction above 50
    with pytest.raises(CurrentLimitError, match="retain-direction"):
        pipette.check(cur)


def test_total_limit_on_balance(pipette):
    cur = pipette.with_balance(np.array([-150.0, 100.0, -100.0, 0]))  # sum -150 → balance +150 ok
    pipette.check(cur)
    cur = pipette.with_balance(np.array([-150.0, -10.0, -100.0, 0]))
    cur[1] = -10.0  # gaba retain
    cur = pipette.with_balance(cur)
    assert abs(cur[3]) == pytest.approx(260)
    pipette.check(cur)
    p2 = pipette.model_copy(update={"max_total_nA": 200})
    with pytest.raises(CurrentLimitError, match="balance"):
        p2.check(cur)


def test_volts_from_gain(pipette):
    v = pipette.to_volts(pipette.safe_currents_nA())
    assert v.shape == (4,)
    assert v[0] == pytest.approx(0.15)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"pipette: barrels\.0\.polarity"):
        Pipette.from_mapping({"barrels": [{"name": "a", "drug": "x", "polarity": "sideways"}]})
    with pytest.raises(ConfigError, match="needs a polarity"):
        Pipette.from_mapping({"barrels": [{"name": "a", "drug": "x"}]})
    with pytest.raises(ConfigError, match="unique"):
        Pipette.from_mapping({"barrels": [{"name": "a", "drug": "x", "polarity": 1},
                                          {"name": "a", "drug": "y", "polarity": 1}]})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-200, 200, allow_nan=False), min_size=3, max_size=3))
@example([-150.0, 50.0, -100.0])  # every drug barrel at its limit: converted
@example([-20.0, 40.0, 0.0])  # an ordinary ejection: converted
@example([-151.0, 0.0, 0.0])  # just beyond glutamate's limit: refused
def test_to_volts_never_converts_a_current_above_a_limit(pipette, currents):
    """Property: a sample within every limit is converted (and every limit holds for what
    comes out); a sample beyond one is refused, with nothing converted."""
    cur = pipette.with_balance(np.array([*currents, 0.0]))
    violations = pipette.violations(cur)
    if violations:
        with pytest.raises(CurrentLimitError):
            pipette.to_volts(cur)
        return
    volts = pipette.to_volts(cur)  # within the limits: must convert
    assert volts.shape == (len(pipette.barrels),)
    for i, b in enumerate(pipette.barrels):
        i_nA = volts[i] * b.command_gain_nA_per_V
        assert i_nA == pytest.approx(cur[i])
        assert abs(i_nA) <= b.limit_for(i_nA) + 1e-6
        if b.role == "balance":
            assert abs(i_nA) <= pipette.max_total_nA + 1e-6


def test_limit_checks_convert_the_currents_they_allow(pipette):
    """The examples the property above must not skip: in-limit samples convert exactly."""
    ok = pipette.with_balance(np.array([-150.0, 50.0, -100.0, 0.0]))
    assert pipette.violations(ok) == []
    assert pipette.to_volts(ok) == pytest.approx(ok / 100.0)  # every gain is 100 nA/V
    bad = pipette.with_balance(np.array([-151.0, 0.0, 0.0, 0.0]))
    assert pipette.violations(bad)
    with pytest.raises(CurrentLimitError, match=r"'glu'.*151.*150"):
        pipette.to_volts(bad)


@settings(max_examples=150, deadline=None)
@given(pipettes(), st.lists(st.floats(-700, 700, allow_nan=False), min_size=6, max_size=6))
def test_random_pipettes_never_convert_a_current_above_a_limit(p, values):
    cur = p.with_balance(np.array(values[: len(p.barrels)]))
    try:
        volts = p.to_volts(cur)
    except CurrentLimitError:
        assert p.violations(cur)
        return
    assert p.violations(cur) == []
    assert np.all(np.abs(volts) <= p.ao_limits_V() + 1e-9)  # what a device would refuse, it never gets
    back = p.from_volts(volts)
    assert np.allclose(back, cur[[i for i, b in enumerate(p.barrels) if b.ao_channel]])


@settings(max_examples=150, deadline=None)
@given(pipettes(), st.lists(st.lists(st.floats(-700, 700, allow_nan=False), min_size=6, max_size=6),
                            min_size=1, max_size=8))
def test_a_block_is_refused_exactly_when_one_of_its_samples_is(p, rows):
    """Checking a whole block at once (per-barrel extremes) finds what checking each sample finds."""
    block = p.with_balance(np.array([r[: len(p.barrels)] for r in rows]))
    per_sample = [p.violations(row) for row in block]
    assert bool(p.violations(block)) == any(per_sample)
    def kinds(msgs):  # which limit of which barrel, without the values
        return {re.sub(r"-?[0-9][0-9.e+-]* nA", "", m) for m in msgs}

    assert kinds(p.violations(block)) == kinds(m for msgs in per_sample for m in msgs)


def test_monitor_and_command_conversions(pipette):
    glu = pipette.barrel("glu")
    assert glu.command_volts(-50.0) == pytest.approx(-0.5)
    assert glu.current_from_command(-0.5) == pytest.approx(-50.0)
    with pytest.raises(ConfigError, match="no current monitor"):
        glu.current_from_monitor(0.1)
    b = glu.model_copy(update={"monitor_gain_V_per_nA": 0.05})
    assert b.current_from_monitor(0.75) == pytest.approx(15.0)


def test_ao_limits_follow_barrel_and_total_limits(pipette):
    lim = pipette.ao_limits_V()
    assert lim.tolist() == pytest.approx([1.5, 1.0, 1.0, 3.0])  # 150, 100, 100 nA; balance 300 nA
    tight = pipette.model_copy(update={"max_total_nA": 120})
    assert tight.ao_limits_V()[-1] == pytest.approx(1.2)
