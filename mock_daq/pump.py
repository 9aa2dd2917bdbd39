"""Iontophoretic pump physics: commanded current → delivered current → drug released.

* **Delivered current.**  Each barrel's current source drives the commanded current through
  the barrel's resistance R within its compliance voltage: ``|I| <= V_compliance / R``.
  Beyond that the current is clipped — and the current monitor shows the clipped value.
  A clog is a jump of R (see ``faults``).
* **Release.**  Drug leaves a barrel at n·I/(zF) (transport number n, valence z) while the
  current is in the barrel's eject direction, scaled by a release *gate* that rises to 1 with
  a first-order time constant τ = onset_tau_s + onset_tau_s_per_nC · Q_ret, where Q_ret is
  the retaining charge accumulated since the last ejection (capped at max_retention_nC), fixed
  when the ejection begins: the longer and stronger the retention, the slower the onset
  (Bradshaw et al.).  An ejection refills the depleted tip (Q_ret back to 0); with the barrel
  off it refills with ``retention_recovery_s``.
* **Retain and leak.**  A retaining current stops release.  Without it the barrel leaks a
  spontaneous efflux equivalent to ``leak_nA`` (a retaining current smaller than the leak
  only reduces it).
* **Balance.**  The balance barrel is driven like any other (its AO carries the negated sum
  of the commanded currents); what reaches the tissue is the net of the *delivered*
  currents, which is not zero when a barrel is clipped or when there is no balance barrel.

Release is evaluated once per model step on the mean delivered current of that step.

Thread: whichever thread owns the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from daq.rig import RigConfig
from mock_daq.diffusion import fmol_per_s_per_nA
from mock_daq.model import DrugModel, SimConfig

EJECT_THRESHOLD_NA = 1e-3


@dataclass
class _DrugBarrel:
    column: int  # barrel column
    drug: int  # index into the simulation's drug list
    polarity: int
    model: DrugModel
    fmol_s_per_nA: float
    gate: float = 0.0
    retention_nC: float = 0.0
    tau_s: float = -1.0  # onset time constant of the ejection under way (-1: not ejecting)


class Pump:
    """Delivered currents (per sample) and drug release (per model step) of a pipette."""

    def __init__(self, rig: RigConfig, sim: SimConfig, drug_names: list[str]):
        self.barrels = rig.pipette.barrels
        self.compliance_V = sim.compliance_V
        self.resistance_MOhm = np.array([sim.resistance_MOhm(b.name, b.role) for b in self.barrels])
        self._limit = self.limit_nA(self.resistance_MOhm)
        self.drug_names = drug_names
        self.drug_barrels: list[_DrugBarrel] = []
        for j, b in enumerate(self.barrels):
            model = sim.drug(b.drug)
            if b.role != "drug" or model is None:
                continue
            d = [n.lower() for n in drug_names].index(b.drug.lower())
            db = _DrugBarrel(j, d, b.polarity, model, fmol_per_s_per_nA(model.transport_number, model.valence))
            # the pipette was held on retain before the recording started
            db.retention_nC = min(model.max_retention_nC, b.retain_nA * sim.initial_retention_s)
            self.drug_barrels.append(db)

    # --- per sample ---------------------------------------------------------------------
    def limit_nA(self, resistance_MOhm: np.ndarray) -> np.ndarray:
        """Largest current each barrel's source can drive: V_compliance / R (V/MΩ = µA)."""
        return self.compliance_V / resistance_MOhm * 1e3

    def deliver(self, commanded_nA: np.ndarray, resistance_MOhm: np.ndarray | None = None) -> np.ndarray:
        """Delivered currents, channel-major (n_barrels, n): commanded, clipped at compliance.
        ``resistance_MOhm`` is per barrel (n_barrels,) or per sample (n_barrels, n)."""
        if resistance_MOhm is None or resistance_MOhm is self.resistance_MOhm:
            lim = self._limit
        else:
            lim = self.limit_nA(resistance_MOhm)
        if lim.ndim == 2:
            return np.clip(commanded_nA, -lim, lim)
        over = (commanded_nA.max(axis=1) > lim) | (commanded_nA.min(axis=1) < -lim)
        if not over.any():
            return commanded_nA
        out = commanded_nA.copy()
        for j in np.flatnonzero(over):
            np.clip(out[j], -lim[j], lim[j], out=out[j])
        return out

    # --- per model step -----------------------------------------------------------------
    def release(self, mean_nA: np.ndarray, dt_s: float) -> np.ndarray:
        """Advance every drug barrel over model steps of mean delivered currents
        (k, n_barrels); return each drug's mean release over each step (k, n_drugs), fmol/s."""
        k = mean_nA.shape[0]
        q = np.zeros((k, len(self.drug_names)))
        for db in self.drug_barrels:
            m = db.model
            cur = (mean_nA[:, db.column] * db.polarity).tolist()  # > 0: eject direction
            gate, ret, tau = db.gate, db.retention_nC, db.tau_s
            tau0, tau_per_nC, ret_max = m.onset_tau_s, m.onset_tau_s_per_nC, m.max_retention_nC
            refill = math.exp(-dt_s / m.retention_recovery_s)
            leak_nA, per_nA = m.leak_nA, db.fmol_s_per_nA
            out = q[:, db.drug]
            for i, c in enumerate(cur):
                if c > EJECT_THRESHOLD_NA:
                    if tau < 0:  # an ejection begins: its onset time constant, set by the retention
                        tau = tau0 + tau_per_nC * ret
                        ret = 0.0
                    if tau > 0:
                        f = -math.expm1(-dt_s / tau)
                        mean_gate = 1.0 - (1.0 - gate) * f * tau / dt_s  # mean of the approach
                        gate += (1.0 - gate) * f
                    else:
                        mean_gate = gate = 1.0
                    out[i] += per_nA * (mean_gate * c + leak_nA)
                else:
                    gate, tau = 0.0, -1.0
                    if c < 0:  # retaining
                        ret = min(ret_max, ret - c * dt_s)
                        if leak_nA > -c:
                            out[i] += per_nA * (leak_nA + c)
                    else:  # off
                        ret *= refill
                        out[i] += per_nA * leak_nA
            db.gate, db.retention_nC, db.tau_s = gate, ret, tau
        return q
