"""Receptors and firing: Hill curves, competitive antagonism, depolarisation block — in the model
and in the spikes of long ejections."""

import numpy as np
import pytest
from scipy.optimize import curve_fit
from simhelp import make_rig, simulate

from mock_daq.model import DrugModel, NeuronModel
from mock_daq.pharmacology import Receptors, observed_rate_hz

NEURON = NeuronModel(baseline_hz=5, max_rate_hz=45, refractory_ms=2)
GLU = DrugModel(effect="excitatory", ec50_uM=130, hill=1.5, block_uM=1200, block_hill=6)
GABA = DrugModel(effect="inhibitory", ec50_uM=100, hill=1.4)
BIC = DrugModel(effect="antagonist", antagonizes="GABA", kb_uM=20)


def rates(receptors, conc):
    return receptors.drive_rate_hz(np.asarray(conc, dtype=float)[:, None, :])[:, 0]


def test_one_agonist_is_exactly_its_hill_curve():
    r = Receptors(["glutamate"], [GLU.model_copy(update={"block_uM": None})], (NEURON,))
    c = np.logspace(0, 4, 50)
    lam = rates(r, c[:, None])
    assert lam == pytest.approx(5 + 40 * c**1.5 / (c**1.5 + 130**1.5), rel=1e-12)


def test_competitive_antagonist_shifts_the_ec50_by_one_plus_a_over_kb():
    r = Receptors(["GABA", "bicuculline"], [GABA, BIC], (NEURON,))
    c = np.logspace(0, 4, 200)
    for a_uM in (0.0, 20.0, 60.0):
        lam = rates(r, np.column_stack([c, np.full_like(c, a_uM)]))
        half = np.interp(-2.5, -lam, c)  # where the rate is halfway from 5 Hz to 0
        assert half == pytest.approx(100 * (1 + a_uM / 20), rel=0.02)


def test_depolarisation_block_silences_at_high_glutamate():
    r = Receptors(["glutamate"], [GLU], (NEURON,))
    lam = rates(r, [[130.0], [500.0], [1200.0], [3000.0]])
    assert lam[1] > lam[0]
    assert lam[2] < 0.6 * lam[1]  # half-blocked at block_uM
    assert lam[3] < 0.05 * lam[1]


def test_excitation_and_inhibition_combine():
    r = Receptors(["glutamate", "GABA"], [GLU.model_copy(update={"block_uM": None}), GABA], (NEURON,))
    lam = rates(r, [[130.0, 0.0], [130.0, 100.0], [0.0, 100.0]])
    assert lam[0] == pytest.approx(25.0)  # half of the way from 5 to 45
    assert lam[1] == pytest.approx(12.5)  # GABA at its EC50 halves it
    assert lam[2] == pytest.approx(2.5)


def hill_rig():
    return make_rig({
        "initial_retention_s": 0,
        "neurons": [{"baseline_hz": 5, "max_rate_hz": 45, "refractory_ms": 2}],
        "drugs": {"glutamate": {"block_uM": None, "onset_tau_s": 0.2}},
    })


CURRENTS_NA = (5.0, 10.0, 20.0, 40.0, 80.0)
EJECT_S, RECOVER_S, COUNT_S = 40.0, 20.0, 30.0


def dose_runs(rig, barrel, polarity, currents=CURRENTS_NA, background=None, lead_s=RECOVER_S):
    """Long ejections at each current (after ``lead_s`` with only the ``background`` currents);
    returns measured and expected rates in the last COUNT_S of each, and the simulation."""

    def schedule(s, fs):
        if background:
            s.set_currents(background, 0)
        for k, cur in enumerate(currents):
            t0 = lead_s + k * (EJECT_S + RECOVER_S)
            s.set_current(barrel, polarity * cur, int(t0 * fs))
            s.set_current(barrel, rig.pipette.barrel(barrel).retain_current_nA, int((t0 + EJECT_S) * fs))

    seconds = len(currents) * (EJECT_S + RECOVER_S) + lead_s
    _, truth, dev = simulate(rig, seconds, schedule, block=2000)
    spikes = truth["spike_index/neuron0"] / rig.rate_hz
    t = truth["truth_index"] / rig.rate_hz
    measured, expected = [], []
    for k in range(len(currents)):
        hi = lead_s + k * (EJECT_S + RECOVER_S) + EJECT_S
        lo = hi - COUNT_S
        measured.append(np.count_nonzero((spikes >= lo) & (spikes < hi)) / COUNT_S)
        expected.append(truth["expected_rate_hz"][(t >= lo) & (t < hi), 0].mean())
    return np.array(measured), np.array(expected), dev.simulation


def test_long_ejections_follow_the_configured_hill_curve_within_sampling_error():
    rig = hill_rig()
    measured, expected, sim = dose_runs(rig, "glu", -1)
    # the expected rates are the configured curve at the analytic steady concentrations
    conc = np.array([sim.steady_concentration_uM("glu", i) for i in CURRENTS_NA])
    lam = 5 + 40 * conc**1.5 / (conc**1.5 + 130**1.5)
    assert expected == pytest.approx(observed_rate_hz(lam, 2.0), rel=0.01)
    # spike counts agree within sampling error (4 sd of a Poisson count: dead time only narrows it)
    sd = np.sqrt(expected * COUNT_S) / COUNT_S
    assert np.all(np.abs(measured - expected) < 4 * sd), (measured, expected)
    # and a Hill fit to the measured rates recovers the configured EC50 (in current)
    ec50_nA = 130 / (conc[0] / (CURRENTS_NA[0] + 0.8)) - 0.8  # steady µM per nA, leak included
    lam_measured = measured / (1 - measured * 2e-3)  # undo the dead time

    def hill(i, ec50, h):
        c = (i + 0.8) / (ec50 + 0.8)
        return 5 + 40 * c**h / (c**h + 1)

    (fit_ec50, fit_h), _ = curve_fit(hill, np.array(CURRENTS_NA), lam_measured, p0=(15, 1.5))
    assert fit_ec50 == pytest.approx(ec50_nA, rel=0.2)
    assert fit_h == pytest.approx(1.5, abs=0.6)


def test_the_antagonist_shifts_the_inhibition_curve_by_the_configured_amount():
    """GABA dose–response with and without a steady bicuculline ejection: the curve (in current)
    moves right by 1 + A/K_B, A the antagonist's steady concentration at the neuron."""
    rig = make_rig({"initial_retention_s": 0,
                    "neurons": [{"baseline_hz": 20, "max_rate_hz": 45, "refractory_ms": 2}],
                    "drugs": {"bicuculline": {"leak_nA": 0}, "GABA": {"onset_tau_s": 0.2}}})
    currents = np.array([5.0, 10.0, 20.0, 40.0, 80.0, 160.0])
    runs = {bic: dose_runs(rig, "gaba", 1, tuple(currents), {"bic": bic} if bic else None, lead_s=60.0)
            for bic in (0.0, 3.0)}
    sim = runs[3.0][2]
    shift = 1 + sim.steady_concentration_uM("bic", 3.0) / 20.0  # configured K_B = 20 µM
    assert 3 < shift < 6

    def inhibition(i, ic50_nA):  # λ of the configured curve against current (leak 0.8 nA)
        c = (i + 0.8) / (ic50_nA + 0.8)
        return 20 * (1 - c**1.4 / (c**1.4 + 1))

    def fit_ic50(rates_hz):
        lam = rates_hz / (1 - rates_hz * 2e-3)  # undo the dead time
        (ic50,), _ = curve_fit(inhibition, currents, lam, p0=(20.0,))
        return ic50

    exact = [(fit_ic50(runs[b][1]) + 0.8) for b in (0.0, 3.0)]
    assert exact[1] / exact[0] == pytest.approx(shift, rel=0.02)
    measured = [(fit_ic50(runs[b][0]) + 0.8) for b in (0.0, 3.0)]
    assert measured[1] / measured[0] == pytest.approx(shift, rel=0.25)  # from spike counts
    for measured_hz, expected_hz, _ in runs.values():
        sd = np.sqrt(np.maximum(expected_hz, 0.5) * COUNT_S) / COUNT_S
        assert np.all(np.abs(measured_hz - expected_hz) < 4 * sd)


def test_depolarisation_block_in_the_cortex_preset_is_above_the_demo_currents():
    rig = make_rig({"drugs": {"glutamate": {"block_uM": 1200, "block_hill": 6}}})
    measured, expected, _ = dose_runs(rig, "glu", -1, (80.0, 200.0))
    assert expected[1] < 0.6 * expected[0]
    assert measured[1] < measured[0]
