"""The monitor watchdog: a current source whose gain is not the rig file's is caught by its
current monitor and the run stops with every output at 0 V (issue: a 100 nA/V source behind
a 20 nA/V rig file delivered 5x every current for a whole run, exit 0)."""

from __future__ import annotations

import numpy as np

from daq.engine import Engine, EngineState
from daq.recording import Recorder, Recording
from mock_daq import SimDevice, load_preset


def _rig_with_source_gain(gain_nA_per_V: float):
    rig = load_preset("cortex")
    sim = dict(rig.simulation)
    barrels = {k: dict(v) for k, v in sim["barrels"].items()}
    barrels["glu"]["source_gain_nA_per_V"] = gain_nA_per_V
    sim["barrels"] = barrels
    return rig.model_copy(update={"simulation": sim})


def _run(rig, tmp_path, seconds: float):
    dev = SimDevice(rig, seed=2)
    rec = Recorder(tmp_path / "m.h5", pipette=rig.pipette, rig=rig.model_dump(mode="json"))
    eng = Engine(dev, rig.acquisition_config(), rig.pipette, recorder=rec,
                 stop_after_samples=round(seconds * rig.rate_hz))
    eng.run()
    return eng, dev


def test_a_source_at_5x_the_rig_files_gain_stops_the_run_at_0_V_naming_the_barrel_and_gain(tmp_path):
    rig = _rig_with_source_gain(500.0)  # the rig file says 100 nA/V
    eng, dev = _run(rig, tmp_path, 20.0)
    assert eng.state == EngineState.ERROR
    assert "'glu'" in eng.error and "500 nA/V" in eng.error and "100 nA/V" in eng.error, eng.error
    assert "0 V" in eng.error
    assert np.allclose(dev.static_volts, 0.0), dev.static_volts  # every output at 0 V, not retain
    with Recording(tmp_path / "m.h5") as rec:
        assert rec.closed_cleanly
        _, rows, _ = rec.commanded_currents()
        assert np.allclose(rows[-1], 0.0), rows[-1]
        assert any(e.kind == "error" and "glu" in e.text for e in rec.events)
        stopped_s = rec.duration_s
    assert stopped_s < 5.0, f"the retain at 5x (75 nA vs 15 nA) ran for {stopped_s:.1f} s before the stop"


def test_a_source_matching_the_rig_file_runs_to_its_end(tmp_path):
    rig = _rig_with_source_gain(100.0)
    eng, dev = _run(rig, tmp_path, 3.0)
    assert eng.state == EngineState.STOPPED, eng.error
    assert np.allclose(dev.static_volts, rig.pipette.safe_volts())


def test_the_simulation_section_refuses_text_and_booleans_for_numbers():
    import pytest

    from daq.errors import ConfigError
    from mock_daq.model import parse_sim

    for field, value in (("ec50_uM", "130"), ("hill", True)):
        with pytest.raises(ConfigError, match=f"drugs.glutamate.{field}"):
            parse_sim({"drugs": {"glutamate": {"effect": "excitatory", field: value}}}, "rig.yaml: simulation")
