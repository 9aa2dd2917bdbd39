"""What the acquisition engine speaks: its states, the events it publishes, the commands it
takes, and the protocols of what it calls (sinks, recorder, protocol runner).

Everything here is re-exported by ``daq.engine``; import it from there.

Threads: commands are created on any thread and executed on the engine thread; events are
published on the engine thread (subscribers must return quickly, and a GUI re-emits them
as Qt signals through one bridge object).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from daq.types import Block, LogEvent, StreamInfo

if TYPE_CHECKING:
    from daq.engine import EngineControl


class EngineState(StrEnum):
    IDLE = "idle"  # built, not started
    RUNNING = "running"
    PAUSED = "paused"  # acquiring; every barrel on retain; the protocol holds
    STOPPING = "stopping"  # a stop was asked for; safe levels are being written
    STOPPED = "stopped"  # ended normally; safe levels written
    ERROR = "error"  # ended by an error; safe levels written (``Engine.error`` says why)


TRANSITIONS: dict[EngineState, frozenset[EngineState]] = {
    EngineState.IDLE: frozenset({EngineState.RUNNING, EngineState.STOPPING}),
    EngineState.RUNNING: frozenset({EngineState.PAUSED, EngineState.STOPPING}),
    EngineState.PAUSED: frozenset({EngineState.RUNNING, EngineState.STOPPING}),
    EngineState.STOPPING: frozenset({EngineState.STOPPED, EngineState.ERROR}),
    EngineState.STOPPED: frozenset(),
    EngineState.ERROR: frozenset(),
}
"""The engine's allowed state changes.  Every way out of IDLE, RUNNING and PAUSED goes
through STOPPING, where the safe levels are written and the recording is closed; STOPPED
and ERROR are final (``Engine.stopped`` is set once one of them is reached)."""


class IllegalTransition(RuntimeError):
    """A state change ``TRANSITIONS`` does not allow (a bug in the engine)."""


# --- events the engine publishes (delivered on the engine thread) ------------------------
@dataclass(frozen=True)
class StateChanged:
    state: EngineState
    message: str = ""


@dataclass(frozen=True)
class EventLogged:
    """An entry of the event log (also handed to the recorder and the sinks)."""

    event: LogEvent


@dataclass(frozen=True)
class EngineError:
    """Something failed: a refused command (the run goes on) or the error that stopped the run."""

    message: str
    exc_type: str = ""


@dataclass(frozen=True)
class EngineWarning:
    """Something the operator should know while the run goes on (low disk space, an input
    overflow the engine recovered from)."""

    message: str
    source: str = ""


@dataclass(frozen=True)
class RecordingChanged:
    """A recording started (``recording=True``) or stopped; ``path`` names its file."""

    recording: bool
    path: str
    committed_samples: int = 0


@dataclass(frozen=True)
class BlockDone:
    """Published after every block: where acquisition stands."""

    read_index: int
    ao_write_index: int
    gaps: int
    lost_samples: int


EngineEvent = StateChanged | EventLogged | EngineError | EngineWarning | RecordingChanged | BlockDone


# --- commands (any thread enqueues; the engine thread executes) ---------------------------
# The current commands are one vocabulary: a plan yields them (``protocols.commands``
# re-exports them) and the GUI/CLI submit them to the engine as manual commands.  Their
# fields are checked when they are made, so a plan that yields ``Eject("glu", None)`` fails
# on the plan's own line.
def _check_barrel(barrel: object) -> str:
    if not isinstance(barrel, str) or not barrel:
        raise TypeError(f"a barrel is named by a non-empty string, got {barrel!r}")
    return barrel


def check_current_nA(value: object, what: str = "current_nA") -> float:
    """A current in nA as given by a plan, a protocol or the GUI: a finite real number —
    not a boolean, a string or an array.  Returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number of nA, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number of nA, got {value!r}")
    return v


@dataclass(frozen=True)
class Eject:
    """Switch a barrel to ejection at ``current_nA`` (a magnitude, nA; the sign comes from the
    barrel's polarity — control barrels, which have none, need ``polarity`` ±1)."""

    barrel: str
    current_nA: float
    polarity: int | None = None

    def __post_init__(self) -> None:
        _check_barrel(self.barrel)
        object.__setattr__(self, "current_nA", check_current_nA(self.current_nA))
        if self.polarity is not None and (isinstance(self.polarity, bool) or self.polarity not in (-1, 1)):
            raise ValueError(f"polarity must be -1 or +1 (or left out), got {self.polarity!r}")


@dataclass(frozen=True)
class Retain:
    """Put one barrel on retain: its configured retaining current (or zero, if so configured),
    or ``current_nA`` (a magnitude, applied with the polarity opposite to the drug's)."""

    barrel: str
    current_nA: float | None = None

    def __post_init__(self) -> None:
        _check_barrel(self.barrel)
        if self.current_nA is not None:
            object.__setattr__(self, "current_nA", check_current_nA(self.current_nA))


@dataclass(frozen=True)
class RetainAll:
    """Every barrel to its safe current."""


@dataclass(frozen=True)
class SetCurrent:
    """Set one barrel to a signed current (nA)."""

    barrel: str
    current_nA: float

    def __post_init__(self) -> None:
        _check_barrel(self.barrel)
        object.__setattr__(self, "current_nA", check_current_nA(self.current_nA))


CurrentCommand = Eject | Retain | RetainAll | SetCurrent


@dataclass(frozen=True)
class AddMark:
    """An operator mark in the event log, at the newest sample read."""

    text: str


@dataclass(frozen=True)
class Pause:
    """Every barrel to retain; the protocol holds."""


@dataclass(frozen=True)
class Resume:
    """The protocol continues with its next command."""


@dataclass(frozen=True)
class Abort:
    """Stop the protocol: every barrel to retain; acquisition continues unless ``stop``.
    ``reason`` is logged with the ABORT event (e.g. "SIGTERM received")."""

    stop: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Stop:
    """Stop acquisition (safe levels written)."""


@dataclass(frozen=True)
class StartRecording:
    """Start recording to ``recorder`` while acquisition runs (refused if one is running)."""

    recorder: Sink


@dataclass(frozen=True)
class StopRecording:
    """Close the current recording; acquisition continues."""


@dataclass(frozen=True)
class StartProtocol:
    runner: ProtocolRunner


@dataclass(frozen=True)
class Call:
    """Run ``fn(engine_control)`` on the engine thread (for tests and tools)."""

    fn: Callable[[EngineControl], None]


EngineCommand = (
    CurrentCommand | AddMark | Pause | Resume | Abort | Stop | StartRecording | StopRecording | StartProtocol | Call
)
"""What ``Engine.submit`` takes."""


# --- what the engine calls ----------------------------------------------------------------
@runtime_checkable
class Sink(Protocol):
    """Receives every block and every logged event, on the engine thread."""

    def start(self, stream: StreamInfo) -> None: ...

    def on_block(self, block: Block) -> None: ...

    def on_events(self, events: list[LogEvent]) -> None: ...

    def stop(self) -> None: ...


class RecorderSink(Sink, Protocol):
    """A recorder additionally receives the device's ground truth (simulated devices):
    its metadata once before ``start``, then new rows after each block."""

    def on_truth_metadata(self, metadata: Mapping[str, object]) -> None: ...

    def on_truth(self, truth: Mapping[str, object]) -> None: ...


@runtime_checkable
class WarningSource(Protocol):
    """Optional for sinks and the recorder: warnings the engine publishes as ``EngineWarning``
    and logs as WARNING events (engine thread, once per block)."""

    def drain_warnings(self) -> list[str]: ...


class OnlineRate(Protocol):
    """What closed-loop plans read: the online firing rate (any thread may call)."""

    def rate_hz(self, window_s: float, end_index: int | None = None) -> float | None: ...


@runtime_checkable
class ProtocolRunner(Protocol):
    """Steps a protocol on the engine thread; sees the engine through ``EngineControl``."""

    def on_start(self, control: EngineControl) -> None: ...

    def on_block(self, block: Block, control: EngineControl) -> None: ...

    def pause(self, control: EngineControl) -> None: ...

    def resume(self, control: EngineControl) -> None: ...

    def abort(self, control: EngineControl) -> None: ...

    @property
    def finished(self) -> bool: ...
