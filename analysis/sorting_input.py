"""An ionto recording seen by SpikeInterface: a lazy ``BaseRecording`` over a ``RecordingLike``.

The channels of one group are read in chunks through ``get_traces``, in µV (float32),
straight from the HDF5 (or NWB) file, so a recording of any length fits in bounded memory:
the quality metrics read it so, and ``analysis.sorting`` copies it once, chunk by chunk, to
a temporary binary file for the sorter (which reads its input many times).  Frames are the file's rows: a gap in the sample indices is not filled
(the caller maps sorted rows back to sample indices with ``rec.row_to_index``).

Channel positions: a group whose layout the file does not give (a tetrode, a shank) is laid
out on a line 20 µm apart, in the group's channel order.  A tetrode's four channels are then
all within tridesclous2's smallest neighbourhood radius (60 µm), so all are compared; on a
longer group each channel's neighbourhood spans its nearest channels in that order.

Thread: one reader at a time (the caller's thread; the sorters here run with one job).
"""

from __future__ import annotations

import numpy as np
from spikeinterface.core import BaseRecording, BaseRecordingSegment

from analysis.source import RecordingLike

PITCH_UM = 20.0


class IontoRecording(BaseRecording):
    """The channels ``channels`` (column numbers) of ``rec`` in µV, float32."""

    def __init__(self, rec: RecordingLike, channels: list[int]):
        names = [rec.channels[c].name for c in channels]
        super().__init__(sampling_frequency=float(rec.rate_hz), channel_ids=np.array(names), dtype="float32")
        scale_uV = np.array([rec.stream.scale_V[c] / rec.channels[c].gain * 1e6 for c in channels])
        offset_uV = np.array([rec.stream.offset_V[c] / rec.channels[c].gain * 1e6 for c in channels])
        self.add_recording_segment(_Segment(rec, list(channels), scale_uV, offset_uV))
        self.set_dummy_probe_from_locations(np.column_stack([np.zeros(len(channels)), PITCH_UM * np.arange(len(channels))]))
        self._serializability["json"] = False
        self._serializability["pickle"] = False
        self._kwargs = {"rec": str(rec.path), "channels": list(channels)}


class _Segment(BaseRecordingSegment):
    def __init__(self, rec: RecordingLike, channels: list[int], scale_uV: np.ndarray, offset_uV: np.ndarray):
        super().__init__(sampling_frequency=float(rec.rate_hz), t_start=None)
        self._rec = rec
        self._channels = channels
        self._scale = scale_uV.astype(np.float32)
        self._offset = offset_uV.astype(np.float32)

    def get_num_samples(self) -> int:
        return int(self._rec.n_samples)

    def get_traces(self, start_frame: int | None = None, end_frame: int | None = None,
                   channel_indices=None) -> np.ndarray:
        start = 0 if start_frame is None else int(start_frame)
        stop = self.get_num_samples() if end_frame is None else int(end_frame)
        cols = np.asarray(self._channels)
        pick = np.arange(len(cols)) if channel_indices is None else np.arange(len(cols))[channel_indices]
        raw = self._rec.raw(start, stop, [int(c) for c in cols[pick]])
        out = raw.astype(np.float32)
        out *= self._scale[pick]
        out += self._offset[pick]
        return out
