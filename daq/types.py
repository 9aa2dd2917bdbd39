"""Plain data types shared by devices, the engine, the recorder and the analysis.

Sample indices are the device's own sample-clock counts (0 = the first sample after
start); they never come from wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class ChannelKind(StrEnum):
    """What an analog input channel carries."""

    ELECTRODE = "electrode"  # extracellular voltage (after the amplifier)
    CURRENT_MONITOR = "current_monitor"  # a barrel's current monitor output
    MARKER = "marker"  # a digital marker line read as a voltage
    OTHER = "other"


TERMINAL_CONFIGS = ("default", "RSE", "NRSE", "DIFF", "PSEUDO_DIFF")


@dataclass(frozen=True)
class AIChannel:
    """One analog input.

    ``physical`` is the device's channel name (``Dev1/ai0``, ``sim/ai0``); ``name`` is ours.
    The physical quantity is ``volts_at_adc / gain`` in ``units``: for an electrode
    behind a x1000 amplifier, ``gain=1000`` and ``units="V"`` give volts at the electrode;
    a current monitor has ``units="nA"`` and ``gain`` = its monitor gain in V/nA.
    """

    name: str
    physical: str
    kind: ChannelKind = ChannelKind.ELECTRODE
    range_V: float = 10.0
    terminal: str = "default"
    units: str = "V"
    gain: float = 1.0
    barrel: str | None = None

    def __post_init__(self) -> None:
        if self.terminal not in TERMINAL_CONFIGS:
            raise ValueError(
                f"AI channel {self.name!r}: terminal {self.terminal!r} is not one of {TERMINAL_CONFIGS}"
            )
        if not self.range_V > 0:
            raise ValueError(f"AI channel {self.name!r}: range_V must be > 0, got {self.range_V}")
        if self.gain == 0:
            raise ValueError(f"AI channel {self.name!r}: gain must not be 0")


@dataclass(frozen=True)
class AOChannel:
    """One analog output, driving one barrel's current source (``barrel`` names it)."""

    barrel: str
    physical: str
    range_V: float = 10.0


@dataclass(frozen=True)
class AcquisitionConfig:
    """What to acquire: rate, inputs, outputs and the engine's block size."""

    rate_hz: float
    ai: tuple[AIChannel, ...]
    ao: tuple[AOChannel, ...] = ()
    block_samples: int = 0  # 0 = about 50 ms

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")
        if not self.ai:
            raise ValueError("at least one analog input channel is needed")
        names = [c.name for c in self.ai]
        if len(set(names)) != len(names):
            raise ValueError(f"AI channel names must be unique, got {names}")

    @property
    def block(self) -> int:
        """Samples per engine block (about 50 ms unless set)."""
        return self.block_samples or max(1, round(self.rate_hz * 0.05))


@dataclass(frozen=True)
class StreamInfo:
    """What a configured device delivers: its blocks' dtype and the per-channel scale to volts.

    For ``int16`` data, ``volts = raw * scale_V[i] + offset_V[i]``; for ``float32`` data
    the samples already are volts and the scales are 1 and 0.
    """

    rate_hz: float
    channels: tuple[AIChannel, ...]
    dtype: np.dtype
    scale_V: tuple[float, ...]
    offset_V: tuple[float, ...]

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def index_of(self, name: str) -> int:
        for i, c in enumerate(self.channels):
            if c.name == name:
                return i
        raise KeyError(f"no AI channel named {name!r}; channels are {[c.name for c in self.channels]}")

    def to_physical(self, raw: np.ndarray, channel: int) -> np.ndarray:
        """Convert one channel's raw samples to its physical units (float64)."""
        ch = self.channels[channel]
        volts = raw.astype(np.float64) * self.scale_V[channel] + self.offset_V[channel]
        return volts / ch.gain


@dataclass(frozen=True)
class Block:
    """A block of AI samples.  ``data`` has shape (n_samples, n_channels).

    ``start_index`` is the sample index of ``data[0]``, taken from the device's read
    position: if it is greater than the previous block's ``end_index``, samples were lost.
    """

    start_index: int
    data: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def end_index(self) -> int:
        """One past the last sample index of this block."""
        return self.start_index + self.n_samples


class EventKind(StrEnum):
    """Kinds of entries in the event log (recorded with their exact sample index)."""

    EJECT = "eject"  # a barrel's current changed to an ejecting current
    RETAIN = "retain"  # a barrel's current changed to its retaining current
    OFF = "off"  # a barrel's current changed to 0
    CURRENT = "current"  # any other change (e.g. a control barrel's current)
    MARK = "mark"  # an operator or protocol mark
    STEP = "step"  # a protocol step began
    PROTOCOL_START = "protocol_start"
    PROTOCOL_END = "protocol_end"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    GAP = "gap"  # samples were lost; ``value`` holds how many
    ERROR = "error"
    WARNING = "warning"  # the run went on (e.g. low disk space, a recovered input overflow)
    NOTE = "note"
    RECORDING_START = "recording_start"
    RECORDING_STOP = "recording_stop"
    # trials (docs/trials.md): from the device's event stream, or logged by a trial protocol
    TRIAL_START = "trial_start"  # a trial's stimulus came on; text: "trial=N code=C <name>=<value> ..."
    TRIAL_STOP = "trial_stop"  # its stimulus went off; text: "trial=N code=C"
    DRUG_BLOCK = "drug_block"  # a trial protocol's drug condition changed; text: "block=N state=on|off ..."
    # alignment with other acquisition systems (docs/trials.md): a pulse of the sync train out rose
    SYNC = "sync"  # text: "pulse=N" (N counts from 0 in the run)


TRIAL_KINDS = frozenset({EventKind.TRIAL_START, EventKind.TRIAL_STOP, EventKind.DRUG_BLOCK})
"""Trial events: trials from the device's event stream (``daq.device.EventSource``) and the drug
blocks a trial protocol logs (``daq.trials``, docs/trials.md)."""


@dataclass(frozen=True)
class LogEvent:
    """One event-log entry.  ``current_nA`` is the barrel's new current for current events
    (0 otherwise); ``text`` is free text (for a gap: how many samples were lost)."""

    sample_index: int
    kind: EventKind
    barrel: str = ""
    current_nA: float = 0.0
    text: str = ""


@dataclass(frozen=True)
class DeviceDescription:
    """What ``ionto devices`` prints about a device."""

    name: str
    product: str
    ai_channels: tuple[str, ...]
    ao_channels: tuple[str, ...]
    max_ai_rate_hz: float
    max_ao_rate_hz: float
    serial: str = ""
    simulated: bool = False
    extra: dict = field(default_factory=dict)
