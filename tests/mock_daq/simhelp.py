"""Helpers for the simulator's tests (imported as ``simhelp``): small rigs, and running a device on a current schedule."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from daq.rig import RigConfig, parse_rig
from daq.schedule import AOSchedule
from mock_daq import SimDevice

RATE_HZ = 10_000

BASE_RIG: dict[str, Any] = {
    "name": "test-rig",
    "rate_hz": RATE_HZ,
    "electrodes": [{"name": "electrode", "physical": "sim/ai0", "gain": 1000, "range_V": 5}],
    "monitor_range_V": 10,
    "pipette": {
        "max_total_nA": 600,
        "barrels": [
            {"name": "glu", "drug": "glutamate", "polarity": -1, "retain_nA": 15, "max_eject_nA": 200,
             "command_gain_nA_per_V": 100, "monitor_gain_V_per_nA": 0.02, "ao_channel": "sim/ao0",
             "monitor_channel": "sim/ai1"},
            {"name": "gaba", "drug": "GABA", "polarity": 1, "retain_nA": 15, "max_eject_nA": 200,
             "command_gain_nA_per_V": 100, "monitor_gain_V_per_nA": 0.02, "ao_channel": "sim/ao1",
             "monitor_channel": "sim/ai2"},
            {"name": "bic", "drug": "bicuculline", "polarity": 1, "retain_nA": 10, "max_eject_nA": 200,
             "command_gain_nA_per_V": 100, "monitor_gain_V_per_nA": 0.02, "ao_channel": "sim/ao2",
             "monitor_channel": "sim/ai3"},
            {"name": "nacl", "drug": "NaCl", "role": "control", "max_eject_nA": 200,
             "command_gain_nA_per_V": 100, "monitor_gain_V_per_nA": 0.02, "ao_channel": "sim/ao3",
             "monitor_channel": "sim/ai4"},
            {"name": "bal", "drug": "NaCl", "role": "balance", "max_eject_nA": 600,
             "command_gain_nA_per_V": 100, "monitor_gain_V_per_nA": 0.01, "ao_channel": "sim/ao4",
             "monitor_channel": "sim/ai5"},
        ],
    },
    "simulation": {
        "seed": 3,
        "neurons": [{"baseline_hz": 6, "max_rate_hz": 45, "refractory_ms": 2, "amplitude_uV": 150,
                     "distance_um": 40}],
        "drugs": {
            "glutamate": {"effect": "excitatory", "ec50_uM": 130, "hill": 1.5, "transport_number": 0.2,
                          "diffusion_cm2_s": 7.6e-6, "uptake_per_s": 1.0},
            "GABA": {"effect": "inhibitory", "ec50_uM": 100, "hill": 1.4, "transport_number": 0.2,
                     "diffusion_cm2_s": 9.0e-6, "uptake_per_s": 1.0},
            "bicuculline": {"effect": "antagonist", "antagonizes": "GABA", "kb_uM": 20,
                            "transport_number": 0.1, "diffusion_cm2_s": 5.0e-6, "uptake_per_s": 0.1},
        },
    },
}


def deep_update(base: dict, changes: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def make_rig(sim: Mapping | None = None, **rig_changes: Any) -> RigConfig:
    """The test rig, with ``sim`` merged into its simulation section (dicts merge, lists replace)."""
    data = deep_update(BASE_RIG, rig_changes)
    if sim:
        data["simulation"] = deep_update(data["simulation"], sim)
    return parse_rig(data, "test rig")


Schedule = Callable[[AOSchedule, int], None]


def simulate(rig: RigConfig, seconds: float, schedule: Schedule | None = None, *, block: int = 500,
             seed: int | None = None, faults: tuple = (), device: SimDevice | None = None
             ) -> tuple[np.ndarray, dict[str, np.ndarray], SimDevice]:
    """Run the device for ``seconds``: ``schedule(sched, rate_hz)`` sets currents; returns the raw
    samples (n, n_ai), the ground truth and the device."""
    dev = device or SimDevice(rig, seed=seed, faults=faults)
    cfg = rig.acquisition_config()
    dev.configure(cfg)
    n = round(seconds * rig.rate_hz)
    sched = AOSchedule(rig.pipette)
    if schedule is not None:
        schedule(sched, round(rig.rate_hz))
    dev.write_ao(0, sched.render_volts(0, n + round(rig.rate_hz)))  # spare AO for lost samples
    dev.start()
    out = []
    i = 0
    while i < n:
        k = min(block, n - i)
        out.append(dev.read(k, 5.0).data)
        i += k
    return np.concatenate(out), dev.drain_truth(), dev


def channel(rig: RigConfig, name: str) -> int:
    return [c.name for c in rig.acquisition_config().ai].index(name)


def physical(rig: RigConfig, data: np.ndarray, name: str) -> np.ndarray:
    """One channel in its physical unit (µV for electrodes, nA for monitors)."""
    ch = rig.acquisition_config().ai[channel(rig, name)]
    volts = data[:, channel(rig, name)] * (ch.range_V / 32768.0)
    return volts / ch.gain * (1e6 if ch.units == "V" else 1.0)
