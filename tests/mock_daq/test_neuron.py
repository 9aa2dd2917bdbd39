"""Neurons: spike statistics, refractoriness, regularity, waveforms, several units on one electrode."""

import numpy as np
import pytest
from simhelp import make_rig, physical, simulate

from mock_daq.neuron import TROUGH_MS, spike_waveform
from mock_daq.pharmacology import observed_rate_hz


@pytest.mark.parametrize("width_ms,amp", [(0.3, 50.0), (0.5, 150.0), (0.8, 300.0)])
def test_waveform_is_biphasic_with_the_configured_trough_and_width(width_ms, amp):
    fs = 100_000
    w = spike_waveform(fs, amp, width_ms)
    trough = int(np.argmin(w))
    peak = trough + int(np.argmax(w[trough:]))
    assert w[trough] == pytest.approx(-amp)
    assert trough / fs * 1e3 == pytest.approx(TROUGH_MS, abs=0.02)
    assert (peak - trough) / fs * 1e3 == pytest.approx(width_ms, rel=0.1)
    assert 0.2 * amp < w[peak] < 0.5 * amp  # the slower positive phase
    assert abs(w[0]) < 1e-9 and abs(w[-1]) < 1e-9


def isi_stats(rig, seconds=120.0):
    _, truth, _ = simulate(rig, seconds, block=5000)
    s = truth["spike_index/neuron0"] / rig.rate_hz
    isi = np.diff(s)
    return s, isi, truth


def test_rate_refractoriness_and_poisson_variability_of_a_cortical_cell():
    rig = make_rig({"neurons": [{"baseline_hz": 20, "refractory_ms": 3}]})
    s, isi, truth = isi_stats(rig)
    expected = observed_rate_hz(np.array([20.0]), 3.0)[0]
    assert truth["expected_rate_hz"][:, 0] == pytest.approx(expected, rel=1e-6)
    n = len(s)
    assert abs(n - expected * 120) < 4 * np.sqrt(expected * 120)
    assert isi.min() >= 3e-3 - 1 / rig.rate_hz
    cv = isi.std() / isi.mean()
    assert 0.85 < cv < 1.05  # Poisson with a small dead time


def test_a_dopamine_like_cell_fires_slowly_and_regularly():
    rig = make_rig({"neurons": [{"baseline_hz": 3, "regularity": 12, "refractory_ms": 4, "width_ms": 0.8}]})
    s, isi, truth = isi_stats(rig, 200.0)
    assert len(s) / 200 == pytest.approx(truth["expected_rate_hz"][0, 0], rel=0.1)
    cv = isi.std() / isi.mean()
    assert cv < 0.4


def test_several_neurons_at_different_amplitudes_on_one_electrode():
    amps = (200.0, 100.0, 50.0)
    rig = make_rig({"noise": {"thermal_uV_rms": 5, "flicker_uV_rms": 0, "hum_uV": 0},
                    "neurons": [{"baseline_hz": 8, "amplitude_uV": a, "amplitude_cv": 0.0,
                                 "distance_um": 30 + 20 * k} for k, a in enumerate(amps)]})
    data, truth, _ = simulate(rig, 60.0, block=2000)
    e = physical(rig, data, "electrode")
    lag = round(TROUGH_MS * 1e-3 * rig.rate_hz)
    all_spikes = np.sort(np.concatenate([truth[f"spike_index/neuron{k}"] for k in range(3)]))
    for k, a in enumerate(amps):
        idx = truth[f"spike_index/neuron{k}"]
        # spikes of neuron k not overlapped by another spike
        near = np.searchsorted(all_spikes, idx)
        lonely = [i for i, j in zip(idx, near)
                  if (j == 0 or i - all_spikes[j - 1] > 30) and (j + 1 >= len(all_spikes) or all_spikes[j + 1] - i > 30)]
        troughs = e[np.array(lonely) + lag]
        assert np.median(troughs) == pytest.approx(-a, rel=0.1)
    # concentrations differ with distance
    c = truth["neuron_concentration_uM"]
    assert c.shape[1:] == (3, 3)


def test_lost_samples_do_not_change_the_neuron():
    """The preparation lives on through an AI overflow: spikes after it are the same as without."""
    rig = make_rig()
    _, t1, _ = simulate(rig, 6.0, block=1000)
    _, t2, _ = simulate(rig, 6.0, block=1000, faults=({"kind": "overflow", "at_s": 2.0, "lost_s": 0.1},))
    s1, s2 = t1["spike_index/neuron0"], t2["spike_index/neuron0"]
    assert np.array_equal(s1, s2[s2 < 60_000])  # the second run read 0.1 s further
