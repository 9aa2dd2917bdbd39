import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.errors import CurrentLimitError
from daq.schedule import AOSchedule


def test_render_piecewise_and_balance(pipette):
    s = AOSchedule(pipette)
    s.set_current("glu", -20.0, 100)
    s.set_current("glu", 15.0, 150)
    cur = s.render_nA(90, 70)
    g = pipette.index("glu")
    assert np.all(cur[:10, g] == 15.0)
    assert np.all(cur[10:60, g] == -20.0)
    assert np.all(cur[60:, g] == 15.0)
    assert np.allclose(cur.sum(axis=1), 0.0)


def test_changes_in_reports_exact_samples(pipette):
    s = AOSchedule(pipette)
    s.set_current("gaba", 30.0, 1234)
    s.set_current("gaba", -10.0, 5678)
    ch = s.changes_in(0, 10000)
    assert [(c.sample_index, c.current_nA) for c in ch] == [(1234, 30.0), (5678, -10.0)]


def test_written_samples_are_frozen(pipette):
    s = AOSchedule(pipette)
    s.render_volts(0, 500)
    with pytest.raises(ValueError, match="already written"):
        s.set_current("glu", -20.0, 499)
    s.set_current("glu", -20.0, 500)


def test_refused_change_leaves_schedule_unchanged(pipette):
    s = AOSchedule(pipette.model_copy(update={"max_total_nA": 200}))
    s.set_current("glu", -100.0, 10)
    # every barrel within its own limit, but the balance would carry 240 nA > 200
    with pytest.raises(CurrentLimitError, match="balance"):
        s.set_currents({"nacl": -100.0, "gaba": -40.0}, 20)
    with pytest.raises(CurrentLimitError, match="gaba"):
        s.set_current("gaba", 101.0, 20)
    assert s.current_at("gaba", 30) == -10.0
    assert s.current_at("nacl", 30) == 0.0


def test_a_change_cannot_make_a_scheduled_future_state_unsafe(pipette):
    s = AOSchedule(pipette.model_copy(update={"max_total_nA": 200}))
    s.set_current("nacl", -100.0, 1000)  # future: -100 + glu retain 15 - gaba 10 -> fine
    with pytest.raises(CurrentLimitError):
        s.set_current("glu", -150.0, 10)  # now fine alone, but at sample 1000 the sum is -260


def test_balance_cannot_be_commanded(pipette):
    with pytest.raises(CurrentLimitError, match="balance"):
        AOSchedule(pipette).set_current("bal", 5.0, 0)


def test_safe_all_drops_later_changes_and_ends_safe(pipette):
    s = AOSchedule(pipette)
    s.set_current("glu", -50.0, 10)
    s.set_current("glu", -80.0, 1000)
    s.safe_all(500)
    assert s.current_at("glu", 2000) == 15.0
    assert s.ends_safe()


def test_prune_keeps_rendering_identical(pipette):
    s = AOSchedule(pipette)
    for k in range(50):
        s.set_current("glu", -float(k), 100 * k)
    before = s.render_nA(0, 6000)
    s2 = AOSchedule(pipette)
    for k in range(50):
        s2.set_current("glu", -float(k), 100 * k)
    s2.render_volts(0, 3000)
    s2.prune(2999)
    assert np.array_equal(before[3000:], s2.render_nA(3000, 3000))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["glu", "gaba", "nacl"]), st.floats(-300, 300, allow_nan=False),
                          st.integers(0, 5000)), max_size=30))
def test_no_rendered_sample_exceeds_a_limit(pipette, changes):
    """Property: whatever changes are attempted, every rendered sample is within limits."""
    s = AOSchedule(pipette)
    for barrel, cur, at in sorted(changes, key=lambda c: c[2]):
        try:
            s.set_current(barrel, cur, at)
        except CurrentLimitError:
            pass
    cur = s.render_nA(0, 6000)
    assert pipette.violations(cur) == []
