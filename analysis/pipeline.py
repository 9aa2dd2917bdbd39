"""``analyze(rec)``: from a recording to spikes, units, rates, epochs, fits and comparisons.

Works on any ``analysis.source.RecordingLike`` (the HDF5 reader, or an NWB-backed reader).
Memory stays bounded whatever the record's length: samples are streamed once through the
detector; everything after works on spike times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from analysis.detect import DetectionParams, Spikes
from analysis.detect_file import Detection, detect_recording
from analysis.epochs import (
    Epoch,
    EpochParams,
    check_currents,
    current_text,
    find_epochs,
    measure_epochs,
)
from analysis.filters import zero_phase
from analysis.fit import FitError, FitResult, fit_ll4
from analysis.fit_compare import Comparison, compare_fits
from analysis.rates import PSTH, binned_rates, psth, rate_in_window, ratemeter, smoothed_rate
from analysis.sorting import SortingParams, sort_units
from analysis.source import RecordingLike, open_source
from analysis.truth import CurveTruth, EpochTruth, epoch_truth
from analysis.units import Unit, load_sorted_spikes
from daq.types import ChannelKind

Progress = Callable[[int, int], None]
# (recording, epochs, fit groups, dose axis) → true curves per group; given by the composition
# root (app.sim_truth) for simulated recordings: analysis does not import the simulator
TruthModel = Callable[[Any, list[Epoch], dict[str, list[Epoch]], str], dict[str, CurveTruth]]
PERCENT_LIMITS = (-100.0, float("inf"))  # a firing rate cannot fall below zero


@dataclass(frozen=True)
class AnalysisParams:
    detection: DetectionParams = field(default_factory=DetectionParams)
    channels: tuple[str, ...] | None = None  # electrode channels to detect on (default: all electrodes)
    unit: str | None = None  # "CHANNEL" (all its spikes), "CHANNEL:uK" (a separated unit) or an imported label
    sort_units: bool = False
    max_units: int = 4
    sorter: str = "tridesclous2"  # SpikeInterface sorter for channel groups (analysis.sorting)
    channel_groups: tuple[tuple[str, ...], ...] | None = None  # channels sorted jointly (tetrodes, shanks)
    sorted_spikes: str | None = None  # CSV or NWB file of sorted spike times to import
    bin_s: float = 1.0  # ratemeter and replicate-response bins
    baseline_s: float = 30.0
    response_s: float = 10.0
    recovery_s: float = 10.0
    dose: Literal["current", "charge"] = "current"
    fit_on: Literal["bins", "epochs"] = "epochs"  # one point per ejection, or its bins as (pseudo-)replicates
    conf: float = 0.95  # confidence level of every CI
    smooth_sigma_s: float = 1.0
    threads: int = 2
    series: str | None = None  # an NWB file's ElectricalSeries (name or path) when it has several
    positions_um: Mapping[str, tuple[float, float]] | None = None  # grouped channels' contact positions (µm)

    def __post_init__(self) -> None:
        if self.dose not in ("current", "charge"):
            raise ValueError(f"dose must be 'current' or 'charge', got {self.dose!r}")
        if self.fit_on not in ("bins", "epochs"):
            raise ValueError(f"fit_on must be 'bins' or 'epochs', got {self.fit_on!r}")
        if not 0 < self.conf < 1:
            raise ValueError(f"the confidence level must be between 0 and 1 (e.g. 0.95), got {self.conf}")
        EpochParams(self.baseline_s, self.response_s, self.recovery_s, self.bin_s)  # validates

    @property
    def epoch_params(self) -> EpochParams:
        return EpochParams(self.baseline_s, self.response_s, self.recovery_s, self.bin_s)

    @property
    def dose_unit(self) -> str:
        return "nA" if self.dose == "current" else "nC"


@dataclass(frozen=True)
class Trace:
    """A short stretch of the analysed electrode channel, for the report's snippet figure."""

    start_index: int
    raw: np.ndarray  # physical units (V)
    filtered: np.ndarray  # zero-phase band-passed (V)
    rate_hz: float


@dataclass
class AnalysisResult:
    path: str
    rate_hz: float
    duration_s: float
    first_index: int
    end_index: int
    detection: Detection
    unit: str  # label of the spike train the epochs and fits use
    channel: str  # the electrode channel it comes from (the first one for imported units)
    spike_index: np.ndarray  # its absolute sample indices
    units: dict[str, list[Unit]]  # separated units per channel
    imported: dict[str, np.ndarray]  # imported sorted units: label → sample indices
    epochs: list[Epoch]
    fits: dict[str, FitResult]
    fit_errors: dict[str, str]
    fit_points: dict[str, tuple[np.ndarray, np.ndarray]]
    comparisons: list[Comparison]
    ratemeter: tuple[np.ndarray, np.ndarray]
    smoothed: tuple[np.ndarray, np.ndarray]
    psths: dict[str, PSTH]
    params: AnalysisParams
    trace: Trace | None = None
    truth_epochs: list[EpochTruth] | None = None
    truth: dict[str, CurveTruth] = field(default_factory=dict)  # per fit group, from the simulator's model
    meta: dict[str, Any] = field(default_factory=dict)  # what the report says about the recording

    @property
    def spikes(self) -> Spikes | None:
        return self.detection.spikes.get(self.channel)

    @property
    def spike_times_s(self) -> np.ndarray:
        return self.spike_index / self.rate_hz


def analyze_recording(path: str | os.PathLike[str], params: AnalysisParams = AnalysisParams(),
                      progress: Progress | None = None, truth_model: TruthModel | None = None) -> AnalysisResult:
    """Open an HDF5 (or NWB) recording and ``analyze`` it."""
    with open_source(path, series=params.series) as rec:
        return analyze(rec, params, progress, truth_model)


def recording_meta(rec: RecordingLike) -> dict[str, Any]:
    """What the report names about a recording: date, protocol, pipette, drugs, the software
    that recorded it and the ionto that analysed it (what the source knows; empty if not)."""
    import daq

    pip = rec.pipette
    proto = getattr(rec, "protocol", None)
    try:
        software = dict(getattr(rec, "software", None) or {})
    except (TypeError, ValueError):
        software = {}
    drugs = [] if pip is None else [
        {"barrel": b.name, "drug": b.drug, "role": b.role, "concentration_mM": b.concentration_mM,
         "polarity": b.polarity} for b in pip.barrels if b.role != "balance"]
    return {"date": str(getattr(rec, "created", "") or ""), "protocol": getattr(proto, "name", "") or "",
            "pipette": "" if pip is None else (pip.name or f"{len(pip.barrels)}-barrel pipette"),
            "drugs": drugs, "recorded_with": str(software.get("ionto", "")), "analysed_with": daq.__version__,
            "read_notes": list(getattr(rec, "read_notes", ()))}  # how the file was read (NWB: channels-first)


def analyze(rec: RecordingLike, params: AnalysisParams = AnalysisParams(),
            progress: Progress | None = None, truth_model: TruthModel | None = None) -> AnalysisResult:
    if rec.n_samples == 0:
        raise ValueError(f"{rec.path}: the recording holds no committed samples")
    det = detect_recording(rec, params.detection, params.channels, progress, threads=params.threads)
    units: dict[str, list[Unit]] = {}
    want_unit_channel = params.unit.split(":")[0] if params.unit and ":u" in params.unit else None
    if params.sort_units or want_unit_channel in det.spikes:
        units = sort_units(rec, det, SortingParams(params.channel_groups, params.sorter, params.max_units,
                                                   positions_um=params.positions_um),
                           only=None if params.sort_units else [want_unit_channel])
    imported: dict[str, np.ndarray] = {}
    if params.sorted_spikes:
        for label, times in load_sorted_spikes(params.sorted_spikes, rec.rate_hz).items():
            imported[label] = np.round(times * rec.rate_hz).astype(np.int64)
    label, train = _choose_train(det, units, imported, params.unit, str(rec.path))
    channel = label.split(":")[0] if label.split(":")[0] in det.spikes else next(iter(det.spikes))
    fs = rec.rate_hz
    ep_params = params.epoch_params
    epochs: list[Epoch] = []
    pip = rec.pipette
    if pip is not None:
        epochs = find_epochs(rec.events, pip, fs, rec.first_index, rec.end_index, ep_params, rec.gaps,
                             det.clipped.get(channel, []))
        check_currents(epochs, _monitored_currents(rec, epochs), ep_params)
        measure_epochs(epochs, train, ep_params)
    fits, errors, points = fit_groups(epochs, train, params)
    comparisons = _compare_groups(epochs, points, fits, params)
    t0, t1 = rec.first_index / fs, rec.end_index / fs
    res = AnalysisResult(
        str(rec.path), fs, rec.duration_s, rec.first_index, rec.end_index, det, label, channel, train, units, imported,
        epochs, fits, errors, points, comparisons, ratemeter(train / fs, params.bin_s, t0, t1),
        smoothed_rate(train / fs, params.smooth_sigma_s, t0, t1), _psths(epochs, train, params), params,
    )
    res.trace = _trace(rec, channel, epochs, params)
    res.meta = recording_meta(rec)
    if rec.has_ground_truth and epochs:
        res.truth_epochs = epoch_truth(rec, epochs)
    if truth_model is not None and epochs:
        res.truth = truth_model(rec, epochs, _groups(epochs), params.dose)
    return res


def _trace(rec: RecordingLike, channel: str, epochs: list[Epoch], params: AnalysisParams,
           seconds: float = 0.5) -> Trace:
    """Half a second of the channel: from the response window of the strongest ejection, or
    the middle of the record."""
    fs = rec.rate_hz
    drug = [ep for ep in epochs if not ep.is_control and ep.usable]
    at = max(drug, key=lambda ep: abs(ep.current_nA)).response[0] if drug else rec.first_index + rec.n_samples // 2
    r0 = int(rec.index_to_row(np.array([at]))[0])
    n = int(seconds * fs)
    r0 = max(0, min(r0, rec.n_samples - n))
    bp = params.detection.bandpass(fs)
    pad = bp.margin
    lo = max(0, r0 - pad)
    ch = rec.stream.index_of(channel)
    x = rec.physical(ch, lo, min(rec.n_samples, r0 + n + pad))
    z = zero_phase(x, bp)
    return Trace(int(rec.row_to_index(np.array([r0]))[0]), x[r0 - lo:r0 - lo + n], z[r0 - lo:r0 - lo + n], fs)


def _choose_train(det: Detection, units: dict[str, list[Unit]], imported: dict[str, np.ndarray],
                  want: str | None, path: str) -> tuple[str, np.ndarray]:
    if want is None:
        name = next(iter(det.spikes))
        return name, det.spikes[name].index
    if want in det.spikes:
        return want, det.spikes[want].index
    for us in units.values():
        for u in us:
            if u.label == want:
                return want, u.index
    if want in imported:
        return want, np.sort(imported[want])
    choices = [*det.spikes, *(u.label for us in units.values() for u in us), *imported]
    raise ValueError(f"{path}: no spike train {want!r}; choose one of {choices}")


def _monitored_currents(rec: RecordingLike, epochs: list[Epoch], windows: int = 10,
                        window_s: float = 0.25) -> dict[int, float]:
    """Mean current-monitor reading during each ejection (skipping its first 0.2 s), from
    up to ``windows`` short windows spread over it — bounded reads however long it lasts."""
    monitors = {c.barrel: i for i, c in enumerate(rec.channels) if c.kind == ChannelKind.CURRENT_MONITOR and c.barrel}
    out: dict[int, float] = {}
    for k, ep in enumerate(epochs):
        ch = monitors.get(ep.barrel)
        if ch is None:
            continue
        lo = ep.onset + min(round(0.2 * ep.rate_hz), (ep.offset - ep.onset) // 2)
        r0, r1 = (int(r) for r in rec.index_to_row(np.array([lo, ep.offset])))
        if r1 <= r0:
            continue
        n = max(1, round(window_s * ep.rate_hz))
        starts = np.unique(np.linspace(r0, max(r0, r1 - n), windows).astype(np.int64))
        values = [rec.physical(ch, int(a), int(min(a + n, r1))) for a in starts]
        out[k] = float(np.mean(np.concatenate(values)))
    return out


def group_key(ep: Epoch) -> str:
    """Fit group of an epoch: ``barrel:drug`` plus what else was ejected throughout."""
    base = f"{ep.barrel}:{ep.drug}"
    return base if not ep.concurrent else f"{base} + {' + '.join(ep.concurrent)}"


def _groups(epochs: list[Epoch]) -> dict[str, list[Epoch]]:
    out: dict[str, list[Epoch]] = {}
    for ep in epochs:
        if not ep.is_control:
            out.setdefault(group_key(ep), []).append(ep)
    return out


def _dose(ep: Epoch, params: AnalysisParams) -> float:
    return abs(ep.current_nA) if params.dose == "current" else ep.charge_nC


def points_label(params: AnalysisParams) -> str:
    """What one point of a fit is, in words (shown with every fit: tables, report, figures)."""
    if params.fit_on == "bins":
        return (f"{params.bin_s:g}-s bins of each response window and of each baseline, as replicates "
                "(pseudo-replicates: the bins of one ejection are not independent, so CIs are too narrow)")
    return ("one per ejection (its response window vs its baseline) and, at dose 0, one per ejection "
            "(the last part of its baseline vs the rest)")


def _zero_split(ep: Epoch, params: AnalysisParams) -> tuple[tuple[int, int], tuple[int, int]]:
    """(reference, probe) windows that split an epoch's baseline: the probe is its last
    ``response_s`` (at most half of it), the reference what comes before."""
    lo, hi = ep.baseline
    n = min(round(params.response_s * ep.rate_hz), (hi - lo) // 2)
    return (lo, hi - n), (hi - n, hi)


def _points(eps: list[Epoch], train: np.ndarray, params: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    """Responses (% change from the epoch's baseline) of usable epochs.

    ``fit_on="epochs"`` (the default): one point per ejection — its response-window rate vs
    its baseline — and one at dose 0 per ejection: the rate in the last ``response_s`` of
    its baseline (at most half of it) vs the rest of that baseline, the same measure taken
    where no drug was ejected, so the zero-dose level of the curve is measured, not assumed,
    and never from overlapping windows.  ``fit_on="bins"``: every ``bin_s`` bin of the
    response window at the epoch's dose and of the baseline at dose 0 (pseudo-replicates)."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for ep in eps:
        base = ep.baseline_rate_hz
        if not ep.usable or not np.isfinite(base) or base <= 0:
            continue
        if params.fit_on == "bins":
            zero = 100.0 * (binned_rates(train, *ep.baseline, ep.rate_hz, params.bin_s) - base) / base
            resp = 100.0 * (binned_rates(train, *ep.response, ep.rate_hz, params.bin_s) - base) / base
        else:
            ref, probe = _zero_split(ep, params)
            ref_hz = rate_in_window(train, *ref, ep.rate_hz)
            zero = (np.array([100.0 * (rate_in_window(train, *probe, ep.rate_hz) - ref_hz) / ref_hz])
                    if ref_hz > 0 else np.zeros(0))
            resp = np.array([ep.percent_change])
        xs += [np.zeros(len(zero)), np.full(len(resp), _dose(ep, params))]
        ys += [zero, resp]
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def fit_groups(epochs, train, params):
    """Fit each condition group (barrel, drug, and what else was ejected with it) of ``epochs``:
    ``(fits, errors, points)`` keyed by ``group_key``, one point per ejection plus the dose-0
    baseline points (bins as replicates when ``params`` asks).  The one fit rule, used by
    ``ionto analyze`` and the rig window's live dose-response."""
    fits: dict[str, FitResult] = {}
    errors: dict[str, str] = {}
    points: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key, eps in _groups(epochs).items():
        points[key] = _points(eps, train, params)
        excluded = sum(not ep.usable for ep in eps)
        try:
            fits[key] = fit_ll4(*points[key], dose_unit=params.dose_unit, conf=params.conf, limits=PERCENT_LIMITS,
                                points=points_label(params))
        except FitError as exc:
            errors[key] = str(exc) + (f" ({excluded} flagged epoch(s) excluded)" if excluded else "")
    return fits, errors, points


def _compare_groups(epochs, points, fits, params) -> list[Comparison]:
    """Each barrel's plain curve against its curves with something else ejected throughout."""
    out = []
    groups = _groups(epochs)
    for key, eps in groups.items():
        if eps[0].concurrent or key not in fits:
            continue
        for other in groups:
            if other == key or not other.startswith(key + " + ") or other not in fits:
                continue
            try:
                comp, _, _ = compare_fits(*points[key], *points[other], key, other, params.dose_unit, params.conf,
                                          limits=PERCENT_LIMITS, fits=(fits[key], fits[other]))
            except (FitError, ValueError):
                continue
            out.append(comp)
    return out


def _psths(epochs: list[Epoch], train: np.ndarray, params: AnalysisParams) -> dict[str, PSTH]:
    """PSTH around the onsets of each condition and current (mean over repeats)."""
    by: dict[str, list[Epoch]] = {}
    for ep in epochs:
        by.setdefault(f"{group_key(ep)} @ {current_text(ep.current_nA)}", []).append(ep)
    out = {}
    for key, eps in by.items():
        dur = float(np.median([ep.duration_s for ep in eps]))
        out[key] = psth(train, np.array([ep.onset for ep in eps]), eps[0].rate_hz, params.baseline_s,
                        dur + params.recovery_s, params.bin_s)
    return out


def delivered_current_problems(rec: RecordingLike, params: EpochParams | None = None) -> list[str]:
    """One line per ejection whose monitored (delivered) current differs from the commanded
    one — a clogged barrel, or a current source at its compliance voltage.  Empty when every
    monitored ejection delivered what was asked (or nothing is monitored).  ``ionto run``
    says these at the end of a run."""
    pip = rec.pipette
    if pip is None:
        return []
    params = params or EpochParams()
    epochs = find_epochs(rec.events, pip, rec.rate_hz, rec.first_index, rec.end_index, params, rec.gaps)
    check_currents(epochs, _monitored_currents(rec, epochs), params)
    return [f"barrel {ep.barrel!r}, ejection at {ep.onset / ep.rate_hz:.1f} s: {flag}"
            for ep in epochs for flag in ep.flags if "differs from the commanded" in flag]
