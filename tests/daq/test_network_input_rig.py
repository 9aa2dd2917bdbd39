"""The network trial input configured in the rig file (``trial_input: {network: lsl:STREAM}``):
one line for a bad value or for digital lines beside it, ``--trials-from`` overriding it, what
``ionto rig check`` and ``ionto protocol check`` say a run will listen to, and a whole
``ionto run`` taking its trials from the rig file's stream (at real time without --speed)."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli.main import main
from daq.errors import ConfigError
from daq.rig import parse_rig, trial_source
from mock_daq import load_preset
from mock_daq.model import parse_sim
from tests.daq.test_network_input import (
    _stream_name,
    assert_every_trial_within_1_ms,
    task_sending_when_the_run_starts,
)


def _rig_data(trial_input):
    data = load_preset("gain").model_dump(mode="json", exclude_none=True)
    if trial_input is not None:
        data["trial_input"] = trial_input
    return data


def _rig_file(tmp_path, trial_input) -> str:
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(_rig_data(trial_input)))
    return str(path)


def test_a_rig_files_network_trial_input_is_read_and_reported():
    rig = parse_rig(_rig_data({"network": "lsl:task-A"}), "rig.yaml")
    assert rig.trial_input.network == "lsl:task-A" and not rig.trial_input.digital and rig.trial_input.lines == ()
    assert trial_source(rig.trial_input).startswith("LSL marker stream 'task-A' (rig trial_input.network)")
    assert "overrides the rig file's trial_input" in trial_source(rig.trial_input, "lsl:other")
    assert trial_source(None).startswith("none in the rig file")


@settings(max_examples=60, deadline=None)
@given(value=st.text(max_size=30).filter(lambda v: not (v.strip().startswith("lsl:") and v.strip()[4:].strip())))
def test_any_network_value_but_lsl_stream_is_one_line_naming_the_field_and_the_form(value):
    with pytest.raises(ConfigError) as err:
        parse_rig(_rig_data({"network": value}), "rig.yaml")
    msg = str(err.value)
    assert msg.startswith("rig.yaml: trial_input.network: expected lsl:STREAMNAME") and "\n" not in msg, msg


def test_digital_lines_beside_a_network_input_are_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        parse_rig(_rig_data({"network": "lsl:task", "trial_line": "Dev1/port0/line1"}), "rig.yaml")
    msg = str(err.value)
    assert "rig.yaml: trial_input:" in msg and "both given" in msg and "trial_line" in msg and "\n" not in msg


def test_a_trial_input_with_neither_lines_nor_network_says_what_to_give():
    with pytest.raises(ConfigError, match=r"rig.yaml: trial_input: give trial_line \(digital lines\) or network"):
        parse_rig(_rig_data({}), "rig.yaml")


def test_protocol_check_says_which_stream_a_run_will_listen_to(tmp_path, capsys):
    rig = _rig_file(tmp_path, {"network": "lsl:task-B"})
    assert main(["protocol", "check", "protocols/examples/drug_trials.yaml", "--device", "sim:gain", "--rig", rig,
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trial_input"].startswith("LSL marker stream 'task-B'"), doc["trial_input"]
    main(["protocol", "check", "protocols/examples/drug_trials.yaml", "--device", "sim:gain", "--rig", rig])
    assert "trial events from: LSL marker stream 'task-B'" in capsys.readouterr().out


def test_rig_check_says_which_stream_a_run_will_listen_to(tmp_path, capsys):
    rig = _rig_file(tmp_path, {"network": "lsl:task-C"})
    main(["rig", "check", "--yes", "--json", "--device", "sim:gain", "--rig", rig])
    cap = capsys.readouterr()
    assert json.loads(cap.out)["trial_input"].startswith("LSL marker stream 'task-C'")
    assert "rig check: a run will take trial events from: LSL marker stream 'task-C'" in cap.err


def test_ionto_run_with_the_rig_files_stream_missing_names_the_rig_field_in_one_line(tmp_path, capsys):
    rig = _rig_file(tmp_path, {"network": "lsl:no-such-task-ionto-rig"})
    out = tmp_path / "r.h5"
    code = main(["run", "protocols/examples/drug_trials.yaml", "--device", "sim:gain", "--rig", rig,
                 "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not out.exists()
    assert len(err) == 1 and "trial_input.network" in err[0] and "no Lab Streaming Layer stream" in err[0], err


def test_a_rig_files_network_input_at_max_speed_is_refused_in_one_line_naming_the_field(tmp_path, capsys):
    rig = _rig_file(tmp_path, {"network": "lsl:task-D"})
    code = main(["run", "protocols/examples/drug_trials.yaml", "--device", "sim:gain", "--rig", rig,
                 "--speed", "max", "--out", str(tmp_path / "r.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "trial_input.network" in err[0] and "--speed realtime" in err[0], err


@pytest.mark.parametrize("rig_stream, option", [("real", False), ("no-such-task-ionto-rig", True)],
                         ids=["from the rig file", "the option overrides the rig file"])
def test_ionto_run_takes_its_trials_from_the_rig_files_stream_or_the_option_over_it(tmp_path, capsys, monkeypatch,
                                                                                  rig_stream, option):
    """No --speed: a network trial input makes the simulated run real time by default."""
    rig = load_preset("gain")
    model = parse_sim(rig.simulation, rig=rig).stimulus
    name, seed, seconds = _stream_name(), 3, 6.0
    rig_path = _rig_file(tmp_path, {"network": f"lsl:{name if rig_stream == 'real' else rig_stream}"})
    proto = tmp_path / "p.yaml"
    proto.write_text(f"name: network trials\nrig: sim:gain\nsteps:\n  - wait: {seconds}\n")
    out = tmp_path / "r.h5"
    with task_sending_when_the_run_starts(monkeypatch, name, model, rig.rate_hz, seed, seconds):
        code = main(["run", str(proto), "--rig", rig_path, "--seed", str(seed), "--out", str(out), "--json",
                     *(["--trials-from", f"lsl:{name}"] if option else [])])
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert code == 0, (doc, cap.err)
    assert doc["trial_input"]["source"] == f"lsl:{name}" and doc["trial_input"]["count_brackets"] > 0
    assert ("overrides the rig file's trial_input" in cap.err) == option
    assert_every_trial_within_1_ms(out, model, rig.rate_hz, seed, doc, at_least=4)
    if not option:  # a replay of it plays the recorded trials and does not listen to the stored rig's stream
        again = tmp_path / "again.h5"
        code = main(["run", str(proto), "--device", f"replay:{out}", "--speed", "max", "--out", str(again), "--json"])
        cap = capsys.readouterr()
        assert code == 0 and json.loads(cap.out)["trial_input"] is None, cap.err
