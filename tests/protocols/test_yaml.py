"""Protocol files: the standard steps, plan protocols, error messages that name the field,
the JSON Schema, and fuzzing (only ever a ConfigError)."""

from __future__ import annotations

import json
import os
from importlib import resources

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.errors import ConfigError
from daq.types import EventKind
from mock_daq import load_preset
from protocols.check import check_protocol
from protocols.commands import Checkpoint, Eject, Mark, Prompt, Retain, RetainAll, SetCurrent, Wait
from protocols.dryrun import dry_run
from protocols.loader import load_yaml_string
from protocols.registry import REGISTRY, plan_names
from protocols.yaml_format import STEP_KINDS, json_schema

RIG = load_preset("cortex")

STEPS = """
name: pulses
steps:
  - wait: 1.5
  - eject: {barrel: gaba, current_nA: 20}
  - wait: 2
  - retain: gaba
  - mark: washout
  - wait: 1
"""


def commands(text: str) -> list:
    plan = load_yaml_string(text, "t.yaml").factory()
    out, reply = [], None
    while True:
        try:
            cmd = plan.send(reply)
        except StopIteration:
            return out
        out.append(cmd)
        reply = None


def test_steps_dry_run_timeline(pipette):
    dr = dry_run(load_yaml_string(STEPS, "p.yaml").factory(), pipette, 1000.0)
    assert dr.ok, dr.errors
    ej = [e for e in dr.events if e.kind == EventKind.EJECT]
    assert [(e.sample_index, e.barrel, e.current_nA) for e in ej] == [(1500, "gaba", 20.0)]
    ret = [e for e in dr.events if e.kind == EventKind.RETAIN and e.text != "initial"]
    assert ret[0].sample_index == 3500
    assert dr.duration_s == pytest.approx(4.5, abs=0.01)
    assert dr.eject_charge_nC["gaba"] == pytest.approx(40.0)
    assert [(ep.barrel, ep.start_s, ep.duration_s, ep.charge_nC) for ep in dr.epochs] == [("gaba", 1.5, 2.0, 40.0)]


def test_every_standard_step_becomes_its_commands():
    text = """
steps:
  - checkpoint: start
  - eject: {barrel: glu, current_nA: 20, duration_s: 2}
  - set: {barrel: nacl, current_nA: -7.5}
  - retain: all
  - mark: m
  - note: n
  - prompt: p
  - prompt: {text: q, timeout_s: 5}
  - repeat: {times: 2, steps: [{eject: {barrel: gaba, current_nA: 5}}, {wait: 1}, {retain: gaba}]}
"""
    assert commands(text) == [
        Checkpoint("start"), Eject("glu", 20.0), Wait(2.0), Retain("glu"), SetCurrent("nacl", -7.5), RetainAll(),
        Mark("m"), Prompt("n", wait=False), Prompt("p"), Prompt("q", True, 5.0),
        Eject("gaba", 5.0), Wait(1.0), Retain("gaba"), Eject("gaba", 5.0), Wait(1.0), Retain("gaba"),
        RetainAll(),
    ]


def test_a_plan_step_runs_the_registered_plan():
    text = "steps:\n  - wait: 1\n  - plan: dose_response\n    params: {barrel: glu, currents_nA: [5], baseline_s: 2}\n"
    cmds = commands(text)
    assert cmds[0] == Wait(1.0) and Eject("glu", 5.0) in cmds


@pytest.mark.parametrize("doc,expected", [
    ({"name": "x"}, "(top level): give either 'plan'"),
    ({"plan": "x", "steps": []}, "(top level): give either 'plan'"),
    ({"plan": "nope"}, "no plan named 'nope'; registered plans: antagonist_series"),
    ({"plan": "dose_response", "params": {"barrel": "glu"}}, "params.currents_nA: Field required"),
    ({"plan": "dose_response", "params": {"barrel": "glu", "currents_nA": [5, -1]}},
     "params.currents_nA.1: Input should be greater than 0 (got -1)"),
    ({"plan": "dose_response", "params": {"barrel": "glu", "currents_nA": [5], "order": "up"}},
     "params.order: Input should be 'ascending', 'descending', 'given', 'randomised' or 'latin_square'"),
    ({"plan": "dose_response", "params": {"barrel": "glu", "currents_nA": [5], "currents": [1]}},
     "params.currents: unknown field; accepted: barrel, currents_nA, order"),
    ({"plan": "pulse_train", "params": {"barrel": "glu", "current_nA": 5, "pulse_s": 2, "period_s": 1}},
     "params.period_s: the period (1 s, onset to onset) must be longer than the pulse (2 s)"),
    ({"steps": [{"wait": 1}, {"eject": {"barrel": "g", "current_nA": "lots"}}]},
     "steps.1.eject.current_nA: Input should be a valid number"),
    ({"steps": [{"wait": 1, "mark": "x"}]}, "steps.0: a step is a mapping with one key, one of: wait, eject"),
    ({"steps": [{"jump": 1}]}, "steps.0: unknown step 'jump'"),
    ({"steps": [{"repeat": {"times": 2, "steps": [{"wait": 0}]}}]},
     "steps.0.repeat.steps.0.wait: Input should be greater than 0"),
    ({"steps": [{"plan": "titrate", "params": {"barrel": "gaba", "target_change_pct": -50, "start_nA": 500}}]},
     "steps.0.params.start_nA: start_nA must lie between min_nA"),
    ({"steps": [{"wait": float("nan")}]}, "steps.0.wait: Input should be a finite number"),
    ({"steps": []}, "steps: List should have at least 1 item"),
    ({"steps": [{"eject": {"barrel": "glu", "current_nA": 1, "dur": 3}}]},
     "steps.0.eject.dur: unknown field; accepted: barrel, current_nA, polarity, duration_s"),
])
def test_errors_name_the_field_and_what_is_accepted(doc, expected):
    with pytest.raises(ConfigError) as e:
        load_yaml_string(yaml.safe_dump(doc), "f.yaml")
    assert expected in str(e.value)
    assert str(e.value).startswith("f.yaml: ")


@pytest.mark.parametrize("text,expected", [
    ("steps: [wait: 1", "f.yaml: not valid YAML"),
    ("- wait: 1\n", "f.yaml: a protocol file must be a YAML mapping"),
    ("[" * 1500 + "]" * 1500, "f.yaml:"),
])
def test_bad_yaml_is_a_config_error(text, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_yaml_string(text, "f.yaml")


def test_rig_problems_name_the_step_and_field():
    text = """
steps:
  - eject: {barrel: gaba, current_nA: 900}
  - eject: {barrel: nacl, current_nA: 10}
  - set: {barrel: bal, current_nA: 5}
  - retain: nope
  - plan: dose_response
    params: {barrel: nacl, currents_nA: [5]}
"""
    report = check_protocol(load_yaml_string(text, "f.yaml"), RIG)
    assert not report.ok and report.dry is None
    assert report.problems == [
        "f.yaml: steps.0.eject.current_nA: 900 nA exceeds the ejection limit of barrel 'gaba' (GABA): 150 nA",
        "f.yaml: steps.1.eject.polarity: barrel 'nacl' is a control barrel: give polarity +1 or -1",
        "f.yaml: steps.2.set.barrel: barrel 'bal' (NaCl) is a balance barrel; this needs a drug or control "
        "barrel (glu, gaba, bic, nacl)",
        "f.yaml: steps.3.retain: no barrel 'nope' on this rig; barrels: glu, gaba, bic, nacl, bal",
        "f.yaml: steps.4.params.barrel: barrel 'nacl' (NaCl) is a control barrel; this needs a drug barrel "
        "(glu, gaba, bic)",
    ]


def test_dry_run_problems_name_the_step_and_time():
    text = """
steps:
  - eject: {barrel: nacl, current_nA: 150, polarity: 1}
  - wait: 1
  - eject: {barrel: gaba, current_nA: 150}
  - wait: 1
  - eject: {barrel: bic, current_nA: 100}
  - wait: 1
"""
    report = check_protocol(load_yaml_string(text, "f.yaml"), RIG)
    assert not report.ok and report.dry is not None
    (problem,) = report.problems  # the balance barrel would carry more than max_total_nA
    assert problem.startswith("f.yaml: steps.4, eject bic 100 nA at 2.000 s: refused at sample 40000")
    assert "balance current (the negated sum of the others) 415 nA exceeds its limit 400 nA" in problem


def test_random_seeds_are_drawn_once_and_stored():
    text = "plan: dose_response\nparams: {barrel: glu, currents_nA: [5, 10, 20, 40], order: randomised, repeats: 3}\n"
    proto = load_yaml_string(text, "f.yaml")
    seed = proto.params["params"]["seed"]
    assert isinstance(seed, int)
    first = [c.current_nA for c in commands_of(proto) if isinstance(c, Eject)]
    assert first == [c.current_nA for c in commands_of(proto) if isinstance(c, Eject)]  # the same every time
    assert json.loads(json.dumps(proto.params)) == proto.params


def commands_of(proto) -> list:
    return [c for c in proto.factory() if c is not None]


def test_overrides_set_plan_params_only():
    proto = load_yaml_string("plan: titrate\nparams: {barrel: gaba, target_change_pct: -50}\n", "f.yaml",
                             {"max_nA": 40})
    assert proto.params["params"]["max_nA"] == 40
    with pytest.raises(ConfigError, match="-p sets the params of a 'plan:' protocol"):
        load_yaml_string(STEPS, "f.yaml", {"x": 1})


def _example_files():
    return sorted(f for f in (resources.files("protocols") / "examples").iterdir() if f.name.endswith(".yaml"))


def test_every_example_validates_against_the_published_schema():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for f in _example_files():
        validator.validate(yaml.safe_load(f.read_text()))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"steps": [{"wait": -1}]})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"plan": "dose_response", "params": {"barrel": "glu", "currents_nA": [5], "x": 1}})
    assert set(plan_names()) <= set(json.dumps(schema).replace('"', " ").split())


# --- fuzzing ----------------------------------------------------------------------------------
PARAM_NAMES = sorted({n for spec in REGISTRY.values() for n in spec.model.model_fields})
WORDS = ["glu", "gaba", "bic", "nacl", "bal", "all", "ascending", "latin_square", "randomised", "stop", "x"]
KEYS = st.sampled_from(sorted({*STEP_KINDS, *PARAM_NAMES, "params", "name", "text", "times", "steps", "barrel",
                               "current_nA", "duration_s", "polarity", "timeout_s"})) | st.text(max_size=5)
SCALARS = (st.none() | st.booleans() | st.integers(-3, 200) | st.integers() | st.sampled_from(WORDS)
           | st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 100) | st.text(max_size=6))
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=3),
                      max_leaves=12)
STEP = st.dictionaries(st.sampled_from([*STEP_KINDS, "params"]), VALUES, min_size=1, max_size=2)
DOCS = st.fixed_dictionaries({}, optional={
    "name": VALUES, "rig": VALUES,
    "plan": st.sampled_from(sorted(REGISTRY)) | VALUES,
    "params": st.dictionaries(st.sampled_from(PARAM_NAMES), VALUES, max_size=6) | VALUES,
    "steps": st.lists(STEP | VALUES, max_size=5) | VALUES,
})


FUZZ_EXAMPLES = int(os.environ.get("IONTO_FUZZ_EXAMPLES", "150"))  # CI; raise it for a longer hunt


def _load_and_check(text: str) -> None:
    try:
        proto = load_yaml_string(text, "fuzz.yaml")
    except ConfigError:
        return
    check_protocol(proto, RIG, max_duration_s=4 * 3600)  # problems are reported, never raised


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_fuzzed_documents_only_ever_give_config_errors(doc):
    _load_and_check(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=2 * FUZZ_EXAMPLES, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdeglnpstuw:-[]{}, \n0123456789.!&*'\"|>")), max_size=80))
def test_fuzzed_text_only_ever_gives_config_errors(text):
    _load_and_check(text)


# near-valid documents: real step shapes and parameter names with plausible (sometimes bad) values
def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` nine times in ten, else ``bad``."""
    return st.integers(0, 9).flatmap(lambda k: bad if k == 0 else good)


BARRELS = mostly(st.sampled_from(["glu", "gaba", "bic", "nacl"]), st.sampled_from(["bal", "nope"]))
SMALL_S = mostly(st.floats(0.01, 30), st.sampled_from([-1, 0, 0.001, 1e6]))
CURRENT = mostly(st.floats(1, 150), st.sampled_from([0, -5, 450]))


def _param_value(name: str) -> st.SearchStrategy:
    if name in ("barrel", "agonist_barrel", "antagonist_barrel"):
        return BARRELS
    if name in ("control_barrel", "match"):
        return BARRELS | st.none()
    if name.endswith("currents_nA"):
        return mostly(st.lists(CURRENT, min_size=1, max_size=4), st.just([]))
    if name.endswith("_nA"):
        return CURRENT
    if name.endswith("_s"):
        return SMALL_S
    if name.endswith("_pct"):
        return mostly(st.floats(-100, 100) | st.floats(1, 30), st.just(-150))
    if name in ("repeats", "pulses", "trains", "max_steps", "seed"):
        return mostly(st.integers(1, 6), st.sampled_from([-1, 0, None]))
    if name == "order":
        return mostly(st.sampled_from(["ascending", "descending", "given", "randomised", "latin_square"]),
                      st.just("x"))
    if name in ("on_timeout", "on_failure"):
        return mostly(st.sampled_from(["continue", "stop"]), st.just("x"))
    if name == "polarity":
        return st.sampled_from([1, -1, 0, None])
    if name == "text":
        return st.text(min_size=1, max_size=8)
    if name in ("control_series", "recovery_series", "leave_on"):
        return st.booleans()
    return VALUES


def _params(plan: str) -> st.SearchStrategy:
    fields = REGISTRY[plan].model.model_fields
    return st.fixed_dictionaries({n: _param_value(n) for n, f in fields.items() if f.is_required()},
                                 optional={n: _param_value(n) for n, f in fields.items() if not f.is_required()})


PARAMS = st.sampled_from(sorted(REGISTRY)).flatmap(lambda plan: st.tuples(st.just(plan), _params(plan)))
NEAR_STEP = st.recursive(
    st.one_of(
        st.builds(lambda s: {"wait": s}, SMALL_S),
        st.builds(lambda b, c, d: {"eject": {"barrel": b, "current_nA": c, **d}}, BARRELS, CURRENT,
                  st.fixed_dictionaries({}, optional={"duration_s": SMALL_S, "polarity": st.sampled_from([1, -1])})),
        st.builds(lambda b: {"retain": b}, BARRELS | st.just("all")),
        st.builds(lambda b, c: {"set": {"barrel": b, "current_nA": c}}, BARRELS, st.floats(-200, 200)),
        st.builds(lambda k, t: {k: t}, st.sampled_from(["mark", "note", "prompt", "checkpoint"]), st.text(max_size=5)),
        PARAMS.map(lambda pp: {"plan": pp[0], "params": pp[1]}),
    ),
    lambda kids: st.builds(lambda n, s: {"repeat": {"times": n, "steps": s}}, mostly(st.integers(1, 3), st.just(0)),
                           st.lists(kids, min_size=1, max_size=3)),
    max_leaves=6,
)
NEAR_DOCS = (PARAMS.map(lambda pp: {"name": "fuzz", "plan": pp[0], "params": pp[1]})
             | st.lists(NEAR_STEP, min_size=1, max_size=6).map(lambda s: {"name": "fuzz", "steps": s}))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NEAR_DOCS)
def test_fuzzed_near_valid_protocols_load_check_and_dry_run_or_give_config_errors(doc):
    _load_and_check(yaml.safe_dump(doc))
