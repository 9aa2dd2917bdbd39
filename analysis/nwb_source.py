"""Reading NWB files for the analysis: an ElectricalSeries as a recording.

:class:`NwbSource` gives an NWB file's ElectricalSeries the reading surface of
``daq.recording.Recording`` (what ``analysis.pipeline.analyze`` uses), so recordings from
other rigs go through the same analysis:

* samples are read lazily from the file, in the stored dtype, and converted to volts with
  the series' ``conversion`` × ``channel_conversion`` and ``offset``;
* the series: the file's one ElectricalSeries, or the one named (``series=``, ``--series``:
  its name or its path such as ``processing/ecephys/LFP/ElectricalSeriesLFP``); a file with
  several and no choice is refused with the list;
* shape: (samples, channels) with one electrode per column; data stored (channels, samples)
  — one row per electrode, the other axis as long as the timestamps or longer than the
  electrodes are many — is read transposed, a slab ``data[:, a:b].T`` per read (bounded
  memory), and said so once (``read_notes``: ``ionto info``, analysis.json); a square
  (as many samples as electrodes) or an electrodes region longer or shorter than the
  columns is refused;
* time: ``starting_time`` + ``rate``, or ``timestamps`` within ±0.25 sample period of one
  regular clock (``analysis.nwb_clock``; a jump of samples becomes a gap, as in an ionto
  recording);
* the detection band must fit the rate (the one band rule of every source,
  ``analysis.detect_file.require_band``): a series sampled too slowly for spikes (an LFP) is
  refused, never analysed with its band silently cut;
* epochs: from an intervals table — the ndx-iontophoresis ``IontophoresisEjectionsTable``
  when present (barrels and the pipette from the barrels table it refers to;
  ``analysis.nwb_ndx``), else ``iontophoresis`` (ionto's plain table) or any table with a
  ``barrel``, ``drug`` or ``current_nA`` column, else an ``epochs`` table whose tags name the
  drug.  Each row becomes an ejection (onset, offset, current) of a barrel described by the
  table's columns.

Opening the file and its one-line errors: ``analysis.nwb_file``; sorted units:
``analysis.nwb_units``.
"""

from __future__ import annotations

import math
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from analysis.nwb_clock import TimestampError, regular_clock
from analysis.nwb_file import NwbFormatError, finite, is_nwb_file, open_nwb, series_path, text
from analysis.nwb_ndx import is_ejections_table, pipette_from_barrels, read_barrels, read_ejections
from analysis.nwb_stimulus import Ejection
from analysis.recording_surface import RecordingSurface
from daq.pipette import Barrel, Pipette
from daq.recording import ProtocolInfo
from daq.recording.damage import DAMAGE_ERRORS, reads
from daq.types import AIChannel, ChannelKind, EventKind, LogEvent, StreamInfo

EPOCH_COLUMNS = ("barrel", "drug", "current_nA")


class NwbSource(RecordingSurface):
    """One ElectricalSeries of an NWB file, read like an ionto ``Recording``.

    ``series`` picks an ElectricalSeries by name or path (needed when the file has several;
    the error lists them); ``intervals`` an intervals table by name (default: see the module
    doc).  Opening checks the series (shape, electrodes, scaling, clock) and refuses what
    cannot be analysed with ``NwbFormatError``, one line naming the file.
    Use as a context manager or call ``close``."""

    schema_version = 0
    closed_cleanly = True
    has_ground_truth = False
    software: dict[str, str] = {}  # noqa: RUF012 (read-only, shared)
    rig: dict[str, Any] = {}  # noqa: RUF012

    def __init__(self, path: str | os.PathLike[str], *, series: str | None = None,
                 intervals: str | None = None):
        self.path = Path(path)
        self._io, self._nwb = open_nwb(self.path)
        try:
            self._es = self._pick_series(series)
            self._intervals_name = intervals
            self._setup()
        except DAMAGE_ERRORS as exc:  # parts that disagree (an electrode row past its table...)
            self._io.close()
            raise NwbFormatError(f"{self.path}: the NWB file cannot be read as an ElectricalSeries recording "
                                 f"({type(exc).__name__}: {exc})") from None
        except BaseException:
            self._io.close()
            raise

    # --- context manager ----------------------------------------------------------------
    def __enter__(self) -> NwbSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._io.close()

    # --- the series -----------------------------------------------------------------------
    def _series_path(self, es: Any) -> str:
        return series_path(self._nwb, es)

    def _describe(self, es: Any) -> str:
        shape = "×".join(str(x) for x in es.data.shape)
        rate = f"{float(es.rate):g} Hz" if es.rate else "timestamps"
        return f"{self._series_path(es)} ({rate}, {shape})"

    def _pick_series(self, name: str | None) -> Any:
        from pynwb.ecephys import ElectricalSeries

        found = sorted((o for o in self._nwb.objects.values() if isinstance(o, ElectricalSeries)),
                       key=self._series_path)
        if not found:
            others = sorted(getattr(o, "name", "?") for o in self._nwb.acquisition.values())
            raise NwbFormatError(f"{self.path}: no ElectricalSeries in this NWB file (acquisition holds "
                                 f"{others or 'nothing'}); ionto analyses extracellular voltage recordings")
        listing = "; ".join(self._describe(o) for o in found)
        if name is None:
            if len(found) > 1:
                raise NwbFormatError(f"{self.path}: {len(found)} ElectricalSeries — {listing}; choose one with "
                                     "--series NAME (its name or path)")
            return found[0]
        chosen = [o for o in found if self._series_path(o) == name.strip("/")] or [o for o in found if o.name == name]
        if len(chosen) == 1:
            return chosen[0]
        if chosen:
            raise NwbFormatError(f"{self.path}: {len(chosen)} ElectricalSeries are named {name!r} — "
                                 f"{'; '.join(self._describe(o) for o in chosen)}; give its path with --series")
        raise NwbFormatError(f"{self.path}: no ElectricalSeries named {name!r}; the file has {listing}")

    @property
    def series_name(self) -> str:
        """The analysed ElectricalSeries' path in the file."""
        return self._series_path(self._es)

    def _setup(self) -> None:
        es = self._es
        what = f"{self.path}: ElectricalSeries {self.series_name!r}"
        shape = es.data.shape
        if len(shape) not in (1, 2) or not np.issubdtype(np.dtype(es.data.dtype), np.number):
            raise NwbFormatError(f"{what} holds {es.data.dtype} data shaped {shape}; "
                                 "ionto reads numbers shaped (samples,) or (samples, channels)")
        self._one_d = len(shape) == 1
        rows = self._electrode_rows(what, shape)
        self._transposed = self._channels_first(what, shape, len(rows))
        n_ch = 1 if self._one_d else int(shape[0] if self._transposed else shape[1])
        self.n_samples = int(shape[1] if self._transposed else shape[0])
        self.read_notes: tuple[str, ...] = ((f"{self.series_name}: stored channels-first ({shape[0]} channels × "
                                             f"{shape[1]} samples); read transposed",) if self._transposed else ())
        names = self._channel_names(rows)
        conversion = finite(es.conversion, f"{what}: conversion", nonzero=True)
        cc = (np.ones(n_ch) if es.channel_conversion is None
              else np.asarray(es.channel_conversion[:], dtype=np.float64).ravel())
        if len(cc) != n_ch or not np.all(np.isfinite(cc)) or np.any(cc == 0):
            raise NwbFormatError(f"{what}: channel_conversion {cc[:8].tolist()}{'…' if len(cc) > 8 else ''} must be "
                                 f"{n_ch} finite, non-zero factors (one per column)")
        scale = list(conversion * cc)
        offset = [finite(getattr(es, "offset", 0.0) or 0.0, f"{what}: offset")] * n_ch
        channels = [AIChannel(nm, f"{es.name}[{i}]", ChannelKind.ELECTRODE, math.inf, units="V")
                    for i, nm in enumerate(names)]
        self._monitors = self._monitor_series(es)
        for barrel, ts in self._monitors:  # in nA, as an ionto recording holds them
            channels.append(AIChannel(f"I_{barrel}", ts.name, ChannelKind.CURRENT_MONITOR, math.inf, units="nA",
                                      barrel=barrel))
            scale.append(float(ts.conversion) / 1e-9)
            offset.append(float(getattr(ts, "offset", 0.0) or 0.0) / 1e-9)
        self.channels = tuple(channels)
        self.jitter_periods = 0.0
        if es.timestamps is None:
            self.rate_hz = finite(es.rate, f"{what}: sampling rate", nonzero=True)
            if self.rate_hz < 0:
                raise NwbFormatError(f"{what} has sampling rate {self.rate_hz} Hz; it must be positive")
            first = finite(float(es.starting_time or 0.0) * self.rate_hz, f"{what}: starting_time × rate")
            if abs(first) >= 2 ** 62:
                raise NwbFormatError(f"{what}: starting_time {es.starting_time} s is beyond any sample clock")
            self._segments = np.array([[0, round(first)]], dtype=np.int64)
        else:
            if len(es.timestamps) != self.n_samples:
                raise NwbFormatError(f"{what} has {len(es.timestamps)} timestamps for {self.n_samples} samples; "
                                     "NWB wants one per sample")
            try:
                clock = regular_clock(es.timestamps, self.n_samples)
            except TimestampError as exc:
                raise NwbFormatError(f"{what}: {exc}") from None
            self.rate_hz, self._segments, self.jitter_periods = clock.rate_hz, clock.segments, clock.jitter_periods
            if np.abs(self._segments[:, 1]).max() >= 2 ** 62:
                raise NwbFormatError(f"{what}: timestamps from {es.timestamps[0]} s are beyond any sample clock")
        if not self.rate_hz > 0:
            raise NwbFormatError(f"{what} has sampling rate {self.rate_hz}")
        self.stream = StreamInfo(rate_hz=self.rate_hz, channels=self.channels, dtype=np.dtype(es.data.dtype),
                                 scale_V=tuple(scale), offset_V=tuple(offset))

    def _electrode_rows(self, what: str, shape: tuple[int, ...]) -> np.ndarray:
        """The electrodes-table rows of the data's columns: one per column, else refused."""
        region = self._es.electrodes
        if region is None:
            raise NwbFormatError(f"{what} does not say which electrodes its columns are (no electrodes region)")
        rows = np.asarray(region.data[:]).ravel()
        n_table = len(region.table)
        if not np.issubdtype(rows.dtype, np.integer) or (len(rows) and (rows.min() < 0 or rows.max() >= n_table)):
            raise NwbFormatError(f"{what}: its electrodes region lists rows {rows[:8].tolist()} but the electrodes "
                                 f"table has rows 0–{n_table - 1}")
        n_cols = 1 if len(shape) == 1 else shape[1]
        if n_cols == len(rows) or (len(shape) == 2 and shape[0] == len(rows)):  # (channels, samples): _channels_first
            return rows
        raise NwbFormatError(f"{what} has {n_cols} data column(s) but its electrodes region lists {len(rows)} "
                             "electrode(s); NWB needs exactly one electrode per column")

    def _channels_first(self, what: str, shape: tuple[int, ...], n_electrodes: int) -> bool:
        """True when the data is stored (channels, samples) — one row per electrode, as pynwb
        warns "Data is oriented incorrectly and should be transposed" — and its second axis is
        clearly the samples: as long as the timestamps, or (without timestamps) longer than the
        electrodes are many.  A square (as many samples as electrodes) is refused: which axis
        is time cannot be told."""
        if len(shape) != 2 or shape[0] != n_electrodes:
            return False
        ts = self._es.timestamps
        if shape[1] == n_electrodes:
            raise NwbFormatError(f"{what} holds {shape[0]}×{shape[1]} data for {n_electrodes} electrodes: as many "
                                 "samples as channels, so which axis is time cannot be told; NWB stores (samples, "
                                 "channels)")
        n_ts = None if ts is None else len(ts)
        if n_ts is not None and n_ts != shape[1]:
            raise NwbFormatError(f"{what} holds {shape[0]}×{shape[1]} data for {n_electrodes} electrodes and "
                                 f"{n_ts} timestamps: neither axis is both the samples and one column per "
                                 "electrode; NWB stores (samples, channels) with one timestamp per sample")
        if n_ts is None and shape[1] < shape[0]:
            raise NwbFormatError(f"{what} holds {shape[0]}×{shape[1]} data for {n_electrodes} electrodes: fewer "
                                 "samples than channels if stored (channels, samples); NWB stores (samples, "
                                 "channels)")
        return True

    def _monitor_series(self, es: Any) -> list[tuple[str, Any]]:
        """The barrels' monitored currents (``monitored_current_<barrel>`` in A, as ionto exports
        them) sampled with the ElectricalSeries: same length, dtype and time base."""
        out = []
        for name, ts in sorted((self._nwb.stimulus or {}).items()):
            if not name.startswith("monitored_current_") or ts.unit != "A" or ts.data.ndim != 1:
                continue
            same_time = ts.timestamps is es or (ts.timestamps is None and es.timestamps is None
                                                 and ts.rate == es.rate and ts.starting_time == es.starting_time)
            if same_time and ts.data.shape[0] == self.n_samples and ts.data.dtype == es.data.dtype:
                out.append((name.removeprefix("monitored_current_"), ts))
        return out

    def _channel_names(self, rows: np.ndarray) -> list[str]:
        """Names of the columns: the electrodes' ``channel_name`` or ``label``, else ``e<id>``."""
        table = self._es.electrodes.table
        col = next((c for c in ("channel_name", "label") if c in table.colnames), None)
        if col is not None:
            values = table[col].data[:]
            names = [text(values[r]) for r in rows]
        else:
            ids = table.id.data[:]
            names = [f"e{ids[r]}" for r in rows]
        if len(set(names)) != len(names):
            names = [f"{nm}#{k}" for k, nm in enumerate(names)]
        return names

    # --- the rest of the Recording surface (RecordingSurface holds the sample bookkeeping) -----
    @property
    def created(self) -> str:
        return self._nwb.session_start_time.isoformat()

    @property
    def notes(self) -> str:
        return str(self._nwb.notes or "")

    @property
    def protocol(self) -> ProtocolInfo:
        return ProtocolInfo(text=str(self._nwb.protocol or ""), name=str(self._nwb.session_id or ""), format="nwb")

    @reads("the samples")
    def raw(self, start: int = 0, stop: int | None = None, channels: list[int] | None = None) -> np.ndarray:
        """Stored samples of rows ``start:stop`` as (rows, channels): the electrodes, then the
        monitored currents."""
        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        start = max(0, min(start, stop))
        n_elec = len(self.channels) - len(self._monitors)
        wanted = range(len(self.channels)) if channels is None else channels
        need_mon = [k - n_elec for k in wanted if k >= n_elec]
        if self._transposed:  # (channels, samples) on disk: a slab of all channels, transposed in memory
            data = np.ascontiguousarray(np.asarray(self._es.data[:, start:stop]).T)
        else:
            data = np.asarray(self._es.data[start:stop])
        if self._one_d:
            data = data[:, None]
        if need_mon:
            cols = [np.asarray(self._monitors[m][1].data[start:stop]) if m in need_mon
                    else np.zeros(stop - start, dtype=data.dtype) for m in range(len(self._monitors))]
            data = np.column_stack([data, *cols])
        return data if channels is None else data[:, channels]

    def truth_names(self) -> list[str]:
        return []

    def truth(self, name: str) -> np.ndarray:
        raise KeyError(f"{self.path}: an NWB file holds no simulator ground truth ({name!r})")

    truth_metadata: dict[str, Any] = {}  # noqa: RUF012

    @cached_property
    @reads("the subject and session")
    def metadata(self) -> dict[str, Any]:
        """Subject and session fields of the NWB file (the form of a metadata file)."""
        s = self._nwb.subject
        subject = {} if s is None else {k: getattr(s, k) for k in ("subject_id", "species", "sex", "age", "strain",
                                                                     "genotype", "weight", "description")
                                        if getattr(s, k, None) is not None}
        return {"subject": subject, "session": {k: v for k, v in (
            ("session_id", self._nwb.session_id), ("lab", self._nwb.lab), ("institution", self._nwb.institution),
            ("session_description", self._nwb.session_description)) if v}}

    # --- epochs -----------------------------------------------------------------------------
    @cached_property
    @reads("the intervals tables")
    def _epoch_table(self) -> tuple[str, Any] | None:
        tables = dict(self._nwb.intervals or {})
        if self._intervals_name is not None:
            if self._intervals_name not in tables:
                raise NwbFormatError(f"{self.path}: no intervals table {self._intervals_name!r}; the file has "
                                     f"{sorted(tables)}")
            return self._intervals_name, tables[self._intervals_name]
        typed = [(name, t) for name, t in tables.items() if is_ejections_table(t)]
        if typed:  # the ndx-iontophoresis table: barrels by reference, with their pipette
            return typed[0]
        if "iontophoresis" in tables:
            return "iontophoresis", tables["iontophoresis"]
        for name, t in tables.items():
            if any(c in t.colnames for c in EPOCH_COLUMNS):
                return name, t
        ep = tables.get("epochs")
        if ep is not None and "tags" in ep.colnames and len(ep) and any(len(x) for x in ep["tags"][:]):
            return "epochs", ep
        return None

    @cached_property
    @reads("the intervals table")
    def ejections(self) -> list[Ejection]:
        """The rows of the epoch table, in time order."""
        found = self._epoch_table
        if found is None:
            return []
        name, t = found
        if is_ejections_table(t):
            return self._checked(name, read_ejections(t, str(self.path)))
        n = len(t)

        def column(c: str, default: Any = None) -> list[Any]:
            return list(t[c][:]) if c in t.colnames else [default] * n

        tags = column("tags", [])
        barrels = [str(b or d or (tg[0] if len(tg) else name))
                   for b, d, tg in zip(column("barrel"), column("drug"), tags)]
        drugs = [str(d or b) for d, b in zip(column("drug"), barrels)]
        roles = ["control" if (r == "control" or (r is None and c)) else "drug"
                 for r, c in zip(column("role"), column("control", False))]
        currents = [float("nan") if c is None else float(c) for c in column("current_nA")]
        concs = [0.0 if c is None or not np.isfinite(c) else float(c) for c in column("concentration_mM")]
        starts, stops = np.asarray(t["start_time"][:], float), np.asarray(t["stop_time"][:], float)
        out = [Ejection(float(a), float(b), barrel, drug, role, cur, abs(cur) * (float(b) - float(a)), conc, "")
               for a, b, barrel, drug, role, cur, conc in zip(starts, stops, barrels, drugs, roles, currents, concs)]
        return self._checked(name, out)

    def _checked(self, name: str, rows: list[Ejection]) -> list[Ejection]:
        """``rows`` (in the table's order) in time order, or one line naming the first that does
        not run forward in finite time."""
        for k, e in enumerate(rows):
            if not (math.isfinite(e.start_s) and math.isfinite(e.stop_s) and e.stop_s >= e.start_s):
                raise NwbFormatError(f"{self.path}: row {k} of the intervals table {name!r} runs from {e.start_s} to "
                                     f"{e.stop_s} s; start_time and stop_time must be finite, with stop ≥ start")
        return sorted(rows, key=lambda e: e.start_s)

    @cached_property
    @reads("the intervals table")
    def pipette(self) -> Pipette | None:
        """Barrels described by the epoch table (None without one)."""
        ej = self.ejections
        if not ej:
            return None
        name, table = self._epoch_table or ("", None)
        if table is not None and is_ejections_table(table):
            try:
                barrels = table["barrel"].table
                return pipette_from_barrels(read_barrels(barrels), ej, f"from the NWB table {name!r} "
                                            "(ndx-iontophoresis)",
                                            getattr(barrels.parent, "max_total_current_nA", None))
            except ValueError as exc:
                raise NwbFormatError(f"{self.path}: the pipette's barrels table cannot be read as ionto barrels: "
                                     f"{' '.join(str(exc).split())[:300]}") from None
        barrels = []
        for name in dict.fromkeys(e.barrel for e in ej):
            rows = [e for e in ej if e.barrel == name]
            currents = [e.current_nA for e in rows if np.isfinite(e.current_nA) and e.current_nA != 0]
            top = max([200.0, *(abs(c) for c in currents)])
            role = rows[0].role
            pol = 0 if role == "control" else (int(np.sign(currents[0])) if currents else 1)
            barrels.append(Barrel(name=name, drug=rows[0].drug, role=role, polarity=pol,
                                  concentration_mM=rows[0].concentration_mM, max_eject_nA=top,
                                  command_gain_nA_per_V=max(100.0, top / 10.0)))
        return Pipette(barrels=tuple(barrels), max_total_nA=max(500.0, *(b.max_eject_nA for b in barrels)),
                       name=f"from the NWB table {self._epoch_table[0]!r}" if self._epoch_table else "")

    @cached_property
    @reads("the intervals table")
    def events(self) -> list[LogEvent]:
        """An ejection event at each row's start and an off event at its stop."""
        out = []
        for e in self.ejections:
            on, off = e.start_s * self.rate_hz, e.stop_s * self.rate_hz
            if not abs(off) < 2 ** 62:  # finite (checked) but beyond any sample clock
                raise NwbFormatError(f"{self.path}: the intervals table {self._epoch_table[0]!r} has a row from "
                                     f"{e.start_s} to {e.stop_s} s, beyond any sample clock at {self.rate_hz:g} Hz")
            on, off = round(on), round(off)
            out.append(LogEvent(on, EventKind.EJECT, e.barrel, e.current_nA, "from NWB intervals"))
            out.append(LogEvent(off, EventKind.OFF, e.barrel, 0.0, "from NWB intervals"))
        out.sort(key=lambda ev: ev.sample_index)
        return out


__all__ = ["NwbFormatError", "NwbSource", "is_nwb_file"]
