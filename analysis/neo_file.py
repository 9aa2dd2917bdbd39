"""Another system's file or folder opened with Neo's raw IO (``neo.rawio``), with one-line errors.

* :func:`open_rawio`: the parsed raw IO, trying each reader Neo offers for the file's extension
  (or an Open Ephys folder) and refusing — in one line naming the file and each reader's own
  complaint, cut short — what none of them parses; never Plexon2RawIO, which downloads and runs
  a Windows DLL;
* :func:`is_neo_path` / :func:`is_open_ephys_folder`: whether ionto hands a path to Neo;
* :func:`streams` / :func:`event_channels`: what the file holds (``ionto info``).

Thread: the caller's.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from daq.errors import RecordingError

_MESSAGE_CHARS = 200  # of a Neo reader's error quoted in ours


class NeoFormatError(RecordingError):
    """Another system's recording that ionto cannot read or analyse."""


IONTO_SUFFIXES = (".h5", ".hdf5", ".nwb")
OPEN_EPHYS_LAYOUTS = ("structure.oebin", "experiment*/recording*/structure.oebin",
                      "*/experiment*/recording*/structure.oebin")  # recording, Record Node, or root folder


def is_open_ephys_folder(path: Path) -> bool:
    """An Open Ephys binary folder: its root, a Record Node folder, or one recording folder."""
    return path.is_dir() and any(next(path.glob(p), None) is not None for p in OPEN_EPHYS_LAYOUTS)


def rawio_classes(path: Path) -> list[type]:
    """The Neo raw IO classes that may read ``path`` (most likely first); [] if none."""
    from neo.rawio import get_rawio
    from neo.rawio.openephysbinaryrawio import OpenEphysBinaryRawIO
    from neo.rawio.openephysrawio import OpenEphysRawIO

    if path.is_dir():
        if is_open_ephys_folder(path):
            return [OpenEphysBinaryRawIO]
        if any(path.glob("*.continuous")):
            return [OpenEphysRawIO]
        # a folder is a recording only to Neo's readers of folders (Neuralynx, SpikeGLX, TDT, ...)
        return [c for c in get_rawio(path, exclusive_rawio=False) or []
                if "dirname" in inspect.signature(c.__init__).parameters]
    return list(get_rawio(path, exclusive_rawio=False) or [])


def is_neo_path(path: Path) -> bool:
    """Not an ionto/NWB file, and a Neo raw IO claims it (by extension, or an Open Ephys folder)."""
    if path.suffix.lower() in IONTO_SUFFIXES or not path.exists():
        return False
    return bool(rawio_classes(path))


def short_error(exc: BaseException) -> str:
    """A reader's error on one line, cut to a readable length."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= _MESSAGE_CHARS else msg[:_MESSAGE_CHARS] + "…"


def open_rawio(path: Path) -> Any:
    """A Neo raw IO with its header parsed; refused in one line when no reader of Neo takes it."""
    if not path.exists():
        raise NeoFormatError(f"{path}: no such file or folder")
    classes = rawio_classes(path)
    if not classes:
        raise NeoFormatError(f"{path}: not a format ionto reads (ionto HDF5, NWB, or one Neo reads: .abf, .smr/.smrx, "
                             ".rhd/.rhs, .pl2/.plx, .ns5/.nev, .nix, an Open Ephys folder, …)")
    errors = []
    for cls in classes:
        if cls.__name__ == "Plexon2RawIO":  # it downloads and runs Plexon's Windows DLL (under Wine): refused
            errors.append("Plexon2RawIO: .pl2 needs Plexon's PL2FileReader.dll, which ionto does not fetch; export the "
                          "file to .plx or NWB with Plexon's tools")
            continue
        params = inspect.signature(cls.__init__).parameters
        if "filename" in params and not path.is_dir():
            kw = {"filename": str(path)}
        else:  # a reader of folders (Open Ephys legacy: FOLDER/*.continuous)
            kw = {"dirname": str(path if path.is_dir() else path.parent)}
        try:
            io = cls(**kw)
            io.parse_header()
            return io
        except Exception as exc:  # Neo's readers raise anything on a file they cannot parse
            errors.append(f"{cls.__name__}: {short_error(exc)}")
    raise NeoFormatError(f"{path}: Neo cannot read it ({'; '.join(errors)})")


def streams(io: Any) -> list[dict[str, Any]]:
    """Every signal stream of a parsed Neo raw IO: number, name, id, rate, samples, duration,
    channels with their units."""
    h = io.header
    out = []
    for k, (name, sid) in enumerate(zip(h["signal_streams"]["name"], h["signal_streams"]["id"])):
        ch = h["signal_channels"][h["signal_channels"]["stream_id"] == sid]
        n = int(io.get_signal_size(0, 0, k)) if len(ch) else 0
        rate = float(ch["sampling_rate"][0]) if len(ch) else 0.0
        out.append({"index": k, "name": str(name), "id": str(sid), "rate_hz": rate, "samples": n,
                    "duration_s": n / rate if rate else 0.0,
                    "channels": [{"name": str(c["name"]), "units": str(c["units"])} for c in ch]})
    return out


def event_channels(io: Any) -> list[dict[str, Any]]:
    """Every event/epoch channel of a parsed Neo raw IO: name, type, number of events."""
    h = io.header
    return [{"name": str(c["name"]), "type": str(c["type"].decode() if isinstance(c["type"], bytes) else c["type"]),
             "count": int(io.event_count(0, 0, k))} for k, c in enumerate(h["event_channels"])]
