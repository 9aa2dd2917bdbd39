"""Rig files and presets: validation with clear errors, the bundled presets, the docs' example."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from simhelp import BASE_RIG, deep_update, simulate

from daq.errors import ConfigError
from daq.rig import parse_rig
from mock_daq import SimDevice, list_presets, load_preset
from mock_daq.model import parse_sim

DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


def test_presets_include_cortex_and_dopamine_and_each_runs():
    names = list_presets()
    assert {"cortex", "dopamine"} <= set(names)
    for name in names:
        rig = load_preset(name)
        dev = SimDevice(rig, seed=1)
        dev.configure(rig.acquisition_config())
        meta = dev.truth_metadata()
        ec50s = [(drug["name"], ec50) for drug in meta["drugs"]
                 for ec50 in drug.get("ec50_nA_steady", drug.get("modulation_ec50_nA_steady", []))]
        assert ec50s, name  # every preset has an agonist (or a stimulus gain drug) with a half-effect current
        for drug_name, ec50 in ec50s:
            assert 3 < ec50 < 40, (name, drug_name, ec50)  # half-effect currents of a few to tens of nA


def test_dopamine_preset_is_a_slow_regular_pacemaker_with_a_marker_line():
    rig = load_preset("dopamine")
    assert rig.marker is not None
    _, truth, _ = simulate(rig, 60.0, block=20_000)
    isi = np.diff(truth["spike_index/neuron0"]) / rig.rate_hz
    assert 1.5 < 1 / isi.mean() < 6
    assert isi.std() / isi.mean() < 0.4


def test_unknown_preset_names_the_presets():
    with pytest.raises(ConfigError, match=r"no simulated rig preset 'hippocampus'; presets are \["):
        load_preset("hippocampus")


@pytest.mark.parametrize("sim,pattern", [
    ({"drugs": {"glutamate": {"ec50_uM": -1}}}, r"simulation: drugs\.glutamate\.ec50_uM: Input should be greater than 0 \(got -1\)"),
    ({"neurons": [{"baseline_hz": 10, "bogus": 1}]}, r"simulation: neurons\.0\.bogus: Extra inputs are not permitted"),
    ({"neurons": [{"baseline_hz": 50, "max_rate_hz": 20}]}, r"max_rate_hz 20.0 is below baseline_hz 50.0"),
    ({"neurons": [{"electrode": 3}]}, r"neurons\.0\.electrode: 3 but the rig has 1 electrode"),
    ({"drugs": {"bicuculline": {"antagonizes": "glycine"}}}, r"antagonizes: no drug 'glycine' in drugs"),
    ({"barrels": {"glx": {"resistance_MOhm": 50}}}, r"barrels\.glx: no barrel 'glx' on the pipette"),
    ({"faults": [{"kind": "clog", "at_s": 3}]}, r"faults\.0\.clog\.barrel: Field required"),
    ({"faults": [{"kind": "neuron_lost", "at_s": 3, "neuron": 4}]}, r"faults\.0\.neuron: 4 but the simulation has 1 neuron"),
    ({"noise": {"flicker_low_hz": 200}}, r"flicker_high_hz must be above flicker_low_hz"),
    ({"time_step_ms": 0.1}, r"time_step_ms: Input should be greater than or equal to 1"),
])
def test_bad_simulation_sections_are_clear_errors(sim, pattern):
    data = deep_update(BASE_RIG, {})
    data["simulation"] = deep_update(data["simulation"], sim)
    rig = parse_rig(data, "my-rig.yaml")
    with pytest.raises(ConfigError, match=pattern) as err:
        SimDevice(rig)
    assert "test-rig" in str(err.value)  # names the rig


def test_simulation_section_must_be_a_mapping():
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_sim([1, 2], "x.yaml: simulation")


def test_a_rig_without_a_simulation_section_gets_the_defaults():
    data = deep_update(BASE_RIG, {})
    del data["simulation"]
    rig = parse_rig(data, "bare")
    _, truth, dev = simulate(rig, 1.0)
    assert dev.sim.neurons[0].baseline_hz == 5.0
    assert "concentration_uM" not in truth  # no drug models: nothing to diffuse
    assert truth["expected_rate_hz"].shape == (100, 1)


def example_rig_text() -> str:
    text = DOCS.read_text(encoding="utf-8")
    m = re.search(r"<!-- example rig -->\s*```yaml\n(.*?)```", text, re.S)
    assert m, "docs/simulator.md has no example rig block"
    return m.group(1)


def test_the_docs_example_rig_file_loads_and_runs(tmp_path):
    from daq.rig import load_rig

    p = tmp_path / "my-rig.yaml"
    p.write_text(example_rig_text(), encoding="utf-8")
    rig = load_rig(p)
    dev = SimDevice(rig)
    _, truth, _ = simulate(rig, 2.0, device=dev)
    assert truth["expected_rate_hz"].shape[1] == len(rig.simulation["neurons"])
    assert len(dev.timeline.faults) == len(yaml.safe_load(example_rig_text())["simulation"]["faults"])
