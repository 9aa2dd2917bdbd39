"""``ReplayDevice``: a recording played back as a ``Device`` (``--device replay:FILE.h5``).

For demos, GUI work and regression tests.  It delivers the recorded raw samples with the
recorded scales, so a replay runs through the engine, the recorder, the online detector and
the display exactly as the original did:

* sample indices start at 0 at the first recorded sample; the recording's gaps come back
  as jumps of ``start_index`` (so the engine logs them as gaps again);
* reads are paced like the simulator: ``speed`` 1.0 = real time, 10 = 10×, None = as fast
  as the caller reads;
* the recorded events (ejections, marks, steps, ...) are reported through ``drain_events``
  at their sample index, their text prefixed ``replay:`` (``replay_events=False`` turns
  this off); gap and recording start/stop events are not replayed, the engine makes its own;
* AO written by the engine is accepted and kept in step like a board's output buffer
  (running out raises ``OutputUnderflowError``), but it changes nothing in the data;
* at the end of the file ``read`` raises ``EndOfDataError`` (the engine ends the run
  normally), or with ``loop=True`` starts again from the beginning, without a gap.

Seek, speed and pause (the rig window's replay controls): ``seek(index)``, ``set_speed``
and ``set_paused`` may be called from any thread; they take effect at the next ``read``,
on the engine thread.  The device's sample index never goes back, so the engine sees a seek
as a gap, as it sees any jump of the read position:

* a seek forward skips the samples in between: the next block starts where the recording
  does (a gap as long as the skipped part; the time axis stays the recording's);
* a seek back cannot give an index the engine has already read: the next block starts one
  sample after the last one delivered (a one-sample gap, so the detector and the display
  restart their filters), and from then on device index = recording index + ``offset``;
  ``recording_index(device_index)`` maps back (``position_s`` is where the replay is in
  the recording);
* each seek is logged as a NOTE ("replay: seek to 12.3 s"; ``seek_gap_starts`` holds where
  each seek's gap begins, so the session can tell it from lost samples) and the barrels' currents at
  the new position are re-reported, so the barrel panel and the ratemeter's bars show the
  state of the recording there, not before the jump;
* a paused replay delivers empty blocks (at most every 50 ms, so the engine turns on and
  its commands still run); a new speed or the end of a pause re-anchors the pacing at the
  current position (no burst to catch up).

Thread: ``read`` and the Device methods on the engine thread (``describe`` from any thread
before a run); the seek/speed/pause requests and ``position_s``/``recording_index`` from any.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from daq.errors import ConfigError, DeviceError, EndOfDataError, OutputUnderflowError
from daq.recording.reader import Recording
from daq.types import AcquisitionConfig, Block, DeviceDescription, EventKind, LogEvent, StreamInfo

_NOT_REPLAYED = {EventKind.GAP, EventKind.RECORDING_START, EventKind.RECORDING_STOP}
_CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}
PAUSED_BLOCK_S = 0.05  # a paused replay hands the engine an empty block this often
_UNSET = object()


class ReplayDevice:
    """Plays ``path`` back.  ``speed``: None = as fast as possible, 1.0 = real time."""

    def __init__(self, path: str | os.PathLike[str], *, speed: float | None = 1.0, loop: bool = False,
                 replay_events: bool = True, cache_s: float = 2.0, name: str | None = None):
        self.path = Path(path)
        self.speed = speed
        self.loop = loop
        self.replay_events = replay_events
        self.cache_s = cache_s
        self.name = name or f"replay:{self.path.name}"
        self._rec = Recording(self.path)  # raises clear errors for missing/foreign/damaged files
        if self._rec.n_samples == 0:
            self._rec.close()
            raise ConfigError(f"{self.path}: the recording holds no committed samples, nothing to replay")
        seg = self._rec.segments
        self._seg_rows = seg[:, 0]
        self._seg_index = seg[:, 1] - seg[0, 1]  # rebased: the first recorded sample is index 0
        self._span = int(self._rec.end_index - self._rec.first_index)
        self._events = [e for e in self._rec.events if e.kind not in _NOT_REPLAYED]
        self._event_index = np.array([max(0, e.sample_index - int(seg[0, 1])) for e in self._events], dtype=np.int64)
        self._config: AcquisitionConfig | None = None
        self._cols: list[int] = []
        self._row = 0  # next file row to deliver
        self._loop_offset = 0  # device index - rebased recording index (grows at each loop and back-seek)
        self._next_index = 0
        self._map: list[tuple[int, int]] = [(0, 0)]  # (first device index, offset from then on)
        self._lock = threading.Lock()  # guards the requests below (any thread -> engine thread)
        self._seek_to: int | None = None
        self._speed_to: object = _UNSET
        self._paused = False
        self._was_paused = False
        self.seek_gap_starts: set[int] = set()  # device indices where a seek's gap begins (read position then)
        self._ao_write = 0
        self._running = False
        self._t0 = 0.0
        self._cache_start = 0
        self._cache = np.zeros((0, self._rec.stream.n_channels), dtype=self._rec.stream.dtype)
        self._out_events: list[LogEvent] = []
        self._event_pos = 0
        self.loops = 0
        self.safe_writes: list[list[float]] = []
        self.closed = False

    @property
    def recording(self) -> Recording:
        return self._rec

    # --- replay controls (any thread; applied at the next read, on the engine thread) ---------
    @property
    def span_index(self) -> int:
        """Length of the recording in samples (rebased: its first sample is 0; gaps included)."""
        return self._span

    def seek(self, index: int) -> None:
        """Continue from the recording's sample ``index`` (rebased; clamped to the recording)."""
        with self._lock:
            self._seek_to = int(min(max(0, index), self._span - 1))

    def set_speed(self, speed: float | None) -> None:
        """1.0 = real time, 10 = 10x, None = as fast as the engine reads."""
        if speed is not None and not speed > 0:
            raise ConfigError(f"{self.name}: replay speed must be > 0 (or as fast as possible), got {speed}")
        with self._lock:
            self._speed_to = speed

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = bool(paused)

    @property
    def paused(self) -> bool:
        return self._paused

    def recording_index(self, device_index: int) -> int:
        """The recording's (rebased) sample index that ``device_index`` delivered."""
        m = self._map
        k = bisect.bisect_right(m, (device_index, float("inf"))) - 1
        return device_index - m[max(0, k)][1]

    @property
    def position_s(self) -> float:
        """Where the replay is in the recording: the next sample's time from its start, s."""
        return self._index_of_row(self._row) / self._rec.rate_hz

    def _index_of_row(self, row: int) -> int:
        """The recording's rebased sample index of file row ``row`` (its end: the span)."""
        if row >= self._rec.n_samples:
            return self._span
        k = int(np.searchsorted(self._seg_rows, row, side="right") - 1)
        return int(self._seg_index[k] + (row - self._seg_rows[k]))

    # --- Device protocol ----------------------------------------------------------------
    def describe(self) -> DeviceDescription:
        pip = self._rec.pipette
        ao = tuple(b.ao_channel for b in pip.barrels if b.ao_channel) if pip is not None else ()
        return DeviceDescription(
            name=self.name, product=f"ionto replay of {self.path.name}",
            ai_channels=tuple(c.physical for c in self._rec.channels), ao_channels=ao,
            max_ai_rate_hz=self._rec.rate_hz, max_ao_rate_hz=self._rec.rate_hz, simulated=True,
            extra={"file": str(self.path), "duration_s": self._rec.duration_s, "loop": self.loop},
        )

    def configure(self, config: AcquisitionConfig) -> StreamInfo:
        rec = self._rec
        if abs(config.rate_hz - rec.rate_hz) > 1e-9:
            raise ConfigError(f"{self.name}: the recording was made at {rec.rate_hz:g} Hz; got {config.rate_hz:g} Hz")
        known = [c.physical for c in rec.channels]
        cols = []
        for ch in config.ai:
            if ch.physical not in known:
                raise ConfigError(f"{self.name}: the recording has no AI channel {ch.physical!r}; it has {known}")
            cols.append(known.index(ch.physical))
        self._cols = cols
        self._config = config
        st = rec.stream
        return StreamInfo(config.rate_hz, config.ai, st.dtype, tuple(st.scale_V[i] for i in cols),
                          tuple(st.offset_V[i] for i in cols))

    def start(self) -> None:
        if self._config is None:
            raise DeviceError(f"{self.name}: configure before start")
        self._running = True
        self._t0 = time.monotonic()

    @property
    def ao_write_index(self) -> int:
        return self._ao_write

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        if start_index != self._ao_write:
            raise DeviceError(f"{self.name}: AO write at sample {start_index}, expected {self._ao_write}")
        self._ao_write += int(np.asarray(volts).shape[0])

    def read(self, n_samples: int, timeout_s: float) -> Block:
        if not self._running or self._config is None:
            raise DeviceError(f"{self.name}: read while not running")
        if self._apply_requests():
            time.sleep(min(PAUSED_BLOCK_S, max(0.0, timeout_s / 2)))
            return Block(self._next_index, np.zeros((0, len(self._cols)), dtype=self._rec.stream.dtype))
        if self._row >= self._rec.n_samples:
            if not self.loop:
                raise EndOfDataError(f"{self.name}: end of the recording after {self._rec.duration_s:.1f} s")
            self._row = 0
            self._loop_offset = self._next_index
            self._map.append((self._next_index, self._loop_offset))
            self._event_pos = 0
            self.loops += 1
            self._out_events.append(LogEvent(self._next_index, EventKind.NOTE, text=f"replay: loop {self.loops}"))
        k = int(np.searchsorted(self._seg_rows, self._row, side="right") - 1)
        start = int(self._seg_index[k] + (self._row - self._seg_rows[k])) + self._loop_offset
        seg_end = int(self._seg_rows[k + 1]) if k + 1 < len(self._seg_rows) else self._rec.n_samples
        n = min(n_samples, seg_end - self._row)  # a block never spans a gap
        if self._config.ao and self._ao_write < start + n:
            raise OutputUnderflowError(
                f"{self.name}: AO underflow: output needed up to sample {start + n}, only {self._ao_write} written",
                code=-200290,
            )
        if self.speed:
            wait = self._t0 + (start + n) / (self._rec.rate_hz * self.speed) - time.monotonic()
            if wait > timeout_s:
                raise DeviceError(f"{self.name}: read timed out after {timeout_s} s", code=-200284)
            if wait > 0:
                time.sleep(wait)
        data = self._rows(self._row, n)
        self._row += n
        self._next_index = start + n
        if self.replay_events:
            self._queue_events(start + n)
        return Block(start, data)

    def _apply_requests(self) -> bool:
        """Engine thread: carry out the seek/speed/pause asked for since the last read.
        True while paused (the caller hands the engine an empty block)."""
        with self._lock:
            seek, self._seek_to = self._seek_to, None
            speed, self._speed_to = self._speed_to, _UNSET
            paused = self._paused
        if speed is not _UNSET:
            self.speed = speed  # type: ignore[assignment]
        if seek is not None:
            self._jump(seek)
        if paused:
            self._was_paused = True
            return True
        if speed is not _UNSET or seek is not None or self._was_paused:
            self._was_paused = False
            if self.speed:  # pace on from here: the next sample is due now
                nxt = self._index_of_row(self._row) + self._loop_offset
                self._t0 = time.monotonic() - nxt / (self._rec.rate_hz * self.speed)
        return False

    def _row_of(self, index: int) -> int:
        """The file row of the recording's (rebased) sample ``index``, or of the first sample
        after it where ``index`` falls in one of the recording's gaps."""
        k = int(np.searchsorted(self._seg_index, index, side="right") - 1)
        seg_end = int(self._seg_rows[k + 1]) if k + 1 < len(self._seg_rows) else self._rec.n_samples
        return min(int(self._seg_rows[k]) + int(index - self._seg_index[k]), seg_end)

    def _jump(self, index: int) -> None:
        """Engine thread: go on from the recording's ``index``, keeping the device index
        monotonic (see the module docstring)."""
        row = min(self._row_of(index), self._rec.n_samples - 1)
        target = self._index_of_row(row)
        if target + self._loop_offset <= self._next_index:  # back (or here): after what was delivered
            self._loop_offset = self._next_index + 1 - target
        self.seek_gap_starts.add(self._next_index)
        self._map.append((target + self._loop_offset, self._loop_offset))
        self._row = row
        at = target + self._loop_offset
        self._out_events.append(LogEvent(at, EventKind.NOTE, text=f"replay: seek to {target / self._rec.rate_hz:.1f} s"))
        self._event_pos = int(np.searchsorted(self._event_index, target, side="left"))
        if self.replay_events:  # the barrels' currents as the recording had them at that point
            last: dict[str, LogEvent] = {}
            for e in self._events[:self._event_pos]:
                if e.kind in _CURRENT_KINDS and e.barrel:
                    last[e.barrel] = e
            for e in last.values():
                self._out_events.append(LogEvent(at, e.kind, e.barrel, e.current_nA,
                                                 f"replay: {e.text} (current at the seek)".replace(":  (", ": (")))

    def _rows(self, row: int, n: int) -> np.ndarray:
        """Rows ``row .. row+n-1`` of the selected channels, through a read-ahead cache."""
        end = self._cache_start + len(self._cache)
        if not (self._cache_start <= row and row + n <= end):
            want = max(n, round(self.cache_s * self._rec.rate_hz))
            self._cache = self._rec.raw(row, row + want)
            self._cache_start = row
        off = row - self._cache_start
        return self._cache[off:off + n][:, self._cols]

    def _queue_events(self, until_index: int) -> None:
        idx = self._event_index + self._loop_offset
        while self._event_pos < len(self._events) and idx[self._event_pos] < until_index:
            e = self._events[self._event_pos]
            self._out_events.append(LogEvent(int(idx[self._event_pos]), e.kind, e.barrel, e.current_nA,
                                             f"replay: {e.text}".rstrip()))
            self._event_pos += 1

    def drain_events(self) -> list[LogEvent]:
        out, self._out_events = self._out_events, []
        return out

    def write_safe(self, volts: Sequence[float]) -> None:
        self._running = False
        self.safe_writes.append([float(v) for v in volts])

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        if not self.closed:
            self._running = False
            self.closed = True
            self._rec.close()
