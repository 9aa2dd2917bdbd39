"""Diffusion: Nicholson's point source, its grid superposition, and the simulator's concentrations."""

import numpy as np
import pytest
from simhelp import make_rig, simulate

from mock_daq.diffusion import (
    DiffusionField,
    Medium,
    PointSourceKernel,
    fmol_per_s_per_nA,
    steady_state,
    step_response,
)

GLU_NO_UPTAKE = Medium(alpha=0.2, tortuosity=1.6, diffusion_cm2_s=7.6e-6, uptake_per_s=0.0)
GLU_UPTAKE = Medium(alpha=0.2, tortuosity=1.6, diffusion_cm2_s=7.6e-6, uptake_per_s=1.0)


def test_reference_sheet_orders_of_magnitude():
    """n = 0.3, 20 nA, D = 7.6e-6 cm²/s, 50 µm: 67 µM at 1 s, 0.86 mM at 10 s, 1.18 mM at 30 s
    without uptake; a ~92 µM plateau with k' = 1/s (iontophoresis-parameters.md)."""
    q = fmol_per_s_per_nA(0.3, 1) * 20
    c = step_response(np.array([1.0, 10.0, 30.0]), 50, GLU_NO_UPTAKE) * q
    assert c == pytest.approx([67, 860, 1180], rel=0.01)
    assert steady_state(50, GLU_UPTAKE) * q == pytest.approx(92, rel=0.01)


def test_step_response_reaches_the_closed_form_steady_state():
    for m in (GLU_UPTAKE, Medium(0.2, 1.6, 9e-6, 0.1), Medium(0.18, 1.67, 1.3e-5, 5.0)):
        ss = steady_state(40, m)
        # Q·λ²/(4π·D·α·r)·exp(−r·λ·√(k′/D)) written out independently
        d = m.diffusion_cm2_s * 1e-4
        r = 40e-6
        expect = 1e-15 * 1e3 * m.tortuosity**2 / (4 * np.pi * d * m.alpha * r) * np.exp(
            -r * m.tortuosity * np.sqrt(m.uptake_per_s / d))
        assert ss == pytest.approx(expect, rel=1e-12)
        assert step_response(2000.0, 40, m)[0] == pytest.approx(ss, rel=1e-6)


@pytest.mark.parametrize("medium,r_um", [(GLU_NO_UPTAKE, 40), (GLU_UPTAKE, 40), (Medium(0.2, 1.6, 5e-6, 0.1), 40),
                                         (Medium(0.2, 1.6, 5e-6, 0.1), 250), (GLU_NO_UPTAKE, 400)],
                         ids=["no uptake", "k'=1", "k'=0.1", "k'=0.1 at 250 um", "no uptake at 400 um"])
def test_grid_superposition_equals_the_analytic_on_off_solution(medium, r_um):
    """Release on for 30 s then off: C(t) = Q·(G(t) − G(t − 30 s)) at every grid time, out to
    10 minutes (the exponential tail carries the slow t^-3/2 decay without uptake)."""
    dt = 0.01
    kern = PointSourceKernel(r_um, medium, dt)
    field = DiffusionField([[kern]])
    n_steps = 60_000
    q = np.zeros((n_steps, 1))
    q[:3000] = 5.0  # fmol/s for 30 s
    field.push(q)
    c = np.concatenate([field.concentrations(7), field.concentrations(n_steps - 7 + 1)])[:, 0, 0]
    t = np.arange(n_steps + 1) * dt
    expect = 5.0 * (step_response(t, r_um, medium) - step_response(t - 30.0, r_um, medium))
    peak = expect.max()
    assert np.max(np.abs(c - expect)) < 1e-4 * peak
    late = (t > 60) & (expect > 1e-3 * peak)  # the decaying tail, relatively
    # the decaying tail, where there is one: fast uptake (k'=1) leaves none above 1e-3 of the peak
    assert late.any() == (medium.uptake_per_s < 1.0)
    if late.any():
        assert np.max(np.abs(c[late] - expect[late]) / expect[late]) < 1e-3


def test_release_history_through_the_simulator_matches_the_analytic_solution():
    """Glutamate on at 2 s (60 nA), back to retain at 32 s: the recorded concentration truth is the
    analytic on/off superposition (instant release onset and no leak configured here)."""
    rig = make_rig({"drugs": {"glutamate": {"onset_tau_s": 0, "onset_tau_s_per_nC": 0, "leak_nA": 0}}})

    def schedule(s, fs):
        s.set_current("glu", -60.0, 2 * fs)
        s.set_current("glu", 15.0, 32 * fs)

    _, truth, dev = simulate(rig, 60.0, schedule)
    sim = dev.simulation
    t = truth["truth_index"] / rig.rate_hz
    c = truth["concentration_uM"][:, sim.drug_names.index("glutamate")]
    medium = Medium(0.2, 1.6, 7.6e-6, 1.0)
    q = fmol_per_s_per_nA(0.2, 1) * 60
    expect = q * (step_response(t - 2.0, 40, medium) - step_response(t - 32.0, 40, medium))
    assert np.max(np.abs(c - expect)) < 1e-3 * expect.max()
    steady = q * steady_state(40, medium)
    plateau = c[(t > 25) & (t < 32)]
    assert plateau == pytest.approx(steady, rel=0.01)  # the done-when: within 1 % of the analytic value
    assert c[t > 50].max() < 0.01 * steady  # cleared by uptake after the step off


def test_every_neuron_sees_its_own_distance():
    rig = make_rig({"neurons": [{"distance_um": 20}, {"distance_um": 60, "electrode": 0}]})
    _, truth, dev = simulate(rig, 30.0, lambda s, fs: s.set_current("glu", -40.0, fs))
    c = truth["neuron_concentration_uM"][-1, :, 0]
    assert c[0] > 3 * c[1]
    assert np.array_equal(truth["concentration_uM"][:, 0], truth["neuron_concentration_uM"][:, 0, 0])
    assert dev.simulation.steady_concentration_uM("glu", 40, 1) == pytest.approx(c[1], rel=0.01)
