"""``ionto demo gain``: the drug × stimulus demo recovers the simulator's gain and prefers the
model that made the data (issue 17's done-when)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # two simulated protocols of ~6.5 min each at --speed max


def ionto(*args):
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True)


def demo_gain(out, *args):
    p = ionto("demo", "gain", "--out", str(out), "--json", *args)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)  # stdout holds exactly one JSON document


def test_a_multiplicative_gain_of_0_6_is_recovered_within_10_percent_and_preferred(tmp_path):
    doc = demo_gain(tmp_path, "--gain", "0.6", "--offset", "0")
    assert doc["ground_truth"]["gain"] == 0.6 and doc["ground_truth"]["offset"] == 0.0
    assert doc["preferred_model"] == "multiplicative"
    assert doc["fit"]["gain"] == pytest.approx(0.6, rel=0.10)
    assert doc["fit"]["offset"] == 0.0
    assert doc["fit"]["gain_ci95"][0] < doc["fit"]["gain"] < doc["fit"]["gain_ci95"][1]
    assert doc["ground_truth"]["drug_fraction_in_drug_trials"] > 0.99
    assert doc["trials"]["valid"] >= 3 * 8 * 10  # three blocks of 10 valid trials x 8 orientations
    tuning = doc["tuning"]
    assert tuning["off"]["params"]["preferred_deg"] == pytest.approx(90, abs=5)
    assert tuning["on"]["params"]["preferred_deg"] == pytest.approx(90, abs=5)
    assert (tmp_path / "gain.png").stat().st_size > 10_000
    assert (tmp_path / "gain.h5").exists()


def test_an_additive_effect_is_recognised_as_additive(tmp_path):
    doc = demo_gain(tmp_path, "--gain", "1", "--offset", "8")
    assert doc["preferred_model"] == "additive"
    assert doc["fit"]["gain"] == 1.0
    assert doc["fit"]["offset_ci95"][0] < 8.0 * doc["ground_truth"]["drug_fraction_in_drug_trials"] \
        < doc["fit"]["offset_ci95"][1]


def test_a_non_finite_gain_is_one_clear_line(tmp_path):
    p = ionto("demo", "gain", "--out", str(tmp_path), "--gain", "nan")
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == ["ionto demo: error: --gain: nan is not a finite number"]


def test_a_gain_out_of_range_is_one_line_naming_the_field_before_anything_runs(tmp_path):
    p = ionto("demo", "gain", "--out", str(tmp_path), "--gain", "20")
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f"ionto demo: error: {tmp_path / 'gain-rig.yaml'}: simulation: stimulus.modulation.gain: "
        "Input should be less than or equal to 10 (got 20.0)"]
    assert not (tmp_path / "gain.h5").exists()


def test_with_the_task_running_itself_the_closed_loop_gets_its_trials_and_the_gain_is_recovered(tmp_path):
    doc = demo_gain(tmp_path, "--task")
    assert doc["protocol"] == "ACh gain, orientation"
    assert doc["preferred_model"] == "multiplicative"
    assert doc["fit"]["gain"] == pytest.approx(doc["ground_truth"]["gain"], rel=0.10)
    assert doc["trials"]["valid"] >= 3 * 8 * 10  # each block ran until 10 valid trials per orientation
