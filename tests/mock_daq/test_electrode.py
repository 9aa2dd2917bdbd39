"""Electrode and amplifier: thermal and 1/f noise, mains hum, current artefact, gain, ADC."""

import numpy as np
import pytest
from scipy.signal import welch
from simhelp import make_rig, physical, simulate

from mock_daq.electrode import Hum
from mock_daq.model import NoiseModel

QUIET = {"thermal_uV_rms": 0, "flicker_uV_rms": 0, "hum_uV": 0}
SILENT_NEURON = [{"baseline_hz": 0.0}]


def electrode_uV(noise, seconds=20.0, **rig):
    r = make_rig({"neurons": SILENT_NEURON, "noise": noise}, **rig)
    data, _, _ = simulate(r, seconds, block=4000)
    return physical(r, data, "electrode"), r


def test_thermal_noise_rms():
    e, _ = electrode_uV({**QUIET, "thermal_uV_rms": 10})
    assert e.std() == pytest.approx(10.0, rel=0.02)
    assert abs(e.mean()) < 0.1


def test_flicker_noise_is_one_over_f_with_its_rms():
    e, r = electrode_uV({**QUIET, "flicker_uV_rms": 20, "flicker_low_hz": 0.1, "flicker_high_hz": 100},
                        seconds=200.0)
    f, p = welch(e, fs=r.rate_hz, nperseg=2**16)
    band = (f > 0.5) & (f < 50)
    slope = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.25)
    # rms over the band the components span (a 200-s record holds most of the 0.1-Hz power)
    assert e.std() == pytest.approx(20.0, rel=0.3)


def test_mains_hum_and_its_harmonic():
    e, r = electrode_uV({**QUIET, "thermal_uV_rms": 1, "hum_uV": 20, "hum_hz": 60, "hum_harmonics": [0.0, 0.3]},
                        seconds=10.0)
    spec = np.abs(np.fft.rfft(e)) * 2 / e.size
    freqs = np.fft.rfftfreq(e.size, 1 / r.rate_hz)
    assert spec[np.argmin(np.abs(freqs - 60))] == pytest.approx(20.0, rel=0.02)
    assert spec[np.argmin(np.abs(freqs - 180))] == pytest.approx(6.0, rel=0.05)
    assert spec[np.argmin(np.abs(freqs - 120))] < 0.2


def test_hum_is_phase_locked_to_the_sample_clock():
    h = Hum(20_000, NoiseModel(hum_uV=5, hum_hz=50, hum_harmonics=(0.0, 0.3)))
    i = 10**9 + np.arange(3000)
    w = 2 * np.pi * 50 / 20_000
    assert h.take(10**9, 3000) == pytest.approx(5 * (np.sin(w * i) + 0.3 * np.sin(3 * w * i)), abs=1e-4)


def test_amplifier_gain_and_adc_clipping_in_int16():
    # gain 10000 and ±1 V: 100 µV at the electrode is full scale
    e, r = electrode_uV({**QUIET, "thermal_uV_rms": 60}, seconds=2.0,
                        electrodes=[{"name": "electrode", "physical": "sim/ai0", "gain": 10000, "range_V": 1}])
    data, _, _ = simulate(r, 2.0, block=4000)
    raw = data[:, 0]
    assert raw.dtype == np.int16
    assert raw.max() == 32767 and raw.min() == -32768  # clipped at the ADC range
    assert np.isclose(np.abs(e).max(), 100.0, rtol=1e-3)
    lsb_uV = 1.0 / 32768 / 10000 * 1e6
    assert np.allclose(np.round(e / lsb_uV), e / lsb_uV, atol=1e-6)  # quantised


def test_current_artefact_follows_net_tip_current():
    r = make_rig({"neurons": SILENT_NEURON, "noise": {**QUIET, "artefact_uV_per_nA": 2.0},
                  "barrels": {"glu": {"resistance_MOhm": 2000}}})  # 50 nA at compliance

    def schedule(s, fs):
        s.set_current("glu", -150.0, fs)  # 100 nA over compliance: 100 nA of net current

    data, _, _ = simulate(r, 2.0, schedule)
    e = physical(r, data, "electrode")
    assert e[:9000].mean() == pytest.approx(0.0, abs=0.01)
    assert e[11000:].mean() == pytest.approx(2.0 * 100.0, rel=0.001)  # balance +175 against −50 − 15 − 10 delivered
