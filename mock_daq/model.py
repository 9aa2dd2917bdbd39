"""The simulation's parameters (the ``simulation:`` section of a rig file), validated.

Sources for defaults are in docs/simulator.md and ../shared/reference/iontophoresis-parameters.md.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daq.errors import ConfigError
from daq.pipette import format_validation_error

FARADAY_C_PER_MOL = 96485.33212


class DrugModel(BaseModel):
    """Release, diffusion and receptor action of one drug (keyed by the barrel's ``drug``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: Literal["excitatory", "inhibitory", "antagonist", "none"] = "none"
    ec50_uM: float = Field(default=50.0, gt=0, description="Hill EC50 at the neuron (µM)")
    hill: float = Field(default=1.0, gt=0, le=10)
    max_effect: float = Field(default=1.0, ge=0, le=1, description="fraction of the full effect")
    antagonizes: str | None = Field(default=None, description="agonist this competitive antagonist shifts")
    ki_uM: float = Field(default=1.0, gt=0, description="antagonist dissociation constant (µM)")
    transport_number: float = Field(default=0.2, gt=0, le=1)
    valence: int = Field(default=1, ge=1, le=3)
    diffusion_cm2_s: float = Field(default=7.6e-6, gt=0)
    uptake_per_s: float = Field(default=1.0, ge=0)
    tau_s: float = Field(default=1.5, gt=0, description="first-order approach to steady state")

    @model_validator(mode="after")
    def _check(self) -> DrugModel:
        if self.effect == "antagonist" and not self.antagonizes:
            raise ValueError("an antagonist needs 'antagonizes: <agonist drug name>'")
        return self


class NeuronModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    baseline_hz: float = Field(default=5.0, ge=0, le=200)
    max_rate_hz: float = Field(default=40.0, gt=0, le=500)
    refractory_ms: float = Field(default=2.0, ge=0, le=20)
    amplitude_uV: float = Field(default=150.0, gt=0, le=2000)
    width_ms: float = Field(default=0.5, gt=0.1, le=2.0)
    distance_um: float = Field(default=40.0, gt=1, le=500)
    electrode: int = Field(default=0, ge=0)


class NoiseModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rms_uV: float = Field(default=10.0, ge=0)
    hum_uV: float = Field(default=5.0, ge=0)
    hum_hz: float = Field(default=50.0, gt=0)
    monitor_noise_nA: float = Field(default=0.05, ge=0)


class SimConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    alpha: float = Field(default=0.2, gt=0, le=1, description="extracellular volume fraction")
    tortuosity: float = Field(default=1.6, ge=1, le=3)
    drugs: dict[str, DrugModel] = Field(default_factory=dict)
    neurons: tuple[NeuronModel, ...] = (NeuronModel(),)
    noise: NoiseModel = NoiseModel()
    truth_rate_hz: float = Field(default=100.0, gt=0, le=10000)

    def drug(self, name: str) -> DrugModel | None:
        for key, model in self.drugs.items():
            if key.lower() == name.lower():
                return model
        return None

    def steady_uM_per_nA(self, drug: DrugModel, distance_um: float) -> float:
        """Steady-state concentration at ``distance_um`` per nA of ejecting current (µM/nA):
        Nicholson's point source with uptake, Q·λ²/(4π·D·α·r)·exp(−r·λ·√(k′/D)), Q = n·I/(zF)."""
        q_mol_s = drug.transport_number * 1e-9 / (drug.valence * FARADAY_C_PER_MOL)
        d_m2_s = drug.diffusion_cm2_s * 1e-4
        r_m = distance_um * 1e-6
        lam = self.tortuosity
        c_mol_m3 = q_mol_s * lam**2 / (4 * math.pi * d_m2_s * self.alpha * r_m)
        c_mol_m3 *= math.exp(-r_m * lam * math.sqrt(drug.uptake_per_s / d_m2_s))
        return c_mol_m3 * 1e3  # mol/m³ = mM → µM


def parse_sim(data: Any, source: str = "simulation") -> SimConfig:
    if data is None:
        return SimConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the simulation section must be a mapping")
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
