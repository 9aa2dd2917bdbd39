"""The sync pulse train out (rig ``sync_out:``): where each pulse rises, on the AI sample clock.

One schedule for every device that generates it (the NI backend's sample-clocked DO task, the
simulated rig) and for the ``sync`` events they log (``EventKind.SYNC``, text ``pulse=N``, at
the sample of pulse N's rising edge; docs/trials.md "Sync pulses out").

The intervals between rising edges are pseudo-random, ``period_s × (1 + jitter·(u − ½))`` with
u uniform in [0, 1) from a generator seeded with ``seed``, rounded to whole samples, and never
repeat as a pattern.  Why not a regular train: with equal intervals every pulse looks alike, so
aligning two recordings needs their start times to agree within half a period, and a pattern
that repeats is as ambiguous at its own period; with random intervals a run of a few intervals
occurs once in the whole run, so ``ionto align`` (``analysis.align``) can match the other
system's pulses to ionto's by their intervals alone, whatever the offset between the clocks.

Thread: any (a train is used by one thread).
"""

from __future__ import annotations

import numpy as np

from daq.types import EventKind, LogEvent

_CHUNK = 256  # intervals drawn at a time


class SyncTrain:
    """Pulse rises of a ``daq.rig.SyncOutConfig`` at ``rate_hz``: pulse 0 rises at sample 1 (the
    line is low at sample 0, so every pulse is an edge), pulse k+1 one interval after pulse k."""

    def __init__(self, config, rate_hz: float):
        self.config = config
        self.rate_hz = float(rate_hz)
        self.width = max(1, round(config.width_s * self.rate_hz))
        self._rng = np.random.default_rng([int(config.seed), 5071])
        self._rises = np.array([1], dtype=np.int64)  # rise of pulse k, drawn so far

    def _extend(self, until: int) -> None:
        while self._rises[-1] < until:
            u = self._rng.random(_CHUNK)
            iv = np.round(self.config.period_s * (1.0 + self.config.jitter * (u - 0.5)) * self.rate_hz)
            iv = np.maximum(iv.astype(np.int64), self.width + 1)  # always a low sample between pulses
            self._rises = np.concatenate([self._rises, self._rises[-1] + np.cumsum(iv)])

    def rises(self, start: int, stop: int) -> list[tuple[int, int]]:
        """(pulse number, sample) of the rising edges in samples [start, stop)."""
        self._extend(stop)
        a, b = np.searchsorted(self._rises, [start, stop])
        return list(zip(range(int(a), int(b)), self._rises[a:b].tolist()))

    def events(self, start: int, stop: int) -> list[LogEvent]:
        """``sync`` events of the rises in [start, stop)."""
        return [LogEvent(at, EventKind.SYNC, text=f"pulse={k}") for k, at in self.rises(start, stop)]

    def levels(self, start: int, n: int, since: int = 0) -> np.ndarray:
        """The line (True high) at samples ``start .. start+n-1``, with the pulses that rise at
        ``since`` or later (a task that starts in the middle of a pulse leaves it out: the line
        then rises where the train says, or not at all)."""
        out = np.zeros(n, dtype=bool)
        for _, at in self.rises(max(since, start - self.width + 1), start + n):
            out[max(0, at - start):max(0, at - start + self.width)] = True
        return out
