"""``ionto safe`` after a SIGKILLed ``ionto run`` over ni+grpc: the simulated board (served
in-process, so the test reads its outputs) ends at the retain levels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from daq.ni.rigs import rig_on_device
from mock_daq import load_preset
from tests.daq.test_ni_recovery import start_server

ROOT = Path(__file__).resolve().parents[2]
LONG_EJECTION = """\
name: one long glutamate ejection
plan: dose_response
params:
  barrel: glu
  currents_nA: [80]
  eject_s: 120
  recovery_s: 1
  baseline_s: 0.5
"""


@pytest.fixture
def board():
    server = start_server(seed=3)
    yield server
    server.stop()


def _wait(cond, timeout_s: float, what: str, proc=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ionto run ended ({proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def test_safe_after_a_killed_run_puts_the_barrels_on_retain(board, tmp_path, capsys):
    rig = rig_on_device(load_preset("cortex"), "Dev1")
    safe = rig.pipette.safe_volts()
    glu = rig.pipette.barrel("glu")
    eject_V = -80.0 / glu.command_gain_nA_per_V
    proto = tmp_path / "eject.yaml"
    proto.write_text(LONG_EJECTION)
    url = board.url("Dev1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "run", str(proto), "--device", url, "--speed", "realtime",
         "--out", str(tmp_path / "run.h5")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        _wait(lambda: abs(board.hardware.output_levels()[0] - eject_V) < 1e-6, 120, "the ejection", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert abs(board.hardware.output_levels()[0] - eject_V) < 1e-6  # a dead ionto keeps ejecting
    assert {t.name for t in board.hardware.tasks.values()} >= {"ionto:Dev1:ai", "ionto:Dev1:ao"}
    t0 = time.monotonic()
    assert main(["safe", "--device", url]) == 0
    took = time.monotonic() - t0
    out = capsys.readouterr().out
    assert np.allclose(board.hardware.output_levels(), safe, atol=1e-9)
    assert not board.hardware.tasks
    assert "cleared stale task ionto:Dev1:ao" in out
    assert "glu (glutamate) Dev1/ao0: retain 15 nA (+0.15 V)" in out
    assert len([ln for ln in out.splitlines() if "Dev1/ao" in ln]) == len(rig.pipette.ao_barrels())
    assert took < 5.0, took
    print(f"ionto safe after SIGKILL: {took:.2f} s")


def test_safe_json_and_a_rig_file(board, tmp_path, capsys):
    import yaml

    rig = rig_on_device(load_preset("cortex"), "Dev1")
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(rig.model_dump(mode="json")))
    assert main(["safe", "--device", board.url("Dev1"), "--rig", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [lv["barrel"] for lv in doc["levels"]] == [b.name for b in rig.pipette.ao_barrels()]
    assert np.allclose(board.hardware.output_levels(), rig.pipette.safe_volts(), atol=1e-9)


def test_safe_on_a_sim_device_has_nothing_to_do(capsys):
    assert main(["safe", "--device", "sim"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_safe_without_a_server_is_one_line(capsys):
    assert main(["safe", "--device", "ni+grpc://127.0.0.1:1/Dev1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no NI-DAQmx gRPC server answers at 127.0.0.1:1" in err[0]
