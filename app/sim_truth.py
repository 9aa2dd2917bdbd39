"""The true dose–response of a simulated recording, computed from the simulator's model.

``analysis`` does not import the simulator (the dependency rule), so the composition root
builds the truth and hands it to ``analysis.pipeline.analyze`` as its ``truth_model``.

For a fit group (one agonist barrel, with what else ejected throughout), at an ejecting
current I the drug leaves the barrel at n·(I + leak)/(zF) (``mock_daq.pump``: a retaining
current stops release; an ejection adds the barrel's leak) and reaches the neuron at the
diffusion steady state C = q·C₁(r) (``mock_daq.diffusion.steady_state``, point source with
uptake, r = the neuron's distance); the receptors turn the concentrations into the drive λ
(``mock_daq.pharmacology.Receptors``, concurrent competitive antagonists at their own
steady-state concentrations), and the expected observed rate is λ/(1 + λ·t_ref).  The %
change from the zero-dose rate (antagonists already on) is the true curve; its EC50 is the
current at which it is half way to its plateau, with depolarisation block left out (the
4PL does not model block).  It is a little below the current whose steady-state
concentration equals the receptor's EC50 (``receptor_ec50_dose``; the simulator also stores
that one as ``ec50_nA_steady``), because refractoriness makes the observed rate saturate
earlier than the drive.  Nothing here looks at the analysis' windows or its fit.

Thread: the caller's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize

from analysis.epochs import Epoch
from analysis.truth import CurveTruth
from daq.errors import ConfigError
from mock_daq.diffusion import Medium, fmol_per_s_per_nA, steady_state
from mock_daq.model import DrugModel, SimConfig
from mock_daq.pharmacology import Receptors, observed_rate_hz

CURVE_POINTS = 200


def _sim_config(rec: Any) -> SimConfig | None:
    rig = getattr(rec, "rig", None)
    if not isinstance(rig, dict) or not rig.get("simulation"):
        return None
    try:
        return SimConfig.model_validate(rig["simulation"])
    except ValueError:
        return None


class SteadyState:
    """Steady-state concentrations and expected rates of one simulated neuron."""

    def __init__(self, sim: SimConfig, neuron: int = 0, block: bool = True):
        self.names = list(sim.drugs)
        self.models = [m if block or m.block_uM is None else m.model_copy(update={"block_uM": None})
                       for m in sim.drugs.values()]
        self.neuron = sim.neurons[neuron]
        self.receptors = Receptors(self.names, self.models, (self.neuron,))
        self.uM_per_nA = np.array([
            steady_state(self.neuron.distance_um, Medium(sim.alpha, sim.tortuosity, m.diffusion_cm2_s,
                                                         m.uptake_per_s))
            * fmol_per_s_per_nA(m.transport_number, m.valence) for m in self.models])

    def index(self, drug: str) -> int:
        low = [n.lower() for n in self.names]
        if drug.lower() not in low:
            raise KeyError(drug)
        return low.index(drug.lower())

    def concentration_uM(self, ejecting: dict[int, float]) -> np.ndarray:
        """(n_drugs,) at the neuron for ejecting currents (nA, magnitudes) per drug index."""
        c = np.zeros(len(self.models))
        for d, cur in ejecting.items():
            c[d] = self.uM_per_nA[d] * (cur + self.models[d].leak_nA)
        return c

    def rate_hz(self, conc_uM: np.ndarray) -> np.ndarray:
        """Expected observed rate for concentrations (k, n_drugs)."""
        lam = self.receptors.drive_rate_hz(conc_uM[:, None, :])[:, 0]
        return observed_rate_hz(lam, self.neuron.refractory_ms)


def _background(group: list[Epoch], epochs: list[Epoch]) -> list[Epoch]:
    """The epochs of other barrels ejecting throughout the group's first epoch."""
    first = group[0]
    return [e for e in epochs if e.barrel != first.barrel and e.onset <= first.onset and e.offset >= first.offset]


def curve_truth(ss: SteadyState, agonist: str, background: dict[str, float], doses_nA: np.ndarray,
                dose_scale: float = 1.0, dose_unit: str = "nA") -> CurveTruth:
    """The model's steady-state % change against the agonist's current (``background``: drug →
    current of what ejects throughout) and the current of its half-maximal change.  Doses
    may be reported as charge: ``dose_scale`` nC per nA (the ejection's duration)."""
    a = ss.index(agonist)
    bg = {ss.index(d): cur for d, cur in background.items()}

    def conc(cur_nA: np.ndarray) -> np.ndarray:
        rows = []
        for cur in np.atleast_1d(cur_nA):
            c = ss.concentration_uM(bg)
            c[a] = ss.uM_per_nA[a] * (cur + ss.models[a].leak_nA) if cur > 0 else 0.0
            rows.append(c)
        return np.array(rows)

    base = float(ss.rate_hz(conc(np.array([0.0])))[0])
    if base <= 0:
        raise ConfigError(f"the simulated neuron does not fire at dose 0 of {agonist}: no % change")

    def pct(cur_nA: np.ndarray) -> np.ndarray:
        return 100.0 * (ss.rate_hz(conc(cur_nA)) - base) / base

    sat = conc(np.array([1.0]))
    sat[0, a] = 1e12  # receptor saturated
    plateau = float(100.0 * (ss.rate_hz(sat)[0] - base) / base)
    ec50_uM = float(ss.receptors.ec50_uM(a, ss.concentration_uM(bg)))
    if abs(plateau) < 1e-9:
        ec50_nA = math.nan
    else:
        def half(log_i: float) -> float:
            return float(pct(np.array([math.exp(log_i)]))[0]) - plateau / 2

        lo, hi = math.log(1e-9), math.log(1e9)
        ec50_nA = math.exp(optimize.brentq(half, lo, hi, xtol=1e-12)) if half(lo) * half(hi) < 0 else math.nan
    pos = doses_nA[doses_nA > 0]
    grid = np.geomspace(pos.min() / 10, pos.max() * 10, CURVE_POINTS)
    return CurveTruth(ec50_nA * dose_scale, dose_unit,
                      "the simulator's model: receptor Hill curve at the steady-state concentration of each "
                      "current (diffusion from a point source with uptake), expected rate with refractoriness; "
                      "depolarisation block left out", grid * dose_scale, pct(grid),
                      ec50_uM, float(ss.uM_per_nA[a]),
                      (ec50_uM / float(ss.uM_per_nA[a]) - ss.models[a].leak_nA) * dose_scale)


def model_truths(rec: Any, epochs: list[Epoch], groups: dict[str, list[Epoch]], dose: str) -> dict[str, CurveTruth]:
    """The true curve of each fit group of a simulated recording (none for other recordings,
    for drugs the model does not act with, or for charge doses of unequal durations)."""
    sim = _sim_config(rec)
    if sim is None:
        return {}
    curves = SteadyState(sim, block=False)
    out: dict[str, CurveTruth] = {}
    for key, group in groups.items():
        if not group or group[0].role != "drug":
            continue
        model: DrugModel | None = sim.drug(group[0].drug)
        if model is None or model.effect not in ("excitatory", "inhibitory"):
            continue
        doses = np.array([abs(ep.current_nA) for ep in group if np.isfinite(ep.current_nA)])
        if not len(doses) or not (doses > 0).any():
            continue
        scale, unit = 1.0, "nA"
        if dose == "charge":
            durations = {round(ep.duration_s, 6) for ep in group}
            if len(durations) != 1:
                continue
            scale, unit = durations.pop(), "nC"
        background = {e.drug: abs(e.current_nA) for e in _background(group, epochs) if sim.drug(e.drug) is not None}
        try:
            out[key] = curve_truth(curves, group[0].drug, background, doses, scale, unit)
        except (KeyError, ConfigError, ValueError):
            continue
    return out
