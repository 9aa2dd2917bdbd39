"""The trace view's model: min/max columns per channel, built incrementally, with scroll-back.

Each frame the window hands ``ingest`` only the samples that arrived since the last frame;
they are converted to display units (µV for electrodes, nA for current monitors), electrode
channels optionally band-passed to the spike band, and reduced to one (min, max) pair per *column* of
``samples_per_column`` samples.  Columns are kept for ``history_s`` seconds, so a frozen view
can scroll back through the last minutes without touching the raw ring again, and a frame
costs O(new samples + visible columns), whatever the sample rate and window length.

The spike band is the online detector's own filter: ``DetectionParams.bandpass`` (band and
order) applied causally with its state carried across frames and restarted at a gap
(``analysis.filters.CausalFilter``, the filter ``StreamingDetector`` runs), so a spike is
as deep on the screen as the detector sees it and the threshold line is drawn to scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from daq.types import ChannelKind, StreamInfo

if TYPE_CHECKING:
    from analysis.detect import DetectionParams

_LADDER = [m * 10**e for e in range(0, 7) for m in (1, 2, 5)]
MAX_COLUMNS = 200_000  # per channel: bounds memory at very short windows (scroll-back then covers less)


def column_size(window_samples: int, n_columns: int) -> int:
    """Samples per column: the largest 1-2-5 step that still gives ``n_columns`` columns over
    the window (so a resize by a few pixels does not rebuild the columns)."""
    target = max(1, window_samples // max(1, n_columns))
    best = 1
    for v in _LADDER:
        if v <= target:
            best = v
    return best


@dataclass
class ChannelView:
    """How one channel is drawn: display units, gain (y zoom), visibility, spike-band filter."""

    name: str
    kind: str
    units: str  # display units
    to_display: float  # physical units → display units
    half_range: float  # y half-range at gain 1, display units
    gain: float = 1.0
    visible: bool = True
    filtered: bool = False

    @property
    def y_range(self) -> tuple[float, float]:
        h = self.half_range / self.gain
        return -h, h


def default_views(stream: StreamInfo, limits_nA: dict[str, float] | None = None) -> list[ChannelView]:
    """Electrodes ±250 µV (spike band); a current monitor spans its barrel's limit (``limits_nA``)."""
    limits_nA = limits_nA or {}
    out = []
    for c in stream.channels:
        if c.kind == ChannelKind.ELECTRODE:
            out.append(ChannelView(c.name, str(c.kind), "µV", 1e6 if c.units == "V" else 1.0, 250.0,
                                   filtered=True))
        elif c.kind == ChannelKind.CURRENT_MONITOR:
            out.append(ChannelView(c.name, str(c.kind), c.units, 1.0, float(limits_nA.get(c.barrel or "", 100.0))))
        else:
            out.append(ChannelView(c.name, str(c.kind), c.units, 1.0, c.range_V))
    return out


class TraceModel:
    """Min/max columns of every channel; the view window, freeze and scroll-back.

    Events (GUI thread): ``window_changed(window_s)``, ``gain_changed(channel, gain)``,
    ``visibility_changed(channel, visible)``, ``frozen_changed(frozen)``,
    ``scrolled(back_s)``, ``columns_reset()`` (the columns were rebuilt: re-ingest
    ``needs_history_s``).  New samples emit nothing: views pull ``curves()`` each frame."""

    window_changed = Signal(float)
    gain_changed = Signal(int, float)
    visibility_changed = Signal(int, bool)
    frozen_changed = Signal(bool)
    scrolled = Signal(float)
    columns_reset = Signal()

    def __init__(self, stream: StreamInfo, window_s: float = 5.0, n_columns: int = 1000,
                 history_s: float = 120.0, detection: DetectionParams | None = None,
                 limits_nA: dict[str, float] | None = None):
        """``detection``: the online detector's parameters (its band and order filter the electrode
        lanes; default ``DetectionParams()``, the detector's default)."""
        self.stream = stream
        self.rate_hz = stream.rate_hz
        self.channels = default_views(stream, limits_nA)
        self.history_s = history_s
        n = stream.n_channels
        scale = np.array(stream.scale_V, dtype=np.float64)
        offset = np.array(stream.offset_V, dtype=np.float64)
        gain = np.array([c.gain for c in stream.channels], dtype=np.float64)
        disp = np.array([v.to_display for v in self.channels])
        self._a = (scale / gain * disp).astype(np.float32)
        self._b = (offset / gain * disp).astype(np.float32)
        # (scipy and numba: imported when acquisition starts, not when the window opens)
        from analysis.detect import DetectionParams
        from analysis.filters import CausalFilter

        # the detector's band at this rate (lowered, with a note, when the rate cannot hold it)
        self.detection, self.band_note = (detection if detection is not None else DetectionParams()).for_rate(self.rate_hz)
        self._filt_cols = [i for i, v in enumerate(self.channels) if v.filtered]
        self._filter = CausalFilter(self.detection.bandpass(self.rate_hz), self._a[self._filt_cols],
                                    self._b[self._filt_cols])
        self._n = n
        self.window_s = window_s
        self.n_columns = n_columns
        self.frozen_at: int | None = None  # sample index the frozen view ends at
        self.scroll_s = 0.0  # how far back from the live / frozen end the view ends
        self._reset()

    # --- configuration (GUI thread) ------------------------------------------------------
    @property
    def samples_per_column(self) -> int:
        return self._spc

    def _reset(self) -> None:
        self._spc = column_size(round(self.window_s * self.rate_hz), self.n_columns)
        cap = min(MAX_COLUMNS, max(16, int(self.history_s * self.rate_hz / self._spc) + 1))
        self._cap = cap
        self._lo = np.zeros((2 * cap, self._n), dtype=np.float32)
        self._hi = np.zeros((2 * cap, self._n), dtype=np.float32)
        self._cstart = np.zeros(2 * cap, dtype=np.int64)
        self._first = 0  # first valid column in the linear buffer
        self._count = 0
        self._pending = np.zeros((0, self._n), dtype=np.float32)
        self._pending_start = 0
        self._next: int | None = None  # the sample index expected next
        self._filter.reset()

    def set_window(self, window_s: float, n_columns: int | None = None) -> bool:
        """Change the window length (s) / pixel columns.  True if the columns were rebuilt
        (the caller then re-ingests recent history with ``needs_history_s``)."""
        if not window_s > 0:
            raise ValueError(f"window must be > 0 s, got {window_s}")
        self.window_s = float(window_s)
        if n_columns is not None:
            self.n_columns = max(16, int(n_columns))
        spc = column_size(round(self.window_s * self.rate_hz), self.n_columns)
        rebuilt = spc != self._spc
        if rebuilt:
            self._reset()
        self.window_changed.emit(self.window_s)
        if rebuilt:
            self.columns_reset.emit()
        return rebuilt

    @property
    def needs_history_s(self) -> float:
        """After a rebuild: how much recent history to re-ingest (bounded, so a zoom stays quick)."""
        return min(self.history_s, max(3 * self.window_s, 30.0), self._cap * self._spc / self.rate_hz)

    def set_gain(self, channel: int, gain: float) -> None:
        if not gain > 0:
            raise ValueError(f"gain must be > 0, got {gain}")
        self.channels[channel].gain = float(gain)
        self.gain_changed.emit(channel, float(gain))

    def set_visible(self, channel: int, visible: bool) -> None:
        self.channels[channel].visible = bool(visible)
        self.visibility_changed.emit(channel, bool(visible))

    def freeze(self, on: bool) -> None:
        """Hold the view at the current end (acquisition and column building go on)."""
        was = self.frozen
        self.frozen_at = self.end_index if on else None
        self.scroll_s = 0.0
        if was != self.frozen:
            self.frozen_changed.emit(self.frozen)

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    def scroll_to(self, back_s: float) -> None:
        """End the frozen view ``back_s`` seconds before the freeze point (clamped to history)."""
        self.scroll_s = float(np.clip(back_s, 0.0, self.scroll_limit_s))
        self.scrolled.emit(self.scroll_s)

    @property
    def scroll_limit_s(self) -> float:
        if self._count == 0:
            return 0.0
        end = self.frozen_at if self.frozen_at is not None else self.end_index
        oldest = int(self._cstart[self._first])
        return max(0.0, (end - oldest) / self.rate_hz - self.window_s)

    # --- data in (GUI thread, each frame) --------------------------------------------------
    @property
    def end_index(self) -> int:
        """One past the newest sample in a complete column (what the screen shows)."""
        if self._count == 0:
            return self._next or 0
        return int(self._cstart[self._first + self._count - 1]) + self._spc

    @property
    def next_index(self) -> int | None:
        return self._next

    def ingest(self, start_index: int, raw: np.ndarray) -> None:
        """Add raw samples (n, n_channels) that start at ``start_index``."""
        if len(raw) == 0:
            return
        if self._next is not None and start_index < self._next:  # overlap: drop what we have
            skip = self._next - start_index
            if skip >= len(raw):
                return
            raw, start_index = raw[skip:], self._next
        if self._next is None or start_index != self._next:  # first data, or samples skipped
            self._pending = self._pending[:0]
            self._pending_start = start_index
            self._filter.reset()  # the signal is not contiguous: the filter starts again, as the detector's
        x = raw.astype(np.float32) * self._a + self._b
        if self._filt_cols:
            x[:, self._filt_cols] = self._filter(raw[:, self._filt_cols])
        self._next = start_index + len(raw)
        buf = np.concatenate([self._pending, x]) if len(self._pending) else x
        n_full = len(buf) // self._spc
        if n_full:
            m = n_full * self._spc
            cols = buf[:m].reshape(n_full, self._spc, self._n)
            self._append(cols.min(axis=1), cols.max(axis=1),
                         self._pending_start + self._spc * np.arange(n_full, dtype=np.int64))
            self._pending_start += m
        self._pending = buf[n_full * self._spc:].copy()

    def _append(self, lo: np.ndarray, hi: np.ndarray, cstart: np.ndarray) -> None:
        k = len(lo)
        if k > self._cap:
            lo, hi, cstart = lo[-self._cap:], hi[-self._cap:], cstart[-self._cap:]
            k = self._cap
        end = self._first + self._count
        if end + k > 2 * self._cap:  # compact: keep the newest columns at the front
            keep = min(self._count, self._cap - k)
            s = end - keep
            self._lo[:keep] = self._lo[s:end]
            self._hi[:keep] = self._hi[s:end]
            self._cstart[:keep] = self._cstart[s:end]
            self._first, self._count, end = 0, keep, keep
        self._lo[end:end + k] = lo
        self._hi[end:end + k] = hi
        self._cstart[end:end + k] = cstart
        self._count += k
        if self._count > self._cap:
            drop = self._count - self._cap
            self._first += drop
            self._count -= drop

    # --- data out (GUI thread) -------------------------------------------------------------
    def view_range(self) -> tuple[int, int]:
        """(first, end) sample index of the window shown now."""
        end = (self.frozen_at if self.frozen_at is not None else self.end_index)
        end = end - round(self.scroll_s * self.rate_hz)
        return end - round(self.window_s * self.rate_hz), end

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(column start index, lo, hi) of the columns inside the view window."""
        a, b = self._first, self._first + self._count
        t0, t1 = self.view_range()
        cs = self._cstart[a:b]
        i0 = a + int(np.searchsorted(cs, t0, side="left"))
        i1 = a + int(np.searchsorted(cs, t1 - self._spc, side="right"))
        return self._cstart[i0:i1], self._lo[i0:i1], self._hi[i0:i1]

    def curves(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``(channel, t_s, y)`` per visible channel: two points (min, max) per column."""
        cs, lo, hi = self.columns()
        if len(cs) == 0:
            return []
        t = np.repeat(cs / self.rate_hz, 2)
        out = []
        y = np.empty((2 * len(cs), self._n), dtype=np.float32)
        y[0::2] = lo
        y[1::2] = hi
        for i, v in enumerate(self.channels):
            if v.visible:
                out.append((i, t, y[:, i]))
        return out
