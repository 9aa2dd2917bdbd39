"""Pump physics: compliance, transport number, retain and leak, onset after retention, balance."""

import numpy as np
import pytest
from simhelp import BASE_RIG, deep_update, make_rig, physical, simulate

from daq.rig import parse_rig
from mock_daq.diffusion import fmol_per_s_per_nA


def column(truth, sim, drug):
    return truth["release_fmol_s"][:, sim.drug_names.index(drug)]


def test_current_beyond_compliance_is_clipped_and_the_monitor_shows_it():
    """1000 MΩ at 100 V compliance: at most 100 nA flows; commanding 150 nA delivers 100 nA."""
    rig = make_rig({"barrels": {"glu": {"resistance_MOhm": 1000}}})

    def schedule(s, fs):
        s.set_current("glu", -50.0, 1 * fs)
        s.set_current("glu", -150.0, 3 * fs)

    data, truth, _ = simulate(rig, 5.0, schedule)
    i_glu = physical(rig, data, "I_glu")
    fs = round(rig.rate_hz)
    assert np.median(i_glu[int(0.5 * fs):fs]) == pytest.approx(15.0, abs=0.1)  # retain
    assert np.median(i_glu[int(1.5 * fs):3 * fs]) == pytest.approx(-50.0, abs=0.1)
    assert np.median(i_glu[int(3.5 * fs):]) == pytest.approx(-100.0, abs=0.1)  # clipped
    # the balance barrel still carries the negated *commands* (150 + 15 + 10 nA): 50 nA flow
    # unbalanced into the tissue
    i_bal = physical(rig, data, "I_bal")
    assert np.median(i_bal[int(3.5 * fs):]) == pytest.approx(175.0, abs=0.2)
    assert (delivered := truth["delivered_nA"][-1]).sum() == pytest.approx(50.0, abs=1e-3)
    assert delivered[0] == pytest.approx(-100.0, abs=1e-6)


def test_release_is_n_I_over_zF_and_scales_with_the_transport_number():
    rates = {}
    for n in (0.1, 0.3):
        rig = make_rig({"drugs": {"glutamate": {"transport_number": n, "onset_tau_s": 0,
                                                "onset_tau_s_per_nC": 0, "leak_nA": 0}}})
        _, truth, dev = simulate(rig, 4.0, lambda s, fs: s.set_current("glu", -40.0, fs))
        rates[n] = column(truth, dev.simulation, "glutamate")[-1]
    faraday = 96485.33212
    assert rates[0.1] == pytest.approx(0.1 * 40e-9 / faraday * 1e15, rel=1e-6)  # stored as float32
    assert rates[0.3] / rates[0.1] == pytest.approx(3.0, rel=1e-6)


def test_retain_stops_release_and_retain_off_leaks():
    rig = make_rig({"drugs": {"glutamate": {"leak_nA": 0.8}}})

    def schedule(s, fs):
        s.set_current("glu", -40.0, 2 * fs)
        s.set_current("glu", 15.0, 10 * fs)  # retain
        s.set_current("glu", 0.0, 20 * fs)  # retain off

    _, truth, dev = simulate(rig, 40.0, schedule)
    q = column(truth, dev.simulation, "glutamate")
    t = truth["truth_index"] / rig.rate_hz
    per_nA = fmol_per_s_per_nA(0.2, 1)
    assert np.all(q[(t >= 10) & (t < 20)] == 0.0)  # retained: nothing leaves
    assert np.all(q[t < 2] == 0.0)
    assert q[t >= 20] == pytest.approx(0.8 * per_nA)  # spontaneous leak, 0.8 nA equivalent
    c = truth["concentration_uM"][:, 0]
    steady_leak = dev.simulation.steady_concentration_uM("glu", 0.0)
    assert c[-1] == pytest.approx(steady_leak, rel=0.01)
    assert 0 < c[-1] < 0.05 * c[(t > 8) & (t < 10)].mean()


def onset_time_s(retain_s):
    """Time from the start of an ejection to 90 % of its steady release, after ``retain_s`` of
    retaining current (and no retention before the recording)."""
    rig = make_rig({"initial_retention_s": 0, "drugs": {"glutamate": {
        "onset_tau_s": 0.5, "onset_tau_s_per_nC": 0.002, "leak_nA": 0}}})
    start = retain_s + 1

    def schedule(s, fs):
        s.set_current("glu", 0.0, 0)
        s.set_current("glu", 15.0, fs)  # retain from 1 s
        s.set_current("glu", -40.0, int(start * fs))

    _, truth, dev = simulate(rig, start + 30, schedule)
    q = column(truth, dev.simulation, "glutamate")
    t = truth["truth_index"] / rig.rate_hz
    full = fmol_per_s_per_nA(0.2, 1) * 40
    return t[np.argmax(q >= 0.9 * full)] - start


def test_release_onset_is_slower_after_long_retention():
    short, long_ = onset_time_s(5), onset_time_s(120)
    # first order, tau = 0.5 s + 0.002 s/nC × retaining charge: 15 nA × 5 s = 75 nC → 0.65 s;
    # 15 nA × 120 s = 1800 nC → 4.1 s.  90 % after ln(10)·tau (to the 10-ms model step).
    assert short == pytest.approx(np.log(10) * 0.65, abs=0.02)
    assert long_ == pytest.approx(np.log(10) * 4.1, abs=0.02)


def test_balanced_pipette_has_no_artefact_an_unbalanced_one_has():
    def schedule(s, fs):
        s.set_current("nacl", 100.0, 2 * fs)

    fs = 10_000
    no_spikes = {"neurons": [{"baseline_hz": 0.0}], "noise": {"flicker_uV_rms": 0, "hum_uV": 0}}
    balanced = make_rig(no_spikes)
    data, _, _ = simulate(balanced, 4.0, schedule)
    e = physical(balanced, data, "electrode")
    assert abs(e[3 * fs:].mean() - e[:2 * fs].mean()) < 1.0  # µV

    unbalanced = deep_update(BASE_RIG, {"simulation": no_spikes})
    unbalanced["pipette"]["barrels"] = unbalanced["pipette"]["barrels"][:-1]  # no balance barrel
    rig = parse_rig(unbalanced, "no balance")
    data, _, _ = simulate(rig, 4.0, schedule)
    e = physical(rig, data, "electrode")
    # net tip current: glu retain +15, gaba retain −15, bic retain −10, nacl +100 → +90 nA
    shift = e[3 * fs:].mean() - e[:2 * fs].mean()
    assert shift == pytest.approx(50.0 * 100, rel=0.01)  # artefact_uV_per_nA × the change of net current
