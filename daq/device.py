"""The ``Device`` protocol: what the engine needs from a DAQ board (or a simulation of one).

All methods are called on the engine thread only (the one thread that owns the device),
except ``describe`` which may be called before a run from any thread.

Timing model: AI and AO run on one sample clock and start together.  Sample index *i*
of the AO buffer is generated at the same clock tick as AI sample *i*.  AO is written
ahead (non-regenerative): ``write_ao(start, volts)`` must continue exactly at
``ao_write_index``, and the engine keeps it a fixed lead ahead of the AI read position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from daq.trials import StimulusRequest
from daq.types import AcquisitionConfig, Block, DeviceDescription, LogEvent, StreamInfo


@runtime_checkable
class Device(Protocol):
    """A data-acquisition device with synchronised AI and streaming AO."""

    name: str

    def describe(self) -> DeviceDescription:
        """Product, channels and maximum rates."""
        ...

    def configure(self, config: AcquisitionConfig) -> StreamInfo:
        """Set up the channels and the sample clock; refuse what the device cannot do
        (raising ``ConfigError`` that names the device's own limits)."""
        ...

    def start(self) -> None:
        """Start AI and AO together on one start trigger.  Some AO must have been written."""
        ...

    def read(self, n_samples: int, timeout_s: float) -> Block:
        """Block until ``n_samples`` new samples are available and return them.

        The block's ``start_index`` is the device's read position: a jump over the
        previous block's end means samples were lost (reported also as a ``LogEvent``
        by ``drain_events`` where the device knows why)."""
        ...

    @property
    def ao_write_index(self) -> int:
        """Sample index of the next AO sample to be written (= samples written so far)."""
        ...

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        """Append AO samples, shape (n, n_ao), volts; ``start_index`` must equal
        ``ao_write_index``."""
        ...

    def write_safe(self, volts: Sequence[float]) -> None:
        """Stop generating buffered AO and hold these static levels (one per AO channel).

        NI analog outputs hold the last value written, so the engine calls this on every
        stop, abort, error and exit.  Must work whether or not the device is running."""
        ...

    def stop(self) -> None:
        """Stop the acquisition (buffered AI and AO)."""
        ...

    def close(self) -> None:
        """Release the device.  Idempotent."""
        ...


@runtime_checkable
class EventSource(Protocol):
    """Optional: a device that reports its own events (gaps with a reason, faults)."""

    def drain_events(self) -> list[LogEvent]:
        """Events since the last call (engine thread)."""
        ...


@runtime_checkable
class StimulusOutput(Protocol):
    """Optional: a device that shows a trial's stimulus when a protocol asks (the simulated
    task in ``driven`` mode; on NI, a strobe word and a trial line on digital outputs — not
    built yet).  The device reports the trial it showed through ``drain_events``
    (docs/trials.md).  Engine thread; ``request.start_index`` is at or after the earliest
    sample whose output can still change."""

    def show_stimulus(self, request: StimulusRequest) -> None:
        ...


@runtime_checkable
class Restartable(Protocol):
    """Optional: a device that can resume after lost samples instead of ending the run.

    When ``read`` raises ``InputOverflowError`` or ``read``/``write_ao`` raise
    ``OutputUnderflowError``, the engine (engine thread) writes the safe levels with
    ``write_safe``, calls ``rearm(error)`` — the device stops, rebuilds its tasks and returns
    the sample index acquisition will resume at (>= the old read position; ``ao_write_index``
    is then that index) — writes AO from there and calls ``start`` again.  The next block
    starts at the resume index, so the samples in between are recorded as a gap."""

    def rearm(self, error: Exception) -> int:
        ...


@runtime_checkable
class AOStatus(Protocol):
    """Optional: where a buffered analog output stands (engine thread)."""

    def ao_generated_index(self) -> int:
        """Sample index of the next AO sample the device will generate."""
        ...

    def ao_space(self) -> int:
        """Samples per channel that fit into the device's AO buffer now."""
        ...


@runtime_checkable
class TruthSource(Protocol):
    """Optional: a simulated device that knows the ground truth of what it generated.

    ``drain_truth`` returns a mapping of dataset name → new rows since the last call
    (engine thread); the recorder appends them under ``/ground_truth``.  ``truth_metadata``
    is stored once, as JSON, at the start of a recording.
    """

    def drain_truth(self) -> dict[str, np.ndarray]:
        ...

    def truth_metadata(self) -> dict:
        ...
