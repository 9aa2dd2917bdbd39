"""The commands a plan yields.  Small, frozen, and meaningless until a runner steps them.

A plan is a generator: ``reply = yield command``.  Most commands reply ``None``; the
ones that observe the world reply with what they saw (see each class).

Time: every command is placed at the runner's *cursor*, a sample index on the device's
sample clock.  ``Wait`` moves the cursor on; current commands change the AO schedule
exactly at the cursor.  A command that depends on recorded data (``MeasureRate``,
``WaitUntil``) decides on data up to a sample ``t``; what the plan does next is placed at
``t + lead`` (the AO lead of the rig: the earliest sample that can still change), the
same in a dry run and on the rig, whatever the block size.

Currents: ``Eject.current_nA`` is a magnitude; the sign comes from the barrel's polarity
(control barrels, which have none, need ``polarity``).  ``SetCurrent`` takes a signed value.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from daq.engine_api import Eject, Retain, RetainAll, SetCurrent
from daq.types import LogEvent


class PlanContext(Protocol):
    """What a ``WaitUntil`` condition may look at.  Called on the engine thread.

    ``now_s`` is the sample-clock time of this check (a point on the wait's polling grid);
    ``elapsed_s`` the time since the wait began.  ``rate_hz(window_s, ago_s)`` is the online
    firing rate over ``[now - ago - window, now - ago)``, or None when no online rate exists
    (a dry run) or the window reaches before the start of acquisition.
    ``sample_rate_hz`` is the sample clock's rate; ``trial_events()`` the events logged before
    now that trial validity depends on (``daq.trials.VALIDITY_KINDS``), or None when the run
    has no trial input at all (a dry run).
    """

    @property
    def now_s(self) -> float: ...

    @property
    def elapsed_s(self) -> float: ...

    def rate_hz(self, window_s: float, ago_s: float = 0.0) -> float | None: ...

    @property
    def sample_rate_hz(self) -> float: ...

    def trial_events(self) -> list[LogEvent] | None: ...


# --- currents: one vocabulary with the engine's manual commands (daq.engine_api) ------------
# ``Eject(barrel, current_nA, polarity=None)``, ``Retain(barrel, current_nA=None)``,
# ``RetainAll()``, ``SetCurrent(barrel, current_nA)``; each replies None.


# --- time ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wait:
    """Let ``duration_s`` of sample time pass (rounded to the nearest sample)."""

    duration_s: float


@dataclass(frozen=True)
class WaitUntil:
    """Wait until ``condition(context)`` is true or ``timeout_s`` passes.

    The condition is checked on a grid every ``poll_s`` of sample time from the start of
    the wait, on the data up to each grid point (so the outcome does not depend on the
    engine's block size).  Replies True (met) or False (timed out, or the condition
    raised: that is logged as a note)."""

    condition: Callable[[PlanContext], bool]
    timeout_s: float
    poll_s: float = 1.0
    description: str = ""


@dataclass(frozen=True)
class MeasureRate:
    """Measure the online firing rate over the ``window_s`` that ends at the cursor.

    Holds the plan until the data up to the cursor has been read.  Replies the rate (Hz),
    or None when there is no online rate (a dry run) or the window reaches before the
    start of acquisition.  If a pause interrupts the measurement, it is taken again over
    a fresh window after the resume."""

    window_s: float


# --- log and operator ----------------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    """A mark in the event log."""

    text: str


@dataclass(frozen=True)
class Checkpoint:
    """Names the step that follows (shown in the GUI, logged as a step event).

    ``info`` (a dict) is published in the runner status for displays."""

    name: str
    info: Any = None


@dataclass(frozen=True)
class Prompt:
    """A message for the operator, logged as a note.

    ``wait=False``: a note; the plan goes on at once (replies None).
    ``wait=True``: the plan holds until the operator acknowledges (GUI button, a line on
    the terminal of ``ionto run``, or at once in headless ``--prompts auto`` runs and dry
    runs), or ``timeout_s`` passes.  Currents stay as the plan left them.
    Replies a ``PromptReply``."""

    text: str
    wait: bool = True
    timeout_s: float | None = None


@dataclass(frozen=True)
class PromptReply:
    """What a blocking ``Prompt`` replies."""

    acknowledged: bool  # False: timed out
    response: str = ""
    waited_s: float = 0.0


@dataclass(frozen=True)
class ReadPipette:
    """Replies the rig's ``daq.pipette.Pipette`` (barrels, drugs, polarities, limits)."""


class EndProtocol(Exception):
    """Raise inside a plan to end the whole protocol early, on purpose (logged with the
    reason; every barrel to retain).  Unlike an error, the run is not marked failed."""


PlanCommand = (
    Eject | Retain | RetainAll | SetCurrent | Wait | WaitUntil | MeasureRate | Mark | Checkpoint | Prompt
    | ReadPipette
)
"""What a plan may yield."""

Plan = Generator[Any, Any, Any]
"""A plan: a generator of commands (its ``return`` value goes to a ``yield from`` caller)."""

CLOSED_LOOP = (WaitUntil, MeasureRate)
"""Commands whose outcome depends on the recorded data."""


def describe(cmd: object) -> str:
    """A short human description of a command (for timelines and error messages)."""
    match cmd:
        case Eject(barrel, cur, pol):
            return f"eject {barrel} {cur:g} nA" + ("" if pol is None else f" (polarity {pol:+d})")
        case Retain(barrel, None):
            return f"retain {barrel}"
        case Retain(barrel, cur):
            return f"retain {barrel} at {cur:g} nA"
        case RetainAll():
            return "retain all"
        case SetCurrent(barrel, cur):
            return f"set {barrel} to {cur:+g} nA"
        case Wait(d):
            return f"wait {d:g} s"
        case WaitUntil(_, timeout, _, desc):
            return f"wait until {desc or 'condition'} (timeout {timeout:g} s)"
        case MeasureRate(w):
            return f"measure rate over {w:g} s"
        case Mark(text):
            return f"mark {text!r}"
        case Checkpoint(name, _):
            return f"step {name!r}"
        case Prompt(text, wait, _):
            return ("prompt " if wait else "note ") + repr(text)
        case ReadPipette():
            return "read pipette"
    text = repr(cmd)
    return text if len(text) <= 80 else text[:77] + "..."
