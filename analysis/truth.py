"""Ground truth of recordings made on the simulated rig.

* Per epoch (``epoch_truth``): the simulator stores its noiseless expected firing rate
  (``/ground_truth``, point samples every ``truth_decimation`` samples) and the spike times
  it generated; the expected rate in each epoch's baseline and response windows and the
  expected % change judge the rate measurement.
* Per curve (``CurveTruth``): the dose–response the simulator's *model* implies — the
  receptor's Hill curve at the drug concentration the diffusion model reaches at steady
  state for each ejecting current — and its EC50.  It is computed from the model's
  parameters (by the composition root, ``app.sim_truth``: ``analysis`` does not import the
  simulator), never by fitting the analysis' own windows, so a wrong window or a wrong
  fit shows up as a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.epochs import Epoch
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


@dataclass(frozen=True)
class CurveTruth:
    """The true dose–response of one fit group, from the simulator's model.

    ``ec50``: the dose at which the model's steady-state % change is half way from its
    zero-dose level to its plateau (depolarisation block left out: the 4PL does not model
    it); ``dose``/``response``: the model's steady-state curve, for figures."""

    ec50: float
    dose_unit: str
    source: str  # how it was computed, in words
    dose: np.ndarray
    response: np.ndarray  # % change at steady state
    receptor_ec50_uM: float = math.nan  # the receptor's EC50 (shifted by concurrent antagonists)
    concentration_uM_per_nA: float = math.nan  # steady-state concentration at the neuron per nA
    receptor_ec50_dose: float = math.nan  # the dose whose steady-state concentration is the receptor EC50

    def as_dict(self) -> dict:
        return {"ec50": self.ec50, "dose_unit": self.dose_unit, "source": self.source,
                "receptor_ec50_uM": self.receptor_ec50_uM, "receptor_ec50_dose": self.receptor_ec50_dose,
                "concentration_uM_per_nA": self.concentration_uM_per_nA}

    def predict(self, dose) -> np.ndarray:
        """The model's steady-state % change at ``dose`` (interpolated on log dose)."""
        x = np.asarray(dose, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.interp(np.log(np.maximum(x, 1e-300)), np.log(self.dose), self.response)


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
