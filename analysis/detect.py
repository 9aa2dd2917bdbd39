"""Spike detection: band-pass, noise σ from the median absolute deviation, threshold k·σ,
dead time, waveform snippets (Quiroga et al. 2004, Neural Comput 16:1661).

One implementation, two ways of running it:

* offline (``detect_spikes`` on arrays, ``analysis.detect_file.detect_recording`` on
  files of any length in bounded memory): **zero-phase** band-pass (forward–backward);
* online (``StreamingDetector``, the engine's detector sink): **causal** band-pass with
  its state carried from block to block.

Both feed the filtered signal to the same peak rule (``analysis.peaks``), which finds the
same spikes however the signal is cut into blocks.  The stated differences between online
and offline spikes are therefore exactly two: (1) the causal filter delays and reshapes
each spike (its group delay within the band, ``Bandpass.group_delay_s()``, is at most
0.29 ms for the default filter) and (2) online, σ is estimated from the data seen so far
(the first ``calibrate_s``, then every ``recalibrate_s``) while offline it comes from the
whole record.  Given the same filtered signal and threshold the two give identical spikes
(tested).

The default band-pass is a first-order Butterworth, 300–6000 Hz (zero phase offline, so
12 dB/octave on each side).  Higher orders ring: causally filtered, a 0.5–0.8 ms spike's
positive phase turns into an undershoot 27–78 % as deep as its trough at order 3 (3–15 %
at order 1), which the online detector would count as a second spike; and at SNR 5 the
causal trough shrinks so much that online recall falls to 18 % (order 3) vs 79 %
(order 1).  Offline, order 1 detects as well as order 3 (recall 99 %, precision 100 % at
SNR 5, k = 5).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from analysis.filters import Bandpass, CausalFilter, band_limit_hz, fitting_band, zero_phase
from analysis.peaks import PeakFinder
from analysis.waveforms import SnippetCutter, WaveformStore, align_subsample
from daq.types import Block, ChannelKind, LogEvent, StreamInfo

MAD_TO_SIGMA = 1 / 0.6745
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionParams:
    """Spike detection settings.  Times in ms; ``k`` in units of the noise σ."""

    band_hz: tuple[float, float] = (300.0, 6000.0)
    order: int = 1  # Butterworth order per band edge (see the module docstring)
    k: float = 5.0
    polarity: Literal["neg", "pos", "both"] = "neg"
    dead_time_ms: float = 1.0
    snippet_ms: tuple[float, float] = (0.6, 1.2)  # before, after the peak
    n_pc: int = 3  # principal components kept per spike (for unit separation)
    n_keep_snippets: int = 1000  # whole snippets kept per channel (a random sample)

    def __post_init__(self) -> None:
        lo, hi = self.band_hz
        if not 0 < lo < hi:
            raise ValueError(f"band_hz must be (low, high) with 0 < low < high, got {self.band_hz}")
        if not 1 <= self.order <= 8:
            raise ValueError(f"filter order must be 1–8, got {self.order}")
        if not self.k > 0:
            raise ValueError(f"threshold k must be > 0 (in noise σ), got {self.k}")
        if self.polarity not in ("neg", "pos", "both"):
            raise ValueError(f"polarity must be 'neg', 'pos' or 'both', got {self.polarity!r}")
        if not self.dead_time_ms > 0:
            raise ValueError(f"dead_time_ms must be > 0, got {self.dead_time_ms}")
        if self.snippet_ms[0] < 0 or self.snippet_ms[1] <= 0:
            raise ValueError(f"snippet_ms must be (before ≥ 0, after > 0) ms, got {self.snippet_ms}")

    def bandpass(self, rate_hz: float) -> Bandpass:
        """The band-pass of exactly ``band_hz`` at ``rate_hz``; ``BandError`` (one line) when
        the rate cannot hold the band (``analysis.filters.check_band``)."""
        return Bandpass(rate_hz, self.band_hz, self.order)

    def for_rate(self, rate_hz: float) -> tuple[DetectionParams, str]:
        """For live use (the online detector, the GUI's spike lanes), where a run must not fail
        on a rig's rate: these settings with the band lowered to what ``rate_hz`` holds, and a
        one-line note saying so (empty when the band fits as asked).  The offline analysis
        never does this: it refuses a band that does not fit (``detect_file.require_band``)."""
        fit = fitting_band(rate_hz, self.band_hz)
        if fit is None:  # not even the low edge fits: the widest band the rate holds, from 1/10 of it
            top = band_limit_hz(rate_hz)
            fit = fitting_band(rate_hz, (top / 10, top)) or (top / 10, top)
        if fit == self.band_hz:
            return self, ""
        note = (f"spike band {fit[0]:g}–{fit[1]:g} Hz, not {self.band_hz[0]:g}–{self.band_hz[1]:g} Hz: "
                f"a signal sampled at {rate_hz:g} Hz holds frequencies up to {band_limit_hz(rate_hz):g} Hz")
        return replace(self, band_hz=fit), note

    def dead_samples(self, rate_hz: float) -> int:
        return max(1, round(self.dead_time_ms * 1e-3 * rate_hz))

    def snippet_samples(self, rate_hz: float) -> tuple[int, int]:
        return round(self.snippet_ms[0] * 1e-3 * rate_hz), max(1, round(self.snippet_ms[1] * 1e-3 * rate_hz))


def mad_sigma(filtered: np.ndarray) -> float:
    """Noise σ estimated as median(|x|)/0.6745 (robust to the spikes themselves)."""
    f = np.asarray(filtered)
    return float(np.median(np.abs(f)) * MAD_TO_SIGMA) if f.size else float("nan")


@dataclass
class Spikes:
    """The spikes detected on one channel.

    ``index`` are sample positions (relative to the data given, or absolute sample indices
    for a recording), ``amplitude`` the signed peak of the filtered signal (physical units,
    V for an electrode), ``features`` (n, n_pc) principal-component scores of each spike's
    snippet, ``snippets`` a random sample of whole snippets (``snippet_ids`` index into the
    spikes; ``snippet_t_ms`` the time of each snippet sample relative to the peak)."""

    index: np.ndarray
    amplitude: np.ndarray
    threshold: float
    sigma: float
    channel: str = ""
    rate_hz: float = 0.0
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    snippets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    snippet_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    snippet_t_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.index)

    @property
    def times_s(self) -> np.ndarray:
        return self.index / self.rate_hz if self.rate_hz else self.index.astype(float)


class DetectorCore:
    """Peak rule + snippets + features for several channels fed with *filtered* pieces.

    ``feed(row0, z)`` with consecutive pieces of one contiguous segment;
    ``end_segment()`` at a gap or the end; ``spikes(...)`` for the results.  Rows are
    positions in the data as fed (the caller maps them to sample indices)."""

    def __init__(self, n_channels: int, rate_hz: float, params: DetectionParams, thresholds: np.ndarray):
        self.params = params
        self.rate_hz = rate_hz
        self.thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        self.peaks = PeakFinder(n_channels, params.dead_samples(rate_hz), params.polarity)
        pre, post = params.snippet_samples(rate_hz)
        self.cutter = SnippetCutter(n_channels, pre, post)
        self._peak_col = pre
        self.stores = [WaveformStore(pre + post, params.n_pc, n_keep=params.n_keep_snippets, seed=c)
                       for c in range(n_channels)]
        self._rows: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
        self._amps: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
        self._counts = np.zeros(n_channels, dtype=np.int64)

    def feed(self, row0: int, z: np.ndarray) -> None:
        rows, chans, vals = self.peaks.find(z, row0, self.thresholds)
        self._collect(rows, chans, vals, row0, z)

    def end_segment(self) -> None:
        rows, chans, vals = self.peaks.flush()
        self._collect(rows, chans, vals, None, None)
        for ch, ids, snips in self.cutter.flush():
            self._store(ch, ids, snips)

    def _collect(self, rows, chans, vals, row0, z) -> None:
        ids = np.empty(len(rows), dtype=np.int64)
        for c in np.unique(chans):
            sel = chans == c
            n = int(sel.sum())
            ids[sel] = self._counts[c] + np.arange(n)
            self._counts[c] += n
            self._rows[c].append(rows[sel])
            self._amps[c].append(vals[sel])
        if z is None:
            self.cutter.add_spikes(rows, chans, ids)
            return
        for ch, i, snips in self.cutter.add(row0, z, rows, chans, ids, self.peaks.dead):
            self._store(ch, i, snips)

    def _store(self, ch: np.ndarray, ids: np.ndarray, snips: np.ndarray) -> None:
        snips = align_subsample(snips, self._peak_col)  # all channels at once
        for c in np.unique(ch):
            sel = ch == c
            self.stores[c].add(ids[sel], snips[sel])

    def spikes(self, names: list[str], sigmas: np.ndarray, row_to_index=None) -> list[Spikes]:
        pre, post = self.params.snippet_samples(self.rate_hz)
        t_ms = (np.arange(-pre, post)) / self.rate_hz * 1e3
        out = []
        for c, name in enumerate(names):
            rows = np.concatenate(self._rows[c]) if self._rows[c] else np.zeros(0, np.int64)
            amps = np.concatenate(self._amps[c]) if self._amps[c] else np.zeros(0)
            store = self.stores[c]
            store.finish()
            snips, ids = store.sample_sorted()
            index = rows if row_to_index is None else row_to_index(rows)
            out.append(Spikes(index.astype(np.int64), amps, float(self.thresholds[c]), float(sigmas[c]), name,
                              self.rate_hz, store.features(len(rows)), snips, ids, t_ms))
        return out


def detect_spikes(x: np.ndarray, rate_hz: float, params: DetectionParams = DetectionParams(),
                  threshold: float | None = None, causal: bool = False) -> Spikes:
    """Detect the spikes of one channel held in memory (physical units).

    Zero-phase filter unless ``causal`` (then exactly the online detector's filter, from the
    steady state of the first sample).  σ = MAD of the whole filtered signal; ``threshold``
    (> 0, physical units) overrides k·σ."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    bp = params.bandpass(rate_hz)
    z = CausalFilter(bp, np.ones(1))(x)[:, 0] if causal else zero_phase(x, bp)
    sigma = mad_sigma(z)
    thr = params.k * sigma if threshold is None else abs(float(threshold))
    core = DetectorCore(1, rate_hz, params, np.array([thr]))
    core.feed(0, z[:, None])
    core.end_segment()
    return core.spikes([""], np.array([sigma]))[0]


class StreamingDetector:
    """The online detector: an engine sink on one electrode channel.

    Causal band-pass and the same peak rule as the batch detector.  The threshold is k·σ,
    σ = MAD of the first ``calibrate_s`` of filtered data, re-estimated every
    ``recalibrate_s`` from the latest ``calibrate_s``; ``set_threshold`` fixes it by hand.
    A gap in the sample indices restarts the filter and the peak rule.

    Thread: ``start``/``on_block``/``on_events``/``stop`` run on the engine thread;
    ``rate_hz``, ``recent_spikes``, ``threshold``, ``sigma``, ``band_note`` and
    ``set_threshold`` may be called from any thread.

    A rig sampling too slowly for the asked band (a 10 kHz rig and 300–6000 Hz) does not fail
    the run: ``start`` lowers the band to what the rate holds (``DetectionParams.for_rate``),
    sets ``params`` to the settings used and ``band_note`` to the one line saying so, and logs
    it as a warning (``analysis.detect``).
    """

    def __init__(self, params: DetectionParams = DetectionParams(), channel: str | None = None,
                 calibrate_s: float = 2.0, recalibrate_s: float = 10.0, keep_s: float = 600.0):
        self.asked = params  # the settings asked for
        self.params = params  # the settings used (the band fitted to the rate at start)
        self.band_note = ""
        self.channel_name = channel
        self.calibrate_s = calibrate_s
        self.recalibrate_s = recalibrate_s
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._spikes = np.zeros(0, dtype=np.int64)
        self._manual_threshold: float | None = None
        self.threshold: float | None = None  # physical units (V for an electrode), > 0
        self.sigma: float | None = None
        self._end_index = 0
        self.fs = 0.0

    def start(self, stream: StreamInfo) -> None:
        self.stream = stream
        if self.channel_name is None:
            elec = [i for i, c in enumerate(stream.channels) if c.kind == ChannelKind.ELECTRODE]
            self.ch = elec[0] if elec else 0
        else:
            self.ch = stream.index_of(self.channel_name)
        self.fs = stream.rate_hz
        self.params, self.band_note = self.asked.for_rate(self.fs)
        if self.band_note:
            log.warning("online detector: %s", self.band_note)
        ch = stream.channels[self.ch]
        gain = stream.scale_V[self.ch] / ch.gain
        offset = stream.offset_V[self.ch] / ch.gain
        self.filter = CausalFilter(self.params.bandpass(self.fs), np.array([gain]), np.array([offset]))
        self.peaks = PeakFinder(1, self.params.dead_samples(self.fs), self.params.polarity)
        self._load_kernels(stream)
        self._calib: list[np.ndarray] = []
        self._calib_n = 0
        self._since_cal = 0
        self._next_index: int | None = None
        with self._lock:
            self._spikes = np.zeros(0, dtype=np.int64)
            self._end_index = 0

    def _load_kernels(self, stream: StreamInfo) -> None:
        """Run the filter and the peak rule once on two rows shaped like the device's blocks
        (same dtype; a column of a C- or an F-ordered block), then forget them.  Loading the compiled kernels
        from numba's cache takes ~0.2 s (compiling them, on a fresh install, seconds): done
        in the first block, that delayed the engine's AO top-up past its lead, and an NI
        board stopped on -200290 at the start of a run.  ``start`` runs before the device
        starts, where the time costs nothing."""
        for order in "CF":  # a column of a C-ordered block is strided, of an F-ordered one (NI) contiguous
            rows = np.zeros((2, len(stream.channels)), dtype=stream.dtype, order=order)[:, self.ch]
            self.peaks.find(self.filter(rows), 0, np.array([np.inf]))
            self.filter.reset()
            self.peaks.reset()

    def on_block(self, block: Block) -> None:
        if self._next_index is not None and block.start_index != self._next_index:
            self.filter.reset()  # a gap: the signal is not contiguous
            self.peaks.reset()
        self._next_index = block.end_index
        z = self.filter(block.data[:, self.ch])
        self._update_sigma(z[:, 0])
        thr = self._manual_threshold if self._manual_threshold is not None else (
            None if self.sigma is None else self.params.k * self.sigma)
        self.threshold = thr
        rows, _, _ = self.peaks.find(z, block.start_index, np.array([np.inf if thr is None else thr]))
        with self._lock:
            if len(rows):
                self._spikes = np.concatenate([self._spikes, rows])
            self._end_index = block.end_index
            horizon = block.end_index - int(self.keep_s * self.fs)
            if len(self._spikes) and self._spikes[0] < horizon:
                self._spikes = self._spikes[np.searchsorted(self._spikes, horizon):]

    def _update_sigma(self, y: np.ndarray) -> None:
        need = int(self.calibrate_s * self.fs)
        self._calib.append(y)
        self._calib_n += len(y)
        if self.sigma is None:
            if self._calib_n >= need:
                self.sigma = mad_sigma(np.concatenate(self._calib)[-need:])
                self._calib, self._calib_n, self._since_cal = [], 0, 0
            return
        self._since_cal += len(y)
        if self._since_cal >= self.recalibrate_s * self.fs:
            self.sigma = mad_sigma(np.concatenate(self._calib)[-need:])
            self._calib, self._calib_n, self._since_cal = [], 0, 0
        elif self._calib_n > 2 * need:  # keep only about the latest calibrate_s
            while self._calib and self._calib_n - len(self._calib[0]) >= need:
                self._calib_n -= len(self._calib.pop(0))

    def on_events(self, events: list[LogEvent]) -> None:
        pass

    def stop(self) -> None:
        pass

    # --- any thread ---------------------------------------------------------------------
    def set_threshold(self, threshold: float | None) -> None:
        """Fix the threshold (physical units; its sign is ignored), or None for automatic k·σ."""
        self._manual_threshold = None if threshold is None else abs(float(threshold))

    def recent_spikes(self, since_index: int = 0) -> np.ndarray:
        """Sample indices of the spikes found since ``since_index`` (within ``keep_s``)."""
        with self._lock:
            return self._spikes[np.searchsorted(self._spikes, since_index):].copy()

    def rate_hz(self, window_s: float, end_index: int | None = None) -> float | None:
        """Mean firing rate over the ``window_s`` before ``end_index`` (default: the latest
        sample), or None until that much has been seen."""
        with self._lock:
            end = self._end_index if end_index is None else end_index
            n_win = int(window_s * self.fs)
            if n_win <= 0 or end < n_win:
                return None
            lo, hi = np.searchsorted(self._spikes, [end - n_win, end])
            return float(hi - lo) / window_s
