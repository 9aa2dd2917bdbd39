"""Reading another system's recording through Neo (``analysis.neo_source.NeoSource``): time and
peak memory of reading every sample in 10-s blocks from an Open Ephys binary folder, against
reading the same int16 samples from the ionto HDF5 they came from (``daq.recording.Recording``).

The recording is bench_nwb's synthetic one (16 electrodes + 2 monitors, 30 kHz int16); the Open
Ephys folder holds its electrode channels (``continuous.dat``, interleaved int16, as the
published binary format: https://open-ephys.github.io/gui-docs/User-Manual/Recording-data/Binary-format.html).
Each figure is measured in a fresh child process (peak RSS its own), after a warm-up read.
"""

from __future__ import annotations

import json

import numpy as np

from bench.bench_nwb import N_ELECTRODES, RATE_HZ, make_recording
from bench.common import WORK_DIR, Row, child_peak_rss_mb, command

READ_H5 = """
import json, sys, time
from daq.recording import Recording
t0 = time.perf_counter()
n = 0
with Recording(sys.argv[1]) as rec:
    cols = rec.channel_indices(rec.channels[0].kind)
    step = int(10 * rec.rate_hz)
    for start in range(0, rec.n_samples, step):
        n += rec.raw(start, start + step, cols).size
print(json.dumps({"s": time.perf_counter() - t0, "values": n}))
"""

READ_NEO = """
import json, sys, time
from analysis.neo_source import NeoSource
t0 = time.perf_counter()
n = 0
with NeoSource(sys.argv[1]) as src:
    for _, block in src.iter_rows(int(10 * src.rate_hz)):
        n += block.size
print(json.dumps({"s": time.perf_counter() - t0, "values": n}))
"""


def write_open_ephys(h5, root) -> None:
    """The electrode channels of ``h5`` as an Open Ephys binary folder, 10 s at a time."""
    from daq.recording import Recording

    folder = root / "Record Node 101" / "experiment1" / "recording1"
    cont = folder / "continuous" / "Acquisition_Board-100.Rhythm Data"
    cont.mkdir(parents=True, exist_ok=True)
    with Recording(h5) as rec, open(cont / "continuous.dat", "wb") as f:
        cols = rec.channel_indices(rec.channels[0].kind)
        step = int(10 * rec.rate_hz)
        for start in range(0, rec.n_samples, step):
            f.write(np.ascontiguousarray(rec.raw(start, start + step, cols), dtype="<i2").tobytes())
        np.save(cont / "sample_numbers.npy", np.arange(rec.n_samples, dtype=np.int64))
        np.save(cont / "timestamps.npy", np.arange(rec.n_samples) / rec.rate_hz)
        uv = [rec.stream.scale_V[c] / rec.channels[c].gain * 1e6 for c in cols]
        chans = [{"channel_name": f"CH{k + 1}", "description": "Headstage data channel",
                  "identifier": "genericdata.continuous", "history": "Acquisition Board -> Record Node",
                  "bit_volts": u, "units": "uV"} for k, u in enumerate(uv)]
        oebin = {"GUI version": "0.6.7", "continuous": [{
            "folder_name": "Acquisition_Board-100.Rhythm Data/", "sample_rate": rec.rate_hz,
            "source_processor_name": "Acquisition Board", "source_processor_id": 100, "stream_name": "Rhythm Data",
            "recorded_processor": "Record Node", "recorded_processor_id": 101, "num_channels": len(cols),
            "channels": chans}], "events": [], "spikes": []}
    (folder / "structure.oebin").write_text(json.dumps(oebin, indent=2))


def _child(code: str, *args: str) -> tuple[float, dict]:
    rss, out = child_peak_rss_mb(code, *args)
    return rss, json.loads(out.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    duration_s = 60.0 if quick else 600.0
    WORK_DIR.mkdir(exist_ok=True)
    src = WORK_DIR / f"neo-src-{int(duration_s)}s.h5"
    oe = WORK_DIR / f"neo-oe-{int(duration_s)}s"
    make_recording(src, duration_s)
    write_open_ephys(src, oe)
    mb = N_ELECTRODES * duration_s * RATE_HZ * 2 / 1e6
    what = f"{duration_s / 60:g} min, {N_ELECTRODES} electrodes, {RATE_HZ / 1e3:g} kHz int16 ({mb:.0f} MB of samples)"
    _child(READ_NEO, str(oe))  # warm-up: both files in the page cache
    _child(READ_H5, str(src))
    neo_rss, neo = _child(READ_NEO, str(oe))
    h5_rss, h5 = _child(READ_H5, str(src))
    assert neo["values"] == h5["values"], (neo, h5)
    cmd = command("bench_neo", quick)
    return [
        Row("neo", "read every sample, Open Ephys folder through Neo vs ionto HDF5", neo["s"], h5["s"], "s",
            "Recording.raw of the same samples (10-s blocks)", cmd, higher_is_better=False, notes=what),
        Row("neo", "peak memory of that read", neo_rss, h5_rss, "MB", "the same read from the HDF5", cmd,
            higher_is_better=False, target="bounded: far below the samples' size",
            met=neo_rss < 0.5 * mb + 300, notes=what, peak_MB=neo_rss),
    ]
