"""Spiking neurons: spike times from a drive rate, and their extracellular waveforms.

Spike times come from a time-rescaled gamma renewal process with an absolute refractory
period: after each spike (and its dead time) the hazard λ(t) is integrated until it reaches
a Gamma(κ, 1/κ) variate (mean 1).  κ = 1 is a Poisson process with dead time (cortical
cells); κ ≈ 5–20 gives the slow, regular pacemaking of midbrain dopamine neurons.  For a
constant λ the mean interval is t_ref + 1/λ, so the expected rate is λ/(1 + λ·t_ref).

Spikes are drawn one model step at a time (λ is constant over a step), so the result does
not depend on how acquisition is cut into blocks.  Each neuron has its own random stream.

Thread: whichever thread owns the simulation.
"""

from __future__ import annotations

import math

import numpy as np

from mock_daq.model import NeuronModel

TROUGH_MS = 0.3  # the waveform's trough comes this long after the spike's sample index


def spike_waveform(rate_hz: float, amplitude_uV: float, width_ms: float) -> np.ndarray:
    """A biphasic extracellular spike (µV): a sharp negative trough ``TROUGH_MS`` after the
    first sample, then a slower positive peak ``width_ms`` after the trough (trough-to-peak
    width); the trough is ``-amplitude_uV`` and the positive phase about a third of it."""
    n = max(8, round((TROUGH_MS + 2.5 * width_ms + 0.3) * 1e-3 * rate_hz))
    t_ms = np.arange(n) / rate_hz * 1e3
    s1 = min(0.1, max(width_ms / 5, 0.05))  # a sharp trough (starts from ~0 at the first sample)
    s2 = max(width_ms / 2, 0.08)  # a slower repolarisation peak
    w = -np.exp(-0.5 * ((t_ms - TROUGH_MS) / s1) ** 2) + 0.35 * np.exp(
        -0.5 * ((t_ms - TROUGH_MS - width_ms) / s2) ** 2)
    w -= np.linspace(w[0], w[-1], n)  # start and end at 0
    return w / -w.min() * amplitude_uV


class _Draws:
    """A buffered stream of variates; the sequence does not depend on how it is consumed."""

    def __init__(self, rng: np.random.Generator, draw, size: int = 256):
        self._rng, self._draw, self._size = rng, draw, size
        self._buf = np.empty(0)
        self._i = 0

    def next(self) -> float:
        if self._i >= self._buf.size:
            self._buf = self._draw(self._rng, self._size)
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return float(v)


class SpikeTrains:
    """The spike generators of all neurons.  ``step(a, b, λ)`` returns the spikes in samples
    [a, b) for drive rates λ (one per neuron) constant over them.

    With many neurons, those whose next spike does not fall in [a, b) only integrate their
    hazard — one vector operation for all of them — and the few that spike go through the
    scalar loop; with a few neurons the scalar loop does it all (same arithmetic)."""

    VECTOR_FROM = 8  # neurons

    def __init__(self, neurons: tuple[NeuronModel, ...], rate_hz: float, seed: int):
        self.neurons = neurons
        self.fs = rate_hz
        self._targets = [_Draws(np.random.default_rng([seed, 7001, k]),
                                lambda r, n, kappa=nm.regularity: r.gamma(kappa, 1.0 / kappa, n))
                         for k, nm in enumerate(neurons)]
        self._amps = [_Draws(np.random.default_rng([seed, 7002, k]), lambda r, n: r.standard_normal(n))
                      for k in range(len(neurons))]
        self._ref_samples = [nm.refractory_ms * 1e-3 * rate_hz for nm in neurons]
        self._resume = np.zeros(len(neurons))  # (fractional) sample where the hazard restarts
        self._remaining = np.array([d.next() for d in self._targets])  # hazard still needed

    def step(self, a: int, b: int, drive_hz: np.ndarray) -> list[tuple[int, list[int], list[float]]]:
        """(neuron, sample indices, trough amplitudes µV) for each neuron that spikes in [a, b)."""
        if len(self.neurons) < self.VECTOR_FROM:
            return self._step_scalar(a, b, drive_hz.tolist())
        t = np.maximum(float(a), self._resume)
        active = (drive_hz > 0) & (t < b)
        if not active.any():
            return []
        per_sample = drive_hz / self.fs
        with np.errstate(divide="ignore", invalid="ignore"):
            t_spike = t + self._remaining / per_sample
        quiet = active & (t_spike >= b)
        self._remaining[quiet] -= (b - t[quiet]) * per_sample[quiet]
        out = []
        for k in np.flatnonzero(active & ~quiet).tolist():
            out.append((k, *self._spikes(k, float(t[k]), b, float(per_sample[k]))))
        return out

    def _step_scalar(self, a: int, b: int, drive_hz: list[float]) -> list[tuple[int, list[int], list[float]]]:
        out = []
        for k, drive in enumerate(drive_hz):
            t = max(float(a), float(self._resume[k]))
            if drive <= 0 or t >= b:
                continue
            per_sample = drive / self.fs
            remaining = float(self._remaining[k])
            if t + remaining / per_sample >= b:
                self._remaining[k] = remaining - (b - t) * per_sample
                continue
            out.append((k, *self._spikes(k, t, b, per_sample)))
        return out

    def _spikes(self, k: int, t: float, b: int, per_sample: float) -> tuple[list[int], list[float]]:
        m = self.neurons[k]
        samples: list[int] = []
        amps: list[float] = []
        remaining = float(self._remaining[k])
        while True:
            t_spike = t + remaining / per_sample
            if t_spike >= b:
                remaining -= (b - t) * per_sample
                break
            samples.append(math.floor(t_spike))
            amps.append(m.amplitude_uV * max(0.2, 1.0 + m.amplitude_cv * self._amps[k].next()))
            remaining = self._targets[k].next()
            t = t_spike + self._ref_samples[k]
            self._resume[k] = t
            if t >= b:
                break
        self._remaining[k] = remaining
        return samples, amps


class SpikeRenderer:
    """Adds spike waveforms to electrode blocks, carrying waveforms across block ends."""

    def __init__(self, neurons: tuple[NeuronModel, ...], rate_hz: float):
        shapes = [spike_waveform(rate_hz, 1.0, n.width_ms) for n in neurons]  # unit trough
        self.length = max(w.size for w in shapes)
        self.shapes = np.zeros((len(neurons), self.length))
        for k, w in enumerate(shapes):
            self.shapes[k, :w.size] = w
        self.electrode = np.array([n.electrode for n in neurons], dtype=np.int64)
        self._samples = np.zeros(0, dtype=np.int64)
        self._amps = np.zeros(0)
        self._neuron = np.zeros(0, dtype=np.int64)
        self._new: list[tuple[int, list[int], list[float]]] = []

    def add(self, neuron: int, samples: list[int], amps: list[float]) -> None:
        if samples:
            self._new.append((neuron, samples, amps))

    def _collect(self) -> None:
        if not self._new:
            return
        self._samples = np.concatenate([self._samples, *(np.asarray(s, dtype=np.int64) for _, s, _ in self._new)])
        self._amps = np.concatenate([self._amps, *(np.asarray(a, dtype=np.float64) for _, _, a in self._new)])
        self._neuron = np.concatenate([self._neuron, *(np.full(len(s), k, dtype=np.int64) for k, s, _ in self._new)])
        self._new = []
        # a fixed order (sample, neuron) so overlapping waveforms add up the same whatever the blocks
        order = np.lexsort((self._neuron, self._samples))
        self._samples, self._amps, self._neuron = self._samples[order], self._amps[order], self._neuron[order]

    def render(self, start: int, uV: np.ndarray, electrode_rows: list[int]) -> None:
        """Add waveforms of spikes that overlap samples [start, start + n) into ``uV``
        (n_electrodes, n), in place; ``electrode_rows[e]`` is electrode e's row in ``uV``
        (-1 when not acquired)."""
        self._collect()
        if self._samples.size == 0:
            return
        n = uV.shape[1]
        stop = start + n
        now = self._samples < stop
        if now.any():
            rows_of = np.array([*electrode_rows, -1])  # electrodes beyond the rig map to -1
            rows = rows_of[np.minimum(self.electrode[self._neuron[now]], len(electrode_rows))]
            ok_rows = rows >= 0
            s = self._samples[now][ok_rows]
            if s.size:
                idx = s[:, None] - start + np.arange(self.length)[None, :]
                val = self._amps[now][ok_rows][:, None] * self.shapes[self._neuron[now][ok_rows]]
                r = np.broadcast_to(rows[ok_rows][:, None], idx.shape)
                inside = (idx >= 0) & (idx < n)
                np.add.at(uV, (r[inside], idx[inside]), val[inside].astype(uV.dtype))
        keep = self._samples + self.length > stop
        self._samples, self._amps, self._neuron = self._samples[keep], self._amps[keep], self._neuron[keep]
