"""``ionto protocol check|schema|list`` and ``ionto run`` for YAML and Python plans: exit
codes, JSON documents, what the recording stores, operator prompts headless."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.cli.main import main
from daq.recording import open_recording
from daq.types import EventKind

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "protocols" / "examples"
TEST_RIG = HERE / "closed_loop_rig.yaml"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def ionto(capsys, monkeypatch):
    """``ionto(*args, stdin=...)`` runs the CLI in this process (a subprocess would spend
    seconds importing); ``test_errors_come_as_one_line_from_a_real_process`` covers that."""

    def run(*args: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def test_errors_come_as_one_line_from_a_real_process(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("steps:\n  - wait: -1\n")
    p = subprocess.run([sys.executable, "-m", "app.cli.main", "protocol", "check", str(f)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 1 and p.stderr == f"ionto protocol: error: {f}: steps.0.wait: Input should be greater " \
                                              "than 0 (got -1)\n"


def test_check_an_example_prints_timeline_duration_and_charge(ionto):
    p = ionto("protocol", "check", str(EXAMPLES / "dose_response.yaml"))
    assert p.returncode == 0, p.stderr
    assert "duration 5:30.000 (6600001 samples at 20000 Hz), 5 ejection(s)" in p.stdout
    assert "  0:30.000  eject    glu -5 nA" in p.stdout
    assert "OK: runnable on this rig" in p.stdout
    doc = json.loads(ionto("protocol", "check", str(EXAMPLES / "dose_response.yaml"), "--json").stdout)
    assert doc["ok"] is True and doc["problems"] == [] and doc["device"] == "sim:cortex"
    assert doc["duration_s"] == pytest.approx(330, abs=1e-3) and doc["eject_charge_nC"]["glu"] == pytest.approx(3100)
    assert [e["current_nA"] for e in doc["ejections"]] == [-5, -10, -20, -40, -80]
    assert doc["timeline"][0]["kind"] == "retain"


def test_check_fails_with_messages_naming_the_step_and_field(ionto, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("steps:\n  - wait: 1\n  - eject: {barrel: gaba, current_nA: 900}\n")
    p = ionto("protocol", "check", str(f), "--json")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert doc["ok"] is False
    assert doc["problems"] == [f"{f}: steps.1.eject.current_nA: 900 nA exceeds the ejection limit of barrel 'gaba' "
                               "(GABA): 150 nA"]
    p = ionto("protocol", "check", str(f))
    assert p.returncode == 1 and "NOT RUNNABLE: 1 problem(s):" in p.stdout


def test_check_against_another_rig_or_device(ionto):
    p = ionto("protocol", "check", str(EXAMPLES / "steps.yaml"), "--rig", str(TEST_RIG), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["rig"] == "closed-loop-test-rig" and doc["samples"] == 150 * 10000 + 1
    p = ionto("protocol", "check", str(EXAMPLES / "antagonist_series.yaml"), "--rig", str(TEST_RIG), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 1 and "params.antagonist_barrel: no barrel 'bic' on this rig" in doc["problems"][0]
    # no rig file and no NI driver on this machine: one clear line, no traceback
    p = ionto("protocol", "check", str(EXAMPLES / "steps.yaml"), "--device", "ni:Dev1")
    assert p.returncode == 1 and "NI-DAQmx driver is not installed" in p.stderr and "Traceback" not in p.stderr


def test_schema_and_list(ionto):
    p = ionto("protocol", "schema")
    assert p.returncode == 0
    schema = json.loads(p.stdout)
    assert schema["$schema"].endswith("2020-12/schema") and schema["title"] == "ionto protocol"
    listing = json.loads(ionto("protocol", "list", "--json").stdout)
    names = [x["name"] for x in listing["plans"]]
    assert {"dose_response", "titrate", "wait_for_stable_baseline", "antagonist_series"} <= set(names)
    dr = next(x for x in listing["plans"] if x["name"] == "dose_response")
    assert {"name": "currents_nA", "required": True, "default": None,
            "description": "ejection currents (magnitudes, nA)"} in dr["params"]


def test_run_a_python_plan_with_parameters_and_store_it(ionto, tmp_path):
    plan = tmp_path / "my_plan.py"
    plan.write_text(
        "from typing import Annotated\nfrom pydantic import Field\nfrom protocols import Eject, Retain, Wait\n"
        "NAME = 'two pulses'\n"
        "def plan(barrel: str = 'glu', current_nA: Annotated[float, Field(gt=0)] = 10, pulses: int = 1):\n"
        "    for _ in range(pulses):\n"
        "        yield Wait(0.5)\n        yield Eject(barrel, current_nA)\n        yield Wait(0.5)\n"
        "        yield Retain(barrel)\n")
    out = tmp_path / "r.h5"
    p = ionto("run", str(plan), "-p", "pulses=2", "-p", "current_nA=25", "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc) >= {"recording", "duration_s", "samples", "gaps", "lost_samples", "events", "error"}
    assert doc["error"] is None and doc["protocol"]["ended"] == "completed"
    assert doc["duration_s"] == pytest.approx(2.0, abs=1e-3)
    with open_recording(out) as rec:
        info = rec.protocol
        assert (info.name, info.format) == ("two pulses", "python")
        assert info.params == {"barrel": "glu", "current_nA": 25.0, "pulses": 2}
        assert info.source == plan.read_text() == info.text
        ej = [(e.sample_index, e.current_nA) for e in rec.events if e.kind == EventKind.EJECT]
        assert ej == [(10000, -25.0), (30000, -25.0)]
    p = ionto("run", str(plan), "-p", "current_nA=-3", "--out", str(tmp_path / "x.h5"))
    assert p.returncode == 1 and "-p: current_nA: Input should be greater than 0 (got -3)" in p.stderr
    p = ionto("run", str(plan), "-p", "nonsense", "--out", str(tmp_path / "x.h5"))
    assert p.returncode == 1 and "give a parameter as NAME=VALUE" in p.stderr


def test_run_stores_the_resolved_yaml_protocol_and_the_plan_source(ionto, tmp_path):
    f = tmp_path / "dr.yaml"
    f.write_text("name: short series\nplan: dose_response\n"
                 "params: {barrel: gaba, currents_nA: [5, 10], order: randomised, eject_s: 0.5, recovery_s: 0.5,"
                 " baseline_s: 0.5}\n")
    out = tmp_path / "r.h5"
    p = ionto("run", str(f), "--out", str(out), "--json", "--seed", "2")
    assert p.returncode == 0, p.stderr
    with open_recording(out) as rec:
        info = rec.protocol
        assert info.text == f.read_text() and info.format == "yaml" and info.name == "short series"
        seed = info.params["params"]["seed"]  # drawn at load time, stored
        assert isinstance(seed, int) and info.params["params"]["eject_s"] == 0.5
        assert "def dose_response(" in info.source and "def current_sequence(" in info.source
        from protocols.library import current_sequence

        order = current_sequence([5, 10], "randomised", 1, seed)[0]
        assert [e.current_nA for e in rec.events if e.kind == EventKind.EJECT] == order


def test_a_blocking_prompt_is_answered_on_the_terminal(ionto, tmp_path):
    f = tmp_path / "prompt.yaml"
    f.write_text("steps:\n  - prompt: apply the drug now\n  - eject: {barrel: gaba, current_nA: 5, duration_s: 0.5}\n")
    out = tmp_path / "r.h5"
    p = ionto("run", str(f), "--out", str(out), "--prompts", "terminal", "--json", stdin="done, go\n")
    assert p.returncode == 0, p.stderr
    assert "[ionto] apply the drug now" in p.stderr
    with open_recording(out) as rec:
        notes = [e.text for e in rec.events if e.kind == EventKind.NOTE]
        assert "prompt: apply the drug now" in notes and "prompt acknowledged: done, go" in notes
    # headless (stdin is not a terminal): acknowledged at once, and the log says so
    p = ionto("run", str(f), "--out", str(out), "--overwrite", "--json")
    assert p.returncode == 0
    with open_recording(out) as rec:
        assert "prompt auto-acknowledged (no operator)" in [e.text for e in rec.events]


def test_run_a_titration_end_to_end_through_the_online_detector(ionto, tmp_path):
    out = tmp_path / "t.h5"
    f = tmp_path / "t.yaml"
    f.write_text("plan: titrate\nparams: {barrel: gaba, target_change_pct: -50, tolerance_pct: 15, start_nA: 5,"
                 " max_nA: 80, settle_s: 6, measure_s: 4, baseline_s: 6, max_steps: 4, recovery_s: 1}\n")
    p = ionto("run", str(f), "--rig", str(TEST_RIG), "--out", str(out), "--seed", "2", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["error"] is None and doc["protocol"]["planned_duration_is_upper_bound"] is True
    assert doc["duration_s"] <= doc["protocol"]["planned_duration_s"]
    with open_recording(out) as rec:
        measured = [e.text for e in rec.events if e.kind == EventKind.NOTE and e.text.startswith("measured rate")]
        assert measured and "no online rate" not in measured[0]
        marks = [e.text for e in rec.events if e.kind == EventKind.MARK]
        assert any(m.startswith("titrate gaba: target reached") or "not reached" in m for m in marks), marks
