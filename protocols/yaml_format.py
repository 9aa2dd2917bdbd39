"""Protocol files (YAML): a registered plan with parameters, or a list of standard steps.

::

    name: glutamate dose-response
    rig: sim:cortex                      # the device it is meant for (a default for check/run)
    plan: dose_response
    params: {barrel: glu, currents_nA: [5, 10, 20, 40, 80], eject_s: 20, recovery_s: 40}

or::

    name: one GABA pulse
    steps:
      - wait: 30                                     # seconds
      - eject: {barrel: gaba, current_nA: 20, duration_s: 20}   # back to retain after 20 s
      - retain: gaba                                 # a barrel name, or "all"
      - set: {barrel: nacl, current_nA: -20}         # a signed current
      - mark: washout                                # a mark in the event log
      - checkpoint: recovery                         # names the step that follows
      - show: {code: 3, stimulus_s: 1, orientation_deg: 45}   # a trial's stimulus (docs/trials.md)
      - note: check the spike amplitude              # for the operator, does not wait
      - prompt: {text: apply the drug now, timeout_s: 120}   # waits for the operator
      - repeat: {times: 3, steps: [{eject: {barrel: gaba, current_nA: 10, duration_s: 5}}, {wait: 30}]}
      - plan: wait_for_stable_baseline               # any registered plan, as one step
        params: {window_s: 30, timeout_s: 300}

Each step is a mapping with one key naming its kind (a plan step: ``plan`` and
``params``).  The models are built from the plan registry, so a registered plan is at
once valid in files and in the JSON Schema (``ionto protocol schema``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
)

from daq.config_file import parse_yaml
from daq.errors import ConfigError
from daq.pipette import Pipette
from protocols.commands import (
    Checkpoint,
    Eject,
    Mark,
    Plan,
    Prompt,
    Retain,
    RetainAll,
    SetCurrent,
    Wait,
)
from protocols.library._checks import barrel_problems, current_problems
from protocols.registry import REGISTRY, Problem, get_plan, plan_names, resolve_seed
from protocols.trials import ShowStimulus
from protocols.validation import MAX_PROTOCOL_S, MAX_STEPS, PLAN_TAG, StrictModel, format_errors

MAX_SECONDS = 86400.0
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, description="seconds")]


# --- standard steps ------------------------------------------------------------------------
class EjectArgs(StrictModel):
    barrel: str = Field(min_length=1)
    current_nA: float = Field(ge=0, le=10000, description="magnitude; the sign comes from the barrel's polarity")
    polarity: Literal[1, -1] | None = Field(default=None, description="for an NaCl control barrel only")
    duration_s: Seconds | None = Field(default=None, description="if given: eject this long, then retain")


class SetArgs(StrictModel):
    barrel: str = Field(min_length=1)
    current_nA: float = Field(ge=-10000, le=10000, description="signed current")


class PromptArgs(StrictModel):
    text: str = Field(min_length=1)
    timeout_s: Seconds | None = None


class ShowArgs(StrictModel):
    code: int = Field(ge=1, le=65535, description="the condition code (what a strobe word carries)")
    stimulus_s: Seconds = Field(description="how long the stimulus shows")
    orientation_deg: float | None = Field(default=None, ge=-360, le=360)
    contrast: float | None = Field(default=None, ge=0, le=1)
    trial: int | None = Field(default=None, ge=0, description="trial number; by default counted from 0 in the file")


class WaitStep(StrictModel):
    wait: Seconds


class EjectStep(StrictModel):
    eject: EjectArgs


class RetainStep(StrictModel):
    retain: str = Field(min_length=1, description="a barrel name, or 'all'")


class SetStep(StrictModel):
    set: SetArgs


class MarkStep(StrictModel):
    mark: str


class NoteStep(StrictModel):
    note: str = Field(min_length=1)


class PromptStep(StrictModel):
    prompt: str | PromptArgs


class CheckpointStep(StrictModel):
    checkpoint: str = Field(min_length=1)


class ShowStep(StrictModel):
    show: ShowArgs


BASIC_STEPS: dict[str, type[BaseModel]] = {
    "wait": WaitStep, "eject": EjectStep, "retain": RetainStep, "set": SetStep, "mark": MarkStep,
    "note": NoteStep, "prompt": PromptStep, "checkpoint": CheckpointStep, "show": ShowStep,
}
STEP_KINDS = [*BASIC_STEPS, "repeat", "plan"]


class Header(StrictModel):
    name: str = Field(default="", description="shown in the GUI and stored in the recording")
    description: str = ""
    rig: str | None = Field(default=None, description="the device it is meant for, e.g. sim:cortex")


def _step_tag(v: Any) -> str | None:
    if isinstance(v, dict):
        if "plan" in v:
            return f"{PLAN_TAG}{v['plan']}"
        if len(v) == 1:
            return str(next(iter(v)))
        return None
    if isinstance(v, BaseModel):
        plan = getattr(v, "plan", None)
        return f"{PLAN_TAG}{plan}" if plan is not None else next(iter(type(v).model_fields))
    return None


def _top_tag(v: Any) -> str | None:
    if isinstance(v, dict):
        has_plan, has_steps = "plan" in v, "steps" in v
        if has_steps and not has_plan:
            return "steps"
        if has_plan and not has_steps:
            return f"{PLAN_TAG}{v['plan']}"
        return None
    if isinstance(v, BaseModel):
        plan = getattr(v, "plan", None)
        return "steps" if plan is None else f"{PLAN_TAG}{plan}"
    return None


@dataclass(frozen=True)
class _Models:
    adapter: TypeAdapter[Any]
    repeat_step: type[BaseModel]
    plan_steps: tuple[type[BaseModel], ...]
    steps_protocol: type[BaseModel]


_cache: dict[tuple[str, ...], _Models] = {}


def _params_field(model: type[BaseModel]) -> tuple[Any, Any]:
    required = any(f.is_required() for f in model.model_fields.values())
    return (model, ... if required else model())


def _models() -> _Models:
    """The file models for the plans registered now (rebuilt when the registry grows)."""
    key = tuple(plan_names())
    if key in _cache:
        return _cache[key]
    plan_steps = []
    for name in key:
        model = REGISTRY[name].model
        plan_steps.append(create_model(f"PlanStep_{name}", __base__=StrictModel, plan=(Literal[name], ...),
                                       params=_params_field(model)))

    class RepeatArgs(StrictModel):
        times: int = Field(ge=1, le=1000)
        steps: list[AnyStep] = Field(min_length=1)  # type: ignore[name-defined]  # noqa: F821

    class RepeatStep(StrictModel):
        repeat: RepeatArgs

    members = [Annotated[m, Tag(k)] for k, m in BASIC_STEPS.items()]
    members.append(Annotated[RepeatStep, Tag("repeat")])
    members += [Annotated[m, Tag(f"{PLAN_TAG}{n}")] for n, m in zip(key, plan_steps)]
    any_step = Annotated[Union[tuple(members)], Discriminator(_step_tag)]  # noqa: UP007
    RepeatArgs.model_rebuild(_types_namespace={"AnyStep": any_step})
    steps_protocol = create_model("StepsProtocol", __base__=Header, steps=(list[any_step], Field(min_length=1)))
    tops: list[Any] = [Annotated[steps_protocol, Tag("steps")]]
    for name in key:
        top = create_model(f"Protocol_{name}", __base__=Header, plan=(Literal[name], ...),
                           params=_params_field(REGISTRY[name].model))
        tops.append(Annotated[top, Tag(f"{PLAN_TAG}{name}")])
    adapter = TypeAdapter(Annotated[Union[tuple(tops)], Discriminator(_top_tag)])  # noqa: UP007
    models = _Models(adapter, RepeatStep, tuple(plan_steps), steps_protocol)
    _cache[key] = models
    return models


def _tag_message(kind: str, path: str) -> str:
    if kind == "top":
        return "give either 'plan' (with 'params') or 'steps', not both and not neither"
    return ("a step is a mapping with one key, one of: " + ", ".join(STEP_KINDS[:-1])
            + "; or 'plan' with 'params' (registered plans: " + ", ".join(plan_names()) + ")")


def parse_protocol(data: Any, source: str) -> BaseModel:
    """Validate a parsed YAML document; ``ConfigError`` names ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a protocol file must be a YAML mapping with 'plan' or 'steps'")
    try:
        doc = _models().adapter.validate_python(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, _tag_message)) from None
    problems = _problems(doc, None) + _size_problems(doc)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return _resolve_seeds(doc)


def load_yaml_text(text: str, source: str) -> Any:
    return parse_yaml(text, source)


# --- resolving, checking and building ------------------------------------------------------
def _is_plan(model: BaseModel) -> bool:
    return isinstance(getattr(model, "plan", None), str) and hasattr(model, "params")


def _plan_params(model: BaseModel) -> dict[str, Any]:
    params = model.params  # type: ignore[attr-defined]
    return {k: getattr(params, k) for k in type(params).model_fields}


def _resolve_seeds(doc: BaseModel) -> BaseModel:
    """Draw every missing random seed now, so a dry run, the real run and the recording
    share them."""
    if _is_plan(doc):
        params = doc.params  # type: ignore[attr-defined]
        resolved = resolve_seed(_plan_params(doc))
        if resolved != _plan_params(doc):
            doc = doc.model_copy(update={"params": params.model_copy(update={"seed": resolved["seed"]})})
        return doc
    if hasattr(doc, "repeat"):
        inner = [_resolve_seeds(s) for s in doc.repeat.steps]
        return doc.model_copy(update={"repeat": doc.repeat.model_copy(update={"steps": inner})})
    if hasattr(doc, "steps") and isinstance(doc.steps, list):
        return doc.model_copy(update={"steps": [_resolve_seeds(s) for s in doc.steps]})
    return doc


def _problems(doc: BaseModel, pipette: Pipette | None, prefix: str = "") -> list[Problem]:
    """Problems of a validated document: the plans' own checks and, with a pipette, the
    rig checks (barrels, roles, per-barrel limits).  Paths name the step and field."""
    if _is_plan(doc):
        spec = get_plan(doc.plan)  # type: ignore[attr-defined]
        found = spec.check(_plan_params(doc), pipette) if spec.check else []
        return [Problem(prefix + p.where, p.message) for p in found]
    out: list[Problem] = []
    if hasattr(doc, "steps") and isinstance(doc.steps, list):
        for i, st in enumerate(doc.steps):
            out += _problems(st, pipette, f"{prefix}steps.{i}.")
        return out
    if hasattr(doc, "repeat"):
        return _problems(doc.repeat, pipette, f"{prefix}repeat.")
    if pipette is None:
        return out
    match doc:
        case EjectStep(eject=a):
            out += barrel_problems(f"{prefix}eject.barrel", a.barrel, pipette, ("drug", "control"))
            if not out:
                out += current_problems(f"{prefix}eject.current_nA", [a.current_nA], a.barrel, pipette, False)
                if pipette.barrel(a.barrel).role == "control" and a.polarity is None:
                    out.append(Problem(f"{prefix}eject.polarity",
                                       f"barrel {a.barrel!r} is a control barrel: give polarity +1 or -1"))
        case RetainStep(retain=b) if b != "all":
            out += barrel_problems(f"{prefix}retain", b, pipette, ("drug", "control"))
        case SetStep(set=a):
            out += barrel_problems(f"{prefix}set.barrel", a.barrel, pipette, ("drug", "control"))
            if not out:
                limit = pipette.barrel(a.barrel).limit_for(a.current_nA)
                if abs(a.current_nA) > limit + 1e-9:
                    out.append(Problem(f"{prefix}set.current_nA",
                                       f"{a.current_nA:g} nA exceeds the limit of barrel {a.barrel!r}: {limit:g} nA"))
    return out


def _size(doc: BaseModel) -> tuple[int, float]:
    """Steps (commands) and least duration (s) of a document's standard steps, repeats
    multiplied out; a plan counts as one step of no known length (its dry run counts it)."""
    if _is_plan(doc):
        return 1, 0.0
    if hasattr(doc, "steps") and isinstance(doc.steps, list):
        sizes = [_size(st) for st in doc.steps]
        return sum(n for n, _ in sizes), sum(t for _, t in sizes)
    if hasattr(doc, "repeat"):
        n, t = _size(doc.repeat)
        return doc.repeat.times * n, doc.repeat.times * t
    match doc:
        case WaitStep(wait=s):
            return 1, s
        case EjectStep(eject=a) if a.duration_s is not None:
            return 3, a.duration_s
    return 1, 0.0


def _size_problems(doc: BaseModel) -> list[Problem]:
    """A file whose repeats multiply out beyond ``MAX_STEPS`` steps or ``MAX_PROTOCOL_S``
    is refused before any dry run (a few hundred bytes of nested repeats are a billion steps)."""
    if _is_plan(doc) or not isinstance(getattr(doc, "steps", None), list):
        return []
    sizes = [_size(st) for st in doc.steps]
    n_all, t_all = sum(n for n, _ in sizes), sum(t for _, t in sizes)
    out = []
    if n_all > MAX_STEPS:
        i = max(range(len(sizes)), key=lambda k: sizes[k][0])
        in_all = f", {n_all:,} in all" if n_all != sizes[i][0] else ""
        out.append(Problem(f"steps.{i}", f"expands to {sizes[i][0]:,} steps (repeats multiplied out{in_all}); "
                                         f"a protocol may have at most {MAX_STEPS:,} steps"))
    if t_all > MAX_PROTOCOL_S:
        i = max(range(len(sizes)), key=lambda k: sizes[k][1])
        in_all = f", {t_all:.6g} s in all" if t_all != sizes[i][1] else ""
        out.append(Problem(f"steps.{i}", f"lasts at least {sizes[i][1]:.6g} s (repeats multiplied out{in_all}); "
                                         f"a protocol may last at most {MAX_PROTOCOL_S:g} s ({MAX_PROTOCOL_S / 3600:g} h)"))
    return out


def rig_problems(doc: BaseModel, pipette: Pipette) -> list[Problem]:
    """What stops this protocol from running on a pipette, before any dry run."""
    return _problems(doc, pipette)


class _Locator:
    """Where in the file the plan is (``steps.3``, ``steps.1.repeat.steps.0``)."""

    def __init__(self) -> None:
        self.where = ""
        self.next_trial = 0  # ``show`` steps without a trial number count from here

    def __call__(self) -> str:
        return self.where


def build_plan(doc: BaseModel) -> tuple[Plan, Callable[[], str]]:
    """A fresh plan generator for a validated document, and its locator."""
    loc = _Locator()
    if _is_plan(doc):
        spec = get_plan(doc.plan)  # type: ignore[attr-defined]
        loc.where = "plan " + spec.name
        return spec.build(_plan_params(doc)), loc
    return _steps(doc.steps, "steps", loc), loc  # type: ignore[attr-defined]


def _steps(steps: list[BaseModel], path: str, loc: _Locator, top: bool = True) -> Plan:
    for i, st in enumerate(steps):
        here = f"{path}.{i}"
        loc.where = here
        yield from _step(st, here, loc)
    if top:
        yield RetainAll()


def _step(st: BaseModel, here: str, loc: _Locator) -> Plan:
    match st:
        case WaitStep(wait=s):
            yield Wait(s)
        case EjectStep(eject=a):
            yield Eject(a.barrel, a.current_nA, a.polarity)
            if a.duration_s is not None:
                yield Wait(a.duration_s)
                yield Retain(a.barrel)
        case RetainStep(retain=b):
            yield RetainAll() if b == "all" else Retain(b)
        case SetStep(set=a):
            yield SetCurrent(a.barrel, a.current_nA)
        case MarkStep(mark=t):
            yield Mark(t)
        case NoteStep(note=t):
            yield Prompt(t, wait=False)
        case PromptStep(prompt=p):
            yield Prompt(p, True, None) if isinstance(p, str) else Prompt(p.text, True, p.timeout_s)
        case CheckpointStep(checkpoint=name):
            yield Checkpoint(name)
        case ShowStep(show=a):
            trial = loc.next_trial if a.trial is None else a.trial
            loc.next_trial = trial + 1
            values = tuple((k, float(v)) for k, v in (("orientation_deg", a.orientation_deg),
                                                      ("contrast", a.contrast)) if v is not None)
            yield ShowStimulus(trial, a.code, a.stimulus_s, values)
        case _ if hasattr(st, "repeat"):
            for _ in range(st.repeat.times):
                yield from _steps(st.repeat.steps, f"{here}.repeat.steps", loc, top=False)
        case _ if _is_plan(st):
            yield from get_plan(st.plan).build(_plan_params(st))  # type: ignore[attr-defined]
        case _:
            raise TypeError(f"{here}: unknown step {st!r}")


def document_json(doc: BaseModel) -> dict[str, Any]:
    """The resolved document as plain JSON data (stored in the recording)."""
    return json.loads(doc.model_dump_json())


def json_schema() -> dict[str, Any]:
    """The JSON Schema of protocol files (``ionto protocol schema``)."""
    schema = _models().adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ionto protocol"
    schema["description"] = ("An ionto protocol: a registered plan with its params, or a list of steps. "
                             "Plans: " + ", ".join(plan_names()))
    return schema
