"""``export_nwb``: an ionto recording as an NWB 2 file (pynwb), streamed in bounded memory.

What goes where (docs/nwb.md has the full table):

* ``/acquisition/ElectricalSeries``: the electrode channels as stored (int16 counts, or
  float32 volts), with ``conversion``/``channel_conversion``/``offset`` giving volts at the
  electrode; ``starting_time`` + ``rate``, or ``timestamps`` when samples were lost (gaps).
* ``/general/extracellular_ephys/electrodes``: one row per electrode channel (channel name,
  device channel, amplifier gain, ADC range), in an electrode group on the rig's device.
* ``/intervals/iontophoresis``: one row per ejection: barrel, drug, role, current (nA,
  signed), charge (nC), concentration (mM), flags.
* ``/general/devices/pipette`` and ``/intervals/iontophoresis_ejections``: the pipette with
  its barrels table and the ejections again, in the ndx-iontophoresis extension's types
  (``analysis.nwb_ndx``; the plain table above stays for readers without the extension).
* ``/stimulus/presentation/commanded_current_<barrel>``: each barrel's commanded current
  as a step function (from the event log; the balance barrel's is the negated sum), and
  ``monitored_current_<barrel>``: each current-monitor channel (counts with a conversion to A);
  both the extension's ``CommandedCurrentSeries`` / ``MonitoredCurrentSeries`` (TimeSeries that
  refer to their barrel's row).
* ``/intervals/trials``: the trials of a drug × stimulus run (``analysis.nwb_trials``).
* ``/units``: threshold crossings per electrode channel (detection as in ``ionto analyze``),
  with the threshold and noise level, and ``obs_intervals`` = the recorded (gap-free) spans.
* ``/general/subject`` (subject_id, species, sex and age required: DANDI-clean by default)
  and session fields from :mod:`analysis.nwb_metadata`;
  ``pharmacology`` describes the pipette's barrels; ``protocol`` holds the protocol text.

Thread: runs on the caller's thread; ``progress`` is called there.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from ndx_iontophoresis import CommandedCurrentSeries, MonitoredCurrentSeries
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject

from analysis.detect import DetectionParams
from analysis.detect_file import detect_recording
from analysis.nwb_chunks import ChannelIterator, SharedRows, TimestampIterator
from analysis.nwb_metadata import NwbMetadata, metadata_from_recording, resolve_subject
from analysis.nwb_ndx import add_ejections, add_pipette, barrel_region
from analysis.nwb_stimulus import commanded_currents, ejection_rows, pharmacology_text
from analysis.nwb_trials import add_trials
from analysis.source import open_source
from daq.errors import RecordingError
from daq.recording import Recording
from daq.types import ChannelKind

COMPRESSIONS = ("gzip", "lzf", "none")


@dataclass(frozen=True)
class ExportOptions:
    units: bool = True  # detect threshold crossings and write them as Units
    detection: DetectionParams = field(default_factory=DetectionParams)
    compression: Literal["gzip", "lzf", "none"] = "gzip"
    compression_level: int = 1  # gzip level (1 = fastest)
    chunk_s: float = 1.0  # HDF5 chunk length of the sample datasets
    buffer_s: float = 10.0  # rows read at once (memory: buffer_s × rate × channels × 2 bytes)
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression {self.compression!r} is not one of {COMPRESSIONS}")
        if not 0 <= self.compression_level <= 9:
            raise ValueError(f"compression_level must be 0–9, got {self.compression_level}")
        if not (self.chunk_s > 0 and self.buffer_s >= self.chunk_s):
            raise ValueError(f"need chunk_s > 0 and buffer_s >= chunk_s, got {self.chunk_s}, {self.buffer_s}")


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_nwb`` wrote (``ionto export-nwb --json`` prints it)."""

    path: str
    source: str
    duration_s: float
    n_samples: int
    electrodes: list[str]
    monitors: list[str]
    ejections: int
    trials: int  # rows of the trials table (0: none written)
    units: dict[str, int]  # spikes per electrode channel
    gaps: int
    placeholders: list[str]  # fields the recording could not give (session_start_time: the file's mtime)
    elapsed_s: float
    size_bytes: int

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


class NwbExportError(RecordingError):
    """The recording cannot be exported (nothing to export, or the output cannot be written)."""


def export_nwb(src: str | os.PathLike[str], out: str | os.PathLike[str], *,
               metadata: NwbMetadata | None = None, options: ExportOptions = ExportOptions(),
               progress: Callable[[int, int], None] | None = None) -> ExportSummary:
    """Write the recording ``src`` to the NWB file ``out``.

    ``metadata`` (typically command-line options merged over a metadata file) wins over what
    the recording holds.  ``progress(rows_done, total_rows)`` is called as the samples are
    read: first by the spike detection (when ``options.units``), then by the writing."""
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not options.overwrite:
        raise NwbExportError(f"{out}: file exists; choose another name or pass --overwrite")
    if out.suffix.lower() != ".nwb":
        raise NwbExportError(f"{out}: an NWB file name must end in .nwb")
    if Path(src).suffix.lower() == ".nwb":
        raise NwbExportError(f"{src}: already an NWB file; export-nwb takes an ionto recording (.h5) or another "
                             "system's file that Neo reads (docs/other-systems.md)")
    with open_source(src) as rec:  # an ionto HDF5, or another system's file through Neo
        if rec.n_samples == 0:
            raise NwbExportError(f"{rec.path}: the recording holds no committed samples; nothing to export")
        meta = (metadata or NwbMetadata()).merged_over(metadata_from_recording(rec))
        resolve_subject(meta.subject, str(rec.path))  # refused now, before minutes of detection and writing
        tmp = out.with_name(f".{out.stem}.partial.nwb")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            summary = _write(rec, tmp, meta, options, progress)
            os.replace(tmp, out)
        except OSError as exc:
            raise NwbExportError(f"{out}: cannot write the NWB file: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    return ExportSummary(**{**summary, "path": str(out), "elapsed_s": time.perf_counter() - t0,
                            "size_bytes": out.stat().st_size})


def _write(rec: Recording, path: Path, meta: NwbMetadata, opt: ExportOptions,
           progress: Callable[[int, int], None] | None) -> dict:
    nwb, placeholders = _nwbfile(rec, meta)
    rate = rec.rate_hz
    n = rec.n_samples
    gapped = len(rec.segments) > 1
    chunk_rows = max(1, round(opt.chunk_s * rate))
    buffer_rows = max(chunk_rows, round(opt.buffer_s * rate))
    rows = SharedRows(rec, None if progress is None else (lambda stop: progress(stop, n)))
    if gapped:  # the ElectricalSeries holds the timestamps; the other series link to them
        ts = TimestampIterator(rec, n, rate, chunk_rows=chunk_rows, buffer_rows=buffer_rows)
        timing: dict = {"timestamps": _io(ts, opt)}
    else:
        timing = {"starting_time": rec.first_index / rate, "rate": rate}

    elec = rec.channel_indices(ChannelKind.ELECTRODE)
    if not elec:
        raise NwbExportError(f"{rec.path}: no electrode channel to export; channels are "
                             f"{[c.name for c in rec.channels]}")
    region = _electrodes(nwb, rec, elec, meta.session.electrode_location or "unknown")
    es_kw = _scaling(rec, elec, 1.0)
    data = ChannelIterator(rows, n, elec, rec.stream.dtype, chunk_rows=chunk_rows, buffer_rows=buffer_rows,
                           scale=es_kw.pop("_scale"), offset=es_kw.pop("_offset"))
    es = ElectricalSeries(
        name="ElectricalSeries", data=_io(data, opt), electrodes=region,
        filtering="none in software; see the electrodes table for the amplifier gain",
        description=f"Extracellular voltage, {len(elec)} channel(s) at {rate:g} Hz, as recorded by ionto",
        **es_kw, **timing)
    nwb.add_acquisition(es)
    if gapped:
        timing = {"timestamps": es}

    def one_channel(i: int, name: str, unit: str, unit_factor: float, description: str, series: type = TimeSeries,
                    **extra: object):
        kw = _scaling(rec, [i], unit_factor)
        it = ChannelIterator(rows, n, [i], rec.stream.dtype, chunk_rows=chunk_rows, buffer_rows=buffer_rows,
                             scale=kw.pop("_scale"), offset=kw.pop("_offset"), squeeze=True)
        kw.pop("channel_conversion", None)
        return series(name=name, data=_io(it, opt), unit=unit, description=description, **extra, **kw, **timing)

    pip = rec.pipette
    barrels = add_pipette(nwb, pip) if pip is not None else None  # the extension's pipette and barrels table
    monitors = []
    for i in rec.channel_indices(ChannelKind.CURRENT_MONITOR):
        c = rec.channels[i]
        in_nA = c.units == "nA"
        region = barrel_region(barrels, c.barrel) if barrels is not None and c.barrel else None
        typed = {"series": MonitoredCurrentSeries, "barrel": region} if region is not None else {}
        nwb.add_stimulus(one_channel(
            i, _name(f"monitored_current_{c.barrel or c.name}"), "A" if in_nA else c.units, 1e-9 if in_nA else 1.0,
            f"Current monitor of barrel {c.barrel!r} (input {c.physical}, {c.gain:g} V/{c.units}): the current "
            "delivered", continuity="continuous", **typed))
        monitors.append(c.name)
    for i in [*rec.channel_indices(ChannelKind.OTHER), *rec.channel_indices(ChannelKind.MARKER)]:
        c = rec.channels[i]
        nwb.add_acquisition(one_channel(i, _name(c.name), c.units or "V", 1.0, f"{c.kind} input {c.physical}"))

    n_ej = 0
    if pip is not None and barrels is not None:
        for barrel, (times_s, cur_nA) in _commanded(rec).items():
            region = barrel_region(barrels, barrel)
            series, typed = (TimeSeries, {}) if region is None else (CommandedCurrentSeries, {"barrel": region})
            nwb.add_stimulus(series(
                name=_name(f"commanded_current_{barrel}"), data=cur_nA, unit="A", conversion=1e-9,
                **_step_times(times_s), continuity="step", description=f"Current commanded on barrel {barrel!r} (nA × 1e-9 = A); each "
                "value holds until the next timestamp (from the ionto event log)", **typed))
        n_ej = _iontophoresis(nwb, rec, pip, barrels)
    n_trials = add_trials(nwb, rec)
    units = _units(nwb, rec, elec, opt.detection, progress) if opt.units else {}

    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb, exhaust_dci=False)  # all sample datasets in step: one read of the source
    return {"source": str(rec.path), "duration_s": rec.duration_s, "n_samples": n,
            "electrodes": [rec.channels[i].name for i in elec], "monitors": monitors, "ejections": n_ej,
            "trials": n_trials, "units": units, "gaps": len(rec.gaps), "placeholders": placeholders}


def _step_times(times_s: np.ndarray) -> dict:
    """``timestamps`` of a step series' changes, or ``starting_time`` + ``rate`` when the
    changes happen to be evenly spaced (a block design): the same series, and what
    nwbinspector's check_regular_timestamps (a best-practice violation) asks for then."""
    steps = np.unique(np.round(np.diff(times_s), 9))  # the check's own rounding
    if len(times_s) > 2 and len(steps) == 1 and steps[0] > 0:
        return {"starting_time": float(times_s[0]), "rate": float(1.0 / steps[0])}
    return {"timestamps": times_s}


def _name(text: str) -> str:
    """An NWB object name: no slashes (they are HDF5 path separators)."""
    return text.replace("/", "_").replace("\\", "_")


def _commanded(rec: Recording) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each barrel's commanded current (times of change s, nA): from the reader where it
    offers them (recordings that store the commanded currents), else from the event log."""
    if not hasattr(rec, "commanded_currents"):
        return commanded_currents(rec.events, rec.pipette, rec.rate_hz)
    idx, cur, names = rec.commanded_currents()
    out = {}
    for j, name in enumerate(names):
        keep = np.ones(len(idx), dtype=bool)
        keep[1:] = cur[1:, j] != cur[:-1, j]  # only where this barrel's current changes
        if keep.any():
            out[name] = (idx[keep] / rec.rate_hz, cur[keep, j])
    return out


def _io(data: object, opt: ExportOptions) -> H5DataIO:
    if opt.compression == "none":
        return H5DataIO(data)
    if opt.compression == "lzf":  # chosen knowingly (docs/nwb.md): silence hdmf's portability warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return H5DataIO(data, compression="lzf", shuffle=True)
    return H5DataIO(data, compression="gzip", compression_opts=opt.compression_level, shuffle=True)


def _scaling(rec: Recording, chans: list[int], unit_factor: float) -> dict:
    """conversion / channel_conversion / offset for columns ``chans`` (physical = raw·scale+offset,
    divided by the channel gain, times ``unit_factor``).  Stored as is when one offset fits
    them all; converted to float32 physical units (``_scale``, ``_offset``) otherwise."""
    s = rec.stream
    scale = np.array([s.scale_V[i] / rec.channels[i].gain for i in chans]) * unit_factor
    offset = np.array([s.offset_V[i] / rec.channels[i].gain for i in chans]) * unit_factor
    raw_ints = np.issubdtype(s.dtype, np.integer)
    if raw_ints and not np.allclose(offset, offset[0], rtol=1e-9, atol=0):
        # one offset per series only: store physical values (still exact to float32)
        return {"_scale": scale / unit_factor, "_offset": offset / unit_factor, "conversion": unit_factor,
                "resolution": -1.0}
    kw: dict = {"_scale": None, "_offset": None, "offset": float(offset[0])}
    if np.allclose(scale, scale[0], rtol=1e-12, atol=0):
        kw["conversion"] = float(scale[0])
        kw["resolution"] = float(abs(scale[0])) if raw_ints else -1.0
    else:
        kw["conversion"] = 1.0
        kw["channel_conversion"] = scale.astype(np.float32)
        kw["resolution"] = -1.0
    return kw


def _electrodes(nwb: NWBFile, rec: Recording, elec: list[int], location: str):
    rig = rec.rig or {}
    rig_name = str(rig.get("name") or "ionto rig")
    device = nwb.create_device(name=_name(rig_name), description=f"ionto rig {rig_name!r}: acquisition device and "
                               f"current sources (ionto {rec.software.get('ionto', '?')})")
    pip = rec.pipette
    what = f"the recording electrode of {pip.name or 'the multi-barrel pipette'}" if pip else "recording electrode"
    group = nwb.create_electrode_group(name="electrodes", description=what, location=location, device=device)
    for col, desc in (("channel_name", "ionto channel name"), ("physical_channel", "device input, e.g. Dev1/ai0"),
                      ("amplifier_gain", "V at the ADC per V at the electrode"),
                      ("adc_range_V", "ADC input range (± V)")):
        nwb.add_electrode_column(name=col, description=desc)
    for i in elec:
        c = rec.channels[i]
        nwb.add_electrode(group=group, location=location, channel_name=c.name, physical_channel=c.physical,
                          amplifier_gain=float(c.gain), adc_range_V=float(c.range_V))
    return nwb.create_electrode_table_region(list(range(len(elec))), "the electrode channels")


def _iontophoresis(nwb: NWBFile, rec: Recording, pip, barrels) -> int:
    """The ejections twice: the plain ``iontophoresis`` table (for readers without the
    extension) and the extension's typed ``iontophoresis_ejections`` (barrel as a reference)."""
    rows = ejection_rows(rec.events, pip, rec.rate_hz, rec.end_index, rec.gaps)
    if not rows:
        return 0
    add_ejections(nwb, barrels, rows)
    table = TimeIntervals(name="iontophoresis", description="Drug and current-control ejections from the "
                          "multi-barrel pipette (from the ionto event log; times in s)")
    for col, desc in (("barrel", "barrel name"), ("drug", "drug or solution in the barrel"),
                      ("role", "'drug' or 'control' (NaCl current control)"),
                      ("current_nA", "ejection current, nA (signed: + ejects cations)"),
                      ("charge_nC", "charge passed, |current| × duration, nC"),
                      ("concentration_mM", "concentration in the barrel, mM"),
                      ("flags", "problems with this ejection (empty if none)")):
        table.add_column(name=col, description=desc)
    for r in rows:
        table.add_interval(start_time=r.start_s, stop_time=r.stop_s, barrel=r.barrel, drug=r.drug, role=r.role,
                           current_nA=r.current_nA, charge_nC=r.charge_nC, concentration_mM=r.concentration_mM,
                           flags=r.flags)
    nwb.add_time_intervals(table)
    return len(rows)


def _detect(rec: Recording, elec: list[int], params: DetectionParams,
            progress: Callable[[int, int], None] | None) -> list[tuple[str, float, float, np.ndarray]]:
    """(channel, threshold V, noise σ V, spike sample indices) per electrode channel, found as
    ``ionto analyze`` finds them: with the analysis's file detector (one pass, bounded memory)."""
    names = [rec.channels[i].name for i in elec]
    try:
        det = detect_recording(rec, params, names, progress)
    except ValueError as exc:
        raise NwbExportError(f"{exc}; export without units (--no-units) or fix the channel") from None
    return [(n, float(det.spikes[n].threshold), float(det.spikes[n].sigma), det.spikes[n].index) for n in names]


def _units(nwb: NWBFile, rec: Recording, elec: list[int], params: DetectionParams,
           progress: Callable[[int, int], None] | None) -> dict[str, int]:
    """One unit of threshold crossings per electrode channel that has any (a unit without
    spikes says nothing, and empty columns trip up NWB readers); returns spikes per channel."""
    found = _detect(rec, elec, params, progress)
    counts = {name: len(idx) for name, _, _, idx in found}
    if not any(counts.values()):
        return counts
    seg = rec.segments  # [row, sample index] where each gap-free run starts
    run_rows = np.diff(np.append(seg[:, 0], rec.n_samples))
    obs = np.column_stack([seg[:, 1], seg[:, 1] + run_rows]) / rec.rate_hz
    for col, desc in (("channel", "electrode channel the crossings were detected on"),
                      ("threshold_V", "detection threshold (V, in the band-passed signal)"),
                      ("noise_sigma_V", "noise σ from the median absolute deviation (V)"),
                      ("detection", "how the spikes were found")):
        nwb.add_unit_column(name=col, description=desc)
    nwb.units.resolution = 1.0 / rec.rate_hz
    lo, hi = params.band_hz
    how = (f"unsorted threshold crossings: {lo:g}–{hi:g} Hz zero-phase bandpass, threshold {params.k:g} × "
           f"MAD σ, polarity {params.polarity}, dead time {params.dead_time_ms:g} ms (ionto)")
    for k, (name, threshold, sigma, idx) in enumerate(found):
        if len(idx):
            nwb.add_unit(spike_times=np.asarray(idx) / rec.rate_hz, obs_intervals=obs, electrodes=[k],
                         channel=name, threshold_V=threshold, noise_sigma_V=sigma, detection=how)
    return counts


def _nwbfile(rec: Recording, meta: NwbMetadata) -> tuple[NWBFile, list[str]]:
    subject = resolve_subject(meta.subject, str(rec.path))
    placeholders: list[str] = []
    try:
        start = _dt.datetime.fromisoformat(rec.created)
    except ValueError:
        start = _dt.datetime.fromtimestamp(rec.path.stat().st_mtime)
        placeholders.append("session_start_time")
    if start.tzinfo is None:
        start = start.astimezone()
    s = meta.session
    proto = rec.protocol
    pip = rec.pipette
    rig = rec.rig or {}
    drugs = sorted({b.drug for b in pip.barrels}) if pip else []
    desc = s.session_description or (
        f"Microiontophoresis: protocol {proto.name!r}" if proto.name else "Microiontophoresis recording")
    nwb = NWBFile(
        session_description=desc, identifier=str(uuid.uuid4()), session_start_time=start,
        session_id=s.session_id or rec.path.stem, experimenter=list(s.experimenter) if s.experimenter else None,
        lab=s.lab, institution=s.institution,
        experiment_description=s.experiment_description or (
            f"Microiontophoresis of {', '.join(drugs)} from a {len(pip.barrels)}-barrel pipette while recording "
            "extracellular spikes" if pip else "Extracellular recording"),
        keywords=list(s.keywords) if s.keywords else ["microiontophoresis", "extracellular", *drugs],
        related_publications=list(s.related_publications) if s.related_publications else None,
        notes=rec.notes or None, pharmacology=pharmacology_text(pip) if pip else None,
        protocol=proto.text or None, stimulus_notes=(f"ionto protocol {proto.name!r} ({proto.format})"
                                                     if proto.name else None),
        source_script=proto.source or None,
        source_script_file_name=(f"{proto.name}.py" if proto.source else None),
        data_collection=(f"ionto {rec.software.get('ionto', '?')} on rig {rig.get('name', '?')!r} at "
                         f"{rec.rate_hz:g} Hz; recording closed cleanly: {rec.closed_cleanly}"),
        subject=Subject(**subject),
    )
    return nwb, placeholders
