"""Synthetic ionto recordings with known answers, written through the real ``Recorder``.

Spikes are Poisson (with a refractory period) at a rate set by the barrel currents through
Hill functions whose EC50s (in nA) are known exactly; waveforms are added to Gaussian
noise and quantised to int16.  Optional gaps, clipped stretches and a current monitor
that can deliver less than commanded (a blocked barrel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.truth import match_spikes
from daq.pipette import Barrel, Pipette
from daq.recording import Recorder
from daq.types import AIChannel, Block, ChannelKind, EventKind, LogEvent, StreamInfo

FS = 20000.0


def waveform(fs: float, amplitude_uV: float, width_ms: float = 0.5) -> np.ndarray:
    """A biphasic extracellular spike: trough of −amplitude, then a slower positive phase."""
    n = max(8, round((width_ms * 3 + 0.6) * 1e-3 * fs))
    t = np.arange(n) / fs * 1e3
    w = -np.exp(-0.5 * ((t - 0.3) / (width_ms / 4)) ** 2) + 0.35 * np.exp(-0.5 * ((t - 0.3 - width_ms) / (width_ms / 2)) ** 2)
    return w / -w.min() * amplitude_uV


def pipette() -> Pipette:
    return Pipette(max_total_nA=400, barrels=(
        Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=10, max_eject_nA=150, ao_channel="x/ao0",
               monitor_gain_V_per_nA=0.05, monitor_channel="x/ai1"),
        Barrel(name="gaba", drug="GABA", polarity=+1, retain_nA=10, max_eject_nA=150, ao_channel="x/ao1"),
        Barrel(name="bic", drug="bicuculline", polarity=+1, retain_nA=10, max_eject_nA=100, ao_channel="x/ao2"),
        Barrel(name="nacl", drug="NaCl", role="control", max_eject_nA=150, ao_channel="x/ao3"),
        Barrel(name="bal", drug="NaCl", role="balance", max_eject_nA=400, ao_channel="x/ao4"),
    ))


@dataclass
class Neuron:
    baseline_hz: float = 10.0
    amplitude_uV: float = 120.0
    width_ms: float = 0.5
    glu_ec50_nA: float = 20.0  # excitation: rate × (1 + glu_max · occupancy)
    glu_hill: float = 1.5
    glu_max: float = 4.0
    gaba_ec50_nA: float = 15.0  # inhibition: rate × (1 − occupancy)
    gaba_hill: float = 1.2
    bic_shift_per_nA: float = 0.15  # bicuculline multiplies the GABA EC50 by (1 + 0.15·I_bic)


@dataclass
class Synth:
    duration_s: float
    ejections: list[tuple[str, float, float, float]]  # (barrel, |current| nA, onset s, duration s)
    neurons: list[Neuron] = field(default_factory=lambda: [Neuron()])
    noise_uV: float = 10.0
    seed: int = 0
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (at s, lost s)
    clip: list[tuple[float, float]] = field(default_factory=list)  # (start s, stop s): electrode saturates
    delivered_fraction: dict[str, float] = field(default_factory=dict)  # barrel → monitored/commanded
    n_electrodes: int = 1
    fs: float = FS

    def currents(self, t: np.ndarray) -> dict[str, np.ndarray]:
        out = {b: np.zeros(len(t)) for b in ("glu", "gaba", "bic", "nacl")}
        for b, cur, on, dur in self.ejections:
            out[b] = np.where((t >= on) & (t < on + dur), cur, out[b])
        return out

    def rate(self, nm: Neuron, cur: dict[str, np.ndarray]) -> np.ndarray:
        g = cur["glu"] ** nm.glu_hill / (cur["glu"] ** nm.glu_hill + nm.glu_ec50_nA ** nm.glu_hill)
        ec = nm.gaba_ec50_nA * (1 + nm.bic_shift_per_nA * cur["bic"])
        i = cur["gaba"] ** nm.gaba_hill / (cur["gaba"] ** nm.gaba_hill + ec ** nm.gaba_hill)
        return nm.baseline_hz * (1 + nm.glu_max * g) * (1 - i)

    def expected_percent(self, barrel: str, current: float, with_bic_nA: float = 0.0, neuron: int = 0) -> float:
        cur = {b: np.zeros(1) for b in ("glu", "gaba", "bic", "nacl")}
        cur[barrel] = np.array([current])
        cur["bic"] = np.array([with_bic_nA])
        base = {b: np.zeros(1) for b in cur}
        base["bic"] = np.array([with_bic_nA])
        nm = self.neurons[neuron]
        return float(100 * (self.rate(nm, cur)[0] / self.rate(nm, base)[0] - 1))


def write(path: Path, s: Synth) -> dict[str, list[np.ndarray]]:
    """Write the recording; returns the true spike sample indices per neuron."""
    pip = pipette()
    rng = np.random.default_rng(s.seed)
    elec = tuple(AIChannel(f"e{i}" if s.n_electrodes > 1 else "electrode", f"x/ai{10 + i}", ChannelKind.ELECTRODE,
                           range_V=5.0, gain=1000.0) for i in range(s.n_electrodes))
    mon = AIChannel("glu_mon", "x/ai1", ChannelKind.CURRENT_MONITOR, range_V=10.0, units="nA", gain=0.05, barrel="glu")
    chans = (*elec, mon)
    scale = tuple(c.range_V / 32768 for c in chans)
    st = StreamInfo(s.fs, chans, np.dtype(np.int16), scale, (0.0,) * len(chans))
    rec = Recorder(path, pipette=pip, overwrite=True)
    rec.start(st)
    n = int(s.duration_s * s.fs)
    lost = sorted((int(a * s.fs), int(b * s.fs)) for a, b in s.gaps)
    truth: list[list[np.ndarray]] = [[] for _ in s.neurons]
    waves = [waveform(s.fs, nm.amplitude_uV, nm.width_ms) for nm in s.neurons]
    last = [-(10**9)] * len(s.neurons)
    carry = np.zeros((max(len(w) for w in waves), s.n_electrodes))
    block = int(s.fs)
    for start in range(0, n, block):
        m = min(block, n - start)
        t = (start + np.arange(m)) / s.fs
        step = max(1, int(s.fs // 1000))  # currents and rates change on a 1-ms grid
        cur = {b: np.repeat(v, step)[:m] for b, v in s.currents(t[::step]).items()}
        uV = np.zeros((m + carry.shape[0], s.n_electrodes))
        uV[:carry.shape[0]] += carry
        for k, nm in enumerate(s.neurons):
            cand = np.flatnonzero(rng.random(m, dtype=np.float32) < s.rate(nm, cur) / s.fs) + start
            ref = int(2e-3 * s.fs)
            keep = []
            for c in cand:
                if c - last[k] > ref:
                    keep.append(c)
                    last[k] = c
            keep = np.array(keep, dtype=np.int64)
            truth[k].append(keep)
            w = waves[k]
            for c in keep:
                uV[c - start:c - start + len(w), k % s.n_electrodes] += w
        carry = uV[m:].copy()
        uV = uV[:m] + rng.standard_normal((m, s.n_electrodes), dtype=np.float32) * s.noise_uV
        for a, b in s.clip:
            sel = (t >= a) & (t < b)
            uV[sel] = 1e7  # far beyond the converter's range
        volts = np.concatenate([uV * 1e-6 * 1000.0,
                                ((cur["glu"] * -1) * s.delivered_fraction.get("glu", 1.0) * 0.05)[:, None]], axis=1)
        raw = np.clip(np.rint(volts / np.array(scale)), -32768, 32767).astype(np.int16)
        # drop the samples lost in gaps (the sample index jumps)
        keep_rows = np.ones(m, bool)
        for a, ln in lost:
            keep_rows &= ~((start + np.arange(m) >= a) & (start + np.arange(m) < a + ln))
        idx = start + np.flatnonzero(keep_rows)
        if len(idx):
            runs = np.split(np.arange(len(idx)), np.flatnonzero(np.diff(idx) != 1) + 1)
            for r in runs:
                rec.on_block(Block(int(idx[r[0]]), raw[keep_rows][r]))
    events = []
    for b, cur, on, dur in s.ejections:
        sign = pip.barrel(b).polarity or 1
        retain = pip.barrel(b).retain_current_nA
        events.append(LogEvent(int(on * s.fs), EventKind.EJECT if b != "nacl" else EventKind.CURRENT, b, sign * cur))
        if on + dur < s.duration_s:
            events.append(LogEvent(int((on + dur) * s.fs), EventKind.RETAIN if retain else EventKind.OFF, b, retain))
    rec.on_events(sorted(events, key=lambda e: e.sample_index))
    rec.stop()
    out = []
    for k in range(len(s.neurons)):
        tr = np.concatenate(truth[k]) if truth[k] else np.zeros(0, np.int64)
        for a, ln in lost:  # spikes whose trough fell in a gap were never recorded
            tr = tr[~((tr + int(0.3e-3 * s.fs) >= a) & (tr < a + ln))]
        out.append(tr)
    return {"spikes": out}


def dose_series(barrel: str, currents: list[float], eject_s: float = 20.0, gap_s: float = 40.0,
                start_s: float = 35.0) -> list[tuple[str, float, float, float]]:
    return [(barrel, c, start_s + i * (eject_s + gap_s), eject_s) for i, c in enumerate(currents)]


def match(detected: np.ndarray, truth: np.ndarray, tol: int) -> tuple[float, float]:
    """(recall, precision) with one-to-one matching within ±tol samples."""
    if len(truth) == 0 or len(detected) == 0:
        return 0.0, 0.0
    _, recall, precision = match_spikes(detected, truth, tol)
    return recall, precision
