"""The multi-barrel pipette: barrels, their currents, limits, and nA <-> volts.

Sign convention: currents are signed nA as delivered into the barrel (positive = cations
leave the tip).  A drug barrel's *polarity* is the sign of its ejecting current (+1 for
cations such as GABA, -1 for anions such as glutamate); its retaining current has the
opposite sign.  Control barrels (NaCl current controls) have polarity 0 and may be driven
either way.  The balance barrel carries ``-sum(other barrel currents)``.

Limits (all checked by :meth:`Pipette.check`, vectorised over sample arrays):

* drug barrel, current in its eject direction: ``|I| <= max_eject_nA``;
* drug barrel, current in its retain direction: ``|I| <= max_retain_nA``;
* control barrel: ``|I| <= max_eject_nA``;
* the balance current: ``|sum| <= max_total_nA`` (and the balance barrel's own ``max_eject_nA``);
* every barrel: ``|I / command_gain_nA_per_V| <= ao_range_V``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from daq.current_sources import get_source
from daq.errors import ConfigError, CurrentLimitError

_EPS_nA = 1e-6

MAX_COMMAND_GAIN_nA_per_V = 1e5
"""Above this a command gain is a typo: 1 nA would be 10 µV, below any AO's resolution."""
MONITOR_GAIN_RANGE_V_per_nA = (1e-6, 1e3)
"""A current monitor gain outside this range is a typo (typical: 0.01–0.1 V/nA)."""
MAX_RAMP_S = 10.0
"""With a slew limit, every barrel must be able to ramp across its whole range within this."""

_POLARITY_WORDS = {
    "+": 1, "+1": 1, "positive": 1, "cation": 1, "cationic": 1,
    "-": -1, "-1": -1, "negative": -1, "anion": -1, "anionic": -1,
    "0": 0, "either": 0, "none": 0, "both": 0,
}


def _parse_polarity(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("polarity must be +1, -1 or 0 (or 'cation', 'anion', 'either')")
    if isinstance(value, int | float) and value in (1, -1, 0):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _POLARITY_WORDS:
        return _POLARITY_WORDS[value.strip().lower()]
    raise ValueError(f"polarity {value!r} is not one of +1, -1, 0, '+', '-', 'cation', 'anion', 'either'")


Polarity = Annotated[int, BeforeValidator(_parse_polarity)]


# --- numbers in hand-written files ------------------------------------------------------------
def _number_kind(tp: Any) -> str | None:
    """"number" when a field of type ``tp`` holds a number (float, int or a Literal of numbers),
    "numbers" for a list or tuple of them, else None."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _number_kind(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        kinds = {_number_kind(a) for a in get_args(tp) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if tp is float or tp is int:
        return "number"
    if origin is Literal:
        args = get_args(tp)
        return "number" if args and all(type(a) in (int, float) for a in args) else None
    if origin in (list, tuple, Sequence):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return "numbers" if args and all(_number_kind(a) == "number" for a in args) else None
    return None


@functools.cache
def _field_number_kind(model: type[BaseModel], name: str) -> str | None:
    info = model.model_fields.get(name)
    if info is None or any(isinstance(m, BeforeValidator | PlainValidator | WrapValidator) for m in info.metadata):
        return None  # a field with its own parser (e.g. polarity words)
    return _number_kind(info.annotation)


def _not_a_number(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "text"
    return None


def check_number(value: Any, kind: str | None) -> Any:
    """``value`` unchanged, or ``PydanticCustomError`` when a number (``kind`` "number") or a
    list of numbers ("numbers") is given as true/false or as text ('50' in quotes)."""
    if kind == "number":
        what = _not_a_number(value)
        if what:
            raise PydanticCustomError("number_type", f"Input should be a valid number, not {what}")
    elif kind == "numbers" and isinstance(value, list | tuple):
        for i, item in enumerate(value):
            what = _not_a_number(item)
            if what:
                text = repr(item).replace("{", "{{").replace("}", "}}")
                raise PydanticCustomError("number_type", f"Input should be a list of numbers; item {i} is {what} "
                                                         f"({text})")
    return value


class FileModel(BaseModel):
    """A model of a hand-written file (rig, protocol): frozen, no unknown fields, and every
    number a finite number — not .nan or .inf, not true/false, not text such as '50'."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return check_number(value, _field_number_kind(cls, info.field_name or ""))


class Barrel(FileModel):
    """One barrel of the pipette and the current source that drives it."""

    name: str = Field(min_length=1, description="identifier used in protocols, e.g. 'glu'")
    drug: str = Field(min_length=1, description="drug or solution, e.g. 'glutamate', 'NaCl'")
    role: Literal["drug", "control", "balance"] = "drug"
    concentration_mM: float = Field(default=0.0, ge=0)
    polarity: Polarity = Field(default=0, description="+1 cation, -1 anion, 0 either (NaCl)")
    retain_nA: float = Field(default=0.0, ge=0, description="retaining current magnitude")
    max_eject_nA: float = Field(default=200.0, gt=0)
    max_retain_nA: float = Field(default=50.0, ge=0)
    command_gain_nA_per_V: float = Field(default=100.0, description="current source gain")
    monitor_gain_V_per_nA: float | None = Field(default=None, description="current monitor gain")
    ao_channel: str = Field(default="", description="physical AO channel, e.g. Dev1/ao0")
    monitor_channel: str | None = Field(default=None, description="physical AI channel of the monitor")
    voltage_monitor_channel: str | None = Field(
        default=None, description="physical AI channel of the source's barrel-voltage output, where it has one "
        "(ionto rig check then estimates the barrel's resistance)")
    voltage_monitor_gain_V_per_V: float | None = Field(
        default=None, description="volts at the board per volt across the barrel (e.g. 0.1 for a x0.1 output)")
    ao_range_V: float = Field(default=10.0, gt=0)
    safe_state: Literal["retain", "zero"] = "retain"
    source: str | None = Field(default=None, description="current source preset (daq/current_sources.yaml), e.g. "
                               "'npi-mvcs': gains not given here come from it")

    @model_validator(mode="before")
    @classmethod
    def _from_source(cls, data: Any) -> Any:
        """A ``source:`` preset fills in the gains the file leaves out (the file's own win)."""
        if not isinstance(data, dict) or data.get("source") is None:
            return data
        if not isinstance(data["source"], str):
            raise ValueError(f"source must be the name of a current source preset, got {data['source']!r}")
        try:
            src = get_source(data["source"])
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        filled = {**src.barrel_defaults(), **data, "source": src.key}
        if "command_gain_nA_per_V" not in filled and filled.get("ao_channel"):  # (no AO: balanced by the source)
            raise ValueError(f"source {src.key!r} ({src.name}): ionto does not know its command gain "
                             f"— {src.basis['command_gain_nA_per_V']}: give command_gain_nA_per_V")
        if filled.get("monitor_channel") and filled.get("monitor_gain_V_per_nA") is None:
            raise ValueError(f"source {src.key!r} ({src.name}): ionto does not know its monitor gain "
                             f"— {src.basis['monitor_gain_V_per_nA']}: give monitor_gain_V_per_nA "
                             "for the monitor on " + repr(filled["monitor_channel"]))
        return filled

    @model_validator(mode="after")
    def _check(self) -> Barrel:
        if not 0 < abs(self.command_gain_nA_per_V) <= MAX_COMMAND_GAIN_nA_per_V:
            raise ValueError(f"command_gain_nA_per_V {self.command_gain_nA_per_V:g}: give the current source's "
                             f"gain, non-zero and at most {MAX_COMMAND_GAIN_nA_per_V:g} nA/V in size "
                             "(typically 100 nA/V)")
        lo, hi = MONITOR_GAIN_RANGE_V_per_nA
        if self.monitor_gain_V_per_nA is not None and not lo <= abs(self.monitor_gain_V_per_nA) <= hi:
            raise ValueError(f"monitor_gain_V_per_nA {self.monitor_gain_V_per_nA:g}: give the current monitor's "
                             f"gain, {lo:g} to {hi:g} V/nA in size (typically 0.01–0.1 V/nA), or leave it out")
        if (self.voltage_monitor_channel is None) != (self.voltage_monitor_gain_V_per_V is None):
            raise ValueError("give voltage_monitor_channel and voltage_monitor_gain_V_per_V together (the source's "
                             "barrel-voltage output and its scale), or neither")
        if self.voltage_monitor_gain_V_per_V is not None and not 1e-4 <= abs(self.voltage_monitor_gain_V_per_V) <= 10:
            raise ValueError(f"voltage_monitor_gain_V_per_V {self.voltage_monitor_gain_V_per_V:g}: give the barrel-"
                             "voltage output's scale, 1e-4 to 10 V/V in size (e.g. 0.1 for x0.1)")
        if self.role == "drug" and self.polarity == 0:
            raise ValueError(
                "a drug barrel needs a polarity: +1 (cation, e.g. GABA) or -1 (anion, e.g. glutamate)"
            )
        if self.role != "drug" and self.retain_nA:
            raise ValueError(f"a {self.role} barrel has no retaining current (retain_nA must be 0)")
        if self.retain_nA > self.max_retain_nA + _EPS_nA:
            raise ValueError(f"retain_nA {self.retain_nA} exceeds max_retain_nA {self.max_retain_nA}")
        if abs(self.max_eject_nA / self.command_gain_nA_per_V) > self.ao_range_V + 1e-9:
            raise ValueError(
                f"max_eject_nA {self.max_eject_nA} needs "
                f"{self.max_eject_nA / abs(self.command_gain_nA_per_V):.3g} V, beyond ao_range_V {self.ao_range_V}"
            )
        if self.source is not None:
            cap = get_source(self.source).max_current_nA
            largest = max(self.max_eject_nA, self.max_retain_nA if self.role == "drug" else 0.0)
            if cap is not None and largest > cap + _EPS_nA:
                raise ValueError(f"a limit of {largest:g} nA is beyond the {cap:g} nA the source {self.source!r} "
                                 "can deliver; lower max_eject_nA / max_retain_nA")
        return self

    @property
    def retain_current_nA(self) -> float:
        """Signed retaining current (opposite to the polarity), 0 for control/balance barrels."""
        return -self.polarity * self.retain_nA

    @property
    def safe_current_nA(self) -> float:
        """Signed current this barrel goes to on stop, abort, error or exit."""
        return self.retain_current_nA if self.safe_state == "retain" else 0.0

    def retain_at_nA(self, magnitude_nA: float | None = None) -> float:
        """Signed current for "retain": the safe current, or ``magnitude_nA`` applied against the
        drug's polarity (a barrel without a polarity has no retain direction)."""
        if magnitude_nA is None:
            return self.safe_current_nA
        if magnitude_nA < 0:
            raise CurrentLimitError(f"barrel {self.name!r}: give the retaining current as a magnitude (>= 0 nA)")
        if self.polarity == 0:
            raise CurrentLimitError(f"barrel {self.name!r} ({self.drug}) has no drug polarity, so no retain direction")
        return float(-self.polarity * magnitude_nA)

    def eject_current_nA(self, magnitude_nA: float, polarity: int | None = None) -> float:
        """Signed ejecting current for a magnitude.  Control barrels need ``polarity``."""
        if magnitude_nA < 0:
            raise CurrentLimitError(
                f"barrel {self.name!r}: give the ejection current as a magnitude (>= 0 nA), got {magnitude_nA}"
            )
        pol = self.polarity if self.polarity != 0 else polarity
        if pol not in (1, -1):
            raise CurrentLimitError(
                f"barrel {self.name!r} ({self.drug}) has no fixed polarity: give polarity +1 or -1"
            )
        if self.polarity != 0 and polarity not in (None, self.polarity):
            raise CurrentLimitError(
                f"barrel {self.name!r} ({self.drug}) ejects with polarity {self.polarity:+d}, "
                f"not {polarity:+d}"
            )
        return float(pol * magnitude_nA)

    def limit_for(self, current_nA: float) -> float:
        """The magnitude limit that applies to a signed current on this barrel."""
        if self.role == "drug" and current_nA * self.polarity < 0:
            lim = self.max_retain_nA
        else:
            lim = self.max_eject_nA
        return min(lim, self.ao_range_V * abs(self.command_gain_nA_per_V))

    def command_volts(self, current_nA: float | np.ndarray) -> float | np.ndarray:
        """Command voltage for a current (no limit check: use ``Pipette.to_volts`` to write)."""
        return current_nA / self.command_gain_nA_per_V

    def current_from_command(self, volts: float | np.ndarray) -> float | np.ndarray:
        """The current a command voltage asks the current source for (nA)."""
        return volts * self.command_gain_nA_per_V

    def current_from_monitor(self, volts: float | np.ndarray) -> float | np.ndarray:
        """The delivered current a monitor voltage reports (nA); needs ``monitor_gain_V_per_nA``."""
        if self.monitor_gain_V_per_nA is None:
            raise ConfigError(f"barrel {self.name!r} has no current monitor (monitor_gain_V_per_nA is not set)")
        return volts / self.monitor_gain_V_per_nA

    @property
    def max_abs_nA(self) -> float:
        """The largest |current| this barrel may ever carry, in either direction."""
        lim = max(self.max_eject_nA, self.max_retain_nA) if self.role == "drug" else self.max_eject_nA
        return min(lim, self.ao_range_V * abs(self.command_gain_nA_per_V))

    def classify(self, current_nA: float) -> str:
        """'eject', 'retain', 'off' or 'current' (for the event log)."""
        if abs(current_nA) < _EPS_nA:
            return "off"
        if self.role == "drug":
            if current_nA * self.polarity > 0:
                return "eject"
            if abs(current_nA - self.retain_current_nA) < 1e-3:
                return "retain"
            return "current"
        return "eject" if self.role == "control" else "current"


class Pipette(FileModel):
    """A multi-barrel pipette: the barrels in AO order and the total-current limit."""

    barrels: tuple[Barrel, ...] = Field(min_length=1)
    max_total_nA: float = Field(default=500.0, gt=0, description="limit on |balance current|")
    slew_limit_nA_per_ms: float | None = Field(default=None, gt=0)
    name: str = ""
    source: str | None = Field(default=None, description="current source preset of every barrel that names none")

    @model_validator(mode="before")
    @classmethod
    def _source_to_barrels(cls, data: Any) -> Any:
        """``pipette.source`` is the source of every barrel that does not name its own."""
        if not isinstance(data, dict) or data.get("source") is None or not isinstance(data.get("barrels"), list):
            return data
        barrels = [{"source": data["source"], **b} if isinstance(b, dict) else b for b in data["barrels"]]
        return {**data, "barrels": barrels}

    @model_validator(mode="after")
    def _check(self) -> Pipette:
        names = [b.name for b in self.barrels]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"barrel names must be unique; repeated: {dup}")
        if sum(b.role == "balance" for b in self.barrels) > 1:
            raise ValueError("at most one barrel can have role 'balance'")
        aos = [b.ao_channel for b in self.barrels if b.ao_channel]
        dup = sorted({a for a in aos if aos.count(a) > 1})
        if dup:
            raise ValueError(f"AO channels must be unique; repeated: {dup}")
        self._check_slew()
        return self

    def _check_slew(self) -> None:
        """A slew limit so slow that a barrel cannot cross its range within ``MAX_RAMP_S``
        makes every schedule impossible (each ramp would be rendered sample by sample)."""
        slew = self.slew_limit_nA_per_ms
        if slew is None:
            return
        commanded = [b for b in self.barrels if b.role != "balance"]  # the balance follows the others
        if commanded:
            b = max(commanded, key=self.current_span_nA)
            span_nA = self.current_span_nA(b)
            ramp_s = span_nA / slew / 1000.0
            if ramp_s > MAX_RAMP_S:
                raise ValueError(
                    f"slew_limit_nA_per_ms {slew:g} is too slow: barrel {b.name!r} would take {ramp_s:.3g} s to "
                    f"ramp across its {span_nA:g} nA range; ramps must fit in {MAX_RAMP_S:g} s, so give at least "
                    f"{span_nA / MAX_RAMP_S / 1000.0:.3g} nA/ms (or leave it out: no slew limit)"
                )

    @staticmethod
    def current_span_nA(b: Barrel) -> float:
        """From the most negative to the most positive current barrel ``b`` may carry (nA)."""
        ao_lim = b.ao_range_V * abs(b.command_gain_nA_per_V)
        if b.role == "drug":
            return min(b.max_eject_nA, ao_lim) + min(b.max_retain_nA, ao_lim)
        return 2 * b.max_abs_nA

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "pipette") -> Pipette:
        """Validate a mapping (e.g. from a rig YAML); errors name ``source`` and the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from None

    # --- lookups ------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.barrels)

    @property
    def balance(self) -> Barrel | None:
        for b in self.barrels:
            if b.role == "balance":
                return b
        return None

    @property
    def balance_index(self) -> int | None:
        for i, b in enumerate(self.barrels):
            if b.role == "balance":
                return i
        return None

    @property
    def commanded(self) -> tuple[Barrel, ...]:
        """The barrels whose currents are commanded directly (all but the balance)."""
        return tuple(b for b in self.barrels if b.role != "balance")

    def index(self, name: str) -> int:
        for i, b in enumerate(self.barrels):
            if b.name == name:
                return i
        raise KeyError(f"no barrel named {name!r}; barrels are {list(self.names)}")

    def barrel(self, name: str) -> Barrel:
        return self.barrels[self.index(name)]

    # --- currents -----------------------------------------------------------------------
    def safe_currents_nA(self) -> np.ndarray:
        """Signed safe current per barrel (balance included, balancing the others)."""
        cur = np.array([b.safe_current_nA for b in self.barrels], dtype=np.float64)
        return self.with_balance(cur)

    def with_balance(self, currents_nA: np.ndarray) -> np.ndarray:
        """Return a copy whose balance column is -(sum of the other columns).  Shape (..., n_barrels)."""
        out = np.array(currents_nA, dtype=np.float64, copy=True)
        bi = self.balance_index
        if bi is not None:
            # column by column, in order: a row-wise sum over a handful of columns is many
            # times slower (this runs for every AO sample the engine writes)
            total = np.zeros(out.shape[:-1])
            for i in range(out.shape[-1]):
                if i != bi:
                    total += out[..., i]
            out[..., bi] = -total
        return out

    def violations(self, currents_nA: np.ndarray) -> list[str]:
        """Messages for every limit that ``currents_nA`` (shape (..., n_barrels), balance
        included) exceeds; empty when all samples are within limits."""
        cur = np.atleast_2d(np.asarray(currents_nA, dtype=np.float64))
        msgs: list[str] = []
        if cur.shape[-1] != len(self.barrels):
            return [f"expected {len(self.barrels)} barrel columns, got {cur.shape[-1]}"]
        if not np.isfinite(cur).all():
            return ["currents contain NaN or infinity"]
        # each barrel's extremes once (every limit is linear in its current, so the worst
        # sample of each check is at one of them), then scalar checks
        flat = cur.reshape(-1, cur.shape[-1])
        cols = np.ascontiguousarray(flat.T)  # reductions along contiguous rows are ~5x faster
        col_max = cols.max(axis=1, initial=-np.inf).tolist()
        col_min = cols.min(axis=1, initial=np.inf).tolist()
        for i, b in enumerate(self.barrels):
            hi, lo = (col_max[i], col_min[i]) if flat.shape[0] else (0.0, 0.0)
            ao_lim = b.ao_range_V * abs(b.command_gain_nA_per_V)
            if b.role == "drug":
                worst_ej = max(0.0, hi * b.polarity, lo * b.polarity)
                worst_ret = max(0.0, -hi * b.polarity, -lo * b.polarity)
                if worst_ej > min(b.max_eject_nA, ao_lim) + _EPS_nA:
                    msgs.append(
                        f"barrel {b.name!r} ({b.drug}): eject current {worst_ej:g} nA exceeds its limit "
                        f"{min(b.max_eject_nA, ao_lim):g} nA"
                    )
                if worst_ret > min(b.max_retain_nA, ao_lim) + _EPS_nA:
                    msgs.append(
                        f"barrel {b.name!r} ({b.drug}): retain-direction current {worst_ret:g} nA exceeds "
                        f"its limit {min(b.max_retain_nA, ao_lim):g} nA"
                    )
            else:
                worst = max(0.0, abs(hi), abs(lo))
                lim = min(b.max_eject_nA, ao_lim)
                if b.role == "balance":
                    lim = min(lim, self.max_total_nA)
                if worst > lim + _EPS_nA:
                    what = "balance current (the negated sum of the others)" if b.role == "balance" else "current"
                    msgs.append(f"barrel {b.name!r} ({b.drug}): {what} {worst:g} nA exceeds its limit {lim:g} nA")
        if self.balance_index is None:  # with a balance barrel its own check covers the total
            worst_total = float(np.abs(cur.sum(axis=-1)).max(initial=0.0))
        else:
            worst_total = 0.0
        if worst_total > self.max_total_nA + _EPS_nA:
            msgs.append(f"net current of the barrels {worst_total:g} nA exceeds max_total_nA {self.max_total_nA:g} nA")
        return msgs

    def check(self, currents_nA: np.ndarray) -> None:
        """Raise ``CurrentLimitError`` if any sample of ``currents_nA`` exceeds a limit."""
        msgs = self.violations(currents_nA)
        if msgs:
            raise CurrentLimitError("; ".join(msgs))

    def to_volts(self, currents_nA: np.ndarray) -> np.ndarray:
        """Command volts per AO channel for currents (..., n_barrels); barrels without an
        AO channel are dropped.  Checks limits first: nothing above a limit is converted."""
        self.check(currents_nA)
        cur = np.asarray(currents_nA, dtype=np.float64)
        cols = [i for i, b in enumerate(self.barrels) if b.ao_channel]
        gains = np.array([self.barrels[i].command_gain_nA_per_V for i in cols])
        return cur[..., cols] / gains

    def ao_barrels(self) -> tuple[Barrel, ...]:
        """Barrels with an AO channel, in AO order."""
        return tuple(b for b in self.barrels if b.ao_channel)

    def safe_volts(self) -> np.ndarray:
        return self.to_volts(self.safe_currents_nA())

    def from_volts(self, volts: np.ndarray) -> np.ndarray:
        """Barrel currents (nA) that AO command volts (..., n_ao) ask for, in AO order."""
        gains = np.array([b.command_gain_nA_per_V for b in self.ao_barrels()])
        return np.asarray(volts, dtype=np.float64) * gains

    def ao_limits_V(self) -> np.ndarray:
        """The largest |command volts| each AO channel (AO order) may ever be given: its
        barrel's largest current (the balance also within ``max_total_nA``) over its gain.
        A device can refuse anything beyond these as a last line of defence."""
        out = []
        for b in self.ao_barrels():
            lim = b.max_abs_nA if b.role != "balance" else min(b.max_abs_nA, self.max_total_nA)
            out.append(lim / abs(b.command_gain_nA_per_V))
        return np.array(out, dtype=np.float64)

    def describe(self) -> list[dict[str, Any]]:
        """Plain dicts per barrel (for JSON, the recording and ``ionto info``)."""
        return [b.model_dump() for b in self.barrels]


@dataclass(frozen=True)
class BarrelCurrent:
    """A signed current for one barrel (used in commands and the event log)."""

    barrel: str
    current_nA: float


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One readable line per pydantic error: ``source: field.path: message (got value)``."""
    lines = []
    errors = exc.errors()
    item_locs = {tuple(e.get("loc", ()))[:-1] for e in errors if len(e.get("loc", ())) > 1}
    for err in errors:
        if err.get("type") == "too_short" and any(loc[: len(err["loc"])] == tuple(err["loc"]) for loc in item_locs):
            continue  # "at least 1 item after validation, not 0": its items' own errors say why
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        got = err.get("input", None)
        got_s = ""
        if got is not None and not isinstance(got, dict | list):
            got_s = f" (got {got!r})"
        lines.append(f"{source}: {loc}: {msg}{got_s}")
    return "\n".join(lines)


def balanced(pipette: Pipette, currents: Mapping[str, float] | Sequence[float]) -> np.ndarray:
    """Currents per barrel (mapping by name, or a sequence over ``commanded`` barrels) with
    the balance barrel computed."""
    cur = np.zeros(len(pipette.barrels))
    if isinstance(currents, Mapping):
        for name, value in currents.items():
            cur[pipette.index(name)] = value
    else:
        cmd = [i for i, b in enumerate(pipette.barrels) if b.role != "balance"]
        if len(currents) != len(cmd):
            raise ValueError(f"expected {len(cmd)} currents (one per commanded barrel), got {len(currents)}")
        cur[cmd] = currents
    return pipette.with_balance(cur)
