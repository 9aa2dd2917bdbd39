"""Protocol files (YAML): a registered plan with parameters, or a list of standard steps.

::

    name: glutamate dose-response
    plan: dose_response
    params: {barrel: glu, currents_nA: [5, 10, 20, 40, 80], eject_s: 20, recovery_s: 40, baseline_s: 30}

or::

    name: one GABA pulse
    steps:
      - wait: 30                                  # seconds
      - eject: {barrel: gaba, current_nA: 20}
      - wait: 20
      - retain: gaba                              # a barrel name, or "all"
      - mark: washout
      - wait: 60
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daq.errors import ConfigError
from daq.pipette import format_validation_error
from protocols.commands import Eject, Mark, Retain, RetainAll, SetCurrent, Wait
from protocols.plans import Plan, get_plan


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EjectArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    barrel: str = Field(min_length=1)
    current_nA: float = Field(ge=0, description="magnitude; the sign comes from the barrel's polarity")
    polarity: Literal[1, -1] | None = None


class SetArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    barrel: str = Field(min_length=1)
    current_nA: float


class WaitStep(_Step):
    wait: float = Field(gt=0, description="seconds")


class EjectStep(_Step):
    eject: EjectArgs


class RetainStep(_Step):
    retain: str = Field(min_length=1, description="a barrel name, or 'all'")


class SetStep(_Step):
    set: SetArgs


class MarkStep(_Step):
    mark: str


Step = WaitStep | EjectStep | RetainStep | SetStep | MarkStep


class ProtocolFile(BaseModel):
    """A protocol file: either ``plan`` + ``params`` or ``steps``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    description: str = ""
    rig: str | None = Field(default=None, description="suggested device, e.g. sim:cortex")
    plan: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ProtocolFile:
        if (self.plan is None) == (self.steps is None):
            raise ValueError("give either 'plan' (with 'params') or 'steps', not both and not neither")
        if self.steps is not None and self.params:
            raise ValueError("'params' goes with 'plan', not with 'steps'")
        return self


@dataclass(frozen=True)
class LoadedProtocol:
    path: str
    text: str
    spec: ProtocolFile

    @property
    def name(self) -> str:
        return self.spec.name or Path(self.path).stem

    def build(self) -> Plan:
        return build_plan(self.spec, self.path)

    def params_json(self) -> str:
        return json.dumps(self.spec.model_dump(mode="json"), default=str)


def parse_protocol(data: Any, source: str) -> ProtocolFile:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a protocol file must be a YAML mapping with 'plan' or 'steps'")
    try:
        return ProtocolFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_protocol(path: str | os.PathLike[str]) -> LoadedProtocol:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the protocol ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    spec = parse_protocol(data, str(p))
    build_plan(spec, str(p))  # check the plan name and parameters now
    return LoadedProtocol(str(p), text, spec)


def build_plan(spec: ProtocolFile, source: str = "protocol") -> Plan:
    if spec.steps is not None:
        return _steps_plan(spec.steps)
    assert spec.plan is not None
    try:
        factory = get_plan(spec.plan)
    except KeyError as exc:
        raise ConfigError(f"{source}: plan: {exc.args[0]}") from None
    sig = inspect.signature(factory)
    try:
        sig.bind(**spec.params)
    except TypeError as exc:
        expected = ", ".join(
            f"{n}" + ("" if p.default is inspect.Parameter.empty else f"={p.default!r}")
            for n, p in sig.parameters.items()
        )
        raise ConfigError(f"{source}: params: {exc} (plan {spec.plan!r} takes {expected})") from None
    return factory(**spec.params)


def _steps_plan(steps: list[Step]) -> Plan:
    for st in steps:
        match st:
            case WaitStep(wait=s):
                yield Wait(s)
            case EjectStep(eject=a):
                yield Eject(a.barrel, a.current_nA, a.polarity)
            case RetainStep(retain=b):
                yield RetainAll() if b == "all" else Retain(b)
            case SetStep(set=a):
                yield SetCurrent(a.barrel, a.current_nA)
            case MarkStep(mark=t):
                yield Mark(t)
    yield RetainAll()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of protocol files (``ionto protocol schema``)."""
    schema = ProtocolFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ionto protocol"
    return schema
