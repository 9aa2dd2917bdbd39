"""Trials of a recording and the responses in them: spike counts, rasters, PSTHs, Fano
factor, AUROC and modulation index per stimulus × drug condition.

Trials, their drug condition and their validity come from the event log through
``daq.trials`` (the same rules the trial protocol's closed loop counts with).  A trial's
response is its spike count in a window from ``window_start_s`` after the stimulus onset to
``window_stop_s`` after it (default: to the stimulus offset), as a rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.epochs import current_text
from analysis.source import RecordingLike
from daq.trials import Trial, trials_from_events

Condition = tuple[str, float]
"""(drug state "on"/"off" — or, per current, the drug condition's label — , stimulus value)."""

OFF = "off"


def condition_label(trial: Trial) -> str:
    """A trial's drug condition: ``off``, or its condition's current as ionto writes currents
    everywhere (``60 nA``, ``analysis.epochs.current_text``)."""
    return OFF if trial.drug_state != "on" else current_text(trial.condition_nA)


def condition_order(labels: Iterable[str]) -> list[str]:
    """Drug conditions in order: off first, then by current."""
    def key(label: str) -> tuple[int, float]:
        return (0, 0.0) if label == OFF else (1, float(label.split()[0]) if label.split()[0] != "?" else math.inf)

    return sorted(set(labels), key=key)


def recording_trials(rec: RecordingLike, *, drug_barrel: str | None = None, settle_s: float = 0.0,
                     discard: int = 0) -> list[Trial]:
    """The trials of a recording (``daq.trials.trials_from_events`` on its event log and gaps).
    The reader's gaps are (sample index where samples went missing, number lost); trial validity
    takes them as lost sample ranges [start, stop)."""
    gaps = [(at, at + n) for at, n in rec.gaps]
    return trials_from_events(rec.events, rec.rate_hz, drug_barrel=drug_barrel, settle_s=settle_s,
                              discard=discard, gaps=gaps)


def stimulus_value(trial: Trial, name: str | None = None) -> float:
    """The value a trial showed (``name``, or its first stimulus field; else its code)."""
    if name is not None:
        return trial.stimulus.get(name, math.nan)
    return next(iter(trial.stimulus.values()), float(trial.code))


def window_samples(trial: Trial, rate_hz: float, start_s: float, stop_s: float | None) -> tuple[int, int]:
    """The response window [a, z) of a trial in samples (see ``spike_counts``)."""
    shift = round(start_s * rate_hz)
    a = trial.start_index + shift
    if stop_s is not None:
        z = trial.start_index + round(stop_s * rate_hz)
    else:
        z = a if trial.stop_index is None else trial.stop_index + shift
    return a, max(a, z)


def spike_counts(trials: Sequence[Trial], spike_index: np.ndarray, rate_hz: float, start_s: float = 0.05,
                 stop_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts and window durations (s) of each trial.  The window runs from
    ``start_s`` after onset to ``stop_s`` after onset (None: the offset + ``start_s``, the
    stimulus's duration shifted by the response latency)."""
    spikes = np.sort(np.asarray(spike_index, dtype=np.int64))
    counts = np.zeros(len(trials), dtype=np.int64)
    dur = np.zeros(len(trials))
    for i, t in enumerate(trials):
        a, z = window_samples(t, rate_hz, start_s, stop_s)
        counts[i] = np.searchsorted(spikes, z) - np.searchsorted(spikes, a)
        dur[i] = (z - a) / rate_hz
    return counts, dur


def raster(trials: Sequence[Trial], spike_index: np.ndarray, rate_hz: float, pre_s: float = 0.2,
           post_s: float = 1.0) -> list[np.ndarray]:
    """Spike times (s, relative to each trial's onset) from ``-pre_s`` to ``post_s``."""
    spikes = np.sort(np.asarray(spike_index, dtype=np.int64))
    out = []
    for t in trials:
        a, z = t.start_index - round(pre_s * rate_hz), t.start_index + round(post_s * rate_hz)
        s = spikes[np.searchsorted(spikes, a):np.searchsorted(spikes, z)]
        out.append((s - t.start_index) / rate_hz)
    return out


def psth(trials: Sequence[Trial], spike_index: np.ndarray, rate_hz: float, pre_s: float = 0.2,
         post_s: float = 1.0, bin_s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (s from onset) and the mean rate (Hz) over the trials in each bin."""
    edges = np.arange(-pre_s, post_s + bin_s / 2, bin_s)
    if not trials:
        return edges, np.zeros(edges.size - 1)
    times = np.concatenate(raster(trials, spike_index, rate_hz, pre_s, post_s))
    hist, _ = np.histogram(times, edges)
    return edges, hist / (len(trials) * bin_s)


@dataclass(frozen=True)
class ConditionStats:
    """The responses of the valid trials of one stimulus × drug condition."""

    drug_state: str
    value: float
    n: int
    mean_rate_hz: float
    sem_rate_hz: float
    fano: float  # variance / mean of the spike counts (nan without spikes or with < 2 trials)
    rates_hz: tuple[float, ...]
    condition: str = ""  # the drug condition's label when grouped per current ("off", "60 nA")


def fano_factor(counts: np.ndarray) -> float:
    """Variance / mean of spike counts (sample variance, ddof=1); nan if undefined."""
    c = np.asarray(counts, dtype=float)
    if c.size < 2 or c.mean() <= 0:
        return math.nan
    return float(c.var(ddof=1) / c.mean())


def condition_stats(trials: Sequence[Trial], counts: np.ndarray, durations_s: np.ndarray,
                    value_name: str | None = None, by_current: bool = False) -> dict[Condition, ConditionStats]:
    """Per (drug state, value) — with ``by_current``, per (drug condition label, value), each
    current apart — the valid trials' rates, their mean, SEM and Fano factor."""
    groups: dict[Condition, list[int]] = {}
    for i, t in enumerate(trials):
        if t.valid and durations_s[i] > 0:
            label = condition_label(t) if by_current else t.drug_state
            groups.setdefault((label, stimulus_value(t, value_name)), []).append(i)
    out = {}
    for key in sorted(groups):
        idx = groups[key]
        r = counts[idx] / durations_s[idx]
        sem = float(r.std(ddof=1) / math.sqrt(r.size)) if r.size > 1 else math.nan
        state = "off" if key[0] == OFF else "on"
        out[key] = ConditionStats(state, key[1], r.size, float(r.mean()), sem, fano_factor(counts[idx]),
                                  tuple(float(x) for x in r), condition=key[0])
    return out


def auroc(drug: Iterable[float], control: Iterable[float]) -> float:
    """Area under the ROC curve separating drug from control responses: P(drug > control)
    + ½ P(tie), from the Mann–Whitney U statistic (U / (n₁n₂); Bamber 1975)."""
    x, y = np.asarray(list(drug), float), np.asarray(list(control), float)
    if x.size == 0 or y.size == 0:
        return math.nan
    u = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(u / (x.size * y.size))


def modulation_index(drug_hz: float, control_hz: float) -> float:
    """(drug − control) / (drug + control): −1..1, 0 = no change (nan if both are 0)."""
    s = drug_hz + control_hz
    return math.nan if s <= 0 else (drug_hz - control_hz) / s
