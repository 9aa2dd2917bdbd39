"""``NullDevice``: a device that delivers zeros as fast as it is read.

Used for dry runs (the real engine and runner stepping a plan against a fake clock) and
in tests.  It keeps the AO it is given so a dry run can inspect exactly what would have
been written.

Thread: engine thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from daq.errors import DeviceError, OutputUnderflowError
from daq.types import AcquisitionConfig, Block, DeviceDescription, StreamInfo


class NullDevice:
    name = "null"

    def __init__(self, keep_ao: bool = False):
        self.keep_ao = keep_ao
        self.ao_chunks: list[np.ndarray] = []
        self.safe_writes: list[list[float]] = []
        self._config: AcquisitionConfig | None = None
        self._ao_write = 0
        self._read = 0
        self._zeros: np.ndarray | None = None

    def describe(self) -> DeviceDescription:
        return DeviceDescription("null", "ionto null device", (), (), 1e9, 1e9, simulated=True)

    def configure(self, config: AcquisitionConfig) -> StreamInfo:
        self._config = config
        n = len(config.ai)
        return StreamInfo(config.rate_hz, config.ai, np.dtype(np.int16), (1.0,) * n, (0.0,) * n)

    def start(self) -> None:
        if self._config is None:
            raise DeviceError("null: configure first")

    @property
    def ao_write_index(self) -> int:
        return self._ao_write

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        if start_index != self._ao_write:
            raise DeviceError(f"null: AO write at {start_index}, expected {self._ao_write}")
        if self.keep_ao:
            self.ao_chunks.append(np.array(volts, copy=True))
        self._ao_write += volts.shape[0]

    def read(self, n_samples: int, timeout_s: float) -> Block:
        assert self._config is not None
        if self._config.ao and self._ao_write < self._read + n_samples:
            raise OutputUnderflowError("null: AO underflow", code=-200290)
        if self._zeros is None or self._zeros.shape[0] < n_samples:
            self._zeros = np.zeros((n_samples, len(self._config.ai)), dtype=np.int16)
        b = Block(self._read, self._zeros[:n_samples])
        self._read += n_samples
        return b

    def write_safe(self, volts: Sequence[float]) -> None:
        self.safe_writes.append(list(volts))

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass
