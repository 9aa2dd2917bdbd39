"""Ratemeter, kernel-smoothed rate, PSTH, window rates."""

import numpy as np
import pytest

from analysis.rates import binned_rates, psth, rate_in_window, ratemeter, smoothed_rate


def test_ratemeter_counts_per_bin():
    t = np.array([0.1, 0.2, 1.5, 2.9, 2.95, 3.5])
    edges, rate = ratemeter(t, 1.0, 0.0, 4.0)
    assert edges.tolist() == [0, 1, 2, 3] and rate.tolist() == [2, 1, 2, 1]
    _, rate10 = ratemeter(t, 0.5, 0.0, 4.0)
    assert rate10.sum() * 0.5 == len(t)
    with pytest.raises(ValueError, match="bin_s"):
        ratemeter(t, 0)


def test_smoothed_rate_preserves_the_mean_rate():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 100, 1000))
    times, rate = smoothed_rate(t, 1.0, 0.0, 100.0)
    assert np.mean(rate) == pytest.approx(10.0, rel=0.02)
    assert np.all(np.diff(times) > 0) and times[0] > 0


def test_window_rates_and_bins():
    idx = np.arange(0, 10000, 100)  # 10 Hz at 1 kHz sampling
    assert rate_in_window(idx, 0, 5000, 1000.0) == pytest.approx(10.0)
    assert np.isnan(rate_in_window(idx, 5, 5, 1000.0))
    assert binned_rates(idx, 0, 3500, 1000.0, 1.0).tolist() == [10, 10, 10]


def test_psth_averages_over_onsets():
    fs = 1000.0
    onsets = np.array([10_000, 30_000, 50_000])
    spikes = np.sort(np.concatenate([np.arange(o, o + 2000, 50) for o in onsets]))  # 20 Hz for 2 s after each onset
    p = psth(spikes, onsets, fs, before_s=2.0, after_s=4.0, bin_s=1.0)
    assert p.n_trials == 3 and p.t_s.tolist() == [-2, -1, 0, 1, 2, 3]
    assert p.rate_hz.tolist() == [0, 0, 20, 20, 0, 0] and np.all(p.sem_hz == 0)
