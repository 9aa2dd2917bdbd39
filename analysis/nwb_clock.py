"""An NWB series' ``timestamps`` as one regular sample clock with gaps.

ionto analyses samples on a sample clock (sample indices, as an ionto recording stores
them).  A series from another rig may give a timestamp per sample instead, read from a
clock that is regular but not exact: software-stamped blocks, a clock aligned to another
system, float rounding.  :func:`regular_clock` accepts such timestamps when every one lies
within ``JITTER_TOLERANCE_PERIODS`` (±0.25) sample periods of one regular clock, and turns
them into ``segments`` — (row, sample index) where each gap-free run starts:

* the rate is fitted to all the timestamps: the least-squares slope of row against time,
  pooled over the gap-free runs (each with its own intercept), so a clock that runs slightly
  fast or slow (a constant drift) is absorbed; steps split by jitter alone (the clock says no
  sample was lost) are merged and the fit repeated;
* a step of more than ``GAP_PERIODS`` (1.5) typical periods between two timestamps starts a
  new run (samples were lost: a gap, as in an ionto recording), and each run may start at a
  phase of its own (a recording paused and resumed);
* within a run, each timestamp's offset from the fitted clock, (t − t_first)·rate − rows,
  must stay within a band 2 × 0.25 periods wide; its centre gives the run's phase, and the
  run's first sample index is rint(t_first·rate + phase).

Within ±0.25 periods every sample keeps its place in its run exactly (rounding to the
nearest sample is unambiguous up to ±0.5; the margin covers the fitted rate's error), and
each run starts on the sample of the fitted clock nearest its time: every sample's time
index / rate is its timestamp to within half a period plus the jitter.
Timestamps further off are refused, saying by how much and where: they are not samples of one
regular clock, and ionto does not resample.

Thread: runs on the caller's thread.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

JITTER_TOLERANCE_PERIODS = 0.25  # ± sample periods around one regular clock
GAP_PERIODS = 1.5  # a step longer than this many typical periods starts a new run (samples lost)
BLOCK_ROWS = 1 << 20
MAX_INDEX = 2.0 ** 62  # sample indices are int64
MAX_GAPS = 10_000  # more gaps than this (and than 1 in 100 samples): not a sample clock


class TimestampError(ValueError):
    """Timestamps that are not samples of one regular clock (the message names the row)."""


@dataclass(frozen=True)
class Clock:
    rate_hz: float
    segments: np.ndarray  # (k, 2) int64: [row, sample index] where each gap-free run starts
    jitter_periods: float  # the largest offset of a timestamp from the fitted clock (± sample periods)


@dataclass
class _Run:
    row: int
    t_first: float
    lo: float = np.inf  # offsets from the fitted clock, in sample periods
    hi: float = -np.inf
    lo_row: int = 0
    hi_row: int = 0
    n: int = 0  # sums for the least-squares period (rows since the run's start, seconds since its first)
    sum_k: float = 0.0
    sum_t: float = 0.0
    sum_kk: float = 0.0
    sum_kt: float = 0.0

    def add(self, k: np.ndarray, dt: np.ndarray) -> None:
        """Rows ``k`` since this run's first sample at ``dt`` s after it."""
        kf = k.astype(np.float64)
        self.n += len(kf)
        self.sum_k += float(kf.sum())
        self.sum_t += float(dt.sum())
        self.sum_kk += float(kf @ kf)
        self.sum_kt += float(kf @ dt)

    def copy(self) -> _Run:
        return dataclasses.replace(self)

    def merge(self, later: _Run) -> None:
        """Take in the sums of the ``later`` run, as rows and times of this one."""
        dk, dt, m = float(later.row - self.row), later.t_first - self.t_first, later.n
        self.sum_kk += later.sum_kk + 2 * dk * later.sum_k + m * dk * dk
        self.sum_kt += later.sum_kt + dt * later.sum_k + dk * later.sum_t + m * dk * dt
        self.sum_k += later.sum_k + m * dk
        self.sum_t += later.sum_t + m * dt
        self.n += m


def _blocks(ts: Any, n: int) -> Iterator[tuple[int, np.ndarray, np.ndarray, float | None]]:
    """(first row, timestamps, steps from the previous timestamp, previous timestamp) per block;
    refuses non-finite and non-increasing timestamps, naming the row."""
    prev: float | None = None
    for start in range(0, n, BLOCK_ROWS):
        t = np.asarray(ts[start:start + BLOCK_ROWS], dtype=np.float64)
        bad = ~np.isfinite(t)
        if bad.any():
            k = int(np.argmax(bad))
            raise TimestampError(f"timestamp of sample {start + k} is {t[k]}; timestamps must be finite seconds")
        d = np.diff(t, prepend=t[0] if prev is None else prev)
        if prev is None:
            d = d[1:]
        nonpos = d <= 0
        if nonpos.any():
            k = int(np.argmax(nonpos)) + (1 if prev is None else 0)
            before = prev if k == 0 else t[k - 1]
            raise TimestampError(f"timestamps do not increase at sample {start + k} ({before} then {t[k]} s)")
        yield start, t, d, prev
        prev = float(t[-1])


class _Pieces:
    """Iterates (run number, run, rows since the run's first sample, timestamps) over the blocks of the
    timestamps, split where a step exceeds ``gap_s``; ``runs`` holds the runs met so far."""

    def __init__(self) -> None:
        self.runs: list[_Run] = []

    def __call__(self, ts: Any, n: int, gap_s: float,
                 typical: float) -> Iterator[tuple[int, _Run, np.ndarray, np.ndarray]]:
        self.runs = runs = []
        for start, t, d, prev in _blocks(ts, n):
            new = np.zeros(len(t), dtype=bool)
            if prev is None:
                new[0] = True
                new[1:] = d > gap_s
            else:
                new[:] = d > gap_s
            current = len(runs) - 1  # the run the block's first row continues
            cuts = np.flatnonzero(new)
            for k in cuts:
                runs.append(_Run(start + int(k), float(t[k])))
            if len(runs) > max(MAX_GAPS, n // 100):
                raise TimestampError(f"timestamps jump (a step over {GAP_PERIODS:g} typical periods of "
                                     f"{typical:.3g} s) {len(runs) - 1} times by sample {start + len(t)}: "
                                     "they are not a sample clock with occasional gaps")
            bounds = [0, *(int(k) for k in cuts if k > 0), len(t)]
            first = current + 1 if new[0] else current
            for j, a, b in zip(range(first, first + len(bounds) - 1), bounds[:-1], bounds[1:]):
                r = runs[j]
                yield j, r, np.arange(start + a - r.row, start + b - r.row, dtype=np.int64), t[a:b]


def regular_clock(ts: Any, n: int) -> Clock:
    """The regular clock (rate, gap-free runs) that the ``n`` timestamps ``ts`` (an array or an
    h5py dataset, read in blocks) sample, within ±``JITTER_TOLERANCE_PERIODS``."""
    if n < 2:
        raise TimestampError(f"has {n} timestamp(s): no sampling rate can be taken from fewer than two")
    head = np.asarray(ts[: min(n, 100_000)], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        typical = float(np.median(np.diff(head)))
    if not (np.isfinite(typical) and typical > 0):
        next(_blocks(ts, n))  # names the first timestamp that is not finite or does not increase
        raise TimestampError(f"timestamps have a typical step of {typical} s; they must increase")
    gap_s = GAP_PERIODS * typical

    # pass 1: the clock's period, least squares of t against the row over all runs (each its own intercept)
    split = _Pieces()
    for _, r, k, t in split(ts, n, gap_s, typical):
        r.add(k, t - r.t_first)
    rate = _rate(split.runs, typical)
    # a step the clock says lost no sample (jitter over 1.5 periods) splits nothing: merge such
    # runs, refit, and again until the runs stay the same (a badly split first fit improves)
    parent: list[int] = []
    for _ in range(8):
        runs, again = _merged(split.runs, rate)
        rate = _rate(runs, typical)
        if again == parent:
            break
        parent = again

    reach_s = max(abs(split.runs[0].t_first), abs(split.runs[-1].t_first))
    if not (math.isfinite(rate) and rate > 0) or reach_s * rate + n >= MAX_INDEX:
        raise TimestampError(f"timestamps give a sampling rate of {rate:.6g} Hz and reach {reach_s:.6g} s: "
                             "beyond any sample clock")

    # pass 2: each timestamp's offset from the clock (sample periods), the band of each run
    for j, _, k, t in _Pieces()(ts, n, gap_s, typical):
        r = runs[parent[j]]
        rows = k + (split.runs[j].row - r.row)
        off = (t - r.t_first) * rate - rows
        k_lo, k_hi = int(np.argmin(off)), int(np.argmax(off))
        if off[k_lo] < r.lo:
            r.lo, r.lo_row = float(off[k_lo]), r.row + int(rows[k_lo])
        if off[k_hi] > r.hi:
            r.hi, r.hi_row = float(off[k_hi]), r.row + int(rows[k_hi])

    jitter = 0.0
    for r in runs:
        half = (r.hi - r.lo) / 2
        if half > JITTER_TOLERANCE_PERIODS:
            raise TimestampError(
                f"timestamps are not one regular clock: between samples {min(r.lo_row, r.hi_row)} and "
                f"{max(r.lo_row, r.hi_row)} they stray ±{half:.2g} sample periods from the best {rate:.6g} Hz "
                f"clock; ionto accepts jitter up to ±{JITTER_TOLERANCE_PERIODS:g} sample period "
                f"({JITTER_TOLERANCE_PERIODS / rate * 1e6:.3g} µs) — resample the series to a regular clock")
        jitter = max(jitter, half)

    segs: list[list[int]] = []
    end = None  # sample index after the previous run
    for j, r in enumerate(runs):
        index = int(np.rint(r.t_first * rate + (r.lo + r.hi) / 2))
        if end is not None and index < end:
            raise TimestampError(f"timestamps step back onto earlier samples at sample {r.row} (the run "
                                 f"starting there overlaps the one before on the {rate:.6g} Hz clock)")
        if end is None or index > end:
            segs.append([r.row, index])
        end = index + ((runs[j + 1].row if j + 1 < len(runs) else n) - r.row)
    return Clock(float(rate), np.array(segs, dtype=np.int64), float(jitter))


def _merged(split: list[_Run], rate: float) -> tuple[list[_Run], list[int]]:
    """Runs after merging each split run into the one before when the clock at ``rate`` says
    no sample was lost between them; and the merged run each split run belongs to."""
    runs: list[_Run] = []
    parent: list[int] = []
    for r in split:
        p = runs[-1] if runs else None
        if p is not None and (r.t_first - p.t_first) * rate < r.row - p.row + 0.5:  # rounds to no sample lost
            p.merge(r)
        else:
            runs.append(r.copy())
        parent.append(len(runs) - 1)
    return runs, parent


def _rate(runs: list[_Run], typical: float) -> float:
    """Samples per second: the least-squares slope of rows against time, runs pooled."""
    s_kk = sum(r.sum_kk - r.sum_k ** 2 / r.n for r in runs if r.n > 1)
    s_kt = sum(r.sum_kt - r.sum_k * r.sum_t / r.n for r in runs if r.n > 1)
    return s_kk / s_kt if s_kk > 0 and s_kt > 0 else 1.0 / typical
