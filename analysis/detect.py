"""Spike detection: bandpass, noise from the median absolute deviation, threshold k·σ,
dead time (Quiroga et al. 2004).

The same peak logic runs in two ways:

* ``detect_spikes`` (batch, offline): zero-phase bandpass (``sosfiltfilt``);
* ``StreamingDetector`` (online, the engine's detector sink): causal bandpass
  (``sosfilt`` carrying its state across blocks), so its spikes lag the batch ones by the
  filter's group delay (a fraction of a millisecond) — the one stated difference.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.signal import butter, find_peaks, sosfilt, sosfilt_zi, sosfiltfilt

from daq.types import Block, ChannelKind, LogEvent, StreamInfo

MAD_TO_SIGMA = 1 / 0.6745


@dataclass(frozen=True)
class DetectionParams:
    band_hz: tuple[float, float] = (300.0, 6000.0)
    order: int = 3
    k: float = 5.0  # threshold in units of the MAD noise estimate
    polarity: Literal["neg", "pos", "both"] = "neg"
    dead_time_ms: float = 1.0

    def __post_init__(self) -> None:
        lo, hi = self.band_hz
        if not 0 < lo < hi:
            raise ValueError(f"band_hz must be (low, high) with 0 < low < high, got {self.band_hz}")
        if self.k <= 0:
            raise ValueError(f"k must be > 0, got {self.k}")
        if self.polarity not in ("neg", "pos", "both"):
            raise ValueError(f"polarity must be 'neg', 'pos' or 'both', got {self.polarity!r}")


def bandpass_sos(rate_hz: float, params: DetectionParams) -> np.ndarray:
    lo, hi = params.band_hz
    hi = min(hi, 0.45 * rate_hz)
    return butter(params.order, [lo, hi], btype="bandpass", fs=rate_hz, output="sos")


def mad_sigma(filtered: np.ndarray) -> float:
    """Noise σ estimated as median(|x|)/0.6745 (robust to the spikes themselves)."""
    return float(np.median(np.abs(filtered)) * MAD_TO_SIGMA)


@dataclass(frozen=True)
class Spikes:
    """Detected spikes of one channel: sample positions (relative to the data given) and
    peak amplitudes in the filtered signal."""

    index: np.ndarray
    amplitude: np.ndarray
    threshold: float
    sigma: float


def find_spikes(filtered: np.ndarray, threshold: float, dead_samples: int,
                polarity: str) -> tuple[np.ndarray, np.ndarray]:
    """Peaks beyond ``threshold`` at least ``dead_samples`` apart (the largest wins)."""
    if polarity == "neg":
        sig = -filtered
    elif polarity == "pos":
        sig = filtered
    else:
        sig = np.abs(filtered)
    idx, _ = find_peaks(sig, height=threshold, distance=max(1, dead_samples))
    return idx.astype(np.int64), filtered[idx]


def detect_spikes(x: np.ndarray, rate_hz: float, params: DetectionParams = DetectionParams(),
                  threshold: float | None = None) -> Spikes:
    """Batch detection on one channel (zero-phase filter).  ``threshold`` overrides k·σ."""
    y = sosfiltfilt(bandpass_sos(rate_hz, params), np.asarray(x, dtype=np.float64))
    sigma = mad_sigma(y)
    thr = params.k * sigma if threshold is None else threshold
    idx, amp = find_spikes(y, thr, round(params.dead_time_ms * 1e-3 * rate_hz), params.polarity)
    return Spikes(idx, amp, thr, sigma)


class StreamingDetector:
    """The online detector: an engine sink on the electrode channel(s).

    The threshold is k·σ with σ from the first ``calibrate_s`` of data (then re-estimated
    every ``recalibrate_s``), unless set by hand with ``set_threshold``.

    Thread: ``start``/``on_block``/``on_events``/``stop`` on the engine thread;
    ``rate_hz``, ``recent_spikes``, ``threshold`` and ``set_threshold`` on any thread.
    """

    def __init__(self, params: DetectionParams = DetectionParams(), channel: str | None = None,
                 calibrate_s: float = 2.0, recalibrate_s: float = 10.0, keep_s: float = 600.0):
        self.params = params
        self.channel_name = channel
        self.calibrate_s = calibrate_s
        self.recalibrate_s = recalibrate_s
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._spikes: deque[int] = deque()
        self._manual_threshold: float | None = None
        self.threshold: float | None = None  # in the channel's physical units
        self.sigma: float | None = None
        self._end_index = 0

    def start(self, stream: StreamInfo) -> None:
        self.stream = stream
        if self.channel_name is None:
            elec = [i for i, c in enumerate(stream.channels) if c.kind == ChannelKind.ELECTRODE]
            self.ch = elec[0] if elec else 0
        else:
            self.ch = stream.index_of(self.channel_name)
        self.fs = stream.rate_hz
        self.sos = bandpass_sos(self.fs, self.params)
        self.zi = sosfilt_zi(self.sos) * 0.0
        self.dead = round(self.params.dead_time_ms * 1e-3 * self.fs)
        self._calib: list[np.ndarray] = []
        self._calib_n = 0
        self._since_cal = 0
        self._tail = np.zeros(0)  # filtered samples kept from the previous block
        self._tail_start = 0
        self._last_spike = -(10**12)

    def on_block(self, block: Block) -> None:
        x = self.stream.to_physical(block.data[:, self.ch], self.ch)
        y, self.zi = sosfilt(self.sos, x, zi=self.zi)
        if block.start_index != self._tail_start + len(self._tail):
            self._tail = np.zeros(0)  # a gap: start afresh
        self._update_sigma(y)
        thr = self._manual_threshold if self._manual_threshold is not None else (
            None if self.sigma is None else self.params.k * self.sigma)
        self.threshold = thr
        # search the tail + this block, report peaks not within the last dead-time samples
        buf = np.concatenate([self._tail, y])
        buf_start = block.end_index - len(buf)
        new: list[int] = []
        if thr is not None and len(buf):
            idx, _ = find_spikes(buf, thr, self.dead, self.params.polarity)
            limit = len(buf) - self.dead  # a peak nearer the end might still grow next block
            for i in idx:
                s = buf_start + int(i)
                if i < limit and s > self._last_spike + self.dead - 1 and s >= self._tail_start:
                    new.append(s)
                    self._last_spike = s
        keep = min(len(buf), 2 * self.dead + 1)
        self._tail = buf[len(buf) - keep:]
        self._tail_start = block.end_index - keep
        with self._lock:
            self._spikes.extend(new)
            self._end_index = block.end_index
            horizon = block.end_index - int(self.keep_s * self.fs)
            while self._spikes and self._spikes[0] < horizon:
                self._spikes.popleft()

    def _update_sigma(self, y: np.ndarray) -> None:
        if self.sigma is None:
            self._calib.append(y)
            self._calib_n += len(y)
            if self._calib_n >= self.calibrate_s * self.fs:
                self.sigma = mad_sigma(np.concatenate(self._calib))
                self._calib = []
                self._since_cal = 0
            return
        self._since_cal += len(y)
        self._calib.append(y)
        if self._since_cal >= self.recalibrate_s * self.fs:
            self.sigma = mad_sigma(np.concatenate(self._calib)[-int(self.calibrate_s * self.fs):])
            self._calib = []
            self._since_cal = 0
        elif sum(len(c) for c in self._calib) > self.calibrate_s * self.fs * 2:
            self._calib = self._calib[-max(1, len(self._calib) // 2):]

    def on_events(self, events: list[LogEvent]) -> None:
        pass

    def stop(self) -> None:
        pass

    # --- any thread ---------------------------------------------------------------------
    def set_threshold(self, threshold: float | None) -> None:
        """Fix the threshold (physical units, signed as the peaks), or None for automatic k·σ."""
        self._manual_threshold = None if threshold is None else abs(threshold)

    def recent_spikes(self, since_index: int = 0) -> np.ndarray:
        with self._lock:
            return np.array([s for s in self._spikes if s >= since_index], dtype=np.int64)

    def rate_hz(self, window_s: float, end_index: int | None = None) -> float | None:
        """Mean firing rate over the last ``window_s`` (None until that much has been seen)."""
        with self._lock:
            end = self._end_index if end_index is None else end_index
            n_win = int(window_s * self.fs) if hasattr(self, "fs") else 0
            if n_win <= 0 or end < n_win:
                return None
            lo = end - n_win
            count = sum(1 for s in self._spikes if lo <= s < end)
            return count / window_s
