"""Threshold crossings with a dead time: the one peak rule of the batch and online detectors.

Per channel, on the filtered signal ``z`` turned into ``s`` = −z (negative spikes), z
(positive) or |z| (both):

1. an *event* starts where ``s`` crosses the threshold upwards (previous sample at or
   below, this one above) no earlier than ``dead`` samples after the previous spike;
2. the spike is the largest ``s`` of the event, which lasts while ``s`` stays above the
   threshold and at most ``dead`` samples from the crossing;
3. the next event may start ``dead`` samples after this spike.

The rule is a per-sample state machine whose state (``PeakFinder``) is carried from chunk
to chunk, so it finds exactly the same spikes however its input is cut into chunks.  A
spike is reported when its event ends (at most ``dead`` samples after the crossing).

Thread: one ``PeakFinder`` is used by one thread at a time; the kernel releases the GIL.
"""

from __future__ import annotations

import numba
import numpy as np

POLARITY_CODES = {"neg": 0, "pos": 1, "both": 2}


@numba.njit(cache=True, nogil=True, inline="always")
def _signal(v, polarity):  # pragma: no cover - compiled
    if polarity == 0:
        return -v
    if polarity == 1:
        return v
    return abs(v)


@numba.njit(cache=True, nogil=True)
def _find(z, thr, polarity, dead, row0, prev, armed, active, ev_end, best, best_row, best_val,
          out_row, out_ch, out_val):  # pragma: no cover - compiled
    """The rule, sample by sample.  Fast path: a row where no event is open and no channel
    is above its threshold changes nothing but ``prev`` (every channel at or below its
    threshold), so such rows are only tested (a vectorised pass over the channels) and
    ``prev`` is written only for the rows that need the full rule."""
    n, ch = z.shape
    k = 0
    n_active = 0
    for c in range(ch):
        n_active += active[c]
    prev_quiet = False  # True: the previous row was a quiet one (prev not written)
    for t in range(n):
        if n_active == 0:
            above = 0
            for c in range(ch):
                above |= _signal(z[t, c], polarity) > thr[c]
            if above == 0:
                prev_quiet = True
                continue
        row = row0 + t
        for c in range(ch):
            v = z[t, c]
            s = _signal(v, polarity)
            th = thr[c]
            if active[c]:
                if s > th and row < ev_end[c]:
                    if s > best[c]:
                        best[c] = s
                        best_row[c] = row
                        best_val[c] = v
                else:
                    out_row[k] = best_row[c]
                    out_ch[k] = c
                    out_val[k] = best_val[c]
                    k += 1
                    active[c] = False
                    n_active -= 1
                    armed[c] = best_row[c] + dead
            if not active[c] and s > th and (prev_quiet or prev[c] <= th) and row >= armed[c]:
                active[c] = True
                n_active += 1
                ev_end[c] = row + dead
                best[c] = s
                best_row[c] = row
                best_val[c] = v
            prev[c] = s
        prev_quiet = False
    if prev_quiet:  # the last row was quiet: every channel at or below its threshold
        for c in range(ch):
            prev[c] = -np.inf
    return k


class PeakFinder:
    """Carries the state of the peak rule across chunks for ``n_channels`` channels."""

    def __init__(self, n_channels: int, dead_samples: int, polarity: str = "neg"):
        if polarity not in POLARITY_CODES:
            raise ValueError(f"polarity must be 'neg', 'pos' or 'both', got {polarity!r}")
        self.n_channels = n_channels
        self.dead = max(1, int(dead_samples))
        self.polarity = polarity
        self._code = POLARITY_CODES[polarity]
        self.reset()

    def reset(self) -> None:
        """Start afresh (a new contiguous segment): no event open, no dead time pending."""
        ch = self.n_channels
        self._prev = np.full(ch, np.inf)  # a segment cannot start with a crossing
        self._armed = np.full(ch, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self._active = np.zeros(ch, dtype=np.bool_)
        self._ev_end = np.zeros(ch, dtype=np.int64)
        self._best = np.zeros(ch)
        self._best_row = np.zeros(ch, dtype=np.int64)
        self._best_val = np.zeros(ch)

    def find(self, z: np.ndarray, row0: int, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spikes completed within ``z`` (rows ``row0`` …): (rows, channel numbers, signed
        peak values of z), in completion order."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 1:
            z = z[:, None]
        thr = np.ascontiguousarray(np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (self.n_channels,)))
        cap = z.shape[1] * (z.shape[0] // self.dead + 2) + 1
        rows = np.empty(cap, dtype=np.int64)
        chans = np.empty(cap, dtype=np.int64)
        vals = np.empty(cap)
        k = _find(z, thr, self._code, self.dead, int(row0), self._prev, self._armed, self._active,
                  self._ev_end, self._best, self._best_row, self._best_val, rows, chans, vals)
        return rows[:k], chans[:k], vals[:k]

    def flush(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Close the events still open (at the end of a segment) and start afresh."""
        sel = np.flatnonzero(self._active)
        out = (self._best_row[sel].copy(), sel.astype(np.int64), self._best_val[sel].copy())
        self.reset()
        return out
