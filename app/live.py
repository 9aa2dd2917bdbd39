"""A live acquisition session: device, engine, online detector, display ring, recording, protocol.

Plain Python (no Qt), so it is testable headless; the GUI owns one and pulls snapshots.

Threads: ``connect``/``stop``/``submit``/``start_recording``/``start_protocol`` may be
called from any thread (the GUI calls ``connect`` from a worker, because opening a device can
take time); the engine runs on its own thread and calls the ``subscribe`` callbacks there;
``snapshot``/``read_since``/``monitor_currents``/``status`` are safe from any thread (they copy
under the ring's lock).  A small daemon thread polls the disk (file size, free space) so that
the GUI thread touches the disk only to check a new recording's name and folder.

Recording state is the engine's word: ``recorder`` is set when the engine publishes
``RecordingChanged(True)`` (the file exists and is being written) and cleared on
``RecordingChanged(False)`` or when the engine stops — never when a recording is merely asked
for, so a recorder that fails to start never leaves a "recording" with no file behind it.

Replay (``replay:FILE.h5``): ``replay_seek_s``, ``set_replay_speed``/``replay_faster``/
``replay_slower`` and ``pause_replay`` ask the replay device (any thread); it carries them
out at its next read on the engine thread, presenting a seek to the engine as a gap (the
device's sample index never goes back: ``daq.replay``).  ``replay_position_s`` is where the
replay is in the recording.

Stopping: ``request_stop`` only asks (any thread, signal handlers too); ``wait_stopped``
waits on the engine's ``stopped`` event, bounded (never ``Thread.join``); ``safe_confirmed``
says whether the engine wrote the safe levels.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from daq.device import Device
from daq.engine import (
    BlockDone,
    Call,
    Engine,
    EngineCommand,
    EngineControl,
    EngineEvent,
    EngineState,
    EngineWarning,
    RecordingChanged,
    StartProtocol,
    StartRecording,
    StateChanged,
    Stop,
    StopRecording,
)
from daq.errors import ConfigError, RecordingError
from daq.pipette import Pipette
from daq.recording import ProtocolInfo, Recorder
from daq.replay import ReplayDevice
from daq.rig import RigConfig
from daq.rig_check import rig_document
from daq.ring import DisplaySink
from daq.types import ChannelKind, StreamInfo
from protocols.runner import PlanRunner, RunnerStatus

if TYPE_CHECKING:  # the detector (scipy, numba) and the device openers (the simulator) load on connect
    from analysis.detect import StreamingDetector
    from app.session import LoadedPlan

Opener = Callable[..., tuple[Device, RigConfig]]
MIN_FREE_BYTES = 200 * 2**20
_GAP_WARNING = re.compile(r"lost at sample (\d+): recorded as a gap")  # daq.engine_reading's warning
REPLAY_SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
"""The steps of ``replay_faster``/``replay_slower`` (× real time)."""
RECORDING_WAIT_S = 5.0
"""How long ``start_recording``/``stop_recording`` wait for the engine's answer (it comes
within a block or two, unless the disk is very slow); after that the answer arrives later."""


def sim_presets() -> list[str]:
    """The simulator's preset names (``mock_daq/presets/*.yaml``, as ``mock_daq.list_presets``
    gives them) without importing the simulator, whose package loads scipy and numba: the
    rig window lists them before its first paint."""
    spec = importlib.util.find_spec("mock_daq")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")) if folder.is_dir() else []


ENGINE_SWITCH_INTERVAL_S = 0.001  # the GIL switch interval while an engine of a session runs in this process


class _SwitchInterval:
    """CPython's GIL switch interval held at ``ENGINE_SWITCH_INTERVAL_S`` while any session's
    engine runs, and given back when the last one stops (any thread)."""

    _lock = threading.Lock()
    _holders = 0
    _before = 0.005

    @classmethod
    def hold(cls) -> None:
        with cls._lock:
            if cls._holders == 0:
                cls._before = sys.getswitchinterval()
                sys.setswitchinterval(min(cls._before, ENGINE_SWITCH_INTERVAL_S))
            cls._holders += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._holders = max(0, cls._holders - 1)
            if cls._holders == 0:
                sys.setswitchinterval(cls._before)


@dataclass(frozen=True)
class LiveStatus:
    """Where acquisition stands (a snapshot; any thread)."""

    state: str = "disconnected"
    read_index: int = 0
    time_s: float = 0.0
    gaps: int = 0
    lost_samples: int = 0
    ao_lead_fill: float = 0.0  # AO written ahead of the read position / the engine's lead (1 = full)
    ring_fill_s: float = 0.0  # seconds held in the display ring (scroll-back)
    ring_capacity_s: float = 0.0
    recording_path: str = ""
    recording_bytes: int = 0
    free_bytes: int = 0


class DiskWatcher:
    """Polls the size of the recording and the free space of its folder on a daemon thread."""

    def __init__(self, directory: Path, period_s: float = 1.0):
        self.directory = directory
        self.path: Path | None = None
        self.period_s = period_s
        self.file_bytes = 0
        self.free_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ionto-disk", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.period_s)

    def poll(self) -> None:
        """Disk-watcher thread (or a test): refresh the figures."""
        d = self.directory
        while not d.exists() and d.parent != d:
            d = d.parent
        try:
            self.free_bytes = shutil.disk_usage(d).free
        except OSError:
            self.free_bytes = 0
        p = self.path
        try:
            self.file_bytes = p.stat().st_size if p is not None and p.exists() else 0
        except OSError:
            self.file_bytes = 0

    def close(self) -> None:
        self._stop.set()


class LiveSession:
    """One connection to a device and everything that runs on it."""

    def __init__(self, device_url: str = "sim", rig_path: str | os.PathLike[str] | None = None,
                 seed: int | None = None, speed: float | None = 1.0, display_s: float = 120.0,
                 recordings_dir: str | os.PathLike[str] = "recordings", opener: Opener | None = None,
                 block_s: float | None = None):
        """``block_s``: the engine's block length when the rig file does not set one (the rig
        window passes ``GUI_BLOCK_S``: a shorter block brings samples to the screen sooner).
        ``opener``: opens the device (default ``app.session.open_device``)."""
        self.device_url = device_url
        self.block_s = block_s
        self.rig_path = rig_path
        self.seed = seed
        self.speed = speed
        self.display_s = display_s
        self.opener = opener  # None: app.session.open_device (imported at connect)
        self.engine: Engine | None = None
        self.display: DisplaySink | None = None
        self.detector: StreamingDetector | None = None
        self.rig: RigConfig | None = None
        self.recorder: Recorder | None = None  # the recording the engine confirmed (RecordingChanged)
        self._holds_switch = False  # this session's engine holds the GIL switch interval (_SwitchInterval)
        self._asked: Recorder | None = None  # asked for, not yet answered by the engine
        self._stop_asked = False  # request_stop came while connecting: do not start the engine
        self.runner: PlanRunner | None = None
        self.protocol: ProtocolInfo | None = None
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._last_block: BlockDone | None = None
        self.disk = DiskWatcher(Path(recordings_dir))

    # --- engine events ----------------------------------------------------------------------
    def subscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        """``callback(event)`` runs on the engine thread for every event of the engine running
        now and of every engine started later — except the engine's "samples lost" warning for
        the gap a replay's seek makes (the operator asked for that jump; the event log keeps
        the gap and the device's "replay: seek to ..." note)."""
        self._listeners.append(callback)
        if self.engine is not None:
            self.engine.subscribe(self._deliver_to(callback))

    def _deliver_to(self, callback: Callable[[EngineEvent], None]) -> Callable[[EngineEvent], None]:
        def deliver(ev: EngineEvent) -> None:  # engine thread
            if not self._is_seek_gap_warning(ev):
                callback(ev)

        return deliver

    def _is_seek_gap_warning(self, ev: EngineEvent) -> bool:
        if not isinstance(ev, EngineWarning) or ev.source != "device":
            return False
        d = self.replay_device
        m = _GAP_WARNING.search(ev.message) if d is not None else None
        return m is not None and d is not None and int(m.group(1)) in d.seek_gap_starts

    def _on_engine_event(self, ev: EngineEvent) -> None:
        """Engine thread.  Runs before any other subscriber (the GUI's bridge) sees the event."""
        if isinstance(ev, BlockDone):
            self._last_block = ev
        elif isinstance(ev, RecordingChanged):
            if ev.recording:
                e = self.engine
                rec = e.recorder if e is not None else None
                self.recorder = rec if isinstance(rec, Recorder) else self._asked
                self.disk.path = Path(ev.path)
            else:
                self.recorder = None
        elif isinstance(ev, StateChanged) and ev.state in (EngineState.STOPPED, EngineState.ERROR):
            self.recorder = None  # a stopped engine records nothing (its shutdown closed the file)
            self._release_switch()

    # --- connection ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.state in (
            EngineState.IDLE, EngineState.RUNNING, EngineState.PAUSED)

    @property
    def pipette(self) -> Pipette | None:
        return self.rig.pipette if self.rig is not None else None

    @property
    def can_eject(self) -> bool:
        """False for devices without analog outputs (a replayed file): barrels are read-only."""
        return self.engine is not None and bool(self.engine.config.ao)

    @property
    def is_replay(self) -> bool:
        return self.device_url.startswith("replay:")

    def connect(self) -> None:
        """Open the device and start acquiring (raises ``IontoError`` with a clear message).
        Any thread; opening an NI device can take a second, so the GUI calls this from a worker."""
        if self.running:
            return
        self._stop_asked = False
        from analysis.detect import StreamingDetector
        from app.session import open_device

        device, rig = (self.opener or open_device)(self.device_url, self.rig_path, seed=self.seed, speed=self.speed)
        if self.block_s is not None and "block_s" not in rig.model_fields_set:
            rig = rig.model_copy(update={"block_s": self.block_s})
        self.rig = rig
        self.display = DisplaySink(self.display_s)
        self.detector = StreamingDetector()
        self.recorder = None
        self._asked = None
        self.runner = None
        self._last_block = None
        config = rig.acquisition_config()
        if self.is_replay:  # a replayed file is input only: nothing is ever written to barrels
            config = replace(config, ao=())
        # a replay device that knows where its file ends stops there, cleanly
        end = getattr(device, "end_index", None) if self.is_replay else None
        self.engine = Engine(device, config, rig.pipette, ao_lead_s=rig.ao_lead_s,
                             sinks=[self.detector, self.display], online=self.detector,
                             stop_after_samples=end if isinstance(end, int) else None)
        self.engine.subscribe(self._on_engine_event)
        for cb in self._listeners:
            self.engine.subscribe(self._deliver_to(cb))
        if self._stop_asked:  # a stop (a signal, the window closing) came while the device opened
            self.engine = None
            device.close()
            raise ConfigError(f"{self.device_url}: not started: a stop was asked for while connecting")
        # The engine thread shares this interpreter with the window.  CPython's GIL switch interval
        # (``sys.setswitchinterval``, 5 ms by default) is how long a thread that wants the GIL may
        # wait while another runs Python code; at 1 ms, while the engine runs, it hands its blocks
        # over promptly while the window draws (bench_gui, 64 channels: hand-over p99 50 -> 22 ms).
        self._holds_switch = True
        _SwitchInterval.hold()
        try:
            self.engine.start()
        except BaseException:
            self._release_switch()
            raise

    def _release_switch(self) -> None:
        """The engine ended (its thread, or ``connect``'s on a failed start): once per engine."""
        if self._holds_switch:
            self._holds_switch = False
            _SwitchInterval.release()

    def start(self) -> None:
        """Alias of ``connect`` (the first window's name)."""
        self.connect()

    def stop(self, timeout_s: float | None = 5.0) -> bool:
        """Stop acquisition (safe levels are written by the engine).  ``timeout_s=None`` or 0:
        only ask and return at once (the GUI waits for the ``stopped`` state instead)."""
        if self.engine is None:
            return True
        self.engine.submit(Stop())
        if not timeout_s:
            return False
        return self.wait_stopped(timeout_s)

    def request_stop(self, reason: str = "") -> None:
        """Every barrel to retain, the protocol aborted, acquisition stopped, the recording
        closed by the engine.  Returns at once; any thread, signal handlers too."""
        self._stop_asked = True
        e = self.engine
        if e is not None:
            e.request_stop(reason)

    def wait_stopped(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) on the engine's ``stopped`` event: True once it has
        written the safe levels and closed the recording (or never ran)."""
        e = self.engine
        return True if e is None else e.wait_stopped(timeout_s)

    @property
    def safe_confirmed(self) -> bool:
        """The engine has stopped and the device took the safe levels (True if none ran)."""
        e = self.engine
        if e is None:
            return True
        if e.stopped.is_set():
            return e.safe_levels_written
        return e.wait_stopped(0)  # True only for an engine that never started

    def close(self) -> None:
        self.stop(5.0)
        self.disk.close()

    def submit(self, command: EngineCommand) -> None:
        if self.engine is None or not self.running:
            raise RuntimeError("not acquiring: connect first")
        self.engine.submit(command)

    # --- recording ----------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def start_recording(self, path: str | os.PathLike[str], notes: str = "", overwrite: bool = False,
                        wait_s: float = RECORDING_WAIT_S) -> Path:
        """Ask the engine to start writing ``path`` while acquisition continues, and wait (at
        most ``wait_s``) for its answer.  Checks what would make the recorder fail (file exists,
        no room) here, so a bad name never stops acquisition.  ``recording`` is True only once
        the engine has started the file (``RecordingChanged``); if it could not, the engine
        publishes an ``EngineError`` ("recording not started: ...") and nothing records."""
        if self.engine is None or self.rig is None or not self.running:
            raise RecordingError("connect to a device before recording")
        if self.recorder is not None:
            raise RecordingError(f"already recording to {self.recorder.path}; stop it first")
        if self._asked is not None:
            raise RecordingError(f"a recording to {self._asked.path} is starting; wait for it or stop it")
        p = Path(path)
        if p.suffix.lower() not in (".h5", ".hdf5"):
            raise RecordingError(f"{p}: a recording file name must end in .h5")
        if p.exists() and not overwrite:
            raise RecordingError(f"{p}: file exists; choose another name")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"{p.parent}: cannot create the folder ({exc.strerror or exc})") from None
        if not os.access(p.parent, os.W_OK):
            raise RecordingError(f"{p.parent}: the folder is not writable; choose another")
        self.disk.directory = p.parent
        self.disk.poll()
        if self.disk.free_bytes < MIN_FREE_BYTES:
            raise RecordingError(f"{p.parent}: only {self.disk.free_bytes / 2**20:.0f} MiB free; "
                                 f"at least {MIN_FREE_BYTES / 2**20:.0f} MiB are needed")
        rec = Recorder(p, pipette=self.rig.pipette, rig=rig_document(self.rig, self.rig_path),
                       protocol=self.protocol or ProtocolInfo(format="manual", name="manual"),
                       notes=notes, overwrite=overwrite)
        self._asked = rec
        self.engine.submit(StartRecording(rec))
        self._answered(wait_s)
        return p

    def _answered(self, wait_s: float) -> bool:
        """Wait (at most ``wait_s``) until the engine has carried out the commands submitted so
        far (a marker command queued after them), or has stopped.  Any thread but the engine's."""
        e = self.engine
        if e is None:
            return True
        done = threading.Event()

        def mark(_c: EngineControl) -> None:
            self._asked = None  # answered: RecordingChanged (or an EngineError) came before this
            done.set()

        e.submit(Call(mark))
        deadline = time.monotonic() + max(0.0, wait_s)
        while not done.wait(0.01):
            if e.stopped.is_set():
                self._asked = None
                return True
            if time.monotonic() >= deadline:
                return False
        return True

    @property
    def recording_starting(self) -> bool:
        """A recording was asked for and the engine has not answered yet."""
        return self._asked is not None

    def stop_recording(self, wait_s: float = RECORDING_WAIT_S) -> Path | None:
        """Close the file (acquisition continues) and wait (at most ``wait_s``) until the engine
        has.  Returns its path."""
        rec = self.recorder or self._asked
        if rec is None:
            return None
        if self.engine is not None and self.running:
            self.engine.submit(StopRecording())
            self._answered(wait_s)
        return rec.path

    def add_note(self, text: str) -> None:
        """Append a note to the running recording's notes (written on the engine thread)."""
        rec = self.recorder
        if rec is None or not text.strip():
            return
        self.submit(Call(lambda _c: rec.add_note(text)))

    # --- protocol -----------------------------------------------------------------------
    def start_protocol(self, plan: LoadedPlan) -> PlanRunner:
        """Start a plan now; it is stored in the running (or next) recording."""
        if self.engine is None or not self.running:
            raise ConfigError("connect to a device before running a protocol")
        if not self.can_eject:
            raise ConfigError(f"{self.device_url}: this device has no analog outputs; protocols cannot run")
        runner = PlanRunner(plan.factory(), plan.info.name or "protocol")
        self.protocol = plan.info
        self.runner = runner
        rec = self.recorder
        info = plan.info

        def store(_c: EngineControl) -> None:
            if rec is not None:
                rec.set_protocol(info)

        self.engine.submit(Call(store))
        self.engine.submit(StartProtocol(runner))
        return runner

    # --- replay controls (any thread) ------------------------------------------------------
    @property
    def replay_device(self) -> ReplayDevice | None:
        e = self.engine
        return e.device if e is not None and isinstance(e.device, ReplayDevice) else None

    def _replay(self) -> ReplayDevice:
        d = self.replay_device
        if d is None:
            raise ConfigError(f"{self.device_url}: not a replay; seek, speed and pause are for replay:FILE.h5")
        return d

    def replay_seek_s(self, t_s: float) -> None:
        """Go on from ``t_s`` seconds into the recording (clamped to it)."""
        d = self._replay()
        d.seek(round(float(t_s) * d.recording.rate_hz))

    def set_replay_speed(self, speed: float | None) -> None:
        """× real time (None: as fast as the engine reads)."""
        self._replay().set_speed(speed)
        self.speed = speed

    def replay_faster(self) -> float:
        """The next step up of ``REPLAY_SPEEDS``; returns the new speed."""
        self._replay()
        now = self.speed or REPLAY_SPEEDS[-1]  # the speed last asked for (the device takes it at its next read)
        new = next((s for s in REPLAY_SPEEDS if s > now * 1.0001), REPLAY_SPEEDS[-1])
        self.set_replay_speed(new)
        return new

    def replay_slower(self) -> float:
        self._replay()
        now = self.speed or REPLAY_SPEEDS[-1]
        new = next((s for s in reversed(REPLAY_SPEEDS) if s < now / 1.0001), REPLAY_SPEEDS[0])
        self.set_replay_speed(new)
        return new

    def pause_replay(self, paused: bool) -> None:
        """Hold the replay where it is (acquisition goes on turning, with no new samples)."""
        self._replay().set_paused(paused)

    @property
    def replay_paused(self) -> bool:
        d = self.replay_device
        return d is not None and d.paused

    @property
    def replay_position_s(self) -> float | None:
        """Where the replay is in the recording (s from its start), or None if not a replay."""
        d = self.replay_device
        return None if d is None else d.position_s

    def protocol_status(self) -> RunnerStatus | None:
        return self.runner.status if self.runner is not None else None

    # --- data for the views (any thread) ------------------------------------------------
    @property
    def stream(self) -> StreamInfo | None:
        return self.display.stream if self.display is not None else None

    @property
    def end_index(self) -> int:
        d = self.display
        return d.ring.end_index if d is not None and d.ring is not None else 0

    def read_since(self, index: int, max_samples: int) -> tuple[int, np.ndarray] | None:
        """Raw samples from ``index`` (or the oldest still held) to the newest, at most
        ``max_samples`` (the newest ones).  Returns ``(start_index, raw)``."""
        d = self.display
        if d is None or d.ring is None:
            return None
        end = d.ring.end_index
        want = min(max(0, end - index), max_samples)
        if want <= 0:
            st = d.stream
            assert st is not None
            return end, np.zeros((0, st.n_channels), dtype=st.dtype)
        # ask for a block more: samples may arrive between end_index and the copy
        start, raw = d.ring.snapshot(want + 4096)
        skip = max(0, min(index, start + len(raw)) - start) if index > start else 0
        if len(raw) - skip > max_samples:
            skip = len(raw) - max_samples
        return start + skip, raw[skip:]

    def electrode_snapshot(self, seconds: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(time s, electrode µV) of the last ``seconds`` of the first electrode."""
        st = self.stream
        if st is None or self.display is None or self.display.ring is None:
            return None
        ch = next((i for i, c in enumerate(st.channels) if c.kind == ChannelKind.ELECTRODE), 0)
        start, raw = self.display.ring.snapshot(int(seconds * st.rate_hz), channel=ch)
        if len(raw) == 0:
            return None
        return (start + np.arange(len(raw))) / st.rate_hz, st.to_physical(raw, ch) * 1e6

    def monitor_currents(self, window_s: float = 0.1) -> dict[str, float]:
        """Mean monitored current (nA) of each barrel with a current monitor, last ``window_s``."""
        st = self.stream
        if st is None or self.display is None or self.display.ring is None:
            return {}
        _, raw = self.display.ring.snapshot(max(1, int(window_s * st.rate_hz)))
        if len(raw) == 0:
            return {}
        out = {}
        for i, c in enumerate(st.channels):
            if c.kind == ChannelKind.CURRENT_MONITOR and c.barrel:
                out[c.barrel] = float(np.mean(st.to_physical(raw[:, i], i)))
        return out

    def spike_indices(self, since_index: int = 0) -> np.ndarray:
        if self.detector is None:
            return np.zeros(0, dtype=np.int64)
        return self.detector.recent_spikes(since_index)

    def spike_times(self, since_s: float = 0.0) -> np.ndarray:
        st = self.stream
        if st is None:
            return np.zeros(0)
        return self.spike_indices(int(since_s * st.rate_hz)) / st.rate_hz

    def status(self) -> LiveStatus:
        e = self.engine
        if e is None:
            return replace(LiveStatus(), free_bytes=self.disk.free_bytes)
        st = self.stream
        rate = st.rate_hz if st is not None else e.config.rate_hz
        b = self._last_block
        read = b.read_index if b is not None else 0
        ring = self.display.ring if self.display is not None else None
        rec = self.recorder
        return LiveStatus(
            state=str(e.state), read_index=read, time_s=read / rate,
            gaps=b.gaps if b else 0, lost_samples=b.lost_samples if b else 0,
            ao_lead_fill=(min(1.0, (b.ao_write_index - read) / e.ao_lead) if b and e.config.ao else 0.0),
            ring_fill_s=(min(ring.capacity, ring.end_index) / rate if ring is not None else 0.0),
            ring_capacity_s=(ring.capacity / rate if ring is not None else 0.0),
            recording_path=str(rec.path) if rec is not None else "",
            recording_bytes=self.disk.file_bytes if rec is not None else 0,
            free_bytes=self.disk.free_bytes,
        )

