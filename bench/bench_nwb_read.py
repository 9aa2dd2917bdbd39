"""Reading an NWB ElectricalSeries stored channels-first, (channels, samples), against the
same samples stored the NWB way, (samples, channels).

``analysis.nwb_source.NwbSource`` reads a channels-first series transposed, one slab
``data[:, a:b].T`` per read.  Both files hold the same int16 samples (noise), HDF5 chunks
of one second along the samples × every channel (so a slab of rows touches the same number
of chunks either way); the figure is the time to read the whole series through
``NwbSource.raw`` in the offline detector's slabs (2**17 rows), in a fresh child process
with the file in the page cache (a warm-up read first).
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np

from bench.common import WORK_DIR, Row, child_peak_rss_mb, command

RATE_HZ = 30000.0
N_CHANNELS = 16
SLAB_ROWS = 1 << 17  # analysis.detect_file's default read chunk

READ = """
import json, sys, time
from analysis.nwb_source import NwbSource
t0 = time.perf_counter()
n = 0
with NwbSource(sys.argv[1]) as src:
    for a in range(0, src.n_samples, int(sys.argv[2])):
        n += src.raw(a, a + int(sys.argv[2])).size
    notes = list(src.read_notes)
print(json.dumps({"s": time.perf_counter() - t0, "values": n, "notes": notes}))
"""


def make_file(path: Path, duration_s: float, channels_first: bool) -> None:
    """A pynwb-written NWB file whose ElectricalSeries data is then replaced (h5py) by
    ``duration_s`` of int16 noise on ``N_CHANNELS`` channels, in the orientation asked."""
    import h5py
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(session_description="bench", identifier="bench", session_start_time=dt.datetime(2025, 1, 1,
                                                                                                    tzinfo=dt.UTC))
    dev = nwb.create_device(name="amp")
    grp = nwb.create_electrode_group("g", description="g", location="CA1", device=dev)
    for _ in range(N_CHANNELS):
        nwb.add_electrode(group=grp, location="CA1")
    region = nwb.create_electrode_table_region(list(range(N_CHANNELS)), "all")
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=np.zeros((2, N_CHANNELS), np.int16),
                                         electrodes=region, rate=RATE_HZ, conversion=0.195e-6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    n = int(duration_s * RATE_HZ)
    sec = int(RATE_HZ)
    rng = np.random.default_rng(0)
    with h5py.File(path, "r+") as f:
        grp5 = f["acquisition/ElectricalSeries"]
        attrs = dict(grp5["data"].attrs)
        del grp5["data"]
        shape, chunks = ((N_CHANNELS, n), (N_CHANNELS, sec)) if channels_first else ((n, N_CHANNELS), (sec, N_CHANNELS))
        ds = grp5.create_dataset("data", shape=shape, dtype=np.int16, chunks=chunks)
        ds.attrs.update(attrs)
        step = 10 * sec
        for a in range(0, n, step):
            block = rng.integers(-300, 300, size=(min(step, n - a), N_CHANNELS), dtype=np.int16)
            if channels_first:
                ds[:, a:a + len(block)] = block.T
            else:
                ds[a:a + len(block)] = block


def _read(path: Path) -> tuple[float, dict]:
    rss, out = child_peak_rss_mb(READ, str(path), str(SLAB_ROWS))
    return rss, json.loads(out.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    duration_s = 60.0 if quick else 600.0
    WORK_DIR.mkdir(exist_ok=True)
    files = {k: WORK_DIR / f"nwb-read-{k}-{int(duration_s)}s.nwb" for k in ("samples_first", "channels_first")}
    for k, p in files.items():
        make_file(p, duration_s, channels_first=k == "channels_first")
    times: dict[str, float] = {}
    rss: dict[str, float] = {}
    for k, p in files.items():
        _read(p)  # warm the page cache
        rss[k], doc = _read(p)
        assert doc["values"] == int(duration_s * RATE_HZ) * N_CHANNELS
        assert bool(doc["notes"]) == (k == "channels_first")
        times[k] = doc["s"]
    what = (f"{duration_s / 60:g} min × {N_CHANNELS} ch × {RATE_HZ / 1e3:g} kHz int16, chunks 1 s × all channels, "
            f"read in {SLAB_ROWS}-row slabs")
    rows = [Row("nwb_read", "read time, channels-first series (read transposed)", times["channels_first"],
                times["samples_first"], "s", "the same samples stored (samples, channels)",
                command("bench_nwb_read", quick), higher_is_better=False, notes=what,
                peak_MB=rss["channels_first"])]
    for p in files.values():
        p.unlink(missing_ok=True)
    return rows
