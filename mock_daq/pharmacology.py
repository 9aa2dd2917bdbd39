"""Receptors and the neuron's firing rate as a function of drug concentrations.

Per agonist d at concentration c (µM), with competitive antagonists A_i (Gaddum/Schild)::

    EC50' = EC50 · (1 + Σ_i A_i / K_B,i)
    e_d   = max_effect · c^h / (c^h + EC50'^h)

Excitation and inhibition combine as independent saturating fractions, and high excitatory
drive blocks firing (depolarisation block, per drug with ``block_uM``)::

    E = 1 − Π_exc (1 − e_d)        I = 1 − Π_inh (1 − e_d)
    B = 1 − Π_exc (1 − c^hb / (c^hb + block_uM^hb))
    λ = (baseline + (max_rate − baseline) · E) · (1 − I) · (1 − B)

λ is the rate of the neuron's underlying point process; with an absolute refractory period
t_ref the observed (expected) rate is λ / (1 + λ·t_ref).  With one agonist alone, λ − baseline
is exactly the configured Hill curve.

Thread: whichever thread owns the simulation.
"""

from __future__ import annotations

import numpy as np

from mock_daq.model import DrugModel, NeuronModel


class Receptors:
    """Maps concentrations at the neurons to each neuron's drive rate λ."""

    def __init__(self, drug_names: list[str], models: list[DrugModel], neurons: tuple[NeuronModel, ...]):
        self.names = [n.lower() for n in drug_names]
        self.models = models
        self._base = np.array([nm.baseline_hz for nm in neurons])
        self._span = np.array([nm.max_rate_hz - nm.baseline_hz for nm in neurons])
        self._antagonists: dict[int, list[tuple[int, float]]] = {}
        for a, m in enumerate(models):
            if m.effect == "antagonist" and m.antagonizes and m.antagonizes.lower() in self.names:
                target = self.names.index(m.antagonizes.lower())
                self._antagonists.setdefault(target, []).append((a, m.kb_uM))

    def ec50_uM(self, drug: int, conc_uM: np.ndarray) -> np.ndarray | float:
        """Effective EC50 of an agonist given the antagonists' concentrations (..., n_drugs)."""
        shift: np.ndarray | float = 1.0
        for a, kb in self._antagonists.get(drug, ()):
            shift = shift + conc_uM[..., a] / kb
        return self.models[drug].ec50_uM * shift

    def drive_rate_hz(self, conc_uM: np.ndarray) -> np.ndarray:
        """λ (Hz), shape (n, n_neurons), for concentrations (n, n_neurons, n_drugs)."""
        excitation: np.ndarray | float = 0.0
        factor: np.ndarray | float = 1.0  # (1 − I)·(1 − B)
        for d, m in enumerate(self.models):
            if m.effect not in ("excitatory", "inhibitory"):
                continue
            c = conc_uM[:, :, d]
            if not c.any():
                continue
            c = np.maximum(c, 0.0)
            ch = c**m.hill
            e = m.max_effect * ch / (ch + self.ec50_uM(d, conc_uM) ** m.hill)
            if m.effect == "excitatory":
                excitation = excitation + e - excitation * e  # 1 − (1 − E)(1 − e)
                if m.block_uM is not None:
                    cb = c**m.block_hill
                    factor = factor * (1.0 - cb / (cb + m.block_uM**m.block_hill))
            else:
                factor = factor * (1.0 - e)
        lam = (self._base + self._span * excitation) * factor
        if lam.shape != conc_uM.shape[:2]:  # no drug acted: the baselines, one row per step
            lam = np.broadcast_to(lam, conc_uM.shape[:2]).copy()
        return lam


def observed_rate_hz(drive_hz: np.ndarray, refractory_ms: float) -> np.ndarray:
    """Expected firing rate of a renewal process with drive λ and dead time: λ/(1 + λ·t_ref)."""
    lam = np.asarray(drive_hz, dtype=np.float64)
    return lam / (1.0 + lam * refractory_ms * 1e-3)
