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
the safe levels (retain, or zero) explicitly, then logs the barrels it returned to them.
Any exception in the loop becomes an ``EngineError`` event, a safe stop and the ``ERROR``
state.  A failing recorder stops the run; a recording that cannot start or close cleanly
while acquisition runs is reported and acquisition goes on.

States: IDLE → RUNNING ⇄ PAUSED → STOPPING → STOPPED (or ERROR).  Events for subscribers
(``StateChanged``, ``EventLogged``, ``EngineError``, ``EngineWarning``, ``RecordingChanged``,
``BlockDone``) are published on the engine thread; see ``daq.engine_api``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from daq.device import Device, EventSource, Restartable, TruthSource
from daq.engine_api import (
    Abort,
    AddMark,
    BlockDone,
    Call,
    Command,
    EjectBarrel,
    EngineError,
    EngineEvent,
    EngineState,
    EngineWarning,
    EventLogged,
    OnlineRate,
    Pause,
    ProtocolRunner,
    RecorderSink,
    RecordingChanged,
    Resume,
    RetainAll,
    RetainBarrel,
    SetCurrent,
    Sink,
    StartProtocol,
    StartRecording,
    StateChanged,
    Stop,
    StopRecording,
    WarningSource,
)
from daq.errors import (
    CurrentLimitError,
    EndOfDataError,
    InputOverflowError,
    IontoError,
    OutputUnderflowError,
    RecordingError,
    SinkError,
)
from daq.pipette import Pipette
from daq.schedule import AOSchedule, CurrentChange
from daq.types import AcquisitionConfig, Block, EventKind, LogEvent, StreamInfo

log = logging.getLogger(__name__)

__all__ = [
    "Abort", "AddMark", "BlockDone", "Call", "Command", "EjectBarrel", "Engine", "EngineControl", "EngineError",
    "EngineEvent", "EngineState", "EngineWarning", "EventLogged", "OnlineRate", "Pause", "ProtocolRunner",
    "RecorderSink", "RecordingChanged", "Resume", "RetainAll", "RetainBarrel", "SetCurrent", "Sink",
    "StartProtocol", "StartRecording", "StateChanged", "Stop", "StopRecording", "WarningSource",
]


def _log_failure(what: str, exc: BaseException) -> None:
    """One readable line on the log (a user's terminal); the traceback only at debug level
    (``ionto --debug``)."""
    log.warning("%s: %s", what, exc if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}")
    log.debug("%s", what, exc_info=exc)


def _sink_failed(sink: object, block: Block, exc: Exception) -> SinkError:
    err = SinkError(f"the sink {type(sink).__name__} failed on the block at sample {block.start_index}: "
                    f"{type(exc).__name__}: {exc}; the run was stopped")
    err.__cause__ = exc
    return err


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
    """Owns a device on its own thread.  ``start`` → the loop; ``submit`` commands; ``join``.

    Gaps: a block whose ``start_index`` jumps past the previous block's end is a gap; it is
    logged as a GAP event and the recorder starts a new segment, so the file never pretends
    the lost samples were there.  An ``InputOverflowError`` from the device (unread samples
    overwritten) is logged as a WARNING event and published as ``EngineWarning``; the engine
    then reads on, and the jump of the next block's ``start_index`` is recorded as the gap.
    More than ``max_overflows_in_row`` overflows in a row stop the run safely with an error.
    An ``EndOfDataError`` (a replay reached the end of its file) ends the run normally.
    """

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
        max_overflows_in_row: int = 3,
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
        self.max_overflows_in_row = max_overflows_in_row
        self.max_restarts = max_restarts  # consecutive restarts after lost samples (Restartable devices)
        self._restarts_in_a_row = 0
        self.stream: StreamInfo | None = None
        self.state = EngineState.IDLE
        self.error: str | None = None
        self.gaps = 0
        self.lost_samples = 0
        self.overflows = 0
        self._overflows_in_row = 0
        self._loss_reported = False  # an overflow/restart warning covers the next gap
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
        self._has_events = False
        self._has_truth = False

    # --- public API (any thread) -----------------------------------------------------------
    def subscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        """``callback(event)`` runs on the engine thread; it must return quickly."""
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

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

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until acquisition runs (or the engine ended before it could)."""
        return self._started.wait(timeout)

    def stop(self, timeout: float | None = 10.0) -> bool:
        self.submit(Stop())
        return self.join(timeout)

    @property
    def read_index(self) -> int:
        return self._read_index

    @property
    def recording_path(self) -> str | None:
        """The file being recorded to, if any (any thread; a snapshot)."""
        rec = self.recorder
        return None if rec is None else str(getattr(rec, "path", "")) or None

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
        # runtime Protocol checks are slow: answer them once
        self._has_events = isinstance(self.device, EventSource)
        self._has_truth = isinstance(self.device, TruthSource)
        self.stream = self.device.configure(self.config)
        if self.recorder is not None:
            self._start_recorder(self.recorder)
        for s in self.sinks:
            s.start(self.stream)
        if self.recorder is not None:
            self._pending.append(LogEvent(0, EventKind.RECORDING_START))
            self._publish(RecordingChanged(True, self.recording_path or ""))
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
            # a device that stops on lost samples (NI) is re-armed; one that reads on
            # (the simulator's overflow fault) just reports the jump as a gap
            if isinstance(self.device, Restartable):
                self._restart_after(exc)
            elif isinstance(exc, InputOverflowError):
                self._on_overflow(exc)
            else:
                raise
            return
        except EndOfDataError as exc:
            self._pending.append(LogEvent(self._read_index, EventKind.NOTE, text=f"end of data: {exc}"))
            self._stop_at = self._read_index
            return
        self._overflows_in_row = 0
        self._restarts_in_a_row = 0
        events: list[LogEvent] = []
        if block.start_index < self._read_index:
            raise IontoError(
                f"{getattr(self.device, 'name', 'device')}: block starts at sample {block.start_index}, before the "
                f"read position {self._read_index}: the device's sample count went backwards"
            )
        if block.start_index > self._read_index:
            lost = block.start_index - self._read_index
            self.gaps += 1
            self.lost_samples += lost
            events.append(LogEvent(self._read_index, EventKind.GAP, current_nA=0.0, text=f"lost {lost} samples"))
            if not self._loss_reported:  # else an overflow or restart warning said so already
                self._publish(EngineWarning(
                    f"{lost} samples ({lost / self.config.rate_hz:.3f} s) lost at sample {self._read_index}: "
                    "recorded as a gap", "device"))
        self._loss_reported = False
        if self._has_events:
            events.extend(self.device.drain_events())
        self._read_index = block.end_index
        events.extend(self._due_events(block.start_index, block.end_index))
        # sinks in order: recorder (critical), detector, display, then the protocol runner
        if self.recorder is not None:
            self.recorder.on_block(block)
            if events:
                self.recorder.on_events(events)
            if self._has_truth:
                truth = self.device.drain_truth()
                if truth:
                    self.recorder.on_truth(truth)
        elif self._has_truth:
            self.device.drain_truth()  # keep the simulator's truth buffer bounded
        for s in self.sinks:
            try:
                s.on_block(block)
                if events:
                    s.on_events(events)
            except IontoError:
                raise
            except Exception as exc:  # a bug in a sink: name it, stop safely
                raise _sink_failed(s, block, exc) from exc
        for ev in events:
            self._publish(EventLogged(ev))
        self._collect_warnings()
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

    def _on_overflow(self, exc: InputOverflowError) -> None:
        """Unread input was overwritten: warn, read on (the next block's index jump is the gap)."""
        self.overflows += 1
        self._overflows_in_row += 1
        lost = f" ({exc.lost_samples} samples lost)" if exc.lost_samples else ""
        if self._overflows_in_row > self.max_overflows_in_row:
            raise InputOverflowError(
                f"input overflow {self._overflows_in_row} times in a row{lost}: the computer cannot keep up with "
                f"the device; the run was stopped ({exc})", exc.code, exc.lost_samples,
            )
        msg = f"input overflow{lost}: reading on; the lost samples are recorded as a gap ({exc})"
        self._loss_reported = True
        self._pending.append(LogEvent(self._read_index, EventKind.WARNING, text=msg))
        self._publish(EngineWarning(msg, "device"))
        if exc.lost_samples:  # the read position moved on by that much: keep AO ahead of it
            self._top_up_ao(extra=exc.lost_samples)

    def _collect_warnings(self) -> None:
        for s in (self.recorder, *self.sinks):
            if s is not None and hasattr(s, "drain_warnings"):  # a WarningSource
                for msg in s.drain_warnings():
                    self._pending.append(LogEvent(self._read_index, EventKind.WARNING, text=msg))
                    self._publish(EngineWarning(msg, type(s).__name__))

    def _start_recorder(self, recorder: RecorderSink) -> None:
        assert self.stream is not None
        if self._has_truth:
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

    def _top_up_ao(self, extra: int = 0) -> None:
        if not self.config.ao:
            return
        target = self._ao_target() + extra
        w = self.device.ao_write_index
        if w < target:
            volts = self.schedule.render_volts(w, target - w)  # re-checks every sample
            try:
                self.device.write_ao(w, volts)
            except OutputUnderflowError as exc:
                self._restart_after(exc)  # raises again unless the device is Restartable

    def _restart_after(self, exc: InputOverflowError | OutputUnderflowError) -> None:
        """Samples were lost: on a ``Restartable`` device write the safe levels, re-arm, write
        AO from the resume index and start again (the next block's jump is logged as a gap);
        otherwise, or after ``max_restarts`` in a row, the error ends the run."""
        if not isinstance(self.device, Restartable) or self._restarts_in_a_row >= self.max_restarts:
            raise exc
        self._restarts_in_a_row += 1
        msg = f"{exc}; barrels put on safe levels and acquisition restarted (the lost samples are a gap)"
        self._loss_reported = True
        log.warning("%s", msg)
        self._pending.append(LogEvent(self._read_index, EventKind.WARNING, text=msg))
        self._publish(EngineWarning(msg, "device"))
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
            case RetainBarrel(barrel, mag):
                self.schedule.set_current(barrel, self._retain_current(barrel, mag), at, "manual")
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
                self._start_recording(recorder)
            case StopRecording():
                self._stop_recording()
            case StartProtocol(runner):
                if self.runner is not None and not self.runner.finished:
                    raise ValueError("a protocol is already running; abort it first")
                self.runner = runner
                runner.on_start(c)
            case Call(fn):
                fn(c)

    def _retain_current(self, barrel: str, magnitude_nA: float | None) -> float:
        b = self.pipette.barrel(barrel)
        if magnitude_nA is None:
            return b.safe_current_nA
        if magnitude_nA < 0:
            raise CurrentLimitError(f"barrel {barrel!r}: give the retaining current as a magnitude (>= 0 nA)")
        if b.polarity == 0:
            raise CurrentLimitError(f"barrel {barrel!r} ({b.drug}) has no drug polarity, so no retain direction")
        return float(-b.polarity * magnitude_nA)

    def _start_recording(self, recorder: RecorderSink) -> None:
        """A recording starts while acquisition runs; if it cannot, the run goes on unrecorded."""
        if self.recorder is not None:
            raise ValueError("a recording is already running; stop it first")
        try:
            self._start_recorder(recorder)
        except (RecordingError, OSError) as exc:
            self._publish(EngineError(f"recording not started: {exc}", type(exc).__name__))
            return
        self.recorder = recorder
        recorder.on_events([LogEvent(self._read_index, EventKind.RECORDING_START),
                            *self._state_events(self._read_index, "at recording start")])
        self._publish(RecordingChanged(True, self.recording_path or ""))

    def _stop_recording(self) -> None:
        if self.recorder is None:
            return
        rec, self.recorder = self.recorder, None
        path = str(getattr(rec, "path", ""))
        try:
            rec.on_events([LogEvent(self._read_index, EventKind.RECORDING_STOP)])
            rec.stop()
        except RecordingError as exc:
            self._publish(EngineError(f"the recording did not close cleanly: {exc}", type(exc).__name__))
        self._publish(RecordingChanged(False, path, int(getattr(rec, "committed_samples", 0))))

    def _fail(self, exc: BaseException) -> None:
        msg = str(exc) if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, IontoError):
            log.error("the run failed: %s", msg)
        log.debug("the run failed", exc_info=exc)
        self.error = msg
        try:
            if self.recorder is not None:
                self.recorder.on_events([LogEvent(self._read_index, EventKind.ERROR, text=msg)])
        except RecordingError as rexc:  # the recorder itself failed, or never started
            log.warning("the error could not be logged to the recording: %s", rexc)
        except Exception as lexc:
            _log_failure("could not log the error to the recording", lexc)
        self._publish(EngineError(msg, type(exc).__name__))

    def _final_events(self, safe_written: bool = True) -> list[LogEvent]:
        """Events due by the read position that no block carried (a mark just before a stop),
        and — if the safe levels were written — the barrels the safe stop returned to them."""
        due = [e for e in self._pending if e.sample_index <= self._read_index]
        self._pending = []
        if not safe_written:
            return due
        at = self._read_index
        cur = self.schedule.currents_at(max(at - 1, 0))
        for i, b in enumerate(self.pipette.barrels):
            if b.role != "balance" and abs(cur[i] - b.safe_current_nA) > 1e-6:
                due.append(LogEvent(at, EventKind(b.classify(b.safe_current_nA)), b.name, b.safe_current_nA,
                                    "safe level written at stop"))
        return due

    def _shutdown(self) -> None:
        """Stop the device and write safe levels, whatever happened.  Then stop the sinks."""
        if self.error is None and self.state != EngineState.STOPPING:
            self._set_state(EngineState.STOPPING)
        try:
            self.device.stop()
        except Exception as exc:
            _log_failure("stopping the device failed", exc)
        safe_error: BaseException | None = None
        for attempt in range(3):
            try:
                if self.config.ao:
                    self.device.write_safe(self.pipette.safe_volts().tolist())
                safe_error = None
                break
            except Exception as exc:
                safe_error = exc
                _log_failure(f"writing the safe levels failed (attempt {attempt + 1})", exc)
                time.sleep(0.05)
        if safe_error is not None:  # said even when another error ended the run: the barrels matter most
            msg = (f"could not write the safe levels to the device ({safe_error}): the barrels may not be "
                   "on retain; check them at the current source by hand")
            self.error = msg if self.error is None else f"{self.error}; {msg}"
            self._pending.append(LogEvent(self._read_index, EventKind.ERROR, text=msg))
            self._publish(EngineError(msg, "DeviceError"))
        try:
            final = self._final_events(safe_written=safe_error is None) if self.stream is not None else []
        except Exception as exc:
            _log_failure("could not gather the final events", exc)
            final = []
        path = self.recording_path
        for s in [self.recorder, *self.sinks]:
            if s is None:
                continue
            if final:
                try:
                    s.on_events(final)
                except Exception:  # a failed recorder cannot take them: its failure is reported already
                    log.warning("the final events could not be handed to %s", type(s).__name__)
            try:
                s.stop()
            except Exception as exc:
                if self.error is None:
                    self.error = str(exc) if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}"
                    self._publish(EngineError(self.error, type(exc).__name__))
                    _log_failure(f"stopping {type(s).__name__} failed", exc)
                else:  # the error that ended the run was reported already
                    log.debug("stopping %s failed", type(s).__name__, exc_info=exc)
        for ev in final:
            self._publish(EventLogged(ev))
        if path is not None:
            self._publish(RecordingChanged(False, path, int(getattr(self.recorder, "committed_samples", 0))))
        try:
            self.device.close()
        except Exception as exc:
            _log_failure("closing the device failed", exc)
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
            except Exception as exc:
                _log_failure("an engine subscriber failed", exc)
