"""The command line: demo, run, info, analyze — JSON contracts and clear errors."""

import json
import subprocess
import sys

import pytest

from app.cli.main import main


def ionto(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    p = ionto("demo", "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)  # stdout holds exactly one JSON document


def test_demo_json_reports_fit_and_ground_truth_within_25_percent(demo):
    out, doc = demo
    for k in ("ec50", "ec50_ci", "hill", "top", "bottom", "dose_unit"):
        assert k in doc["fit"]
    assert doc["fit"]["dose_unit"] == "nA"
    assert len(doc["epochs"]) == 5
    assert [abs(e["current_nA"]) for e in doc["epochs"]] == [5, 10, 20, 40, 80]
    gt = doc["ground_truth"]["ec50"]
    assert abs(doc["fit"]["ec50"] - gt) / gt <= 0.25
    lo, hi = doc["fit"]["ec50_ci"]
    assert lo < doc["fit"]["ec50"] < hi
    assert (out / "demo.png").stat().st_size > 10000
    assert (out / "demo.h5").exists()


def test_info_json_on_the_demo_recording(demo):
    out, _ = demo
    p = ionto("info", str(out / "demo.h5"), "--json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["closed_cleanly"] is True
    assert s["duration_s"] == pytest.approx(330, abs=0.5)
    assert s["events"]["by_kind"]["eject"] == 5
    assert s["protocol"]["name"] == "glutamate dose-response"
    assert [b["name"] for b in s["pipette"]] == ["glu", "gaba", "bic", "nacl", "bal"]


def test_analyze_json(demo, tmp_path):
    out, doc = demo
    p = ionto("analyze", str(out / "demo.h5"), "--out", str(tmp_path), "--json")
    assert p.returncode == 0, p.stderr
    a = json.loads(p.stdout)
    assert set(a) >= {"epochs", "fits", "spikes", "rates"}
    f = a["fits"]["glu:glutamate"]
    assert f["ec50"] == pytest.approx(doc["fit"]["ec50"])
    for name in ("report.html", "dose_response.png", "dose_response.svg", "epochs.csv", "fits.csv"):
        assert (tmp_path / name).exists(), name


def test_run_a_yaml_protocol(tmp_path):
    proto = tmp_path / "p.yaml"
    proto.write_text("name: short\nsteps:\n  - wait: 1\n  - eject: {barrel: gaba, current_nA: 20}\n  - wait: 2\n")
    out = tmp_path / "r.h5"
    p = ionto("run", str(proto), "--out", str(out), "--seed", "4", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["error"] is None and doc["duration_s"] == pytest.approx(3.0, abs=0.1)


def test_run_a_python_plan(tmp_path):
    plan = tmp_path / "myplan.py"
    plan.write_text("from protocols import Eject, Wait, Retain\n"
                    "def plan():\n    yield Wait(0.5)\n    yield Eject('glu', 10)\n    yield Wait(0.5)\n"
                    "    yield Retain('glu')\n")
    p = ionto("run", str(plan), "--out", str(tmp_path / "r.h5"), "--json")
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("args,expect", [
    (["info", "/nonexistent.h5"], "no such file"),
    (["run", "/nonexistent.yaml"], "no such protocol file"),
    (["run", "x.yaml", "--device", "bogus://"], "not understood"),
])
def test_errors_are_one_clear_line_without_traceback(args, expect, tmp_path):
    (tmp_path / "x.yaml").write_text("steps: [{wait: 1}]\n")
    p = ionto(*args, cwd=tmp_path)
    assert p.returncode == 1
    assert expect in p.stderr
    assert "Traceback" not in p.stderr


def test_limit_violation_refused_before_any_current_flows(tmp_path):
    proto = tmp_path / "p.yaml"
    proto.write_text("steps:\n  - eject: {barrel: gaba, current_nA: 900}\n  - wait: 1\n")
    p = ionto("run", str(proto), "--out", str(tmp_path / "r.h5"), "--json")
    assert p.returncode == 1
    assert "gaba" in json.loads(p.stdout)["error"]
    assert not (tmp_path / "r.h5").exists()


def test_help_for_every_verb(capsys):
    for verb in ("demo", "run", "info", "analyze", "gui"):
        with pytest.raises(SystemExit) as e:
            main([verb, "--help"])
        assert e.value.code == 0
        assert verb in capsys.readouterr().out
