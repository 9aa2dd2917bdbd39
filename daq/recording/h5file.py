"""``RecordingFile``: the HDF5 side of writing one recording (layout in ``format.py``).

The file is created complete (every group and dataset, every attribute) and then switched
to SWMR mode; from then on the writer only resizes datasets and writes fixed-size rows, so
a reader in another process can follow it live and a killed writer leaves a file that
opens.  ``commit`` flushes the data first and only then the counters that vouch for it.

The few changes SWMR forbids (a new ground-truth dataset, a new protocol description, the
final attributes) close the file and reopen it briefly in ordinary mode.

Thread: created by ``Recorder.start`` on the engine thread, then used only by the
recorder's writer thread.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.errors import RecordingError
from daq.pipette import Pipette
from daq.recording.format import (
    BARREL_BYTES,
    CHANNEL_DTYPE,
    EVENT_DTYPE,
    FORMAT_NAME,
    KIND_BYTES,
    LIBVER,
    SCHEMA_VERSION,
    TEXT_PREVIEW_BYTES,
    TRUTH_COMMITTED_DTYPE,
    TRUTH_NAME_BYTES,
    utf8_prefix,
)
from daq.recording.metadata import ProtocolInfo, now_with_timezone, software_versions
from daq.recording.paths import WriterLock, acquire_writer_lock, writer_alive
from daq.types import EventKind, LogEvent, StreamInfo

__all__ = ["RecordingFile", "chunk_rows_for", "free_bytes", "writer_alive"]

CURRENT_KINDS = frozenset({EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT})


def chunk_rows_for(stream: StreamInfo, chunk_s: float) -> int:
    """Rows per chunk: ``chunk_s`` of samples (the writer commits at least every 0.5 s of
    recorded time, at chunk boundaries: whole chunks are written straight to the file, and a
    partly filled one fits HDF5's 1-MiB chunk cache), at least 1024 rows, at most 4 MiB."""
    row_bytes = max(1, stream.n_channels * np.dtype(stream.dtype).itemsize)
    rows = max(round(stream.rate_hz * chunk_s), 1024)
    return int(min(rows, max(1024, (4 * 2**20) // row_bytes)))


class RecordingFile:
    """One recording file, open for appending."""

    def __init__(
        self,
        path: Path,
        stream: StreamInfo,
        *,
        pipette: Pipette | None,
        rig: Mapping[str, Any],
        protocol: ProtocolInfo | None,
        truth_metadata: Mapping[str, Any],
        notes: str,
        chunk_s: float,
        overwrite: bool,
    ):
        self.path = path
        self.stream = stream
        self.pipette = pipette
        self.notes = notes
        self.dtype = np.dtype(stream.dtype)
        self.rows = 0
        self.n_events = 0
        self.text_bytes = 0
        self.n_currents = 0
        self.next_index: int | None = None
        self.last_index = 0  # one past the newest sample index seen
        self.truth_rows: dict[str, int] = {}
        self._truth_names_committed = 0
        self._commanded = pipette.safe_currents_nA() if pipette is not None else np.zeros(0)
        self._last_current_index = -1
        # our own locks first (``paths.acquire_writer_lock``): no other process may be writing
        # this file, and a reader probing it sees a live writer from the start
        self._lock: WriterLock | None = acquire_writer_lock(path, overwrite)
        try:
            # no HDF5 lock (it drops it in SWMR mode anyway): our own writer lock tells readers
            # a live writer from a dead one, and readers in this process must match the flag.
            # "w": the file is ours now (created empty by the lock, or one we may overwrite)
            f = h5py.File(path, "w", libver=LIBVER, locking=False)
        except (OSError, ValueError) as exc:
            self._give_up(remove=True)
            raise RecordingError(f"{path}: cannot create the recording: {exc}") from None
        self._f = f
        try:
            self._create(f, stream, rig, protocol, truth_metadata, chunk_s)
            f.flush()
            f.swmr_mode = True
        except Exception:
            f.close()
            self._give_up(remove=False)
            raise
        self._bind()
        self.commit()

    # --- layout ---------------------------------------------------------------------------
    def _create(self, f: h5py.File, stream: StreamInfo, rig: Mapping[str, Any], protocol: ProtocolInfo | None,
                truth_metadata: Mapping[str, Any], chunk_s: float) -> None:
        iso, tz, unix = now_with_timezone()
        f.attrs["ionto_format"] = FORMAT_NAME
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["created"] = iso
        f.attrs["timezone"] = tz
        f.attrs["created_unix"] = unix
        f.attrs["software"] = json.dumps(software_versions())
        f.attrs["closed_cleanly"] = False
        f.attrs["notes"] = self.notes
        acq = f.create_group("acquisition")
        acq.attrs["rate_hz"] = float(stream.rate_hz)
        acq.attrs["sample_dtype"] = str(self.dtype)
        nch = stream.n_channels
        acq.create_dataset("samples", shape=(0, nch), maxshape=(None, nch), dtype=self.dtype,
                           chunks=(chunk_rows_for(stream, chunk_s), nch))
        chans = np.zeros(nch, dtype=CHANNEL_DTYPE)
        for i, c in enumerate(stream.channels):
            chans[i] = (c.name, c.physical, str(c.kind), c.units, c.gain, stream.scale_V[i], stream.offset_V[i],
                        c.range_V, c.barrel or "", c.terminal)
        acq.create_dataset("channels", data=chans)
        acq.create_dataset("segments", shape=(0, 2), maxshape=(None, 2), dtype="<i8", chunks=(256, 2))
        acq.create_dataset("committed_samples", data=np.int64(0))
        acq.create_dataset("heartbeat_unix", data=np.float64(unix))
        ev = f.create_group("events")
        ev.create_dataset("table", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE, chunks=(512,))
        ev.create_dataset("text", shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(16384,))
        ev.create_dataset("committed", data=np.int64(0))
        cur = f.create_group("currents")
        names = list(self.pipette.names) if self.pipette is not None else []
        cur.attrs["barrels"] = json.dumps(names)
        cur.attrs["monitor_channels"] = json.dumps(
            {c.barrel: c.name for c in stream.channels if c.barrel and str(c.kind) == "current_monitor"})
        if names:  # without a pipette there are no commanded currents
            cur.create_dataset("commanded_index", shape=(0,), maxshape=(None,), dtype="<i8", chunks=(1024,))
            cur.create_dataset("commanded_nA", shape=(0, len(names)), maxshape=(None, len(names)), dtype="<f8",
                               chunks=(1024, len(names)))
        cur.create_dataset("committed", data=np.int64(0))
        pg = f.create_group("pipette")
        pg.attrs["json"] = self.pipette.model_dump_json() if self.pipette is not None else "null"
        rg = f.create_group("rig")
        rg.attrs["json"] = json.dumps(dict(rig), default=str)
        f.create_group("protocol")
        _write_protocol(f, protocol)
        gt = f.create_group("ground_truth")
        gt.attrs["json"] = json.dumps(dict(truth_metadata), default=float)
        f.create_dataset("ground_truth_committed", shape=(0,), maxshape=(None,), dtype=TRUTH_COMMITTED_DTYPE,
                         chunks=(64,))

    @property
    def chunk_rows(self) -> int:
        """Rows of one chunk of samples."""
        return self._chunk_rows

    @property
    def chunk_bytes(self) -> int:
        """Bytes of one chunk of samples (the file grows by this much at a time)."""
        return self._chunk_rows * int(self._samples.shape[1]) * self.dtype.itemsize

    def _bind(self) -> None:
        f = self._f
        self._samples = f["acquisition/samples"]
        self._chunk_rows = int(self._samples.chunks[0])
        self._segments = f["acquisition/segments"]
        self._c_samples = f["acquisition/committed_samples"]
        self._heartbeat = f["acquisition/heartbeat_unix"]
        self._events = f["events/table"]
        self._text = f["events/text"]
        self._c_events = f["events/committed"]
        self._cur_index = f.get("currents/commanded_index")
        self._cur_nA = f.get("currents/commanded_nA")
        self._c_currents = f["currents/committed"]
        self._truth = f["ground_truth"]
        self._c_truth = f["ground_truth_committed"]

    def _restructure(self, change: Any) -> None:
        """Apply a change SWMR forbids: commit, reopen in ordinary mode, change, back to SWMR."""
        self.commit()
        self._f.close()
        try:
            self._f = h5py.File(self.path, "r+", libver=LIBVER, locking=False)
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot reopen the recording: {exc}") from None
        change(self._f)
        self._f.flush()
        self._f.swmr_mode = True
        self._bind()

    # --- appends --------------------------------------------------------------------------
    def append_samples(self, start_index: int, data: np.ndarray) -> None:
        """Append rows that start at sample ``start_index`` (a jump starts a new segment)."""
        n = int(data.shape[0])
        if n == 0:
            return
        if self.next_index is None or start_index != self.next_index:
            k = self._segments.shape[0]
            self._segments.resize((k + 1, 2))
            self._segments[k] = (self.rows, start_index)
        self._samples.resize((self.rows + n, self._samples.shape[1]))
        self._write_rows(self.rows, np.ascontiguousarray(data, dtype=self.dtype))
        self.rows += n
        self.next_index = start_index + n
        self.last_index = max(self.last_index, self.next_index)

    def _write_rows(self, row: int, data: np.ndarray) -> None:
        """Write rows at ``row``: whole chunks straight to the file (``write_direct_chunk``,
        bypassing HDF5's per-element pipeline: no filters, same dtype), the rest as usual."""
        c = self._chunk_rows
        end = row + data.shape[0]
        first = min(end, -(-row // c) * c)  # the first chunk boundary at or after ``row``
        if first > row:
            self._samples[row:first] = data[: first - row]
        k = first
        while k + c <= end:
            self._samples.id.write_direct_chunk((k, 0), data[k - row:k - row + c])
            k += c
        if k < end:
            self._samples[k:end] = data[k - row:]

    def append_events(self, events: Iterable[LogEvent]) -> None:
        events = list(events)
        if not events:
            return
        rows = np.zeros(len(events), dtype=EVENT_DTYPE)
        texts = []
        offset = self.text_bytes
        for i, e in enumerate(events):
            raw = e.text.encode("utf-8")
            texts.append(raw)
            rows[i] = (e.sample_index, utf8_prefix(str(e.kind), KIND_BYTES), utf8_prefix(e.barrel, BARREL_BYTES),
                       e.current_nA, utf8_prefix(e.text, TEXT_PREVIEW_BYTES), offset, len(raw))
            offset += len(raw)
        blob = np.frombuffer(b"".join(texts), dtype=np.uint8)
        if len(blob):
            self._text.resize((offset,))
            self._text[self.text_bytes:offset] = blob
        self.text_bytes = offset
        self._events.resize((self.n_events + len(events),))
        self._events[self.n_events:] = rows
        self.n_events += len(events)
        self._append_currents([e for e in events if e.kind in CURRENT_KINDS and e.barrel])

    def _append_currents(self, events: list[LogEvent]) -> None:
        """Commanded currents: one row (every barrel, balance included) per changing sample."""
        if self.pipette is None or self._cur_index is None or not events:
            return
        idx: list[int] = []
        vals: list[np.ndarray] = []
        for e in sorted(events, key=lambda e: e.sample_index):
            try:
                i = self.pipette.index(e.barrel)
            except KeyError:
                continue
            self._commanded[i] = e.current_nA
            row = self.pipette.with_balance(self._commanded.copy())
            if idx and idx[-1] == e.sample_index:
                vals[-1] = row
            elif not idx and e.sample_index == self._last_current_index and self.n_currents:
                self._cur_nA[self.n_currents - 1] = row  # same sample as the last stored row
            else:
                idx.append(e.sample_index)
                vals.append(row)
            self._last_current_index = e.sample_index
        if idx:
            k = self.n_currents
            self._cur_index.resize((k + len(idx),))
            self._cur_index[k:] = np.asarray(idx, dtype=np.int64)
            self._cur_nA.resize((k + len(idx), self._cur_nA.shape[1]))
            self._cur_nA[k:] = np.asarray(vals)
            self.n_currents = k + len(idx)

    def append_truth(self, truth: Mapping[str, object]) -> None:
        arrays = {name: np.asarray(a) for name, a in truth.items()}
        new = [n for n in arrays if n not in self.truth_rows]
        if new:
            for n in new:
                if len(n.encode("utf-8")) > TRUTH_NAME_BYTES:
                    raise RecordingError(f"{self.path}: ground-truth name {n!r} is longer than {TRUTH_NAME_BYTES} bytes")

            def create(f: h5py.File) -> None:
                gt = f["ground_truth"]
                for n in new:
                    a = arrays[n]
                    gt.create_dataset(n, shape=(0, *a.shape[1:]), maxshape=(None, *a.shape[1:]), dtype=a.dtype,
                                      chunks=(max(256, min(65536, 4 * len(a))), *a.shape[1:]))

            self._restructure(create)
            for n in new:
                self.truth_rows[n] = 0
        for name, a in arrays.items():
            if len(a) == 0:
                continue
            ds = self._truth[name]
            k = self.truth_rows[name]
            ds.resize((k + len(a), *ds.shape[1:]))
            ds[k:] = a
            self.truth_rows[name] = k + len(a)

    def set_protocol(self, protocol: ProtocolInfo | None) -> None:
        self._restructure(lambda f: _write_protocol(f, protocol))

    # --- commit and close -----------------------------------------------------------------
    def commit(self) -> None:
        """Flush the data, then the counters that vouch for it, then flush again."""
        try:
            self._f.flush()
            # low-level writes: h5py's ``ds[()] = v`` costs ~0.1 ms each, and at --speed max
            # there are hundreds of commits a second
            _write_scalar(self._c_samples, np.int64(self.rows))
            _write_scalar(self._c_events, np.int64(self.n_events))
            _write_scalar(self._c_currents, np.int64(self.n_currents))
            if len(self.truth_rows) != self._truth_names_committed:
                self._c_truth.resize((len(self.truth_rows),))
                self._truth_names_committed = len(self.truth_rows)
            if self.truth_rows:
                table = np.array([(n.encode("utf-8"), r) for n, r in self.truth_rows.items()],
                                 dtype=TRUTH_COMMITTED_DTYPE)
                self._c_truth[:] = table
            _write_scalar(self._heartbeat, np.float64(time.time()))
            self._f.flush()
        except OSError as exc:
            raise RecordingError(f"{self.path}: writing failed: {exc}") from None

    def close(self, notes: str) -> None:
        """Commit, close, and mark the file closed cleanly (an ordinary HDF5 file from now on)."""
        self.commit()
        iso, _, _ = now_with_timezone()

        def finish(f: h5py.File) -> None:
            f.attrs["notes"] = notes
            f.attrs["stopped"] = iso
            f.attrs["closed_cleanly"] = True

        self._f.close()
        try:
            with h5py.File(self.path, "r+", libver=LIBVER, locking=False) as f:
                finish(f)
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot finish the recording: {exc}") from None
        finally:
            self._release_writer_lock()

    def abandon(self) -> None:
        """Close after a failure, without marking the file clean (it reads as a crashed file)."""
        try:
            self._f.close()
        except (OSError, RuntimeError, ValueError):
            pass
        self._release_writer_lock()

    def _release_writer_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _give_up(self, remove: bool) -> None:
        """Creating the file failed: remove it if this writer made it (``remove``), drop the locks."""
        if remove and self._lock is not None and self._lock.created:
            try:
                self.path.unlink()
            except OSError:
                pass
        self._release_writer_lock()


def _write_scalar(ds: h5py.Dataset, value: np.generic) -> None:
    """Write a scalar dataset of the same dtype (``ds[()] = value``, without h5py's overhead)."""
    ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.asarray(value))


def _write_protocol(f: h5py.File, protocol: ProtocolInfo | None) -> None:
    g = f["protocol"]
    p = protocol or ProtocolInfo()
    g.attrs["text"] = p.text
    g.attrs["name"] = p.name
    g.attrs["format"] = p.format
    g.attrs["params"] = json.dumps(dict(p.params), default=str)
    g.attrs["source"] = p.source


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Free space on the file system holding ``path`` (its nearest existing parent)."""
    import shutil

    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free
