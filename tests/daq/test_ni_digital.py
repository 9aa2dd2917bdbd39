"""Trial events from NI digital input lines (rig ``trial_input``) over ``ni+grpc``: the simulated
board's task computer drives the trial, code and strobe lines of port 0 from its stimulus; the
NI backend's DI task on the AI sample clock and ``DigitalTrialDecoder`` must put every trial at
the sample the stimulus came on, whatever the block size; ``ionto run`` records them (and the
sync pulses) from the rig file."""

from __future__ import annotations

import json

import pytest
import yaml

from app.cli.main import main
from daq.engine import Engine, EngineState
from daq.errors import ConfigError
from daq.ni.rigs import rig_on_device
from daq.recording.reader import Recording
from daq.rig import parse_rig
from daq.types import EventKind
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer
from tests.daq.conftest import make_device
from tests.daq.test_ni_backend import Collect

TRIALS = {"trial_line": "sim/port0/line1", "code_lines": [f"sim/port0/line{i}" for i in (2, 3, 4, 5)],
          "strobe_line": "sim/port0/line6"}  # on Dev1 through rig_on_device, like the other channels


def trial_rig(block_s: float = 0.05, **trial_input):
    """The gain preset with a fast simulated task (a trial every 0.15 s) and its lines wired to port 0."""
    rig = load_preset("gain")
    sim = dict(rig.simulation)
    stim = dict(sim["stimulus"], first_trial_s=0.2, stimulus_s=0.1, iti_s=0.05)
    values = stim["values"]
    conditions = {i + 1: {"orientation_deg": float(v)} for i, v in enumerate(values)}
    data = rig.model_dump(mode="python", exclude_none=True)
    data.update(simulation=dict(sim, stimulus=stim), block_s=block_s,
                trial_input={**TRIALS, "conditions": conditions, **trial_input})
    return parse_rig(data, "test rig")


def _run(rig, n_samples: int):
    with SimNIServer(rig, port=0, speed=1.0, seed=11, preset="gain") as server:
        on_dev = rig_on_device(rig, "Dev1")
        dev = make_device(server, on_dev, trial_input=on_dev.trial_input)
        sink = Collect()
        eng = Engine(dev, on_dev.acquisition_config(), on_dev.pipette, ao_lead_s=1.0, sinks=[sink],
                     stop_after_samples=n_samples)
        eng.run()
        assert eng.state == EngineState.STOPPED, eng.error
        end = sink.blocks[-1].end_index
        truth = [(e.sample_index, e.kind, e.text) for e in server.hardware.trial_truth if e.sample_index < end]
    return sink, truth


@pytest.mark.parametrize("block_s", [0.05, 0.0137])
def test_every_digital_trial_is_logged_at_the_sample_its_stimulus_came_on(block_s):
    sink, truth = _run(trial_rig(block_s), 60_000)
    logged = [(e.sample_index, e.kind, e.text) for e in sink.events
              if e.kind in (EventKind.TRIAL_START, EventKind.TRIAL_STOP)]
    starts = [t for t in truth if t[1] == EventKind.TRIAL_START]
    assert len(starts) >= 15  # 3 s of trials every 0.15 s from 0.2 s
    assert len({t[2].split()[1] for t in starts}) > 1  # several condition codes came through
    assert logged == truth  # every start and stop, its sample, trial number, code and orientation


def test_without_a_strobe_the_code_is_read_at_the_trial_start():
    sink, truth = _run(trial_rig(strobe_line=None), 30_000)
    logged = [(e.sample_index, e.kind, e.text) for e in sink.events if e.kind == EventKind.TRIAL_START]
    assert logged == [t for t in truth if t[1] == EventKind.TRIAL_START] and logged


@pytest.mark.parametrize("bad, says", [
    ({"trial_line": "Dev1/ai0"}, "trial_line: 'Dev1/ai0' is not a port 0 line"),
    ({"code_lines": ["sim/port0/line1"]}, "used twice"),
    ({"conditions": {40: {"orientation_deg": 0}}}, "codes [40] do not fit 4 code line(s)"),
    ({"strobe_line": "Dev2/port0/line6"}, "on several devices"),
    ({"code_lines": ["sim/port0/line1:3"]}, "code_lines[0]: 'sim/port0/line1:3' is not a port 0 line"),
])
def test_bad_trial_input_lines_are_one_line_naming_the_field(bad, says):
    rig = load_preset("gain")
    data = rig.model_dump(mode="python", exclude_none=True)
    data["trial_input"] = {**TRIALS, **bad}
    with pytest.raises(ConfigError) as err:
        parse_rig(data, "rig.yaml")
    msg = str(err.value)
    assert says in msg and "rig.yaml" in msg and "\n" not in msg.strip()


def test_ionto_run_over_ni_grpc_records_the_trials_and_sync_pulses_of_the_rig_file(tmp_path, capsys):
    rig = trial_rig()
    data = rig.model_dump(mode="json", exclude_none=True)
    data["sync_out"] = {"line": "sim/port0/line7", "period_s": 0.1, "width_s": 0.01}
    data["ao_lead_s"] = 1.0  # margin against a loaded machine (a lost block would be a gap)
    rig = parse_rig(data, "test rig")
    proto = tmp_path / "wait.yaml"
    proto.write_text("name: wait\nsteps:\n  - wait: 3\n")
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text(yaml.safe_dump(rig_on_device(rig, "Dev1").model_dump(mode="json", exclude_none=True)))
    out = tmp_path / "run.h5"
    with SimNIServer(rig, port=0, speed=1.0, seed=11, preset="gain") as server:
        code = main(["run", str(proto), "--device", server.url(), "--rig", str(rig_file), "--out", str(out), "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert code == 0 and doc["error"] is None and doc["gaps"] == 0, doc
        truth = [(e.sample_index, e.kind, e.text) for e in server.hardware.trial_truth]
        rose = server.hardware.line_rises.get(7, [])
    with Recording(out) as rec:
        end = rec.n_samples
        events = list(rec.events)
    logged = [(e.sample_index, e.kind, e.text) for e in events if e.kind in (EventKind.TRIAL_START,
                                                                              EventKind.TRIAL_STOP)]
    assert len(logged) >= 30 and logged == [t for t in truth if t[0] < end]
    sync = [(e.sample_index, e.text) for e in events if e.kind == EventKind.SYNC]
    assert len(sync) >= 25 and sync == [(at, f"pulse={k}") for k, at in enumerate(rose) if at < end]
