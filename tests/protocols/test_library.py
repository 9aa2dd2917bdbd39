"""The plan library: orders, timelines on the sample clock (dry runs on the cortex rig),
rig checks naming the parameter, and the bundled examples."""

from __future__ import annotations

import itertools
from importlib import resources

import pytest

from daq.types import EventKind
from mock_daq import load_preset
from protocols.check import check_protocol
from protocols.dryrun import dry_run_rig
from protocols.library import (
    antagonist_series,
    current_controls,
    current_sequence,
    dose_response,
    pulse_train,
    titrate,
)
from protocols.library.dose_response import williams_rows
from protocols.loader import load, load_yaml_string
from protocols.registry import plan_names
from tests.protocols.helpers import currents_at

RIG = load_preset("cortex")
RATE = int(RIG.rate_hz)


def ejections(dr, barrel):
    return [(e.sample_index, e.current_nA) for e in dr.events if e.kind == EventKind.EJECT and e.barrel == barrel]


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_williams_rows_are_a_latin_square_balanced_for_carry_over(n):
    rows = williams_rows(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(r) == list(range(n)) for r in rows)  # each treatment once per row
    for col in range(n):  # each treatment equally often in each position
        counts = [sum(r[col] == t for r in rows) for t in range(n)]
        assert len(set(counts)) == 1
    follows = {(a, b): 0 for a, b in itertools.permutations(range(n), 2)}
    for r in rows:
        for a, b in itertools.pairwise(r):
            follows[a, b] += 1
    assert len(set(follows.values())) == 1  # every treatment follows every other equally often


def test_current_orders():
    cur = [20, 5, 40, 10]
    assert current_sequence(cur, "ascending", 2, None) == [[5, 10, 20, 40]] * 2
    assert current_sequence(cur, "descending", 1, None) == [[40, 20, 10, 5]]
    assert current_sequence(cur, "given", 1, None) == [[20, 5, 40, 10]]
    rnd = current_sequence(cur, "randomised", 5, 11)
    assert rnd == current_sequence(cur, "randomised", 5, 11) and all(sorted(r) == [5, 10, 20, 40] for r in rnd)
    assert len({tuple(r) for r in rnd}) > 1  # each repeat its own order
    sq = current_sequence(cur, "latin_square", 4, 3)
    assert all(sorted(r) == [5, 10, 20, 40] for r in sq)
    assert all(sorted(col) == [5, 10, 20, 40] for col in zip(*sq))


def test_dose_response_timeline():
    dr = dry_run_rig(dose_response("glu", [10, 40], repeats=2, eject_s=20, recovery_s=40, baseline_s=30), RIG)
    assert dr.ok
    t = [30, 90, 150, 210]
    assert ejections(dr, "glu") == [(s * RATE, c) for s, c in zip(t, [-10.0, -40.0, -10.0, -40.0])]
    ret = [e.sample_index for e in dr.events if e.kind == EventKind.RETAIN and e.barrel == "glu" and e.text != "initial"]
    assert ret == [(s + 20) * RATE for s in t]
    assert dr.duration_s == pytest.approx(270, abs=1e-3)
    assert dr.eject_charge_nC["glu"] == pytest.approx(2 * (10 + 40) * 20)
    steps = [e.text for e in dr.events if e.kind == EventKind.STEP]
    assert steps == ["baseline"] + ["eject", "recovery"] * 4


def test_dose_response_with_interleaved_current_controls_matches_polarity():
    dr = dry_run_rig(dose_response("gaba", [5, 20], eject_s=10, recovery_s=10, baseline_s=5, control_barrel="nacl"),
                     RIG)
    assert [c for _, c in ejections(dr, "gaba")] == [5.0, 20.0]
    assert ejections(dr, "nacl") == [(25 * RATE, 5.0), (65 * RATE, 20.0)]  # + like GABA, after each recovery


def test_current_controls_copy_the_polarity_of_the_matched_drug():
    dr = dry_run_rig(current_controls("nacl", [5, 20], match="glu", eject_s=10, recovery_s=10, baseline_s=5), RIG)
    assert ejections(dr, "nacl") == [(5 * RATE, -5.0), (25 * RATE, -20.0)]
    dr = dry_run_rig(current_controls("nacl", [5], polarity=1, eject_s=1, recovery_s=1, baseline_s=1), RIG)
    assert ejections(dr, "nacl") == [(RATE, 5.0)]


def test_antagonist_series_holds_the_antagonist_through_its_baseline_and_the_agonist_series():
    dr = dry_run_rig(antagonist_series("gaba", [10, 20], "bic", 40, eject_s=10, recovery_s=20, baseline_s=30,
                                       antagonist_baseline_s=60, washout_s=100, recovery_series=True), RIG)
    assert dr.ok, dr.errors
    gaba = [s for s, _ in ejections(dr, "gaba")]
    (bic_on,) = [s for s, _ in ejections(dr, "bic")]
    bic_off = next(e.sample_index for e in dr.events if e.kind == EventKind.RETAIN and e.barrel == "bic"
                   and e.sample_index > bic_on)
    control, during, recovery = gaba[:2], gaba[2:4], gaba[4:]
    assert control == [30 * RATE, 60 * RATE] and bic_on == 90 * RATE
    assert during[0] == bic_on + 60 * RATE  # the antagonist's own baseline first
    assert all(bic_on < s < bic_off for s in during)
    assert all(currents_at(dr.events, s)["bic"] == 40.0 for s in during)
    assert bic_off == during[-1] + 30 * RATE and recovery[0] == bic_off + 100 * RATE
    marks = [e.text for e in dr.events if e.kind == EventKind.MARK]
    assert marks == ["control: gaba series 10, 20 nA", "during bic 40 nA: gaba series 10, 20 nA",
                     "recovery: gaba series 10, 20 nA"]


def test_pulse_train_onsets_and_durations_are_exact_on_the_sample_clock():
    dr = dry_run_rig(pulse_train("glu", 60, pulse_s=0.013, period_s=0.1, pulses=5, trains=2, train_interval_s=1,
                                 baseline_s=2, recovery_s=1), RIG)
    on = [s for s, _ in ejections(dr, "glu")]
    off = [e.sample_index for e in dr.events if e.kind == EventKind.RETAIN and e.barrel == "glu"
           and e.text != "initial"]
    train2 = 2 + 0.4 + 0.013 + 1
    expected = [round((t0 + k * 0.1) * RATE) for t0 in (2, train2) for k in range(5)]
    assert on == expected
    assert [b - a for a, b in zip(on, off)] == [round(0.013 * RATE)] * 10


def test_titrate_dry_run_assumes_the_worst_case():
    results = []

    def plan():
        results.append((yield from titrate("gaba", -50, start_nA=5, max_nA=30, max_steps=5, settle_s=10,
                                           measure_s=5, baseline_s=10, recovery_s=10)))

    dr = dry_run_rig(plan(), RIG)
    assert [c for _, c in ejections(dr, "gaba")] == [5.0, 10.0, 20.0, 30.0]  # then stays at max_nA
    (res,) = results
    assert res.assumed and res.reached and res.current_nA == 30.0 and len(res.steps) == 5
    lead_s = RIG.ao_lead_s
    assert dr.closed_loop and dr.duration_s == pytest.approx(10 + lead_s + 5 * (10 + lead_s) + 10, abs=1e-3)


@pytest.mark.parametrize("text,expected", [
    ("plan: dose_response\nparams: {barrel: nope, currents_nA: [5]}",
     "params.barrel: no barrel 'nope' on this rig; barrels: glu, gaba, bic, nacl, bal"),
    ("plan: dose_response\nparams: {barrel: glu, currents_nA: [5, 400]}",
     "params.currents_nA.1: 400 nA exceeds the ejection limit of barrel 'glu' (glutamate): 200 nA"),
    ("plan: dose_response\nparams: {barrel: glu, currents_nA: [5], control_barrel: gaba}",
     "params.control_barrel: barrel 'gaba' (GABA) is a drug barrel; this needs a control barrel (nacl)"),
    ("plan: current_controls\nparams: {barrel: nacl, currents_nA: [5], match: nacl}",
     "params.match: barrel 'nacl' (NaCl) is a control barrel; this needs a drug barrel"),
    ("plan: antagonist_series\nparams: {agonist_barrel: gaba, agonist_currents_nA: [5], antagonist_barrel: bic, "
     "antagonist_nA: 120}", "params.antagonist_nA: 120 nA exceeds the ejection limit of barrel 'bic'"),
    ("plan: pulse_train\nparams: {barrel: nacl, current_nA: 5}",
     "params.polarity: barrel 'nacl' is a control barrel: give polarity +1 or -1"),
    ("plan: titrate\nparams: {barrel: gaba, target_change_pct: -50, max_nA: 200, start_nA: 5}",
     "params.max_nA: 200 nA exceeds the ejection limit of barrel 'gaba'"),
])
def test_rig_checks_name_the_parameter(text, expected):
    report = check_protocol(load_yaml_string(text, "f.yaml"), RIG)
    assert not report.ok
    assert any(expected in p for p in report.problems), report.problems


def _examples():
    return sorted(f for f in (resources.files("protocols") / "examples").iterdir() if f.name.endswith((".yaml", ".py")))


def test_every_example_passes_check_on_its_rig_and_together_they_cover_the_library():
    used = set()
    for f in _examples():
        proto = load(str(f))
        assert proto.rig_hint in ("sim:cortex", "sim:gain"), f.name
        report = check_protocol(proto, load_preset(proto.rig_hint.removeprefix("sim:")), proto.rig_hint)
        assert report.ok, (f.name, report.problems)
        assert report.dry.duration_s > 60
        text = f.read_text()
        used |= {name for name in plan_names() if f"plan: {name}" in text or f"import {name}" in text
                 or f"{name}(" in text}
    assert used == set(plan_names())
