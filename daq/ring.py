"""The display ring buffer: the last N seconds of samples, for the GUI to pull snapshots.

Thread: ``push`` runs on the engine thread; ``snapshot`` on any thread (usually the GUI
timer).  A lock guards the copy; samples never cross threads through Qt signals.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from daq.types import Block, LogEvent, StreamInfo


class RingBuffer:
    """Fixed-capacity ring of the latest samples (raw dtype), with their sample indices."""

    def __init__(self, capacity_samples: int, n_channels: int, dtype: np.dtype = np.int16):
        if capacity_samples <= 0:
            raise ValueError("capacity_samples must be > 0")
        self.capacity = int(capacity_samples)
        self._buf = np.zeros((self.capacity, n_channels), dtype=dtype)
        self._end_index = 0  # sample index one past the newest sample
        self._filled = 0
        self._pos = 0  # ring position of the next write
        self._gaps: deque[tuple[int, int]] = deque()  # (sample index, samples lost) inside the ring
        self._lock = threading.Lock()

    def push(self, block: Block) -> None:
        """Append a block (engine thread).  A gap is filled with zeros so indices stay aligned;
        ``gaps()`` says where, so a display can draw a break instead of a flat line."""
        data = block.data
        with self._lock:
            if self._filled and block.start_index > self._end_index:
                lost = block.start_index - self._end_index
                self._gaps.append((self._end_index, lost))
                self._write(np.zeros((min(lost, self.capacity), data.shape[1]), dtype=self._buf.dtype))
            self._write(data)
            self._end_index = block.end_index
            oldest = self._end_index - self._filled
            while self._gaps and self._gaps[0][0] + self._gaps[0][1] <= oldest:
                self._gaps.popleft()

    def _write(self, data: np.ndarray) -> None:
        n = data.shape[0]
        if n >= self.capacity:
            self._buf[:] = data[-self.capacity:]
            self._pos = 0
            self._filled = self.capacity
            return
        pos = self._pos
        first = min(n, self.capacity - pos)
        self._buf[pos:pos + first] = data[:first]
        if n > first:
            self._buf[: n - first] = data[first:]
        self._pos = (pos + n) % self.capacity
        self._filled = min(self.capacity, self._filled + n)

    def snapshot(self, n_samples: int | None = None, channel: int | None = None) -> tuple[int, np.ndarray]:
        """Return ``(start_index, samples)`` for the newest ``n_samples`` (all if None); a copy,
        of every channel (samples × channels) or of one ``channel`` (1-D)."""
        cols = slice(None) if channel is None else channel
        with self._lock:
            n = self._filled if n_samples is None else min(n_samples, self._filled)
            pos = self._pos
            if n <= pos:  # (two slices, not a gather: the copy is all a frame pays)
                out = self._buf[pos - n:pos, cols].copy()
            else:
                out = np.concatenate([self._buf[self.capacity - (n - pos):, cols], self._buf[:pos, cols]])
            return self._end_index - n, out

    def gaps(self, since_index: int = 0) -> list[tuple[int, int]]:
        """(sample index, samples lost) of the gaps still in the ring that end after
        ``since_index`` (any thread)."""
        with self._lock:
            return [(i, n) for i, n in self._gaps if i + n > since_index]

    @property
    def end_index(self) -> int:
        with self._lock:
            return self._end_index


class DisplaySink:
    """Engine sink that keeps a ``RingBuffer`` of the last ``seconds`` and the recent events.

    Thread: ``start``/``on_block``/``on_events``/``stop`` run on the engine thread;
    ``snapshot`` and ``recent_events`` on any thread."""

    def __init__(self, seconds: float = 120.0):
        self.seconds = seconds
        self.ring: RingBuffer | None = None
        self.stream: StreamInfo | None = None
        self._events: list[LogEvent] = []
        self._lock = threading.Lock()

    def start(self, stream: StreamInfo) -> None:
        self.stream = stream
        self.ring = RingBuffer(int(stream.rate_hz * self.seconds), stream.n_channels, stream.dtype)

    def on_block(self, block: Block) -> None:
        assert self.ring is not None
        self.ring.push(block)

    def on_events(self, events: list[LogEvent]) -> None:
        with self._lock:
            self._events.extend(events)
            if len(self._events) > 10000:
                del self._events[:5000]

    def recent_events(self, since_index: int = 0) -> list[LogEvent]:
        with self._lock:
            return [e for e in self._events if e.sample_index >= since_index]

    def stop(self) -> None:
        pass
