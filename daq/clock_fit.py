"""The host's clock → the AI sample clock, fitted from what the host saw of the acquisition.

Sample *i* is taken at host time ``T(i) = t0 + (1 + b) · i / rate_hz`` (``t0``: the sample
clock's start on the host clock; ``b``: the drift between the board's timebase and the
host's).  The host learns about it in two ways, each a bound on ``t0``:

* **the acquisition count** (``add_count``): asked between host times ``t_a`` and ``t_b``, the
  device said *k* samples had been acquired, so sample *k* was not yet taken at ``t_a`` and
  sample *k − 1* was taken by ``t_b``: ``t_a < T(k)`` and ``T(k − 1) ≤ t_b`` — a bracket;
* **a block's arrival** (``add_block``): a block ending before sample *E* arrived at ``t``,
  so ``T(E − 1) ≤ t`` — an upper bound only (the block may have waited in the buffer: a busy
  host reads late, never early).

The bounds are gathered per window of ``window_blocks`` calls: the tightest lower bound
(largest) and the tightest upper bound (smallest); the window's estimate of ``t0`` is the
middle of the two, or the upper bound alone when no count was given.  A straight line
through the windows' estimates (least squares; its slope is the drift) maps host time to
sample index.  Load only widens single brackets; the tightest of each window stays tight.

``error_bound_s``: the largest distance of a window's estimate from the line plus the half
width of the widest bracket used plus one sample period — how well the mapping is pinned
down.  The error against
the truth is measured in tests/daq/test_network_input.py (simulated rig) and
tests/daq/test_ni_network_input.py (``ni+grpc``); ``counts`` says how many count brackets
were taken.

Thread: whoever owns it (the engine thread, through ``daq.network_input``).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class SampleClockFit:
    """Host time ↔ sample index (see the module docstring).  ``max_windows``: how many recent
    windows the line is fitted to (a sliding fit follows slow drift of the host clock)."""

    def __init__(self, rate_hz: float, *, window_blocks: int = 20, max_windows: int = 120):
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.window_blocks = window_blocks
        self._windows: deque[tuple[float, float, float]] = deque(maxlen=max_windows)  # (index_s, t0, half width)
        self._lo = -math.inf
        self._hi = math.inf
        self._at_s = 0.0
        self._in_window = 0
        self.blocks = 0
        self.counts = 0  # acquisition-count brackets taken (add_count)
        self.count_width_s_sum = 0.0  # their widths (answered - asked), summed: the query's round trip
        self.count_width_s_max = 0.0
        self._line: tuple[float, float, float] | None = None

    def _bounds(self, index: int, lo: float, hi: float) -> None:
        self._lo = max(self._lo, lo)
        self._hi = min(self._hi, hi)
        self._at_s = index / self.rate_hz
        self._line = None

    def add_block(self, end_index: int, arrival_s: float) -> None:
        """A block ending before sample ``end_index`` arrived at host time ``arrival_s``."""
        self._bounds(end_index, -math.inf, arrival_s - (end_index - 1) / self.rate_hz)
        self._count_call()

    def add_count(self, acquired: int, asked_s: float, answered_s: float) -> None:
        """The device said ``acquired`` samples had been taken, asked at ``asked_s`` and
        answered at ``answered_s`` (host clock)."""
        self.counts += 1
        self.count_width_s_sum += answered_s - asked_s
        self.count_width_s_max = max(self.count_width_s_max, answered_s - asked_s)
        self._bounds(acquired, asked_s - acquired / self.rate_hz, answered_s - (acquired - 1) / self.rate_hz)

    def _count_call(self) -> None:
        self.blocks += 1
        self._in_window += 1
        if self._in_window >= self.window_blocks:
            self._windows.append(self._estimate())
            self._lo, self._hi, self._in_window = -math.inf, math.inf, 0

    def _estimate(self) -> tuple[float, float, float]:
        if self._lo > -math.inf and self._lo <= self._hi:
            return (self._at_s, 0.5 * (self._lo + self._hi), 0.5 * (self._hi - self._lo))
        return (self._at_s, self._hi, 0.0)

    def line(self) -> tuple[float, float, float]:
        """``(t0, b, error_bound_s)``: sample i at host time t0 + (1 + b) · i / rate_hz."""
        if self._line is None:
            pts = list(self._windows) + ([self._estimate()] if self._in_window and self._hi < math.inf else [])
            if not pts:
                raise ValueError("no block has arrived yet: the sample clock cannot be fitted")
            p = np.asarray(pts, dtype=np.float64)
            if p.shape[0] < 3:  # too short for a slope: no drift
                t0, b = float(np.median(p[:, 1])), 0.0
            else:
                b, t0 = np.polyfit(p[:, 0], p[:, 1], 1)
            resid = p[:, 1] - (t0 + b * p[:, 0])
            # + one sample period: a sample is taken somewhere within its period
            bound = float(np.max(np.abs(resid)) + p[:, 2].max()) + 1.0 / self.rate_hz
            self._line = (float(t0), float(b), bound)
        return self._line

    def sample_at(self, host_s: float) -> float:
        """The (fractional) sample index taken at host time ``host_s``."""
        t0, b, _ = self.line()
        return (host_s - t0) * self.rate_hz / (1.0 + b)

    @property
    def error_bound_s(self) -> float:
        return self.line()[2]
