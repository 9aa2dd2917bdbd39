"""An ionto recording seen by SpikeInterface: a lazy ``BaseRecording`` over a ``RecordingLike``.

The channels of one group are read in chunks through ``get_traces``, in µV (float32),
straight from the HDF5 (or NWB) file, so a recording of any length fits in bounded memory:
the quality metrics read it so, and ``analysis.sorting`` copies it once, chunk by chunk, to
a temporary binary file for the sorter (which reads its input many times).  Frames are the file's rows: a gap in the sample indices is not filled
(the caller maps sorted rows back to sample indices with ``rec.row_to_index``).

Channel positions: the sorters' neighbourhoods (tridesclous2's 60–150 µm radii) are
distances between contacts, so the group's geometry matters: laying a 2-column 16-channel
probe out on one line put neighbours 160 µm apart and lost or split units (SpikeInterface
ground truth, 16 ch seed 1: 3 of 10 units lost on the line, none with the probe's positions).
The positions come from the caller (``analysis.sorting.group_positions``: the user's or the
NWB electrodes table's).  A group without them is one neighbourhood (``default_positions``):
its contacts on a circle of ``DEFAULT_SPAN_UM`` diameter, every channel within
tridesclous2's smallest radius of every other, so the sorter compares all channels and no
distance is made up (a tetrode is so; a long shank is then sorted as if compact, which
costs time, not units: SpikeInterface ground truth, 16 ch seed 1, all 10 units found).

Determinism: ``sorter_input`` filters and whitens the group for tridesclous2 exactly as
tridesclous2 does itself, but with the whitening matrix estimated on seeded random chunks
(tridesclous2 calls SpikeInterface's ``whiten`` without a seed, so two runs on the same data
whitened differently and could sort differently).

Thread: one reader at a time (the caller's thread; the sorters here run with one job).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from spikeinterface.core import BaseRecording, BaseRecordingSegment

from analysis.source import RecordingLike

DEFAULT_SPAN_UM = 50.0  # < 60 µm, tridesclous2's split_radius_um (its smallest neighbourhood)


class IontoRecording(BaseRecording):
    """The channels ``channels`` (column numbers) of ``rec`` in µV, float32, at
    ``positions_um`` ((channels, 2) µm; ``None``: ``default_positions``)."""

    def __init__(self, rec: RecordingLike, channels: list[int], positions_um: np.ndarray | None = None):
        names = [rec.channels[c].name for c in channels]
        super().__init__(sampling_frequency=float(rec.rate_hz), channel_ids=np.array(names), dtype="float32")
        scale_uV = np.array([rec.stream.scale_V[c] / rec.channels[c].gain * 1e6 for c in channels])
        offset_uV = np.array([rec.stream.offset_V[c] / rec.channels[c].gain * 1e6 for c in channels])
        self.add_recording_segment(_Segment(rec, list(channels), scale_uV, offset_uV))
        xy = default_positions(len(channels)) if positions_um is None else np.asarray(positions_um, dtype=np.float64)
        self.set_dummy_probe_from_locations(xy)
        self._serializability["json"] = False
        self._serializability["pickle"] = False
        self._kwargs = {"rec": str(rec.path), "channels": list(channels)}


def default_positions(n_channels: int) -> np.ndarray:
    """Positions (µm) of a group whose geometry nobody gave: on a circle of ``DEFAULT_SPAN_UM``
    diameter, in the group's order (two channels: ``DEFAULT_SPAN_UM`` apart)."""
    angle = 2 * np.pi * np.arange(n_channels) / max(n_channels, 1)
    return DEFAULT_SPAN_UM / 2 * np.column_stack([np.cos(angle), np.sin(angle)])


def sorter_input(recording: BaseRecording, sorter: str, seed: int, folder: Path) -> tuple[BaseRecording, bool]:
    """The recording the sorter reads, written once to a binary folder (sorters read their input
    many times), and whether it is already preprocessed the sorter's way.  For tridesclous2:
    its own band-pass (Bessel, order 2, its ``freq_min``–``freq_max``), its common reference
    from 32 channels on, and its local whitening (100 µm) with the matrix estimated on chunks
    chosen by ``seed`` (SpikeInterface 0.105 ``Tridesclous2Sorter._run_from_folder``); other
    sorters get the raw µV and preprocess themselves."""
    if sorter != "tridesclous2":
        return recording.save(folder=folder, format="binary", n_jobs=1, chunk_duration="10s", progress_bar=False,
                              verbose=False), False
    from spikeinterface.preprocessing import bandpass_filter, common_reference, whiten
    from spikeinterface.sorters import Tridesclous2Sorter

    p = Tridesclous2Sorter.default_params()
    nyq = recording.get_sampling_frequency() / 2
    rec = bandpass_filter(recording, freq_min=p["freq_min"], freq_max=min(p["freq_max"], 0.95 * nyq), ftype="bessel",
                          filter_order=2, dtype="float32")
    if recording.get_num_channels() >= 32:
        rec = common_reference(rec)
    rec = whiten(rec, dtype="float32", mode="local", radius_um=100.0, seed=seed)
    return rec.save(folder=folder, format="binary", n_jobs=1, chunk_duration="10s", progress_bar=False,
                    verbose=False), True


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
