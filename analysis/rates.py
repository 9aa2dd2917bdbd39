"""Firing rates from spike times."""

from __future__ import annotations

import numpy as np


def ratemeter(spike_times_s: np.ndarray, bin_s: float = 1.0, t_start_s: float = 0.0,
              t_stop_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts per ``bin_s`` divided by ``bin_s``: returns (bin left edges s, rate Hz)."""
    if bin_s <= 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    t = np.asarray(spike_times_s, dtype=np.float64)
    stop = float(t.max()) if t_stop_s is None and len(t) else (t_stop_s or t_start_s + bin_s)
    n = max(1, int(np.floor((stop - t_start_s) / bin_s + 1e-9)))
    edges = t_start_s + bin_s * np.arange(n + 1)
    counts, _ = np.histogram(t, bins=edges)
    return edges[:-1], counts / bin_s


def rate_in_window(spike_index: np.ndarray, start: int, stop: int, rate_hz: float) -> float:
    """Mean rate (Hz) of sorted spike sample indices within [start, stop)."""
    if stop <= start:
        return float("nan")
    lo, hi = np.searchsorted(spike_index, [start, stop])
    return float(hi - lo) / ((stop - start) / rate_hz)
