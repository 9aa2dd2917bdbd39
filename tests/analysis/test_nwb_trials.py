"""The NWB export's trials table (issue 17): a drug × stimulus recording from the simulated gain
rig exports one trials row per trial of its event log — times, number, code, stimulus value,
drug block and state, the drug current and validity as ``daq.trials`` decides them — and
pynwb reads it back; nwbinspector with DANDI's configuration finds nothing above a suggestion."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pynwb import NWBHDF5IO

from analysis.nwb_export import ExportOptions, export_nwb
from analysis.trials import recording_trials
from app.session import load_any_protocol, run_protocol
from daq.recording import Recording
from daq.trials import trials_from_events
from daq.types import EventKind, LogEvent
from mock_daq import load_preset

PROTOCOL = ("name: nwb trials\nplan: drug_trials\nparams: {barrel: ach, currents_nA: [60], trials_per_condition: 3, "
            "discard_trials: 1, lead_s: 2, washout_s: 2, seed: 4, stimulus_values: [0, 90], "
            "stimulus_name: orientation_deg, stimulus_s: 0.5, iti_s: 0.25}\n")


@pytest.fixture(scope="module")
def trial_export(tmp_path_factory):
    """A short drug_trials run on the simulated gain rig (ionto drives the stimulus), exported."""
    d = tmp_path_factory.mktemp("nwbtrials")
    doc = load_preset("gain").model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"]["mode"] = "driven"
    (d / "rig.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (d / "p.yaml").write_text(PROTOCOL, encoding="utf-8")
    lp = load_any_protocol(d / "p.yaml")
    res = run_protocol(lp.factory(), lp.info, d / "t.h5", device_url="sim:gain", rig_path=d / "rig.yaml",
                       speed=None, seed=2)
    assert res.error is None
    summary = export_nwb(d / "t.h5", d / "t.nwb", options=ExportOptions(units=False))
    return d / "t.h5", d / "t.nwb", summary


def test_the_trials_table_is_the_event_logs_trials(trial_export):
    h5, nwb_path, summary = trial_export
    with Recording(h5) as rec, NWBHDF5IO(str(nwb_path), "r") as io:
        trials = recording_trials(rec)
        table = io.read().trials.to_dataframe()
        # 3 blocks (off, on 60 nA, off), each: 3 trials in the 2-s lead, 1 discarded, 3 x 2 orientations
        assert len(trials) == 30 == len(table) == summary.trials
        np.testing.assert_allclose(table["start_time"], [t.start_index / rec.rate_hz for t in trials])
        np.testing.assert_allclose(table["stop_time"], [t.stop_index / rec.rate_hz for t in trials])
        assert list(table["trial"]) == [t.number for t in trials]
        assert list(table["code"]) == [t.code for t in trials]
        assert list(table["orientation_deg"]) == [t.stimulus["orientation_deg"] for t in trials]
        assert sorted(set(table["orientation_deg"])) == [0.0, 90.0]
        assert list(table["drug_block"]) == [t.block for t in trials]
        assert list(table["drug_state"]) == [t.drug_state for t in trials]
        assert list(table["drug_current_nA"]) == [t.drug_current_nA for t in trials]
        assert list(table["condition_nA"]) == [t.condition_nA for t in trials]
        assert list(table["valid"]) == [t.valid for t in trials]
        assert list(table["invalid_reason"]) == [t.reason for t in trials]


def test_the_trials_table_carries_the_drug_design(trial_export):
    _, nwb_path, _ = trial_export
    with NWBHDF5IO(str(nwb_path), "r") as io:
        table = io.read().trials.to_dataframe()
    assert list(dict.fromkeys(zip(table["drug_block"], table["drug_state"]))) == [(0, "off"), (1, "on"), (2, "off")]
    on, off = table[table["drug_state"] == "on"], table[table["drug_state"] == "off"]
    assert set(on["drug_current_nA"]) == {60.0} == set(on["condition_nA"])  # ACh, a cation, ejected at +60 nA
    assert set(off["condition_nA"]) == {0.0} and set(off["drug_current_nA"]) < {0.0, -15.0}  # retained (or off)
    # in each block the trials of the 2-s lead settle, the next is discarded (discard_trials: 1), the rest count
    for _, g in table.groupby("drug_block"):
        assert list(g["invalid_reason"]) == ["settling"] * 3 + ["discarded"] + [""] * 6
        assert sorted(g["orientation_deg"][g["valid"]]) == [0.0] * 3 + [90.0] * 3


def test_a_recording_without_trials_writes_no_trials_table(tmp_path):
    (tmp_path / "p.yaml").write_text("name: plain\nsteps:\n  - wait: 1\n  - eject: {barrel: glu, current_nA: 10}\n"
                                     "  - wait: 1\n  - retain: glu\n  - wait: 0.5\n")
    lp = load_any_protocol(tmp_path / "p.yaml")
    assert run_protocol(lp.factory(), lp.info, tmp_path / "r.h5", speed=None, seed=1).error is None
    summary = export_nwb(tmp_path / "r.h5", tmp_path / "r.nwb", options=ExportOptions(units=False))
    assert summary.trials == 0
    with NWBHDF5IO(str(tmp_path / "r.nwb"), "r") as io:
        assert io.read().trials is None


def test_nwbinspector_with_dandis_config_finds_only_suggestions_in_the_trial_export(trial_export):
    import warnings

    from nwbinspector import Importance, inspect_nwbfile, load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msgs = list(inspect_nwbfile(nwbfile_path=str(trial_export[1]), config=load_config("dandi")))
    serious = [(m.check_function_name, m.message) for m in msgs
               if m.importance.value > Importance.BEST_PRACTICE_SUGGESTION.value]
    assert serious == []
    assert not [m for m in msgs if "trials" in str(m.location)], [(m.check_function_name, m.message) for m in msgs]


def test_a_trial_without_a_value_has_nan_and_an_unfinished_trial_ends_with_the_recording_invalid():
    import datetime as dt
    from types import SimpleNamespace

    from pynwb import NWBFile

    from analysis.nwb_trials import add_trials
    from daq.types import EventKind, LogEvent

    fs = 1000.0
    events = [LogEvent(100, EventKind.TRIAL_START, text="trial=0 code=1 contrast=0.5"),
              LogEvent(600, EventKind.TRIAL_STOP, text="trial=0 code=1"),
              LogEvent(1000, EventKind.TRIAL_START, text="trial=1 code=2 orientation_deg=45"),
              LogEvent(1500, EventKind.TRIAL_STOP, text="trial=1 code=2"),
              LogEvent(2000, EventKind.TRIAL_START, text="trial=2 code=1 contrast=1")]  # never stopped
    rec = SimpleNamespace(events=events, rate_hz=fs, gaps=[(1200, 10)], end_index=2500)
    nwb = NWBFile(session_description="t", identifier="t", session_start_time=dt.datetime.now(dt.UTC))
    assert add_trials(nwb, rec) == 3
    t = nwb.trials.to_dataframe()
    np.testing.assert_allclose(t["contrast"], [0.5, np.nan, 1.0])
    np.testing.assert_allclose(t["orientation_deg"], [np.nan, 45.0, np.nan])
    np.testing.assert_allclose(t["stop_time"], [0.6, 1.5, 2.5])  # the last ends with the recording
    assert list(t["valid"]) == [True, False, False]
    assert list(t["invalid_reason"]) == ["", "gap", "incomplete"]  # 10 samples lost at 1.2 s, in trial 1


def test_evenly_spaced_current_steps_are_written_with_a_rate_and_read_back_at_their_times(trial_export):
    """The block design changes the ACh current every 7.5 s: nwbinspector wants a rate then."""
    h5, nwb_path, _ = trial_export
    from analysis.nwb_stimulus import commanded_currents

    with Recording(h5) as rec, NWBHDF5IO(str(nwb_path), "r") as io:
        times_s, cur_nA = commanded_currents(rec.events, rec.pipette, rec.rate_hz)["ach"]
        ts = io.read().stimulus["commanded_current_ach"]
        assert ts.timestamps is None and ts.rate == pytest.approx(1 / 7.5)
        np.testing.assert_allclose(ts.get_timestamps(), times_s)
        np.testing.assert_allclose(ts.data[:], cur_nA)


@st.composite
def trial_logs(draw):
    """Trial events as a device logs them: increasing onsets, some trials never stopped,
    stimulus values from a few names, drug blocks on and off; and lost-sample gaps."""
    events, at = [], 0
    for n in range(draw(st.integers(1, 12))):
        at += draw(st.integers(1, 500))
        if draw(st.booleans()):
            state = draw(st.sampled_from(["on", "off"]))
            events.append(LogEvent(at, EventKind.DRUG_BLOCK, "ach", 50.0 if state == "on" else 0.0,
                                   f"block={n} state={state} barrel=ach current_nA=50 settle_s=0 discard=0"))
        values = draw(st.dictionaries(st.sampled_from(["orientation_deg", "contrast", "code", "valid"]),
                                      st.floats(-1e3, 1e3), max_size=2))
        text = " ".join([f"trial={n} code={n % 3}", *(f"{k}={v:g}" for k, v in values.items() if k != "code")])
        events.append(LogEvent(at, EventKind.TRIAL_START, text=text))
        length = draw(st.integers(1, 300))
        if draw(st.integers(0, 5)):  # one in six never stops
            events.append(LogEvent(at + length, EventKind.TRIAL_STOP, text=f"trial={n} code={n % 3}"))
        at += length
    gaps = draw(st.lists(st.tuples(st.integers(0, at), st.integers(1, 50)), max_size=2, unique_by=lambda g: g[0]))
    return events, sorted(gaps), at + 10


@settings(max_examples=40, deadline=None)
@given(log=trial_logs())
def test_any_trial_log_gives_one_row_per_trial_with_its_values_and_validity(log):
    import datetime as dt
    from types import SimpleNamespace

    from pynwb import NWBFile

    from analysis.nwb_trials import add_trials, stimulus_column

    events, gaps, end = log
    fs = 1000.0
    rec = SimpleNamespace(events=events, rate_hz=fs, gaps=gaps, end_index=end)
    expected = trials_from_events(events, fs, gaps=[(a, a + n) for a, n in gaps])
    nwb = NWBFile(session_description="t", identifier="t", session_start_time=dt.datetime.now(dt.UTC))
    assert add_trials(nwb, rec) == len(expected)
    t = nwb.trials.to_dataframe()
    np.testing.assert_allclose(t["start_time"], [x.start_index / fs for x in expected])
    np.testing.assert_allclose(t["stop_time"], [(end if x.stop_index is None else x.stop_index) / fs for x in expected])
    assert list(t["valid"]) == [x.valid for x in expected]
    assert list(t["invalid_reason"]) == [x.reason for x in expected]
    assert list(t["drug_state"]) == [x.drug_state for x in expected]
    assert all(x.reason == "incomplete" for x in expected if x.stop_index is None)
    for key in {k for x in expected for k in x.stimulus}:
        np.testing.assert_allclose(t[stimulus_column(key)], [x.stimulus.get(key, np.nan) for x in expected])
    assert "stimulus_valid" in t.columns or not any("valid" in x.stimulus for x in expected)
