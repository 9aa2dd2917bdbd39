"""The peak rule of the batch and online detectors: the extreme within the dead time.

Per channel, on the filtered signal ``z`` turned into ``s`` = −z (negative spikes), z
(positive) or |z| (both), a sample ``t`` is a spike when

1. ``s[t]`` is above the channel's threshold, and
2. ``s[t]`` is the largest ``s`` within ``dead`` samples on either side: larger than every
   sample in ``[t − dead, t)`` and at least as large as every sample in ``(t, t + dead]``
   (ties go to the earlier sample).

This is SpikeInterface's ``detect_peaks`` rule (``method="by_channel"``: a peak must beat
its neighbours within ``exclude_sweep_ms`` on both sides, strictly before and or-equal
after; ``spikeinterface/sortingcomponents/peak_detection``), with ``dead`` as the exclusion
sweep.  A larger spike less than ``dead`` after a smaller one therefore replaces it (a
first-crossing rule kept the smaller and dropped the larger), and two spikes are always
more than ``dead`` samples apart.  As in SpikeInterface, a sample in the first ``dead``
samples of a segment, whose left neighbourhood is unknown, is not a spike.

Only samples above the threshold can beat or block one another, so the rule needs no more
than those: per channel a pending candidate and a sliding-window maximum (a monotonic
queue) of the above-threshold samples of the last ``dead`` rows.  That state
(``PeakFinder``) is carried from chunk to chunk, so the rule finds exactly the same spikes
however its input is cut into chunks.  A spike is reported in the chunk that holds the
sample ``dead`` rows after it (or by ``flush`` at the end of a segment); rows where every
channel is at or below its threshold are only tested, in a vectorised pass.

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
def _find(z, thr, polarity, dead, row0, first_row, q_row, q_val, q_head, q_size, pend, pend_row, pend_s,
          pend_v, out_row, out_ch, out_val):  # pragma: no cover - compiled
    """The rule over the rows of ``z`` (rows ``row0`` …).  ``q_*``: per channel a ring of
    (row, s) of the above-threshold samples of the last ``dead`` rows with decreasing s
    (the front is the window's maximum); ``pend*``: the candidate not yet beaten whose right
    neighbourhood is not complete.  Returns the number of spikes written to ``out_*``."""
    n, ch = z.shape
    cap = q_row.shape[1]
    k = 0
    for t in range(n):
        above = 0
        for c in range(ch):
            above |= _signal(z[t, c], polarity) > thr[c]
        if above == 0:
            continue
        row = row0 + t
        for c in range(ch):
            v = z[t, c]
            s = _signal(v, polarity)
            if not s > thr[c]:
                continue
            if pend[c] and row > pend_row[c] + dead:  # its right neighbourhood is complete: a spike
                out_row[k] = pend_row[c]
                out_ch[k] = c
                out_val[k] = pend_v[c]
                k += 1
                pend[c] = False
            while q_size[c] > 0 and q_row[c, q_head[c]] < row - dead:  # left the window
                q_head[c] = (q_head[c] + 1) % cap
                q_size[c] -= 1
            left_max = q_val[c, q_head[c]] if q_size[c] > 0 else -np.inf
            if s > left_max:
                pend[c] = False  # a pending candidate within dead before t is beaten
                if row >= first_row + dead:
                    pend[c] = True
                    pend_row[c] = row
                    pend_s[c] = s
                    pend_v[c] = v
            elif pend[c] and s > pend_s[c]:
                pend[c] = False
            while q_size[c] > 0:  # samples not larger than s can never be a window maximum again
                back = (q_head[c] + q_size[c] - 1) % cap
                if q_val[c, back] > s:
                    break
                q_size[c] -= 1
            slot = (q_head[c] + q_size[c]) % cap
            q_row[c, slot] = row
            q_val[c, slot] = s
            q_size[c] += 1
    last = row0 + n - 1
    for c in range(ch):
        if pend[c] and last >= pend_row[c] + dead:
            out_row[k] = pend_row[c]
            out_ch[k] = c
            out_val[k] = pend_v[c]
            k += 1
            pend[c] = False
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
        """Start afresh (a new contiguous segment): nothing pending, nothing in the window."""
        ch, cap = self.n_channels, self.dead + 1
        self._first_row: int | None = None  # the segment's first row, set by the first ``find``
        self._q_row = np.zeros((ch, cap), dtype=np.int64)
        self._q_val = np.zeros((ch, cap))
        self._q_head = np.zeros(ch, dtype=np.int64)
        self._q_size = np.zeros(ch, dtype=np.int64)
        self._pend = np.zeros(ch, dtype=np.bool_)
        self._pend_row = np.zeros(ch, dtype=np.int64)
        self._pend_s = np.zeros(ch)
        self._pend_v = np.zeros(ch)

    def find(self, z: np.ndarray, row0: int, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spikes completed within ``z`` (rows ``row0`` …): (rows, channel numbers, signed
        peak values of z); each channel's rows ascending."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 1:
            z = z[:, None]
        if self._first_row is None:
            self._first_row = int(row0)
        thr = np.ascontiguousarray(np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (self.n_channels,)))
        cap = z.shape[1] * (z.shape[0] // self.dead + 2) + 1
        rows = np.empty(cap, dtype=np.int64)
        chans = np.empty(cap, dtype=np.int64)
        vals = np.empty(cap)
        k = _find(z, thr, self._code, self.dead, int(row0), self._first_row, self._q_row, self._q_val,
                  self._q_head, self._q_size, self._pend, self._pend_row, self._pend_s, self._pend_v,
                  rows, chans, vals)
        return rows[:k], chans[:k], vals[:k]

    def flush(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Report the candidates still pending (at the end of a segment: no later sample can
        beat them) and start afresh."""
        sel = np.flatnonzero(self._pend)
        out = (self._pend_row[sel].copy(), sel.astype(np.int64), self._pend_v[sel].copy())
        self.reset()
        return out
