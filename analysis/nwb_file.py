"""An NWB file opened for ionto: pynwb's read with one-line errors, and what it holds.

* :func:`open_nwb`: ``(NWBHDF5IO, NWBFile)``, refusing — in one line naming the file — what
  is not NWB, a damaged HDF5 file, an ElectricalSeries without the electrodes table or its
  electrodes region (pynwb's own error for those is a dump of the file's structure), and
  anything else pynwb cannot build (its message cut to one short line);
* :func:`series_path` and :func:`electrical_series`: where each ElectricalSeries is, its
  rate, samples and columns (``ionto info FILE.nwb``, the ``--series`` choice).

Thread: the caller's.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import h5py

from daq.errors import DamagedRecordingError, NotARecordingError, RecordingError
from daq.recording.damage import DAMAGE_ERRORS
from daq.recording.heap_check import damaged_global_heap
from daq.recording.paths import refuse_special_file

_MESSAGE_CHARS = 200  # of a pynwb/hdmf error quoted in ours


class NwbFormatError(RecordingError):
    """An NWB file that ionto cannot analyse (no ElectricalSeries, bad timestamps, no Units...)."""


def is_nwb_file(path: str | os.PathLike[str]) -> bool:
    """An HDF5 file with the ``nwb_version`` attribute NWB writers set (False for a damaged one)."""
    try:
        return _has_nwb_version(Path(path))
    except RecordingError:
        return False


def _has_nwb_version(path: Path) -> bool:
    refuse_special_file(path)  # a FIFO would block the reads below forever
    if damaged_global_heap(path) is not None:  # HDF5 would loop forever on it (see heap_check)
        raise DamagedRecordingError(f"{path}: the file is damaged (a corrupted global heap, which holds its "
                                    "text attributes)")
    try:
        with h5py.File(path, "r") as f:
            return "nwb_version" in f.attrs
    except DAMAGE_ERRORS as exc:
        raise DamagedRecordingError(f"{path}: the HDF5 file is damaged ({exc})") from None


def open_nwb(path: Path) -> tuple[Any, Any]:
    from pynwb import NWBHDF5IO

    refuse_special_file(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise NotARecordingError(f"{path}: not an HDF5 file, so not an NWB file")
    if not _has_nwb_version(path):
        raise NotARecordingError(f"{path}: an HDF5 file but not an NWB file (no nwb_version attribute)")
    _check_electrodes(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pynwb warns about cached namespaces it ignores
            io = NWBHDF5IO(str(path), "r")
    except Exception as exc:  # pynwb/hdmf raise many types for a file they cannot build
        raise NwbFormatError(f"{path}: pynwb cannot read this NWB file ({_short(exc)})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return io, io.read()
    except Exception as exc:
        io.close()  # else HDF5 keeps the file open, and a later open of the path sees this one
        raise NwbFormatError(f"{path}: pynwb cannot read this NWB file ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    """An exception as one short line: pynwb's can hold a whole builder dump."""
    text = " ".join(str(exc).split())
    if len(exc.args) > 1 and not isinstance(exc.args[0], str):  # hdmf's ConstructError: (builder, message)
        text = " ".join(str(exc.args[-1]).split())
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {text}"


def _check_electrodes(path: Path) -> None:
    """Every ElectricalSeries needs the electrodes table and its own electrodes region: say so
    in one line (pynwb's error for either is a dump of the file's structure)."""
    series: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Group) and text(obj.attrs.get("neurodata_type")) == "ElectricalSeries":
                    series.append(name)

            f.visititems(visit)
            if series and "general/extracellular_ephys/electrodes" not in f:
                raise NwbFormatError(
                    f"{path}: no electrodes table (/general/extracellular_ephys/electrodes), which its "
                    f"ElectricalSeries {series} must refer to; NWB needs one row per recorded channel "
                    "(pynwb: nwbfile.add_electrode)")
            lacking = [s for s in series if "electrodes" not in f[s]]
            if lacking:
                raise NwbFormatError(f"{path}: ElectricalSeries {lacking} do not say which electrodes their columns "
                                     "are (no 'electrodes' region); NWB needs one row of the electrodes table per "
                                     "data column")
    except DAMAGE_ERRORS as exc:
        raise DamagedRecordingError(f"{path}: the HDF5 file is damaged ({exc})") from None


def text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def finite(value: Any, what: str, nonzero: bool = False) -> float:
    """``value`` as a finite float (non-zero if asked), else one line naming ``what``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise NwbFormatError(f"{what} is {value!r}, not a number") from None
    if not math.isfinite(x) or (nonzero and x == 0):
        raise NwbFormatError(f"{what} is {x}; it must be a finite{', non-zero' if nonzero else ''} number")
    return x


def series_path(nwb: Any, es: Any) -> str:
    """Where a series sits in the file, e.g. ``acquisition/ElectricalSeries`` or
    ``processing/ecephys/LFP/ElectricalSeriesLFP``."""
    parts, top = [], es
    while top.parent is not None and top.parent is not nwb:
        parts.append(str(top.name))
        top = top.parent
    parts.append(str(top.name))
    for where, group in (("acquisition", nwb.acquisition), ("processing", nwb.processing)):
        if group.get(top.name) is top:
            parts.append(where)
            break
    return "/".join(reversed(parts))


def electrical_series(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every ElectricalSeries of an NWB file: path, rate (None with timestamps), samples,
    columns, dtype (what ``ionto info FILE.nwb`` lists to choose ``--series`` from)."""
    from pynwb.ecephys import ElectricalSeries

    io, nwb = open_nwb(Path(path))
    try:
        found = [o for o in nwb.objects.values() if isinstance(o, ElectricalSeries)]
        out = [{"series": series_path(nwb, o), "rate_hz": float(o.rate) if o.rate else None,
                "samples": int(o.data.shape[0]) if len(o.data.shape) else 0,
                "columns": int(o.data.shape[1]) if len(o.data.shape) == 2 else 1,
                "dtype": str(o.data.dtype), "timestamps": o.timestamps is not None} for o in found]
        return sorted(out, key=lambda d: d["series"])
    finally:
        io.close()
