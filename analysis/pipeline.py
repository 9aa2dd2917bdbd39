"""``analyze_recording``: from an HDF5 recording to spikes, rates, epochs and fits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analysis.detect import DetectionParams, Spikes, detect_spikes
from analysis.epochs import Epoch, find_epochs
from analysis.fit import FitResult, fit_ll4
from analysis.rates import rate_in_window, ratemeter
from analysis.truth import EpochTruth, epoch_truth, fit_truth
from daq.recording import Recording
from daq.types import ChannelKind


@dataclass(frozen=True)
class AnalysisParams:
    detection: DetectionParams = field(default_factory=DetectionParams)
    channel: str | None = None  # electrode channel; the first electrode if None
    bin_s: float = 1.0
    baseline_s: float = 30.0
    response_s: float = 10.0
    dose: Literal["current", "charge"] = "current"


@dataclass
class AnalysisResult:
    path: str
    rate_hz: float
    duration_s: float
    channel: str
    spikes: Spikes
    spike_index: np.ndarray  # absolute sample indices
    epochs: list[Epoch]
    fits: dict[str, FitResult]
    fit_errors: dict[str, str]
    ratemeter: tuple[np.ndarray, np.ndarray]
    params: AnalysisParams
    truth_epochs: list[EpochTruth] | None = None
    truth_fits: dict[str, FitResult] = field(default_factory=dict)
    fit_points: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def spike_times_s(self) -> np.ndarray:
        return self.spike_index / self.rate_hz

    def fit_key(self, ep: Epoch) -> str:
        return f"{ep.barrel}:{ep.drug}"


def analyze_recording(path: str | os.PathLike[str], params: AnalysisParams = AnalysisParams()) -> AnalysisResult:
    with Recording(path) as rec:
        return analyze(rec, params)


def analyze(rec: Recording, params: AnalysisParams = AnalysisParams()) -> AnalysisResult:
    if rec.n_samples == 0:
        raise ValueError(f"{rec.path}: the recording holds no committed samples")
    elec = rec.channel_indices(ChannelKind.ELECTRODE)
    if params.channel is not None:
        ch = rec.stream.index_of(params.channel)
    elif elec:
        ch = elec[0]
    else:
        raise ValueError(f"{rec.path}: no electrode channel; channels are {[c.name for c in rec.channels]}")
    x = rec.physical(ch)
    spikes = detect_spikes(x, rec.rate_hz, params.detection)
    spike_index = rec.row_to_index(spikes.index)
    pip = rec.pipette
    epochs: list[Epoch] = []
    if pip is not None:
        epochs = find_epochs(rec.events, pip, rec.rate_hz, rec.end_index, params.baseline_s, params.response_s,
                             rec.gaps, rec.first_index)
    for ep in epochs:
        ep.baseline_rate_hz = rate_in_window(spike_index, *ep.baseline, rec.rate_hz)
        ep.response_rate_hz = rate_in_window(spike_index, *ep.response, rec.rate_hz)
    fits: dict[str, FitResult] = {}
    errors: dict[str, str] = {}
    points: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    unit = "nA" if params.dose == "current" else "nC"
    for key, eps in _groups(epochs).items():
        xs, ys = [], []
        for ep in eps:
            if ep.flags and any("gap" in f for f in ep.flags):
                continue  # flagged epochs are not used
            dose = abs(ep.current_nA) if params.dose == "current" else ep.charge_nC
            # replicate responses: % change of each response-window bin vs the epoch's baseline
            for lo in range(ep.response[0], ep.response[1], max(1, round(params.bin_s * rec.rate_hz))):
                hi = min(lo + round(params.bin_s * rec.rate_hz), ep.response[1])
                if hi - lo < 0.5 * params.bin_s * rec.rate_hz or ep.baseline_rate_hz <= 0:
                    continue
                r = rate_in_window(spike_index, lo, hi, rec.rate_hz)
                xs.append(dose)
                ys.append(100.0 * (r - ep.baseline_rate_hz) / ep.baseline_rate_hz)
        points[key] = (np.array(xs), np.array(ys))
        try:
            fits[key] = fit_ll4(np.array(xs), np.array(ys), unit)
        except ValueError as exc:
            errors[key] = str(exc)
    edges, rate = ratemeter(spike_index / rec.rate_hz, params.bin_s, rec.first_index / rec.rate_hz,
                            rec.end_index / rec.rate_hz)
    result = AnalysisResult(str(rec.path), rec.rate_hz, rec.duration_s, rec.channels[ch].name, spikes, spike_index,
                            epochs, fits, errors, (edges, rate), params, fit_points=points)
    truths = epoch_truth(rec, epochs) if rec.has_ground_truth else None
    if truths is not None:
        result.truth_epochs = truths
        for key, eps in _groups(epochs).items():
            try:
                result.truth_fits[key] = fit_truth(epochs, truths, eps[0].barrel, params.dose)
            except ValueError:
                pass
    return result


def _groups(epochs: list[Epoch]) -> dict[str, list[Epoch]]:
    """Drug epochs grouped by barrel (controls are reported but not fitted)."""
    out: dict[str, list[Epoch]] = {}
    for ep in epochs:
        if ep.is_control:
            continue
        out.setdefault(f"{ep.barrel}:{ep.drug}", []).append(ep)
    return out


def result_json(res: AnalysisResult, out_dir: Path | None = None) -> dict[str, Any]:
    """The ``--json`` document of ``ionto analyze`` (and the body of ``ionto demo --json``)."""
    epochs = []
    for i, ep in enumerate(res.epochs):
        d = ep.as_dict()
        if res.truth_epochs is not None:
            t = res.truth_epochs[i]
            d["truth"] = {"baseline_rate_hz": t.baseline_rate_hz, "response_rate_hz": t.response_rate_hz,
                          "percent_change": t.percent_change}
        epochs.append(d)
    fits = {}
    for key, f in res.fits.items():
        barrel, drug = key.split(":", 1)
        fits[key] = {"barrel": barrel, "drug": drug, **f.as_dict()}
    doc: dict[str, Any] = {
        "file": res.path,
        "duration_s": res.duration_s,
        "rate_hz": res.rate_hz,
        "epochs": epochs,
        "fits": fits,
        "fit_errors": res.fit_errors,
        "spikes": {res.channel: {"count": len(res.spike_index), "threshold": res.spikes.threshold,
                                 "noise_sigma": res.spikes.sigma}},
        "rates": {"bin_s": res.params.bin_s, "mean_rate_hz": float(np.mean(res.ratemeter[1])) if len(res.ratemeter[1]) else 0.0},
    }
    if res.truth_fits:
        doc["ground_truth"] = {k: {"ec50": f.ec50, "hill": f.hill, "top": f.top, "bottom": f.bottom,
                                   "dose_unit": f.dose_unit} for k, f in res.truth_fits.items()}
    return _clean(doc)


def _clean(o: Any) -> Any:
    """Replace NaN/inf by None so the document is strict JSON."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.floating):
        return _clean(float(o))
    if isinstance(o, np.integer):
        return int(o)
    return o
