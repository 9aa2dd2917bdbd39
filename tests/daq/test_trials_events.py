"""daq.trials: trials, drug blocks and validity from the event log (the rules the trial
protocol's closed loop and the analysis share)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daq.trials import DrugBlock, format_fields, parse_fields, trials_from_events, valid_counts
from daq.types import EventKind, LogEvent

FS = 1000.0


def trial(n, start, stop, code=1, **values):
    text = format_fields(trial=n, code=code, **{k: float(v) for k, v in values.items()})
    out = [LogEvent(start, EventKind.TRIAL_START, text=text)]
    if stop is not None:
        out.append(LogEvent(stop, EventKind.TRIAL_STOP, text=format_fields(trial=n, code=code)))
    return out


def block(b, at, state, current=0.0, settle_s=0.0, discard=0):
    return DrugBlock(b, at, state, "ach", current, settle_s, discard).event()


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
                       st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=5))
def test_fields_read_back_as_written(fields):
    got = parse_fields(format_fields(**fields))
    assert {k: float(v) for k, v in got.items()} == {k: float(f"{v:g}") for k, v in fields.items()}


def test_a_drug_block_event_reads_back_as_the_block():
    b = DrugBlock(3, 1234, "on", "ach", 60.0, 5.0, 2)
    assert DrugBlock.from_event(b.event()) == b


def test_settling_and_discarded_trials_after_each_drug_change_do_not_count():
    ev = [block(0, 0, "off", settle_s=0.0, discard=1), block(1, 10_000, "on", 60.0, settle_s=3.0, discard=2)]
    for k in range(20):  # a trial every second, 0.5 s long
        ev += trial(k, k * 1000 + 100, k * 1000 + 600, code=1 + k % 2, orientation_deg=45 * (k % 2))
    trials = trials_from_events(ev, FS)
    reasons = [t.reason for t in trials]
    assert reasons[:10] == ["discarded"] + [""] * 9
    # block 1 starts at 10 s; trials start at 10.1 .. 12.1 s settle (< 13 s), then 2 discarded
    assert reasons[10:13] == ["settling"] * 3
    assert reasons[13:15] == ["discarded"] * 2
    assert all(r == "" for r in reasons[15:])
    assert [t.drug_state for t in trials] == ["off"] * 10 + ["on"] * 10
    assert trials[3].stimulus == {"orientation_deg": 45.0}
    assert valid_counts(trials, block=1) == {1: 2, 2: 3}


def test_incomplete_trials_trials_across_a_change_and_trials_in_a_gap_are_not_valid():
    ev = [block(0, 0, "off"), block(1, 2300, "on", 40.0)]
    ev += trial(0, 100, 600) + trial(1, 1100, 1600) + trial(2, 2100, 2600) + trial(3, 3100, None)
    trials = trials_from_events(ev, FS, gaps=[(1500, 1510)])
    assert [t.reason for t in trials] == ["", "gap", "drug changed", "incomplete"]


def test_without_drug_blocks_the_drug_barrels_currents_make_the_blocks_and_each_trial_carries_its_current():
    ev = [LogEvent(5000, EventKind.EJECT, "ach", 60.0), LogEvent(9000, EventKind.RETAIN, "ach", -15.0)]
    for k in range(12):
        ev += trial(k, k * 1000 + 100, k * 1000 + 600)
    trials = trials_from_events(ev, FS, drug_barrel="ach", settle_s=1.0, discard=1)
    assert [t.drug_state for t in trials] == ["off"] * 5 + ["on"] * 4 + ["off"] * 3
    assert [t.drug_current_nA for t in trials] == [0.0] * 5 + [60.0] * 4 + [-15.0] * 3
    assert [t.valid for t in trials[5:9]] == [False, False, True, True]  # settling 5.1 s, discarded 6.1 s
