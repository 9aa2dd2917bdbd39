"""The faults a user meets through the command line: the real ``ionto run PROTOCOL --json``
in a process of its own, faults from a rig file's ``simulation.faults`` (or a plan's bug, a
current above a barrel's limit, a file-size limit), at ``--speed max``.

Each run must print exactly one JSON document on stdout, no traceback on stderr, exit with
a status that says what happened (0: the protocol ran; 1: it did not, or not to its end —
``error`` says why), and leave a file that opens and whose log ends with every barrel at
retain or zero — or, where the device could not be reached to put them there, an error
saying so.  What the device itself holds is checked by the other fault tests
(``harness.check_ends_safe``); this is what the operator sees."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from daq.recording import Recording
from daq.types import EventKind
from mock_daq import load_preset

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20

SHORT = """name: cli fault
steps:
  - wait: 0.5
  - eject: {barrel: glu, current_nA: 40}
  - wait: 1.5
  - retain: glu
  - wait: 0.5
"""
LONG = """name: long
steps:
  - wait: 2
  - eject: {barrel: glu, current_nA: 40}
  - wait: 10
  - retain: glu
  - wait: 90
"""
# a bug the dry run does not meet (it depends on the run: here, on being the second one)
BUGGY_PLAN = '''from protocols.commands import Eject, Retain, Wait

RUNS = []


def plan(current_nA: float = 40):
    RUNS.append(1)
    yield Wait(0.5)
    yield Eject("glu", current_nA)
    yield Wait(0.5)
    if len(RUNS) > 1:
        raise RuntimeError("my plan has a bug")
    yield Wait(0.5)
    yield Retain("glu")
'''
FSIZE_LIMIT = 12 * MiB  # more than one of the recorder's write batches (8 MiB)


def _rig(path: Path, faults: list[dict]) -> Path:
    doc = load_preset("cortex").model_dump(mode="json")
    doc["simulation"]["faults"] = faults
    path.write_text(yaml.safe_dump(doc))
    return path


def _file_size_limit() -> None:  # in the child, before it runs ionto (as `ulimit -f` would)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Every case's ``ionto run``, started at once (they are independent) and awaited."""
    d = tmp_path_factory.mktemp("cli-faults")
    (d / "short.yaml").write_text(SHORT)
    (d / "long.yaml").write_text(LONG)
    (d / "buggy.py").write_text(BUGGY_PLAN)
    cases = {
        "disconnect": (["short.yaml", "--rig", _rig(d / "disc.yaml", [{"kind": "disconnect", "at_s": 1.0}])], None),
        "overflow": (["short.yaml", "--rig", _rig(d / "ovf.yaml", [{"kind": "overflow", "at_s": 1.0,
                                                                    "lost_s": 0.1}])], None),
        "clog": (["short.yaml", "--rig", _rig(d / "clog.yaml", [{"kind": "clog", "at_s": 0.0, "barrel": "glu",
                                                                 "resistance_MOhm": 4000}])], None),
        "plan bug": (["buggy.py"], None),
        "over the limit": (["buggy.py", "-p", "current_nA=900"], None),
        "file-size limit": (["long.yaml"], _file_size_limit),
    }
    procs = {}
    for name, (argv, preexec) in cases.items():
        out = d / f"{name.replace(' ', '-')}.h5"
        procs[name] = (out, subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "run", *map(str, argv), "--speed", "max", "--seed", "3", "--json",
             "--out", str(out)], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=preexec, env={**os.environ, "PYTHONPATH": str(ROOT)}))
    results = {}
    for name, (out, p) in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        results[name] = {"code": p.returncode, "stdout": stdout, "stderr": stderr, "path": out}
    return results


def _check_output(r: dict) -> dict:
    """One JSON document on stdout, no traceback on stderr; the document."""
    assert "Traceback" not in r["stderr"] and "internal error" not in r["stderr"], r["stderr"][-3000:]
    assert r["stdout"].strip(), f"no JSON on stdout (exit {r['code']}); stderr: {r['stderr'][-3000:]}"
    doc = json.loads(r["stdout"])  # the whole of stdout is one document
    assert isinstance(doc, dict)
    return doc


def _check_file_ends_safe(path: Path) -> Recording:
    """The file opens, closed cleanly, and its log leaves every barrel at retain or zero — or
    says, after its last current change, that the safe levels could not be written."""
    rec = Recording(path)
    assert rec.status == "closed"
    idx, currents, names = rec.commanded_currents()
    safe = rec.pipette.safe_currents_nA()
    last = currents[-1]
    if not np.all(np.isclose(last, safe) | np.isclose(last, 0.0)):
        said = [e for e in rec.events if e.kind == EventKind.ERROR and e.sample_index >= idx[-1]
                and "could not write the safe levels" in e.text and "by hand" in e.text]
        assert said, f"{path.name}: the log ends with {dict(zip(names, last))} and does not say why"
    return rec


def test_disconnect(runs):
    r = runs["disconnect"]
    doc = _check_output(r)
    assert r["code"] == 1
    assert "disconnected" in doc["error"] and "check them at the current source by hand" in doc["error"]
    with _check_file_ends_safe(r["path"]) as rec:
        assert rec.n_samples == doc["samples"] == 20_000  # everything read before the cable went


def test_overflow(runs):
    r = runs["overflow"]
    doc = _check_output(r)
    assert r["code"] == 0 and doc["error"] is None
    assert doc["gaps"] == 1 and doc["lost_samples"] == 2000
    with _check_file_ends_safe(r["path"]) as rec:
        assert rec.gaps == [(20_000, 2000)]


def test_clogged_barrel_is_a_warning(runs):
    r = runs["clog"]
    doc = _check_output(r)
    assert r["code"] == 0 and doc["error"] is None  # the protocol ran; what it delivered is another matter
    assert len(doc["warnings"]) == 1
    assert "'glu'" in doc["warnings"][0] and "-25.0 nA differs from the commanded -40.0 nA" in doc["warnings"][0]
    assert f"ionto run: warning: {doc['warnings'][0]}" in r["stderr"]
    _check_file_ends_safe(r["path"]).close()


def test_a_plan_that_raises_mid_run(runs):
    r = runs["plan bug"]
    doc = _check_output(r)
    assert r["code"] == 1
    assert doc["error"] == "at 1.000 s, in step 'start': the plan raised RuntimeError: my plan has a bug (buggy.py line 12)"
    assert doc["protocol"]["ended"] == "failed"
    with _check_file_ends_safe(r["path"]) as rec:
        assert [e.kind for e in rec.events if e.barrel == "glu"][-1] == EventKind.RETAIN


def test_a_current_over_the_limit_never_runs(runs):
    r = runs["over the limit"]
    doc = _check_output(r)
    assert r["code"] == 1 and doc["error_type"] == "IontoError"
    assert "eject current 900 nA exceeds its limit 200 nA" in doc["error"]
    assert not r["path"].exists()  # checked before any current flowed: no run, no file
    assert r["stderr"].count("ionto run: error:") == 1


def test_file_size_limit(runs):
    r = runs["file-size limit"]
    doc = _check_output(r)
    assert r["code"] == 1
    assert "would outgrow the largest file this program may write (12 MiB, RLIMIT_FSIZE)" in doc["error"]
    assert r["path"].stat().st_size <= FSIZE_LIMIT
    # the batch that would have crossed the limit is written as far as it fits (at --speed max
    # a batch is 8 MiB: refusing all of it kept nothing under a small limit)
    assert r["path"].stat().st_size > FSIZE_LIMIT - 4 * MiB
    with _check_file_ends_safe(r["path"]) as rec:
        assert rec.n_samples == doc["samples"] > 0  # the JSON reports what the file holds, not what was read
        assert any(e.kind == EventKind.ERROR and "RLIMIT_FSIZE" in e.text for e in rec.events)
