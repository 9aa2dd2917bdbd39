"""Helpers for the GUI tests: a window on the simulated rig, a short protocol, and a tiny
replay device (the product's ``replay:`` device belongs to the recording package; this one
exists only to drive the GUI's replay path in tests)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from daq.errors import DeviceError
from daq.recording import Recording
from daq.rig import RigConfig, parse_rig
from daq.types import AcquisitionConfig, Block, DeviceDescription, LogEvent, StreamInfo

SHORT_PROTOCOL = """\
name: short dose-response
plan: dose_response
params:
  barrel: glu
  currents_nA: [10, 20, 40, 80]
  eject_s: {eject_s}
  recovery_s: {recovery_s}
  baseline_s: {baseline_s}
"""


def write_protocol(tmp_path: Path, eject_s: float = 1.0, recovery_s: float = 1.0, baseline_s: float = 1.0) -> Path:
    p = tmp_path / "short.yaml"
    p.write_text(SHORT_PROTOCOL.format(eject_s=eject_s, recovery_s=recovery_s, baseline_s=baseline_s))
    return p


class FileReplayDevice:
    """Plays a recording back as an input-only device (test helper), paced by ``speed``."""

    def __init__(self, path: Path, speed: float | None = 1.0):
        self.rec = Recording(path)
        self.name = f"replay:{path}"
        self.speed = speed
        self._read = self.rec.first_index
        self._events = [e for e in self.rec.events]
        self._t0 = 0.0

    @property
    def end_index(self) -> int:
        return self.rec.end_index

    def describe(self) -> DeviceDescription:
        return DeviceDescription(self.name, "test replay", tuple(c.physical for c in self.rec.channels), (),
                                 self.rec.rate_hz, 0.0)

    def configure(self, config: AcquisitionConfig) -> StreamInfo:
        if config.ao:
            raise DeviceError("the replay device has no analog outputs")
        return self.rec.stream

    def start(self) -> None:
        self._t0 = time.monotonic()

    def read(self, n_samples: int, timeout_s: float) -> Block:
        start = self._read
        end_file = self.rec.end_index
        if start >= end_file:  # the file is over: wait as a board would, then say so
            time.sleep(min(timeout_s, 0.05))
            raise DeviceError(f"{self.name}: end of the recording")
        n = min(n_samples, end_file - start)
        if self.speed:
            wait = self._t0 + (start - self.rec.first_index + n) / (self.rec.rate_hz * self.speed) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        rows = self.rec.index_to_row(np.array([start]))[0]
        data = np.asarray(self.rec.raw(int(rows), int(rows) + n))
        self._read = start + n
        return Block(start, data)

    def drain_events(self) -> list[LogEvent]:
        """The recorded events whose sample the read position has reached."""
        due = [e for e in self._events if e.sample_index < self._read]
        self._events = self._events[len(due):]
        return due

    @property
    def ao_write_index(self) -> int:
        return 0

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        raise DeviceError("the replay device has no analog outputs")

    def write_safe(self, volts: Sequence[float]) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.rec.close()


def replay_opener(url: str, rig_path: object = None, *, seed: int | None = None,
                  speed: float | None = 1.0) -> tuple[FileReplayDevice, RigConfig]:
    path = Path(url.split(":", 1)[1])
    dev = FileReplayDevice(path, speed)
    return dev, parse_rig(dev.rec.rig, str(path))
