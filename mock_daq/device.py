"""``SimDevice``: the simulated rig as an in-process ``daq`` device.

It behaves like an NI board with AI and AO on one sample clock: AO must be written ahead
of the read position (running out raises ``OutputUnderflowError``, NI -200290, as a real
board would), the last static AO value is held after stop, and reads are paced to real
time, to a multiple of it, or run as fast as the caller reads (``speed``).

Device-level faults (see ``mock_daq.faults``):

* ``overflow`` — at the first read at or after ``at_s``, ``lost_s`` of samples are lost: the
  simulation runs through them (the preparation lives on, the AO keeps playing) but they are
  never returned.  With ``report: jump`` (default; DAQmx "overwrite unread samples") the
  block starts ``lost`` samples later — the engine records a gap — and ``drain_events``
  gives a note with the reason.  With ``report: error`` (DAQmx's default mode) that read
  raises ``InputOverflowError`` (code -200279, ``lost_samples``); a caller that reads on
  gets the later block.
* ``disconnect`` — the read whose samples reach ``at_s`` raises ``DeviceDisconnectedError``
  (code -201003), and so does every later read or write, ``write_safe`` included: the
  engine cannot put the barrels on retain, exactly as with an unplugged board.  The board
  has lost its power with its cable: its outputs, and so every barrel's current, drop to
  zero (``static_volts`` is 0 V).

A balance barrel without an analog output is balanced by the current source itself (as the
Neurophore BH-2 and the npi MVCS do): it carries the negated sum of the other barrels' currents.

A rig with ``sync_out`` sends its sync pulse train (``daq.sync.SyncTrain``): each rising edge
is a ``sync`` event (``pulse=N``) at its sample, returned with the block it falls in.

Thread: engine thread only (``describe`` from any thread).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from daq.errors import (
    ConfigError,
    DeviceDisconnectedError,
    DeviceError,
    InputOverflowError,
    OutputUnderflowError,
)
from daq.rig import RigConfig
from daq.sync import SyncTrain
from daq.trials import StimulusRequest
from daq.types import AcquisitionConfig, Block, DeviceDescription, EventKind, LogEvent, StreamInfo
from mock_daq.electrode import adc_scale_V
from mock_daq.faults import FaultTimeline
from mock_daq.model import SimConfig, check_against_rig, parse_fault, parse_sim
from mock_daq.simulation import Simulation

MAX_RATE_HZ = 250_000.0
DISCONNECT_CODE = -201003
OVERFLOW_CODE = -200279
UNDERFLOW_CODE = -200290


class SimDevice:
    """The simulated rig.  ``speed``: None = as fast as possible, 1.0 = real time, 10 = 10×.

    ``sim`` overrides the rig's ``simulation:`` section; ``seed`` overrides its seed;
    ``faults`` adds faults (mappings or fault models) to those of the rig file."""

    def __init__(self, rig: RigConfig, sim: SimConfig | None = None, *, seed: int | None = None,
                 speed: float | None = None, name: str = "sim", faults: Sequence[object] = ()):
        self.rig = rig
        source = f"rig {rig.name!r}: simulation"
        self.sim = parse_sim(rig.simulation if sim is None else sim, source, rig)
        self.seed = seed
        self.speed = speed
        self.name = name
        self.timeline = FaultTimeline(rig.rate_hz, rig.pipette.names, self.sim.faults)
        self._sim: Simulation | None = None
        self._sync: SyncTrain | None = None
        self._config: AcquisitionConfig | None = None
        self._ao_chunks: list[tuple[int, np.ndarray]] = []
        self._ao_write = 0
        self._read = 0
        self._running = False
        self._disconnected = False
        self._t0 = 0.0
        # the gain each current source really has (the simulation may say it is not the rig file's)
        self._gains = np.array([self._source_gain(b.name, b.command_gain_nA_per_V) for b in rig.pipette.barrels])
        self._ao_cols: list[int] = []
        # a balance barrel without an analog output is balanced by the current source itself
        # (Neurophore BH-2, npi MVCS: daq/current_sources.yaml)
        bal = rig.pipette.balance
        self._hw_balance = rig.pipette.balance_index if bal is not None and not bal.ao_channel else None
        self._events: list[LogEvent] = []
        self.static_volts: np.ndarray | None = None  # levels held while not generating
        self.closed = False
        for k, f in enumerate(faults):
            self._add_fault(f, f"{name}: faults[{k}]")

    def _source_gain(self, barrel: str, rig_gain: float) -> float:
        phys = self.sim.barrels.get(barrel)
        return phys.source_gain_nA_per_V if phys is not None and phys.source_gain_nA_per_V is not None else rig_gain

    # --- faults -------------------------------------------------------------------------
    def _add_fault(self, fault: object, source: str) -> None:
        f = parse_fault(fault, source)
        problems = check_against_rig(self.sim, self.rig, (f,))
        if problems:
            raise ConfigError("\n".join(f"{source}: {p.replace('faults.0.', '')}" for p in problems))
        now_s = self._read / self.rig.rate_hz
        if f.at_s < now_s:
            f = f.model_copy(update={"at_s": now_s})  # it happens now
        self.timeline.add(f)
        if self._sim is not None:
            self._sim.faults_changed()

    def inject_fault(self, fault: object) -> None:
        """Schedule a fault (a mapping such as ``{"kind": "clog", "at_s": 12, "barrel": "glu"}``
        or a fault model).  A time already past means now.  Engine thread, or before start."""
        self._add_fault(fault, f"{self.name}: fault")

    # --- Device protocol ----------------------------------------------------------------
    def physical_ai(self) -> list[str]:
        chans = [e.physical for e in self.rig.electrodes]
        chans += [b.monitor_channel for b in self.rig.pipette.barrels if b.monitor_channel]
        chans += [b.voltage_monitor_channel for b in self.rig.pipette.barrels if b.voltage_monitor_channel]
        if self.rig.marker is not None:
            chans.append(self.rig.marker.physical)
        return chans

    def physical_ao(self) -> list[str]:
        return [b.ao_channel for b in self.rig.pipette.barrels if b.ao_channel]

    def describe(self) -> DeviceDescription:
        return DeviceDescription(
            name=self.name, product=f"ionto simulated rig ({self.rig.name})",
            ai_channels=tuple(self.physical_ai()), ao_channels=tuple(self.physical_ao()),
            max_ai_rate_hz=MAX_RATE_HZ, max_ao_rate_hz=MAX_RATE_HZ, simulated=True,
            extra={"neurons": len(self.sim.neurons), "drugs": sorted(self.sim.drugs),
                   "faults": [f.kind for f in self.timeline.faults]},
        )

    def configure(self, config: AcquisitionConfig) -> StreamInfo:
        if self._disconnected:
            raise self._gone()
        if config.rate_hz > MAX_RATE_HZ:
            raise ConfigError(f"{self.name}: rate {config.rate_hz:g} Hz exceeds the maximum {MAX_RATE_HZ:g} Hz")
        if abs(config.rate_hz - self.rig.rate_hz) > 1e-9:
            raise ConfigError(
                f"{self.name}: the simulated rig runs at {self.rig.rate_hz:g} Hz (from its rig file); "
                f"got {config.rate_hz:g} Hz"
            )
        known = self.physical_ai()
        for ch in config.ai:
            if ch.physical not in known:
                raise ConfigError(f"{self.name}: no AI channel {ch.physical!r}; available: {known}")
        known_ao = self.physical_ao()
        ao_barrels = []
        for ch in config.ao:
            if ch.physical not in known_ao:
                raise ConfigError(f"{self.name}: no AO channel {ch.physical!r}; available: {known_ao}")
            ao_barrels.append(self.rig.pipette.index(ch.barrel))
        self._ao_cols = ao_barrels
        self._config = config
        # a new task: sample indices restart at 0, the faults are scheduled afresh
        self._read = self._ao_write = 0
        self._ao_chunks = []
        self._events = []
        self._running = False
        self.timeline = FaultTimeline(self.rig.rate_hz, self.rig.pipette.names, tuple(self.timeline.faults))
        self._sim = Simulation(self.rig, self.sim, config.ai, seed=self.seed, faults=self.timeline)
        # the rig's sync pulse train out (daq.sync): each rise logged as a sync event with its block
        self._sync = None if self.rig.sync_out is None else SyncTrain(self.rig.sync_out, config.rate_hz)
        n = len(config.ai)
        return StreamInfo(
            rate_hz=config.rate_hz, channels=config.ai, dtype=np.dtype(np.int16),
            scale_V=tuple(adc_scale_V(c.range_V) for c in config.ai), offset_V=(0.0,) * n,
        )

    def start(self) -> None:
        if self._disconnected:
            raise self._gone()
        if self._config is None:
            raise DeviceError(f"{self.name}: configure before start")
        self._running = True
        self._t0 = time.monotonic()

    @property
    def ao_write_index(self) -> int:
        return self._ao_write

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        if self._disconnected:
            raise self._gone()
        if start_index != self._ao_write:
            raise DeviceError(f"{self.name}: AO write at sample {start_index}, expected {self._ao_write}")
        v = np.asarray(volts, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != len(self._ao_cols):
            raise DeviceError(f"{self.name}: AO data must have shape (n, {len(self._ao_cols)}), got {v.shape}")
        # stored as commanded currents, channel-major (n_barrels, n)
        cur = np.zeros((len(self.rig.pipette.barrels), v.shape[0]))
        cur[self._ao_cols] = v.T * self._gains[self._ao_cols][:, None]
        if self._hw_balance is not None:  # the source balances: the negated sum of the others
            cur[self._hw_balance] = -np.delete(cur, self._hw_balance, axis=0).sum(axis=0)
        self._ao_chunks.append((start_index, cur))
        self._ao_write += v.shape[0]

    def _take_ao(self, start: int, n: int) -> np.ndarray:
        """Commanded barrel currents (nA, channel-major (n_barrels, n)) for samples
        start..start+n-1 from the written AO."""
        if self._ao_write < start + n and self._ao_cols:
            raise OutputUnderflowError(
                f"{self.name}: AO underflow: output needed up to sample {start + n}, "
                f"only {self._ao_write} written (NI error {UNDERFLOW_CODE})", code=UNDERFLOW_CODE,
            )
        if not self._ao_cols:
            return np.zeros((len(self.rig.pipette.barrels), n))
        parts = []
        need = start
        while need < start + n:
            s0, chunk = self._ao_chunks[0]
            off = need - s0
            k = min(chunk.shape[1] - off, start + n - need)
            parts.append(chunk[:, off:off + k])
            need += k
            if off + k >= chunk.shape[1]:
                self._ao_chunks.pop(0)
        return np.ascontiguousarray(parts[0]) if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _pace(self, until_index: int, timeout_s: float) -> None:
        if not self.speed:
            return
        due = self._t0 + until_index / (self.rig.rate_hz * self.speed)
        wait = due - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            raise DeviceError(f"{self.name}: read timed out after {timeout_s} s (NI error -200284)", code=-200284)
        if wait > 0:
            time.sleep(wait)

    def _gone(self) -> DeviceDisconnectedError:
        return DeviceDisconnectedError(
            f"{self.name}: the device was disconnected (simulated fault; NI error {DISCONNECT_CODE}: "
            "device cannot be accessed)", code=DISCONNECT_CODE)

    def read(self, n_samples: int, timeout_s: float) -> Block:
        if self._disconnected:
            raise self._gone()
        if not self._running or self._sim is None:
            raise DeviceError(f"{self.name}: read while not running")
        start = self._read
        gone_at = self.timeline.disconnect_at()
        if gone_at is not None and start + n_samples > gone_at:
            self._pace(gone_at, timeout_s)
            self._disconnected = True
            self._running = False
            self._ao_chunks.clear()
            self.static_volts = np.zeros(len(self._ao_cols))  # an unpowered board outputs 0 V
            raise self._gone()
        overflow = self.timeline.overflow_due(start)
        if overflow is not None:
            lost = max(1, round(overflow.lost_s * self.rig.rate_hz))
            self._sim.skip(start, self._take_ao(start, lost))
            self._read = start = start + lost
            text = (f"simulated fault: AI buffer overflow, {lost} samples lost "
                    f"(NI error {OVERFLOW_CODE}: unread samples were overwritten)")
            if overflow.report == "error":
                raise InputOverflowError(f"{self.name}: {text}", code=OVERFLOW_CODE, lost_samples=lost)
            self._events.append(LogEvent(start - lost, EventKind.NOTE, text=text))
        currents = self._take_ao(start, n_samples)
        data = np.ascontiguousarray(self._sim.generate_cm(start, currents).T)
        # computed first, then held until its last sample is due: a block arrives when a board
        # would deliver it, not a computation later (daq.clock_fit times the arrivals)
        self._pace(start + n_samples, timeout_s)
        self._read = start + n_samples
        if self._sync is not None:
            self._events.extend(self._sync.events(start, start + n_samples))
        return Block(start, data)

    def write_safe(self, volts: Sequence[float]) -> None:
        self._running = False
        self._ao_chunks.clear()
        if self._disconnected:
            raise self._gone()
        self.static_volts = np.asarray(volts, dtype=np.float64)

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        self._running = False
        self.closed = True

    def samples_acquired(self) -> int:
        """Samples acquired so far at this moment (NI: ``TotalSampPerChanAcquired``); at real
        time or a multiple, the pace's clock (sample i is clocked at t0 + i / rate); as fast as
        possible, what was read.  Engine thread."""
        if not self.speed or not self._running:
            return self._read
        return max(self._read, int((time.monotonic() - self._t0) * self.rig.rate_hz * self.speed) + 1)

    # --- StimulusOutput -----------------------------------------------------------------
    def show_stimulus(self, request: StimulusRequest) -> None:
        """Show a trial's stimulus (the simulated task in driven mode); engine thread."""
        if self._sim is None:
            raise DeviceError(f"{self.name}: a stimulus asked for before the device was configured")
        self._sim.show_stimulus(request)

    # --- EventSource --------------------------------------------------------------------
    def drain_events(self) -> list[LogEvent]:
        out = self._events + (self._sim.drain_events() if self._sim is not None else [])
        self._events = []
        out.sort(key=lambda e: e.sample_index)
        return out

    # --- TruthSource --------------------------------------------------------------------
    def drain_truth(self) -> dict[str, np.ndarray]:
        return self._sim.drain_truth() if self._sim is not None else {}

    def truth_metadata(self) -> dict:
        return self._sim.metadata() if self._sim is not None else {}

    @property
    def simulation(self) -> Simulation:
        """The running simulation (after ``configure``), for tools and tests."""
        if self._sim is None:
            raise DeviceError(f"{self.name}: configure first")
        return self._sim
