"""Opening a file in SWMR mode for reading, with HDF5's metadata retries bounded.

A SWMR reader re-reads a piece of metadata whose checksum does not match, because a live
writer may be changing it at that moment.  HDF5 retries 100 times with a delay that doubles
from 1 ns (capped per try), which on a *damaged* file — a corrupted object header, B-tree or
superblock of a file left by a killed writer — means minutes of retrying for every broken
piece of metadata: the reader hangs, and no Python code can interrupt it.

``open_swmr`` opens with ``H5Pset_metadata_read_attempts`` lowered to ``READ_ATTEMPTS``
(28: the doubling delays add up to about 0.3 s, measured with HDF5 2.0 — hundreds of times the
microseconds a writer needs to rewrite a metadata block).  h5py does not wrap that call, so it
is made through ``ctypes`` on the HDF5 library h5py has loaded; where that library cannot be
found, the file is opened with HDF5's defaults.

Thread: any (each call opens its own file).
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Any

import h5py

READ_ATTEMPTS = 28


@functools.cache
def _set_read_attempts() -> Any:
    """``H5Pset_metadata_read_attempts`` of the HDF5 library h5py uses, or None."""
    for path in _loaded_hdf5_paths():
        try:
            fn = ctypes.CDLL(path).H5Pset_metadata_read_attempts
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn
    return None


def _loaded_hdf5_paths() -> list[str]:
    """Files of the HDF5 library mapped into this process (Linux), else bundled with h5py."""
    found: list[str] = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                p = line.rsplit(None, 1)[-1]
                name = os.path.basename(p)
                if name.startswith("libhdf5") and "_hl" not in name and p not in found:
                    found.append(p)
    except OSError:
        pass
    pkg = Path(h5py.__file__).parent
    for d in (pkg.parent / "h5py.libs", pkg / ".dylibs", pkg):
        if d.is_dir():
            found += [str(p) for p in sorted(d.glob("*hdf5*")) if "_hl" not in p.name and str(p) not in found]
    return found


def open_swmr(path: str | os.PathLike[str], read_attempts: int = READ_ATTEMPTS) -> h5py.File:
    """``h5py.File(path, "r", swmr=True, locking=False)`` with bounded metadata retries."""
    setter = _set_read_attempts()
    if setter is None:
        return h5py.File(path, "r", swmr=True, locking=False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
    fapl.set_file_locking(False, False)
    if setter(fapl.id, read_attempts) < 0:
        return h5py.File(path, "r", swmr=True, locking=False)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=fapl)
    return h5py.File(fid)
