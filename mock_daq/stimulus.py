"""The other side of a drug × stimulus experiment: a simulated visual stimulus.

Like the task computer of a real rig (``mode: task``), the generator runs trials on its own
clock — the sample clock — whatever ionto does with the barrels: every ``stimulus_s +
iti_s`` from ``first_trial_s`` on, it shows one of ``values`` (orientations in degrees, or
contrasts 0–1), a shuffled permutation of them per repetition (seeded).  In ``mode:
driven`` it shows what a protocol asks instead (``show``, from ``SimDevice.show_stimulus``:
``daq.device.StimulusOutput``).  Either way it reports each trial's onset and offset as
``trial_start`` / ``trial_stop`` events at their exact sample, with the condition code (the
value's position + 1, as a strobe word would carry it) and the value.

The stimulus drives every neuron (or those listed) through a tuning curve, from
``latency_ms`` after the onset until ``latency_ms`` after the offset:

* orientation, a von Mises function of period 180° (Swindale 1998, *Biol. Cybern.* 78:45)::

      r(θ) = offset_hz + amplitude_hz · exp(κ · (cos 2(θ − preferred_deg) − 1))

* contrast, the Naka–Rushton function (Albrecht & Hamilton 1982, *J. Neurophysiol.* 48:217)::

      r(c) = rmax_hz · cⁿ / (cⁿ + c50ⁿ)

The drug named in ``modulation`` acts on the neuron's whole rate (spontaneous + evoked) as
a gain g and an offset a — the ground truth of the gain analysis — weighted by the fraction
f = cʰ / (cʰ + EC50ʰ) of its concentration c at the neuron::

      λ' = max(0, (λ + r) · (1 + (g − 1)·f) + a·f)

so with the drug at saturation a trial's rate is g · (its control rate) + a, as in the
multiplicative vs additive gain studies of ACh and dopamine in macaque V1 (Disney et al.
2007, *Neuron* 56:701; Thiele et al. 2012, *J. Neurosci.* 32:16602).  Give the drug
``effect: none`` in ``drugs`` so that only this modulation acts.

Thread: whichever thread owns the simulation.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from daq.errors import ConfigError
from daq.pipette import FileModel
from daq.trials import StimulusRequest, parse_fields
from daq.types import EventKind, LogEvent

VALUE_NAMES = {"orientation": "orientation_deg", "contrast": "contrast"}


class ModulationModel(FileModel):
    """How a drug changes the neuron's rate: the ground truth of the gain analysis."""

    drug: str = Field(min_length=1, description="a simulated drug on a barrel (give it effect: none)")
    gain: float = Field(default=1.0, ge=0, le=10, description="multiplicative gain g at full effect")
    offset_hz: float = Field(default=0.0, ge=-200, le=200, description="additive offset a at full effect (Hz)")
    ec50_uM: float = Field(default=20.0, gt=0, description="concentration at the neuron for half the effect")
    hill: float = Field(default=2.0, gt=0, le=10)


class StimulusModel(FileModel):
    """The ``simulation.stimulus`` section of a rig file."""

    kind: Literal["orientation", "contrast"] = "orientation"
    mode: Literal["task", "driven"] = Field(default="task", description="task: runs its own trials; driven: shows "
                                                                         "what a protocol asks (show_stimulus)")
    values: tuple[float, ...] = Field(default=(0.0, 22.5, 45.0, 67.5, 90.0, 112.5, 135.0, 157.5), min_length=1,
                                      max_length=64, description="orientations (deg) or contrasts (0-1) shown")
    # von Mises (orientation)
    preferred_deg: float = Field(default=90.0, ge=-360, le=360)
    kappa: float = Field(default=2.0, gt=0, le=50, description="tuning sharpness")
    amplitude_hz: float = Field(default=30.0, ge=0, le=500)
    offset_hz: float = Field(default=2.0, ge=0, le=500, description="untuned drive of any orientation")
    # Naka–Rushton (contrast)
    rmax_hz: float = Field(default=40.0, ge=0, le=500)
    c50: float = Field(default=0.2, gt=0, le=1)
    exponent: float = Field(default=2.0, gt=0, le=10)
    # trial timing (task mode)
    first_trial_s: float = Field(default=2.0, ge=0, le=86400)
    stimulus_s: float = Field(default=0.5, ge=0.05, le=600)
    iti_s: float = Field(default=0.5, ge=0.05, le=600)
    latency_ms: float = Field(default=40.0, ge=0, le=500)
    order: Literal["shuffled", "sequential"] = "shuffled"
    n_trials: int | None = Field(default=None, ge=1, description="None: until acquisition ends")
    neurons: tuple[int, ...] | None = Field(default=None, description="driven neurons; None = all")
    modulation: ModulationModel | None = None

    @model_validator(mode="after")
    def _check(self) -> StimulusModel:
        if self.kind == "contrast" and any(not 0 <= v <= 1 for v in self.values):
            raise ValueError(f"contrast values must lie in 0..1, got {list(self.values)}")
        return self

    def response_hz(self, value: float) -> float:
        """The stimulus-evoked drive for one value (Hz), before the drug."""
        if self.kind == "orientation":
            d = math.radians(2.0 * (value - self.preferred_deg))
            return self.offset_hz + self.amplitude_hz * math.exp(self.kappa * (math.cos(d) - 1.0))
        c = max(value, 0.0)
        cn = c**self.exponent
        return self.rmax_hz * cn / (cn + self.c50**self.exponent) if cn > 0 else 0.0


@dataclass(frozen=True)
class _Shown:
    start: int
    stop: int
    rate_hz: float  # the stimulus drive while it shows
    request: StimulusRequest


class StimulusGenerator:
    """Runs the trials of a ``StimulusModel`` on the sample clock of a simulation: its own
    (``mode: task``) or those a protocol asks for (``mode: driven``, ``show``)."""

    def __init__(self, model: StimulusModel, rate_hz: float, seed: int, n_neurons: int, drug_index: int | None):
        self.model = model
        self.fs = rate_hz
        self.first = round(model.first_trial_s * rate_hz)
        self.on = round(model.stimulus_s * rate_hz)
        self.period = self.on + round(model.iti_s * rate_hz)
        self.latency = round(model.latency_ms * 1e-3 * rate_hz)
        self.rates = np.array([model.response_hz(v) for v in model.values])
        self.drug = drug_index
        driven = range(n_neurons) if model.neurons is None else model.neurons
        self.driven = np.zeros(n_neurons, dtype=bool)
        self.driven[list(driven)] = True
        self._rng = np.random.default_rng([seed, 7101])
        self._order: list[int] = []  # condition of task trial k (grown a repetition at a time)
        self._trials: list[_Shown] = []  # by start sample
        self._task_next = 0  # the next task trial to add to _trials
        self._events: list[LogEvent] = []  # trial events not yet given, by sample
        self._truth: list[np.ndarray] = []  # per opened model step: drive (Hz) and drug fraction per neuron

    def condition(self, k: int) -> int:
        """Index into ``values`` shown in task trial ``k``."""
        n = len(self.model.values)
        while len(self._order) <= k:
            rep = self._rng.permutation(n) if self.model.order == "shuffled" else np.arange(n)
            self._order.extend(int(i) for i in rep)
        return self._order[k]

    def _add(self, trial: _Shown) -> None:
        bisect.insort(self._trials, trial, key=lambda t: t.start)
        start, stop = trial.request.start_event(), trial.request.stop_event()
        bisect.insort(self._events, start, key=lambda e: e.sample_index)
        bisect.insort(self._events, stop, key=lambda e: e.sample_index)

    def _fill(self, until: int) -> None:
        """Task mode: add the task's trials that start before ``until``."""
        if self.model.mode != "task":
            return
        name = VALUE_NAMES[self.model.kind]
        limit = math.inf if self.model.n_trials is None else self.model.n_trials
        while self._task_next < limit:
            k = self._task_next
            a = self.first + k * self.period
            if a >= until:
                break
            c = self.condition(k)
            req = StimulusRequest(k, a, a + self.on, c + 1, ((name, float(self.model.values[c])),))
            self._add(_Shown(a, a + self.on, float(self.rates[c]), req))
            self._task_next += 1

    def show(self, request: StimulusRequest) -> None:
        """Driven mode: show a trial a protocol asked for (its value by name, else by code)."""
        if self.model.mode != "driven":
            raise ConfigError("the simulated stimulus runs its own task (simulation.stimulus.mode: task); "
                              "set mode: driven for a protocol to choose what it shows")
        name = VALUE_NAMES[self.model.kind]
        values = dict(request.values)
        if name in values:
            value = float(values[name])
        elif 1 <= request.code <= len(self.model.values):
            value = float(self.model.values[request.code - 1])
            request = StimulusRequest(request.trial, request.start_index, request.stop_index, request.code,
                                      (*request.values, (name, value)))
        else:
            raise ConfigError(f"stimulus request {request.trial}: no {name} given and code {request.code} is not "
                              f"one of 1..{len(self.model.values)}")
        if request.stop_index <= request.start_index:
            raise ConfigError(f"stimulus request {request.trial}: it must last at least one sample")
        self._add(_Shown(request.start_index, request.stop_index, self.model.response_hz(value), request))

    def drive_hz(self, a: int, b: int) -> float:
        """Mean stimulus drive over samples [a, b): each trial's response window (its
        stimulus delayed by the latency) weighted by its overlap with [a, b)."""
        self._fill(b)
        total = 0.0
        for t in self._trials:  # few: the shown ones are dropped as the model steps pass them
            s, z = t.start + self.latency, t.stop + self.latency
            if s >= b:
                break
            overlap = min(b, z) - max(a, s)
            if overlap > 0:
                total += t.rate_hz * overlap
        while self._trials and self._trials[0].stop + self.latency <= a:
            self._trials.pop(0)
        return total / (b - a)

    def apply(self, starts: np.ndarray, step: int, lam: np.ndarray, conc_uM: np.ndarray) -> np.ndarray:
        """Drive rates λ (n_steps, n_neurons) with the stimulus and the drug's modulation,
        for model steps starting at ``starts`` (samples) of ``step`` samples each."""
        drive = np.array([self.drive_hz(int(a), int(a) + step) for a in starts])
        out = lam + drive[:, None] * self.driven[None, :]
        m = self.model.modulation
        frac = np.zeros_like(lam)
        if m is not None and self.drug is not None:
            c = np.maximum(conc_uM[:, :, self.drug], 0.0) ** m.hill
            frac = c / (c + m.ec50_uM**m.hill)
            out = out * (1.0 + (m.gain - 1.0) * frac) + m.offset_hz * frac
        self._truth.append(np.column_stack([drive, frac]))
        return np.maximum(out, 0.0)

    def take_truth(self, k: int) -> dict[str, np.ndarray]:
        """Ground-truth rows of the next ``k`` model steps: ``stimulus_drive_hz`` (k,) and
        ``drug_fraction`` (k, n_neurons), the fraction f of the drug's full effect."""
        rows = np.concatenate(self._truth) if len(self._truth) > 1 else self._truth[0]
        self._truth = [rows[k:]] if rows.shape[0] > k else []
        return {"stimulus_drive_hz": rows[:k, 0].astype(np.float32), "drug_fraction": rows[:k, 1:].astype(np.float32)}

    def events_before(self, stop: int) -> list[LogEvent]:
        """The trial events with sample index below ``stop`` not yet given, in sample order."""
        self._fill(stop)
        k = bisect.bisect_left(self._events, stop, key=lambda e: e.sample_index)
        out, self._events = self._events[:k], self._events[k:]
        return out

    def metadata(self) -> dict:
        """The stimulus and the drug's ground-truth gain, for the recording's /ground_truth."""
        m = self.model.modulation
        return {
            "kind": self.model.kind,
            "value_name": VALUE_NAMES[self.model.kind],
            "values": list(self.model.values),
            "codes": list(range(1, len(self.model.values) + 1)),
            "expected_drive_hz": self.rates.tolist(),
            "latency_s": self.latency / self.fs,
            "stimulus_s": self.on / self.fs,
            "period_s": self.period / self.fs,
            "mode": self.model.mode,
            "gain": 1.0 if m is None else m.gain,
            "offset_hz": 0.0 if m is None else m.offset_hz,
            "modulating_drug": None if m is None else m.drug,
        }


def stimulus_problems(stim: StimulusModel | None, drugs: list[str], barrel_drugs: list[str],
                      n_neurons: int) -> list[str]:
    """Names in ``simulation.stimulus`` that the simulation does not have."""
    if stim is None:
        return []
    out = []
    for k in stim.neurons or ():
        if not 0 <= k < n_neurons:
            out.append(f"stimulus.neurons: {k} but the simulation has {n_neurons} neuron(s) (0..{n_neurons - 1})")
    m = stim.modulation
    if m is not None:
        if m.drug.lower() not in [d.lower() for d in drugs]:
            out.append(f"stimulus.modulation.drug: no drug {m.drug!r} in drugs; drugs are {drugs}")
        elif m.drug.lower() not in [d.lower() for d in barrel_drugs]:
            out.append(f"stimulus.modulation.drug: no drug barrel holds {m.drug!r}; "
                       f"drug barrels hold {barrel_drugs}")
    return out


class TrialLines:
    """The task computer's digital outputs wired to the board's port 0 (rig ``trial_input``):
    from a trial's ``trial_start`` sample its condition code is on the code lines (bit 0 first)
    with a strobe pulse of ``strobe_samples`` on the strobe line, and the trial line is high
    until its ``trial_stop`` sample — the lines ``daq.trials.DigitalTrialDecoder`` reads back.
    ``words`` renders the port words of consecutive sample ranges (state carries over)."""

    def __init__(self, trial_line: int, code_lines: tuple[int, ...] = (), strobe_line: int | None = None,
                 strobe_samples: int = 20):
        self.trial_bit = 1 << trial_line
        self.code_lines = code_lines
        self.strobe_bit = 0 if strobe_line is None else 1 << strobe_line
        self.code_mask = sum(1 << line for line in code_lines)
        self.strobe_samples = max(1, strobe_samples)
        self._word = 0
        self._pending: list[tuple[int, int, int]] = []  # (sample, clear mask, set mask) not yet reached

    def _code_bits(self, code: int) -> int:
        return sum(((code >> i) & 1) << line for i, line in enumerate(self.code_lines))

    def words(self, start: int, n: int, events: Sequence[LogEvent]) -> np.ndarray:
        """Port words of samples ``start .. start+n-1``; ``events``: trial events not given before."""
        for ev in events:
            code = int(parse_fields(ev.text).get("code", 0))
            if ev.kind == EventKind.TRIAL_START:
                self._pending.append((ev.sample_index, self.code_mask,
                                      self._code_bits(code) | self.trial_bit | self.strobe_bit))
                if self.strobe_bit:
                    self._pending.append((ev.sample_index + self.strobe_samples, self.strobe_bit, 0))
            elif ev.kind == EventKind.TRIAL_STOP:
                self._pending.append((ev.sample_index, self.trial_bit, 0))
        self._pending.sort(key=lambda c: c[0])
        out = np.empty(n, dtype=np.uint32)
        pos = 0
        while self._pending and self._pending[0][0] < start + n:
            at, clear, put = self._pending.pop(0)
            j = max(pos, at - start)
            out[pos:j] = self._word
            pos = j
            self._word = (self._word & ~clear) | put
        out[pos:] = self._word
        return out
