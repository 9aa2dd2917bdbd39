"""The acquisition engine: one thread owns the device and runs the block loop.

Each turn (DESIGN.md §3):

1. read one block of AI samples, stamped with its first sample index from the device;
   a jump in that index is a gap and is logged as one;
2. log the current changes and protocol events whose sample index the block covers;
3. hand the block (and those events) to the sinks in a fixed order: the recorder
   (critical), the online detector, the display ring buffer; check the current monitors
   against the commands (``daq.monitor_watch``); then step the protocol runner;
4. top up the AO from the schedule so output stays ``ao_lead_s`` ahead of the read
   position;
5. drain the command queue (``daq.engine_commands``).  Other threads only enqueue
   commands; they never touch the device.

States and their allowed changes are ``daq.engine_api.TRANSITIONS``: IDLE → RUNNING ⇄ PAUSED
→ STOPPING → STOPPED (or ERROR).  Every stop — the end of the protocol, Abort, Stop, an
error, ``request_stop`` from a signal handler or a closing window — goes through STOPPING
and ``_shutdown``, the one place that stops the device, writes the safe levels (retain, or
0 V after a monitor trip), logs them, closes the recording and the device, and finally sets
``stopped``.  Waiters wait on that event, never on ``Thread.join`` (a join interrupted by
Ctrl-C returns at once on CPython ≤ 3.12).

Events for subscribers (``StateChanged``, ``EventLogged``, ``EngineError``,
``EngineWarning``, ``RecordingChanged``, ``BlockDone``) are published on the engine thread;
see ``daq.engine_api``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from daq.device import Device, EventSource, StimulusOutput, TruthSource
from daq.engine_api import (
    TRANSITIONS,
    Abort,
    AddMark,
    BlockDone,
    Call,
    Eject,
    EngineCommand,
    EngineError,
    EngineEvent,
    EngineState,
    EngineWarning,
    EventLogged,
    IllegalTransition,
    OnlineRate,
    Pause,
    ProtocolRunner,
    RecorderSink,
    RecordingChanged,
    Resume,
    Retain,
    RetainAll,
    SetCurrent,
    Sink,
    StartProtocol,
    StartRecording,
    StateChanged,
    Stop,
    StopRecording,
    WarningSource,
)
from daq.engine_commands import execute
from daq.engine_reading import BlockReader
from daq.engine_recording import RecordingSlot
from daq.errors import (
    ConfigError,
    CurrentLimitError,
    IontoError,
    OutputUnderflowError,
    SinkError,
)
from daq.monitor_watch import MonitorLimits, MonitorTripped, MonitorWatchdog
from daq.pipette import Pipette
from daq.schedule import AOSchedule, CurrentChange
from daq.trials import VALIDITY_KINDS, StimulusRequest
from daq.types import AcquisitionConfig, Block, EventKind, LogEvent, StreamInfo

log = logging.getLogger(__name__)
DEFAULT_MONITOR = MonitorLimits()

__all__ = [
    "Abort", "AddMark", "BlockDone", "Call", "Eject", "Engine", "EngineCommand", "EngineControl", "EngineError",
    "EngineEvent", "EngineState", "EngineWarning", "EventLogged", "IllegalTransition", "MonitorLimits", "OnlineRate",
    "Pause", "ProtocolRunner", "RecorderSink", "RecordingChanged", "Resume", "Retain", "RetainAll", "SetCurrent",
    "Sink", "StartProtocol", "StartRecording", "StateChanged", "Stop", "StopRecording", "WarningSource",
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
        return self._e.read_index

    @property
    def write_index(self) -> int:
        """The earliest sample whose AO can still change."""
        return self._e.schedule.frozen_until

    @property
    def horizon_index(self) -> int:
        """AO will be written up to (not including) this sample before the next read:
        a runner must have placed every change earlier than this."""
        return self._e.ao_target()

    @property
    def online(self) -> OnlineRate | None:
        return self._e.online

    def set_currents(self, currents_nA: Mapping[str, float], at_index: int, source: str) -> list[CurrentChange]:
        return self._e.schedule.set_currents(currents_nA, max(at_index, self.write_index), source)

    def safe_all(self, at_index: int, source: str) -> list[CurrentChange]:
        return self._e.schedule.safe_all(max(at_index, self.write_index), source)

    def log(self, event: LogEvent) -> None:
        """Log an event at its sample index (emitted once the read position reaches it)."""
        self._e.pending.append(event)

    @property
    def trial_events(self) -> list[LogEvent]:
        """The events trial validity depends on (``daq.trials.VALIDITY_KINDS``: trials, drug
        blocks, current changes, pauses), logged so far, in sample order (docs/trials.md)."""
        return self._e.trial_log

    def show_stimulus(self, request: StimulusRequest) -> None:
        """Ask the device to show a trial's stimulus (``daq.device.StimulusOutput``); the
        device reports what it showed as trial events (docs/trials.md)."""
        dev = self._e.device
        if not isinstance(dev, StimulusOutput):
            raise ConfigError(f"device {getattr(dev, 'name', '?')!r} cannot show stimuli: a protocol that drives the "
                              "stimulus needs a device with a stimulus output (sim:gain with simulation.stimulus.mode: "
                              "driven; docs/trials.md)")
        if request.start_index < self.write_index:
            raise ValueError(f"stimulus at sample {request.start_index} is before the earliest writable sample "
                             f"{self.write_index}")
        dev.show_stimulus(request)

    def request_stop(self, at_index: int | None = None) -> None:
        """Stop acquisition once the read position reaches ``at_index`` (now if None)."""
        self._e.begin_stop(self.read_index if at_index is None else at_index)


class Engine:
    """Owns a device on its own thread.  ``start`` → the loop; ``submit`` commands;
    ``request_stop`` from anywhere (signal handlers too); wait on ``stopped``.

    Gaps: a block whose ``start_index`` jumps past the previous block's end is a gap; it is
    logged as a GAP event and the recorder starts a new segment, so the file never pretends
    the lost samples were there.  An ``InputOverflowError`` from the device (unread samples
    overwritten) is logged as a WARNING event and published as ``EngineWarning``; the engine
    then reads on, and the jump of the next block's ``start_index`` is recorded as the gap.
    More than ``max_overflows_in_row`` overflows in a row stop the run safely with an error.
    An ``EndOfDataError`` (a replay reached the end of its file) ends the run normally.

    ``monitor``: how far a barrel's monitored current may stray from its command before the
    run is stopped with every output at 0 V (None: not checked, e.g. for a replay).
    ``stop_grace_s``: after a stop was asked for, the engine reads on until the retain it
    placed has been generated (about ``ao_lead_s``), but no longer than this wall time.
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
        monitor: MonitorLimits | None = DEFAULT_MONITOR,
        stop_grace_s: float = 2.0,
    ):
        self.device = device
        self.config = config
        self.pipette = pipette
        self.schedule = AOSchedule(pipette, rate_hz=config.rate_hz)
        self.block = config.block
        # AO must always cover the next read: at least two blocks ahead of the read position
        self.ao_lead = max(round(ao_lead_s * config.rate_hz), 2 * self.block)
        self.sinks: list[Sink] = list(sinks)  # detector, display: in this order, after the recorder
        self.recording = RecordingSlot(self, recorder)
        self.runner = runner
        self.online = online
        self.stop_when_protocol_ends = stop_when_protocol_ends
        self.stop_after_samples = stop_after_samples
        self.read_timeout_s = read_timeout_s
        # gaps, lost samples and the restart policy (consecutive restarts on Restartable devices)
        self.reader = BlockReader(self, max_overflows_in_row=max_overflows_in_row, max_restarts=max_restarts)
        self.monitor_limits = monitor
        self.monitor: MonitorWatchdog | None = None
        self.stop_grace_s = stop_grace_s
        self.stream: StreamInfo | None = None
        self.state = EngineState.IDLE
        self.error: str | None = None
        self.safe_levels_written = False  # set by the shutdown once the device confirmed them
        self.control = EngineControl(self)
        self.pending: list[LogEvent] = []  # events logged ahead of the read position
        self.trial_log: list[LogEvent] = []  # what trial validity depends on, logged so far (docs/trials.md)
        self.stopped = threading.Event()  # set at the very end of the shutdown
        self.has_events = False
        self.has_truth = False
        self._commands: queue.SimpleQueue[EngineCommand] = queue.SimpleQueue()
        self._subscribers: list[Callable[[EngineEvent], None]] = []
        self._thread: threading.Thread | None = None
        self._read_index = 0
        self._stop_at: int | None = None
        self._stop_deadline: float | None = None
        self._safe_override_V: np.ndarray | None = None
        self._lock = threading.Lock()
        self._started = threading.Event()

    # --- public API (any thread) -----------------------------------------------------------
    def subscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        """``callback(event)`` runs on the engine thread; it must return quickly."""
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def submit(self, command: EngineCommand) -> None:
        """Enqueue a command; the engine executes it at the end of the current turn."""
        self._commands.put(command)

    def request_stop(self, reason: str = "") -> None:
        """Every barrel to retain, the protocol aborted, then stop: the safe levels are written
        and the recording closed before ``stopped`` is set.  Returns at once.  Safe to call
        from any thread and from a signal handler (it only enqueues), and more than once."""
        self._commands.put(Abort(stop=True, reason=reason))

    def start(self) -> None:
        """Start the engine thread (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("engine already started")
        self._thread = threading.Thread(target=self.run, name="ionto-engine", daemon=True)
        self._thread.start()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the shutdown has written the safe levels and closed the recording."""
        if self._thread is None and self.state == EngineState.IDLE:
            return True  # never started: nothing to stop
        return self.stopped.wait(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the engine to stop (``wait_stopped``); True once it has."""
        return self.wait_stopped(timeout)

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until acquisition runs (or the engine ended before it could)."""
        return self._started.wait(timeout)

    def stop(self, timeout: float | None = 10.0) -> bool:
        self.submit(Stop())
        return self.wait_stopped(timeout)

    @property
    def read_index(self) -> int:
        return self._read_index

    @property
    def gaps(self) -> int:
        return self.reader.gaps

    @property
    def lost_samples(self) -> int:
        return self.reader.lost_samples

    @property
    def overflows(self) -> int:
        return self.reader.overflows

    @property
    def recorder(self) -> RecorderSink | None:
        return self.recording.recorder

    @property
    def recording_path(self) -> str | None:
        """The file being recorded to, if any (any thread; a snapshot)."""
        return self.recording.path

    # --- what the command handlers and the recording slot use (engine thread) -----------------
    def set_state(self, state: EngineState, message: str = "") -> None:
        if state == self.state and not message:
            return
        if state != self.state and state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"engine state {self.state} -> {state} is not allowed")
        self.state = state
        self.publish(StateChanged(state, message))

    def begin_stop(self, at_index: int) -> None:
        """Stop once the read position reaches ``at_index`` (or ``stop_grace_s`` has passed)."""
        self._stop_at = at_index if self._stop_at is None else min(self._stop_at, at_index)
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self.stop_grace_s
        if self.state in (EngineState.RUNNING, EngineState.PAUSED):
            self.set_state(EngineState.STOPPING)

    def ao_target(self) -> int:
        return self._read_index + self.ao_lead

    def state_events(self, at_index: int, text: str) -> list[LogEvent]:
        """One event per commanded barrel stating its current at ``at_index``."""
        cur = self.schedule.currents_at(at_index)
        return [LogEvent(at_index, EventKind(b.classify(cur[i])), b.name, float(cur[i]), text)
                for i, b in enumerate(self.pipette.barrels) if b.role != "balance"]

    def publish(self, event: EngineEvent) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(event)
            except Exception as exc:
                _log_failure("an engine subscriber failed", exc)

    # --- the loop (engine thread) ------------------------------------------------------------
    def run(self) -> None:
        """The block loop.  Runs on the engine thread (or the caller's, for headless runs)."""
        try:
            self._setup()
            while not self._should_end():
                self._turn()
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._shutdown()

    def _should_end(self) -> bool:
        if self._stop_at is not None and self._read_index >= self._stop_at:
            return True
        if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
            log.info("the stop's grace time passed before the retain was generated; stopping now")
            return True
        return False

    def _setup(self) -> None:
        # runtime Protocol checks are slow: answer them once
        self.has_events = isinstance(self.device, EventSource)
        self.has_truth = isinstance(self.device, TruthSource)
        self.stream = self.device.configure(self.config)
        if self.monitor_limits is not None and self.config.ao:
            self.monitor = MonitorWatchdog(self.stream, self.pipette, self.monitor_limits)
        self.recording.open_initial()
        for s in self.sinks:
            s.start(self.stream)
        # the initial state goes into the log before anything a protocol places at sample 0
        self.pending.extend(self.state_events(0, "initial"))
        if self.runner is not None:
            self.runner.on_start(self.control)
        self.top_up_ao()
        self.device.start()
        self.set_state(EngineState.RUNNING)
        self._started.set()

    def _turn(self) -> None:
        n = self.block
        if self._stop_at is not None:
            n = max(1, min(n, self._stop_at - self._read_index))
        if self.stop_after_samples is not None:
            n = max(1, min(n, self.stop_after_samples - self._read_index))
        block = self.reader.read(n, self.read_timeout_s)
        if block is None:  # samples were lost and handled, or a replay ended
            return
        events = self.reader.gap_before(block)
        if self.has_events:
            events.extend(self.device.drain_events())
        self._read_index = block.end_index
        events.extend(self._due_events(block.start_index, block.end_index))
        self._to_sinks(block, events)
        self.trial_log.extend(sorted((e for e in events if e.kind in VALIDITY_KINDS), key=lambda e: e.sample_index))
        for ev in events:
            self.publish(EventLogged(ev))
        self._collect_warnings()
        if self.monitor is not None and self.monitor.active:
            tripped = self.monitor.check(block, self.schedule.render_nA(block.start_index, block.n_samples))
            if tripped:
                self._safe_override_V = np.zeros(len(self.config.ao))
                raise MonitorTripped(tripped)
        if self.runner is not None:
            self.runner.on_block(block, self.control)
            if self.runner.finished and self.stop_when_protocol_ends and self._stop_at is None:
                self._stop_at = max(self.schedule.last_change_index() + 1, self._pending_max() + 1, self._read_index)
        if self.stop_after_samples is not None and self._read_index >= self.stop_after_samples:
            self._stop_at = self._read_index
        self.top_up_ao()
        self._drain_commands()
        self.schedule.prune(self._read_index - 1)
        self.publish(BlockDone(self._read_index, self.device.ao_write_index, self.gaps, self.lost_samples))

    def _to_sinks(self, block: Block, events: list[LogEvent]) -> None:
        """Sinks in order: the recorder (critical: its errors stop the run), then the others."""
        rec = self.recording.recorder
        if rec is not None:
            rec.on_block(block)
            if events:
                rec.on_events(events)
            if self.has_truth:
                truth = self.device.drain_truth()
                if truth:
                    rec.on_truth(truth)
        elif self.has_truth:
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

    def _collect_warnings(self) -> None:
        for s in (self.recording.recorder, *self.sinks):
            if s is not None and hasattr(s, "drain_warnings"):  # a WarningSource
                for msg in s.drain_warnings():
                    self.pending.append(LogEvent(self._read_index, EventKind.WARNING, text=msg))
                    self.publish(EngineWarning(msg, type(s).__name__))

    def _pending_max(self) -> int:
        return max((e.sample_index for e in self.pending), default=0)

    def _due_events(self, start: int, stop: int) -> list[LogEvent]:
        """Pending events and current changes with sample index in [start, stop), in sample
        order; at one sample the pending events (a state logged before a protocol placed a
        change there) come first, so the log ends on what the device got."""
        due: list[LogEvent] = []
        keep: list[LogEvent] = []
        for ev in self.pending:
            (due if ev.sample_index < stop else keep).append(ev)
        self.pending = keep
        for ch in self.schedule.changes_in(start, stop):
            kind = EventKind(self.pipette.barrel(ch.barrel).classify(ch.current_nA))
            due.append(LogEvent(ch.sample_index, kind, ch.barrel, ch.current_nA, ch.source))
        due.sort(key=lambda e: e.sample_index)  # stable: pending first at equal samples
        return due

    def top_up_ao(self, extra: int = 0) -> None:
        if not self.config.ao:
            return
        target = self.ao_target() + extra
        w = self.device.ao_write_index
        if w < target:
            volts = self.schedule.render_volts(w, target - w)  # re-checks every sample
            try:
                self.device.write_ao(w, volts)
            except OutputUnderflowError as exc:
                self.reader.restart_after(exc)  # raises again unless the device is Restartable

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                execute(self, cmd)
            except (CurrentLimitError, KeyError, ValueError) as exc:
                # a refused manual command is not a failure of the run: say so, keep going
                msg = str(exc.args[0]) if exc.args else str(exc)
                self.publish(EngineError(f"command refused: {msg}", type(exc).__name__))

    # --- the end (engine thread) -------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        msg = str(exc) if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, IontoError):
            log.error("the run failed: %s", msg)
        log.debug("the run failed", exc_info=exc)
        self.error = msg
        self.pending.append(LogEvent(self._read_index, EventKind.ERROR, text=msg))
        self.publish(EngineError(msg, type(exc).__name__))

    def _shutdown(self) -> None:
        """The one way out, whatever happened: stop the device, write the safe levels, log
        them, close the recording and the sinks, close the device, enter STOPPED or ERROR,
        and set ``stopped``.  No step may keep a later one from running."""
        try:
            if self.state in (EngineState.IDLE, EngineState.RUNNING, EngineState.PAUSED):
                self.set_state(EngineState.STOPPING)
            self._guarded("stopping the device", self.device.stop)
            self.safe_levels_written = self._write_safe_levels()
            self._guarded("collecting the last warnings", self._collect_warnings)
            final = self._final_events() if self.stream is not None else []
            self._close_sinks(final)
            self._guarded("closing the device", self.device.close)
            self.set_state(EngineState.ERROR if self.error else EngineState.STOPPED, self.error or "")
        except BaseException as exc:  # a bug in the shutdown itself: still end, loudly
            log.error("the engine's shutdown failed: %s: %s", type(exc).__name__, exc)
            self.state = EngineState.ERROR
            self.error = self.error or f"shutdown failed: {type(exc).__name__}: {exc}"
        finally:
            self._started.set()
            self.stopped.set()

    @staticmethod
    def _guarded(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            _log_failure(f"{what} failed", exc)

    def _safe_volts(self) -> np.ndarray:
        if self._safe_override_V is not None:
            return self._safe_override_V
        return np.asarray(self.pipette.safe_volts(), dtype=np.float64)

    def _write_safe_levels(self) -> bool:
        """Write the safe levels (three tries).  False, with an error naming the barrels'
        risk, if the device never took them."""
        if not self.config.ao:
            return True
        error: BaseException | None = None
        for attempt in range(3):
            try:
                self.device.write_safe(self._safe_volts().tolist())
                return True
            except Exception as exc:
                error = exc
                _log_failure(f"writing the safe levels failed (attempt {attempt + 1})", exc)
                time.sleep(0.05)
        # said even when another error ended the run: the barrels matter most
        msg = (f"could not write the safe levels to the device ({error}): the barrels may not be "
               "on retain; check them at the current source by hand")
        self.error = msg if self.error is None else f"{self.error}; {msg}"
        self.pending.append(LogEvent(self._read_index, EventKind.ERROR, text=msg))
        self.publish(EngineError(msg, "DeviceError"))
        return False

    def _final_events(self) -> list[LogEvent]:
        """Events due by the read position that no block carried (a mark or an error just
        before the stop), and — if the safe levels were written — the barrels the stop
        returned to them."""
        due = sorted((e for e in self.pending if e.sample_index <= self._read_index), key=lambda e: e.sample_index)
        due = [LogEvent(min(e.sample_index, self._read_index), e.kind, e.barrel, e.current_nA, e.text) for e in due]
        self.pending = []
        if not self.safe_levels_written or not self.config.ao:
            return due
        at = self._read_index
        cur = self.schedule.currents_at(max(at - 1, 0))
        zero = self._safe_override_V is not None  # a monitor trip: 0 V, not retain
        for i, b in enumerate(self.pipette.barrels):
            if b.role == "balance":
                continue
            target = 0.0 if zero else b.safe_current_nA
            if abs(cur[i] - target) > 1e-6:
                text = "0 V written at stop" if zero else "safe level written at stop"
                due.append(LogEvent(at, EventKind(b.classify(target)), b.name, target, text))
        return due

    def _close_sinks(self, final: list[LogEvent]) -> None:
        rec = self.recording.recorder
        path = self.recording.path
        for s in [rec, *self.sinks]:
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
                    self.publish(EngineError(self.error, type(exc).__name__))
                    _log_failure(f"stopping {type(s).__name__} failed", exc)
                else:  # the error that ended the run was reported already
                    log.debug("stopping %s failed", type(s).__name__, exc_info=exc)
        for ev in final:
            self.publish(EventLogged(ev))
        if path is not None:
            self.publish(RecordingChanged(False, path, self.recording.committed_samples))
