"""``RecordingLike``: the surface of a recording that the analysis reads.

``analysis.pipeline.analyze(rec)`` accepts any object with these attributes — the HDF5
``daq.recording.Recording`` reader, or an NWB-backed reader (``analysis/nwb*``) that
presents an NWB file the same way.  Nothing else of the reader is used.

Conventions (the same as ``daq.recording.Recording``):

* *rows* are positions in the stored sample array (0 … ``n_samples`` − 1); *sample
  indices* are the device's sample-clock counts.  They differ only after a gap:
  ``row_to_index`` maps rows to indices using ``segments``.
* ``raw(start, stop, channels)`` returns rows ``start:stop`` (clipped) of the listed
  channel columns, shape (rows, len(channels)); ``stream.to_physical(raw_column, ch)``
  converts one column to its physical units (volts at the electrode for an electrode).
  Readers may return float samples (``stream.scale_V = 1``, ``offset_V = 0``).
* ``events`` is the event log in sample order (``daq.types.LogEvent``); an NWB reader
  synthesises EJECT / RETAIN events from its intervals table.
* ``pipette`` may be None (no barrels known: no epochs); ``gaps`` lists
  (sample index where samples went missing, number lost).
* Ground truth exists only for recordings of the simulated rig; readers without it
  return ``has_ground_truth = False`` and an empty ``truth_names()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from daq.pipette import Pipette
from daq.recording import Recording, refuse_special_file
from daq.types import AIChannel, ChannelKind, LogEvent, StreamInfo


@runtime_checkable
class RecordingLike(Protocol):
    """What ``analysis`` needs from a recording (HDF5, NWB, or anything shaped alike)."""

    path: Path
    rate_hz: float
    n_samples: int
    channels: tuple[AIChannel, ...]
    stream: StreamInfo

    @property
    def duration_s(self) -> float: ...

    @property
    def events(self) -> list[LogEvent]: ...

    @property
    def pipette(self) -> Pipette | None: ...

    @property
    def gaps(self) -> list[tuple[int, int]]: ...

    @property
    def first_index(self) -> int: ...

    @property
    def end_index(self) -> int: ...

    @property
    def has_ground_truth(self) -> bool: ...

    def row_to_index(self, rows: np.ndarray) -> np.ndarray: ...

    def index_to_row(self, indices: np.ndarray) -> np.ndarray: ...

    def raw(self, start: int = 0, stop: int | None = None,
            channels: list[int] | None = None) -> np.ndarray: ...

    def physical(self, channel: int | str, start: int = 0, stop: int | None = None) -> np.ndarray: ...

    def channel_indices(self, kind: ChannelKind) -> list[int]: ...

    def truth(self, name: str) -> np.ndarray: ...

    def truth_names(self) -> list[str]: ...


def electrode_channels(rec: RecordingLike, channels: Sequence[str | int] | None = None) -> list[int]:
    """Column numbers of the channels to analyse: the named ones (names or numbers), or
    every electrode channel.  Raises ``ValueError`` naming the file and its channels."""
    names = [c.name for c in rec.channels]
    if channels:
        out = []
        for c in channels:
            if isinstance(c, int) or (isinstance(c, str) and c.isdigit()):
                i = int(c)
                if not 0 <= i < len(names):
                    raise ValueError(f"{rec.path}: no channel number {i}; channels are {names}")
                out.append(i)
            else:
                try:
                    out.append(rec.stream.index_of(c))
                except KeyError:
                    raise ValueError(f"{rec.path}: no channel named {c!r}; channels are {names}") from None
        return out
    elec = rec.channel_indices(ChannelKind.ELECTRODE)
    if not elec:
        raise ValueError(f"{rec.path}: no electrode channel; channels are {names} — name one with --channel")
    return elec



def open_source(path: str | os.PathLike[str], series: str | None = None) -> AbstractContextManager[RecordingLike]:
    """Open a recording for analysis: an ionto HDF5 file, an NWB file (through the NWB
    reader ``analysis.nwb_source.NwbSource``; ``series`` names its ElectricalSeries when it has
    several, and is ignored for an ionto recording, which has one sample stream, so that a
    batch of both can share it), or another system's file or folder that Neo reads
    (``analysis.neo_source.NeoSource``; ``series`` names its signal stream).  Use as a
    context manager."""
    from analysis.nwb_source import NwbSource, is_nwb_file  # pynwb is imported only for NWB files

    p = Path(path)
    refuse_special_file(p)  # a FIFO would block the first read forever
    if p.suffix.lower() == ".nwb" or (p.is_file() and p.suffix.lower() not in (".h5", ".hdf5") and is_nwb_file(p)):
        return NwbSource(p, series=series)
    from analysis.neo_source import (  # neo is imported only for other systems' files
        NeoSource,
        is_neo_path,
    )

    if is_neo_path(p):
        return NeoSource(p, stream=series)
    return Recording(p)  # one sample stream: ``series`` (for NWB files) does not apply


class ArrayRecording:
    """Samples held in memory (an array of shape (samples, channels)) presented as a
    ``RecordingLike``: analyse data from any other source with the full pipeline.

    ``volts_per_count`` converts the array's values to volts at the electrode (1.0 when the
    array already holds volts); there is no event log, pipette or ground truth unless given.
    """

    def __init__(self, data: np.ndarray, rate_hz: float, names: Sequence[str] | None = None,
                 volts_per_count: float | Sequence[float] = 1.0, events: list[LogEvent] | None = None,
                 pipette: Pipette | None = None, path: str = "<array>"):
        data = np.asarray(data)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise ValueError(f"samples must be (samples, channels), got shape {data.shape}")
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        n_ch = data.shape[1]
        names = list(names) if names is not None else [f"ch{i}" for i in range(n_ch)]
        if len(names) != n_ch:
            raise ValueError(f"{len(names)} names for {n_ch} channels")
        scale = np.broadcast_to(np.asarray(volts_per_count, dtype=np.float64), (n_ch,))
        self.path = Path(path)
        self.rate_hz = float(rate_hz)
        self.n_samples = int(data.shape[0])
        self._data = data
        self.channels = tuple(AIChannel(n, f"array/{i}", ChannelKind.ELECTRODE) for i, n in enumerate(names))
        self.stream = StreamInfo(self.rate_hz, self.channels, data.dtype, tuple(float(s) for s in scale),
                                 (0.0,) * n_ch)
        self._events = list(events or [])
        self._pipette = pipette

    def __enter__(self) -> ArrayRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.rate_hz

    @property
    def events(self) -> list[LogEvent]:
        return self._events

    @property
    def pipette(self) -> Pipette | None:
        return self._pipette

    @property
    def gaps(self) -> list[tuple[int, int]]:
        return []

    @property
    def first_index(self) -> int:
        return 0

    @property
    def end_index(self) -> int:
        return self.n_samples

    @property
    def has_ground_truth(self) -> bool:
        return False

    def row_to_index(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(rows, dtype=np.int64)

    def index_to_row(self, indices: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(indices, dtype=np.int64), 0, self.n_samples)

    def raw(self, start: int = 0, stop: int | None = None, channels: list[int] | None = None) -> np.ndarray:
        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        start = max(0, min(start, stop))
        block = self._data[start:stop]
        return block if channels is None else block[:, channels]

    def physical(self, channel: int | str, start: int = 0, stop: int | None = None) -> np.ndarray:
        ch = self.stream.index_of(channel) if isinstance(channel, str) else channel
        return self.stream.to_physical(self.raw(start, stop, [ch])[:, 0], ch)

    def channel_indices(self, kind: ChannelKind) -> list[int]:
        return [i for i, c in enumerate(self.channels) if c.kind == kind]

    def truth(self, name: str) -> np.ndarray:
        raise KeyError(f"{self.path}: no ground truth named {name!r}")

    def truth_names(self) -> list[str]:
        return []
