"""The simulation's parameters — the ``simulation:`` section of a rig file — validated.

Every default and its source is listed in docs/simulator.md (and the shared reference
sheet ``iontophoresis-parameters.md``).  Errors name the rig, the field path and the value
(``rig.yaml: simulation.drugs.glutamate.ec50_uM: Input should be greater than 0 (got -1)``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daq.errors import ConfigError
from daq.pipette import FileModel, format_validation_error
from daq.rig import RigConfig
from mock_daq.stimulus import StimulusModel, stimulus_problems

FARADAY_C_PER_MOL = 96485.33212



class DrugModel(FileModel):
    """Release, diffusion and receptor action of one drug (matched to a barrel's ``drug``,
    case-insensitively)."""

    # receptor
    effect: Literal["excitatory", "inhibitory", "antagonist", "none"] = "none"
    ec50_uM: float = Field(default=50.0, gt=0, description="Hill EC50 at the neuron (µM)")
    hill: float = Field(default=1.0, gt=0, le=10, description="Hill coefficient")
    max_effect: float = Field(default=1.0, ge=0, le=1, description="fraction of the full effect")
    antagonizes: str | None = Field(default=None, description="agonist this competitive antagonist shifts")
    kb_uM: float = Field(default=1.0, gt=0, description="antagonist equilibrium constant K_B (µM)")
    block_uM: float | None = Field(default=None, gt=0, description="depolarisation block: half-block concentration")
    block_hill: float = Field(default=4.0, gt=0, le=20)
    # release from the barrel
    transport_number: float = Field(default=0.2, gt=0, le=1)
    valence: int = Field(default=1, ge=1, le=3)
    leak_nA: float = Field(default=0.8, ge=0, le=10, description="spontaneous efflux with retain off (nA equivalent)")
    onset_tau_s: float = Field(default=0.5, ge=0, le=60, description="release onset time constant, no retention")
    onset_tau_s_per_nC: float = Field(default=1e-3, ge=0, le=1, description="onset slowing per nC of retaining charge")
    max_retention_nC: float = Field(default=5000.0, ge=0, description="retaining charge beyond this adds no delay")
    retention_recovery_s: float = Field(default=60.0, gt=0, description="tip refills with retain off")
    # diffusion
    diffusion_cm2_s: float = Field(default=7.6e-6, gt=0, le=1e-4, description="free diffusion coefficient D")
    uptake_per_s: float = Field(default=1.0, ge=0, le=100, description="first-order uptake k'")

    @model_validator(mode="after")
    def _check(self) -> DrugModel:
        if self.effect == "antagonist" and not self.antagonizes:
            raise ValueError("an antagonist needs 'antagonizes: <agonist drug name>'")
        if self.effect != "antagonist" and self.antagonizes:
            raise ValueError("'antagonizes' is only for effect: antagonist")
        if self.block_uM is not None and self.effect != "excitatory":
            raise ValueError("depolarisation block (block_uM) applies to excitatory drugs only")
        return self


class BarrelPhysics(FileModel):
    """Electrical properties of one barrel (``simulation.barrels.<barrel name>``)."""

    resistance_MOhm: float = Field(gt=0, le=100_000, description="barrel resistance")
    source_gain_nA_per_V: float | None = Field(
        default=None, description="the current source's real command gain, when it differs from the rig file's "
        "command_gain_nA_per_V (a range switch set differently): what the monitor watchdog and 'ionto rig check' "
        "must catch; None = as the rig file says")

    @model_validator(mode="after")
    def _check_gain(self) -> BarrelPhysics:
        g = self.source_gain_nA_per_V
        if g is not None and not (math.isfinite(g) and g != 0):
            raise ValueError(f"source_gain_nA_per_V must be a finite, non-zero number, got {g}")
        return self


DEFAULT_RESISTANCE_MOHM = {"drug": 50.0, "control": 30.0, "balance": 20.0}


class NeuronModel(FileModel):
    """One neuron seen by the electrode."""

    name: str = ""
    baseline_hz: float = Field(default=5.0, ge=0, le=200)
    max_rate_hz: float = Field(default=40.0, gt=0, le=500, description="rate at full excitation")
    refractory_ms: float = Field(default=2.0, ge=0, le=20, description="absolute refractory period")
    regularity: float = Field(default=1.0, ge=1, le=100, description="gamma order of the ISI: 1 = Poisson")
    amplitude_uV: float = Field(default=150.0, gt=0, le=2000, description="trough amplitude at the electrode")
    amplitude_cv: float = Field(default=0.05, ge=0, le=0.5, description="spike-to-spike amplitude variation")
    width_ms: float = Field(default=0.5, ge=0.2, le=2.0, description="trough-to-peak width")
    distance_um: float = Field(default=40.0, ge=5, le=500, description="pipette tip to neuron")
    electrode: int = Field(default=0, ge=0, description="index of the electrode that records it")

    @model_validator(mode="after")
    def _check(self) -> NeuronModel:
        if self.max_rate_hz < self.baseline_hz:
            raise ValueError(f"max_rate_hz {self.max_rate_hz} is below baseline_hz {self.baseline_hz}")
        if self.refractory_ms * 1e-3 * self.max_rate_hz >= 1:
            raise ValueError(f"max_rate_hz {self.max_rate_hz} cannot be reached with a {self.refractory_ms} ms "
                             "refractory period")
        return self


class NoiseModel(FileModel):
    """Electrode noise, mains hum, the current artefact and the monitors' noise."""

    thermal_uV_rms: float = Field(default=10.0, ge=0, le=10_000, description="white (thermal) noise")
    flicker_uV_rms: float = Field(default=5.0, ge=0, le=10_000, description="1/f component, rms in its band")
    flicker_low_hz: float = Field(default=0.1, gt=0)
    flicker_high_hz: float = Field(default=100.0, gt=0)
    hum_hz: float = Field(default=50.0, gt=0, le=1000, description="mains frequency (50 or 60 Hz)")
    hum_uV: float = Field(default=5.0, ge=0, description="amplitude of the mains fundamental")
    hum_harmonics: tuple[float, ...] = Field(default=(0.0, 0.3), description="relative amplitudes of 2nd, 3rd, …")
    artefact_uV_per_nA: float = Field(default=50.0, ge=0, description="electrode voltage per nA of net tip current")
    monitor_noise_nA: float = Field(default=0.05, ge=0)

    @model_validator(mode="after")
    def _check(self) -> NoiseModel:
        if self.flicker_high_hz <= self.flicker_low_hz:
            raise ValueError("flicker_high_hz must be above flicker_low_hz")
        return self


class MarkerModel(FileModel):
    """The digital marker line (a rig ``marker`` channel): high while a barrel ejects."""

    barrels: tuple[str, ...] | None = Field(default=None, description="barrels that raise it; None = every drug barrel")
    high_V: float = Field(default=5.0, gt=0, le=10)
    threshold_nA: float = Field(default=0.5, gt=0)


class _FaultBase(BaseModel):
    # not a FileModel: its number check (a before-validator on every field) cannot sit on the
    # ``kind`` discriminator; non-finite numbers are still refused
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    at_s: float = Field(ge=0, description="when the fault happens (s from the start of acquisition)")


class OverflowFault(_FaultBase):
    """The AI buffer overflows: ``lost_s`` of samples are lost (NI error -200279)."""

    kind: Literal["overflow"]
    lost_s: float = Field(default=0.1, gt=0, le=5)
    report: Literal["jump", "error"] = Field(
        default="jump", description="jump: the next block starts later; error: that read raises InputOverflowError")


class DisconnectFault(_FaultBase):
    """The device goes away (NI error -201003): reads and writes fail from then on."""

    kind: Literal["disconnect"]


class ClogFault(_FaultBase):
    """A barrel clogs: its resistance jumps, so currents beyond compliance/R are clipped."""

    kind: Literal["clog"]
    barrel: str
    resistance_MOhm: float = Field(default=1000.0, gt=0, le=100_000)
    duration_s: float | None = Field(default=None, gt=0, description="None = until the end")


class OpenFault(_FaultBase):
    """A barrel carries no current: a broken lead, an empty or cracked barrel, an air bubble at
    the tip.  Its monitor reads 0 whatever is commanded (wiring: from the start by default)."""

    kind: Literal["open"]
    at_s: float = Field(default=0.0, ge=0)
    barrel: str


class SwapFault(_FaultBase):
    """Two barrels' command lines are swapped (AO wiring): each barrel's command drives the other
    barrel's current source, and each monitor shows what its own barrel delivers."""

    kind: Literal["swap"]
    at_s: float = Field(default=0.0, ge=0)
    barrels: tuple[str, str]

    @model_validator(mode="after")
    def _two_barrels(self) -> SwapFault:
        if self.barrels[0] == self.barrels[1]:
            raise ValueError(f"a swap needs two different barrels, got {list(self.barrels)}")
        return self


class NoiseBurstFault(_FaultBase):
    """Broadband noise on the electrode(s) (movement, EMG, a loose ground)."""

    kind: Literal["noise_burst"]
    duration_s: float = Field(default=1.0, gt=0)
    rms_uV: float = Field(default=500.0, gt=0)
    electrode: int | None = Field(default=None, ge=0, description="None = every electrode")


class NeuronLostFault(_FaultBase):
    """The neuron is lost (electrode drift, injury): its rate drops to 0."""

    kind: Literal["neuron_lost"]
    neuron: int = Field(default=0, ge=0)


AnyFault = OverflowFault | DisconnectFault | ClogFault | OpenFault | SwapFault | NoiseBurstFault | NeuronLostFault
Fault = Annotated[AnyFault, Field(discriminator="kind")]
FAULT_KINDS = ("overflow", "disconnect", "clog", "open", "swap", "noise_burst", "neuron_lost")


class SimConfig(FileModel):
    """The ``simulation:`` section of a rig file."""

    seed: int = 0
    time_step_ms: float = Field(default=10.0, ge=1, le=50, description="model step: release, diffusion, rates, truth")
    alpha: float = Field(default=0.2, gt=0, le=1, description="extracellular volume fraction")
    tortuosity: float = Field(default=1.6, ge=1, le=3)
    compliance_V: float = Field(default=100.0, gt=0, le=1000, description="current sources' compliance (±V)")
    initial_retention_s: float = Field(default=120.0, ge=0, description="retained for this long before start")
    barrels: dict[str, BarrelPhysics] = Field(default_factory=dict)
    drugs: dict[str, DrugModel] = Field(default_factory=dict)
    neurons: tuple[NeuronModel, ...] = Field(default=(NeuronModel(),), min_length=1)
    noise: NoiseModel = NoiseModel()
    marker: MarkerModel = MarkerModel()
    faults: tuple[Fault, ...] = ()
    stimulus: StimulusModel | None = None  # a simulated stimulus and the drug's gain (mock_daq/stimulus.py)

    def drug(self, name: str) -> DrugModel | None:
        """The model of a drug by (case-insensitive) name, or None."""
        for key, model in self.drugs.items():
            if key.lower() == name.lower():
                return model
        return None

    def resistance_MOhm(self, barrel: str, role: str) -> float:
        phys = self.barrels.get(barrel)
        return phys.resistance_MOhm if phys is not None else DEFAULT_RESISTANCE_MOHM[role]


def parse_fault(data: Any, source: str = "fault") -> AnyFault:
    """One fault from a mapping (or an already-built fault model)."""
    if isinstance(data, AnyFault):
        return data
    if not isinstance(data, dict) or data.get("kind") not in FAULT_KINDS:
        raise ConfigError(f"{source}: a fault is a mapping with kind one of {list(FAULT_KINDS)} and at_s")
    try:
        return SimConfig.model_validate({"faults": [data]}).faults[0]
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def parse_sim(data: Any, source: str = "simulation", rig: RigConfig | None = None) -> SimConfig:
    """Validate a ``simulation:`` mapping (and, given the rig, every name it refers to)."""
    if data is None:
        sim = SimConfig()
    elif isinstance(data, SimConfig):
        sim = data
    elif not isinstance(data, dict):
        raise ConfigError(f"{source}: the simulation section must be a mapping")
    else:
        try:
            sim = SimConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from None
    if rig is not None:
        problems = check_against_rig(sim, rig)
        if problems:
            raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return sim


def check_against_rig(sim: SimConfig, rig: RigConfig, faults: tuple[Any, ...] | None = None) -> list[str]:
    """Names in the simulation that the rig does not have, and faults the rig cannot show."""
    barrels = list(rig.pipette.names)
    n_el = len(rig.electrodes)
    out: list[str] = []
    for name in sim.barrels:
        if name not in barrels:
            out.append(f"barrels.{name}: no barrel {name!r} on the pipette; barrels are {barrels}")
    for name in sim.marker.barrels or ():
        if name not in barrels:
            out.append(f"marker.barrels: no barrel {name!r}; barrels are {barrels}")
    drug_names = [d.lower() for d in sim.drugs]
    for name, d in sim.drugs.items():
        if d.antagonizes and d.antagonizes.lower() not in drug_names:
            out.append(f"drugs.{name}.antagonizes: no drug {d.antagonizes!r} in drugs; drugs are {list(sim.drugs)}")
    for k, nm in enumerate(sim.neurons):
        if nm.electrode >= n_el:
            out.append(f"neurons.{k}.electrode: {nm.electrode} but the rig has {n_el} electrode(s) (0..{n_el - 1})")
    out.extend(stimulus_problems(sim.stimulus, list(sim.drugs), [b.drug for b in rig.pipette.barrels if b.role == "drug"],
                                 len(sim.neurons)))
    lead_s = rig.ao_lead_s - rig.block_s
    for k, f in enumerate(sim.faults if faults is None else faults):
        where = f"faults.{k}"
        if isinstance(f, ClogFault | OpenFault) and f.barrel not in barrels:
            out.append(f"{where}.barrel: no barrel {f.barrel!r}; barrels are {barrels}")
        if isinstance(f, SwapFault):
            out.extend(f"{where}.barrels: no barrel {b!r}; barrels are {barrels}" for b in f.barrels if b not in barrels)
        if isinstance(f, NoiseBurstFault) and f.electrode is not None and f.electrode >= n_el:
            out.append(f"{where}.electrode: {f.electrode} but the rig has {n_el} electrode(s)")
        if isinstance(f, NeuronLostFault) and f.neuron >= len(sim.neurons):
            out.append(f"{where}.neuron: {f.neuron} but the simulation has {len(sim.neurons)} neuron(s)")
        if isinstance(f, OverflowFault) and f.lost_s >= lead_s:
            out.append(f"{where}.lost_s: {f.lost_s} s of lost samples would outrun the AO written ahead "
                       f"(ao_lead_s - block_s = {lead_s:g} s); use less")
    return out
