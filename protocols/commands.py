"""The commands a plan yields.  Small, frozen, and meaningless until a runner steps them.

Currents: ``Eject.current_nA`` is a magnitude; the sign comes from the barrel's polarity
(control barrels, which have none, need ``polarity``).  ``SetCurrent`` takes a signed value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class PlanContext(Protocol):
    """What a closed-loop condition may look at (engine thread)."""

    @property
    def now_s(self) -> float: ...

    def rate_hz(self, window_s: float) -> float | None: ...


@dataclass(frozen=True)
class Eject:
    """Switch a barrel to ejection at ``current_nA`` (magnitude, nA)."""

    barrel: str
    current_nA: float
    polarity: int | None = None


@dataclass(frozen=True)
class Retain:
    """Switch a barrel back to its retaining current (or zero, if so configured)."""

    barrel: str


@dataclass(frozen=True)
class RetainAll:
    """Every barrel to retain."""


@dataclass(frozen=True)
class SetCurrent:
    """Set a barrel to a signed current (nA)."""

    barrel: str
    current_nA: float


@dataclass(frozen=True)
class Wait:
    """Let ``duration_s`` of sample time pass."""

    duration_s: float


@dataclass(frozen=True)
class WaitUntil:
    """Wait until ``condition(context)`` is true (checked once per block) or ``timeout_s``
    passes.  The plan receives True (condition met) or False (timed out) from its ``yield``."""

    condition: Callable[[PlanContext], bool]
    timeout_s: float
    description: str = ""


@dataclass(frozen=True)
class Mark:
    """A mark in the event log."""

    text: str


@dataclass(frozen=True)
class Checkpoint:
    """Names the step that follows (shown in the GUI, logged as a step event)."""

    name: str
    info: Any = None


@dataclass(frozen=True)
class Prompt:
    """A message for the operator (logged as a note; the GUI shows it).  Does not block."""

    text: str


Command = Eject | Retain | RetainAll | SetCurrent | Wait | WaitUntil | Mark | Checkpoint | Prompt
