"""NWB export of a long multi-channel recording: time and peak memory, against just reading the
same samples and against a plain h5py copy of them (same chunks, same compression).

The recording is synthetic (noise, spikes, two current monitors, ejection events) written
with ionto's own Recorder; every figure is measured in a fresh child process (so peak RSS is
that task's own), with the file in the page cache (a warm-up read comes first).
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.common import WORK_DIR, Row, child_peak_rss_mb, command

RATE_HZ = 30000.0
N_ELECTRODES = 16

READ = """
import json, sys, time
from daq.recording import Recording
t0 = time.perf_counter()
n = 0
with Recording(sys.argv[1]) as rec:
    for _, block in rec.iter_rows(int(10 * rec.rate_hz)):
        n += block.size
print(json.dumps({"s": time.perf_counter() - t0, "values": n}))
"""

H5COPY = """
import json, sys, time
import h5py
from daq.recording import Recording
comp = sys.argv[3]
kw = {} if comp == "none" else {"compression": "gzip", "compression_opts": 1, "shuffle": True}
t0 = time.perf_counter()
with Recording(sys.argv[1]) as rec, h5py.File(sys.argv[2], "w") as out:
    step = int(10 * rec.rate_hz)
    ds = out.create_dataset("samples", shape=(rec.n_samples, len(rec.channels)), dtype=rec.stream.dtype,
                            chunks=(int(rec.rate_hz), len(rec.channels)), **kw)
    for start, block in rec.iter_rows(step):
        ds[start:start + len(block)] = block
print(json.dumps({"s": time.perf_counter() - t0}))
"""

EXPORT = """
import json, sys, time
from analysis.nwb_export import ExportOptions, export_nwb
from analysis.nwb_metadata import NwbMetadata, SubjectMeta
subject = NwbMetadata(subject=SubjectMeta(subject_id="bench", species="Rattus norvegicus", sex="U", age="P8W/"))
t0 = time.perf_counter()
s = export_nwb(sys.argv[1], sys.argv[2], metadata=subject,  # a synthetic recording: no rig file's subject
               options=ExportOptions(compression=sys.argv[3], units=sys.argv[4] == "1", overwrite=True))
print(json.dumps({"s": time.perf_counter() - t0, "bytes": s.size_bytes}))
"""


def make_recording(path, duration_s: float, n_electrodes: int = N_ELECTRODES, rate_hz: float = RATE_HZ,
                   seed: int = 0) -> None:
    """A synthetic recording: noise (σ 20 counts) with a spike every ~60 ms per electrode, two
    current monitors, and a glutamate ejection every 60 s."""
    from daq.pipette import Barrel, Pipette
    from daq.recording import Recorder
    from daq.types import AIChannel, Block, ChannelKind, EventKind, LogEvent, StreamInfo

    rng = np.random.default_rng(seed)
    chans = [AIChannel(f"e{i}", f"x/ai{i}", ChannelKind.ELECTRODE, 5.0, gain=1000.0) for i in range(n_electrodes)]
    chans += [AIChannel("I_glu", "x/ai30", ChannelKind.CURRENT_MONITOR, 10.0, units="nA", gain=0.05, barrel="glu"),
              AIChannel("I_bal", "x/ai31", ChannelKind.CURRENT_MONITOR, 10.0, units="nA", gain=0.02, barrel="bal")]
    nch = len(chans)
    stream = StreamInfo(rate_hz, tuple(chans), np.dtype(np.int16), (5 / 32768,) * nch, (0.0,) * nch)
    pip = Pipette(barrels=(Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=15, concentration_mM=200),
                           Barrel(name="bal", drug="NaCl", role="balance")))
    block = int(rate_hz * 0.5)
    pool = rng.normal(0, 20, size=(block * 8, nch)).astype(np.int16)
    pool[::1800, :n_electrodes] -= 400  # spikes
    rec = Recorder(path, pipette=pip, overwrite=True)
    rec.start(stream)
    n = int(duration_s * rate_hz)
    index = 0
    k = 0
    while index < n:
        m = min(block, n - index)
        off = int(rng.integers(0, len(pool) - m))
        rec.on_block(Block(index, pool[off:off + m]))
        if k % 120 == 20:
            rec.on_events([LogEvent(index, EventKind.EJECT, "glu", -40.0)])
        elif k % 120 == 60:
            rec.on_events([LogEvent(index, EventKind.RETAIN, "glu", 15.0)])
        while rec.queued_bytes > 32 * 2**20:  # faster than the disk: let the writer drain (its queue holds 64 MiB)
            time.sleep(0.01)
        index += m
        k += 1
    rec.stop()


def _child(code: str, *args: str) -> tuple[float, dict]:
    rss, out = child_peak_rss_mb(code, *args)
    return rss, json.loads(out.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    duration_s = 60.0 if quick else 1800.0
    WORK_DIR.mkdir(exist_ok=True)
    src = WORK_DIR / f"nwb-src-{int(duration_s)}s.h5"
    make_recording(src, duration_s)
    gb = src.stat().st_size / 1e9
    what = f"{duration_s / 60:g} min, {N_ELECTRODES} electrodes + 2 monitors, {RATE_HZ / 1e3:g} kHz int16 ({gb:.2f} GB)"
    _child(READ, str(src))  # warm the page cache
    read_rss, read = _child(READ, str(src))
    _, copy_none = _child(H5COPY, str(src), str(WORK_DIR / "copy.h5"), "none")
    _, copy_gzip = _child(H5COPY, str(src), str(WORK_DIR / "copy.h5"), "gzip")
    out = WORK_DIR / "export.nwb"
    exp_none_rss, exp_none = _child(EXPORT, str(src), str(out), "none", "0")
    exp_gzip_rss, exp_gzip = _child(EXPORT, str(src), str(out), "gzip", "0")
    units_rss, units = _child(EXPORT, str(src), str(out), "gzip", "1")
    cmd = command("bench_nwb", quick)
    rows = [
        Row("nwb", "export time, gzip-1 (the default), no units", exp_gzip["s"], copy_gzip["s"], "s",
            "h5py copy of the samples, same chunks, gzip-1 + shuffle", cmd, higher_is_better=False,
            target="<= 1.25x the h5py copy", met=exp_gzip["s"] <= 1.25 * copy_gzip["s"],
            notes=f"{what}; NWB file {exp_gzip['bytes'] / 1e9:.2f} GB", peak_MB=exp_gzip_rss),
        Row("nwb", "export time, no compression, no units", exp_none["s"], copy_none["s"], "s",
            "h5py copy of the samples, same chunks, no compression", cmd, higher_is_better=False,
            target="<= 1.25x the h5py copy", met=exp_none["s"] <= 1.25 * copy_none["s"], peak_MB=exp_none_rss),
        Row("nwb", "export time, no compression, vs reading", exp_none["s"], read["s"], "s",
            "reading the samples (Recording.iter_rows, 10-s blocks)", cmd, higher_is_better=False,
            peak_MB=exp_none_rss),
        Row("nwb", "export peak memory (gzip, no units)", exp_gzip_rss, read_rss, "MB",
            "peak memory of reading the samples", cmd, higher_is_better=False, target="< 1000 MB, any length",
            met=exp_gzip_rss < 1000, notes="streamed: 10-s buffers, one read of the source for all datasets",
            peak_MB=exp_gzip_rss),
        Row("nwb", "export time with units (detection), gzip", units["s"], read["s"], "s",
            "reading the samples", cmd, higher_is_better=False,
            notes=f"peak memory {units_rss:.0f} MB: spike detection runs over every electrode channel",
            peak_MB=units_rss),
    ]
    for p in (out, WORK_DIR / "copy.h5"):
        p.unlink(missing_ok=True)
    if quick:
        src.unlink(missing_ok=True)
    return rows
