"""What a reader of another system's file shares with ``daq.recording.Recording``: the sample-index
bookkeeping (segments, gaps, rows ↔ sample indices, physical units, channel lookup, chunked
rows), so that the analysis reads every source the same way.

A reader that mixes it in sets ``_segments`` ((k, 2) [row, sample_index] of each gap-free run),
``n_samples``, ``rate_hz``, ``channels`` and ``stream``, and provides ``read_rows``."""

from __future__ import annotations

from daq.recording import Recording


class RecordingSurface:
    segments = property(lambda self: self._segments, doc="(k, 2) [row, sample_index] of each gap-free run")
    gaps = Recording.gaps
    first_index = Recording.first_index
    end_index = Recording.end_index
    row_to_index = Recording.row_to_index
    index_to_row = Recording.index_to_row
    physical = Recording.physical
    channel_indices = Recording.channel_indices
    iter_rows = Recording.iter_rows

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.rate_hz
