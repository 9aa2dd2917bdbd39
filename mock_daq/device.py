"""``SimDevice``: the simulated rig as an in-process ``daq`` device.

It behaves like an NI board with AI and AO on one sample clock: AO must be written ahead
of the read position (running out raises ``OutputUnderflowError`` as a real board would),
the last static AO value is held after stop, and reads are paced to real time, to a
multiple of it, or run as fast as the caller reads.

Thread: engine thread only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from daq.errors import ConfigError, DeviceError, OutputUnderflowError
from daq.rig import RigConfig
from daq.types import AcquisitionConfig, Block, DeviceDescription, StreamInfo
from mock_daq.model import SimConfig, parse_sim
from mock_daq.simulation import Simulation

MAX_RATE_HZ = 250_000.0


class SimDevice:
    """The simulated rig.  ``speed``: None = as fast as possible, 1.0 = real time, 10 = 10×."""

    def __init__(self, rig: RigConfig, sim: SimConfig | None = None, *, seed: int | None = None,
                 speed: float | None = None, name: str = "sim"):
        self.rig = rig
        self.sim = sim if sim is not None else parse_sim(rig.simulation, f"{rig.name}: simulation")
        self.seed = seed
        self.speed = speed
        self.name = name
        self._sim: Simulation | None = None
        self._config: AcquisitionConfig | None = None
        self._ao_chunks: list[tuple[int, np.ndarray]] = []
        self._ao_write = 0
        self._read = 0
        self._running = False
        self._t0 = 0.0
        self._gains = np.array([b.command_gain_nA_per_V for b in rig.pipette.barrels])
        self._ao_cols: list[int] = []
        self.static_volts: np.ndarray | None = None  # levels held while not generating
        self.closed = False

    # --- Device protocol ----------------------------------------------------------------
    def physical_ai(self) -> list[str]:
        chans = [e.physical for e in self.rig.electrodes]
        chans += [b.monitor_channel for b in self.rig.pipette.barrels if b.monitor_channel]
        return chans

    def physical_ao(self) -> list[str]:
        return [b.ao_channel for b in self.rig.pipette.barrels if b.ao_channel]

    def describe(self) -> DeviceDescription:
        return DeviceDescription(
            name=self.name, product=f"ionto simulated rig ({self.rig.name})",
            ai_channels=tuple(self.physical_ai()), ao_channels=tuple(self.physical_ao()),
            max_ai_rate_hz=MAX_RATE_HZ, max_ao_rate_hz=MAX_RATE_HZ, simulated=True,
        )

    def configure(self, config: AcquisitionConfig) -> StreamInfo:
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
        self._sim = Simulation(self.rig, self.sim, config.ai, seed=self.seed)
        n = len(config.ai)
        return StreamInfo(
            rate_hz=config.rate_hz, channels=config.ai, dtype=np.dtype(np.int16),
            scale_V=tuple(Simulation.scale_V(c.range_V) for c in config.ai), offset_V=(0.0,) * n,
        )

    def start(self) -> None:
        if self._config is None:
            raise DeviceError(f"{self.name}: configure before start")
        self._running = True
        self._t0 = time.monotonic()

    @property
    def ao_write_index(self) -> int:
        return self._ao_write

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        if start_index != self._ao_write:
            raise DeviceError(f"{self.name}: AO write at sample {start_index}, expected {self._ao_write}")
        v = np.asarray(volts, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != len(self._ao_cols):
            raise DeviceError(f"{self.name}: AO data must have shape (n, {len(self._ao_cols)}), got {v.shape}")
        self._ao_chunks.append((start_index, v))
        self._ao_write += v.shape[0]

    def _take_ao(self, start: int, n: int) -> np.ndarray:
        """Barrel currents (nA) for samples start..start+n-1 from the written AO."""
        if self._ao_write < start + n and self._ao_cols:
            raise OutputUnderflowError(
                f"{self.name}: AO underflow: output needed up to sample {start + n}, "
                f"only {self._ao_write} written (NI error -200290)", code=-200290,
            )
        cur = np.zeros((n, len(self.rig.pipette.barrels)))
        if not self._ao_cols:
            return cur
        parts = []
        need = start
        while need < start + n:
            s0, chunk = self._ao_chunks[0]
            off = need - s0
            k = min(chunk.shape[0] - off, start + n - need)
            parts.append(chunk[off:off + k])
            need += k
            if off + k >= chunk.shape[0]:
                self._ao_chunks.pop(0)
        volts = np.concatenate(parts)
        cur[:, self._ao_cols] = volts * self._gains[self._ao_cols]
        return cur

    def read(self, n_samples: int, timeout_s: float) -> Block:
        if not self._running or self._sim is None:
            raise DeviceError(f"{self.name}: read while not running")
        start = self._read
        if self.speed:
            due = self._t0 + (start + n_samples) / (self.rig.rate_hz * self.speed)
            wait = due - time.monotonic()
            if wait > timeout_s:
                raise DeviceError(f"{self.name}: read timed out after {timeout_s} s", code=-200284)
            if wait > 0:
                time.sleep(wait)
        currents = self._take_ao(start, n_samples)
        data = self._sim.generate(start, currents)
        self._read = start + n_samples
        return Block(start, data)

    def write_safe(self, volts: Sequence[float]) -> None:
        self._running = False
        self._ao_chunks.clear()
        self.static_volts = np.asarray(volts, dtype=np.float64)

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        self._running = False
        self.closed = True

    # --- TruthSource --------------------------------------------------------------------
    def drain_truth(self) -> dict[str, np.ndarray]:
        return self._sim.drain_truth() if self._sim is not None else {}

    def truth_metadata(self) -> dict:
        return self._sim.metadata() if self._sim is not None else {}
