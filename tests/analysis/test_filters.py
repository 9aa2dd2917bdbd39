"""The band-pass filters: exact causal filtering across chunks, zero phase equal to sosfiltfilt."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import sosfilt, sosfiltfilt

from analysis.filters import (
    BandError,
    Bandpass,
    CausalFilter,
    ZeroPhaseFilter,
    clipped_blocks,
    zero_phase,
)

FS = 20000.0
RNG = np.random.default_rng(7)
X = (RNG.standard_normal((60000, 3)) * 200 + 300).astype(np.int16)


def chunks(n, cuts):
    edges = sorted({0, n, *[c % n for c in cuts]})
    return list(itertools.pairwise(edges))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=12))
def test_causal_filter_is_exact_whatever_the_chunking(cuts):
    bp = Bandpass(FS)
    gain = np.array([0.5, 1.0, 2.0])
    f = CausalFilter(bp, gain)
    y = np.concatenate([f(X[a:b]) for a, b in chunks(len(X), cuts)])
    x = X.astype(np.float64) * gain
    ref, _ = sosfilt(bp.sos, x, axis=0, zi=bp.steady_state(x[0]))
    assert np.array_equal(y, ref)  # bit-identical to one sosfilt call


def test_zero_phase_equals_forward_backward_filtering_away_from_the_ends():
    bp = Bandpass(FS, (300, 6000), 3)
    x = X[:, 0].astype(np.float64)
    z = zero_phase(x, bp, chunk=7000)
    ref = sosfiltfilt(bp.sos, x)
    m = 3 * bp.margin
    assert np.max(np.abs(z[m:-m] - ref[m:-m])) < 1e-8 * np.max(np.abs(ref))


def test_zero_phase_output_covers_every_sample_once():
    bp = Bandpass(FS)
    zp = ZeroPhaseFilter(bp, np.ones(3))
    rows = []
    for a, b in chunks(len(X), [100, 5000, 5100, 31000]):
        rows += [(r, len(z)) for r, z in zp.push(X[a:b])]
    rows += [(r, len(z)) for r, z in zp.finish()]
    assert rows[0][0] == 0
    assert all(r1 == r0 + n0 for (r0, n0), (r1, _) in itertools.pairwise(rows))
    assert rows[-1][0] + rows[-1][1] == len(X)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=12), st.integers(0, 3))
def test_reused_buffers_give_the_same_pieces_whatever_the_chunking(cuts, segments_before):
    """``reuse_buffers``: same output as fresh arrays, piece by piece, across segments (each
    piece consumed before the next call, as the detector does)."""
    bp = Bandpass(FS)
    gain = np.array([0.5, 1.0, 2.0])
    fresh, reused = ZeroPhaseFilter(bp, gain), ZeroPhaseFilter(bp, gain, reuse_buffers=True)
    for _ in range(segments_before + 1):  # earlier segments leave buffers of other sizes behind
        for a, b in chunks(len(X), cuts):
            want = [(r, z.copy()) for r, z in fresh.push(X[a:b])]
            got = reused.push(X[a:b])
            assert [r for r, _ in got] == [r for r, _ in want]
            assert all(np.array_equal(g, w) for (_, g), (_, w) in zip(got, want))
        want = fresh.finish()
        got = reused.finish()
        assert len(got) == len(want) and all(np.array_equal(g, w) for (_, g), (_, w) in zip(got, want))
        cuts = [c * 7 + 13 for c in cuts]


def test_margin_makes_the_backward_transient_negligible():
    bp = Bandpass(30000.0, (300, 6000), 3)
    poles = np.concatenate([np.roots(s[3:]) for s in bp.sos])
    assert np.max(np.abs(poles)) ** bp.margin <= 1e-9


def test_a_band_above_the_rate_is_refused_not_capped_and_bad_bands_are_refused():
    with pytest.raises(BandError, match=r"sampled at 10000 Hz.* up to 4500 Hz.*--band 300 4500"):
        Bandpass(10000.0, (300, 6000))
    assert Bandpass(10000.0, (300, 4500)).band_hz == (300.0, 4500.0)  # the edge itself fits
    for band in ((0, 100), (500, 300)):
        with pytest.raises(BandError, match="band"):
            Bandpass(FS, band)


def test_clipped_blocks_flags_samples_at_the_converter_limits():
    x = np.zeros((1000, 2), np.int16)
    x[300, 1] = 32767
    x[999, 0] = -32768
    f = clipped_blocks(x, np.array([-32768, -32768], np.int16), np.array([32767, 32767], np.int16), 256)
    assert f.shape == (4, 2)
    assert f[1, 1] and f[3, 0] and f.sum() == 2
