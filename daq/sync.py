"""The sync pulse train out (rig ``sync_out:``): where each pulse rises, on the AI sample clock.

One schedule for every device that generates it (the NI backend's sample-clocked DO task, the
simulated rig) and for the ``sync`` events they log (``EventKind.SYNC``, text ``pulse=N``, at
the sample of pulse N's rising edge; docs/trials.md "Sync pulses out").

The intervals between rising edges are pseudo-random, ``period_s × (1 + jitter·(u − ½))`` with
u uniform in [0, 1) from a seeded generator, rounded to whole samples, and the pattern repeats
every ``cycle_pulses`` pulses.  Why not a regular train: with equal intervals every pulse looks
alike, so aligning two recordings needs their start times to agree within half a period; with
random intervals a run of three or four intervals occurs once per cycle, so the other system's
pulses can be matched to ionto's by their interval sequence alone (the cycle is long —
32 s by default — so coarse clocks suffice to pick the cycle).  Why a repeating cycle: the NI
task generates one cycle from its buffer with regeneration on, so nothing is written while
ionto runs and nothing can underflow.

Thread: any (pure).
"""

from __future__ import annotations

import numpy as np

from daq.types import EventKind, LogEvent


class SyncTrain:
    """Pulse rises of a ``daq.rig.SyncOutConfig`` at ``rate_hz``."""

    def __init__(self, config, rate_hz: float):
        self.config = config
        self.rate_hz = float(rate_hz)
        rng = np.random.default_rng([int(config.seed), 5071])
        u = rng.random(int(config.cycle_pulses))
        iv = np.round(config.period_s * (1.0 + config.jitter * (u - 0.5)) * self.rate_hz).astype(np.int64)
        self.width = max(1, round(config.width_s * self.rate_hz))
        self.intervals = np.maximum(iv, self.width + 1)  # always a low sample between pulses
        self.cycle = int(self.intervals.sum())  # samples per cycle of the pattern
        # pulse k of cycle c rises at c·cycle + rise_in_cycle[k]; pulse 0 at sample 1, so the line
        # is low at sample 0 and every pulse is an edge; each pulse ends inside its cycle
        self.rise_in_cycle = 1 + np.concatenate([[0], np.cumsum(self.intervals[:-1])]).astype(np.int64)

    def rises(self, start: int, stop: int) -> list[tuple[int, int]]:
        """(pulse number, sample) of the rising edges in samples [start, stop)."""
        out: list[tuple[int, int]] = []
        n = len(self.intervals)
        c = max(0, start // self.cycle)
        while c * self.cycle < stop:
            at = c * self.cycle + self.rise_in_cycle
            for k in np.flatnonzero((at >= start) & (at < stop)).tolist():
                out.append((c * n + k, int(at[k])))
            c += 1
        return out

    def events(self, start: int, stop: int) -> list[LogEvent]:
        """``sync`` events of the rises in [start, stop)."""
        return [LogEvent(at, EventKind.SYNC, text=f"pulse={k}") for k, at in self.rises(start, stop)]

    def levels(self, start: int, n: int) -> np.ndarray:
        """The line (True high) at samples ``start .. start+n-1``."""
        out = np.zeros(n, dtype=bool)
        for _, at in self.rises(start - self.width + 1, start + n):
            out[max(0, at - start):max(0, at - start + self.width)] = True
        return out

    def cycle_levels(self) -> np.ndarray:
        """One cycle of the line, samples [0, cycle): what a regenerating DO buffer holds (sample
        ``i`` of the run is ``cycle_levels()[i % cycle]``)."""
        return self.levels(0, self.cycle)
