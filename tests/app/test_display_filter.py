"""One filter: the trace lanes and the spike waveforms show the signal the online detector
sees (its band, order and causal filtering), so a spike is as deep on the screen as in the
detector and the threshold line is drawn to scale (issue 16, item 7)."""

from __future__ import annotations

import numpy as np

from analysis.detect import DetectionParams, StreamingDetector
from analysis.filters import CausalFilter
from app.gui.models.raster import spike_waveforms
from app.gui.models.traces import TraceModel
from daq.types import AIChannel, Block, ChannelKind, StreamInfo

RATE_HZ = 10_000.0
SCALE_V = 5.0 / 32768
GAIN = 1000.0  # electrode amplifier: physical V = raw * SCALE_V / GAIN


def _stream() -> StreamInfo:
    ch = (AIChannel("e0", "x/ai0", ChannelKind.ELECTRODE, 5.0, "default", "V", GAIN),
          AIChannel("glu_mon", "x/ai1", ChannelKind.CURRENT_MONITOR, 5.0, "default", "nA", 1.0, barrel="glu"))
    return StreamInfo(RATE_HZ, ch, np.dtype(np.int16), (SCALE_V, SCALE_V), (0.0, 0.0))


def _signal(seconds: float = 3.0, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """int16 raw (n, 2): electrode with 5 µV noise and 25 biphasic spikes of 30…200 µV (a
    1-ms trough then a slower positive phase), spread across the threshold; returns (raw, onsets)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE_HZ)
    uV = rng.normal(0.0, 5.0, n)
    onsets = np.arange(1, 26) * int(0.1 * RATE_HZ)
    t = np.arange(-20, 40) / RATE_HZ * 1e3  # ms
    shape = -np.exp(-0.5 * (t / 0.15) ** 2) + 0.35 * np.exp(-0.5 * ((t - 0.5) / 0.3) ** 2)
    for a, s in zip(np.linspace(30, 200, len(onsets)), onsets):
        uV[s - 20:s + 40] += a * shape
    raw = np.zeros((n, 2), dtype=np.int16)
    raw[:, 0] = np.round(uV * 1e-6 * GAIN / SCALE_V).astype(np.int16)
    raw[:, 1] = 1234
    return raw, onsets


def _run_detector(raw: np.ndarray, threshold_uV: float, params: DetectionParams) -> tuple[StreamingDetector, np.ndarray]:
    """The online detector fed in 50-ms blocks, as the engine does; and its own filter's output
    (µV) over the same samples (a fresh filter built from the detector's, from the same start)."""
    det = StreamingDetector(params)
    det.start(_stream())
    det.set_threshold(threshold_uV * 1e-6)
    sees = CausalFilter(det.filter.bp, det.filter.gain, det.filter.offset)(raw[:, det.ch])[:, 0] * 1e6
    for s in range(0, len(raw), 500):
        det.on_block(Block(s, raw[s:s + 500]))
    return det, sees


def _trace_model(raw: np.ndarray, params: DetectionParams | None, chunk_seed: int = 1) -> np.ndarray:
    """The electrode lane as drawn (one sample per column), fed in uneven frames."""
    n = len(raw)
    m = TraceModel(_stream(), window_s=n / RATE_HZ, n_columns=n, history_s=n / RATE_HZ, detection=params)
    assert m.samples_per_column == 1
    rng = np.random.default_rng(chunk_seed)
    s = 0
    while s < n:
        k = int(rng.integers(1, 1500))
        m.ingest(s, raw[s:s + k])
        s += k
    cs, lo, hi = m.columns()
    assert len(cs) == n and np.array_equal(lo, hi)
    return lo[:, 0].astype(np.float64)


def test_a_spike_is_as_deep_on_the_trace_as_the_detector_sees_it():
    raw, _ = _signal()
    det, sees = _run_detector(raw, 60.0, DetectionParams())
    drawn = _trace_model(raw, DetectionParams())
    spikes = det.recent_spikes(0)
    assert len(spikes) >= 10
    np.testing.assert_allclose(drawn[spikes], sees[spikes], rtol=1e-4, atol=0.02)
    np.testing.assert_allclose(drawn, sees, rtol=1e-4, atol=0.02)  # the whole lane, not only the troughs


def test_the_detector_counts_exactly_the_troughs_that_cross_the_drawn_threshold_line():
    """Spikes of 30…200 µV around a 60-µV threshold: a trough drawn beyond the line is a detected
    spike, one drawn short of it is not (with the old 3rd-order display filter, the troughs near
    the line were drawn ~20 % shallower than the detector saw them)."""
    raw, onsets = _signal()
    threshold_uV = 60.0
    det, _ = _run_detector(raw, threshold_uV, DetectionParams())
    drawn = _trace_model(raw, None)  # the default is the detector's default
    spikes = set(int(i) for i in det.recent_spikes(0))
    crossed, missed = 0, 0
    for s in onsets:
        win = slice(s - 5, s + 30)
        depth = -drawn[win].min()
        hit = any(s - 5 <= i < s + 30 for i in spikes)
        assert hit == (depth > threshold_uV), (s, depth, hit)
        crossed += hit
        missed += not hit
    assert crossed >= 5 and missed >= 3  # both sides of the line are exercised
    assert all(any(s - 5 <= i < s + 30 for s in onsets) for i in spikes)  # nothing from noise alone


def test_the_trace_follows_the_detectors_parameters():
    raw, _ = _signal()
    params = DetectionParams(band_hz=(500.0, 3000.0), order=2)
    _det, sees = _run_detector(raw, 60.0, params)
    drawn = _trace_model(raw, params)
    np.testing.assert_allclose(drawn, sees, rtol=1e-4, atol=0.02)
    assert np.max(np.abs(_trace_model(raw, DetectionParams()) - sees)) > 5.0  # another filter would differ


def test_a_gap_restarts_the_trace_filter_as_it_restarts_the_detectors():
    raw, _ = _signal()
    n = len(raw)
    m = TraceModel(_stream(), window_s=1.0, n_columns=int(RATE_HZ), history_s=5.0)
    m.ingest(0, raw[: n // 2])
    m.ingest(n // 2 + 777, raw[n // 2:])  # 777 samples lost
    fresh = TraceModel(_stream(), window_s=1.0, n_columns=int(RATE_HZ), history_s=5.0)
    fresh.ingest(n // 2 + 777, raw[n // 2:])
    np.testing.assert_array_equal(m.columns()[1], fresh.columns()[1])


def test_waveforms_have_the_depth_the_detector_saw_at_its_spike_indices():
    raw, _ = _signal()
    det, sees = _run_detector(raw, 60.0, DetectionParams())
    trace_uV = raw[:, 0] * SCALE_V / GAIN * 1e6
    spikes = det.recent_spikes(0)
    t_ms, w = spike_waveforms(trace_uV, 0, spikes, RATE_HZ, max_n=100)
    assert len(w) == len(spikes) >= 10
    at_peak = int(np.argmin(np.abs(t_ms)))
    np.testing.assert_allclose(w[:, at_peak], sees[spikes], rtol=1e-6, atol=1e-6)
    assert np.all(w[:, at_peak] <= w.min(axis=1) + 1e-9)  # the detector's index is the trough
