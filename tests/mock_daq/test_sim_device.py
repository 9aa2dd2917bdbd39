"""The first simulated rig: determinism, block-size invariance, AO underflow, physics scale."""

import numpy as np
import pytest

from daq.errors import ConfigError, OutputUnderflowError
from daq.schedule import AOSchedule
from mock_daq import SimDevice, load_preset
from mock_daq.model import SimConfig, parse_sim


def run(block, n_total=20000, seed=3, eject_at=5000):
    rig = load_preset("cortex")
    dev = SimDevice(rig, seed=seed)
    cfg = rig.acquisition_config()
    dev.configure(cfg)
    sched = AOSchedule(rig.pipette)
    sched.set_current("glu", -60.0, eject_at)
    dev.write_ao(0, sched.render_volts(0, n_total))
    dev.start()
    out = []
    i = 0
    while i < n_total:
        n = min(block, n_total - i)
        out.append(dev.read(n, 1.0).data)
        i += n
    return np.concatenate(out), dev.drain_truth()


def test_samples_do_not_depend_on_block_size():
    a, ta = run(1000)
    b, tb = run(333)
    assert np.array_equal(a, b)
    assert np.array_equal(ta["spike_index/neuron0"], tb["spike_index/neuron0"])


def test_deterministic_with_seed_and_different_without():
    a, _ = run(1000, seed=5)
    b, _ = run(1000, seed=5)
    c, _ = run(1000, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_current_monitor_follows_the_ejection():
    data, _ = run(1000)
    rig = load_preset("cortex")
    ch = [c.name for c in rig.acquisition_config().ai].index("I_glu")
    volts = data[:, ch] * (10 / 32768)
    nA = volts / 0.05
    assert np.median(nA[:4000]) == pytest.approx(15.0, abs=0.2)  # retain
    assert np.median(nA[6000:]) == pytest.approx(-60.0, abs=0.2)  # eject


def test_ao_underflow_like_a_real_board():
    rig = load_preset("cortex")
    dev = SimDevice(rig)
    dev.configure(rig.acquisition_config())
    dev.write_ao(0, AOSchedule(rig.pipette).render_volts(0, 100))
    dev.start()
    dev.read(100, 1.0)
    with pytest.raises(OutputUnderflowError, match="-200290"):
        dev.read(100, 1.0)


def test_steady_state_concentration_is_nicholsons_point_source():
    """n=0.3, 20 nA, D=7.6e-6 cm²/s, 50 µm, k'=1/s: about 92 µM (reference sheet)."""
    sim = SimConfig(drugs={"glu": {"transport_number": 0.3, "diffusion_cm2_s": 7.6e-6, "uptake_per_s": 1.0}})
    c = sim.steady_uM_per_nA(sim.drugs["glu"], 50.0) * 20
    assert c == pytest.approx(92, rel=0.03)


def test_bad_simulation_section_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"drugs\.glu\.ec50_uM"):
        parse_sim({"drugs": {"glu": {"ec50_uM": -1}}}, "rig.yaml: simulation")
