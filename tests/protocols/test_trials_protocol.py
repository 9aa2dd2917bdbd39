"""The drug × stimulus trial protocol (drug_trials): designs, YAML validation, the dry run's
design and duration, and the closed loop on valid trials per condition on the simulated rig."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.errors import ConfigError
from daq.rig import parse_rig
from daq.trials import DrugBlock, trials_from_events, valid_counts
from daq.types import EventKind
from mock_daq import load_preset
from protocols.check import check_protocol
from protocols.dryrun import dry_run_rig
from protocols.library.trials import drug_trials
from protocols.loader import load_yaml_string
from protocols.trials import block_currents
from tests.protocols.helpers import run_on_sim

GAIN_RIG = load_preset("gain")


@given(st.lists(st.sampled_from([10.0, 20.0, 40.0, 80.0]), min_size=1, max_size=4, unique=True),
       st.sampled_from(["blocked", "randomised"]), st.integers(1, 4), st.integers(0, 2**31))
def test_every_design_starts_off_and_puts_an_off_block_after_each_on_block(currents, design, repeats, seed):
    blocks = block_currents(currents, design, repeats, seed)
    assert blocks[0] == 0.0 and blocks[-1] == 0.0
    assert blocks[::2] == [0.0] * (len(blocks) // 2 + 1)
    on = blocks[1::2]
    for r in range(repeats):
        row = on[r * len(currents):(r + 1) * len(currents)]
        assert sorted(row) == sorted(currents)
        if design == "blocked":
            assert row == currents
    assert block_currents(currents, design, repeats, seed) == blocks  # seeded


def test_randomised_designs_shuffle_the_on_currents_per_repeat():
    rows = {tuple(block_currents([1, 2, 3, 4], "randomised", 1, s)[1::2]) for s in range(20)}
    assert len(rows) > 5


def test_the_dry_run_shows_the_design_and_the_duration_at_the_nominal_trial_period():
    plan = drug_trials(barrel="ach", currents_nA=[30.0, 60.0], conditions=8, trials_per_condition=10,
                       discard_trials=2, lead_s=5.0, washout_s=4.0, trial_period_s=1.5)
    dr = dry_run_rig(plan, GAIN_RIG)
    assert dr.ok, dr.errors
    per_block = (2 + 8 * 10) * 1.5
    # off, 30 on, off, 60 on, off: three washouts, two leads; a closed-loop check lands on its
    # 1-s poll grid and what follows waits for the AO lead
    assert per_block * 5 + 3 * 4 + 2 * 5 <= dr.duration_s <= per_block * 5 + 3 * 4 + 2 * 5 + 5 * 1.5
    blocks = [DrugBlock.from_event(e) for e in dr.events if e.kind == EventKind.DRUG_BLOCK]
    assert [(b.state, b.current_nA, b.settle_s, b.discard) for b in blocks] == [
        ("off", 0, 4, 2), ("on", 30, 5, 2), ("off", 0, 4, 2), ("on", 60, 5, 2), ("off", 0, 4, 2)]
    marks = [e.text for e in dr.events if e.kind == EventKind.MARK]
    assert "blocks off, 30 nA, off, 60 nA, off" in marks[0]
    assert dr.max_current_nA["ach"] == 60


@pytest.mark.parametrize("params,expected", [
    ({"barrel": "nacl"}, "params.barrel: barrel 'nacl' (NaCl) is a control barrel; this needs a drug barrel (ach)"),
    ({"currents_nA": [150]}, "params.currents_nA.0: 150 nA exceeds the ejection limit of barrel 'ach' (ACh): 100 nA"),
])
def test_rig_problems_name_the_parameter(params, expected):
    base = {"barrel": "ach", "currents_nA": [60], "conditions": 8}
    text = "plan: drug_trials\nparams: " + repr({**base, **params}).replace("'", '"') + "\n"
    report = check_protocol(load_yaml_string(text, "t.yaml"), GAIN_RIG)
    assert not report.ok
    assert any(p.startswith("t.yaml: " + expected) for p in report.problems), report.problems


def test_a_block_timeout_shorter_than_the_design_needs_is_refused_when_the_file_is_read():
    with pytest.raises(ConfigError, match=r"^t\.yaml: params\.block_timeout_s: 20 s is shorter than a block needs "
                                          r"at the nominal trial period \(172 s"):
        load_yaml_string('plan: drug_trials\nparams: {barrel: ach, currents_nA: [60], conditions: 8, '
                         'block_timeout_s: 20}\n', "t.yaml")


def test_an_unknown_design_is_refused_naming_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"params\.design.*'blocked', 'randomised' or 'interleaved'"):
        load_yaml_string('plan: drug_trials\nparams: {barrel: ach, currents_nA: [60], conditions: 8, '
                         'design: latin}\n', "t.yaml")


def fast_task_rig():
    doc = GAIN_RIG.model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"].update(values=[0, 90], first_trial_s=0.5, stimulus_s=0.2, iti_s=0.1)
    return parse_rig(doc, "test")


def test_each_block_lasts_until_every_condition_has_its_valid_trials():
    rig = fast_task_rig()
    plan = drug_trials(barrel="ach", currents_nA=[60.0], conditions=2, trials_per_condition=4, discard_trials=1,
                       lead_s=1.0, washout_s=0.5, trial_period_s=0.3, block_timeout_s=60)
    run = run_on_sim(plan, rig, online="truth")
    blocks = [DrugBlock.from_event(e) for e in run.of(EventKind.DRUG_BLOCK)]
    assert [b.state for b in blocks] == ["off", "on", "off"]
    trials = trials_from_events(run.events, rig.rate_hz)
    fs = rig.rate_hz
    lead = round(rig.ao_lead_s * fs) + round(rig.block_s * fs)
    for b, nxt in zip(blocks, [*blocks[1:], None]):
        done = sorted((t for t in trials if t.block == b.block and t.valid), key=lambda t: t.stop_index)
        seen: dict[int, int] = {}
        reached = None
        for t in done:
            seen[t.code] = seen.get(t.code, 0) + 1
            if reached is None and len(seen) == 2 and min(seen.values()) >= 4:
                reached = t.stop_index
        assert reached is not None, seen
        # the block changed at the first check after the count was reached (poll 0.3 s here)
        # plus the AO lead, never before it
        end = nxt.start_index if nxt is not None else run.of(EventKind.PROTOCOL_END)[-1].sample_index
        assert reached <= end <= reached + round(0.3 * fs) + lead + 1
    # the drug was on (ejecting at 60 nA) in every trial of the on block
    assert {t.drug_current_nA for t in trials if t.block == 1 and t.valid} == {60.0}


def test_without_trial_events_a_block_times_out_and_says_so():
    doc = GAIN_RIG.model_dump(mode="json", exclude_none=True)
    doc["simulation"].pop("stimulus")
    rig = parse_rig(doc, "test")
    plan = drug_trials(barrel="ach", currents_nA=[60.0], conditions=2, trials_per_condition=2, discard_trials=0,
                       lead_s=0.0, washout_s=0.0, trial_period_s=0.5, block_timeout_s=2.0)
    run = run_on_sim(plan, rig, online="truth")
    marks = [e.text for e in run.of(EventKind.MARK)]
    assert sum("fewer than 2 valid trials per condition within 2 s" in m for m in marks) == 3


def driven_rig(mode="driven"):
    doc = GAIN_RIG.model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"].update(mode=mode)
    return parse_rig(doc, "test")


def driven_plan():
    return drug_trials(barrel="ach", currents_nA=[60.0], trials_per_condition=3, discard_trials=1, lead_s=0.5,
                       washout_s=0.25, seed=4, stimulus_values=[0.0, 90.0], stimulus_s=0.2, iti_s=0.1)


def test_trials_the_protocol_shows_land_on_the_samples_the_dry_run_placed_them():
    rig = driven_rig()
    dry = dry_run_rig(driven_plan(), rig)
    assert dry.ok and not dry.closed_loop  # open loop: the duration is exact
    run = run_on_sim(driven_plan(), rig, online="truth")
    kinds = (EventKind.TRIAL_START, EventKind.TRIAL_STOP, EventKind.DRUG_BLOCK)
    shown = sorted((e.sample_index, str(e.kind), e.text) for e in run.of(*kinds))
    planned = sorted((e.sample_index, str(e.kind), e.text) for e in dry.events if e.kind in kinds)
    # blocks of 1 (off: ceil(0.25 / 0.3)) or 2 (on: ceil(0.5 / 0.3)) settling trials, 1 discarded, 2 x 3 counted
    assert shown == planned and len(shown) == 3 + 2 * (8 + 9 + 8)
    trials = trials_from_events(run.events, rig.rate_hz)
    for b in range(3):
        assert valid_counts(trials, b) == {1: 3, 2: 3}
    # every stimulus lasted 0.2 s, a trial every 0.3 s
    starts = [t.start_index for t in trials]
    assert {t.stop_index - t.start_index for t in trials} == {round(0.2 * rig.rate_hz)}
    assert {b - a for a, b in itertools.pairwise(starts)} == {round(0.3 * rig.rate_hz)}


def test_a_protocol_that_drives_the_stimulus_on_a_task_that_runs_itself_ends_saying_why():
    run = run_on_sim(driven_plan(), driven_rig("task"), online="truth")
    assert run.runner.status.error is not None and "mode: driven" in run.runner.status.error
    assert not run.of(EventKind.EJECT)  # it stopped at the first trial, before any ejection


@pytest.mark.parametrize("params,expected", [
    ({}, "params.conditions: give the number of stimulus conditions the task shows"),
    ({"stimulus_values": [0, 45, 45]}, "params.stimulus_values: each value once"),
    ({"stimulus_values": [0.1, 2], "stimulus_name": "contrast"}, "params.stimulus_values: contrasts lie in 0..1"),
    ({"stimulus_values": [0, 90], "conditions": 3}, "params.conditions: 3 but stimulus_values has 2"),
])
def test_stimulus_parameters_that_contradict_each_other_are_refused(params, expected):
    doc = {"barrel": "ach", "currents_nA": [60], **params}
    with pytest.raises(ConfigError) as exc:
        load_yaml_string("plan: drug_trials\nparams: " + repr(doc).replace("'", '"') + "\n", "t.yaml")
    assert str(exc.value).startswith("t.yaml: " + expected)


SHOW_STEPS = """
steps:
  - show: {code: 5, stimulus_s: 1, orientation_deg: 90}
  - wait: 1.5
  - repeat: {times: 2, steps: [{show: {code: 1, stimulus_s: 0.5, contrast: 0.25}}, {wait: 1}]}
  - show: {code: 2, stimulus_s: 0.2, trial: 40}
"""


def test_a_show_step_shows_a_trial_numbered_in_file_order_at_the_cursor():
    dry = dry_run_rig(load_yaml_string(SHOW_STEPS, "t.yaml").factory(), GAIN_RIG)
    assert dry.ok, dry.errors
    fs = GAIN_RIG.rate_hz
    got = [(e.sample_index / fs, str(e.kind), e.text) for e in dry.events
           if e.kind in (EventKind.TRIAL_START, EventKind.TRIAL_STOP)]
    assert got == [(0.0, "trial_start", "trial=0 code=5 orientation_deg=90"), (1.0, "trial_stop", "trial=0 code=5"),
                   (1.5, "trial_start", "trial=1 code=1 contrast=0.25"), (2.0, "trial_stop", "trial=1 code=1"),
                   (2.5, "trial_start", "trial=2 code=1 contrast=0.25"), (3.0, "trial_stop", "trial=2 code=1"),
                   (3.5, "trial_start", "trial=40 code=2"), (3.7, "trial_stop", "trial=40 code=2")]


def test_a_bad_show_step_names_each_field_and_what_is_accepted():
    with pytest.raises(ConfigError) as exc:
        load_yaml_string("steps:\n  - show: {code: 0, stimulus_s: 1, contrast: 2}\n", "t.yaml")
    assert str(exc.value).splitlines() == [
        "t.yaml: steps.0.show.code: Input should be greater than or equal to 1 (got 0)",
        "t.yaml: steps.0.show.contrast: Input should be less than or equal to 1 (got 2)"]


def test_after_a_pause_in_an_on_block_the_closed_loop_counts_no_more_trials_there():
    from daq.engine_api import Pause, Resume

    rig = fast_task_rig()
    plan = drug_trials(barrel="ach", currents_nA=[60.0], conditions=2, trials_per_condition=4, discard_trials=1,
                       lead_s=1.0, washout_s=0.5, trial_period_s=0.3, block_timeout_s=8.0)
    fs = rig.rate_hz
    seen: dict[str, int] = {}

    def pause_then_resume(read_index, engine):
        if engine.runner.status.step.startswith("drug block 1") and "on" not in seen:
            seen["on"] = read_index
        if "on" in seen and "paused" not in seen and read_index > seen["on"] + 1.5 * fs:
            seen["paused"] = read_index
            engine.submit(Pause())
        if "paused" in seen and "resumed" not in seen and read_index > seen["paused"] + 0.5 * fs:
            seen["resumed"] = read_index
            engine.submit(Resume())

    run = run_on_sim(plan, rig, online="truth", on_block=pause_then_resume)
    assert "resumed" in seen
    trials = trials_from_events(run.events, fs)
    after = [t for t in trials if t.block == 1 and t.start_index > seen["resumed"]]
    assert after and {t.reason for t in after} == {"drug not on"}
    marks = [e.text for e in run.of(EventKind.MARK)]
    assert any("drug block 1: fewer than 4 valid trials per condition within 8 s" in m for m in marks)
    counts = valid_counts(trials, 2)  # the next block counts again
    assert set(counts) == {1, 2} and min(counts.values()) >= 4
