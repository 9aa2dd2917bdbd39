"""A trial during which samples were lost is not valid, from a real recording's gaps: the reader
gives each gap as (index where samples went missing, number lost), trial validity takes lost
ranges [start, stop) — ``analysis.trials.recording_trials`` (used by ``ionto gain``, the report
and the NWB trials table) converts one to the other."""

from __future__ import annotations

from types import SimpleNamespace

import synth

from analysis.trials import recording_trials
from daq.recording import Recording
from daq.trials import format_fields
from daq.types import EventKind, LogEvent


def _trial(n: int, start: int, stop: int) -> list[LogEvent]:
    return [LogEvent(start, EventKind.TRIAL_START, text=format_fields(trial=n, code=1)),
            LogEvent(stop, EventKind.TRIAL_STOP, text=format_fields(trial=n, code=1))]


def test_a_trial_spanning_a_recordings_gap_is_invalid_and_the_others_are_valid(tmp_path):
    s = synth.Synth(duration_s=20, ejections=[], gaps=[(10.0, 2.0)])  # 2 s lost at 10 s
    synth.write(tmp_path / "gap.h5", s)
    with Recording(tmp_path / "gap.h5") as rec:
        gaps, fs = rec.gaps, rec.rate_hz
    assert len(gaps) == 1
    at, lost = gaps[0]
    assert lost > 0
    # trial 1 starts and ends inside the lost stretch, away from its first sample: only a
    # range [at, at + lost) catches it (a pair read as (start, stop) = (at, lost) does not)
    events = (_trial(0, round(2 * fs), round(3 * fs)) + _trial(1, at + lost // 4, at + lost // 2)
              + _trial(2, at + lost + round(fs), at + lost + round(2 * fs)))
    trials = recording_trials(SimpleNamespace(events=events, rate_hz=fs, gaps=gaps))
    assert [t.reason for t in trials] == ["", "gap", ""]
