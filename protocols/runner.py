"""The plan runner: steps a plan on the engine thread, once per block, never sleeping.

The runner keeps a *cursor* in sample time.  Each block it executes commands while the
cursor is below the engine's AO horizon (the sample up to which AO is about to be
written): a current command becomes a schedule change exactly at the cursor, ``Wait``
moves the cursor on, ``WaitUntil`` holds it until its condition holds (checked once per
block, at the earliest sample that can still change) or it times out.  So ejections land
exactly on the sample clock, and the event log carries the very sample scheduled.

Pause: the engine puts every barrel on retain and calls ``pause``; the plan holds.
Resume: the plan continues with its next command from the next writable sample (the rest
of an interrupted ``Wait`` is dropped, so an ejection is never replayed).

Thread: every method runs on the engine thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from daq.engine import EngineControl
from daq.types import Block, EventKind, LogEvent
from protocols.commands import (
    Checkpoint,
    Eject,
    Mark,
    Prompt,
    Retain,
    RetainAll,
    SetCurrent,
    Wait,
    WaitUntil,
)
from protocols.plans import Plan

log = logging.getLogger(__name__)


@dataclass
class _Ctx:
    """The ``PlanContext`` handed to closed-loop conditions."""

    control: EngineControl

    @property
    def now_s(self) -> float:
        return self.control.write_index / self.control.rate_hz

    def rate_hz(self, window_s: float) -> float | None:
        online = self.control.online
        if online is None:
            return None
        return online.rate_hz(window_s)


@dataclass
class RunnerStatus:
    """What the GUI and CLI show (read on any thread; replaced, never mutated)."""

    step: str = ""
    step_index: int = 0
    cursor_index: int = 0
    started_index: int = 0
    paused: bool = False
    finished: bool = False
    aborted: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class PlanRunner:
    """Runs one plan.  Hand it to the engine (``Engine(runner=...)`` or ``StartProtocol``)."""

    def __init__(self, plan: Plan, name: str = "protocol"):
        self._plan = plan
        self.name = name
        self._cursor = 0
        self._send: Any = None
        self._pending_cmd: Any = None  # a WaitUntil in progress
        self._wait_started = 0
        self._finished = False
        self._paused = False
        self._steps = 0
        self.status = RunnerStatus()

    # --- ProtocolRunner protocol --------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._finished

    def on_start(self, control: EngineControl) -> None:
        self._cursor = control.write_index
        control.log(LogEvent(self._cursor, EventKind.PROTOCOL_START, text=self.name))
        self.status = RunnerStatus(step="start", cursor_index=self._cursor, started_index=self._cursor)
        self._advance(control)

    def on_block(self, block: Block, control: EngineControl) -> None:
        self._advance(control)

    def pause(self, control: EngineControl) -> None:
        self._paused = True
        self._publish(paused=True)

    def resume(self, control: EngineControl) -> None:
        self._paused = False
        # the rest of an interrupted Wait is dropped: continue with the next command
        self._cursor = control.write_index
        if isinstance(self._pending_cmd, WaitUntil):
            self._wait_started = self._cursor
        self._publish(paused=False)
        self._advance(control)

    def abort(self, control: EngineControl) -> None:
        if self._finished:
            return
        self._plan.close()
        self._finish(control, max(self._cursor, control.write_index), aborted=True)

    # --- stepping -----------------------------------------------------------------------
    def _advance(self, control: EngineControl) -> None:
        horizon = control.horizon_index
        while not self._finished and not self._paused:
            if self._pending_cmd is not None:
                if not self._poll_wait_until(control):
                    return
                continue
            if self._cursor >= horizon:
                return
            try:
                cmd = self._plan.send(self._send)
            except StopIteration:
                self._finish(control, self._cursor)
                return
            self._send = None
            self._steps += 1
            self._execute(cmd, control)

    def _poll_wait_until(self, control: EngineControl) -> bool:
        """True when the pending WaitUntil is over (its result is sent to the plan)."""
        cmd: WaitUntil = self._pending_cmd
        now = max(self._cursor, control.write_index)
        timeout_at = self._wait_started + round(cmd.timeout_s * control.rate_hz)
        try:
            met = bool(cmd.condition(_Ctx(control)))
        except Exception as exc:
            log.exception("closed-loop condition failed")
            control.log(LogEvent(now, EventKind.NOTE, text=f"condition failed: {exc}; treated as timed out"))
            met = False
            timeout_at = now
        if met or now >= timeout_at:
            self._cursor = now if met else max(self._cursor, timeout_at)
            self._send = met
            self._pending_cmd = None
            control.log(LogEvent(self._cursor, EventKind.STEP, text=f"{cmd.description or 'wait-until'}: "
                                 f"{'met' if met else 'timed out'}"))
            return True
        return False

    def _execute(self, cmd: Any, control: EngineControl) -> None:
        at = self._cursor
        pip = control.pipette
        match cmd:
            case Eject(barrel, current, pol):
                cur = pip.barrel(barrel).eject_current_nA(current, pol)
                control.set_currents({barrel: cur}, at, f"{self.name}")
            case Retain(barrel):
                control.set_currents({barrel: pip.barrel(barrel).safe_current_nA}, at, f"{self.name}")
            case RetainAll():
                control.safe_all(at, f"{self.name}")
            case SetCurrent(barrel, current):
                control.set_currents({barrel: current}, at, f"{self.name}")
            case Wait(duration):
                if duration < 0:
                    raise ValueError(f"Wait({duration}): a duration must be >= 0 s")
                self._cursor = at + round(duration * control.rate_hz)
            case WaitUntil():
                self._pending_cmd = cmd
                self._wait_started = at
            case Mark(text):
                control.log(LogEvent(at, EventKind.MARK, text=text))
            case Checkpoint(name, info):
                control.log(LogEvent(at, EventKind.STEP, text=name))
                self._publish(step=name, info=info if isinstance(info, dict) else {})
            case Prompt(text):
                control.log(LogEvent(at, EventKind.NOTE, text=text))
            case _:
                raise TypeError(f"plan {self.name!r} yielded {cmd!r}, which is not a protocol command")
        self._publish()

    def _finish(self, control: EngineControl, at: int, aborted: bool = False) -> None:
        control.safe_all(at, f"{self.name} end")
        control.log(LogEvent(at, EventKind.PROTOCOL_END, text="aborted" if aborted else "completed"))
        self._cursor = at
        self._finished = True
        self._publish(finished=True, aborted=aborted, step="aborted" if aborted else "done")

    def _publish(self, **changes: Any) -> None:
        s = self.status
        values = {**s.__dict__, "cursor_index": self._cursor, "step_index": self._steps, **changes}
        self.status = RunnerStatus(**values)
