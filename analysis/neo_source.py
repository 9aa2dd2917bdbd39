"""Other systems' recordings (Spike2, Axon, Open Ephys, Intan, Plexon, Blackrock, NIX, …) read
through Neo's raw IO as an ionto recording.

:class:`NeoSource` gives one signal stream of a file that ``neo.rawio`` reads the reading
surface of ``daq.recording.Recording`` (what ``analysis.pipeline.analyze`` uses):

* samples are read lazily, ``get_analogsignal_chunk`` per block of rows, in the stored dtype,
  and converted with each channel's gain and offset and its units (µV, mV, V → volts);
* the stream: the file's one stream, or the one named (``stream=``, ``--series``: its name or
  number); with several, the highest-rate stream of voltage channels (the one with the most
  channels; Open Ephys' separate ``ADC`` stream loses a tie); still a tie → refused with the list;
* current monitors: channels in current units (pA, nA, µA, mA, A) of any stream sampled with the
  chosen one, or channels named in ``monitors`` (``{channel: (barrel, drug, V_per_nA)}``), else
  in a monitors CSV next to the file (``FILE.monitors.csv`` / ``FOLDER/monitors.csv``: columns
  ``channel, barrel, drug, V_per_nA``);
* ejection epochs (``analysis.neo_epochs``), from the first of: a sidecar CSV next to the
  file, the file's event/epoch channels (markers), the current monitors;
* one Neo block and one segment: a file of several sweeps or recordings is refused in one line
  naming what it holds.

Opening the file and its one-line errors (``NeoFormatError``, a ``RecordingError``):
``analysis.neo_file``.  Thread: the caller's.
"""

from __future__ import annotations

import math
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from analysis.neo_epochs import (
    MonitorEpochs,
    marker_ejections,
    pipette_from,
    read_monitors,
    read_sidecar,
    sidecar_for,
)
from analysis.neo_file import (
    NeoFormatError,
    event_channels,
    is_neo_path,
    is_open_ephys_folder,
    open_rawio,
    short_error,
    streams,
)
from analysis.nwb_stimulus import Ejection
from analysis.recording_surface import RecordingSurface
from daq.pipette import Pipette
from daq.recording import ProtocolInfo
from daq.types import AIChannel, ChannelKind, EventKind, LogEvent, StreamInfo

VOLTS_PER_UNIT = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "nv": 1e-9}
NA_PER_UNIT = {"a": 1e9, "ma": 1e6, "ua": 1e3, "µa": 1e3, "μa": 1e3, "na": 1.0, "pa": 1e-3}
class NeoSource(RecordingSurface):
    """One signal stream of a file Neo reads, read like an ionto ``Recording``.

    ``stream`` picks the stream (name or number); ``monitors`` maps channel names to
    ``(barrel, drug, V_per_nA)`` for current monitors recorded in volts; ``threshold_nA`` is how far a
    monitored current must leave its resting level to count as an ejection;
    ``ejections_csv`` overrides the sidecar found next to the file.  Use as a context manager."""

    schema_version = 0
    closed_cleanly = True
    has_ground_truth = False
    software: dict[str, str] = {}  # noqa: RUF012 (read-only, shared)
    rig: dict[str, Any] = {}  # noqa: RUF012
    truth_metadata: dict[str, Any] = {}  # noqa: RUF012
    jitter_periods = 0.0

    def __init__(self, path: str | os.PathLike[str], *, stream: str | None = None,
                 monitors: dict[str, tuple[str, str, float]] | None = None, threshold_nA: float = 2.0,
                 ejections_csv: str | os.PathLike[str] | None = None):
        self.path = Path(path)
        self._io = open_rawio(self.path)
        if monitors is None:
            found = sidecar_for(self.path, "monitors")
            monitors = read_monitors(found) if found is not None else {}
        self._monitor_spec = dict(monitors)
        self.threshold_nA = float(threshold_nA)
        self._sidecar = Path(ejections_csv) if ejections_csv else sidecar_for(self.path)
        h = self._io.header
        self.format = type(self._io).__name__.removesuffix("RawIO")
        if h["nb_block"] != 1 or h["nb_segment"][0] != 1:
            raise NeoFormatError(f"{self.path}: {self.format} file with {h['nb_block']} block(s) and "
                                 f"{list(h['nb_segment'])} segment(s) (sweeps/recordings); ionto analyses one "
                                 "continuous recording (one block, one segment)")
        self._stream = self._pick_stream(stream)
        self._setup()

    # --- context manager ----------------------------------------------------------------------
    def __enter__(self) -> NeoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass  # Neo's raw IOs hold memmaps or file handles they release when collected

    # --- streams ------------------------------------------------------------------------------
    def streams(self) -> list[dict[str, Any]]:
        """Every signal stream of the file (see :func:`streams`)."""
        return streams(self._io)

    def event_channels(self) -> list[dict[str, Any]]:
        """Every event/epoch channel of the file (see :func:`event_channels`)."""
        return event_channels(self._io)

    def _pick_stream(self, name: str | None) -> dict[str, Any]:
        streams = [s for s in self.streams() if s["channels"]]
        listing = "; ".join(f"{s['index']}: {s['name']!r} ({s['rate_hz']:g} Hz, {len(s['channels'])} ch)"
                            for s in streams)
        if not streams:
            raise NeoFormatError(f"{self.path}: {self.format} file with no analog signal stream")
        if name is not None:
            hit = [s for s in streams if s["name"] == name or s["id"] == name or str(s["index"]) == name]
            if len(hit) != 1:
                raise NeoFormatError(f"{self.path}: no single stream {name!r}; the file has {listing} — "
                                     "choose one with --series NAME or NUMBER")
            return hit[0]
        if len(streams) == 1:
            return streams[0]
        volt = [s for s in streams if all(c["units"].lower() in VOLTS_PER_UNIT for c in s["channels"])] or streams
        top = max(s["rate_hz"] for s in volt)
        best = sorted((s for s in volt if s["rate_hz"] == top),
                      key=lambda s: (-len(s["channels"]), "ADC" in s["name"]))
        if len(best) > 1 and (len(best[0]["channels"]), "ADC" in best[0]["name"]) == (
                len(best[1]["channels"]), "ADC" in best[1]["name"]):
            raise NeoFormatError(f"{self.path}: {len(streams)} signal streams — {listing}; choose one with "
                                 "--series NAME or NUMBER")
        return best[0]

    @property
    def series_name(self) -> str:
        return self._stream["name"]

    def _setup(self) -> None:
        s = self._stream
        h = self._io.header
        self.rate_hz = s["rate_hz"]
        self.n_samples = s["samples"]
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise NeoFormatError(f"{self.path}: stream {s['name']!r} has sampling rate {self.rate_hz}")
        t0 = float(self._io.get_signal_t_start(0, 0, s["index"]))
        self.t_start_s = t0
        self._segments = np.array([[0, round(t0 * self.rate_hz)]], dtype=np.int64)
        self._drugs: dict[str, str] = {}
        cols: list[tuple[int, int]] = []  # (stream index, channel index within the stream)
        channels, scale, offset = [], [], []
        others = [x for x in self.streams() if x["rate_hz"] == self.rate_hz and x["samples"] == self.n_samples]
        for st in [s, *(x for x in others if x["index"] != s["index"])]:
            sig = h["signal_channels"][h["signal_channels"]["stream_id"] == st["id"]]
            for j, c in enumerate(sig):
                name, units = str(c["name"]), str(c["units"]).strip().lower()
                gain, off = float(c["gain"]), float(c["offset"])
                if name in self._monitor_spec or units in NA_PER_UNIT:
                    barrel, drug, v_per_nA = self._monitor_spec.get(name, (_barrel_of(name), "", None))
                    self._drugs[barrel] = drug
                    if v_per_nA is None:
                        per = NA_PER_UNIT.get(units)
                        if per is None:
                            raise NeoFormatError(f"{self.path}: monitor channel {name!r} is in {units!r}; give its "
                                                 "gain in V/nA")
                    else:
                        per = VOLTS_PER_UNIT.get(units, 1.0) / v_per_nA
                    channels.append(AIChannel(f"I_{barrel}", name, ChannelKind.CURRENT_MONITOR, math.inf,
                                              units="nA", barrel=barrel))
                    scale.append(gain * per)
                    offset.append(off * per)
                elif st["index"] == s["index"]:
                    per = VOLTS_PER_UNIT.get(units)
                    if per is None:
                        raise NeoFormatError(f"{self.path}: channel {name!r} of stream {s['name']!r} is in {units!r}; "
                                             f"ionto reads electrode voltages in {sorted(VOLTS_PER_UNIT)}")
                    channels.append(AIChannel(name, f"{s['name']}/{name}", ChannelKind.ELECTRODE, math.inf, units="V"))
                    scale.append(gain * per)
                    offset.append(off * per)
                else:
                    continue
                cols.append((st["index"], j))
        if not any(c.kind == ChannelKind.ELECTRODE for c in channels):
            raise NeoFormatError(f"{self.path}: stream {s['name']!r} holds no voltage channel to analyse")
        self._cols = cols
        self.channels = tuple(channels)
        dtypes = {np.dtype(h["signal_channels"][h["signal_channels"]["stream_id"] == x["id"]]["dtype"][0])
                  for x in self.streams() if x["index"] in {c[0] for c in cols}}
        self._dtype = np.result_type(*dtypes)
        self.stream = StreamInfo(rate_hz=self.rate_hz, channels=self.channels, dtype=self._dtype,
                                 scale_V=tuple(scale), offset_V=tuple(offset))

    # --- the rest of the Recording surface (RecordingSurface holds the sample bookkeeping) -------
    created = ""
    notes = ""

    @property
    def protocol(self) -> ProtocolInfo:
        return ProtocolInfo(text="", name="", format=self.format)

    metadata: dict[str, Any] = {"subject": {}, "session": {}}  # noqa: RUF012

    def raw(self, start: int = 0, stop: int | None = None, channels: list[int] | None = None) -> np.ndarray:
        """Stored samples of rows ``start:stop`` as (rows, channels), read with
        ``get_analogsignal_chunk`` (one call per stream involved)."""
        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        start = max(0, min(start, stop))
        wanted = list(range(len(self.channels))) if channels is None else list(channels)
        out = np.empty((stop - start, len(wanted)), dtype=self._dtype)
        if stop == start:
            return out
        by_stream: dict[int, list[tuple[int, int]]] = {}
        for k, col in enumerate(wanted):
            si, j = self._cols[col]
            by_stream.setdefault(si, []).append((k, j))
        for si, pairs in by_stream.items():
            try:
                chunk = self._io.get_analogsignal_chunk(0, 0, start, stop, si, channel_indexes=[j for _, j in pairs])
            except Exception as exc:  # a truncated file surfaces as anything from Neo
                raise NeoFormatError(f"{self.path}: cannot read rows {start}–{stop} ({short_error(exc)})") from None
            for n, (k, _) in enumerate(pairs):
                out[:, k] = chunk[:, n]
        return out

    def truth_names(self) -> list[str]:
        return []

    def truth(self, name: str) -> np.ndarray:
        raise KeyError(f"{self.path}: another system's recording holds no simulator ground truth ({name!r})")

    # --- epochs -------------------------------------------------------------------------------
    def _markers(self) -> list[tuple[float, float | None, str]]:
        out = []
        for k in range(len(self._io.header["event_channels"])):
            ts, durs, labels = self._io.get_event_timestamps(0, 0, k)
            if ts is None or len(ts) == 0:
                continue
            times = self._io.rescale_event_timestamp(ts, dtype="float64", event_channel_index=k)
            d = (self._io.rescale_epoch_duration(durs, dtype="float64", event_channel_index=k)
                 if durs is not None else [None] * len(times))
            out.extend((float(t), None if x is None else float(x), str(lb)) for t, x, lb in zip(times, d, labels))
        return out

    @cached_property
    def epochs_source(self) -> str:
        """Where the ejections come from: ``sidecar FILE``, ``markers``, ``monitor CHANNELS`` or ``none``."""
        return self._ejections_and_source[1]

    @property
    def ejections(self) -> list[Ejection]:
        return self._ejections_and_source[0]

    @cached_property
    def _ejections_and_source(self) -> tuple[list[Ejection], str]:
        end_s = self.t_start_s + self.duration_s
        if self._sidecar is not None:
            return read_sidecar(self._sidecar), f"sidecar {self._sidecar}"
        found = marker_ejections(self._markers(), end_s)
        if found:
            return found, "markers"
        mons = self.channel_indices(ChannelKind.CURRENT_MONITOR)
        if mons:
            return self._monitor_ejections(mons), "monitor " + ", ".join(self.channels[i].physical for i in mons)
        return [], "none"

    def _monitor_ejections(self, mons: list[int]) -> list[Ejection]:
        block = max(1, int(self.rate_hz))  # one second of rows at a time: bounded memory
        det = [MonitorEpochs(self.channels[i].barrel or self.channels[i].name, self.rate_hz, self.threshold_nA,
                             self._drugs.get(self.channels[i].barrel or "", "")) for i in mons]
        for pass_ in ("level", "runs"):
            for start in range(0, self.n_samples, block):
                data = self.raw(start, start + block, mons)
                for k, i in enumerate(mons):
                    cur = self.stream.to_physical(data[:, k], i)
                    if pass_ == "level":
                        det[k].add_level(cur)
                    else:
                        det[k].add_runs(start, cur)
        return sorted((e for d in det for e in d.ejections(self.t_start_s)), key=lambda e: e.start_s)

    @cached_property
    def pipette(self) -> Pipette | None:
        return pipette_from(self.ejections, f"from {self.epochs_source}")

    @cached_property
    def events(self) -> list[LogEvent]:
        """An ejection event at each ejection's start and an off event at its end."""
        out = []
        for e in self.ejections:
            on, off = round(e.start_s * self.rate_hz), round(e.stop_s * self.rate_hz)
            out.append(LogEvent(on, EventKind.EJECT, e.barrel, e.current_nA, f"from {self.epochs_source}"))
            out.append(LogEvent(off, EventKind.OFF, e.barrel, 0.0, f"from {self.epochs_source}"))
        out.sort(key=lambda ev: ev.sample_index)
        return out


def _barrel_of(channel: str) -> str:
    """A monitor channel's barrel: its name without an ``I_`` prefix or ``_mon`` suffix."""
    name = channel.removeprefix("I_").removeprefix("i_")
    return name.removesuffix("_mon").removesuffix("_monitor") or channel


__all__ = ["NeoFormatError", "NeoSource", "event_channels", "is_neo_path", "is_open_ephys_folder", "open_rawio",
           "streams"]
