"""The simulated preparation: barrel currents in, AI samples and ground truth out.

Generation is a pure function of (configuration, seed, barrel currents per sample): the
random numbers for sample *i* come from a frame keyed by ``i // FRAME``, and every filter
state carries across calls, so the samples do not depend on how the run is cut into blocks.

Thread: used by one thread at a time (the engine thread, through ``SimDevice``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from daq.rig import RigConfig
from daq.types import AIChannel, ChannelKind
from mock_daq.model import DrugModel, SimConfig

FRAME = 1 << 15  # samples per random-number frame
INT16_MAX = 32767


class _FrameNoise:
    """Deterministic random numbers addressed by absolute sample index (block-size invariant)."""

    def __init__(self, seed: int, stream: int, kind: str):
        self.seed, self.stream, self.kind = seed, stream, kind
        self._frame = -1
        self._data: np.ndarray | None = None

    def _get(self, f: int) -> np.ndarray:
        if f != self._frame:
            rng = np.random.default_rng([self.seed, self.stream, f])
            self._data = rng.random(FRAME) if self.kind == "uniform" else rng.standard_normal(FRAME)
            self._frame = f
        assert self._data is not None
        return self._data

    def take(self, start: int, n: int) -> np.ndarray:
        out = np.empty(n)
        pos = 0
        while pos < n:
            i = start + pos
            f, off = divmod(i, FRAME)
            k = min(n - pos, FRAME - off)
            out[pos:pos + k] = self._get(f)[off:off + k]
            pos += k
        return out


@dataclass
class _DrugState:
    name: str
    model: DrugModel
    barrels: list[int]  # barrel columns that hold this drug
    polarity: list[int]
    uM_per_nA: float
    conc_uM: float = 0.0


def spike_waveform(rate_hz: float, amplitude_uV: float, width_ms: float) -> np.ndarray:
    """A biphasic extracellular spike (µV): a sharp trough then a slower positive peak,
    trough-to-peak ``width_ms``; the trough is ``-amplitude_uV``."""
    n = max(8, round((width_ms * 3 + 0.6) * 1e-3 * rate_hz))
    t_ms = np.arange(n) / rate_hz * 1e3
    t1 = 0.3
    s1 = max(width_ms / 4, 0.05)
    s2 = max(width_ms / 2, 0.08)
    w = -np.exp(-0.5 * ((t_ms - t1) / s1) ** 2) + 0.35 * np.exp(-0.5 * ((t_ms - t1 - width_ms) / s2) ** 2)
    return w / -w.min() * amplitude_uV


class Simulation:
    """Generates the AI samples of a rig for given barrel currents."""

    def __init__(self, rig: RigConfig, sim: SimConfig, ai: tuple[AIChannel, ...], seed: int | None = None):
        self.rig, self.sim, self.ai = rig, sim, ai
        self.fs = rig.rate_hz
        self.seed = sim.seed if seed is None else seed
        self.barrels = rig.pipette.barrels
        # drugs present on the pipette
        drugs: dict[str, _DrugState] = {}
        for j, b in enumerate(self.barrels):
            model = sim.drug(b.drug)
            if model is None or b.role == "balance":
                continue
            key = b.drug.lower()
            if key not in drugs:
                drugs[key] = _DrugState(b.drug, model, [], [], 0.0)
            drugs[key].barrels.append(j)
            drugs[key].polarity.append(b.polarity)
        self.drugs = list(drugs.values())
        self.neurons = sim.neurons
        for d in self.drugs:
            # concentration scale at the (first) neuron's distance
            d.uM_per_nA = sim.steady_uM_per_nA(d.model, self.neurons[0].distance_um)
        self._conc = np.zeros(len(self.drugs))
        self._last_spike = [-(10**12)] * len(self.neurons)
        self._recent_spikes: list[list[int]] = [[] for _ in self.neurons]
        self._waveforms = [spike_waveform(self.fs, n.amplitude_uV, n.width_ms) for n in self.neurons]
        self._u_spike = [_FrameNoise(self.seed, 100 + k, "uniform") for k in range(len(self.neurons))]
        self._noise = [_FrameNoise(self.seed, 1000 + c, "normal") for c in range(len(ai))]
        self._truth_dec = max(1, round(self.fs / sim.truth_rate_hz))
        self.truth_buffer: dict[str, list[np.ndarray]] = {}
        self.index = 0  # next sample index to generate

    # --- pharmacology (vectorised over samples) -----------------------------------------
    def _concentrations(self, currents_nA: np.ndarray) -> np.ndarray:
        """Concentration (µM) of each drug at the neuron per sample, shape (n, n_drugs)."""
        n = currents_nA.shape[0]
        out = np.zeros((n, len(self.drugs)))
        for k, d in enumerate(self.drugs):
            release = np.zeros(n)
            for col, pol in zip(d.barrels, d.polarity):
                release += np.clip(currents_nA[:, col] * pol, 0.0, None)  # only ejecting currents release
            target = release * d.uM_per_nA
            a = math.exp(-1.0 / (self.fs * d.model.tau_s))
            y, _ = lfilter([1 - a], [1, -a], target, zi=[a * self._conc[k]])
            out[:, k] = y
            self._conc[k] = y[-1] if n else self._conc[k]
        return out

    def expected_rate(self, conc_uM: np.ndarray, neuron: int = 0) -> np.ndarray:
        """Noiseless firing rate (Hz) for drug concentrations (n, n_drugs), including the
        dead-time loss of a refractory Poisson process: r / (1 + r·t_ref)."""
        nm = self.neurons[neuron]
        rate = np.full(conc_uM.shape[0], nm.baseline_hz, dtype=np.float64)
        inhibit = np.ones(conc_uM.shape[0])
        names = [d.name.lower() for d in self.drugs]
        for k, d in enumerate(self.drugs):
            m = d.model
            if m.effect not in ("excitatory", "inhibitory"):
                continue
            ec50 = np.full(conc_uM.shape[0], m.ec50_uM)
            for j, other in enumerate(self.drugs):
                om = other.model
                if om.effect == "antagonist" and om.antagonizes and om.antagonizes.lower() == names[k]:
                    ec50 = ec50 * (1 + conc_uM[:, j] / om.ki_uM)
            c = conc_uM[:, k]
            occ = c**m.hill / (c**m.hill + ec50**m.hill)
            if m.effect == "excitatory":
                rate = rate + (nm.max_rate_hz - nm.baseline_hz) * m.max_effect * occ
            else:
                inhibit = inhibit * (1 - m.max_effect * occ)
        rate = np.clip(rate * inhibit, 0.0, None)
        t_ref = nm.refractory_ms * 1e-3
        return rate / (1 + rate * t_ref)

    # --- generation ---------------------------------------------------------------------
    def generate(self, start: int, currents_nA: np.ndarray) -> np.ndarray:
        """AI samples (int16, shape (n, n_ai)) for samples ``start..start+n-1`` given the
        delivered barrel currents (n, n_barrels).  Must be called with consecutive ranges."""
        if start != self.index:
            raise ValueError(f"simulation expected sample {self.index}, got {start}")
        n = currents_nA.shape[0]
        conc = self._concentrations(currents_nA)
        t = (start + np.arange(n)) / self.fs
        electrode_uV = np.zeros((n, max(1, len(self.rig.electrodes))))
        truth_rows = np.arange(start, start + n)
        truth_sel = truth_rows % self._truth_dec == 0
        rates = []
        for k, nm in enumerate(self.neurons):
            r = self.expected_rate(conc, k)
            rates.append(r)
            r_raw = r / np.clip(1 - r * nm.refractory_ms * 1e-3, 1e-6, None)  # hazard outside refractoriness
            p = np.clip(r_raw / self.fs, 0, 1)
            u = self._u_spike[k].take(start, n)
            cand = np.flatnonzero(u < p) + start
            ref = round(nm.refractory_ms * 1e-3 * self.fs)
            spikes = []
            last = self._last_spike[k]
            for s in cand:
                if s - last > ref:
                    spikes.append(int(s))
                    last = int(s)
            self._last_spike[k] = last
            # waveforms: recent spikes from earlier blocks and this block's
            w = self._waveforms[k]
            col = min(nm.electrode, electrode_uV.shape[1] - 1)
            for s in [*self._recent_spikes[k], *spikes]:
                a, b = max(s, start), min(s + len(w), start + n)
                if a < b:
                    electrode_uV[a - start:b - start, col] += w[a - s:b - s]
            self._recent_spikes[k] = [s for s in [*self._recent_spikes[k], *spikes] if s + len(w) > start + n]
            if spikes:
                self.truth_buffer.setdefault(f"spike_index/neuron{k}", []).append(np.asarray(spikes, np.int64))
        nz = self.sim.noise
        hum = nz.hum_uV * np.sin(2 * np.pi * nz.hum_hz * t)
        out = np.empty((n, len(self.ai)), dtype=np.int16)
        e_i = 0
        for c, ch in enumerate(self.ai):
            if ch.kind == ChannelKind.ELECTRODE:
                uV = electrode_uV[:, min(e_i, electrode_uV.shape[1] - 1)] + hum
                uV = uV + nz.rms_uV * self._noise[c].take(start, n)
                volts = uV * 1e-6 * ch.gain
                e_i += 1
            elif ch.kind == ChannelKind.CURRENT_MONITOR and ch.barrel is not None:
                j = self.rig.pipette.index(ch.barrel)
                i_nA = currents_nA[:, j] + nz.monitor_noise_nA * self._noise[c].take(start, n)
                volts = i_nA * ch.gain
            else:
                volts = np.zeros(n)
            out[:, c] = self.quantise(volts, ch.range_V)
        if truth_sel.any():
            self.truth_buffer.setdefault("truth_index", []).append(truth_rows[truth_sel].astype(np.int64))
            self.truth_buffer.setdefault("expected_rate_hz", []).append(
                np.stack(rates, axis=1)[truth_sel].astype(np.float32)
            )
            if self.drugs:
                self.truth_buffer.setdefault("concentration_uM", []).append(conc[truth_sel].astype(np.float32))
        self.index = start + n
        return out

    @staticmethod
    def scale_V(range_V: float) -> float:
        """Volts per count of the simulated 16-bit ADC at a ±range."""
        return range_V / 32768.0

    @classmethod
    def quantise(cls, volts: np.ndarray, range_V: float) -> np.ndarray:
        """Clip to the ADC range and quantise to int16 counts."""
        counts = np.rint(volts / cls.scale_V(range_V))
        return np.clip(counts, -32768, INT16_MAX).astype(np.int16)

    def drain_truth(self) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.truth_buffer.items() if v}
        self.truth_buffer = {}
        return out

    def metadata(self) -> dict:
        return {
            "model": "mock_daq foundation v1",
            "seed": self.seed,
            "rate_hz": self.fs,
            "truth_decimation": self._truth_dec,
            "truth_rate_hz": self.fs / self._truth_dec,
            "simulation": self.sim.model_dump(mode="json"),
            "drugs": [{"name": d.name, "barrels": [self.barrels[j].name for j in d.barrels],
                       "uM_per_nA_steady": d.uM_per_nA} for d in self.drugs],
        }
