"""The plan runner: steps a plan on the engine thread, once per block, never sleeping.

The runner keeps a *cursor* in sample time.  Each block it executes commands while the
cursor is below the engine's AO horizon (the sample up to which AO is about to be
written): a current command becomes a schedule change exactly at the cursor, ``Wait``
moves the cursor on.  So ejections land exactly on the sample clock, and the event log
carries the very sample scheduled.

Commands that depend on data (``MeasureRate``, ``WaitUntil``) decide on the data up to a
sample ``t`` and place what follows at ``t + lead`` (lead = horizon − read position, the
AO lead: the earliest sample that can still change once the data up to ``t`` is in).  The
outcome therefore does not depend on the block size, and a dry run reproduces it.

Pause: the engine puts every barrel on retain and calls ``pause``; the plan holds.
Every command the runner places lies below the horizon, and the engine writes AO up to
the horizon in the same turn, so whatever the plan has done is on the device before a
pause takes effect: a pause can only cut the current ``Wait`` short.
Resume: the plan continues with its next command from the next writable sample (the rest
of the interrupted ``Wait`` is dropped), so an ejection is never replayed.  A pending
``WaitUntil`` starts afresh; a pending ``MeasureRate`` is taken again over a fresh window;
a pending operator prompt stays pending.

Abort is safe: every barrel to retain at the next writable sample, the plan is closed.
A plan that raises, or asks for a refused current, ends the protocol the same way (a dry
run instead records the refusal and goes on, to list every problem at once).

Thread: ``acknowledge`` may be called from any thread; ``status`` may be read from any
thread (it is replaced, never mutated).  Everything else runs on the engine thread.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from daq.engine_api import OnlineRate
from daq.errors import ConfigError, CurrentLimitError
from daq.pipette import Pipette
from daq.trials import DrugBlock, StimulusRequest
from daq.types import Block, EventKind, LogEvent
from protocols.commands import (
    Checkpoint,
    Eject,
    EndProtocol,
    Mark,
    MeasureRate,
    Plan,
    PlanCommand,
    Prompt,
    PromptReply,
    ReadPipette,
    Retain,
    RetainAll,
    SetCurrent,
    Wait,
    WaitUntil,
    describe,
)
from protocols.trials import ShowStimulus

log = logging.getLogger(__name__)

MAX_COMMANDS_WITHOUT_TIME = 100_000
"""A plan that yields this many commands without letting sample time pass is stuck."""


class RunnerControl(Protocol):
    """What the runner needs from the engine (``daq.engine.EngineControl`` or a dry run)."""

    @property
    def rate_hz(self) -> float: ...

    @property
    def pipette(self) -> Pipette: ...

    @property
    def read_index(self) -> int: ...

    @property
    def write_index(self) -> int: ...

    @property
    def horizon_index(self) -> int: ...

    @property
    def online(self) -> OnlineRate | None: ...

    def set_currents(self, currents_nA: Mapping[str, float], at_index: int, source: str) -> Any: ...

    def safe_all(self, at_index: int, source: str) -> Any: ...

    def log(self, event: LogEvent) -> None: ...


@dataclass(frozen=True)
class RunnerProblem:
    """A command that was refused or failed: where in the plan, and why."""

    sample_index: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class RunnerStatus:
    """What the GUI and CLI show (read on any thread; replaced, never mutated)."""

    name: str = ""
    step: str = ""
    step_index: int = 0
    cursor_index: int = 0
    started_index: int = 0
    paused: bool = False
    finished: bool = False
    aborted: bool = False
    error: str | None = None
    waiting: str = ""  # what a closed-loop wait or measurement is waiting for
    prompt: str | None = None  # a blocking prompt waiting for the operator
    prompt_id: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Ctx:
    """The ``PlanContext`` handed to ``WaitUntil`` conditions."""

    control: RunnerControl
    at_index: int
    start_index: int

    @property
    def now_s(self) -> float:
        return self.at_index / self.control.rate_hz

    @property
    def elapsed_s(self) -> float:
        return (self.at_index - self.start_index) / self.control.rate_hz

    def rate_hz(self, window_s: float, ago_s: float = 0.0) -> float | None:
        online = self.control.online
        if online is None:
            return None
        end = self.at_index - round(ago_s * self.control.rate_hz)
        if end - round(window_s * self.control.rate_hz) < 0:
            return None
        return online.rate_hz(window_s, end)

    @property
    def sample_rate_hz(self) -> float:
        return self.control.rate_hz

    def trial_events(self) -> list[LogEvent] | None:
        events = getattr(self.control, "trial_events", None)  # None: no trial input (a dry run)
        return None if events is None else [e for e in events if e.sample_index < self.at_index]


@dataclass
class _Until:
    cmd: WaitUntil
    start: int
    next_check: int
    timeout_at: int


@dataclass
class _Measure:
    cmd: MeasureRate
    end: int


@dataclass
class _Prompt:
    cmd: Prompt
    start: int
    timeout_at: int | None
    prompt_id: int


PromptPolicy = Literal["operator", "auto"]


class PlanRunner:
    """Runs one plan.  Hand it to the engine (``Engine(runner=...)`` or ``StartProtocol``).

    ``prompts``: ``"operator"`` — a blocking ``Prompt`` waits for ``acknowledge``;
    ``"auto"`` — acknowledged at once (headless runs and dry runs; logged as such).
    ``on_prompt(text, prompt_id)`` is called on the engine thread when a blocking prompt
    starts waiting.  ``refused``: ``"abort"`` ends the protocol on a refused command;
    ``"record"`` (dry runs) records it in ``problems`` and goes on.  ``locate()`` names
    where in the protocol file the plan is (e.g. ``steps.3``) for error messages.
    """

    def __init__(self, plan: Plan, name: str = "protocol", *, prompts: PromptPolicy = "operator",
                 on_prompt: Callable[[str, int], None] | None = None,
                 refused: Literal["abort", "record"] = "abort",
                 locate: Callable[[], str] | None = None):
        self._plan = plan
        self.name = name
        self.prompts = prompts
        self.on_prompt = on_prompt
        self.refused = refused
        self.locate = locate
        self.problems: list[RunnerProblem] = []
        self.closed_loop = False  # the plan used a data-dependent command
        self.prompt_count = 0
        self._cursor = 0
        self._wait_residual = 0.0  # fraction of a sample carried from one Wait to the next
        self._send: Any = None
        self._pending: _Until | _Measure | _Prompt | None = None
        self._finished = False
        self._paused = False
        self._steps = 0
        self._idle_commands = 0
        self._prompt_seq = 0
        self._inbox: queue.SimpleQueue[tuple[int | None, str]] = queue.SimpleQueue()
        self.status = RunnerStatus(name=name)

    # --- any thread -----------------------------------------------------------------------
    def acknowledge(self, response: str = "", prompt_id: int | None = None) -> None:
        """The operator acknowledges the current prompt (``prompt_id`` guards against a
        stale click).  Any thread; takes effect at the runner's next block."""
        self._inbox.put((prompt_id, response))

    # --- ProtocolRunner protocol ------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def cursor_index(self) -> int:
        return self._cursor

    def on_start(self, control: RunnerControl) -> None:
        self._cursor = control.write_index
        control.log(LogEvent(self._cursor, EventKind.PROTOCOL_START, text=self.name))
        self.status = RunnerStatus(name=self.name, step="start", cursor_index=self._cursor,
                                   started_index=self._cursor)
        self._advance(control)

    def on_block(self, block: Block | None, control: RunnerControl) -> None:
        self._advance(control)

    def pause(self, control: RunnerControl) -> None:
        self._paused = True
        self._publish(paused=True)

    def resume(self, control: RunnerControl) -> None:
        self._paused = False
        self._cursor = control.write_index
        self._wait_residual = 0.0
        p = self._pending
        if isinstance(p, _Until):
            timeout = round(p.cmd.timeout_s * control.rate_hz)
            self._pending = _Until(p.cmd, self._cursor, self._cursor, self._cursor + timeout)
        elif isinstance(p, _Measure):
            self._pending = _Measure(p.cmd, self._cursor + round(p.cmd.window_s * control.rate_hz))
        self._publish(paused=False)
        self._advance(control)

    def abort(self, control: RunnerControl) -> None:
        if self._finished:
            return
        self._close_plan()
        self._finish(control, control.write_index, "aborted")

    def wake_index(self, lead: int) -> int | None:
        """The read position at which this runner next has something to do (for the dry
        run's clock); None if it waits for the operator or has finished."""
        p = self._pending
        if self._finished or self._paused:
            return None
        if isinstance(p, _Until):
            return p.next_check
        if isinstance(p, _Measure):
            return p.end
        if isinstance(p, _Prompt):
            return p.timeout_at
        return self._cursor - lead + 1

    # --- stepping -------------------------------------------------------------------------
    def _advance(self, control: RunnerControl) -> None:
        try:
            self._step_until_horizon(control)
        finally:
            self._publish()  # once per block, not per command

    def _step_until_horizon(self, control: RunnerControl) -> None:
        horizon = control.horizon_index
        while not self._finished and not self._paused:
            if self._pending is not None:
                if not self._poll(control):
                    return
                continue
            if self._cursor >= horizon:
                return
            self._idle_commands += 1
            if self._idle_commands > MAX_COMMANDS_WITHOUT_TIME:
                self._fail(control, f"the plan yielded {MAX_COMMANDS_WITHOUT_TIME} commands without letting "
                                    "sample time pass (an endless loop?)")
                return
            try:
                cmd = self._plan.send(self._send)
            except StopIteration:
                self._finish(control, self._cursor, "completed")
                return
            except EndProtocol as exc:
                self._finish(control, self._cursor, f"ended by the plan: {exc}")
                return
            except Exception as exc:  # the user's plan code failed: end the protocol safely
                log.debug("plan %r raised", self.name, exc_info=exc)  # the traceback: --debug
                step = f", in step {self.status.step!r}" if self.status.step else ""
                self._fail(control, f"at {self._cursor / control.rate_hz:.3f} s{step}: the plan raised "
                                    f"{type(exc).__name__}: {exc}{_raised_where(exc)}")
                return
            self._send = None
            self._steps += 1
            before = self._cursor
            try:
                self._execute(cmd, control)
            except (CurrentLimitError, KeyError, ValueError, TypeError) as exc:
                msg = str(exc.args[0]) if exc.args else str(exc)
                problem = RunnerProblem(self._cursor, self._where(cmd, control), msg)
                self.problems.append(problem)
                if self.refused == "abort":
                    self._fail(control, str(problem))
                    return
            if self._cursor != before:
                self._idle_commands = 0

    def _execute(self, cmd: Any, control: RunnerControl) -> None:
        at = self._cursor
        pip = control.pipette
        match cmd:
            case Eject(barrel, current, pol):
                cur = pip.barrel(barrel).eject_current_nA(current, pol)
                control.set_currents({barrel: cur}, at, self.name)
            case Retain(barrel, magnitude):
                control.set_currents({barrel: pip.barrel(barrel).retain_at_nA(magnitude)}, at, self.name)
            case RetainAll():
                control.safe_all(at, self.name)
            case SetCurrent(barrel, current):
                control.set_currents({barrel: float(current)}, at, self.name)
            case Wait(duration):
                if not (duration >= 0 and math.isfinite(duration)):
                    raise ValueError(f"a wait must be a finite number of seconds >= 0, got {duration}")
                # consecutive waits add up on the sample clock without drifting
                exact = at + duration * control.rate_hz + self._wait_residual
                self._cursor = round(exact)
                self._wait_residual = exact - self._cursor
            case WaitUntil(_, timeout, poll, desc):
                if not (0 <= timeout < math.inf and 0 < poll < math.inf):
                    raise ValueError(f"wait-until needs timeout_s >= 0 and poll_s > 0, got {timeout}, {poll}")
                self.closed_loop = True
                self._pending = _Until(cmd, at, at, at + round(timeout * control.rate_hz))
                self._publish(waiting=desc or "condition")
            case MeasureRate(window):
                if not 0 < window < math.inf:
                    raise ValueError(f"a rate window must be > 0 s, got {window}")
                self.closed_loop = True
                self._pending = _Measure(cmd, at)
                self._publish(waiting=f"rate over {window:g} s")
            case Mark(text):
                control.log(LogEvent(at, EventKind.MARK, text=str(text)))
            case DrugBlock():
                control.log(replace(cmd, start_index=at).event())
            case ShowStimulus(trial, code, duration, values):
                if not (duration > 0 and math.isfinite(duration)):
                    raise ValueError(f"a stimulus must last a finite time > 0 s, got {duration}")
                req = StimulusRequest(int(trial), at, at + max(1, round(duration * control.rate_hz)), int(code),
                                      tuple((str(k), float(v)) for k, v in values))
                show = getattr(control, "show_stimulus", None)
                if show is None:  # no device (a dry run): the trial as asked
                    control.log(req.start_event())
                    control.log(req.stop_event())
                else:
                    try:
                        show(req)
                    except ConfigError as exc:
                        raise ValueError(str(exc)) from None
            case Checkpoint(name, info):
                control.log(LogEvent(at, EventKind.STEP, text=str(name)))
                self._publish(step=str(name), info=dict(info) if isinstance(info, Mapping) else {})
            case Prompt():
                self._start_prompt(cmd, control, at)
            case ReadPipette():
                self._send = pip
            case _:
                raise TypeError(f"the plan yielded {cmd!r}, which is not a protocol command "
                                "(did you forget 'yield from' before a plan?)")

    # --- pending commands ---------------------------------------------------------------------
    def _poll(self, control: RunnerControl) -> bool:
        """Progress the pending command; True when it is over (its reply is ready)."""
        p = self._pending
        lead = control.horizon_index - control.read_index
        if isinstance(p, _Measure):
            if control.read_index < p.end:
                return False
            online = control.online
            rate = None
            if online is not None and p.end >= round(p.cmd.window_s * control.rate_hz):
                rate = online.rate_hz(p.cmd.window_s, p.end)
            self._cursor = max(p.end + lead, control.write_index)
            text = "no online rate" if rate is None else f"{rate:.3f} Hz"
            control.log(LogEvent(self._cursor, EventKind.NOTE, text=f"measured rate over {p.cmd.window_s:g} s "
                                 f"before {p.end / control.rate_hz:.3f} s: {text}"))
            return self._reply(rate)
        if isinstance(p, _Until):
            while p.next_check <= control.read_index:
                t = p.next_check
                try:
                    met = bool(p.cmd.condition(_Ctx(control, t, p.start)))
                except Exception as exc:  # a user's condition failed: end the wait, say so
                    log.debug("wait-until condition failed", exc_info=exc)
                    self.problems.append(RunnerProblem(t, self._where(p.cmd, control),
                                                       f"the condition raised {type(exc).__name__}: {exc}"
                                                       f"{_raised_where(exc)}"))
                    return self._end_until(control, t, False, lead, f"condition failed ({exc})")
                if met:
                    return self._end_until(control, t, True, lead, "met")
                if t >= p.timeout_at:
                    return self._end_until(control, t, False, lead, "timed out")
                p.next_check = min(t + max(1, round(p.cmd.poll_s * control.rate_hz)), p.timeout_at)
            return False
        if isinstance(p, _Prompt):
            while True:
                try:
                    pid, response = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if pid is None or pid == p.prompt_id:
                    self._cursor = max(p.start, control.write_index)
                    waited = (self._cursor - p.start) / control.rate_hz
                    control.log(LogEvent(self._cursor, EventKind.NOTE,
                                         text=f"prompt acknowledged{': ' + response if response else ''}"))
                    return self._reply(PromptReply(True, response, waited))
            if p.timeout_at is not None and control.read_index >= p.timeout_at:
                self._cursor = max(p.timeout_at + lead, control.write_index)
                control.log(LogEvent(self._cursor, EventKind.NOTE, text="prompt timed out"))
                return self._reply(PromptReply(False, "", (self._cursor - p.start) / control.rate_hz))
            return False
        return True

    def _end_until(self, control: RunnerControl, t: int, met: bool, lead: int, outcome: str) -> bool:
        p = self._pending
        assert isinstance(p, _Until)
        self._cursor = max(t + lead, control.write_index)
        control.log(LogEvent(self._cursor, EventKind.STEP, text=f"{p.cmd.description or 'wait-until'}: {outcome} "
                             f"after {(t - p.start) / control.rate_hz:.3f} s"))
        return self._reply(met)

    def _reply(self, value: Any) -> bool:
        self._wait_residual = 0.0
        self._send = value
        self._pending = None
        self._publish(waiting="", prompt=None)
        return True

    def _start_prompt(self, cmd: Prompt, control: RunnerControl, at: int) -> None:
        control.log(LogEvent(at, EventKind.NOTE, text=("prompt: " if cmd.wait else "note: ") + str(cmd.text)))
        if not cmd.wait:
            return
        self.prompt_count += 1
        if self.prompts == "auto":
            control.log(LogEvent(at, EventKind.NOTE, text="prompt auto-acknowledged (no operator)"))
            self._send = PromptReply(True, "", 0.0)
            return
        if cmd.timeout_s is not None and not 0 <= cmd.timeout_s < math.inf:
            raise ValueError(f"a prompt timeout must be >= 0 s, got {cmd.timeout_s}")
        self._prompt_seq += 1
        timeout_at = None if cmd.timeout_s is None else at + round(cmd.timeout_s * control.rate_hz)
        self._pending = _Prompt(cmd, at, timeout_at, self._prompt_seq)
        self._publish(prompt=str(cmd.text), prompt_id=self._prompt_seq)
        if self.on_prompt is not None:
            try:
                self.on_prompt(str(cmd.text), self._prompt_seq)
            except Exception:
                log.exception("on_prompt callback failed")

    # --- ending -----------------------------------------------------------------------------------
    def _fail(self, control: RunnerControl, message: str) -> None:
        self._close_plan()
        at = control.write_index
        control.log(LogEvent(at, EventKind.ERROR, text=f"protocol {self.name!r}: {message}"))
        self._finish(control, at, "failed", error=message)

    def _finish(self, control: RunnerControl, at: int, how: str, error: str | None = None) -> None:
        self._pending = None
        control.safe_all(at, f"{self.name} end")
        control.log(LogEvent(at, EventKind.PROTOCOL_END, text=how if error is None else f"{how}: {error}"))
        self._cursor = at
        self._finished = True
        self._publish(finished=True, aborted=how == "aborted", step=how, error=error, waiting="", prompt=None)

    def _close_plan(self) -> None:
        try:
            self._plan.close()
        except Exception:  # a plan that yields in its finally block: nothing more to run anyway
            log.exception("closing plan %r", self.name)

    def _where(self, cmd: Any, control: RunnerControl) -> str:
        what = describe(cmd) + " " if isinstance(cmd, PlanCommand) else ""
        parts = [f"{what}at {self._cursor / control.rate_hz:.3f} s"]
        loc = self.locate() if self.locate is not None else ""
        if loc:
            parts.insert(0, loc)
        else:
            line = _yield_position(self._plan)
            if line:
                parts.insert(0, line)
            if self.status.step:
                parts.append(f"in step {self.status.step!r}")
        return ", ".join(parts)

    def _publish(self, **changes: Any) -> None:
        self.status = replace(self.status, cursor_index=self._cursor, step_index=self._steps, **changes)


def _yield_position(plan: Any) -> str:
    """``plan.py line 12``: where the innermost plan is suspended — through ``yield from``,
    and through wrappers that step a plan they keep in a local named ``plan`` (the dry run's
    budget meter)."""
    gen, seen = plan, 0
    while seen < 100:
        seen += 1
        frame = getattr(gen, "gi_frame", None)
        if getattr(gen, "gi_yieldfrom", None) is not None:
            gen = gen.gi_yieldfrom
        elif frame is not None and hasattr(frame.f_locals.get("plan"), "gi_frame"):
            gen = frame.f_locals["plan"]
        else:
            break
    frame = getattr(gen, "gi_frame", None)
    if frame is None or _is_ionto_core(frame.f_code.co_filename):
        return ""
    return f"{os.path.basename(frame.f_code.co_filename)} line {frame.f_lineno}"


_DAQ_DIR = os.path.dirname(os.path.abspath(sys.modules["daq"].__file__ or "")) + os.sep
_PROTOCOLS_DIR = os.path.dirname(os.path.abspath(__file__))


def _is_ionto_core(filename: str) -> bool:
    """Generated code (``<string>``) or ionto's own engine and runner modules — not the plan
    library or a user's plan, which is where a plan's error should be pointed at."""
    if filename.startswith("<"):
        return True
    path = os.path.abspath(filename)
    return path.startswith(_DAQ_DIR) or os.path.dirname(path) == _PROTOCOLS_DIR


def _raised_where(exc: BaseException) -> str:
    """`` (plan.py line 12)``: the deepest frame of the traceback outside installed packages
    and the standard library — the user's plan code — for a message without a traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "site-packages" not in f.filename and "/lib/python" not in f.filename
              and not _is_ionto_core(f.filename)]
    if not frames:
        return ""
    return f" ({os.path.basename(frames[-1].filename)} line {frames[-1].lineno})"
