"""``daq.recording.swmr_open``: a damaged file left in SWMR mode fails fast instead of making
HDF5 retry its metadata reads for minutes, and the bound is set on the HDF5 library h5py runs."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from daq.recording import swmr_open

ROOT = Path(__file__).resolve().parents[2]

# a writer in SWMR mode killed mid-write: the file keeps HDF5's write + SWMR-write flags
KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import h5py, numpy as np
    f = h5py.File(sys.argv[1], "w", libver=("v110", "v110"), locking=False)
    g = f.create_group("acquisition")
    ds = g.create_dataset("samples", shape=(0, 2), maxshape=(None, 2), chunks=(1024, 2), dtype="i2")
    f.swmr_mode = True
    ds.resize((4096, 2)); ds[:] = np.arange(8192, dtype="i2").reshape(4096, 2)
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")

OPEN = textwrap.dedent("""
    import sys, h5py
    from daq.recording.swmr_open import open_swmr
    f = open_swmr(sys.argv[1]) if sys.argv[2] == "bounded" else h5py.File(sys.argv[1], "r", swmr=True, locking=False)
    try:
        f["acquisition"]["samples"][:]
        print("opened")
    except (KeyError, OSError, RuntimeError) as exc:
        print("error", exc)
""")


@pytest.fixture(scope="module")
def killed_swmr_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("swmr") / "killed.h5"
    p = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, timeout=60)
    assert p.returncode == -9 and path.exists(), p.stderr
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r", locking=False)
    return path


def test_the_bound_is_set_on_the_hdf5_library_h5py_runs():
    setter = swmr_open._set_read_attempts()
    assert setter is not None
    lib = ctypes.CDLL(swmr_open._loaded_hdf5_paths()[0])
    v = [ctypes.c_uint() for _ in range(3)]
    assert lib.H5get_libversion(*map(ctypes.byref, v)) >= 0
    assert tuple(x.value for x in v) == h5py.version.hdf5_version_tuple[:3]
    # the same library, not a second copy: a property list made by h5py is valid in it
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    assert setter(fapl.id, 7) >= 0
    get = lib.H5Pget_metadata_read_attempts
    get.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_uint)]
    n = ctypes.c_uint()
    assert get(fapl.id, ctypes.byref(n)) >= 0 and n.value == 7


def test_an_intact_killed_swmr_file_reads_fully(killed_swmr_file):
    with swmr_open.open_swmr(killed_swmr_file) as f:
        assert np.array_equal(f["acquisition/samples"][:], np.arange(8192, dtype="i2").reshape(4096, 2))


def test_a_corrupted_object_header_fails_fast(killed_swmr_file, tmp_path):
    data = bytearray(killed_swmr_file.read_bytes())
    headers = [i for i in range(len(data)) if data[i:i + 4] == b"OHDR"]
    assert len(headers) >= 2
    data[headers[1] + 8] ^= 0xFF  # the acquisition group's object header (the root's is first)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # bounded: it gives up with a clear error (the subprocess timeout only guards against a hang;
    # how long the attempts take depends on the machine's load and is not asserted)
    p = subprocess.run([sys.executable, "-c", OPEN, str(bad), "bounded"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.stdout.startswith("error") and "checksum" in p.stdout, (p.stdout, p.stderr[-1000:])
    # what it guards against: with HDF5's default 100 attempts the same read is still retrying
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", OPEN, str(bad), "default"], capture_output=True, timeout=8,
                       env=env)
