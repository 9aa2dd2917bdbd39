"""The ratemeter/raster model: spike counts in bins, ejection bars, overlaid waveforms.

The classic iontophoresis display: a ratemeter (spikes per bin, 1-s bins by default) with
a coloured bar for each ejection, labelled with barrel, drug and current.  Bars come from
the engine's event log (an ejection opens at the sample its eject event carries and closes
at the barrel's next current change), so they are exact to the sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from daq.pipette import Pipette
from daq.types import EventKind, LogEvent

if TYPE_CHECKING:
    from analysis.detect import DetectionParams
    from analysis.filters import Bandpass

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}


@dataclass(frozen=True)
class EjectionBar:
    """One ejection: ``offset_index`` is None while it is still running."""

    barrel: str
    drug: str
    current_nA: float  # signed
    onset_index: int
    offset_index: int | None
    lane: int  # the barrel's position (for colour and vertical placement)

    @property
    def label(self) -> str:
        return f"{self.barrel} · {self.drug} {self.current_nA:+g} nA"

    @property
    def short_label(self) -> str:
        return f"{self.current_nA:+g} nA"


def fitting_labels(bars: list[tuple[EjectionBar, float, float]], px_per_s: float,
                   text_px: Callable[[str], float], gap_px: float = 6.0,
                   view_end_s: float = float("inf")) -> list[str]:
    """The label each bar gets without running into the next bar's label in its lane or past
    the view's right edge: the full one where it fits, else the current alone, else none ("")."""
    out = []
    for i, (bar, t0, _t1) in enumerate(bars):
        nxt = [t for b, t, _ in bars[i + 1:] if b.lane == bar.lane and t > t0]
        room_px = (min([*nxt, view_end_s]) - t0) * px_per_s - gap_px
        out.append(next((lab for lab in (bar.label, bar.short_label) if text_px(lab) <= room_px), ""))
    return out


MIN_SPAN_S = 10.0
MAX_SPAN_S = 4 * 3600.0


def span_for_protocol(duration_s: float, minimum_s: float = 60.0) -> float:
    """A ratemeter span that shows a whole protocol of ``duration_s``: its length plus 5 %
    (the baseline before it started and the recovery after), rounded up to a whole minute,
    at least ``minimum_s`` and at most ``MAX_SPAN_S``."""
    if not duration_s > 0:
        return minimum_s
    return float(min(MAX_SPAN_S, max(minimum_s, 60.0 * np.ceil(duration_s * 1.05 / 60.0))))


class RateModel:
    """Spike-rate bins and ejection bars over the last ``span_s`` seconds.

    Events (GUI thread): ``bars_changed()`` (an ejection opened or closed),
    ``bin_changed(bin_s)``, ``span_changed(span_s)``, ``stream_reset()`` (``reset``: a new
    connection's pipette and rate, no bars yet).  ``follow_protocol`` sets the span from a
    loaded protocol's length, so a whole protocol fits.  The rig window keeps one model for
    its whole life (its bin and span outlive connections) and resets it on each connection."""

    bars_changed = Signal()
    bin_changed = Signal(float)
    span_changed = Signal(float)
    stream_reset = Signal()

    def __init__(self, pipette: Pipette | None, rate_hz: float, bin_s: float = 1.0, span_s: float = 300.0):
        self.bin_s = 1.0
        self.set_bin(bin_s)
        self.span_s = 300.0
        self.set_span(span_s)
        self.follows_protocol = True  # follow_protocol widens the span (a workspace may turn it off)
        self._start(pipette, rate_hz)

    def _start(self, pipette: Pipette | None, rate_hz: float) -> None:
        self.pipette = pipette
        self.rate_hz = rate_hz
        self.bars: list[EjectionBar] = []
        self._open: dict[str, EjectionBar] = {}
        names = [b.name for b in pipette.barrels] if pipette is not None else []
        self._lane = {n: i for i, n in enumerate(names)}

    def reset(self, pipette: Pipette | None, rate_hz: float) -> None:
        """A new connection: its pipette and sample rate, no bars yet; the bin, the span and
        whether it follows a protocol stay.  Emits ``stream_reset``."""
        self._start(pipette, rate_hz)
        self.stream_reset.emit()

    def set_bin(self, bin_s: float) -> None:
        if not 0.01 <= bin_s <= 60:
            raise ValueError(f"ratemeter bin must be between 0.01 and 60 s, got {bin_s}")
        self.bin_s = float(bin_s)
        self.bin_changed.emit(self.bin_s)

    def set_span(self, span_s: float) -> None:
        """Show the last ``span_s`` seconds (10 s … 4 h)."""
        if not MIN_SPAN_S <= span_s <= MAX_SPAN_S:
            raise ValueError(f"ratemeter span must be between {MIN_SPAN_S:g} and {MAX_SPAN_S:g} s, got {span_s}")
        self.span_s = float(span_s)
        self.span_changed.emit(self.span_s)

    def follow_protocol(self, duration_s: float) -> float:
        """Set the span so that a protocol of ``duration_s`` fits (``span_for_protocol``), never
        shrinking it below the span shown now (nothing when ``follows_protocol`` is off);
        returns the span."""
        if self.follows_protocol:
            self.set_span(max(self.span_s, span_for_protocol(duration_s)))
        return self.span_s

    def follow(self, protocol_model) -> None:
        """Follow the length of every protocol ``protocol_model`` (a ``ProtocolModel``) loads:
        its ``loaded_changed`` event widens the span (a protocol that failed its dry run
        changes nothing)."""
        def on_loaded(result) -> None:
            if getattr(result, "ok", False):
                self.follow_protocol(result.duration_s)

        protocol_model.loaded_changed.connect(on_loaded)

    # --- events (GUI thread, from the bridge) ---------------------------------------------
    def on_event(self, ev: LogEvent) -> None:
        if ev.kind not in CURRENT_KINDS or not ev.barrel:
            return
        n_bars = len(self.bars)
        prev = self._open.pop(ev.barrel, None)
        if prev is not None:
            closed = EjectionBar(prev.barrel, prev.drug, prev.current_nA, prev.onset_index, ev.sample_index, prev.lane)
            self.bars[self.bars.index(prev)] = closed
        if ev.kind == EventKind.EJECT or (ev.kind == EventKind.CURRENT and self._is_control(ev.barrel)):
            bar = EjectionBar(ev.barrel, self._drug(ev.barrel), ev.current_nA, ev.sample_index, None,
                              self._lane.get(ev.barrel, len(self._lane)))
            self.bars.append(bar)
            self._open[ev.barrel] = bar
        if len(self.bars) > 2000:
            self.bars = [b for b in self.bars[-1000:]]
        if prev is not None or len(self.bars) != n_bars:
            self.bars_changed.emit()

    def _drug(self, barrel: str) -> str:
        if self.pipette is None:
            return "?"
        try:
            return self.pipette.barrel(barrel).drug
        except KeyError:
            return "?"

    def _is_control(self, barrel: str) -> bool:
        try:
            return self.pipette is not None and self.pipette.barrel(barrel).role == "control"
        except KeyError:
            return False

    # --- views ----------------------------------------------------------------------------
    def histogram(self, spike_indices: np.ndarray, end_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges s, rate Hz) over the last ``span_s`` up to the last complete bin."""
        bin_n = max(1, round(self.bin_s * self.rate_hz))
        last = (end_index // bin_n) * bin_n
        first = max(0, last - (int(self.span_s / self.bin_s) * bin_n))
        if last <= first:
            return np.zeros(0), np.zeros(0)
        edges = np.arange(first, last + 1, bin_n)
        counts, _ = np.histogram(spike_indices, bins=edges)
        return edges / self.rate_hz, counts / self.bin_s

    def visible_bars(self, end_index: int) -> list[tuple[EjectionBar, float, float]]:
        """Bars overlapping the last ``span_s``: (bar, t_on s, t_off s; running ones end now)."""
        lo = end_index - self.span_s * self.rate_hz
        out = []
        for b in self.bars:
            off = b.offset_index if b.offset_index is not None else end_index
            if off >= lo and b.onset_index <= end_index:
                out.append((b, b.onset_index / self.rate_hz, off / self.rate_hz))
        return out


def spike_waveforms(trace_uV: np.ndarray, start_index: int, spikes: np.ndarray, rate_hz: float,
                    pre_ms: float = 0.6, post_ms: float = 1.2, max_n: int = 40,
                    detection: DetectionParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut band-passed waveforms around the newest ``max_n`` spikes inside ``trace_uV``.

    The band-pass is the online detector's (``detection``, default ``DetectionParams()``),
    applied causally as the detector does, so the waveforms have the shape and depth of what
    it detected and its spike indices land on their troughs.
    Returns (time axis ms, waveforms (n, len)); empty when no spike fits in the trace."""
    pre = round(pre_ms * 1e-3 * rate_hz)
    post = round(post_ms * 1e-3 * rate_hz)
    t_ms = np.arange(-pre, post) / rate_hz * 1e3
    rel = np.asarray(spikes, dtype=np.int64) - start_index
    rel = rel[(rel >= pre) & (rel + post <= len(trace_uV))][-max_n:]
    if len(rel) == 0 or len(trace_uV) < 64:
        return t_ms, np.zeros((0, len(t_ms)))
    from analysis.filters import CausalFilter

    y = CausalFilter(_bandpass(detection, rate_hz), np.ones(1))(np.asarray(trace_uV, dtype=np.float64))[:, 0]
    idx = rel[:, None] + np.arange(-pre, post)[None, :]
    return t_ms, y[idx]


_BANDPASS: dict[tuple[DetectionParams, float], Bandpass] = {}


def _bandpass(detection: DetectionParams | None, rate_hz: float) -> Bandpass:
    """The detector's band-pass at ``rate_hz``, designed once per (parameters, rate): the
    waveforms are cut a few times a second, and the design (scipy's ``butter``) cost more
    than the filtering."""
    from analysis.detect import DetectionParams

    params = detection if detection is not None else DetectionParams()
    key = (params, float(rate_hz))
    if key not in _BANDPASS:
        _BANDPASS[key] = params.for_rate(rate_hz)[0].bandpass(rate_hz)
    return _BANDPASS[key]
