"""The plan registry: named plans whose parameters are validated by a pydantic model.

A plan's parameters are the keyword parameters of its generator function; their
annotations (``Annotated[float, Field(gt=0)]``) and defaults become a pydantic model,
the same way for the library plans, for YAML files (``plan: NAME`` + ``params:``) and
for a user's Python plan file.  So one signature gives validation, error messages that
name the field and the accepted values, and the JSON Schema.

A plan may also give a ``check(params, pipette) -> list[Problem]`` that looks at the rig:
unknown barrels, currents above a barrel's limit, a drug barrel where an NaCl control
barrel is needed.  Problems name the parameter (``params.barrel``).
"""

from __future__ import annotations

import inspect
import secrets
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, PydanticUserError, ValidationError, create_model

from daq.errors import ConfigError
from daq.pipette import Pipette
from protocols.commands import Plan
from protocols.validation import StrictModel, format_errors

PlanFactory = Callable[..., Plan]


@dataclass(frozen=True)
class Problem:
    """Something that stops a protocol from running: where (a field path) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


RigCheck = Callable[[Mapping[str, Any], Pipette | None], list[Problem]]
"""Called with ``pipette=None`` when a file is loaded (parameters that contradict each
other), and with the rig's pipette before a dry run."""


@dataclass(frozen=True)
class PlanSpec:
    """A registered plan."""

    name: str
    factory: PlanFactory
    model: type[BaseModel]
    check: RigCheck | None = None

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.factory) or ""
        return doc.split("\n\n")[0].replace("\n", " ")

    def source(self) -> str:
        """The Python source of the module that defines the plan (stored in the recording)."""
        try:
            return inspect.getsource(inspect.getmodule(self.factory) or self.factory)
        except (OSError, TypeError):
            return ""

    def build(self, params: Mapping[str, Any]) -> Plan:
        return self.factory(**params)


REGISTRY: dict[str, PlanSpec] = {}
RESERVED_NAMES = frozenset({"steps"})


def params_model(fn: Callable[..., Any], model_name: str) -> type[BaseModel]:
    """A pydantic model of ``fn``'s keyword parameters (annotations, defaults, docstring)."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise ConfigError(f"{model_name}: cannot read the plan's parameter annotations ({exc})") from None
    fields: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ConfigError(f"{model_name}: a plan's parameters must be named (no *args or **kwargs)")
        if p.name.startswith("_"):
            continue
        ann = hints.get(p.name, Any)
        fields[p.name] = (ann, ... if p.default is inspect.Parameter.empty else p.default)
    try:
        model = create_model(model_name, __base__=StrictModel, **fields)
    except (PydanticUserError, TypeError):  # an annotation pydantic cannot validate: say which
        bad = next((n for n, f in fields.items() if not _valid_field(model_name, n, f)), next(iter(fields)))
        ann = getattr(fields[bad][0], "__name__", str(fields[bad][0]))
        raise ConfigError(f"{model_name}: parameter {bad!r} is annotated {ann}, not a type a protocol can set — "
                          "use numbers, strings, booleans, lists or Literal[...]") from None
    model.__doc__ = inspect.getdoc(fn) or ""
    return model


def _valid_field(model_name: str, name: str, field: tuple[Any, Any]) -> bool:
    try:
        create_model(model_name, __base__=StrictModel, **{name: field})
    except (PydanticUserError, TypeError):
        return False
    return True


def register(name: str, *, check: RigCheck | None = None) -> Callable[[PlanFactory], PlanFactory]:
    """Decorator: make a plan available to YAML files as ``plan: name``."""
    if name in RESERVED_NAMES or not name.isidentifier():
        raise ValueError(f"plan name {name!r}: use an identifier other than {sorted(RESERVED_NAMES)}")

    def deco(fn: PlanFactory) -> PlanFactory:
        REGISTRY[name] = PlanSpec(name, fn, params_model(fn, f"{name}_params"), check)
        return fn

    return deco


def plan_names() -> list[str]:
    _load_library()
    return sorted(REGISTRY)


def get_plan(name: str) -> PlanSpec:
    """The registered plan ``name``; ``ConfigError`` lists the registered ones."""
    _load_library()
    if name not in REGISTRY:
        raise ConfigError(f"no plan named {name!r}; registered plans are: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def validate_params(model: type[BaseModel], params: Any, source: str) -> dict[str, Any]:
    """Validate ``params`` against a plan's model; resolve a missing random ``seed``.

    Returns the plan's keyword arguments (defaults filled in).  ``ConfigError`` names
    ``source`` and each bad field."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{source}: params must be a mapping of parameter names to values, "
                          f"got {type(params).__name__}")
    try:
        m = model.model_validate(dict(params))
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None
    values = {k: getattr(m, k) for k in type(m).model_fields}
    return resolve_seed(values)


def resolve_seed(values: dict[str, Any]) -> dict[str, Any]:
    """A ``seed`` left at None is drawn now, so the dry run and the real run (and the
    recording) share it."""
    if "seed" in values and values["seed"] is None:
        values = {**values, "seed": secrets.randbelow(2**31 - 1)}
    return values


def _load_library() -> None:
    import protocols.library  # noqa: F401  (registers the library plans)
