"""Full analysis of a long recording vs just reading its samples; peak memory.

The file: an ionto HDF5 recording written by the real ``Recorder`` — 16 electrode
channels at 30 kHz (int16), one hour (5 minutes with ``--quick``), one unit per channel
whose rate follows a glutamate dose–response (10, 20, 40, 80 nA, 20-s ejections every
120 s, with the events in the log).  Both measurements run in a fresh interpreter on a
warm page cache (each is run twice, the faster counts):

* reference: read every sample, 65 536 rows at a time (``Recording.raw``);
* ours: ``analyze_recording`` (spikes on all 16 channels, waveform features, epochs, fits,
  rates, PSTH) plus ``write_report`` (CSV/JSON tables, PNG/SVG figures, HTML).

Both are measured twice: with the file in the page cache (warm: each run twice, the faster
counts) and, where this process may write ``/proc/sys/vm/drop_caches`` (root on Linux),
with the page cache dropped before each run (cold: the file comes from the disk).

Peak memory is the child process's maximum resident set size.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from bench.common import WORK_DIR, Row, child_peak_rss_mb, command

FS = 30000.0
N_CH = 16
LEVELS_HZ = {0: 8.0, 10: 11.0, 20: 17.0, 40: 25.0, 80: 30.0}  # current (nA) → firing rate


def _block(rate_hz: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """int16 (n, N_CH) samples: 10 µV noise and one unit per channel at ``rate_hz``."""
    n = int(seconds * FS)
    uv_per_count = 0.25
    x = rng.standard_normal((n, N_CH), dtype=np.float32) * (10.0 / uv_per_count)
    tw = np.arange(int(2.1e-3 * FS)) / FS * 1e3
    for c in range(N_CH):
        amp = (60 + 6 * c) / uv_per_count
        w = -np.exp(-0.5 * ((tw - 0.3) / 0.125) ** 2) + 0.35 * np.exp(-0.5 * ((tw - 0.8) / 0.25) ** 2)
        w = (w / -w.min() * amp).astype(np.float32)
        t = (np.cumsum(rng.exponential(1 / rate_hz, int(rate_hz * seconds * 1.5)) + 0.002) * FS).astype(np.int64)
        t = t[t < n - len(w)]
        np.add.at(x[:, c], (t[:, None] + np.arange(len(w))).ravel(), np.tile(w, len(t)))
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def make_recording(path: Path, seconds: float) -> None:
    from daq.pipette import Barrel, Pipette
    from daq.recording import Recorder
    from daq.types import AIChannel, Block, ChannelKind, EventKind, LogEvent, StreamInfo

    pip = Pipette(max_total_nA=300, barrels=(
        Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=10, max_eject_nA=150, ao_channel="x/ao0"),
        Barrel(name="bal", drug="NaCl", role="balance", max_eject_nA=300, ao_channel="x/ao1")))
    chans = tuple(AIChannel(f"e{i:02d}", f"x/ai{i}", ChannelKind.ELECTRODE, range_V=8.192, gain=1000.0)
                  for i in range(N_CH))
    st = StreamInfo(FS, chans, np.dtype(np.int16), (0.25e-3,) * N_CH, (0.0,) * N_CH)  # 0.25 µV per count
    rng = np.random.default_rng(0)
    blocks = {cur: _block(rate, 10.0, rng) for cur, rate in LEVELS_HZ.items()}
    rec = Recorder(path, pipette=pip, overwrite=True)
    rec.start(st)
    block = int(FS)
    currents = [10, 20, 40, 80]
    events = []
    for s in range(int(seconds)):
        cycle, phase = divmod(s, 120)
        cur = currents[cycle % 4] if 40 <= phase < 60 else 0
        if phase == 40:
            events.append(LogEvent(s * block, EventKind.EJECT, "glu", -float(cur)))
        if phase == 60:
            events.append(LogEvent(s * block, EventKind.RETAIN, "glu", 10.0))
        src = blocks[cur]
        off = (s % 10) * block
        while rec.queued_bytes > 32 * 2**20:  # faster than the disk: let the writer drain
            time.sleep(0.005)
        rec.on_block(Block(s * block, src[off:off + block]))
    rec.on_events(events)
    rec.stop()


READ = """
import sys, time
from daq.recording import Recording
t0 = time.perf_counter()
with Recording(sys.argv[1]) as rec:
    for start in range(0, rec.n_samples, 65536):
        rec.raw(start, start + 65536)
print(time.perf_counter() - t0)
"""

ANALYZE = """
import json, sys, time
from analysis.html_report import write_report
from analysis.pipeline import analyze_recording
t0 = time.perf_counter()
res = analyze_recording(sys.argv[1])
t1 = time.perf_counter()
write_report(res, sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"analysis_s": t1 - t0, "total_s": t2 - t0, "spikes": sum(len(s) for s in res.detection.spikes.values()),
                  "fits": {k: f.ec50 for k, f in res.fits.items()}}))
"""


def drop_page_cache() -> bool:
    """Write dirty pages and drop the page cache (root on Linux); False where not allowed."""
    try:
        subprocess.run(["sync"], check=False, timeout=120)
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def run(quick: bool) -> list[Row]:
    seconds = 300.0 if quick else 3600.0
    WORK_DIR.mkdir(exist_ok=True)
    path = WORK_DIR / f"analysis-{int(seconds)}s.h5"
    report = str(WORK_DIR / "analysis-report")
    t0 = time.perf_counter()
    make_recording(path, seconds)
    made_s = time.perf_counter() - t0
    size_gb = path.stat().st_size / 1e9
    reads = [child_peak_rss_mb(READ, str(path)) for _ in range(2)]
    read_s = min(float(out) for _, out in reads)
    runs = [child_peak_rss_mb(ANALYZE, str(path), report) for _ in range(2)]
    docs = [json.loads(out) for _, out in runs]
    total_s = min(d["total_s"] for d in docs)
    ana_s = min(d["analysis_s"] for d in docs)
    peak_mb = max(mb for mb, _ in runs)
    cold = None
    if drop_page_cache():
        cold_read = float(child_peak_rss_mb(READ, str(path))[1])
        drop_page_cache()
        cold = (cold_read, json.loads(child_peak_rss_mb(ANALYZE, str(path), report)[1]))
    path.unlink()
    what = f"{seconds / 3600:g} h × {N_CH} ch × 30 kHz int16 ({size_gb:.2f} GB, written in {made_s:.0f} s)"
    cmd = command("bench_analysis", quick)
    fixed = (f"{docs[0]['spikes']} spikes; fits {docs[0]['fits']}; the report (figures, tables, HTML) takes "
             f"{total_s - ana_s:.1f} s whatever the length; {os.cpu_count()} CPUs, detection on 2 threads")
    rows = [
        Row("analysis", "full analysis + report, warm page cache", total_s, read_s, "s",
            "reading every sample once (warm page cache)", cmd, False, "≤ 2× reading", total_s <= 2 * read_s,
            f"{what}; analysis alone {ana_s:.1f} s; {fixed}", peak_MB=peak_mb),
        Row("analysis", "analysis alone (detection, epochs, fits), warm page cache", ana_s, read_s, "s",
            "reading every sample once (warm page cache)", cmd, False, "≤ 2× reading", ana_s <= 2 * read_s,
            "the same runs as the row above, without the report", peak_MB=peak_mb),
    ]
    if cold is not None:
        cold_read, doc = cold
        rows += [
            Row("analysis", "full analysis + report, cold page cache", doc["total_s"], cold_read, "s",
                "reading every sample once (cold page cache)", cmd, False, "≤ 2× reading",
                doc["total_s"] <= 2 * cold_read,
                f"page cache dropped (echo 3 > /proc/sys/vm/drop_caches) before each; analysis alone "
                f"{doc['analysis_s']:.1f} s; reading from the disk at {size_gb / cold_read:.2f} GB/s"),
            Row("analysis", "analysis alone, cold page cache", doc["analysis_s"], cold_read, "s",
                "reading every sample once (cold page cache)", cmd, False, "≤ 2× reading",
                doc["analysis_s"] <= 2 * cold_read),
        ]
    rows.append(Row("analysis", "peak memory of the full analysis", peak_mb, max(mb for mb, _ in reads), "MB",
                    "peak memory of the reading process", cmd, False, "< 1024 MB whatever the length",
                    peak_mb < 1024, what, peak_MB=peak_mb))
    return rows
