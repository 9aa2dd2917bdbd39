"""Measures the stop-path table of docs/reliability.md: every way `ionto run` stops × the
devices we can run here → what the outputs hold afterwards, and how fast.

    .venv/bin/python tests/faults/stop_table.py [--repeat 3]      # prints the Markdown table

Each case runs the real CLI (`ionto run` in a child process) into a long ejection of two
barrels.  On the NI devices the simulated board is served in this process (the same server
`ionto sim-server` runs), so its outputs can be read: the time is from the stop (signal,
kill) to the moment every output holds its safe level.  On the simulated rig the device
lives inside the child, so the time is to the child's exit and the state is the file's.
The NI local driver cannot be measured here (no NI-DAQmx on Linux CI): it runs the same
NIDevice code as the gRPC path; the opt-in hardware tests (`--ni-device`) cover it.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from daq.ni.rigs import rig_on_device  # noqa: E402
from daq.recording import Recording  # noqa: E402
from mock_daq import load_preset  # noqa: E402
from mock_daq.nigrpc import SimNIServer  # noqa: E402

PROTOCOL = """name: long ejection
steps:
  - eject: {barrel: glu, current_nA: 40}
  - eject: {barrel: gaba, current_nA: 20}
  - wait: WAIT_S
  - retain: all
"""


def _wait(pred: Callable[[], bool], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


def _committed_s(path: Path) -> float:
    try:
        with Recording(path) as rec:
            return rec.duration_s
    except Exception:
        return 0.0


def _file_state(path: Path) -> str:
    try:
        with Recording(path) as rec:
            _, rows, _ = rec.commanded_currents()
            safe = rec.pipette.safe_currents_nA()
            closed = "closed cleanly" if rec.closed_cleanly else rec.status
            last = "retain" if np.allclose(rows[-1], safe) else ("0 V" if np.allclose(rows[-1], 0) else "EJECTING")
            return f"{closed}, last commanded: {last}"
    except Exception as exc:
        return f"unreadable ({type(exc).__name__})"


class Case:
    def __init__(self, tmp: Path, device: str, rig_file: Path | None = None, wait_s: float = 600):
        self.tmp, self.device, self.rig_file = tmp, device, rig_file
        proto = tmp / "long.yaml"
        proto.write_text(PROTOCOL.replace("WAIT_S", str(wait_s)))
        self.out = tmp / f"r{time.monotonic_ns()}.h5"
        cmd = [sys.executable, "-m", "app.cli.main", "run", str(proto), "--device", device, "--speed", "realtime",
               "--out", str(self.out), "--prompts", "auto"]
        if rig_file:
            cmd += ["--rig", str(rig_file)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)

    def wait_recording(self) -> None:
        if not _wait(lambda: _committed_s(self.out) >= 1.0 or self.proc.poll() is not None, 120):
            raise RuntimeError("the run did not start")
        if self.proc.poll() is not None:
            raise RuntimeError(self.proc.stderr.read()[-2000:])

    def finish(self) -> int:
        try:
            self.proc.wait(60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode


def sim_rig_signal(tmp: Path, sig: int) -> tuple[float, str]:
    c = Case(tmp, "sim:cortex")
    c.wait_recording()
    t0 = time.monotonic()
    c.proc.send_signal(sig)
    rc = c.finish()
    return time.monotonic() - t0, f"exit {rc}; {_file_state(c.out)}"


def sim_rig_end(tmp: Path) -> tuple[float, str]:
    c = Case(tmp, "sim:cortex", wait_s=2)
    t0 = time.monotonic()
    rc = c.finish()
    return time.monotonic() - t0, f"exit {rc}; {_file_state(c.out)}"


def _server(chassis: str = "", rig=None, interlock: str | None = "default") -> tuple[SimNIServer, np.ndarray]:
    rig = rig or load_preset("cortex")
    srv = SimNIServer(rig, port=0, speed=1.0, seed=5, chassis=chassis, preset=None if rig.name != "sim-cortex"
                      else "cortex", interlock=interlock).start()
    return srv, np.asarray(rig.pipette.safe_volts(), dtype=float)


def _at(srv: SimNIServer, volts: np.ndarray) -> bool:
    return bool(np.allclose(srv.hardware.output_levels(), volts, atol=1e-6))


def ni_signal(tmp: Path, sig: int, chassis: str = "") -> tuple[float, str]:
    srv, safe = _server(chassis)
    try:
        c = Case(tmp, srv.url())
        c.wait_recording()
        t0 = time.monotonic()
        c.proc.send_signal(sig)
        ok = _wait(lambda: _at(srv, safe), 30)
        took = time.monotonic() - t0
        rc = c.finish()
        return took, f"{'retain' if ok else 'NOT RETAIN'}; exit {rc}; {_file_state(c.out)}"
    finally:
        srv.stop()


def ni_kill(tmp: Path, chassis: str = "", then: str = "run") -> tuple[float, str]:
    """SIGKILL mid-ejection: what the outputs hold, then how fast the next ionto (run or safe)
    writes retain after it starts."""
    srv, safe = _server(chassis)
    try:
        c = Case(tmp, srv.url())
        c.wait_recording()
        c.proc.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        c.finish()
        if chassis:  # the chassis watchdog sets the expiration states by itself
            ok = _wait(lambda: _at(srv, safe), 30)
            return time.monotonic() - t_kill, "watchdog expired → retain (expiration states)" if ok else "EJECTING"
        time.sleep(1.0)
        held = "ejecting (last value held)" if not _at(srv, safe) else "retain"
        srv.servicer.calls.clear()
        t0 = time.monotonic()
        if then == "safe":
            p = subprocess.Popen([sys.executable, "-m", "app.cli.main", "safe", "--device", srv.url()],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        else:
            p = Case(tmp, srv.url()).proc
        _wait(lambda: bool(srv.servicer.calls), 60)
        t_connect = time.monotonic()
        ok = _wait(lambda: _at(srv, safe), 60)
        took = time.monotonic() - t_connect
        from_start = time.monotonic() - t0
        p.kill() if p.poll() is None else None
        p.wait(30)
        return took, (f"{held} until the next `ionto {then}` wrote retain ({from_start:.1f} s after it was started; "
                      "time: from its first call to the board)" + ("" if ok else " — NOT SEEN"))
    finally:
        srv.stop()


def ni_kill_interlock(tmp: Path) -> tuple[float, str]:
    rig = rig_on_device(load_preset("cortex"), "Dev1")
    doc = rig.model_dump(mode="json", exclude_none=True)
    doc["interlock"] = {"line": "Dev1/port0/line0", "timeout_s": 0.5}
    rig_file = tmp / "rig.yaml"
    rig_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    from daq.rig import load_rig

    rig = load_rig(rig_file)
    srv = SimNIServer(rig, port=0, speed=1.0, seed=5, interlock="default").start()
    try:
        c = Case(tmp, srv.url(), rig_file)
        c.wait_recording()
        if not srv.hardware.interlock_enabled():
            return float("nan"), "interlock not enabled while running"
        c.proc.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        c.finish()
        ok = _wait(lambda: not srv.hardware.interlock_enabled(), 30)
        return time.monotonic() - t0, "interlock line → standby: 0 nA on every barrel" if ok else "STILL ENABLED"
    finally:
        srv.stop()


def measure(repeat: int) -> list[tuple[str, str, str, str]]:
    rows = []
    cases: list[tuple[str, str, Callable[[Path], tuple[float, str]]]] = [
        ("end of protocol", "simulated rig", sim_rig_end),
    ]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        name = signal.Signals(sig).name
        cases.append((f"{name} mid-ejection", "simulated rig", lambda t, s=sig: sim_rig_signal(t, s)))
        cases.append((f"{name} mid-ejection", "NI gRPC (PCIe-6363 simulated)", lambda t, s=sig: ni_signal(t, s)))
        cases.append((f"{name} mid-ejection", "cDAQ-9189 (simulated)", lambda t, s=sig: ni_signal(t, s, "cDAQ1")))
    cases += [
        ("SIGKILL mid-ejection", "NI gRPC, no interlock", lambda t: ni_kill(t, then="run")),
        ("SIGKILL mid-ejection", "NI gRPC, no interlock", lambda t: ni_kill(t, then="safe")),
        ("SIGKILL mid-ejection", "NI gRPC + interlock line (0.5 s)", ni_kill_interlock),
        ("SIGKILL mid-ejection", "cDAQ-9189 watchdog (1 s)", lambda t: ni_kill(t, chassis="cDAQ1")),
    ]
    for path, device, fn in cases:
        times, what = [], ""
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as d:
                took, what = fn(Path(d))
                times.append(took)
        med = statistics.median(times)
        rows.append((path, device, what, f"{med:.2f} s (max {max(times):.2f}, n={len(times)})"))
        print(f"| {path} | {device} | {what} | {rows[-1][3]} |", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    rows = measure(args.repeat)
    print("| stop path | device | outputs afterwards; exit; file | time (median) |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
