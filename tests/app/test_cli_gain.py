"""``ionto gain FILE...``: the trial analysis of recordings, JSON contract and clear errors."""

import json
import subprocess
import sys

import pytest
import yaml

from mock_daq import load_preset


def ionto(*args):
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def trial_recording(tmp_path_factory):
    """A short recording of the simulated stimulus driven by a drug_trials protocol."""
    d = tmp_path_factory.mktemp("gain")
    doc = load_preset("gain").model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"]["mode"] = "driven"
    (d / "rig.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (d / "p.yaml").write_text(
        "plan: drug_trials\nparams: {barrel: ach, currents_nA: [60], trials_per_condition: 6, discard_trials: 1, "
        "lead_s: 3, washout_s: 3, seed: 2, stimulus_values: [0, 45, 90, 135], stimulus_s: 0.5, iti_s: 0.25}\n",
        encoding="utf-8")
    p = ionto("run", str(d / "p.yaml"), "--device", "sim:gain", "--rig", str(d / "rig.yaml"), "--speed", "max",
              "--out", str(d / "t.h5"), "--json")
    assert p.returncode == 0, p.stderr
    return d / "t.h5"


def test_gain_json_has_the_fit_the_model_and_the_tuning_per_drug_condition(trial_recording, tmp_path):
    p = ionto("gain", str(trial_recording), str(trial_recording), "--cell-type", "narrow", "--cell-type", "broad",
              "--out", str(tmp_path), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    cell = doc["cells"][0]
    assert cell["trials"]["valid"] == 3 * 4 * 6
    assert cell["preferred_model"] == "multiplicative" and 0.4 < cell["fit"]["gain"] < 0.8
    assert set(cell["tuning"]) == {"off", "on"} and cell["tuning"]["off"]["kind"] == "orientation"
    assert {s["cell_type"] for s in doc["summary"]} == {"narrow", "broad", "all"}
    assert (tmp_path / "t-gain.png").stat().st_size > 10_000
    assert (tmp_path / "cells.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("args,expected", [
    (["--cell-type", "a", "--cell-type", "b"], "ionto gain: error: --cell-type: 2 given for 1 file(s); give one per file"),
    (["--settle-s", "nan"], "ionto gain: error: --settle-s: nan must be a finite number of seconds >= 0"),
])
def test_bad_options_are_one_line(trial_recording, args, expected):
    p = ionto("gain", str(trial_recording), *args)
    assert p.returncode == 1 and p.stderr.strip().splitlines() == [expected]


def test_a_recording_without_trials_is_one_line_naming_it(tmp_path):
    out = tmp_path / "plain.h5"
    (tmp_path / "w.yaml").write_text("steps:\n  - wait: 2\n", encoding="utf-8")
    assert ionto("run", str(tmp_path / "w.yaml"), "--device", "sim:cortex", "--speed", "max", "--out", str(out),
                 "--json").returncode == 0
    p = ionto("gain", str(out))
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f"ionto gain: error: {out}: no valid trials in the event log (0 trial events; trials come from "
        "trial_start/trial_stop events, see docs/trials.md)"]
