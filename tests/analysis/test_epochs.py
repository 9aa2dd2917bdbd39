"""Epochs from the event log: windows, concurrent conditions, controls, and every flag."""

import numpy as np
import pytest
from synth import pipette

from analysis.epochs import EpochParams, check_currents, find_epochs, measure_epochs
from daq.types import EventKind, LogEvent

FS = 1000.0
P = EpochParams(baseline_s=30, response_s=10, recovery_s=10, bin_s=1)


def ev(t, kind, barrel, cur):
    return LogEvent(int(t * FS), kind, barrel, cur)


def eject(barrel, cur, on, dur):
    retain = pipette().barrel(barrel).retain_current_nA  # opposite to the ejecting polarity
    return [ev(on, EventKind.EJECT, barrel, cur), ev(on + dur, EventKind.RETAIN, barrel, retain)]


def test_windows_of_a_simple_series():
    events = eject("gaba", 20, 40, 20) + eject("gaba", 40, 100, 20)
    eps = find_epochs(events, pipette(), FS, 0, int(200 * FS), P)
    assert [ep.current_nA for ep in eps] == [20, 40]
    a, b = eps
    assert a.baseline == (int(10 * FS), int(40 * FS))
    assert a.response == (int(50 * FS), int(60 * FS))
    assert a.recovery == (int(90 * FS), int(100 * FS))  # the last 10 s before the next onset
    assert b.baseline == (int(70 * FS), int(100 * FS))
    assert a.usable and b.usable and a.charge_nC == pytest.approx(400)


def test_retain_events_and_the_balance_barrel_are_not_epochs():
    events = [ev(5, EventKind.RETAIN, "glu", 10), ev(5, EventKind.CURRENT, "bal", -10), *eject("glu", -30, 40, 20)]
    eps = find_epochs(events, pipette(), FS, 0, int(100 * FS), P)
    assert [(ep.barrel, ep.current_nA) for ep in eps] == [("glu", -30)]  # glutamate ejects with −


def test_current_controls_are_marked_and_concurrent_antagonist_names_the_condition():
    events = ([*eject("gaba", 20, 40, 20), ev(80, EventKind.EJECT, "bic", 30), *eject("gaba", 20, 120, 20), ev(200, EventKind.RETAIN, "bic", -10), ev(240, EventKind.CURRENT, "nacl", 20), ev(260, EventKind.OFF, "nacl", 0)])
    eps = find_epochs(events, pipette(), FS, 0, int(300 * FS), P)
    by = {(ep.barrel, ep.onset): ep for ep in eps}
    assert by[("gaba", int(40 * FS))].condition == "GABA"
    assert by[("gaba", int(120 * FS))].condition == "GABA + bicuculline 30 nA"
    ctrl = by[("nacl", int(240 * FS))]
    assert ctrl.is_control and ctrl.current_nA == 20
    assert any("overlaps 1 ejection(s) of GABA" in f for f in by[("bic", int(80 * FS))].flags)


def test_a_stepped_series_without_recovery_keeps_the_first_baseline():
    events = [ev(40, EventKind.EJECT, "gaba", 10), ev(60, EventKind.EJECT, "gaba", 20),
              ev(80, EventKind.EJECT, "gaba", 40), ev(100, EventKind.RETAIN, "gaba", -10)]
    eps = find_epochs(events, pipette(), FS, 0, int(200 * FS), P)
    assert [ep.current_nA for ep in eps] == [10, 20, 40]
    assert all(ep.baseline == (int(10 * FS), int(40 * FS)) for ep in eps)
    assert all(ep.usable for ep in eps)


@pytest.mark.parametrize(("kind", "expected"), [
    ("gap", "response window contains a gap of 500 samples"),
    ("clip", "baseline window contains clipped electrode samples"),
    ("short", "shorter than the 10-s response window"),
    ("early", "baseline window starts before the recording"),
    ("crowded", "only 5.0 s of baseline"),
])
def test_flags_exclude_the_epoch_and_say_why(kind, expected):
    events = eject("gaba", 20, 40, 20)
    gaps, clipped = [], []
    if kind == "gap":
        gaps = [(int(55 * FS), 500)]
    elif kind == "clip":
        clipped = [(int(20 * FS), int(21 * FS))]
    elif kind == "short":
        events = eject("gaba", 20, 40, 5)
    elif kind == "early":
        events = eject("gaba", 20, 10, 20)
    elif kind == "crowded":
        events = eject("glu", -20, 15, 20) + events
    eps = find_epochs(events, pipette(), FS, 0, int(100 * FS), P, gaps, clipped)
    ep = next(e for e in eps if e.barrel == "gaba")
    assert not ep.usable
    assert any(expected in f for f in ep.flags), ep.flags


def test_rates_percent_change_z_score_and_it50():
    events = eject("gaba", 20, 40, 20)
    ep = find_epochs(events, pipette(), FS, 0, int(100 * FS), P)[0]
    rng = np.random.default_rng(0)
    base = np.sort(np.arange(0.05, 43, 0.1) + rng.uniform(-0.09, 0.09, 430))  # ~10 Hz until 3 s into the ejection
    during = np.arange(43, 60, 1.0)  # then 1 Hz
    after = np.sort(rng.uniform(60, 100, 400))
    spikes = np.round(np.concatenate([base, during, after]) * FS).astype(np.int64)
    measure_epochs([ep], spikes, P)
    assert ep.baseline_rate_hz == pytest.approx(np.sum((base >= 10) & (base < 40)) / 30)
    assert ep.response_rate_hz == pytest.approx(1.0)
    assert ep.percent_change == pytest.approx(-90.0, abs=0.5)
    counts = np.histogram(base, bins=np.arange(10, 41))[0]  # 1-s bins of the baseline window
    assert ep.baseline_sd_hz == pytest.approx(counts.std(ddof=1))
    assert ep.z_score == pytest.approx((1.0 - ep.baseline_rate_hz) / counts.std(ddof=1))
    assert 2.7 < ep.t50_s < 3.3  # the rate halves 3 s after the onset
    assert ep.it50_nC == pytest.approx(20 * ep.t50_s)


def test_monitored_current_far_from_the_command_is_flagged():
    eps = find_epochs(eject("gaba", 40, 40, 20) + eject("gaba", 20, 100, 20), pipette(), FS, 0, int(200 * FS), P)
    check_currents(eps, {0: 20.0, 1: 19.5}, P)
    assert not eps[0].usable and "delivered current +20.0 nA differs from the commanded +40.0 nA" in eps[0].flags[0]
    assert eps[1].usable and eps[1].measured_current_nA == 19.5
