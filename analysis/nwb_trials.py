"""The NWB trials table of an export (``/intervals/trials``): one row per trial of the event
log, as ``daq.trials.trials_from_events`` finds them (the rules ``ionto gain`` and the trial
protocol's closed loop use; docs/trials.md).

Columns besides ``start_time`` / ``stop_time`` (s): ``trial`` (number), ``code`` (condition
code), one float column per stimulus value the trials name (e.g. ``orientation_deg``; NaN in
a trial that does not name it), ``drug_block``, ``drug_state`` (``on``/``off``),
``drug_current_nA`` (the drug barrel's commanded current at the trial's start; its retaining
current in an off block), ``condition_nA`` (the block's design current, 0 when off), ``valid`` and
``invalid_reason`` (empty when valid: otherwise incomplete, gap, paused, drug changed,
settling, discarded, ...).  A trial whose stop was never logged ends with the recording and
is not valid.

Thread: the caller's.
"""

from __future__ import annotations

import math
from typing import Any

from analysis.trials import recording_trials

RESERVED = frozenset({"start_time", "stop_time", "tags", "timeseries", "id", "trial", "code", "drug_block",
                      "drug_state", "drug_current_nA", "condition_nA", "valid", "invalid_reason"})
FIXED_COLUMNS = (
    ("trial", "trial number (as the event log numbers them)"),
    ("code", "condition code of the trial (the strobe word, or the protocol's condition number)"),
    ("drug_block", "drug block the trial is in (numbered from 0 in the order of the drug changes)"),
    ("drug_state", "drug condition of the block: 'on' (the drug barrel ejecting) or 'off'"),
    ("drug_current_nA", "the drug barrel's commanded current at the trial's start, nA (signed)"),
    ("condition_nA", "the drug condition's current: its block's design current, nA (0 when off)"),
    ("valid", "whether the trial counts (complete, no lost samples or pause, drug unchanged, settled, not "
              "discarded after a drug change)"),
    ("invalid_reason", "why the trial does not count (empty when valid)"),
)


def stimulus_column(key: str) -> str:
    """A stimulus value's column name (prefixed where it would clash with another column)."""
    return f"stimulus_{key}" if key in RESERVED else key


def add_trials(nwb: Any, rec: Any) -> int:
    """The trials table of ``rec``'s trials, added to ``nwb`` (nothing without trials); returns
    the rows written."""
    trials = recording_trials(rec)
    if not trials:
        return 0
    rate, end_s = rec.rate_hz, rec.end_index / rec.rate_hz
    keys = list(dict.fromkeys(k for t in trials for k in t.stimulus))
    for name, desc in FIXED_COLUMNS:
        nwb.add_trial_column(name=name, description=desc)
    for k in keys:
        nwb.add_trial_column(name=stimulus_column(k), description=f"stimulus value {k!r} the trial showed (NaN: "
                             "not named by this trial)")
    for t in trials:
        start = t.start_index / rate
        stop = end_s if t.stop_index is None else t.stop_index / rate
        values = {stimulus_column(k): float(t.stimulus.get(k, math.nan)) for k in keys}
        nwb.add_trial(start_time=start, stop_time=max(start, stop), trial=int(t.number), code=int(t.code),
                      drug_block=int(t.block), drug_state=t.drug_state, drug_current_nA=float(t.drug_current_nA),
                      condition_nA=float(t.condition_nA), valid=bool(t.valid), invalid_reason=t.reason, **values)
    return len(trials)
