"""Spike detection over a whole recording, any length, in bounded memory.

``detect_recording(rec)`` runs the offline detector (``analysis.detect``) on every
electrode channel of a ``RecordingLike`` in one pass over the file:

1. σ per channel from the median absolute deviation of the zero-phase filtered signal in
   ``noise_windows`` (20) windows of ``noise_window_s`` (0.5 s) spread evenly over the
   record (the whole record when it is shorter) — so the threshold needs no first pass;
2. the samples are read ``chunk_rows`` at a time (all channels of a row are contiguous in
   the file), converted to physical units, filtered forward and backward (zero phase,
   with a look-ahead margin) and searched with the peak rule; each contiguous segment
   (between gaps) is filtered separately so that no filter rings across a gap;
3. samples at the converter's limits are noted (in blocks of ``CLIP_BLOCK`` rows) so that
   epochs containing clipped data can be flagged.

The channels are split between up to ``threads`` worker threads, in groups of at least
``min_group_channels`` (16): the filter kernels run the channels of a row side by side, so a
row of 8 channels costs about what a row of 16 does and splitting 16 channels in two only
doubles the row loops (measured: two threads of 8 channels were slower than one of 16).
Detection runs on worker threads (one per group; the numba kernels release the GIL) while
the calling thread reads the next chunk, so reading from the disk overlaps it (from a cold
page cache, a 1-h 16-channel file: 10.0 s serial, 7.0 s overlapped).  Memory: a few chunks
of float64 samples plus a few floats per spike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from analysis.detect import DetectionParams, DetectorCore, Spikes, mad_sigma
from analysis.filters import ZeroPhaseFilter, check_band, clipped_blocks
from analysis.source import RecordingLike, electrode_channels

CLIP_BLOCK = 256  # rows per clipping flag

Progress = Callable[[int, int], None]  # (rows done, rows total), called on the calling thread


@dataclass
class Detection:
    """Spikes of each analysed channel of a recording, and where the signal clipped."""

    rate_hz: float
    spikes: dict[str, Spikes]
    clipped: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # [start, stop) sample indices
    params: DetectionParams = field(default_factory=DetectionParams)


def _scales(rec: RecordingLike, cols: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    st = rec.stream
    gain = np.array([st.scale_V[c] / rec.channels[c].gain for c in cols])
    offset = np.array([st.offset_V[c] / rec.channels[c].gain for c in cols])
    return gain, offset


def _limits(rec: RecordingLike, cols: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Raw values at which each channel's converter clips."""
    dt = np.dtype(rec.stream.dtype)
    if dt.kind in "iu":  # signed or unsigned counts (NWB files from other rigs: uint16 with an offset)
        info = np.iinfo(dt)
        return np.full(len(cols), info.min, dtype=dt), np.full(len(cols), info.max, dtype=dt)
    rng = np.array([rec.channels[c].range_V for c in cols], dtype=dt)
    return -rng, rng


def segment_rows(rec: RecordingLike) -> list[tuple[int, int]]:
    """[start, stop) rows of each contiguous run of samples (split at the gaps)."""
    starts = [0]
    for g_at, g_n in rec.gaps:
        r = int(rec.index_to_row(np.array([g_at + g_n]))[0])
        if 0 < r < rec.n_samples and r > starts[-1]:
            starts.append(r)
    ends = [*starts[1:], rec.n_samples]
    return [(a, b) for a, b in zip(starts, ends) if b > a]


def estimate_sigma(rec: RecordingLike, cols: Sequence[int], params: DetectionParams,
                   windows: int = 20, window_s: float = 0.5) -> np.ndarray:
    """Noise σ per channel: MAD of the zero-phase filtered signal in evenly spread windows."""
    bp = params.bandpass(rec.rate_hz)
    gain, offset = _scales(rec, cols)
    win = max(1, int(window_s * rec.rate_hz))
    parts: list[np.ndarray] = []
    for a, b in segment_rows(rec):
        n = b - a
        share = max(1, round(windows * n / max(rec.n_samples, 1)))
        if n <= share * win:
            starts = [a]
            lens = [n]
        else:
            starts = [int(s) for s in np.linspace(a, b - win, share)]
            lens = [win] * share
        for s, ln in zip(starts, lens):
            lo = max(a, s - bp.margin)
            hi = min(b, s + ln + bp.margin)
            raw = rec.raw(lo, hi, list(cols))
            zp = ZeroPhaseFilter(bp, gain, offset)
            pieces = zp.push(raw) + zp.finish()
            z = np.concatenate([p for _, p in pieces]) if pieces else np.zeros((0, len(cols)))
            parts.append(z[s - lo:s - lo + ln])
    if not parts:
        return np.full(len(cols), np.nan)
    allz = np.concatenate(parts)
    return np.array([mad_sigma(allz[:, i]) for i in range(len(cols))])


class _Group:
    """The channels one worker thread filters and searches."""

    def __init__(self, rec: RecordingLike, cols: list[int], local: list[int], params: DetectionParams,
                 thresholds: np.ndarray):
        self.local = local  # positions of these channels within the chunk read
        gain, offset = _scales(rec, cols)
        self.zp = ZeroPhaseFilter(params.bandpass(rec.rate_hz), gain, offset, reuse_buffers=True)
        self.core = DetectorCore(len(cols), rec.rate_hz, params, thresholds)
        self.seg_row = 0

    def push(self, raw: np.ndarray) -> None:
        part = np.ascontiguousarray(raw[:, self.local]) if len(self.local) != raw.shape[1] else raw
        for row, z in self.zp.push(part):
            self.core.feed(self.seg_row + row, z)

    def end_segment(self, next_row: int) -> None:
        for row, z in self.zp.finish():
            self.core.feed(self.seg_row + row, z)
        self.core.end_segment()
        self.seg_row = next_row


def require_band(rec: RecordingLike, band_hz: tuple[float, float]) -> None:
    """The band rule (``analysis.filters.check_band``) for a recording of any source: one line
    naming the file (and its series or stream), its rate and the ``--band`` that would fit."""
    series = getattr(rec, "series_name", None)  # an NWB ElectricalSeries or a Neo stream
    what = f"{rec.path}: series {series!r}" if series else str(rec.path)
    check_band(rec.rate_hz, band_hz, what, "choose a series sampled for spikes with --series" if series else "")


def detect_recording(rec: RecordingLike, params: DetectionParams | None = None,
                     channels: Sequence[str | int] | None = None, progress: Progress | None = None,
                     chunk_rows: int | None = None, threads: int = 2,
                     noise_windows: int = 20, noise_window_s: float = 0.5,
                     min_group_channels: int = 16) -> Detection:
    """Detect spikes on the electrode channels (or the named ones) of a recording.  A band its
    rate cannot hold is refused (``require_band``), never narrowed."""
    params = params or DetectionParams()
    require_band(rec, params.band_hz)
    cols = electrode_channels(rec, channels)
    names = [rec.channels[c].name for c in cols]
    if rec.n_samples == 0:
        raise ValueError(f"{rec.path}: the recording holds no samples")
    sigma = estimate_sigma(rec, cols, params, noise_windows, noise_window_s)
    bad = [names[i] for i in range(len(cols)) if not np.isfinite(sigma[i]) or sigma[i] <= 0]
    if bad:
        raise ValueError(f"{rec.path}: channel(s) {bad} carry no signal in the {params.band_hz[0]:g}–"
                         f"{params.band_hz[1]:g} Hz band (noise σ = 0): nothing to detect")
    thresholds = params.k * sigma
    # 2**17 rows: fewer per-chunk steps in Python (25 % faster than 2**16 with 16 channels)
    chunk = chunk_rows or max(4 * params.bandpass(rec.rate_hz).margin, 1 << 17)
    read_cols = None if list(cols) == list(range(len(rec.channels))) else list(cols)  # whole rows: no copy
    n_groups = max(1, min(threads, len(cols) // max(1, min_group_channels)))
    split = np.array_split(np.arange(len(cols)), n_groups)
    groups = [_Group(rec, [cols[i] for i in part], list(part), params, thresholds[part]) for part in split]
    lo_lim, hi_lim = _limits(rec, cols)
    clip_flags: list[tuple[int, np.ndarray]] = []
    # detection runs on worker threads even for one group, so that reading the next chunk
    # (on this thread) overlaps it: from a cold page cache the read is a third of the time
    pool = ThreadPoolExecutor(n_groups) if n_groups > 1 or threads > 1 else None
    done = 0
    try:
        for a, b in segment_rows(rec):
            pending = None
            start = a
            nxt = rec.raw(start, min(b, start + chunk), read_cols)
            while nxt is not None and len(nxt):
                raw = nxt
                if pool is not None:
                    pending = [pool.submit(g.push, raw) for g in groups]
                else:
                    for g in groups:
                        g.push(raw)
                clip_flags.append((start, clipped_blocks(raw, lo_lim, hi_lim, CLIP_BLOCK)))
                start += len(raw)
                nxt = rec.raw(start, min(b, start + chunk), read_cols) if start < b else None
                if pending is not None:
                    for f in pending:
                        f.result()
                done += len(raw)
                if progress is not None:
                    progress(done, rec.n_samples)
            if pool is not None:
                for f in [pool.submit(g.end_segment, b) for g in groups]:
                    f.result()
            else:
                for g in groups:
                    g.end_segment(b)
    finally:
        if pool is not None:
            pool.shutdown()
    spikes: dict[str, Spikes] = {}
    for g, part in zip(groups, split):
        for sp in g.core.spikes([names[i] for i in part], sigma[part], rec.row_to_index):
            spikes[sp.channel] = sp
    return Detection(rec.rate_hz, {n: spikes[n] for n in names}, _clip_runs(rec, names, clip_flags), params)


def _clip_runs(rec: RecordingLike, names: list[str],
               flags: list[tuple[int, np.ndarray]]) -> dict[str, list[tuple[int, int]]]:
    """Clipped blocks (per chunk: first row, flags) → [start, stop) sample-index runs per channel."""
    out: dict[str, list[tuple[int, int]]] = {n: [] for n in names}
    hits = [(start + CLIP_BLOCK * k, c) for start, f in flags for k, c in zip(*np.nonzero(f))]
    for i, name in enumerate(names):
        rows = sorted(r for r, c in hits if c == i)
        runs: list[list[int]] = []
        for r in rows:
            if runs and r <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], r + CLIP_BLOCK)
            else:
                runs.append([r, r + CLIP_BLOCK])
        for r0, r1 in runs:
            r1 = min(r1, rec.n_samples)
            i0, i1 = rec.row_to_index(np.array([r0, max(r0, r1 - 1)]))
            out[name].append((int(i0), int(i1) + 1))
    return out
