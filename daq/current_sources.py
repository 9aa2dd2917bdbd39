"""Presets of the iontophoresis current sources labs own (``daq/current_sources.yaml``).

A barrel (or the whole pipette) of a rig file may say ``source: npi-mvcs``; the barrel then
takes the source's command and monitor gains, unless the rig file gives them itself — an
explicit value always wins.  A gain the preset does not know (``null``: no manual we could
cite) must be given in the rig file; ``ionto rig check`` then measures it.

Each value carries its basis (a manual, a paper, a published script, or "confirm on your
unit"); ``docs/rig-check.md`` lists them.

Thread: any (the presets are read once and cached).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daq.config_file import parse_yaml
from daq.errors import ConfigError

CONFIRM = "confirm on your unit"
"""What a basis says when no manual or paper could be cited for a value."""

SOURCE_FIELDS = ("command_gain_nA_per_V", "monitor_gain_V_per_nA", "max_current_nA", "compliance_V",
                 "balance_in_hardware", "retain_on_panel")


class CurrentSource(BaseModel):
    """One current source: its gains, range and how it handles retain and balance."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    key: str = ""
    name: str = Field(min_length=1)
    maker: str = ""
    command_gain_nA_per_V: float | None = Field(default=None, gt=0, description="nA out per V of command")
    monitor_gain_V_per_nA: float | None = Field(default=None, gt=0, description="V of monitor output per nA")
    max_current_nA: float | None = Field(default=None, gt=0, description="largest current of the range in use")
    compliance_V: float | None = Field(default=None, gt=0, description="largest voltage it drives a barrel with")
    balance_in_hardware: bool = False
    retain_on_panel: bool = False
    reports_voltage: bool = False
    basis: dict[str, str] = Field(default_factory=dict)
    notes: str = ""

    @model_validator(mode="after")
    def _every_value_has_a_basis(self) -> CurrentSource:
        missing = [f for f in SOURCE_FIELDS if not self.basis.get(f)]
        if missing:
            raise ValueError(f"no basis (citation or '{CONFIRM}') for {missing}")
        return self

    def to_confirm(self) -> list[str]:
        """The fields whose value is not cited (to be read off the unit)."""
        return [f for f in SOURCE_FIELDS if CONFIRM in self.basis.get(f, "")]

    def barrel_defaults(self) -> dict[str, Any]:
        """The barrel fields this source fills in (those it knows)."""
        out: dict[str, Any] = {}
        if self.command_gain_nA_per_V is not None:
            out["command_gain_nA_per_V"] = self.command_gain_nA_per_V
        if self.monitor_gain_V_per_nA is not None:
            out["monitor_gain_V_per_nA"] = self.monitor_gain_V_per_nA
        return out


@functools.cache
def current_sources() -> dict[str, CurrentSource]:
    """Every preset by key (``neurophore-bh2``, ``wpi-260``, ``dagan-ion-100``, ``npi-mvcs``)."""
    text = (resources.files("daq") / "current_sources.yaml").read_text(encoding="utf-8")
    data = parse_yaml(text, "daq/current_sources.yaml")
    out = {}
    for key, entry in data.items():
        try:
            out[key] = CurrentSource.model_validate({**entry, "key": key})
        except ValidationError as exc:  # a broken preset file is ionto's bug: say which
            raise ConfigError(f"daq/current_sources.yaml: {key}: {exc.errors()[0]['msg']}") from None
    return out


def source_names() -> list[str]:
    return sorted(current_sources())


def get_source(name: str) -> CurrentSource:
    """The preset called ``name`` (case-insensitive); ``ConfigError`` lists the known ones."""
    key = str(name).strip().lower()
    sources = current_sources()
    if key not in sources:
        raise ConfigError(f"no current source preset {name!r}; presets are {source_names()}")
    return sources[key]
