"""The closed-loop plans against the simulated rig (the tests' own rig, closed_loop_rig.yaml):
the stable-baseline wait ends when the simulated neuron is stable, titration reaches its
target within tolerance — judged against the simulator's ground truth.

The plans read their online rate from the simulated neuron's true spikes here, so these
tests judge the plans and not spike detection; ``test_cli_protocol`` runs a titration
end to end through the streaming detector as ``ionto run`` wires it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from daq.rig import load_rig
from daq.types import EventKind
from protocols.commands import Eject, Retain, Wait
from protocols.library import titrate, wait_for_stable_baseline
from protocols.library.closed_loop import next_current
from protocols.stubs import rate_variation_pct
from tests.protocols.helpers import run_on_sim

RIG = load_rig(Path(__file__).with_name("closed_loop_rig.yaml"))
RATE = RIG.rate_hz


def test_the_stable_baseline_wait_ends_once_the_neuron_has_recovered():
    outcome: list = []
    retain_s, window_s, bin_s, bound = 12.0, 20.0, 2.5, 10.0

    def plan():
        yield Wait(4)
        yield Eject("glu", 60)  # glutamate here has slow kinetics: recovery takes ~20 s
        yield Wait(retain_s - 4)
        yield Retain("glu")
        outcome.append((yield from wait_for_stable_baseline(window_s=window_s, bin_s=bin_s, max_variation_pct=bound,
                                                            timeout_s=120, poll_s=1)))

    run = run_on_sim(plan(), RIG, seed=3, online="truth")
    assert outcome == [True]
    step = next(e for e in run.of(EventKind.STEP) if e.text.startswith("stable baseline"))
    assert "met" in step.text
    ended_s = step.sample_index / RATE - RIG.ao_lead_s  # decided on the data up to here
    truth = run.truth
    base = truth.mean_rate(1.0, 4.0)
    assert truth.mean_rate(retain_s, retain_s + 2) > 1.5 * base  # it really was unstable when the wait began
    # the simulated neuron's rate first comes within 15 % of its baseline at t_settle ...
    t_settle = next(x for x in np.arange(retain_s, ended_s, 0.5) if truth.mean_rate(x, x + 0.5) <= 1.15 * base)
    # ... the wait ends after that, not while the neuron is still recovering, and not much later
    assert t_settle <= ended_s <= t_settle + window_s + 15
    assert abs(truth.mean_rate(ended_s - bin_s, ended_s) / base - 1) < 0.05
    # over the final window the true rate drifted by at most the bound plus the counting noise of
    # its halves (8 s at 30 Hz: ~240 spikes each, ~9 % on their difference)
    bins = [truth.mean_rate(x, x + bin_s) for x in np.arange(ended_s - window_s, ended_s - 0.01, bin_s)]
    assert rate_variation_pct(bins, 1e9) <= bound + 2 * 9


def test_the_stable_baseline_wait_times_out_exactly_and_says_so():
    outcome: list = []

    def plan():
        yield Wait(1)
        outcome.append((yield from wait_for_stable_baseline(window_s=4, bin_s=2, min_rate_hz=1000, timeout_s=3,
                                                            poll_s=1)))

    run = run_on_sim(plan(), RIG)
    assert outcome == [False]
    step = next(e for e in run.of(EventKind.STEP) if e.text.startswith("stable baseline"))
    lead = round(RIG.ao_lead_s * RATE)
    assert step.sample_index == round(4 * RATE) + lead and "timed out" in step.text
    assert any(e.text == "baseline not stable within 3 s" for e in run.of(EventKind.MARK))


def test_titration_reaches_its_target_within_tolerance():
    results: list = []
    target, tol = -50.0, 10.0

    def plan():
        results.append((yield from titrate("gaba", target, tolerance_pct=tol, start_nA=40, max_nA=80, settle_s=8,
                                           measure_s=6, baseline_s=10, max_steps=8, recovery_s=2)))

    run = run_on_sim(plan(), RIG, seed=2, online="truth")
    (res,) = results
    assert res.reached and not res.assumed
    assert abs(res.response_pct - target) <= tol
    assert len(res.steps) >= 3  # 40 nA is too strong: it had to step down and bracket the target (~14 nA)
    assert all(cur <= 80 for cur, _ in res.steps)
    # the simulator's ground truth agrees: the rate really fell by about half at that current
    steps = [e for e in run.of(EventKind.STEP) if e.text == "titrate step"]
    last_s = steps[-1].sample_index / RATE
    truth_change = 100 * (run.truth.mean_rate(last_s + 2, last_s + 8) / run.truth.mean_rate(0, 10) - 1)
    assert abs(truth_change - target) <= tol + 8
    ejected = [e.current_nA for e in run.of(EventKind.EJECT, barrel="gaba")]
    assert ejected == [cur for cur, _ in res.steps]


def test_next_current_steps_geometrically_then_bisects_on_a_log_scale():
    # too weak at 5 and 10 (−20 %, −35 %), too strong at 20 (−70 %): then sqrt(10·20)
    cur, lo, hi = next_current(5, -20, -50, None, None, 2, 1, 80)
    assert (cur, lo, hi) == (10, 5, None)
    cur, lo, hi = next_current(10, -35, -50, lo, hi, 2, 1, 80)
    assert cur == 20
    cur, lo, hi = next_current(20, -70, -50, lo, hi, 2, 1, 80)
    assert cur == pytest.approx(round(math.sqrt(200), 1)) and (lo, hi) == (10, 20)
    assert next_current(60, 10, 100, None, None, 2, 1, 80)[0] == 80  # never beyond max_nA
    assert next_current(2, 300, 100, None, None, 2, 1, 80)[0] == 1  # nor below min_nA
    assert next_current(80, None, -50, None, None, 2, 1, 80)[0] == 80  # no data: as if too weak


def test_rate_variation_sees_drift_and_scatter_but_little_counting_noise():
    rng = np.random.default_rng(0)
    bin_s, rate = 2.0, 30.0
    steady = [rng.poisson(rate * bin_s, 6) / bin_s for _ in range(400)]
    scores = np.array([rate_variation_pct(r, bin_s) for r in steady])
    # halves of 180 spikes differ by ~10 % (sd) by chance; the scatter term adds nothing
    assert np.median(scores) < 10 and np.mean(scores < 20) > 0.9
    assert rate_variation_pct(np.linspace(45, 30, 6), bin_s) > 20  # a recovery under way
    assert rate_variation_pct([30, 50, 30, 50, 30, 50], bin_s) > 20  # no drift, but real scatter
    assert rate_variation_pct([0, 0], bin_s) == math.inf
    assert rate_variation_pct([0, 0], bin_s) == math.inf
