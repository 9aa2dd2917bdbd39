import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.errors import CurrentLimitError
from daq.schedule import AOSchedule
from tests.daq.strategies import pipettes


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
    s = _attempt(AOSchedule(pipette), changes)
    cur = s.render_nA(0, 6000)
    assert pipette.violations(cur) == []


def _attempt(s: AOSchedule, changes: list[tuple[str, float, int]]) -> AOSchedule:
    """Try every change in time order; refused ones leave the schedule as it was."""
    for barrel, cur, at in sorted(changes, key=lambda c: c[2]):
        try:
            s.set_current(barrel, cur, at)
        except CurrentLimitError:
            pass
    return s


# --- random schedules on random pipettes, with and without a slew limit -----------------------

@settings(max_examples=120, deadline=None)
@given(st.data())
def test_random_schedules_on_random_pipettes_never_render_a_sample_above_a_limit(data):
    p = data.draw(pipettes())
    rate = data.draw(st.sampled_from([1000.0, 20000.0]))
    s = AOSchedule(p, rate_hz=rate)
    names = [b.name for b in p.commanded]
    changes = data.draw(st.lists(st.tuples(st.sampled_from(names), st.floats(-700, 700, allow_nan=False),
                                           st.integers(0, 4000)), max_size=25))
    _attempt(s, changes)
    cur = s.render_nA(0, 6000)
    assert p.violations(cur) == []
    volts = s.render_volts(0, 6000)  # the second check passes too
    assert np.all(np.abs(volts) <= p.ao_limits_V() + 1e-9)
    if s.step_nA is not None:  # no commanded current moves faster than the slew limit
        cmd = [i for i, b in enumerate(p.barrels) if b.role != "balance"]
        assert np.all(np.abs(np.diff(cur[:, cmd], axis=0)) <= s.step_nA + 1e-6)
    s.safe_all(6000)
    assert s.ends_safe()


def test_slew_limit_ramps_from_the_change_sample(pipette):
    p = pipette.model_copy(update={"slew_limit_nA_per_ms": 10.0})  # 10 nA/ms = 0.5 nA per sample at 20 kHz
    s = AOSchedule(p, rate_hz=20000.0)
    g = p.index("glu")
    s.set_current("glu", -35.0, 1000)  # from +15 to -35: 50 nA → 100 samples of ramp
    cur = s.render_nA(990, 130)[:, g]
    assert np.all(cur[:11] == 15.0)  # unchanged up to and including the change sample
    assert cur[12] == pytest.approx(14.0)
    assert cur[10 + 100] == pytest.approx(-35.0) and np.all(cur[110:] == -35.0)
    # rendering in pieces gives the same samples; pruning does not change them either
    pieces = np.concatenate([s.render_nA(990 + k, 10)[:, g] for k in range(0, 130, 10)])
    assert np.array_equal(pieces, cur)
    s.render_volts(0, 1050)
    s.prune(1049)
    assert np.array_equal(s.render_nA(1050, 70)[:, g], cur[60:130])


def test_slew_ramps_are_checked_when_a_change_is_added(pipette):
    """Barrels ramping at one rate can pass through a state worse than either end: two short
    rises finish while a long fall is still under way, so the sum overshoots."""
    nacl = pipette.barrel("nacl").model_copy(update={"max_eject_nA": 200.0})
    barrels = tuple(nacl if b.name == "nacl" else b for b in pipette.barrels)
    p = pipette.model_copy(update={"barrels": barrels, "slew_limit_nA_per_ms": 1.0, "max_total_nA": 120.0})
    s = AOSchedule(p, rate_hz=20000.0)
    s.set_currents({"glu": -50.0, "nacl": 150.0}, 0)  # sum 90 nA: within the total limit
    s.render_volts(0, 10_000)
    # the end state sums to -10 nA, but after 2000 samples glu and gaba have risen 100 nA each
    # while nacl has fallen only 100: the balance would carry 190 nA > 120
    with pytest.raises(CurrentLimitError, match="balance"):
        s.set_currents({"glu": 50.0, "gaba": 90.0, "nacl": -150.0}, 10_000)
    without_slew = AOSchedule(p.model_copy(update={"slew_limit_nA_per_ms": None}), rate_hz=20000.0)
    without_slew.set_currents({"glu": -50.0, "nacl": 150.0}, 0)
    without_slew.set_currents({"glu": 50.0, "gaba": 90.0, "nacl": -150.0}, 10_000)  # steps: fine


def test_render_refuses_an_unsafe_sample_even_if_the_schedule_holds_one(pipette):
    s = AOSchedule(pipette)
    s.set_current("glu", -50.0, 100)
    s._val[pipette.index("glu")][-1] = -500.0  # a bug elsewhere corrupts the schedule
    with pytest.raises(CurrentLimitError, match="glu"):
        s.render_volts(0, 200)


def _slew_pipette(slew_nA_per_ms: float):
    from daq.pipette import Pipette

    return Pipette.model_validate({"max_total_nA": 120, "slew_limit_nA_per_ms": slew_nA_per_ms, "barrels": [
        {"name": "a", "drug": "x", "polarity": 1, "retain_nA": 50, "max_eject_nA": 100, "ao_channel": "d/ao0"},
        {"name": "b", "drug": "y", "polarity": 1, "retain_nA": 50, "max_eject_nA": 100, "ao_channel": "d/ao1"},
        {"name": "c", "drug": "NaCl", "role": "control", "max_eject_nA": 100, "ao_channel": "d/ao2"},
        {"name": "bal", "drug": "NaCl", "role": "balance", "max_eject_nA": 200, "ao_channel": "d/ao3"}]})


def test_an_accepted_slew_limited_schedule_never_renders_a_sample_beyond_a_limit():
    p = _slew_pipette(1.0)
    rng = np.random.default_rng(7)
    accepted = refused = 0
    for _ in range(300):
        s = AOSchedule(p, rate_hz=1000.0)
        t = 0
        for _ in range(6):
            t += int(rng.integers(0, 150))
            cur = {n: float(rng.choice([-50, 0, 50, 100])) for n in "abc" if rng.random() < 0.7}
            try:
                s.set_currents(cur, t) if cur else s.safe_all(t)
                accepted += 1
            except CurrentLimitError:
                refused += 1
        assert p.violations(s.render_nA(0, t + 600)) == []
    assert accepted > 100 and refused > 100  # both outcomes were exercised


def test_a_slow_slew_at_a_high_rate_is_checked_without_rendering_every_ramp_sample():
    import tracemalloc

    p = _slew_pipette(0.03)  # 150 nA takes 5 s; at 50 kHz that is 250,000 samples per ramp
    s = AOSchedule(p, rate_hz=50_000.0)
    tracemalloc.start()
    for k in range(20):
        s.set_currents({"a": 100.0 if k % 2 else -50.0}, k * 1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 2**20, f"checking 20 ramps took {peak / 2**20:.0f} MiB"
