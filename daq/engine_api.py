"""What the acquisition engine speaks: its states, the events it publishes, the commands it
takes, and the protocols of what it calls (sinks, recorder, protocol runner).

Everything here is re-exported by ``daq.engine``; import it from there.

Threads: commands are created on any thread and executed on the engine thread; events are
published on the engine thread (subscribers must return quickly, and a GUI re-emits them
as Qt signals through one bridge object).
"""

from __future__ import annotations

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
@dataclass(frozen=True)
class SetCurrent:
    """Manual: set one barrel to a signed current (nA) at the next writable sample."""

    barrel: str
    current_nA: float


@dataclass(frozen=True)
class EjectBarrel:
    """Manual: eject a barrel at ``current_nA`` (a magnitude; control barrels need ``polarity``)."""

    barrel: str
    current_nA: float
    polarity: int | None = None


@dataclass(frozen=True)
class RetainBarrel:
    """Manual: put one barrel on retain: its configured retaining current, or ``current_nA``
    (a magnitude, applied with the polarity opposite to the drug's)."""

    barrel: str
    current_nA: float | None = None


@dataclass(frozen=True)
class RetainAll:
    """Every barrel to its safe current now."""


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
    """Stop the protocol: every barrel to retain; acquisition continues unless ``stop``."""

    stop: bool = False


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


Command = (
    SetCurrent | EjectBarrel | RetainBarrel | RetainAll | AddMark | Pause | Resume | Abort | Stop
    | StartRecording | StopRecording | StartProtocol | Call
)


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
