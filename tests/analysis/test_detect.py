"""The detector: batch and streaming share one implementation; their stated differences are
the causal vs zero-phase filter (and σ estimated online), tested explicitly here."""

import numpy as np
import pytest
from synth import match, waveform

from analysis.detect import DetectionParams, StreamingDetector, detect_spikes
from daq.types import AIChannel, Block, ChannelKind, StreamInfo

FS = 20000.0


@pytest.fixture(scope="module")
def signal():
    """40 s of 10 µV noise with spikes of varied amplitude (60–200 µV) and width (0.3–0.8 ms)."""
    rng = np.random.default_rng(0)
    n = int(FS * 40)
    x = rng.standard_normal(n) * 10e-6
    t = np.sort(rng.choice(n - 200, 500, replace=False))
    t = t[np.r_[True, np.diff(t) > 100]]
    for s in t:
        w = waveform(FS, rng.uniform(60, 200), rng.uniform(0.3, 0.8)) * 1e-6
        x[s:s + len(w)] += w
    return x, t


def stream(x, det, seed=1, max_block=3000, start=0):
    st = StreamInfo(FS, (AIChannel("e", "x/ai0", ChannelKind.ELECTRODE),), np.dtype(np.float64), (1.0,), (0.0,))
    det.start(st)
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(x):
        k = int(rng.integers(1, max_block))
        det.on_block(Block(start + i, x[i:i + k, None]))
        i += k
    return det


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streaming_equals_batch_on_the_same_causally_filtered_signal(signal, seed):
    """Same filter (causal), same threshold, random block sizes: identical spikes."""
    x, _ = signal
    thr = 45e-6
    batch = detect_spikes(x, FS, threshold=thr, causal=True)
    det = StreamingDetector()
    det.set_threshold(thr)
    online = stream(x, det, seed).recent_spikes()
    assert len(online) > 300
    assert np.array_equal(online, batch.index)


def test_streaming_vs_zero_phase_batch_differ_only_by_the_filter_delay(signal):
    """Real filters, automatic thresholds: every offline spike has its online twin within the
    causal filter's maximum group delay in the band (plus one sample of rounding)."""
    x, _ = signal
    params = DetectionParams()
    batch = detect_spikes(x, FS, params)
    det = stream(x, StreamingDetector(params, calibrate_s=2.0))
    online = det.recent_spikes()
    _lo_s, hi_s = params.bandpass(FS).group_delay_s()
    assert hi_s < 0.3e-3  # the default first-order band-pass delays spikes by less than 0.3 ms
    tol = int(np.ceil(hi_s * FS)) + 1
    after = batch.index[batch.index > 2 * FS]  # online threshold exists after calibrate_s
    recall, precision = match(online[online > 2 * FS], after, tol)
    assert recall >= 0.97 and precision >= 0.97
    assert det.sigma == pytest.approx(batch.sigma, rel=0.25)  # causal vs zero-phase noise σ


def test_streaming_restarts_at_a_gap_and_reports_rates(signal):
    x, _ = signal
    det = StreamingDetector()
    det.set_threshold(45e-6)
    st = StreamInfo(FS, (AIChannel("e", "x/ai0", ChannelKind.ELECTRODE),), np.dtype(np.float64), (1.0,), (0.0,))
    det.start(st)
    half = len(x) // 2
    det.on_block(Block(0, x[:half, None]))
    det.on_block(Block(half + 5000, x[half:, None]))  # 5000 samples lost
    a = detect_spikes(x[:half], FS, threshold=45e-6, causal=True).index
    b = detect_spikes(x[half:], FS, threshold=45e-6, causal=True).index + half + 5000
    assert np.array_equal(det.recent_spikes(), np.concatenate([a, b]))
    end = len(x) + 5000
    r = det.rate_hz(10.0)
    assert r == pytest.approx(np.sum(det.recent_spikes() >= end - 10 * FS) / 10.0)
    assert det.rate_hz(10.0, end_index=100) is None


@pytest.mark.parametrize("order", ["C", "F"])  # the NI backend hands over F-ordered blocks
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_streaming_loads_its_kernels_before_the_first_block(dtype, order):
    """``start`` (before the device starts) compiles or loads every kernel the blocks will
    need: the first block compiles nothing (that delay once made an NI board run out of AO)."""
    from analysis.filters import _forward
    from analysis.peaks import _find

    chans = (AIChannel("e", "x/ai0", ChannelKind.ELECTRODE), AIChannel("m", "x/ai1", ChannelKind.ELECTRODE))
    st = StreamInfo(FS, chans, np.dtype(dtype), (1e-6, 1e-3), (0.0, 0.0))
    det = StreamingDetector(channel="m")
    det.start(st)
    compiled = (len(_forward.signatures), len(_find.signatures))
    data = np.asarray(np.random.default_rng(0).normal(0, 50, (3000, 2)).astype(dtype), order=order)
    det.on_block(Block(0, data))
    assert (len(_forward.signatures), len(_find.signatures)) == compiled


def test_snippets_and_features_come_with_the_spikes(signal):
    x, t = signal
    sp = detect_spikes(x, FS, DetectionParams(n_keep_snippets=200))
    assert sp.features.shape == (len(sp), 3)
    assert np.all(np.isfinite(sp.features))
    assert sp.snippets.shape == (200, sp.snippet_t_ms.size)
    i = np.argmin(np.abs(sp.snippet_t_ms))
    assert sp.snippet_t_ms[i] == 0.0
    # snippets are centred on the (sub-sample) peak: the peak value sits at t = 0
    assert np.allclose(sp.snippets[:, i], sp.amplitude[sp.snippet_ids], rtol=0.1)
    assert np.all(np.argmin(sp.snippets, axis=1) == i)
    recall, precision = match(sp.index, t + round(0.3e-3 * FS), round(0.4e-3 * FS))
    assert recall > 0.98 and precision > 0.98


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="polarity"):
        DetectionParams(polarity="up")
    with pytest.raises(ValueError, match="threshold k"):
        DetectionParams(k=0)
    with pytest.raises(ValueError, match="band_hz"):
        DetectionParams(band_hz=(600, 300))
