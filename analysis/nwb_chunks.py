"""Streaming a recording's samples into NWB datasets in bounded memory.

Every sample dataset of an export (the ElectricalSeries, one monitored current per barrel,
other inputs, and the timestamps of a recording with gaps) is a
``GenericDataChunkIterator`` over the same rows of the source.  They share one
:class:`SharedRows` reader that keeps the last block it read: written concurrently
(``HDF5IO.write(..., exhaust_dci=False)`` takes one buffer from each iterator in turn),
all iterators ask for the same rows in step, so the source is read once, not once per
dataset.  Memory is one block of rows (``buffer_rows`` × all channels) plus one buffer
per iterator.

Thread: everything here runs on the caller's thread (the exporter's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator


class SharedRows:
    """Reads rows ``[start, stop)`` of all channels from a source with ``raw(start, stop)``
    and keeps the last block, so iterators that ask for the same rows share one read.

    ``on_rows(stop)`` is called after each new block is read (progress reporting)."""

    def __init__(self, source: Any, on_rows: Callable[[int], None] | None = None):
        self.source = source
        self.on_rows = on_rows
        self._key: tuple[int, int] | None = None
        self._block: np.ndarray | None = None
        self.reads = 0  # blocks actually read from the source

    def rows(self, start: int, stop: int) -> np.ndarray:
        if self._key != (start, stop):
            self._block = None  # drop the old block before reading the new one
            self._block = np.asarray(self.source.raw(start, stop))
            self._key = (start, stop)
            self.reads += 1
            if self.on_rows is not None:
                self.on_rows(stop)
        assert self._block is not None
        return self._block


class ChannelIterator(GenericDataChunkIterator):
    """Columns ``channels`` of the shared rows, as stored (``scale is None``) or converted to
    float32 by ``raw * scale + offset`` per column.  A single column gives 1-D data."""

    def __init__(self, rows: SharedRows, n_rows: int, channels: Sequence[int], dtype: np.dtype, *,
                 chunk_rows: int, buffer_rows: int, scale: np.ndarray | None = None,
                 offset: np.ndarray | None = None, squeeze: bool = False):
        self._rows = rows
        self._n = int(n_rows)
        self._channels = np.asarray(channels, dtype=np.intp)
        self._contiguous = bool(np.all(np.diff(self._channels) == 1)) if len(self._channels) else True
        self._scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self._offset = None if offset is None else np.asarray(offset, dtype=np.float64)
        self._squeeze = squeeze and len(self._channels) == 1
        self._src_dtype = np.dtype(dtype)
        chunk, buf = _shapes(self._n, chunk_rows, buffer_rows)
        width = () if self._squeeze else (len(self._channels),)
        super().__init__(chunk_shape=(chunk, *width), buffer_shape=(buf, *width), display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        rows = selection[0]
        block = self._rows.rows(rows.start, rows.stop)
        if self._contiguous and len(self._channels):
            cols = block[:, self._channels[0]:self._channels[-1] + 1]
        else:
            cols = block[:, self._channels]
        if self._scale is not None:
            out = (cols * self._scale + (0.0 if self._offset is None else self._offset)).astype(np.float32)
        else:
            out = _copy_columns(block, cols)
        if self._squeeze:
            out = out[:, 0]
        elif len(selection) > 1:
            out = out[:, selection[1]]
        return out

    def _get_dtype(self) -> np.dtype:
        return np.dtype(np.float32) if self._scale is not None else self._src_dtype

    def _get_maxshape(self) -> tuple[int, ...]:
        return (self._n,) if self._squeeze else (self._n, len(self._channels))


def _copy_columns(block: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``cols``.  When they are a contiguous run of whole rows' columns
    of a C-contiguous ``block``, each row's run is copied as one opaque item (about twice as
    fast as numpy's element-wise strided copy)."""
    if (cols.flags.c_contiguous or cols.ndim != 2 or not block.flags.c_contiguous or cols.shape[0] < 2
            or (cols.base is not block and cols.base is not block.base)):
        return np.ascontiguousarray(cols)
    width = cols.shape[1] * cols.itemsize
    rows = np.ndarray(shape=(cols.shape[0],), dtype=np.dtype((np.void, width)), buffer=block,
                      offset=cols.ctypes.data - block.ctypes.data, strides=(cols.strides[0],))
    return rows.copy().view(cols.dtype).reshape(cols.shape)


class TimestampIterator(GenericDataChunkIterator):
    """Timestamps (s) of rows, from the source's ``row_to_index`` (for recordings with gaps)."""

    def __init__(self, source: Any, n_rows: int, rate_hz: float, *, chunk_rows: int, buffer_rows: int):
        self._source = source
        self._n = int(n_rows)
        self._rate = float(rate_hz)
        chunk, buf = _shapes(self._n, chunk_rows, buffer_rows)
        super().__init__(chunk_shape=(chunk,), buffer_shape=(buf,), display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        rows = np.arange(selection[0].start, selection[0].stop, dtype=np.int64)
        return np.asarray(self._source.row_to_index(rows), dtype=np.float64) / self._rate

    def _get_dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def _get_maxshape(self) -> tuple[int, ...]:
        return (self._n,)


def _shapes(n_rows: int, chunk_rows: int, buffer_rows: int) -> tuple[int, int]:
    """HDF5 chunk and read-buffer rows that fit ``n_rows`` (buffer a multiple of chunk)."""
    n = max(1, n_rows)
    chunk = max(1, min(chunk_rows, n))
    buf = max(chunk, (buffer_rows // chunk) * chunk)
    return chunk, min(buf, n)
