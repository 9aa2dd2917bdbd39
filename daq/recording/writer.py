"""The HDF5 recorder: an engine sink that appends samples, events and ground truth.

Crash safety: data are flushed at least every ``flush_interval_s``; the committed
counters are updated only after the data they count are flushed, so a reader that trusts
them never sees unflushed rows (see ``daq.recording.reader``).

Thread: every method runs on the engine thread.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.errors import RecordingError
from daq.pipette import Pipette
from daq.recording.format import CHANNEL_DTYPE, EVENT_DTYPE, FORMAT_NAME, SCHEMA_VERSION
from daq.types import Block, LogEvent, StreamInfo


@dataclass(frozen=True)
class ProtocolInfo:
    """What the recording stores about the protocol that ran."""

    text: str = ""
    name: str = ""
    format: str = ""  # "yaml", "python", "manual"
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # the plan's Python source


def software_versions() -> dict[str, str]:
    import daq

    versions = {"ionto": daq.__version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("numpy", "scipy", "h5py", "nidaqmx", "pydantic"):
        m = sys.modules.get(mod)
        if m is None:
            try:
                m = __import__(mod)
            except ImportError:
                continue
        versions[mod] = str(getattr(m, "__version__", "?"))
    versions["hdf5"] = h5py.version.hdf5_version
    return versions


class Recorder:
    """Writes one recording file.  Create, then hand to the engine as its recorder."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pipette: Pipette | None = None,
        rig: Mapping[str, Any] | None = None,
        protocol: ProtocolInfo | None = None,
        truth_metadata: Mapping[str, Any] | None = None,
        notes: str = "",
        flush_interval_s: float = 0.5,
        chunk_s: float = 0.5,
        overwrite: bool = False,
        min_free_bytes: int = 200 * 2**20,
    ):
        self.path = Path(path)
        self.pipette = pipette
        self.rig = dict(rig or {})
        self.protocol = protocol
        self.truth_metadata = dict(truth_metadata or {})
        self.notes = notes
        self.flush_interval_s = flush_interval_s
        self.chunk_s = chunk_s
        self.overwrite = overwrite
        self.min_free_bytes = min_free_bytes
        self._f: h5py.File | None = None
        self._rows = 0
        self._next_index: int | None = None
        self._n_events = 0
        self._truth_rows: dict[str, int] = {}
        self._last_flush = 0.0
        self.stream: StreamInfo | None = None

    # --- sink API -----------------------------------------------------------------------
    def start(self, stream: StreamInfo) -> None:
        if self.path.exists() and not self.overwrite:
            raise RecordingError(f"{self.path}: file exists; choose another name or allow overwrite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.path.parent).free
        if free < self.min_free_bytes:
            raise RecordingError(
                f"{self.path.parent}: only {free / 2**20:.0f} MiB free; at least "
                f"{self.min_free_bytes / 2**20:.0f} MiB are needed to start a recording"
            )
        self.stream = stream
        try:
            f = h5py.File(self.path, "w")
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot create the recording: {exc}") from None
        self._f = f
        f.attrs["ionto_format"] = FORMAT_NAME
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["created"] = _dt.datetime.now().astimezone().isoformat()
        f.attrs["software"] = json.dumps(software_versions())
        f.attrs["closed_cleanly"] = False
        f.attrs["notes"] = self.notes
        acq = f.create_group("acquisition")
        acq.attrs["rate_hz"] = float(stream.rate_hz)
        nch = stream.n_channels
        chunk_rows = max(1, round(stream.rate_hz * self.chunk_s))
        acq.create_dataset(
            "samples", shape=(0, nch), maxshape=(None, nch), dtype=stream.dtype, chunks=(chunk_rows, nch)
        )
        acq.create_dataset("committed_samples", data=np.int64(0))
        acq.create_dataset("segments", shape=(0, 2), maxshape=(None, 2), dtype="<i8", chunks=(256, 2))
        chans = np.zeros(nch, dtype=CHANNEL_DTYPE)
        for i, c in enumerate(stream.channels):
            chans[i] = (
                c.name, c.physical, str(c.kind), c.units, c.gain,
                stream.scale_V[i], stream.offset_V[i], c.range_V, c.barrel or "", c.terminal,
            )
        acq.create_dataset("channels", data=chans)
        ev = f.create_group("events")
        ev.create_dataset("table", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE, chunks=(1024,))
        ev.create_dataset("committed", data=np.int64(0))
        pg = f.create_group("pipette")
        pg.attrs["json"] = self.pipette.model_dump_json() if self.pipette is not None else "null"
        rg = f.create_group("rig")
        rg.attrs["json"] = json.dumps(self.rig, default=str)
        f.create_group("protocol")
        self.set_protocol(self.protocol)
        if self.truth_metadata:
            gt = f.create_group("ground_truth")
            gt.attrs["json"] = json.dumps(self.truth_metadata, default=float)
        self._flush(force=True)

    def set_protocol(self, protocol: ProtocolInfo | None) -> None:
        """Store (or replace) the protocol description."""
        self.protocol = protocol
        if self._f is None:
            return
        g = self._f["protocol"]
        p = protocol or ProtocolInfo()
        g.attrs["text"] = p.text
        g.attrs["name"] = p.name
        g.attrs["format"] = p.format
        g.attrs["params"] = json.dumps(dict(p.params), default=str)
        g.attrs["source"] = p.source

    def add_note(self, text: str) -> None:
        self.notes = (self.notes + "\n" + text).strip()
        if self._f is not None:
            self._f.attrs["notes"] = self.notes

    def on_block(self, block: Block) -> None:
        f = self._require()
        ds = f["acquisition/samples"]
        if self._next_index is None or block.start_index != self._next_index:
            seg = f["acquisition/segments"]
            k = seg.shape[0]
            seg.resize((k + 1, 2))
            seg[k] = (self._rows, block.start_index)
        n = block.n_samples
        ds.resize((self._rows + n, ds.shape[1]))
        ds[self._rows:self._rows + n] = block.data
        self._rows += n
        self._next_index = block.end_index
        self._flush()

    def on_truth_metadata(self, metadata: Mapping[str, Any]) -> None:
        """The simulator's model parameters (before ``start``)."""
        self.truth_metadata = dict(metadata)

    def on_events(self, events: list[LogEvent]) -> None:
        if not events:
            return
        f = self._require()
        ds = f["events/table"]
        rows = np.zeros(len(events), dtype=EVENT_DTYPE)
        for i, e in enumerate(events):
            rows[i] = (e.sample_index, str(e.kind).encode(), e.barrel, e.current_nA, e.text)
        ds.resize((self._n_events + len(events),))
        ds[self._n_events:] = rows
        self._n_events += len(events)

    def on_truth(self, truth: Mapping[str, object]) -> None:
        f = self._require()
        gt = f.require_group("ground_truth")
        for name, arr in truth.items():
            a = np.asarray(arr)
            if name not in gt:
                gt.create_dataset(
                    name, shape=(0, *a.shape[1:]), maxshape=(None, *a.shape[1:]), dtype=a.dtype,
                    chunks=(max(1, min(65536, 4 * len(a) or 1024)), *a.shape[1:]),
                )
                self._truth_rows[name] = 0
            ds = gt[name]
            k = self._truth_rows[name]
            ds.resize((k + len(a), *a.shape[1:]))
            ds[k:] = a
            self._truth_rows[name] = k + len(a)

    def stop(self) -> None:
        if self._f is None:
            return
        try:
            self._flush(force=True)
            self._f.attrs["closed_cleanly"] = True
            self._f.flush()
        finally:
            self._f.close()
            self._f = None

    # --- internals ----------------------------------------------------------------------
    @property
    def committed_samples(self) -> int:
        return self._rows

    def _require(self) -> h5py.File:
        if self._f is None:
            raise RecordingError(f"{self.path}: the recorder is not started")
        return self._f

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_interval_s:
            return
        f = self._require()
        try:
            f.flush()  # data first ...
            f["acquisition/committed_samples"][()] = self._rows
            f["events/committed"][()] = self._n_events
            gt = f.get("ground_truth")
            if gt is not None:
                gt.attrs["committed"] = json.dumps(self._truth_rows)
            f.flush()  # ... then the counters that vouch for them
        except OSError as exc:
            raise RecordingError(f"{self.path}: writing failed: {exc}") from None
        self._last_flush = now
