"""Ground truth of recordings made on the simulated rig (``/ground_truth``).

The simulator stores its noiseless expected firing rate (point samples every
``truth_decimation`` samples) and the spike times it generated.  Here they become the
truth the analysis is judged against: the expected rate in each epoch's baseline and
response windows, the expected % change, and the EC50 fitted to those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.epochs import Epoch
from analysis.fit import FitResult, fit_ll4
from analysis.source import RecordingLike


@dataclass
class EpochTruth:
    baseline_rate_hz: float
    response_rate_hz: float

    @property
    def percent_change(self) -> float:
        if self.baseline_rate_hz <= 0:
            return float("nan")
        return 100.0 * (self.response_rate_hz - self.baseline_rate_hz) / self.baseline_rate_hz


def expected_rate_series(rec: RecordingLike, neuron: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """(sample indices, expected rate Hz) of one simulated neuron, or None without truth."""
    if "expected_rate_hz" not in rec.truth_names():
        return None
    idx = rec.truth("truth_index")
    rate = rec.truth("expected_rate_hz")
    n = min(len(idx), len(rate))
    rate = rate[:n]
    if rate.ndim == 2:
        rate = rate[:, neuron]
    return idx[:n].astype(np.int64), rate.astype(np.float64)


def window_mean(idx: np.ndarray, values: np.ndarray, lo: int, hi: int) -> float:
    a, b = np.searchsorted(idx, [lo, hi])
    return float(values[a:b].mean()) if b > a else float("nan")


def epoch_truth(rec: RecordingLike, epochs: list[Epoch], neuron: int = 0) -> list[EpochTruth] | None:
    series = expected_rate_series(rec, neuron)
    if series is None:
        return None
    idx, rate = series
    return [EpochTruth(window_mean(idx, rate, *ep.baseline), window_mean(idx, rate, *ep.response)) for ep in epochs]


def truth_spike_index(rec: RecordingLike, neuron: int = 0) -> np.ndarray | None:
    name = f"spike_index/neuron{neuron}"
    return rec.truth(name) if name in rec.truth_names() else None


def fit_truth(epochs: list[Epoch], truths: list[EpochTruth], group: list[Epoch], dose: str = "current") -> FitResult:
    """The 4PL fitted to the expected (noiseless) % change of a group of epochs (and 0 % at
    dose 0, the baseline by definition)."""
    xs, ys = [0.0], [0.0]
    members = {id(ep) for ep in group}
    for ep, tr in zip(epochs, truths):
        if id(ep) in members:
            xs.append(abs(ep.current_nA) if dose == "current" else ep.charge_nC)
            ys.append(tr.percent_change)
    return fit_ll4(np.array(xs), np.array(ys), "nA" if dose == "current" else "nC", limits=(-100.0, math.inf))


def match_spikes(detected: np.ndarray, truth: np.ndarray, tol: int) -> tuple[int, float, float]:
    """One-to-one matching of detected to true spike sample indices within ±``tol``
    samples (each true spike takes the first unused detection in its window):
    (hits, recall, precision)."""
    detected = np.sort(np.asarray(detected))
    truth = np.sort(np.asarray(truth))
    used = np.zeros(len(detected), bool)
    hits = 0
    j = 0
    for t in truth:
        while j < len(detected) and detected[j] < t - tol:
            j += 1
        k = j
        while k < len(detected) and detected[k] <= t + tol:
            if not used[k]:
                used[k] = True
                hits += 1
                break
            k += 1
    return hits, hits / max(len(truth), 1), hits / max(len(detected), 1)
