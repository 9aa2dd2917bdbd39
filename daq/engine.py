"""The acquisition engine: one thread owns the device and runs the block loop.

Each turn (DESIGN.md §3):

1. read one block of AI samples, stamped with its first sample index from the device;
   a jump in that index is a gap and is logged as one;
2. log the current changes and protocol events whose sample index the block covers;
3. hand the block (and those events) to the sinks in a fixed order: the recorder
   (critical), the online detector, the display ring buffer, then the protocol runner;
4. top up the AO from the schedule so output stays ``ao_lead_s`` ahead of the read
   position;
5. drain the command queue (manual eject/retain, mark, pause, resume, abort, stop,
   recording start/stop).  Other threads only enqueue commands; they never touch the device.

Safety: on stop, abort, error, exception and exit the engine stops the device and writes
the safe levels (retain, or zero) explicitly.  Any exception in the loop becomes an
``EngineError`` event, a safe stop and the ``ERROR`` state.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from daq.device import Device, EventSource, Restartable, TruthSource
from daq.errors import CurrentLimitError, InputOverflowError, IontoError, OutputUnderflowError
from daq.pipette import Pipette
from daq.schedule import AOSchedule, CurrentChange
from daq.types import AcquisitionConfig, Block, EventKind, LogEvent, StreamInfo

log = logging.getLogger(__name__)


class EngineState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"


# --- events the engine publishes (delivered on the engine thread) ------------------------
@dataclass(frozen=True)
class StateChanged:
    state: EngineState
    message: str = ""


@dataclass(frozen=True)
class EventLogged:
    event: LogEvent


@dataclass(frozen=True)
class EngineError:
    message: str
    exc_type: str = ""


@dataclass(frozen=True)
class BlockDone:
    """Published after every block: where acquisition stands."""

    read_index: int
    ao_write_index: int
    gaps: int
    lost_samples: int


EngineEvent = StateChanged | EventLogged | EngineError | BlockDone


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
    """Manual: put one barrel back on its retaining (safe) current."""

    barrel: str


@dataclass(frozen=True)
class RetainAll:
    """Every barrel to its safe current now."""


@dataclass(frozen=True)
class AddMark:
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
    recorder: Sink


@dataclass(frozen=True)
class StopRecording:
    pass


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


class EngineControl:
    """The engine as a protocol runner (or a ``Call``) sees it.  Engine thread only."""

    def __init__(self, engine: Engine):
        self._e = engine

    @property
    def rate_hz(self) -> float:
        return self._e.config.rate_hz

    @property
    def pipette(self) -> Pipette:
        return self._e.pipette

    @property
    def schedule(self) -> AOSchedule:
        return self._e.schedule

    @property
    def read_index(self) -> int:
        """One past the last sample read so far."""
        return self._e._read_index

    @property
    def write_index(self) -> int:
        """The earliest sample whose AO can still change."""
        return self._e.schedule.frozen_until

    @property
    def horizon_index(self) -> int:
        """AO will be written up to (not including) this sample before the next read:
        a runner must have placed every change earlier than this."""
        return self._e._ao_target()

    @property
    def online(self) -> OnlineRate | None:
        return self._e.online

    def set_currents(self, currents_nA: Mapping[str, float], at_index: int, source: str) -> list[CurrentChange]:
        return self._e.schedule.set_currents(currents_nA, max(at_index, self.write_index), source)

    def safe_all(self, at_index: int, source: str) -> list[CurrentChange]:
        return self._e.schedule.safe_all(max(at_index, self.write_index), source)

    def log(self, event: LogEvent) -> None:
        """Log an event at its sample index (emitted once the read position reaches it)."""
        self._e._pending.append(event)

    def request_stop(self, at_index: int | None = None) -> None:
        """Stop acquisition once the read position reaches ``at_index`` (now if None)."""
        self._e._stop_at = self.read_index if at_index is None else at_index


class Engine:
    """Owns a device on its own thread.  ``start`` → the loop; ``submit`` commands; ``join``."""

    def __init__(
        self,
        device: Device,
        config: AcquisitionConfig,
        pipette: Pipette,
        *,
        ao_lead_s: float = 0.25,
        sinks: Sequence[Sink] = (),
        recorder: RecorderSink | None = None,
        runner: ProtocolRunner | None = None,
        online: OnlineRate | None = None,
        stop_when_protocol_ends: bool = False,
        stop_after_samples: int | None = None,
        read_timeout_s: float = 5.0,
        max_restarts: int = 3,
    ):
        self.device = device
        self.config = config
        self.pipette = pipette
        self.schedule = AOSchedule(pipette, rate_hz=config.rate_hz)
        self.block = config.block
        # AO must always cover the next read: at least two blocks ahead of the read position
        self.ao_lead = max(round(ao_lead_s * config.rate_hz), 2 * self.block)
        self.sinks: list[Sink] = list(sinks)  # detector, display: in this order, after the recorder
        self.recorder = recorder
        self.runner = runner
        self.online = online
        self.stop_when_protocol_ends = stop_when_protocol_ends
        self.stop_after_samples = stop_after_samples
        self.read_timeout_s = read_timeout_s
        self.max_restarts = max_restarts  # consecutive restarts after lost samples (Restartable devices)
        self._restarts_in_a_row = 0
        self.stream: StreamInfo | None = None
        self.state = EngineState.IDLE
        self.error: str | None = None
        self.gaps = 0
        self.lost_samples = 0
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._subscribers: list[Callable[[EngineEvent], None]] = []
        self._thread: threading.Thread | None = None
        self._read_index = 0
        self._pending: list[LogEvent] = []
        self._stop_at: int | None = None
        self._paused = False
        self._control = EngineControl(self)
        self._lock = threading.Lock()
        self._started = threading.Event()

    # --- public API (any thread) -----------------------------------------------------------
    def subscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        """``callback(event)`` runs on the engine thread; it must return quickly."""
        with self._lock:
            self._subscribers.append(callback)

    def submit(self, command: Command) -> None:
        """Enqueue a command; the engine executes it at the end of the current turn."""
        self._commands.put(command)

    def start(self) -> None:
        """Start the engine thread (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("engine already started")
        self._thread = threading.Thread(target=self.run, name="ionto-engine", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the engine thread to end; True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float | None = 10.0) -> bool:
        self.submit(Stop())
        return self.join(timeout)

    @property
    def read_index(self) -> int:
        return self._read_index

    # --- the loop (engine thread) ------------------------------------------------------------
    def run(self) -> None:
        """The block loop.  Runs on the engine thread (or the caller's, for headless runs)."""
        try:
            self._setup()
            while self._stop_at is None or self._read_index < self._stop_at:
                self._turn()
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._shutdown()

    def _setup(self) -> None:
        self.stream = self.device.configure(self.config)
        if self.recorder is not None:
            self._start_recorder(self.recorder)
        for s in self.sinks:
            s.start(self.stream)
        self._pending.extend(self._state_events(0, "initial"))
        if self.runner is not None:
            self.runner.on_start(self._control)
        self._top_up_ao()
        self.device.start()
        self._set_state(EngineState.RUNNING)
        self._started.set()

    def _turn(self) -> None:
        n = self.block
        if self._stop_at is not None:
            n = max(1, min(n, self._stop_at - self._read_index))
        if self.stop_after_samples is not None:
            n = max(1, min(n, self.stop_after_samples - self._read_index))
        try:
            block = self.device.read(n, self.read_timeout_s)
        except (InputOverflowError, OutputUnderflowError) as exc:
            self._restart_after(exc)
            return
        self._restarts_in_a_row = 0
        events: list[LogEvent] = []
        if block.start_index > self._read_index:
            lost = block.start_index - self._read_index
            self.gaps += 1
            self.lost_samples += lost
            events.append(LogEvent(self._read_index, EventKind.GAP, text=f"lost {lost} samples"))
        if isinstance(self.device, EventSource):
            events.extend(self.device.drain_events())
        self._read_index = block.end_index
        events.extend(self._due_events(block.start_index, block.end_index))
        # sinks in order: recorder (critical), detector, display, then the protocol runner
        if self.recorder is not None:
            self.recorder.on_block(block)
            if events:
                self.recorder.on_events(events)
            if isinstance(self.device, TruthSource):
                truth = self.device.drain_truth()
                if truth:
                    self.recorder.on_truth(truth)
        elif isinstance(self.device, TruthSource):
            self.device.drain_truth()  # keep the simulator's truth buffer bounded
        for s in self.sinks:
            s.on_block(block)
            if events:
                s.on_events(events)
        for ev in events:
            self._publish(EventLogged(ev))
        if self.runner is not None:
            self.runner.on_block(block, self._control)
            if self.runner.finished and self.stop_when_protocol_ends and self._stop_at is None:
                self._stop_at = max(self.schedule.last_change_index() + 1, self._pending_max() + 1, self._read_index)
        if self.stop_after_samples is not None and self._read_index >= self.stop_after_samples:
            self._stop_at = self._read_index
        self._top_up_ao()
        self._drain_commands()
        self.schedule.prune(self._read_index - 1)
        self._publish(BlockDone(self._read_index, self.device.ao_write_index, self.gaps, self.lost_samples))

    def _start_recorder(self, recorder: RecorderSink) -> None:
        assert self.stream is not None
        if isinstance(self.device, TruthSource):
            recorder.on_truth_metadata(self.device.truth_metadata())
        recorder.start(self.stream)

    def _state_events(self, at_index: int, text: str) -> list[LogEvent]:
        """One event per commanded barrel stating its current at ``at_index``."""
        cur = self.schedule.currents_at(at_index)
        out = []
        for i, b in enumerate(self.pipette.barrels):
            if b.role == "balance":
                continue
            out.append(LogEvent(at_index, EventKind(b.classify(cur[i])), b.name, float(cur[i]), text))
        return out

    def _pending_max(self) -> int:
        return max((e.sample_index for e in self._pending), default=0)

    def _due_events(self, start: int, stop: int) -> list[LogEvent]:
        """Current changes and pending events with sample index in [start, stop), in order."""
        due: list[LogEvent] = []
        for ch in self.schedule.changes_in(start, stop):
            kind = EventKind(self.pipette.barrel(ch.barrel).classify(ch.current_nA))
            due.append(LogEvent(ch.sample_index, kind, ch.barrel, ch.current_nA, ch.source))
        keep: list[LogEvent] = []
        for ev in self._pending:
            (due if ev.sample_index < stop else keep).append(ev)
        self._pending = keep
        due.sort(key=lambda e: e.sample_index)
        return due

    def _ao_target(self) -> int:
        return self._read_index + self.ao_lead

    def _top_up_ao(self) -> None:
        if not self.config.ao:
            return
        target = self._ao_target()
        w = self.device.ao_write_index
        if w < target:
            volts = self.schedule.render_volts(w, target - w)  # re-checks every sample
            try:
                self.device.write_ao(w, volts)
            except OutputUnderflowError as exc:
                self._restart_after(exc)

    def _restart_after(self, exc: InputOverflowError | OutputUnderflowError) -> None:
        """Samples were lost: on a ``Restartable`` device write the safe levels, re-arm, write
        AO from the resume index and start again (the next block's jump is logged as a gap);
        otherwise, or after ``max_restarts`` in a row, the error ends the run."""
        if not isinstance(self.device, Restartable) or self._restarts_in_a_row >= self.max_restarts:
            raise exc
        self._restarts_in_a_row += 1
        log.warning("%s; restarting the acquisition", exc)
        self._publish(EngineError(f"{exc}; acquisition restarted", type(exc).__name__))
        if self.config.ao:
            self.device.write_safe(self.pipette.safe_volts().tolist())
            safe = self.pipette.safe_currents_nA()
            self._pending.extend(
                LogEvent(self._read_index, EventKind(b.classify(safe[i])), b.name, float(safe[i]),
                         "safe levels while restarting")
                for i, b in enumerate(self.pipette.barrels) if b.role != "balance")
        resume = self.device.rearm(exc)
        self._pending.extend(self._state_events(resume, "after the gap"))
        if self.config.ao:
            self.device.write_ao(resume, self.schedule.render_volts(resume, self.ao_lead))
        self.device.start()

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._execute(cmd)
            except (CurrentLimitError, KeyError, ValueError) as exc:
                # a refused manual command is not a failure of the run: say so, keep going
                msg = str(exc.args[0]) if exc.args else str(exc)
                self._publish(EngineError(f"command refused: {msg}", type(exc).__name__))

    def _execute(self, cmd: Command) -> None:
        at = self.schedule.frozen_until
        c = self._control
        match cmd:
            case SetCurrent(barrel, cur):
                self.schedule.set_current(barrel, cur, at, "manual")
            case EjectBarrel(barrel, mag, pol):
                cur = self.pipette.barrel(barrel).eject_current_nA(mag, pol)
                self.schedule.set_current(barrel, cur, at, "manual")
            case RetainBarrel(barrel):
                self.schedule.set_current(barrel, self.pipette.barrel(barrel).safe_current_nA, at, "manual")
            case RetainAll():
                self.schedule.safe_all(at, "all to retain")
            case AddMark(text):
                c.log(LogEvent(self._read_index, EventKind.MARK, text=text))
            case Pause():
                if not self._paused:
                    self._paused = True
                    self.schedule.safe_all(at, "pause")
                    c.log(LogEvent(at, EventKind.PAUSE))
                    if self.runner is not None:
                        self.runner.pause(c)
                    self._set_state(EngineState.PAUSED)
            case Resume():
                if self._paused:
                    self._paused = False
                    c.log(LogEvent(at, EventKind.RESUME))
                    if self.runner is not None:
                        self.runner.resume(c)
                    self._set_state(EngineState.RUNNING)
            case Abort(stop):
                self.schedule.safe_all(at, "abort")
                c.log(LogEvent(at, EventKind.ABORT))
                if self.runner is not None:
                    self.runner.abort(c)
                if self._paused:
                    self._paused = False
                    self._set_state(EngineState.RUNNING)
                if stop:
                    self._stop_at = at
            case Stop():
                self._stop_at = self._read_index
                self._set_state(EngineState.STOPPING)
            case StartRecording(recorder):
                if self.recorder is not None:
                    raise ValueError("a recording is already running; stop it first")
                self._start_recorder(recorder)
                self.recorder = recorder
                recorder.on_events(
                    [LogEvent(self._read_index, EventKind.RECORDING_START),
                     *self._state_events(self._read_index, "at recording start")]
                )
            case StopRecording():
                if self.recorder is not None:
                    rec, self.recorder = self.recorder, None
                    rec.on_events([LogEvent(self._read_index, EventKind.RECORDING_STOP)])
                    rec.stop()
            case StartProtocol(runner):
                if self.runner is not None and not self.runner.finished:
                    raise ValueError("a protocol is already running; abort it first")
                self.runner = runner
                runner.on_start(c)
            case Call(fn):
                fn(c)

    def _fail(self, exc: BaseException) -> None:
        msg = str(exc) if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, IontoError):
            log.exception("engine failed")
        self.error = msg
        try:
            self._pending.append(LogEvent(self._read_index, EventKind.ERROR, text=msg))
            if self.recorder is not None:
                self.recorder.on_events([LogEvent(self._read_index, EventKind.ERROR, text=msg)])
        except Exception:
            log.exception("could not log the error to the recording")
        self._publish(EngineError(msg, type(exc).__name__))

    def _shutdown(self) -> None:
        """Stop the device and write safe levels, whatever happened.  Then stop the sinks."""
        try:
            self.device.stop()
        except Exception:
            log.exception("device stop failed")
        safe_ok = False
        for attempt in range(3):
            try:
                if self.config.ao:
                    self.device.write_safe(self.pipette.safe_volts().tolist())
                safe_ok = True
                break
            except Exception:
                log.exception("writing safe levels failed (attempt %d)", attempt + 1)
                time.sleep(0.05)
        if not safe_ok and self.error is None:
            self.error = "could not write the safe levels to the device: check the barrels by hand"
            self._publish(EngineError(self.error, "DeviceError"))
        for s in [self.recorder, *self.sinks]:
            if s is None:
                continue
            try:
                s.stop()
            except Exception as exc:
                log.exception("sink stop failed")
                if self.error is None:
                    self.error = f"{type(exc).__name__}: {exc}"
                    self._publish(EngineError(self.error, type(exc).__name__))
        try:
            self.device.close()
        except Exception:
            log.exception("device close failed")
        self._set_state(EngineState.ERROR if self.error else EngineState.STOPPED, self.error or "")
        self._started.set()

    def _set_state(self, state: EngineState, message: str = "") -> None:
        self.state = state
        self._publish(StateChanged(state, message))

    def _publish(self, event: EngineEvent) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(event)
            except Exception:
                log.exception("engine subscriber failed")
