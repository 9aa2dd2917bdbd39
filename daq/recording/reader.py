"""Reading ionto recordings: finished files and files left by a crashed writer.

The reader trusts the committed counters (``/acquisition/committed_samples``,
``/events/committed``): rows beyond them may not have been flushed before a crash and
are ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.errors import DamagedRecordingError, NotARecordingError, RecordingError
from daq.pipette import Pipette
from daq.recording.format import FORMAT_NAME, SCHEMA_VERSION
from daq.recording.writer import ProtocolInfo
from daq.types import AIChannel, ChannelKind, EventKind, LogEvent, StreamInfo


def _s(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class Recording:
    """An ionto recording opened for reading.  Use as a context manager or call ``close``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if not self.path.exists():
            raise RecordingError(f"{self.path}: no such file")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            if not h5py.is_hdf5(self.path):
                raise NotARecordingError(f"{self.path}: not an HDF5 file, so not an ionto recording") from None
            raise DamagedRecordingError(f"{self.path}: the HDF5 file cannot be opened ({exc})") from None
        try:
            fmt = _s(self._f.attrs.get("ionto_format", ""))
            if fmt != FORMAT_NAME:
                raise NotARecordingError(
                    f"{self.path}: an HDF5 file but not an ionto recording (no ionto_format={FORMAT_NAME!r})"
                )
            self.schema_version = int(self._f.attrs.get("schema_version", 0))
            if self.schema_version > SCHEMA_VERSION:
                raise RecordingError(
                    f"{self.path}: schema version {self.schema_version} is newer than this ionto reads "
                    f"({SCHEMA_VERSION}); update ionto"
                )
            try:
                acq = self._f["acquisition"]
                self._samples = acq["samples"]
                self.rate_hz = float(acq.attrs["rate_hz"])
                committed = int(acq["committed_samples"][()])
                chans = acq["channels"][()]
                self._segments = np.asarray(acq["segments"][()], dtype=np.int64)
            except (KeyError, OSError, ValueError) as exc:
                raise DamagedRecordingError(f"{self.path}: the acquisition group is damaged ({exc})") from None
        except Exception:
            self._f.close()
            raise
        self.n_samples = min(committed, int(self._samples.shape[0]))
        self.channels = tuple(
            AIChannel(
                name=_s(c["name"]), physical=_s(c["physical"]), kind=ChannelKind(_s(c["kind"])),
                range_V=float(c["range_V"]), terminal=_s(c["terminal"]) or "default", units=_s(c["units"]),
                gain=float(c["gain"]), barrel=_s(c["barrel"]) or None,
            )
            for c in chans
        )
        self.stream = StreamInfo(
            rate_hz=self.rate_hz,
            channels=self.channels,
            dtype=self._samples.dtype,
            scale_V=tuple(float(c["scale_V"]) for c in chans),
            offset_V=tuple(float(c["offset_V"]) for c in chans),
        )

    # --- context manager ----------------------------------------------------------------
    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    # --- metadata -----------------------------------------------------------------------
    @property
    def closed_cleanly(self) -> bool:
        return bool(self._f.attrs.get("closed_cleanly", False))

    @property
    def created(self) -> str:
        return _s(self._f.attrs.get("created", ""))

    @property
    def notes(self) -> str:
        return _s(self._f.attrs.get("notes", ""))

    @property
    def software(self) -> dict[str, str]:
        return json.loads(_s(self._f.attrs.get("software", "{}")))

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.rate_hz

    @cached_property
    def pipette(self) -> Pipette | None:
        raw = _s(self._f["pipette"].attrs.get("json", "null")) if "pipette" in self._f else "null"
        data = json.loads(raw)
        return None if data is None else Pipette.model_validate(data)

    @cached_property
    def rig(self) -> dict[str, Any]:
        if "rig" not in self._f:
            return {}
        return json.loads(_s(self._f["rig"].attrs.get("json", "{}")))

    @cached_property
    def protocol(self) -> ProtocolInfo:
        if "protocol" not in self._f:
            return ProtocolInfo()
        a = self._f["protocol"].attrs
        return ProtocolInfo(
            text=_s(a.get("text", "")), name=_s(a.get("name", "")), format=_s(a.get("format", "")),
            params=json.loads(_s(a.get("params", "{}"))), source=_s(a.get("source", "")),
        )

    @cached_property
    def events(self) -> list[LogEvent]:
        """The committed event log, in sample order."""
        if "events" not in self._f:
            return []
        g = self._f["events"]
        n = min(int(g["committed"][()]), g["table"].shape[0])
        rows = g["table"][:n]
        out = []
        for r in rows:
            try:
                kind = EventKind(_s(r["kind"]))
            except ValueError:
                kind = EventKind.NOTE
            out.append(LogEvent(int(r["sample_index"]), kind, _s(r["barrel"]), float(r["current_nA"]), _s(r["text"])))
        out.sort(key=lambda e: e.sample_index)
        return out

    @property
    def segments(self) -> np.ndarray:
        """(k, 2) array of [row, sample_index] where each contiguous run of samples starts."""
        seg = self._segments[self._segments[:, 0] < max(self.n_samples, 1)] if len(self._segments) else self._segments
        if len(seg) == 0:
            return np.array([[0, 0]], dtype=np.int64)
        return seg

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """(sample_index where samples went missing, number lost) for each gap."""
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
        return int(self.row_to_index(np.array([max(self.n_samples - 1, 0)]))[0]) + (1 if self.n_samples else 0)

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
        data = self._samples[start:stop]
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
    def has_ground_truth(self) -> bool:
        return "ground_truth" in self._f

    @cached_property
    def truth_metadata(self) -> dict[str, Any]:
        if not self.has_ground_truth:
            return {}
        return json.loads(_s(self._f["ground_truth"].attrs.get("json", "{}")))

    def truth(self, name: str) -> np.ndarray:
        """A ground-truth dataset, trimmed to its committed rows."""
        if not self.has_ground_truth or name not in self._f["ground_truth"]:
            raise KeyError(f"{self.path}: no ground truth named {name!r}")
        g = self._f["ground_truth"]
        committed = json.loads(_s(g.attrs.get("committed", "{}")))
        ds = g[name]
        n = min(int(committed.get(name, 0)), ds.shape[0])
        return ds[:n]

    def truth_names(self) -> list[str]:
        if not self.has_ground_truth:
            return []
        out: list[str] = []
        self._f["ground_truth"].visit(lambda n: out.append(n) if isinstance(self._f["ground_truth"][n], h5py.Dataset) else None)
        return out

    # --- summary ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What ``ionto info`` prints: a JSON-ready dict."""
        events = self.events
        counts: dict[str, int] = {}
        for e in events:
            counts[str(e.kind)] = counts.get(str(e.kind), 0) + 1
        pip = self.pipette
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "created": self.created,
            "closed_cleanly": self.closed_cleanly,
            "rate_hz": self.rate_hz,
            "committed_samples": self.n_samples,
            "duration_s": self.duration_s,
            "dtype": str(self.stream.dtype),
            "channels": [
                {"name": c.name, "physical": c.physical, "kind": str(c.kind), "units": c.units,
                 "gain": c.gain, "barrel": c.barrel}
                for c in self.channels
            ],
            "gaps": [{"sample_index": i, "lost_samples": n} for i, n in self.gaps],
            "events": {"count": len(events), "by_kind": counts},
            "pipette": None if pip is None else [
                {"name": b.name, "drug": b.drug, "role": b.role, "polarity": b.polarity,
                 "concentration_mM": b.concentration_mM, "retain_nA": b.retain_nA,
                 "max_eject_nA": b.max_eject_nA}
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
