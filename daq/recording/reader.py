"""Reading ionto recordings: finished files, files being written, files left by a crash.

The reader trusts the committed counters (``/acquisition/committed_samples``,
``/events/committed``, ...): rows beyond them may not have been flushed before a crash, or
may still be in flight from a live writer, and are ignored.

A cleanly closed file is an ordinary HDF5 file.  A file still being written, or left by a
writer that was killed, is in SWMR mode: it is opened read-only with ``swmr=True``;
``refresh()`` follows a live writer.  ``status`` tells them apart: ``"closed"``, ``"live"``
(a writer holds the file's writer lock) or ``"crashed"``.

Thread: a ``Recording`` belongs to the thread that uses it (h5py objects are not shared).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.errors import DamagedRecordingError, NotARecordingError, RecordingError
from daq.pipette import Pipette
from daq.recording.damage import DAMAGE_ERRORS, reads
from daq.recording.format import FORMAT_NAME, SCHEMA_VERSION
from daq.recording.heap_check import damaged_global_heap
from daq.recording.metadata import ProtocolInfo
from daq.recording.paths import refuse_special_file, writer_alive
from daq.recording.swmr_open import open_swmr
from daq.types import AIChannel, ChannelKind, EventKind, LogEvent, StreamInfo

LIVE_HEARTBEAT_S = 10.0  # without flock: a writer commits at least every 2 s; older = crashed


def _s(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def superblock_eof(path: Path) -> int | None:
    """The end-of-file address the writer declared in a version 2/3 superblock (the ones SWMR
    files have), or None for other superblocks.  Only the signature at offset 0 is looked at."""
    with open(path, "rb") as fh:
        head = fh.read(48)
    if len(head) < 16 or not head.startswith(_HDF5_SIGNATURE) or head[8] not in (2, 3):
        return None
    size_of_offsets = head[9]
    if size_of_offsets not in (2, 4, 8):
        return None
    at = 12 + 2 * size_of_offsets  # after base address and superblock-extension address
    if len(head) < at + size_of_offsets:
        return None
    return int.from_bytes(head[at:at + size_of_offsets], "little")


def _open_h5(path: Path) -> tuple[h5py.File, bool]:
    """Open read-only: plainly, else (a file in SWMR mode: live or crashed) with ``swmr=True``
    and HDF5's metadata retries bounded (``swmr_open``)."""
    # no HDF5 locks anywhere in ionto: the only lock is the writer's (``writer_alive``)
    try:
        return h5py.File(path, "r", locking=False), False
    except OSError as plain_exc:
        if not h5py.is_hdf5(path):
            size = path.stat().st_size
            hint = " (it is empty: a writer may have died while creating it)" if size == 0 else ""
            raise NotARecordingError(f"{path}: not an HDF5 file, so not an ionto recording{hint}") from None
        # A SWMR reader does not check the end of file (a live writer extends it), so a file cut
        # short (a partial copy) would make it retry its reads for minutes: refuse it here.
        declared = superblock_eof(path)
        actual = path.stat().st_size
        if declared is not None and actual < declared:
            raise DamagedRecordingError(
                f"{path}: the file is truncated ({actual} of the {declared} bytes its writer declared); "
                "was it copied while still being written, or copied incompletely? Copy it again from the original"
            ) from None
        if "already open for write" not in str(plain_exc):
            # only a file a writer holds (or held, in SWMR mode) needs a SWMR open; anything
            # else that stops a plain open (a bad checksum) would stop the SWMR open too
            raise _damaged(path, plain_exc) from None
        try:
            return open_swmr(path), True
        except OSError as swmr_exc:
            # the write flag without the SWMR-write flag: HDF5 stopped outside SWMR mode
            if "already open for" in str(swmr_exc) and not writer_alive(path):
                raise DamagedRecordingError(
                    f"{path}: its writer died while HDF5 was changing the file (a full disk?), leaving HDF5's "
                    f"'open for writing' flag set; clear it with HDF5's tool `h5clear -s {path}` (a copy is "
                    "safest), then open it again"
                ) from None
            raise _damaged(path, swmr_exc) from None


def _damaged(path: Path, exc: OSError) -> DamagedRecordingError:
    return DamagedRecordingError(f"{path}: the HDF5 file cannot be opened ({exc}); it is damaged beyond what "
                                 "ionto can read")


class Recording:
    """An ionto recording opened for reading.  Use as a context manager or call ``close``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        refuse_special_file(self.path)  # a FIFO would block every read below forever
        if not self.path.exists():
            raise RecordingError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise NotARecordingError(f"{self.path}: a folder, not an ionto recording")
        if (heap := damaged_global_heap(self.path)) is not None:
            # HDF5 would loop forever on it (see heap_check): refuse before HDF5 reads it
            raise DamagedRecordingError(f"{self.path}: the file is damaged (the global heap at byte {heap}, which "
                                        "holds its text attributes, is corrupted)")
        self._f, self.swmr = _open_h5(self.path)
        try:
            self._check_format()
            self._bind()
        except RecordingError:
            self._f.close()
            raise
        except DAMAGE_ERRORS as exc:
            self._f.close()
            raise DamagedRecordingError(f"{self.path}: the file is damaged ({exc})") from None

    def _check_format(self) -> None:
        fmt = _s(self._f.attrs.get("ionto_format", ""))
        if fmt != FORMAT_NAME:
            raise NotARecordingError(
                f"{self.path}: an HDF5 file but not an ionto recording (no ionto_format={FORMAT_NAME!r} attribute)"
            )
        self.schema_version = int(self._f.attrs.get("schema_version", 0))
        if self.schema_version > SCHEMA_VERSION:
            raise RecordingError(
                f"{self.path}: schema version {self.schema_version} is newer than this ionto reads "
                f"({SCHEMA_VERSION}); update ionto"
            )

    def _bind(self) -> None:
        try:
            acq = self._f["acquisition"]
            self._samples = acq["samples"]
            self.rate_hz = float(acq.attrs["rate_hz"])
            if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
                raise DamagedRecordingError(f"{self.path}: the file is damaged: its sample rate (/acquisition "
                                            f"rate_hz) is {self.rate_hz:g} Hz, not a positive number")
            chans = acq["channels"][()]
            self._committed_ds = acq["committed_samples"]
            self._segments_ds = acq["segments"]
            self._load_counters()
        except (KeyError, OSError, ValueError) as exc:
            raise DamagedRecordingError(f"{self.path}: the acquisition group is damaged ({exc})") from None
        self.channels = tuple(
            AIChannel(
                name=_s(c["name"]), physical=_s(c["physical"]), kind=ChannelKind(_s(c["kind"])),
                range_V=float(c["range_V"]), terminal=_s(c["terminal"]) or "default", units=_s(c["units"]),
                gain=float(c["gain"]), barrel=_s(c["barrel"]) or None,
            )
            for c in chans
        )
        self.stream = StreamInfo(
            rate_hz=self.rate_hz, channels=self.channels, dtype=self._samples.dtype,
            scale_V=tuple(float(c["scale_V"]) for c in chans), offset_V=tuple(float(c["offset_V"]) for c in chans),
        )

    def _load_counters(self) -> None:
        committed = int(self._committed_ds[()])
        self.n_samples = max(0, min(committed, int(self._samples.shape[0])))
        self._segments = np.asarray(self._segments_ds[()], dtype=np.int64).reshape(-1, 2)

    def refresh(self) -> bool:
        """Follow a live writer: re-read the counters and what they vouch for.  True if the
        recording grew.  (Attributes, such as ``closed_cleanly``, are read at open: reopen to
        see the final state.)"""
        before = (self.n_samples, len(self.events))
        try:
            for ds in self._live_datasets() if self.swmr else ():
                ds.refresh()
            self._load_counters()
        except DAMAGE_ERRORS as exc:
            raise DamagedRecordingError(f"{self.path}: cannot refresh ({exc})") from None
        self.__dict__.pop("events", None)
        return (self.n_samples, len(self.events)) != before

    def _live_datasets(self) -> list[h5py.Dataset]:
        # the handles this object keeps (h5py caches their shape), then the ones opened per use
        names = ["acquisition/heartbeat_unix", "events/committed", "events/table", "events/text",
                 "currents/committed", "currents/commanded_index", "currents/commanded_nA",
                 "ground_truth_committed"]
        return [self._committed_ds, self._samples, self._segments_ds, *(self._f[n] for n in names if n in self._f)]

    # --- context manager ----------------------------------------------------------------
    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    # --- metadata -----------------------------------------------------------------------
    @property
    @reads("its attributes")
    def closed_cleanly(self) -> bool:
        return bool(self._f.attrs.get("closed_cleanly", False))

    @property
    @reads("its heartbeat")
    def heartbeat_age_s(self) -> float | None:
        """Seconds since the writer last committed (None for files without a heartbeat)."""
        if "acquisition/heartbeat_unix" not in self._f:
            return None
        return time.time() - float(self._f["acquisition/heartbeat_unix"][()])

    @property
    def status(self) -> str:
        """``"closed"`` (closed cleanly), ``"live"`` (a writer holds the file now) or ``"crashed"``."""
        if self.closed_cleanly:
            return "closed"
        alive = writer_alive(self.path)
        if alive is None:  # no flock here: trust a recent heartbeat
            age = self.heartbeat_age_s
            alive = age is not None and age < LIVE_HEARTBEAT_S
        return "live" if alive else "crashed"

    @property
    def created(self) -> str:
        return _s(self._f.attrs.get("created", ""))

    @property
    def stopped(self) -> str:
        return _s(self._f.attrs.get("stopped", ""))

    @property
    def timezone(self) -> str:
        return _s(self._f.attrs.get("timezone", ""))

    @property
    def notes(self) -> str:
        return _s(self._f.attrs.get("notes", ""))

    @property
    @reads("its attributes")
    def software(self) -> dict[str, str]:
        return json.loads(_s(self._f.attrs.get("software", "{}")))

    @property
    def duration_s(self) -> float:
        """Committed recorded time (rows / rate; gaps not included)."""
        return self.n_samples / self.rate_hz

    @cached_property
    @reads("the pipette")
    def pipette(self) -> Pipette | None:
        raw = _s(self._f["pipette"].attrs.get("json", "null")) if "pipette" in self._f else "null"
        data = json.loads(raw)
        return None if data is None else Pipette.model_validate(data)

    @cached_property
    @reads("the rig")
    def rig(self) -> dict[str, Any]:
        if "rig" not in self._f:
            return {}
        return json.loads(_s(self._f["rig"].attrs.get("json", "{}")))

    @cached_property
    @reads("the protocol")
    def protocol(self) -> ProtocolInfo:
        if "protocol" not in self._f:
            return ProtocolInfo()
        a = self._f["protocol"].attrs
        return ProtocolInfo(
            text=_s(a.get("text", "")), name=_s(a.get("name", "")), format=_s(a.get("format", "")),
            params=json.loads(_s(a.get("params", "{}"))), source=_s(a.get("source", "")),
        )

    # --- events -------------------------------------------------------------------------
    @cached_property
    @reads("the event log")
    def events(self) -> list[LogEvent]:
        """The committed event log, in sample order (stable for equal indices)."""
        if "events" not in self._f:
            return []
        g = self._f["events"]
        try:
            n = min(int(g["committed"][()]), g["table"].shape[0])
            rows = g["table"][:n]
            heap = g["text"][()] if "text" in g and "text_offset" in rows.dtype.names else None
        except (OSError, KeyError, ValueError) as exc:
            raise DamagedRecordingError(f"{self.path}: the event log is damaged ({exc})") from None
        out = []
        for r in rows:
            try:
                kind = EventKind(_s(r["kind"]))
            except ValueError:
                kind = EventKind.NOTE
            if heap is not None:
                off, nb = int(r["text_offset"]), int(r["text_nbytes"])
                text = bytes(heap[off:off + nb]).decode("utf-8", "replace") if off + nb <= len(heap) else _s(r["text"])
            else:
                text = _s(r["text"])
            out.append(LogEvent(int(r["sample_index"]), kind, _s(r["barrel"]), float(r["current_nA"]), text))
        out.sort(key=lambda e: e.sample_index)
        return out

    @reads("the commanded currents")
    def commanded_currents(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """(sample indices (k,), currents nA (k, barrels), barrel names): from each index on,
        every barrel's commanded current (balance included) until the next row."""
        pip = self.pipette
        names = pip.names if pip is not None else ()
        if "currents" in self._f and "committed" in self._f["currents"]:
            if "commanded_index" not in self._f["currents"]:
                return np.zeros(0, np.int64), np.zeros((0, len(names))), names
            g = self._f["currents"]
            n = min(int(g["committed"][()]), g["commanded_index"].shape[0])
            return g["commanded_index"][:n].astype(np.int64), g["commanded_nA"][:n].astype(np.float64), names
        # schema 1: rebuild from the event log
        if pip is None:
            return np.zeros(0, np.int64), np.zeros((0, 0)), names
        cur = pip.safe_currents_nA()
        idx: list[int] = []
        vals: list[np.ndarray] = []
        for e in self.events:
            if e.kind in (EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT) and e.barrel in names:
                cur[pip.index(e.barrel)] = e.current_nA
                row = pip.with_balance(cur.copy())
                if idx and idx[-1] == e.sample_index:
                    vals[-1] = row
                else:
                    idx.append(e.sample_index)
                    vals.append(row)
        return np.asarray(idx, np.int64), np.asarray(vals, np.float64).reshape(len(idx), len(names)), names

    def monitor_channel(self, barrel: str) -> int | None:
        """Column of the barrel's current-monitor channel (its monitored current), if recorded."""
        for i, c in enumerate(self.channels):
            if c.kind == ChannelKind.CURRENT_MONITOR and c.barrel == barrel:
                return i
        return None

    # --- sample index <-> row -----------------------------------------------------------
    @property
    def segments(self) -> np.ndarray:
        """(k, 2) array of [row, sample_index] where each contiguous run of samples starts."""
        seg = self._segments
        if len(seg):
            seg = seg[seg[:, 0] < max(self.n_samples, 1)]
        if len(seg) == 0:
            return np.array([[0, 0]], dtype=np.int64)
        return seg

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """(sample index where samples went missing, number lost) for each gap."""
        seg = self.segments
        out = []
        for k in range(1, len(seg)):
            expected = seg[k - 1, 1] + (seg[k, 0] - seg[k - 1, 0])
            out.append((int(expected), int(seg[k, 1] - expected)))
        return out

    @property
    def first_index(self) -> int:
        return int(self.segments[0, 1])

    @property
    def end_index(self) -> int:
        """One past the sample index of the last committed row."""
        if self.n_samples == 0:
            return self.first_index
        return int(self.row_to_index(np.array([self.n_samples - 1]))[0]) + 1

    def row_to_index(self, rows: np.ndarray) -> np.ndarray:
        """Sample indices of file rows."""
        seg = self.segments
        rows = np.asarray(rows, dtype=np.int64)
        k = np.searchsorted(seg[:, 0], rows, side="right") - 1
        k = np.clip(k, 0, len(seg) - 1)
        return seg[k, 1] + (rows - seg[k, 0])

    def index_to_row(self, indices: np.ndarray) -> np.ndarray:
        """File rows of sample indices (an index inside a gap maps to the next recorded row)."""
        seg = self.segments
        idx = np.asarray(indices, dtype=np.int64)
        k = np.searchsorted(seg[:, 1], idx, side="right") - 1
        k = np.clip(k, 0, len(seg) - 1)
        rows = seg[k, 0] + np.maximum(idx - seg[k, 1], 0)
        nxt = np.append(seg[1:, 0], self.n_samples)[k]
        return np.minimum(rows, nxt)

    # --- samples ------------------------------------------------------------------------
    def raw(self, start: int = 0, stop: int | None = None, channels: list[int] | None = None) -> np.ndarray:
        """Raw samples of rows ``start:stop`` (clipped to the committed rows)."""
        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        start = max(0, min(start, stop))
        try:
            data = self._samples[start:stop]
        except DAMAGE_ERRORS as exc:
            raise DamagedRecordingError(f"{self.path}: rows {start}:{stop} cannot be read ({exc})") from None
        return data if channels is None else data[:, channels]

    def physical(self, channel: int | str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """One channel of rows ``start:stop`` in its physical units (float64)."""
        ch = self.stream.index_of(channel) if isinstance(channel, str) else channel
        return self.stream.to_physical(self.raw(start, stop, [ch])[:, 0], ch)

    def iter_rows(self, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, raw block)`` over the committed rows, ``block_rows`` at a time."""
        for start in range(0, self.n_samples, block_rows):
            yield start, self.raw(start, start + block_rows)

    def channel_indices(self, kind: ChannelKind) -> list[int]:
        return [i for i, c in enumerate(self.channels) if c.kind == kind]

    # --- ground truth -------------------------------------------------------------------
    @property
    @reads("the ground truth")
    def has_ground_truth(self) -> bool:
        return "ground_truth" in self._f and (bool(self.truth_names()) or bool(self.truth_metadata))

    @cached_property
    @reads("the ground truth")
    def truth_metadata(self) -> dict[str, Any]:
        if "ground_truth" not in self._f:
            return {}
        return json.loads(_s(self._f["ground_truth"].attrs.get("json", "{}")))

    def _truth_committed(self) -> dict[str, int]:
        if "ground_truth_committed" in self._f:
            table = self._f["ground_truth_committed"][()]
            return {_s(r["name"]): int(r["rows"]) for r in table}
        if "ground_truth" in self._f:  # schema 1
            return json.loads(_s(self._f["ground_truth"].attrs.get("committed", "{}")))
        return {}

    def truth(self, name: str) -> np.ndarray:
        """A ground-truth dataset, trimmed to its committed rows."""
        if name not in self.truth_names():
            raise KeyError(f"{self.path}: no ground truth named {name!r}")
        return self._truth_rows(name)

    @reads("the ground truth")
    def _truth_rows(self, name: str) -> np.ndarray:
        ds = self._f["ground_truth"][name]
        if self.swmr:
            ds.refresh()
        n = min(int(self._truth_committed().get(name, 0)), ds.shape[0])
        return ds[:n]

    @reads("the ground truth")
    def truth_names(self) -> list[str]:
        if "ground_truth" not in self._f:
            return []
        g = self._f["ground_truth"]
        out: list[str] = []
        g.visit(lambda n: out.append(n) if isinstance(g[n], h5py.Dataset) else None)
        return out

    # --- summary ------------------------------------------------------------------------
    @reads("its summary")
    def summary(self) -> dict[str, Any]:
        """What ``ionto info`` prints: a JSON-ready dict."""
        events = self.events
        counts: dict[str, int] = {}
        for e in events:
            counts[str(e.kind)] = counts.get(str(e.kind), 0) + 1
        pip = self.pipette
        monitors = {c.barrel: c.name for c in self.channels if c.kind == ChannelKind.CURRENT_MONITOR and c.barrel}
        age = self.heartbeat_age_s
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "status": self.status,
            "closed_cleanly": self.closed_cleanly,
            "created": self.created,
            "timezone": self.timezone,
            "stopped": self.stopped,
            "last_commit_age_s": None if self.closed_cleanly or age is None else round(age, 3),
            "rate_hz": self.rate_hz,
            "committed_samples": self.n_samples,
            "duration_s": self.duration_s,
            "first_index": self.first_index,
            "end_index": self.end_index,
            "span_s": (self.end_index - self.first_index) / self.rate_hz,
            "dtype": str(self.stream.dtype),
            "channels": [
                {"name": c.name, "physical": c.physical, "kind": str(c.kind), "units": c.units,
                 "gain": c.gain, "barrel": c.barrel, "scale_V": self.stream.scale_V[i],
                 "offset_V": self.stream.offset_V[i], "range_V": c.range_V}
                for i, c in enumerate(self.channels)
            ],
            "gaps": [{"sample_index": i, "t_s": i / self.rate_hz, "lost_samples": n} for i, n in self.gaps],
            "lost_samples": sum(n for _, n in self.gaps),
            "events": {"count": len(events), "by_kind": counts},
            "pipette": None if pip is None else [
                {"name": b.name, "drug": b.drug, "role": b.role, "polarity": b.polarity,
                 "concentration_mM": b.concentration_mM, "retain_nA": b.retain_nA,
                 "max_eject_nA": b.max_eject_nA, "command_gain_nA_per_V": b.command_gain_nA_per_V,
                 "monitor_channel": monitors.get(b.name)}
                for b in pip.barrels
            ],
            "protocol": {"name": self.protocol.name, "format": self.protocol.format,
                         "params": dict(self.protocol.params)},
            "ground_truth": self.has_ground_truth,
            "software": self.software,
            "notes": self.notes,
        }


def open_recording(path: str | os.PathLike[str]) -> Recording:
    return Recording(path)
