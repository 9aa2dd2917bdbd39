"""Electrode and amplifier: noise, 1/f component, mains hum, ADC.

Noise is independent of what the simulation does, so it is made a frame at a time
(``FRAME_LOW`` low-rate points × ``decimation`` samples), addressed by absolute sample
index: the same sample always gets the same noise whatever the block size.

* thermal noise: white, ``thermal_uV_rms`` (electrodes); the current monitors' noise
  (``monitor_noise_nA``) is band-limited like a monitor output: drawn at the low rate below
  and held;
* 1/f ("flicker") noise: white noise through a pinking filter — poles two per decade between
  ``flicker_low_hz`` and ``flicker_high_hz``, zeros halfway between — whose spectrum falls as
  1/f between them; scaled to ``flicker_uV_rms``; run at a low rate (≥ 10 × flicker_high_hz),
  started stationary, and linearly interpolated;
* mains hum: ``hum_uV`` at ``hum_hz`` plus harmonics, phase-locked to the sample clock.

The ADC: ``volts = physical · gain``; clipped to ±range_V and quantised to int16 counts of
``range_V / 32768`` volts.

Thread: whichever thread owns the simulation.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.signal import bilinear_zpk, sosfilt, unit_impulse, zpk2sos

from mock_daq.model import NoiseModel

FRAME_LOW = 2048  # low-rate points per noise frame
INT16_MIN, INT16_MAX = -32768, 32767


def adc_scale_V(range_V: float) -> float:
    """Volts per count of the simulated 16-bit ADC at ±range_V."""
    return range_V / 32768.0


def quantise(values: np.ndarray, counts_per_unit: np.ndarray | float) -> np.ndarray:
    """Physical values × counts per unit → int16 counts, clipped at the ADC's range
    (``counts_per_unit`` broadcasts against ``values``)."""
    counts = np.rint(values * counts_per_unit)
    np.clip(counts, INT16_MIN, INT16_MAX, out=counts)
    return counts.astype(np.int16)


class Hum:
    """Mains hum (µV) phase-locked to the sample clock: fundamental plus harmonics.

    sin(φ0 + ω·l) = sin φ0·cos ωl + cos φ0·sin ωl over short runs of ``RUN`` samples, so
    only the run starts need a sine evaluated at full precision."""

    RUN = 1024

    def __init__(self, rate_hz: float, noise: NoiseModel):
        amps = [1.0, *noise.hum_harmonics]
        self._terms = [(h, noise.hum_uV * a) for h, a in enumerate(amps, start=1) if a]
        self._omega = 2 * np.pi * noise.hum_hz / rate_hz
        lags = np.arange(self.RUN)
        self._base = [(amp * np.cos(h * self._omega * lags), amp * np.sin(h * self._omega * lags))
                      for h, amp in self._terms]

    def take(self, start: int, n: int) -> np.ndarray:
        """Hum of samples [start, start + n), float32."""
        runs = -(-n // self.RUN)
        first = start + np.arange(runs) * self.RUN
        out = np.zeros((runs, self.RUN))
        for (h, _amp), (cos_l, sin_l) in zip(self._terms, self._base):
            phase = np.mod(h * self._omega * first.astype(np.float64), 2 * np.pi)
            out += np.sin(phase)[:, None] * cos_l[None, :]
            out += np.cos(phase)[:, None] * sin_l[None, :]
        return out.reshape(-1)[:n].astype(np.float32)


def flicker_sos(low_hz: float, high_hz: float, rate_hz: float, rms: float) -> np.ndarray:
    """A pinking filter (second-order sections) for white noise of unit variance: poles two per
    decade from ``low_hz`` to ``high_hz`` with zeros halfway between (log scale), so the power
    spectrum falls as 1/f between them; scaled so the output's rms is ``rms``."""
    n_poles = max(1, math.ceil(2 * math.log10(high_hz / low_hz)) + 1)
    poles_hz = np.logspace(math.log10(low_hz), math.log10(high_hz), n_poles)
    zeros_hz = np.sqrt(poles_hz[:-1] * poles_hz[1:])
    z, p, k = bilinear_zpk(-2 * np.pi * zeros_hz, -2 * np.pi * poles_hz, 1.0, fs=rate_hz)
    sos = zpk2sos(z, p, k)
    n = round(40 * rate_hz / (2 * np.pi * low_hz))  # the impulse response, to well past its decay
    h = sosfilt(sos, unit_impulse(n))
    sos[0, :3] *= rms / math.sqrt(float(np.sum(h * h)))
    return sos


@numba.njit(cache=True, nogil=True)
def _electrode_frame(rng, out, thermal, low, frac, hum):  # pragma: no cover - compiled
    """Fill ``out`` (n_el, FRAME_LOW·decimation) float32 with one frame of electrode background:
    thermal·N(0, 1) + the 1/f component linearly interpolated from ``low`` (n_el, FRAME_LOW + 1;
    empty: none) + ``hum`` (one row; empty: none), in one pass.

    The normals are drawn from ``rng`` in row-major order with numpy's float64 ziggurat (numba
    runs the same algorithm on the same bit generator, about twice as fast as numpy's fill)."""
    n_el, n = out.shape
    dec = frac.shape[0]
    n_low = n // dec
    has_low = low.shape[1] > 0
    has_hum = hum.shape[0] > 0
    for c in range(n_el):
        for j in range(n_low):
            base = np.float32(0.0)
            step = np.float32(0.0)
            if has_low:
                base = low[c, j]
                step = low[c, j + 1] - base
            for d in range(dec):
                i = j * dec + d
                v = np.float32(rng.standard_normal()) * thermal + base + step * frac[d]
                if has_hum:
                    v += hum[i]
                out[c, i] = v


def frame_rng(*key: int) -> np.random.Generator:
    """A generator for one frame of one stream, keyed by integers (SFC64: the fastest here)."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(list(key))))


class NoiseFrames:
    """Background of the electrodes (µV: thermal + 1/f + hum) and of the other channels
    (current monitors, nA: white), as float32 frames addressed by absolute sample index."""

    def __init__(self, seed: int, rate_hz: float, n_electrodes: int, other_rms: np.ndarray, noise: NoiseModel):
        self.seed = seed
        self.fs = rate_hz
        self.n_el = n_electrodes
        self.other_rms = np.asarray(other_rms, dtype=np.float32)
        self.noise = noise
        self.decimation = max(1, int(rate_hz // (10.0 * noise.flicker_high_hz)))
        self.frame = FRAME_LOW * self.decimation
        low_rate = rate_hz / self.decimation
        self._flicker = noise.flicker_uV_rms > 0 and n_electrodes > 0
        if self._flicker:
            self._sos = flicker_sos(noise.flicker_low_hz, noise.flicker_high_hz, low_rate, noise.flicker_uV_rms)
            # start stationary: run the filter over a warm-up of 10 of its slowest time constants
            warm = round(10 * low_rate / (2 * np.pi * noise.flicker_low_hz))
            zi = np.zeros((self._sos.shape[0], n_electrodes, 2))
            _, self._zi = sosfilt(self._sos, frame_rng(seed, 5001).standard_normal((n_electrodes, warm)), axis=1, zi=zi)
        self._low: dict[int, np.ndarray] = {}  # chunk index -> (n_el, FRAME_LOW) low-rate flicker
        self._no_low = np.zeros((n_electrodes, 0), dtype=np.float32)
        self._no_hum = np.zeros(0, dtype=np.float32)
        self._low_next = 0
        self._frac = (np.arange(self.decimation) / self.decimation).astype(np.float32)
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._hum = Hum(rate_hz, noise) if noise.hum_uV > 0 and n_electrodes > 0 else None

    # --- frames -------------------------------------------------------------------------
    def _low_chunk(self, c: int) -> np.ndarray:
        while self._low_next <= c:
            k = self._low_next
            eps = frame_rng(self.seed, 5002, k).standard_normal((self.n_el, FRAME_LOW))
            y, self._zi = sosfilt(self._sos, eps, axis=1, zi=self._zi)
            self._low[k] = y.astype(np.float32)
            self._low_next += 1
            self._low.pop(k - 2, None)
        return self._low[c]

    def _build(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.frame
        rng = frame_rng(self.seed, 5000, f)
        el = np.empty((self.n_el, n), dtype=np.float32)
        if self.n_el:
            low = (np.concatenate([self._low_chunk(f), self._low_chunk(f + 1)[:, :1]], axis=1) if self._flicker
                   else self._no_low)
            hum = self._hum.take(f * n, n) if self._hum is not None else self._no_hum
            _electrode_frame(rng, el, np.float32(self.noise.thermal_uV_rms), low, self._frac, hum)
        # the monitors' noise is band-limited (≈ low rate / 2): drawn at the low rate, held
        low_other = rng.standard_normal((self.other_rms.size, FRAME_LOW), dtype=np.float32)
        low_other *= self.other_rms[:, None]
        other = np.repeat(low_other, self.decimation, axis=1)
        return el, other

    def _frame(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None or self._cache[0] != f:
            el, other = self._build(f)
            self._cache = (f, el, other)
        return self._cache[1], self._cache[2]

    def take(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Background of samples [start, start + n), channel-major: (electrodes (n_el, n),
        others (n_other, n)), float32, read-only views when inside one frame.  Frames must be
        asked for in increasing order (the 1/f state runs forward)."""
        f0, off = divmod(start, self.frame)
        if off + n <= self.frame:
            el, other = self._frame(f0)
            return el[:, off:off + n], other[:, off:off + n]
        els, others = [], []
        pos = start
        while pos < start + n:
            f, off = divmod(pos, self.frame)
            k = min(self.frame - off, start + n - pos)
            el, other = self._frame(f)
            els.append(el[:, off:off + k])
            others.append(other[:, off:off + k])
            pos += k
        return np.concatenate(els, axis=1), np.concatenate(others, axis=1)


class BurstNoise:
    """White noise of given rms in sample windows (the noise-burst fault), by absolute index."""

    FRAME = 1 << 15

    def __init__(self, seed: int, n_ch: int):
        self.seed, self.n_ch = seed, n_ch
        self._cache: tuple[int, np.ndarray] | None = None

    def _frame(self, f: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != f:
            self._cache = (f, frame_rng(self.seed, 6000, f).standard_normal((self.n_ch, self.FRAME), dtype=np.float32))
        return self._cache[1]

    def take(self, start: int, n: int) -> np.ndarray:
        """Unit-variance noise for samples [start, start + n), shape (n_ch, n)."""
        out = np.empty((self.n_ch, n), dtype=np.float32)
        pos = start
        while pos < start + n:
            f, off = divmod(pos, self.FRAME)
            k = min(self.FRAME - off, start + n - pos)
            out[:, pos - start:pos - start + k] = self._frame(f)[:, off:off + k]
            pos += k
        return out
