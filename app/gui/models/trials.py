"""The live trial view's model (issue 17, item 5): trials as the device reports them, and
their rasters, PSTHs and tuning curves per stimulus × drug condition, filling in as they
arrive.

One source of truth: trials, their drug condition and validity come from the event log
through ``daq.trials.trials_from_events`` (the rules ``ionto analyze`` and the protocol's
closed loop count with); responses, rasters, PSTHs, condition statistics and tuning fits are
``analysis.trials`` and ``analysis.tuning``, called as ``analysis.gain_report.analyze_gain``
calls them (its response window, value names and fit kinds) — and the gain model
(``analysis.gain.fit_gain``) once control and drug trials share two stimulus values.

Drug blocks come from the protocol's ``drug_block`` events; without them (trials the task
runs while the operator ejects by hand), from the current changes of the pipette's first
drug barrel.  Spikes are the live detector's, which keeps the last ``keep_s``: a trial that
started before the oldest kept spike is left out (it would count as silent).

Events (psygnal): ``first_trial()`` when the first trial starts (the window shows its dock),
``changed(snapshot)`` after each ``update`` / ``accept``.  Thread: ``on_event``, ``job``,
``accept`` and ``update`` on the GUI thread; the function ``job`` returns runs on any thread
(the window runs it on a worker: with 800 trials it takes ~130 ms, too long for a frame);
Qt-free.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from psygnal import Signal
from scipy.optimize import OptimizeWarning

from analysis.gain import GainFit, fit_gain
from analysis.gain_report import VALUE_KINDS
from analysis.trials import (
    Condition,
    ConditionStats,
    condition_stats,
    psth,
    raster,
    spike_counts,
    stimulus_value,
)
from analysis.tuning import TuningFit, fit_tuning
from daq.pipette import Pipette
from daq.trials import VALIDITY_KINDS, Trial, trials_from_events
from daq.types import EventKind, LogEvent

WINDOW_START_S = 0.05  # the response window starts this long after onset (analyze_gain's default)
PRE_S = 0.2  # rasters and PSTHs from this long before onset ...
POST_EXTRA_S = 0.3  # ... to the stimulus's duration + this (analyze_gain's PSTH span)
BIN_S = 0.05  # PSTH bin (analyze_gain's default)


@dataclass
class TrialSnapshot:
    """What the trial view draws (drug states "off" = control, "on" = drug)."""

    trials: list[Trial]
    value_name: str
    kind: str | None  # "orientation" / "contrast" (tuning curves are fitted), or None
    stats: dict[Condition, ConditionStats]
    tuning: dict[str, TuningFit]
    rasters: dict[Condition, list[np.ndarray]]
    psths: dict[Condition, tuple[np.ndarray, np.ndarray]]
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # spikes in each trial's window
    gain: GainFit | None = None
    gain_message: str = ""  # why there is no gain fit yet
    left_out: int = 0  # trials older than the detector's memory
    values: list[float] = field(default_factory=list)

    @property
    def n_valid(self) -> int:
        return sum(t.valid for t in self.trials)


def _value_name(trials: list[Trial]) -> str:
    """The name of what the trials showed (their first stimulus field), as analyze_gain names it."""
    return next((k for t in trials for k in t.stimulus), "code")


class TrialModel:
    """Trial events in; per-condition rasters, PSTHs, statistics and tuning fits out."""

    first_trial = Signal()
    changed = Signal(object)

    def __init__(self, pipette: Pipette | None, rate_hz: float, drug_barrel: str | None = None):
        self.rate_hz = float(rate_hz)
        if drug_barrel is None and pipette is not None:
            drug_barrel = next((b.name for b in pipette.barrels if b.role == "drug"), None)
        self.drug_barrel = drug_barrel
        self.events: list[LogEvent] = []
        self.gaps: list[tuple[int, int]] = []
        self.snapshot: TrialSnapshot | None = None
        self.busy = False  # a job is running on a worker (the window starts one at a time)
        self._seen_trial = False

    @property
    def has_trials(self) -> bool:
        return self._seen_trial

    def on_event(self, ev: LogEvent) -> None:
        """Keep what trial validity depends on (``daq.trials.VALIDITY_KINDS``) and the gaps."""
        if ev.kind == EventKind.GAP:
            n = _gap_samples(ev.text)
            self.gaps.append((ev.sample_index, ev.sample_index + n))
        elif ev.kind in VALIDITY_KINDS:
            self.events.append(ev)
            if ev.kind == EventKind.TRIAL_START and not self._seen_trial:
                self._seen_trial = True
                self.first_trial.emit()

    def job(self, spike_index: np.ndarray, since_index: int = 0) -> Callable[[], TrialSnapshot]:
        """The recomputation from the events so far and the detector's spikes (kept from
        ``since_index`` on), on copies taken now: call the result on any thread, then hand its
        snapshot to ``accept``."""
        events, gaps = list(self.events), list(self.gaps)
        spikes = np.array(spike_index, dtype=np.int64)
        rate, drug = self.rate_hz, self.drug_barrel

        def run() -> TrialSnapshot:
            all_trials = trials_from_events(events, rate, drug_barrel=drug, gaps=gaps)
            trials = [t for t in all_trials if t.start_index - round(PRE_S * rate) >= since_index]
            snap = analyse(trials, spikes, rate)
            snap.left_out = len(all_trials) - len(trials)
            return snap

        return run

    def accept(self, snap: TrialSnapshot) -> None:
        """Take a job's snapshot (GUI thread); emits ``changed``."""
        self.snapshot = snap
        self.changed.emit(snap)

    def update(self, spike_index: np.ndarray, since_index: int = 0) -> TrialSnapshot | None:
        """``job`` and ``accept`` at once, on this thread.  None (and no event) before the first trial."""
        if not self._seen_trial:
            return None
        snap = self.job(spike_index, since_index)()
        self.accept(snap)
        return snap


def _gap_samples(text: str) -> int:
    """The lost samples a GAP event's text gives ("... N samples ..."), else 0."""
    words = text.split()
    for a, b in itertools.pairwise(words):
        if b.startswith("sample") and a.isdigit():
            return int(a)
    return 0


def analyse(trials: list[Trial], spike_index: np.ndarray, rate_hz: float) -> TrialSnapshot:
    """The per-condition responses of ``trials`` (analyze_gain's steps, without its bootstrap)."""
    valid = [t for t in trials if t.valid]
    name = _value_name(valid or trials)
    key_name = name if name != "code" else None
    counts, dur = spike_counts(trials, spike_index, rate_hz, WINDOW_START_S, None)
    stats = condition_stats(trials, counts, dur, key_name)
    ok = [i for i, t in enumerate(trials) if t.valid and dur[i] > 0]
    values = np.array([stimulus_value(trials[i], key_name) for i in ok])
    on = np.array([trials[i].drug_state == "on" for i in ok], dtype=bool)
    rates = counts[ok] / dur[ok] if ok else np.zeros(0)
    kind = VALUE_KINDS.get(name)
    tuning: dict[str, TuningFit] = {}
    if kind is not None:
        for state in ("off", "on"):
            sel = on == (state == "on")
            if sel.any():
                with warnings.catch_warnings():  # a few trials in: the covariance may be undefined (stderr nan)
                    warnings.simplefilter("ignore", OptimizeWarning)
                    tuning[state] = fit_tuning(kind, values[sel], rates[sel])
    post_s = (float(np.median(dur[ok])) if ok else 1.0) + POST_EXTRA_S
    rasters, psths = {}, {}
    for key in stats:
        sel = [trials[i] for i in ok if (trials[i].drug_state, stimulus_value(trials[i], key_name)) == key]
        rasters[key] = raster(sel, spike_index, rate_hz, PRE_S, post_s)
        psths[key] = psth(sel, spike_index, rate_hz, PRE_S, post_s, BIN_S)
    gain, message = None, ""
    try:
        gain = fit_gain(values, on, rates, n_boot=0)  # (no bootstrap live: ionto analyze gives the CIs)
    except ValueError as exc:
        message = str(exc)
    snap = TrialSnapshot(trials, name, kind, stats, tuning, rasters, psths, counts, gain, message)
    snap.values = sorted({v for _, v in stats if not math.isnan(v)})
    return snap
