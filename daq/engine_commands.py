"""What the engine does with each command it takes from its queue.

Manual currents change the AO schedule at the earliest sample that can still change
(``frozen_until``); Pause, Abort and Stop put every barrel on retain there first, so the
event log and ``/currents/commanded_nA`` show the retain at the sample the device got it.

Thread: the engine thread (``Engine._drain_commands``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daq.engine_api import (
    Abort,
    AddMark,
    Call,
    Eject,
    EngineCommand,
    EngineState,
    Pause,
    Resume,
    Retain,
    RetainAll,
    SetCurrent,
    StartProtocol,
    StartRecording,
    Stop,
    StopRecording,
)
from daq.types import EventKind, LogEvent

if TYPE_CHECKING:
    from daq.engine import Engine


def execute(engine: Engine, cmd: EngineCommand) -> None:
    """Carry out one command.  ``CurrentLimitError``/``KeyError``/``ValueError`` mean "refused"
    (the caller reports it; the run goes on)."""
    e = engine
    at = e.schedule.frozen_until
    c = e.control
    match cmd:
        case SetCurrent(barrel, cur):
            e.schedule.set_current(barrel, cur, at, "manual")
        case Eject(barrel, mag, pol):
            e.schedule.set_current(barrel, e.pipette.barrel(barrel).eject_current_nA(mag, pol), at, "manual")
        case Retain(barrel, mag):
            e.schedule.set_current(barrel, e.pipette.barrel(barrel).retain_at_nA(mag), at, "manual")
        case RetainAll():
            e.schedule.safe_all(at, "all to retain")
        case AddMark(text):
            c.log(LogEvent(e.read_index, EventKind.MARK, text=text))
        case Pause():
            if e.state == EngineState.RUNNING:
                e.schedule.safe_all(at, "pause")
                c.log(LogEvent(at, EventKind.PAUSE))
                if e.runner is not None:
                    e.runner.pause(c)
                e.set_state(EngineState.PAUSED)
        case Resume():
            if e.state == EngineState.PAUSED:
                c.log(LogEvent(at, EventKind.RESUME))
                if e.runner is not None:
                    e.runner.resume(c)
                e.set_state(EngineState.RUNNING)
        case Abort(stop, reason):
            e.schedule.safe_all(at, "abort")
            c.log(LogEvent(at, EventKind.ABORT, text=reason))
            if e.runner is not None:
                e.runner.abort(c)
            if stop:
                e.begin_stop(at)
            elif e.state == EngineState.PAUSED:
                e.set_state(EngineState.RUNNING)
        case Stop():
            e.schedule.safe_all(at, "stop")
            e.begin_stop(at)
        case StartRecording(recorder):
            e.recording.start(recorder)
        case StopRecording():
            e.recording.stop()
        case StartProtocol(runner):
            if e.runner is not None and not e.runner.finished:
                raise ValueError("a protocol is already running; abort it first")
            e.runner = runner
            runner.on_start(c)
        case Call(fn):
            fn(c)
        case _:
            raise ValueError(f"not an engine command: {cmd!r}")
