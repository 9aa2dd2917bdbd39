"""Firing rates from spike times: ratemeter, kernel-smoothed rate, PSTH, window rates.

Times are in seconds unless the name says otherwise; rates in Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


def ratemeter(spike_times_s: np.ndarray, bin_s: float = 1.0, t_start_s: float = 0.0,
              t_stop_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts per ``bin_s`` divided by ``bin_s``: (bin left edges s, rate Hz).
    A last bin shorter than ``bin_s`` is dropped."""
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    t = np.asarray(spike_times_s, dtype=np.float64)
    stop = t_stop_s if t_stop_s is not None else (float(t.max()) if len(t) else t_start_s + bin_s)
    n = max(1, int(np.floor((stop - t_start_s) / bin_s + 1e-9)))
    edges = t_start_s + bin_s * np.arange(n + 1)
    counts, _ = np.histogram(t, bins=edges)
    return edges[:-1], counts / bin_s


def smoothed_rate(spike_times_s: np.ndarray, sigma_s: float = 1.0, t_start_s: float = 0.0,
                  t_stop_s: float | None = None, dt_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kernel-smoothed firing rate: spikes convolved with a Gaussian of s.d. ``sigma_s``
    (unit area, so the result is in Hz), sampled every ``dt_s`` (default σ/10).
    Returns (times s, rate Hz); edges are handled by reflection."""
    if not sigma_s > 0:
        raise ValueError(f"sigma_s must be > 0, got {sigma_s}")
    dt = dt_s or sigma_s / 10
    t = np.asarray(spike_times_s, dtype=np.float64)
    stop = t_stop_s if t_stop_s is not None else (float(t.max()) if len(t) else t_start_s + dt)
    n = max(1, int(np.ceil((stop - t_start_s) / dt)))
    counts, _ = np.histogram(t, bins=t_start_s + dt * np.arange(n + 1))
    rate = gaussian_filter1d(counts.astype(np.float64) / dt, sigma_s / dt, mode="reflect", truncate=4.0)
    return t_start_s + dt * (np.arange(n) + 0.5), rate


def rate_in_window(spike_index: np.ndarray, start: int, stop: int, rate_hz: float) -> float:
    """Mean rate (Hz) of sorted spike sample indices within [start, stop)."""
    if stop <= start:
        return float("nan")
    lo, hi = np.searchsorted(spike_index, [start, stop])
    return float(hi - lo) / ((stop - start) / rate_hz)


def binned_rates(spike_index: np.ndarray, start: int, stop: int, rate_hz: float, bin_s: float) -> np.ndarray:
    """Rates (Hz) in consecutive whole bins of ``bin_s`` within [start, stop)."""
    n_bin = max(1, round(bin_s * rate_hz))
    n = (stop - start) // n_bin
    if n <= 0:
        return np.zeros(0)
    edges = start + n_bin * np.arange(n + 1)
    counts = np.diff(np.searchsorted(spike_index, edges))
    return counts / (n_bin / rate_hz)


@dataclass(frozen=True)
class PSTH:
    """Peri-stimulus time histogram: mean rate across ``n_trials`` aligned onsets."""

    t_s: np.ndarray  # bin left edges relative to onset
    rate_hz: np.ndarray  # mean across trials
    sem_hz: np.ndarray  # standard error across trials
    n_trials: int
    bin_s: float


def psth(spike_index: np.ndarray, onsets: np.ndarray, rate_hz: float, before_s: float, after_s: float,
         bin_s: float = 1.0) -> PSTH:
    """Rates in ``bin_s`` bins from ``before_s`` before to ``after_s`` after each onset
    (sample indices), averaged over onsets."""
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    n_before = int(np.ceil(before_s / bin_s))
    n_after = int(np.ceil(after_s / bin_s))
    rel = bin_s * np.arange(-n_before, n_after)
    rows = []
    for on in np.asarray(onsets, dtype=np.int64):
        edges = on + np.round(np.append(rel, rel[-1] + bin_s) * rate_hz).astype(np.int64)
        rows.append(np.diff(np.searchsorted(spike_index, edges)) / bin_s)
    if not rows:
        return PSTH(rel, np.zeros(len(rel)), np.zeros(len(rel)), 0, bin_s)
    m = np.array(rows, dtype=np.float64)
    sem = m.std(axis=0, ddof=1) / np.sqrt(len(m)) if len(m) > 1 else np.zeros(len(rel))
    return PSTH(rel, m.mean(axis=0), sem, len(m), bin_s)
