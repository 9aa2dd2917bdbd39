"""Ejection epochs from the event log, their windows, their responses, and their flags.

An epoch starts where a drug or control barrel's current changes to an *ejecting*
current (a drug barrel: the sign of its polarity; a control barrel: any non-zero
current) and ends at the barrel's next current change.  Windows (sample indices):

* baseline — the ``baseline_s`` before onset, shortened so that it starts after the
  previous ejection of any other barrel has ended (barrels still ejecting at this onset,
  e.g. an antagonist, are part of the condition and do not shorten it);
* response — the last ``response_s`` of the ejection;
* recovery — the last ``recovery_s`` before the next onset (or the end of the record),
  and not before this epoch's offset.

Flags say why an epoch is not used for a fit — never silently: a window overlapping a
gap in the recording, clipped electrode samples, a baseline shorter than half of
``baseline_s``, an ejection shorter than the response window, a baseline before the
recording started, a delivered (monitored) current more than 10 % (and 1 nA) away from
the commanded one.  Informational notes (``notes``) do not exclude it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.rates import binned_rates, rate_in_window, smoothed_rate
from daq.pipette import Pipette
from daq.types import EventKind, LogEvent

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}
Window = tuple[int, int]


def current_text(current_nA: float) -> str:
    """An ejection's current as written everywhere (conditions, tables, figures, bars): its
    magnitude and unit, ``20 nA`` — the direction is the drug's ejecting polarity.  The
    tables' ``current_nA`` columns keep the signed value as commanded."""
    if current_nA != current_nA:
        return "? nA"
    return f"{abs(current_nA):g} nA"


@dataclass(frozen=True)
class EpochParams:
    baseline_s: float = 30.0
    response_s: float = 10.0
    recovery_s: float = 10.0
    bin_s: float = 1.0  # bins for the baseline s.d. (z-score) and replicate responses
    current_tolerance: float = 0.10  # of the commanded current (and at least 1 nA)

    def __post_init__(self) -> None:
        for name in ("baseline_s", "response_s", "recovery_s", "bin_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 s, got {getattr(self, name)}")


@dataclass
class Epoch:
    barrel: str
    drug: str
    role: str  # "drug" or "control"
    current_nA: float  # signed, as commanded
    onset: int  # sample index
    offset: int
    rate_hz: float  # sampling rate
    baseline: Window
    response: Window
    recovery: Window
    concurrent: tuple[str, ...] = ()  # "drug current" of other barrels ejecting throughout
    flags: list[str] = field(default_factory=list)  # reasons not to use it
    notes: list[str] = field(default_factory=list)
    measured_current_nA: float = float("nan")
    baseline_rate_hz: float = float("nan")
    baseline_sd_hz: float = float("nan")
    response_rate_hz: float = float("nan")
    recovery_rate_hz: float = float("nan")
    t50_s: float = float("nan")  # time from onset to 50 % inhibition (inhibitory responses)

    @property
    def duration_s(self) -> float:
        return (self.offset - self.onset) / self.rate_hz

    @property
    def charge_nC(self) -> float:
        return abs(self.current_nA) * self.duration_s

    @property
    def is_control(self) -> bool:
        return self.role == "control"

    @property
    def usable(self) -> bool:
        return not self.flags

    @property
    def condition(self) -> str:
        """What was ejected, e.g. ``GABA`` or ``GABA + bicuculline 20 nA``."""
        return " + ".join([self.drug, *self.concurrent])

    @property
    def percent_change(self) -> float:
        if not np.isfinite(self.baseline_rate_hz) or self.baseline_rate_hz <= 0:
            return float("nan")
        return 100.0 * (self.response_rate_hz - self.baseline_rate_hz) / self.baseline_rate_hz

    @property
    def z_score(self) -> float:
        if not np.isfinite(self.baseline_sd_hz) or self.baseline_sd_hz <= 0:
            return float("nan")
        return (self.response_rate_hz - self.baseline_rate_hz) / self.baseline_sd_hz

    @property
    def recovery_percent(self) -> float:
        if not np.isfinite(self.baseline_rate_hz) or self.baseline_rate_hz <= 0:
            return float("nan")
        return 100.0 * self.recovery_rate_hz / self.baseline_rate_hz

    @property
    def it50_nC(self) -> float:
        """I·T50: charge delivered until the rate fell to half its baseline (nC)."""
        return abs(self.current_nA) * self.t50_s

    def as_dict(self) -> dict:
        fs = self.rate_hz
        return {
            "barrel": self.barrel, "drug": self.drug, "condition": self.condition, "control": self.is_control,
            "current_nA": self.current_nA, "measured_current_nA": self.measured_current_nA,
            "duration_s": self.duration_s, "charge_nC": self.charge_nC,
            "onset_s": self.onset / fs, "offset_s": self.offset / fs,
            "baseline_window_s": [self.baseline[0] / fs, self.baseline[1] / fs],
            "response_window_s": [self.response[0] / fs, self.response[1] / fs],
            "recovery_window_s": [self.recovery[0] / fs, self.recovery[1] / fs],
            "baseline_rate_hz": self.baseline_rate_hz, "baseline_sd_hz": self.baseline_sd_hz,
            "response_rate_hz": self.response_rate_hz, "recovery_rate_hz": self.recovery_rate_hz,
            "percent_change": self.percent_change, "z_score": self.z_score,
            "recovery_percent": self.recovery_percent, "t50_s": self.t50_s, "it50_nC": self.it50_nC,
            "used": self.usable, "flags": list(self.flags), "notes": list(self.notes),
        }


def _is_ejecting(pipette: Pipette, barrel: str, current_nA: float) -> tuple[bool, str, str]:
    try:
        b = pipette.barrel(barrel)
    except KeyError:
        return current_nA != 0, "?", "drug"
    if b.role == "balance":
        return False, b.drug, b.role
    if current_nA != current_nA:  # NaN: an imported ejection (e.g. an NWB interval) with no current
        return True, b.drug, b.role
    if b.role == "control":
        return abs(current_nA) > 1e-9, b.drug, b.role
    return current_nA * b.polarity > 1e-9, b.drug, b.role


def find_epochs(events: list[LogEvent], pipette: Pipette, rate_hz: float, first_index: int, end_index: int,
                params: EpochParams = EpochParams(), gaps: list[tuple[int, int]] | None = None,
                clipped: list[tuple[int, int]] | None = None) -> list[Epoch]:
    """Ejection epochs of every drug and control barrel, in onset order, with windows and flags."""
    raw: list[tuple[str, str, str, float, int, int, bool]] = []
    open_: dict[str, tuple[LogEvent, str, str]] = {}
    changes = sorted((e for e in events if e.kind in CURRENT_KINDS and e.barrel and e.sample_index < end_index),
                     key=lambda e: e.sample_index)
    for e in changes:
        if e.barrel in open_:
            on, drug, role = open_.pop(e.barrel)
            if e.sample_index > on.sample_index:
                raw.append((on.barrel, drug, role, on.current_nA, on.sample_index, e.sample_index, False))
        ejecting, drug, role = _is_ejecting(pipette, e.barrel, e.current_nA)
        if ejecting:
            open_[e.barrel] = (e, drug, role)
    for on, drug, role in open_.values():
        if end_index > on.sample_index:
            raw.append((on.barrel, drug, role, on.current_nA, on.sample_index, end_index, True))
    raw.sort(key=lambda r: r[4])
    epochs: list[Epoch] = []
    for i, (barrel, drug, role, cur, onset, offset, truncated) in enumerate(raw):
        concurrent: list[str] = []
        prev_ends: list[int] = []
        overlaps: list[str] = []
        for j, r in enumerate(raw):
            if j == i:
                continue
            if r[0] != barrel and r[4] <= onset and r[5] >= offset:
                concurrent.append(f"{r[1]} {current_text(r[3])}")
            elif r[5] <= onset:
                prev_ends.append(r[5])
            elif r[4] < offset and r[5] > onset:
                overlaps.append(f"{r[1]} ({r[0]})")
        next_ons = [r[4] for r in raw if r[4] >= offset]
        chained = epochs[-1] if epochs and epochs[-1].barrel == barrel and epochs[-1].offset == onset else None
        ep = _windows(barrel, drug, role, cur, onset, offset, rate_hz, first_index, end_index, params,
                      max(prev_ends, default=None), min(next_ons, default=end_index), chained)
        ep.concurrent = tuple(sorted(concurrent))
        if overlaps:
            ep.flags.append(f"overlaps {len(overlaps)} ejection(s) of {', '.join(sorted(set(overlaps)))}")
        if truncated:
            ep.notes.append("the ejection was still running when the recording ended")
        _flag_bad_samples(ep, gaps or [], "a gap of {n} samples")
        _flag_bad_samples(ep, [(a, b - a) for a, b in (clipped or [])], "clipped electrode samples")
        epochs.append(ep)
    return epochs


def _windows(barrel, drug, role, cur, onset, offset, fs, first_index, end_index, p: EpochParams,
             prev_end: int | None, next_onset: int, chained: Epoch | None) -> Epoch:
    flags: list[str] = []
    if chained is not None:  # a step straight from the previous current: cumulative series
        baseline = chained.baseline
        flags.extend(f for f in chained.flags if "baseline" in f)
    else:
        bl_start = onset - round(p.baseline_s * fs)
        if bl_start < first_index:
            flags.append(f"the {p.baseline_s:g}-s baseline window starts before the recording")
            bl_start = first_index
        if prev_end is not None and prev_end > bl_start:
            bl_start = prev_end
        baseline = (bl_start, onset)
    if baseline[1] - baseline[0] < 0.5 * p.baseline_s * fs and not any("starts before" in f for f in flags):
        flags.append(f"only {(baseline[1] - baseline[0]) / fs:.1f} s of baseline after the previous ejection "
                     f"(less than half of {p.baseline_s:g} s)")
    resp_n = round(p.response_s * fs)
    if offset - onset < resp_n:
        flags.append(f"the ejection ({(offset - onset) / fs:.1f} s) is shorter than the {p.response_s:g}-s response window")
    resp = (max(onset, offset - resp_n), offset)
    rec_end = min(next_onset, end_index)
    rec_start = max(offset, rec_end - round(p.recovery_s * fs))
    ep = Epoch(barrel, drug, role, cur, onset, offset, fs, baseline, resp, (rec_start, rec_end))
    ep.flags.extend(flags)
    if rec_end - rec_start < round(p.recovery_s * fs):
        ep.notes.append(f"recovery window only {(rec_end - rec_start) / fs:.1f} s")
    return ep


def _flag_bad_samples(ep: Epoch, spans: list[tuple[int, int]], what: str) -> None:
    for at, n in spans:
        for name, (lo, hi) in (("baseline", ep.baseline), ("response", ep.response)):
            if lo < at + n and at < hi:
                ep.flags.append(f"{name} window contains {what.format(n=n)}")


def measure_epochs(epochs: list[Epoch], spike_index: np.ndarray, params: EpochParams = EpochParams(),
                   t50_sigma_s: float = 0.5) -> None:
    """Fill in each epoch's rates from sorted spike sample indices (in place)."""
    for ep in epochs:
        fs = ep.rate_hz
        ep.baseline_rate_hz = rate_in_window(spike_index, *ep.baseline, fs)
        bins = binned_rates(spike_index, *ep.baseline, fs, params.bin_s)
        ep.baseline_sd_hz = float(bins.std(ddof=1)) if len(bins) > 1 else float("nan")
        ep.response_rate_hz = rate_in_window(spike_index, *ep.response, fs)
        ep.recovery_rate_hz = rate_in_window(spike_index, *ep.recovery, fs)
        ep.t50_s = _t50(ep, spike_index, t50_sigma_s)


def _t50(ep: Epoch, spike_index: np.ndarray, sigma_s: float) -> float:
    """Seconds from onset until the kernel-smoothed rate (σ = ``sigma_s``, spikes before the
    onset included) first falls to half the baseline rate; NaN if it never does."""
    if not np.isfinite(ep.baseline_rate_hz) or ep.baseline_rate_hz <= 0:
        return float("nan")
    pre = 4 * sigma_s
    lo, hi = np.searchsorted(spike_index, [ep.onset - round(pre * ep.rate_hz), ep.offset])
    t = (spike_index[lo:hi] - ep.onset) / ep.rate_hz
    times, rate = smoothed_rate(t, sigma_s, -pre, ep.duration_s)
    below = np.flatnonzero((rate <= 0.5 * ep.baseline_rate_hz) & (times >= 0))
    return float(times[below[0]]) if len(below) else float("nan")


def check_currents(epochs: list[Epoch], measured: dict[int, float], params: EpochParams = EpochParams()) -> None:
    """Record the monitored current of each epoch (keyed by its position) and flag mismatches."""
    for i, ep in enumerate(epochs):
        m = measured.get(i)
        if m is None or not np.isfinite(m):
            continue
        ep.measured_current_nA = m
        tol = max(1.0, params.current_tolerance * abs(ep.current_nA))
        if abs(m - ep.current_nA) > tol:
            ep.flags.append(f"delivered current {m:+.1f} nA differs from the commanded {ep.current_nA:+.1f} nA "
                            "(blocked barrel or compliance limit?)")
