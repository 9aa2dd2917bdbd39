"""daq.trials: trials, drug blocks and validity from the event log (the rules the trial
protocol's closed loop and the analysis share)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.trials import (
    DigitalTrialDecoder,
    DrugBlock,
    format_fields,
    parse_fields,
    trials_from_events,
    valid_counts,
)
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


def _word_stream(n, trials, trial_line=0, code_lines=(1, 2, 3), strobe_line=None, strobe_lead=5):
    """Per-sample port words for trials [(start, stop, code)]: the code lines hold the code
    from strobe_lead samples before the start to the stop, a strobe pulse 2 samples long."""
    w = np.zeros(n, dtype=np.uint32)
    for a, z, code in trials:
        bits = sum(((code >> i) & 1) << line for i, line in enumerate(code_lines))
        w[a - strobe_lead:z] |= bits
        w[a:z] |= 1 << trial_line
        if strobe_line is not None:
            w[a - strobe_lead + 1:a - strobe_lead + 3] |= 1 << strobe_line
    return w


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=6), st.booleans())
def test_digital_trial_lines_become_trial_events_at_their_edges_whatever_the_blocks(blocks, strobed):
    trials = [(100, 300, 5), (450, 460, 1), (700, 999, 7), (1200, 1500, 2)]
    words = _word_stream(1600, trials, strobe_line=6 if strobed else None)
    dec = DigitalTrialDecoder(0, (1, 2, 3), 6 if strobed else None, {5: {"orientation_deg": 45.0}})
    got, i, k = [], 0, 0
    while i < words.size:
        n = blocks[k % len(blocks)]
        got += dec.feed(1000 + i, words[i:i + n])
        i, k = i + n, k + 1
    assert [(e.sample_index, e.kind, e.text) for e in got] == [
        (1100, EventKind.TRIAL_START, "trial=0 code=5 orientation_deg=45"), (1300, EventKind.TRIAL_STOP, "trial=0 code=5"),
        (1450, EventKind.TRIAL_START, "trial=1 code=1"), (1460, EventKind.TRIAL_STOP, "trial=1 code=1"),
        (1700, EventKind.TRIAL_START, "trial=2 code=7"), (1999, EventKind.TRIAL_STOP, "trial=2 code=7"),
        (2200, EventKind.TRIAL_START, "trial=3 code=2"), (2500, EventKind.TRIAL_STOP, "trial=3 code=2")]
    # and the trials read back from those events
    assert [(t.start_index, t.stop_index, t.code) for t in trials_from_events(got, FS)] == [
        (1000 + a, 1000 + z, c) for a, z, c in trials]


def test_change_detection_words_give_the_same_events_as_sampled_words():
    words = _word_stream(1600, [(100, 300, 5), (700, 999, 7)], strobe_line=6)
    changed = np.flatnonzero(np.diff(np.concatenate([[0], words.astype(np.int64)])) != 0)
    a = DigitalTrialDecoder(0, (1, 2, 3), 6).feed(0, words)
    b = DigitalTrialDecoder(0, (1, 2, 3), 6).feed_changes(changed, words[changed])
    assert a == b and len(a) == 4


def test_after_a_pause_in_an_on_block_the_retained_drug_makes_the_trials_not_valid():
    # the pause retains every barrel; resuming does not eject again, the block still says "on"
    ev = [LogEvent(0, EventKind.RETAIN, "ach", -15.0, "initial"), block(0, 0, "on", 60.0),
          LogEvent(0, EventKind.EJECT, "ach", 60.0), LogEvent(2200, EventKind.PAUSE),
          LogEvent(2200, EventKind.RETAIN, "ach", -15.0), LogEvent(2900, EventKind.RESUME)]
    ev += trial(0, 100, 600) + trial(1, 1100, 1600) + trial(2, 2100, 2600) + trial(3, 3100, 3600)
    trials = trials_from_events(ev, FS)
    assert [t.reason for t in trials] == ["", "", "paused", "drug not on"]
    assert [t.drug_current_nA for t in trials] == [60.0, 60.0, 60.0, -15.0]
