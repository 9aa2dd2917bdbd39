"""Interleaved drug × stimulus designs (drug_trials with design: interleaved): the drug
condition changes trial by trial, drawn at random with a seed; the dry run shows the design
and its exact duration; on the simulated gain rig every trial is logged as its own drug
block with its current, and every valid trial ran at the current its condition says."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.errors import ConfigError
from daq.trials import DrugBlock, trials_from_events
from daq.types import EventKind
from mock_daq import load_preset
from protocols.check import check_protocol
from protocols.dryrun import dry_run_rig
from protocols.library.trials import drug_trials
from protocols.loader import load_yaml, load_yaml_string
from protocols.trials import interleaved_sequence, interleaved_settles

GAIN_RIG = load_preset("gain")
VALUES = [0.0, 45.0, 90.0, 135.0]
PARAMS = {"barrel": "ach", "currents_nA": [30.0, 60.0], "design": "interleaved", "trials_per_condition": 3,
          "lead_s": 0.3, "washout_s": 0.2, "stimulus_values": VALUES, "stimulus_s": 0.3, "iti_s": 0.1}


@settings(deadline=None)  # a busy 2-core machine: no per-example time limit
@given(st.lists(st.sampled_from([5.0, 10.0, 30.0, 60.0]), min_size=1, max_size=3, unique=True),
       st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31))
def test_an_interleaved_sequence_shows_every_stimulus_x_drug_condition_equally_often(currents, n_values, tpc, seed):
    seq = interleaved_sequence(currents, n_values, tpc, seed)
    counts = collections.Counter(seq)
    assert set(counts) == {(c, v) for c in [0.0, *currents] for v in range(n_values)}
    assert set(counts.values()) == {tpc}
    assert interleaved_sequence(currents, n_values, tpc, seed) == seq  # seeded


def test_a_trial_waits_only_when_its_drug_condition_differs_from_the_last_ones():
    seq = [(0.0, 0), (30.0, 1), (30.0, 0), (60.0, 1), (0.0, 0), (0.0, 1)]
    assert interleaved_settles(seq, 2.0, 1.0) == [0.0, 2.0, 0.0, 2.0, 1.0, 0.0]


def _blocks(events):
    return [DrugBlock.from_event(e) for e in events if e.kind == EventKind.DRUG_BLOCK]


def test_the_dry_run_shows_the_design_the_seed_draws_and_its_exact_duration():
    dr = dry_run_rig(drug_trials(**PARAMS, seed=7), GAIN_RIG)
    assert dr.ok and not dr.closed_loop, dr.errors
    seq = interleaved_sequence([30.0, 60.0], len(VALUES), 3, 7)
    blocks = _blocks(dr.events)
    assert [b.current_nA for b in blocks] == [c for c, _ in seq]  # one drug block per trial, as drawn
    assert [b.state for b in blocks] == ["on" if c > 0 else "off" for c, _ in seq]
    trials = trials_from_events(dr.events, GAIN_RIG.rate_hz)
    assert [t.stimulus["orientation_deg"] for t in trials] == [VALUES[v] for _, v in seq]
    assert [t.condition_nA for t in trials] == [c for c, _ in seq] and all(t.valid for t in trials)
    settles = interleaved_settles(seq, 0.3, 0.2)
    assert dr.duration_s == pytest.approx(sum(settles) + len(seq) * 0.4, abs=2 / GAIN_RIG.rate_hz)
    mark = next(e.text for e in dr.events if e.kind == EventKind.MARK)
    assert "interleaved drug x stimulus trials on ach: 36 trials" in mark and "seed 7" in mark
    assert mark.endswith("conditions in order (nA): " + " ".join("off" if c == 0 else f"{c:g}" for c, _ in seq))
    other = _blocks(dry_run_rig(drug_trials(**PARAMS, seed=8), GAIN_RIG).events)
    assert [b.current_nA for b in other] != [b.current_nA for b in blocks]  # another seed, another design


@pytest.mark.parametrize("params,expected", [
    ({"stimulus_values": None}, "params.design: interleaved switches the drug before each trial, so ionto must "
                                "show the trials"),
    ({"discard_trials": 2}, "params.discard_trials: 2: an interleaved design discards no trials"),
])
def test_an_interleaved_design_that_cannot_run_is_refused_with_one_line_naming_the_field(params, expected):
    doc = {**PARAMS, **params, "conditions": 4 if params.get("stimulus_values", 1) is None else None}
    text = "rig: sim:gain\nplan: drug_trials\nparams: " + repr({k: v for k, v in doc.items() if v is not None}
                                                            ).replace("'", '"') + "\n"
    with pytest.raises(ConfigError) as info:
        load_yaml_string(text, "t.yaml")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_interleaved_current_above_the_barrels_limit_is_refused_by_the_check_naming_it():
    text = "plan: drug_trials\nparams: " + repr({**PARAMS, "currents_nA": [30, 150]}).replace("'", '"') + "\n"
    report = check_protocol(load_yaml_string(text, "t.yaml"), GAIN_RIG)
    assert not report.ok
    assert ("t.yaml: params.currents_nA.1: 150 nA exceeds the ejection limit of barrel 'ach' (ACh): 100 nA"
            in report.problems), report.problems


def test_the_example_interleaved_protocol_passes_its_check():
    path = Path(__file__).parents[2] / "protocols" / "examples" / "drug_trials_interleaved.yaml"
    report = check_protocol(load_yaml(path), GAIN_RIG)
    assert report.ok, report.problems


def record_interleaved(out: Path, seed: int = 5, **params) -> Path:
    """Run an interleaved protocol on sim:gain (stimulus driven by ionto) to ``out/r.h5``."""
    import yaml

    from app.cli.demo_gain import demo_rig
    from app.session import load_any_protocol, run_protocol

    out.mkdir(parents=True, exist_ok=True)
    p = out / "interleaved.yaml"
    p.write_text(yaml.safe_dump({"name": "interleaved test", "plan": "drug_trials",
                                 "params": {**PARAMS, "seed": seed, **params}}))
    rig = demo_rig(out, None, None, seed)
    loaded = load_any_protocol(p)
    res = run_protocol(loaded.factory(), loaded.info, out / "r.h5", device_url="sim:gain", rig_path=rig, speed=None,
                       seed=seed, overwrite=True)
    assert res.error is None, res.error
    return out / "r.h5"


def test_on_the_simulated_rig_every_valid_trial_ran_at_the_current_its_condition_says(tmp_path):
    from analysis.trials import recording_trials
    from daq.recording import Recording

    h5 = record_interleaved(tmp_path)
    seq = interleaved_sequence([30.0, 60.0], len(VALUES), 3, 5)
    with Recording(h5) as rec:
        blocks = _blocks(rec.events)
        assert [(b.block, b.current_nA) for b in blocks] == [(k, c) for k, (c, _) in enumerate(seq)]  # per trial
        trials = recording_trials(rec)
        assert len(trials) == len(seq) and sum(t.valid for t in trials) == len(seq)
        retain_nA = rec.pipette.barrel("ach").retain_nA
        ch = rec.monitor_channel("ach")
        assert ch is not None
        for t, (cur, v) in zip(trials, seq, strict=True):
            assert t.condition_nA == cur and t.stimulus["orientation_deg"] == VALUES[v]
            rows = rec.index_to_row(np.array([t.start_index, t.stop_index]))
            monitored = rec.physical(ch, int(rows[0]), int(rows[1]))
            want = cur if cur > 0 else -retain_nA  # the current source's monitor, not the command
            assert np.all(np.abs(monitored - want) < 1.0), (t.number, cur, monitored.min(), monitored.max())


def test_the_python_example_composes_an_interleaved_design_and_an_off_block_whose_trials_count():
    from protocols.loader import load_python

    path = Path(__file__).parents[2] / "protocols" / "examples" / "drug_trials_interleaved.py"
    protocol = load_python(path, {"reps": 2, "seed": 4})
    report = check_protocol(protocol, GAIN_RIG)
    assert report.ok, report.problems
    dr = dry_run_rig(protocol.factory(), GAIN_RIG)
    trials = trials_from_events(dr.events, GAIN_RIG.rate_hz)
    seq = interleaved_sequence([25.0, 50.0], 6, 2, 4)
    interleaved, off_block = trials[:len(seq)], trials[len(seq):]
    assert [(t.condition_nA, t.code - 1) for t in interleaved] == seq and all(t.valid for t in interleaved)
    # the off block: the trials of its 2-s washout do not count, then 2 repetitions of the 6 orientations do
    assert {t.reason for t in off_block if not t.valid} == {"settling"}
    counted = collections.Counter(t.stimulus["orientation_deg"] for t in off_block if t.valid)
    assert counted == dict.fromkeys([0.0, 30.0, 60.0, 90.0, 120.0, 150.0], 2)
    assert {t.drug_state for t in off_block} == {"off"}


def test_per_trial_drug_blocks_judge_each_trial_by_its_own_settle_time_and_drug_change():
    from daq.trials import StimulusRequest
    from daq.types import LogEvent

    fs = 1000.0

    def trial(k, a, z):
        req = StimulusRequest(k, a, z, 1, (("orientation_deg", 0.0),))
        return [req.start_event(), req.stop_event()]

    events = [DrugBlock(0, 0, "on", "ach", 30.0, 0.1, 0).event(), LogEvent(0, EventKind.EJECT, "ach", 30.0),
              *trial(0, 50, 90),  # shown before its 0.1-s lead ended
              DrugBlock(1, 100, "on", "ach", 30.0, 0.0, 0).event(), *trial(1, 100, 300),  # the drug went off during it
              DrugBlock(2, 250, "off", "ach", 0.0, 0.1, 0).event(), LogEvent(250, EventKind.RETAIN, "ach", -15.0),
              *trial(2, 350, 450),
              DrugBlock(3, 500, "on", "ach", 60.0, 0.1, 0).event(), LogEvent(500, EventKind.EJECT, "ach", 60.0),
              *trial(3, 600, 700)]
    trials = trials_from_events(events, fs)
    assert [(t.block, t.valid, t.reason) for t in trials] == [
        (0, False, "settling"), (1, False, "drug changed"), (2, True, ""), (3, True, "")]
    assert [t.condition_nA for t in trials] == [30.0, 30.0, 0.0, 60.0]
    assert [t.drug_current_nA for t in trials] == [30.0, 30.0, -15.0, 60.0]
