"""Every way `ionto run` is stopped by a signal ends with every barrel on retain and the
file closed — through the real CLI, on the simulated rig and over the NI gRPC path.

The NI tests serve the simulated NI board in this process (the same server `ionto
sim-server` runs) so they can read what its outputs hold; `ionto run` is a real child
process connecting over gRPC.  Timings are measured, not asserted loosely: the safe levels
must be on the outputs within 2 s of the signal (the issue's bound), waited on with a
generous overall timeout so a busy machine does not fail them by accident.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from daq.recording import Recording
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer
from tests.waiting import wait_until

IONTO = [sys.executable, "-m", "app.cli.main"]
LONG_EJECTION = """name: long ejection
steps:
  - eject: {barrel: glu, current_nA: 40}
  - eject: {barrel: gaba, current_nA: 20}
  - wait: 600
  - retain: all
"""
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def _start_run(tmp_path: Path, device: str, out: Path) -> subprocess.Popen:
    proto = tmp_path / "long.yaml"
    proto.write_text(LONG_EJECTION)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([*IONTO, "run", str(proto), "--device", device, "--speed", "realtime", "--out", str(out),
                             "--prompts", "auto"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=Path(__file__).resolve().parents[2])


def _committed_s(path: Path) -> float:
    """Seconds the (live) file has committed; 0 while it is not readable yet."""
    try:
        with Recording(path) as rec:
            return rec.duration_s
    except Exception:  # not created yet, or between commits
        return 0.0


def _check_file_ends_on_retain(path: Path) -> None:
    with Recording(path) as rec:
        assert rec.closed_cleanly, rec.status
        idx, rows, _ = rec.commanded_currents()
        safe = rec.pipette.safe_currents_nA()
        kinds = [e.kind for e in rec.events if e.barrel == "glu"]
    assert "eject" in kinds, "the ejection never reached the file: the test did not test a stop mid-ejection"
    assert np.allclose(rows[-1], safe), f"last commanded currents {rows[-1]} are not the retain levels {safe}"
    assert np.allclose(rows[0], safe) or idx[0] == 0


def _one_line_about(stderr: str, sig: signal.Signals) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("ionto run:")]
    assert any(f"stopped by {sig.name}" in ln and "retain" in ln for ln in lines), stderr[-2000:]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_during_an_ejection_on_the_simulated_rig_ends_on_retain_with_the_file_closed(tmp_path, sig):
    out = tmp_path / "run.h5"
    proc = _start_run(tmp_path, "sim:cortex", out)
    try:
        wait_until(lambda: _committed_s(out) >= 1.0 or proc.poll() is not None, 120, what="the run to record 1 s")
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err[-2000:]
    _one_line_about(err, sig)
    _check_file_ends_on_retain(out)


@pytest.fixture
def ni_server():
    rig = load_preset("cortex")
    server = SimNIServer(rig, port=0, speed=1.0, seed=3, preset="cortex").start()
    yield server, np.asarray(rig.pipette.safe_volts(), dtype=float)
    server.stop()


def _outputs_at(server: SimNIServer, volts: np.ndarray) -> bool:
    return bool(np.allclose(server.hardware.output_levels(), volts, atol=1e-6))


def _ejecting(server: SimNIServer, safe: np.ndarray) -> bool:
    levels = server.hardware.output_levels()
    return bool(np.abs(levels - safe).max() > 0.05)


def _wait_ejecting_and_recording(server: SimNIServer, safe: np.ndarray, proc: subprocess.Popen, out: Path) -> None:
    wait_until(lambda: _ejecting(server, safe) or proc.poll() is not None, 120, what="the board to eject")
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    wait_until(lambda: _committed_s(out) >= 0.5 or proc.poll() is not None, 60, what="the file to commit")
    assert proc.poll() is None, proc.communicate()[1][-2000:]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_during_an_ejection_over_ni_grpc_puts_every_output_on_retain_within_2_s(tmp_path, ni_server, sig):
    server, safe = ni_server
    out = tmp_path / "ni.h5"
    proc = _start_run(tmp_path, server.url(), out)
    try:
        _wait_ejecting_and_recording(server, safe, proc, out)
        proc.send_signal(sig)
        t_signal = time.monotonic()
        wait_until(lambda: _outputs_at(server, safe), 30, what="the outputs to return to retain")
        took_s = time.monotonic() - t_signal
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took_s <= 2.0, f"the outputs reached retain {took_s:.2f} s after {sig.name}"
    assert proc.returncode == 128 + sig, err[-2000:]
    _one_line_about(err, sig)
    _check_file_ends_on_retain(out)
    assert not server.hardware.tasks, f"tasks left on the board: {[t.name for t in server.hardware.tasks.values()]}"


def test_a_second_ctrl_c_does_not_skip_the_safe_levels(tmp_path, ni_server):
    server, safe = ni_server
    out = tmp_path / "twice.h5"
    proc = _start_run(tmp_path, server.url(), out)
    try:
        _wait_ejecting_and_recording(server, safe, proc, out)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
    assert _outputs_at(server, safe)
    _check_file_ends_on_retain(out)


@pytest.mark.parametrize("case", ["exists", "fifo", "folder"])
def test_run_refuses_a_bad_out_in_one_line_before_anything_starts(tmp_path, case):
    proto = tmp_path / "p.yaml"
    proto.write_text(LONG_EJECTION)
    out = tmp_path / "out.h5"
    if case == "exists":
        out.write_bytes(b"x")
    elif case == "fifo":
        os.mkfifo(out)
    else:
        out.mkdir()
    p = subprocess.run([*IONTO, "run", str(proto), "--out", str(out)], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ionto run: error:") and str(out) in lines[0], p.stderr
    assert "recorded" not in p.stdout and "running" not in p.stdout
    if case == "exists":
        assert "--overwrite" in lines[0]
