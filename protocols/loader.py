"""Loading a protocol file — YAML or a Python plan file — into a ``ResolvedProtocol``.

A resolved protocol has everything a run needs and stores: the file's text, the
resolved parameters (defaults filled in, random seeds drawn), the plan's Python source,
a factory of fresh plan generators, and its checks against a rig's pipette.

**Python plan files.**  A ``.py`` file exposes its plan as a generator function named
``plan``.  Its keyword parameters are the protocol's parameters: annotate them (pydantic
``Annotated[float, Field(gt=0)]`` works) and give defaults; set them from the command
line with ``-p NAME=VALUE`` (the value is read as YAML: ``-p currents_nA=[5,10,20]``).
Optional module-level names: ``NAME`` (the protocol's name; default the file stem),
``RIG`` (the device it is meant for, e.g. ``"sim:cortex"``) and
``check(params, pipette) -> list[str]`` (problems that stop it from running on a rig).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daq.config_file import read_text
from daq.errors import ConfigError
from daq.pipette import Pipette
from daq.recording import ProtocolInfo
from protocols.commands import Plan
from protocols.registry import Problem, get_plan, params_model, validate_params
from protocols.yaml_format import (
    build_plan,
    document_json,
    load_yaml_text,
    parse_protocol,
    rig_problems,
)


@dataclass(frozen=True)
class PlanInstance:
    """One fresh plan generator and its locator (where in the file it is)."""

    plan: Plan
    locate: Callable[[], str] | None = None


@dataclass(frozen=True)
class ResolvedProtocol:
    """A validated protocol, ready to check against a rig, dry-run and run."""

    path: str
    name: str
    format: str  # "yaml" | "python"
    text: str
    params: dict[str, Any]  # resolved, JSON-ready (YAML: the whole resolved document)
    source: str  # the plan's Python source
    rig_hint: str | None
    make: Callable[[], PlanInstance] = field(repr=False)
    checker: Callable[[Pipette], list[Problem]] = field(repr=False)

    def instantiate(self) -> PlanInstance:
        return self.make()

    def factory(self) -> Plan:
        """A fresh plan generator (each run and dry run needs its own)."""
        return self.make().plan

    def problems(self, pipette: Pipette) -> list[Problem]:
        """What stops this protocol from running on ``pipette`` (before a dry run)."""
        return self.checker(pipette)

    @property
    def info(self) -> ProtocolInfo:
        """What the recording stores about this protocol."""
        return ProtocolInfo(text=self.text, name=self.name, format=self.format, params=self.params,
                            source=self.source)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["barrel=glu", "currents_nA=[5, 10]"]`` → ``{"barrel": "glu", "currents_nA": [5, 10]}``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ConfigError(f"-p {item!r}: give a parameter as NAME=VALUE, e.g. -p currents_nA=[5,10,20]")
        out[name.strip()] = load_yaml_text(value, f"-p {name.strip()}") if value.strip() else ""
    return out


def load(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> ResolvedProtocol:
    """A YAML protocol (``.yaml``/``.yml``) or a Python plan file (``.py``)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a protocol file (.yaml or .py)")
    if not p.is_file():
        raise ConfigError(f"{p}: no such protocol file")
    if p.suffix == ".py":
        return load_python(p, overrides)
    if p.suffix in (".yaml", ".yml"):
        return load_yaml(p, overrides)
    raise ConfigError(f"{p}: a protocol is a .yaml/.yml file or a .py plan file")


def _read(p: Path) -> str:
    return read_text(p, "the protocol")


def load_yaml(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> ResolvedProtocol:
    p = Path(path)
    return load_yaml_string(_read(p), str(p), overrides)


def load_yaml_string(text: str, source: str, overrides: Mapping[str, Any] | None = None) -> ResolvedProtocol:
    """A YAML protocol from its text (``source`` names it in messages)."""
    data = load_yaml_text(text, source)
    if overrides:
        if not isinstance(data, dict) or "plan" not in data:
            raise ConfigError(f"{source}: -p sets the params of a 'plan:' protocol; this file has none")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{source}: params must be a mapping")
        data = {**data, "params": {**params, **overrides}}
    doc = parse_protocol(data, source)
    plan_name = getattr(doc, "plan", None)
    name = doc.name or Path(source).stem  # type: ignore[attr-defined]
    src = get_plan(plan_name).source() if isinstance(plan_name, str) else ""

    def make() -> PlanInstance:
        plan, locate = build_plan(doc)
        return PlanInstance(plan, locate)

    return ResolvedProtocol(source, name, "yaml", text, document_json(doc), src,
                            doc.rig, make, lambda pip: rig_problems(doc, pip))  # type: ignore[attr-defined]


def load_python(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> ResolvedProtocol:
    p = Path(path)
    text = _read(p)
    module = _import_file(p)
    fn = getattr(module, "plan", None)
    if fn is None or not inspect.isgeneratorfunction(fn):
        raise ConfigError(f"{p}: define a generator function 'plan(...)' that yields protocol commands "
                          "(see docs/protocols.md)")
    try:
        model = params_model(fn, f"{p.stem}_params")
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    params = validate_params(model, dict(overrides or {}), f"{p}: -p")
    name = str(getattr(module, "NAME", "") or p.stem)
    rig = getattr(module, "RIG", None)
    user_check = getattr(module, "check", None)

    def make() -> PlanInstance:
        return PlanInstance(fn(**params))

    def checker(pipette: Pipette) -> list[Problem]:
        if user_check is None:
            return []
        try:
            found = user_check(dict(params), pipette)
        except Exception as exc:  # the user's check failed: report it as a problem, not a crash
            return [Problem(f"{p.name}: check()", f"raised {type(exc).__name__}: {exc}")]
        return [x if isinstance(x, Problem) else Problem("", str(x)) for x in (found or [])]

    json_params = _json_ready(params)
    return ResolvedProtocol(str(p), name, "python", text, json_params, text, rig if isinstance(rig, str) else None,
                            make, checker)


def _import_file(p: Path) -> Any:
    mod_name = f"ionto_user_plan_{abs(hash(str(p.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{p}: cannot load this Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and pydantic resolve names through it
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # whatever the user's file raises on import, say so plainly
        sys.modules.pop(mod_name, None)
        raise ConfigError(f"{p}: the plan file failed to import: {type(exc).__name__}: {exc}") from None
    return module


def _json_ready(value: Any) -> Any:
    """Parameters as plain JSON data (for the recording)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)
