"""A run under a fault: the simulated rig (or any device), the full engine (recorder, online
detector, display) and a short protocol; then the checks every fault run must pass.

Every fault run must end with

* a readable file (``Recording`` opens it; everything committed is there),
* every barrel at its safe level (retain, or zero) on the device's outputs — what the
  device actually holds, not what the engine meant to write,
* a clear message: an error or warning event in the file and on the engine's event stream,
  written for a person (no traceback, no bare exception name).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.detect import StreamingDetector
from daq.device import Device
from daq.engine import Engine, EngineError, EngineEvent, EngineState, EngineWarning
from daq.recording import ProtocolInfo, Recorder, Recording
from daq.rig import RigConfig
from daq.ring import DisplaySink
from daq.types import EventKind, LogEvent
from mock_daq import SimDevice, load_preset
from protocols.commands import Checkpoint, Eject, Retain, Wait
from protocols.runner import PlanRunner


def ejection_plan(currents_nA: Sequence[float] = (20, 40, 80), barrel: str = "glu", eject_s: float = 1.0,
                  rest_s: float = 1.0, baseline_s: float = 0.5):
    """Baseline, then ejections at ascending currents with rests: the shape of every dose-response."""
    yield Checkpoint("baseline")
    yield Wait(baseline_s)
    for cur in currents_nA:
        yield Checkpoint(f"{barrel} {cur} nA")
        yield Eject(barrel, cur)
        yield Wait(eject_s)
        yield Retain(barrel)
        yield Wait(rest_s)


@dataclass
class FaultRun:
    engine: Engine
    device: Device
    rig: RigConfig
    path: Path
    events: list[EngineEvent] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, EngineError)]

    @property
    def warnings(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, EngineWarning)]

    def file_events(self, *kinds: EventKind) -> list[LogEvent]:
        with Recording(self.path) as rec:
            return [e for e in rec.events if not kinds or e.kind in kinds]


def run_under_fault(tmp_path: Path, *, faults: Iterable[object] = (), plan=None, device: Device | None = None,
                    rig: RigConfig | None = None, sinks: Sequence[object] = (), recorder: Recorder | None = None,
                    speed: float | None = None, seed: int = 3, name: str = "fault.h5",
                    stop_after_s: float | None = None, join_timeout_s: float = 120.0, **engine_kw) -> FaultRun:
    """Run ``plan`` (default: three short ejections) on the cortex preset with ``faults``
    injected, to its end or to the fault; returns what happened (engine thread joined)."""
    rig = rig or load_preset("cortex")
    device = device or SimDevice(rig, seed=seed, speed=speed, faults=list(faults))
    path = tmp_path / name
    recorder = recorder or Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"),
                                    protocol=ProtocolInfo(name="fault run", format="python"), min_free_bytes=0,
                                    low_disk_bytes=0)
    detector = StreamingDetector()
    runner = PlanRunner(plan if plan is not None else ejection_plan(), "fault run")
    engine_kw.setdefault("ao_lead_s", rig.ao_lead_s)
    engine = Engine(device, rig.acquisition_config(), rig.pipette, recorder=recorder,
                    sinks=[detector, *sinks, DisplaySink(seconds=10)], runner=runner, online=detector,
                    stop_when_protocol_ends=True,
                    stop_after_samples=None if stop_after_s is None else round(stop_after_s * rig.rate_hz),
                    **engine_kw)
    run = FaultRun(engine, device, rig, Path(recorder.path))
    engine.subscribe(run.events.append)
    engine.start()
    assert engine.join(join_timeout_s), "the engine did not stop"
    return run


TRACEBACK = re.compile(r"Traceback|File \"|line \d+, in ")


def assert_clear(message: str) -> None:
    """A message for a person: no traceback, not just an exception's name."""
    assert message.strip(), "an empty message"
    assert not TRACEBACK.search(message), f"a traceback in the message: {message!r}"
    assert len(message.split()) >= 4, f"too terse to act on: {message!r}"


def outputs_safe_or_zero(levels: np.ndarray | None, rig: RigConfig) -> bool:
    """True if every AO output holds its barrel's safe level (retain), or zero."""
    if levels is None:
        return False
    levels = np.asarray(levels, dtype=float)
    safe = rig.pipette.safe_volts()
    return bool(np.all(np.isclose(levels, safe, atol=1e-9) | np.isclose(levels, 0.0, atol=1e-9)))


def check_ends_safe(run: FaultRun, *, levels: np.ndarray | None = None, expect_error: str | None = None,
                    expect_warning: str | None = None, file_error: bool = True,
                    file_warning: tuple[EventKind, str] | None = None) -> dict:
    """The three promises of every fault run (see the module docstring).  ``expect_error``
    and ``expect_warning`` are regular expressions the message must match; ``levels`` are the
    device's output volts (default: ``SimDevice.static_volts``).  Returns the file's
    ``ionto info`` summary.  ``file_warning``: the (kind, pattern) of the file's record of the
    warning when it is not a WARNING event with the same text (a gap is a GAP event)."""
    assert run.engine.state in (EngineState.STOPPED, EngineState.ERROR)
    held = levels if levels is not None else getattr(run.device, "static_volts", None)
    assert outputs_safe_or_zero(held, run.rig), f"barrels not at retain or zero: {held}"
    if expect_error is not None:
        assert run.engine.state == EngineState.ERROR
        assert run.engine.error and re.search(expect_error, run.engine.error), run.engine.error
        assert any(re.search(expect_error, m) for m in run.errors), run.errors
        for m in run.errors:
            assert_clear(m)
        if file_error:
            texts = [e.text for e in run.file_events(EventKind.ERROR)]
            assert any(re.search(expect_error, t) for t in texts), f"no error event in the file: {texts}"
    if expect_warning is not None:
        assert any(re.search(expect_warning, m) for m in run.warnings), run.warnings
        for m in run.warnings:
            assert_clear(m)
        kind, pattern = file_warning or (EventKind.WARNING, expect_warning)
        texts = [e.text for e in run.file_events(kind)]
        assert any(re.search(pattern, t) for t in texts), f"no {kind} event in the file: {texts}"
    with Recording(run.path) as rec:
        info = rec.summary()
    assert info["committed_samples"] > 0
    return info


def info_in_child(path: Path) -> dict:
    """``ionto info --json`` in a new process (no traceback on its stderr)."""
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-m", "app.cli.main", "info", "--json", str(path)], capture_output=True,
                       text=True, cwd=root, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    return json.loads(p.stdout)
