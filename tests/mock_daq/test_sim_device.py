"""SimDevice: the Device protocol, block-size invariance, determinism, AO underflow, pacing, marker."""

import time

import numpy as np
import pytest
from simhelp import make_rig, physical, simulate

from daq.device import Device, EventSource, TruthSource
from daq.errors import ConfigError, OutputUnderflowError
from daq.schedule import AOSchedule
from mock_daq import SimDevice, load_preset

FAULTS = (
    {"kind": "clog", "at_s": 1.2345, "barrel": "glu", "resistance_MOhm": 2000},
    {"kind": "noise_burst", "at_s": 2.5, "duration_s": 0.3, "rms_uV": 300},
    {"kind": "neuron_lost", "at_s": 3.51},
)


def schedule(s, fs):
    s.set_current("glu", -80.0, int(0.5 * fs))
    s.set_current("gaba", 30.0, int(1.777 * fs))
    s.set_current("glu", 15.0, int(2.9 * fs))


def run(block, seed=3, faults=FAULTS, seconds=4.0):
    rig = make_rig({"neurons": [{"baseline_hz": 30}, {"baseline_hz": 12, "amplitude_uV": 80, "distance_um": 70}]},
                   marker={"physical": "sim/ai9"})
    data, truth, dev = simulate(rig, seconds, schedule, block=block, seed=seed, faults=faults)
    return data, truth, dev.drain_events()


def test_it_is_a_device_a_truth_source_and_an_event_source():
    dev = SimDevice(load_preset("cortex"))
    assert isinstance(dev, Device) and isinstance(dev, TruthSource) and isinstance(dev, EventSource)


@pytest.mark.parametrize("block", [333, 4096, 1])
def test_samples_truth_and_events_do_not_depend_on_block_size(block):
    a, ta, ea = run(1000)
    if block == 1:
        b, tb, eb = run_random_blocks()
    else:
        b, tb, eb = run(block)
    assert np.array_equal(a, b)
    assert ta.keys() == tb.keys() and ta  # there is ground truth to compare
    for k in ta:
        assert np.array_equal(ta[k], tb[k]), k
    assert ea == eb


def run_random_blocks():
    rng = np.random.default_rng(0)
    rig = make_rig({"neurons": [{"baseline_hz": 30}, {"baseline_hz": 12, "amplitude_uV": 80, "distance_um": 70}]},
                   marker={"physical": "sim/ai9"})
    dev = SimDevice(rig, seed=3, faults=FAULTS)
    dev.configure(rig.acquisition_config())
    n = 40_000
    sched = AOSchedule(rig.pipette)
    schedule(sched, 10_000)
    dev.write_ao(0, sched.render_volts(0, n))
    dev.start()
    out, i = [], 0
    while i < n:
        k = int(min(rng.integers(1, 3000), n - i))
        out.append(dev.read(k, 5.0).data)
        i += k
    return np.concatenate(out), dev.drain_truth(), dev.drain_events()


def test_deterministic_with_a_seed_and_different_with_another():
    a, ta, _ = run(1000, seed=5)
    b, _, _ = run(1000, seed=5)
    c, tc, _ = run(1000, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(ta["spike_index/neuron0"], tc["spike_index/neuron0"])
    np.testing.assert_array_equal(ta["expected_rate_hz"], tc["expected_rate_hz"])  # the model is the same


def test_the_rig_file_seed_is_used_unless_overridden():
    rig = make_rig({"seed": 11})
    a, _, _ = simulate(rig, 0.5)
    b, _, _ = simulate(rig, 0.5, seed=11)
    c, _, _ = simulate(rig, 0.5, seed=12)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_ao_underflow_like_a_real_board():
    rig = load_preset("cortex")
    dev = SimDevice(rig)
    dev.configure(rig.acquisition_config())
    dev.write_ao(0, AOSchedule(rig.pipette).render_volts(0, 100))
    dev.start()
    dev.read(100, 1.0)
    with pytest.raises(OutputUnderflowError, match="-200290"):
        dev.read(100, 1.0)


def test_paced_reads_take_at_least_the_sample_time():
    rig = make_rig()
    dev = SimDevice(rig, speed=10.0)
    dev.configure(rig.acquisition_config())
    dev.write_ao(0, AOSchedule(rig.pipette).render_volts(0, 10_000))
    dev.start()
    t0 = time.monotonic()
    for _ in range(10):
        dev.read(1000, 5.0)
    assert time.monotonic() - t0 >= 0.099  # 1 s of samples at 10× real time


def test_marker_line_is_high_while_a_drug_barrel_ejects():
    data, _, _ = run(1000, faults=())
    rig = make_rig(marker={"physical": "sim/ai9"})
    assert rig.acquisition_config().ai[-1].kind == "marker"
    volts = data[:, -1] * (10 / 32768)
    fs = 10_000
    assert volts[: int(0.5 * fs)].max() < 0.01
    assert volts[int(0.5 * fs): int(2.9 * fs)].min() > 4.99  # glu from 0.5 s, gaba from 1.78 s
    assert volts[int(2.9 * fs):].min() > 4.99  # gaba still ejecting


def test_current_monitors_follow_the_delivered_currents():
    data, _, _ = run(1000, faults=())
    rig = make_rig()
    i_glu = physical(rig, data, "I_glu")
    assert np.median(i_glu[:4000]) == pytest.approx(15.0, abs=0.1)
    assert np.median(i_glu[6000:28000]) == pytest.approx(-80.0, abs=0.1)


def test_configure_refuses_what_the_rig_does_not_have():
    rig = make_rig()
    dev = SimDevice(rig)
    cfg = rig.acquisition_config()
    from dataclasses import replace

    with pytest.raises(ConfigError, match="runs at 10000 Hz"):
        dev.configure(replace(cfg, rate_hz=20_000))
    bad = replace(cfg, ai=(replace(cfg.ai[0], physical="sim/ai99"),))
    with pytest.raises(ConfigError, match="no AI channel 'sim/ai99'"):
        dev.configure(bad)


def test_a_subset_of_channels_in_any_order():
    rig = make_rig()
    cfg = rig.acquisition_config()
    from dataclasses import replace

    sub = replace(cfg, ai=(cfg.ai[2], cfg.ai[0]))
    dev = SimDevice(rig, seed=3)
    dev.configure(sub)
    sched = AOSchedule(rig.pipette)
    dev.write_ao(0, sched.render_volts(0, 5000))
    dev.start()
    d = dev.read(5000, 5.0).data
    full, _, _ = simulate(rig, 0.5, seed=3)
    assert np.array_equal(d[:, 1], full[:, 0])  # the electrode does not depend on the channel set
    assert np.median(d[:, 0]) * 10 / 32768 / 0.02 == pytest.approx(-15.0, abs=0.1)  # I_gaba retains


def test_simulation_generate_takes_and_gives_sample_major_arrays():
    from mock_daq.simulation import Simulation

    rig = make_rig()
    cfg = rig.acquisition_config()
    a = Simulation(rig, SimDevice(rig).sim, cfg.ai, seed=4)
    b = Simulation(rig, SimDevice(rig).sim, cfg.ai, seed=4)
    cur = AOSchedule(rig.pipette).render_nA(0, 3000)
    cur[1000:, 0] = -50.0
    out = a.generate(0, cur)
    assert out.shape == (3000, len(cfg.ai)) and out.flags.c_contiguous
    assert np.array_equal(out, b.generate_cm(0, np.ascontiguousarray(cur.T)).T)


def test_many_neurons_are_block_size_invariant_too():
    """With 8 or more neurons the spike trains take their vectorised path."""
    neurons = [{"baseline_hz": 5 + 3 * k, "distance_um": 20 + 10 * k, "amplitude_uV": 60 + 20 * k}
               for k in range(10)]
    rig = make_rig({"neurons": neurons})
    a, ta, _ = simulate(rig, 3.0, schedule, block=1000)
    b, tb, _ = simulate(rig, 3.0, schedule, block=777)
    assert np.array_equal(a, b)
    for k in range(10):
        assert np.array_equal(ta[f"spike_index/neuron{k}"], tb[f"spike_index/neuron{k}"])
    assert sum(len(ta[f"spike_index/neuron{k}"]) for k in range(10)) > 200


def test_configuring_again_starts_a_new_run():
    rig = make_rig()
    dev = SimDevice(rig, seed=3, faults=FAULTS)
    first, t1, _ = simulate(rig, 4.0, schedule, device=dev)
    e1 = dev.drain_events()
    again, t2, _ = simulate(rig, 4.0, schedule, device=dev)
    assert np.array_equal(first, again)
    assert np.array_equal(t1["spike_index/neuron0"], t2["spike_index/neuron0"])
    assert dev.drain_events() == e1 and len(e1) == 3  # clog, burst, neuron lost: announced again


def test_a_rate_too_low_for_spikes_is_a_config_error():
    """At 1 kHz a spike's 0.3-ms trough falls between samples (the waveform came out NaN)."""
    rig = load_preset("cortex").model_copy(update={"rate_hz": 1000.0})
    with pytest.raises(ConfigError, match=r"rig 'sim-cortex': rate_hz 1000 cannot show .* at least 5000 Hz"):
        SimDevice(rig).configure(rig.acquisition_config())
