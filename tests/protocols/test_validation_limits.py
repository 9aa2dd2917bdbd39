"""Protocols are refused, in one line naming the file and the field, when a run could not do
what they say: a current given as true/false or as text, a key given twice, repeats that
multiply out to more steps or time than a run may have, a plan whose dry run would not end;
and a rig the check loads is refused the same way (a slew limit no ramp can meet)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli.main import main
from daq.errors import ConfigError
from mock_daq import load_preset
from protocols.check import check_protocol
from protocols.commands import Eject, Mark, Retain, Wait
from protocols.dryrun import DEFAULT_BUDGET, DryRunBudget, dry_run
from protocols.loader import load, load_yaml_string
from protocols.validation import MAX_PROTOCOL_S, MAX_STEPS

RIG = load_preset("cortex")


def _refused(doc, source="p.yaml") -> str:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    with pytest.raises(ConfigError) as err:
        load_yaml_string(text, source)
    msg = str(err.value)
    for line in msg.splitlines():
        assert line.startswith(f"{source}: "), line
    return msg


# --- currents (and every other number) are numbers ---------------------------------------------
@pytest.mark.parametrize("value, what", [(True, "true/false"), (False, "true/false"), ("50", "text"),
                                         ("10 nA", "text")])
@pytest.mark.parametrize("step, field", [
    ({"eject": {"barrel": "gaba", "current_nA": None, "duration_s": 1}}, "steps.0.eject.current_nA"),
    ({"set": {"barrel": "nacl", "current_nA": None}}, "steps.0.set.current_nA"),
    ({"eject": {"barrel": "gaba", "current_nA": 5, "duration_s": None}}, "steps.0.eject.duration_s"),
    ({"wait": None}, "steps.0.wait"),
    ({"repeat": {"times": None, "steps": [{"wait": 1}]}}, "steps.0.repeat.times"),
    ({"eject": {"barrel": "nacl", "current_nA": 5, "polarity": None}}, "steps.0.eject.polarity"),
])
def test_a_number_in_a_step_given_as_true_false_or_text_is_refused(step, field, value, what):
    """``current_nA: true`` ejected 1 nA and ``'50'`` was taken as 50."""
    step = yaml.safe_load(yaml.safe_dump(step).replace("null", yaml.safe_dump(value).split("\n")[0]))
    msg = _refused({"steps": [step]})
    assert f"p.yaml: {field}: Input should be a valid number, not {what}" in msg


@pytest.mark.parametrize("params, field", [
    ({"barrel": "glu", "currents_nA": [5, "10", 20]}, "params.currents_nA: Input should be a list of numbers; item 1 "
                                                      "is text ('10')"),
    ({"barrel": "glu", "currents_nA": [5, True]}, "params.currents_nA: Input should be a list of numbers; item 1 is "
                                                  "true/false (True)"),
    ({"barrel": "glu", "currents_nA": [5], "eject_s": "20"}, "params.eject_s: Input should be a valid number, not text"),
    ({"barrel": "glu", "currents_nA": [5], "repeats": True}, "params.repeats: Input should be a valid number, not "
                                                             "true/false"),
])
def test_a_number_in_plan_params_given_as_true_false_or_text_is_refused(params, field):
    assert f"p.yaml: {field}" in _refused({"plan": "dose_response", "params": params})


@pytest.mark.parametrize("plan, params, field", [
    ("pulse_train", {"barrel": "gaba", "current_nA": True}, "params.current_nA"),
    ("antagonist_series", {"agonist": "glu", "agonist_currents_nA": [5, 10], "antagonist": "bic",
                           "antagonist_nA": "20"}, "params.antagonist_nA"),
    ("titrate", {"barrel": "gaba", "target_change_pct": -50, "max_nA": True}, "params.max_nA"),
])
def test_currents_of_every_library_plan_are_numbers(plan, params, field):
    assert f"p.yaml: {field}: Input should be a valid number" in _refused({"plan": plan, "params": params})


def test_a_plan_step_inside_steps_is_checked_too():
    msg = _refused({"steps": [{"plan": "pulse_train", "params": {"barrel": "gaba", "current_nA": "5"}}]})
    assert "p.yaml: steps.0.params.current_nA: Input should be a valid number, not text" in msg


def test_numbers_still_load():
    doc = {"steps": [{"eject": {"barrel": "gaba", "current_nA": 20, "duration_s": 1.5}},
                     {"set": {"barrel": "nacl", "current_nA": -20.0}}, {"wait": 1e-3},
                     {"repeat": {"times": 2, "steps": [{"wait": 1}]}}]}
    assert load_yaml_string(yaml.safe_dump(doc), "p.yaml").params["steps"][0]["eject"]["current_nA"] == 20.0


def test_p_overrides_are_numbers_too(tmp_path):
    f = tmp_path / "dr.yaml"
    f.write_text("plan: dose_response\nparams: {barrel: glu, currents_nA: [5, 10]}\n")
    with pytest.raises(ConfigError, match=r"params\.eject_s: Input should be a valid number, not true/false"):
        load(f, {"eject_s": True})


def test_a_python_plan_parameter_given_as_text_is_refused(tmp_path):
    f = tmp_path / "plan.py"
    f.write_text("from protocols.commands import Wait\n\ndef plan(current_nA: float = 5.0):\n    yield Wait(1)\n")
    with pytest.raises(ConfigError, match=r"current_nA: Input should be a valid number, not text"):
        load(f, {"current_nA": "50"})


@pytest.mark.parametrize("text", ["wait: .nan", "wait: .inf", "wait: 1e400"])
def test_non_finite_durations_are_refused(text):
    assert "steps.0.wait: Input should be a finite number" in _refused(f"steps:\n  - {text}\n")


# --- YAML ------------------------------------------------------------------------------------
def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    """YAML would silently keep the last ``steps``."""
    f = tmp_path / "dup.yaml"
    f.write_text("name: t\nsteps:\n  - wait: 1\nsteps:\n  - eject: {barrel: gaba, current_nA: 10, duration_s: 1}\n")
    with pytest.raises(ConfigError) as err:
        load(f)
    assert str(err.value) == (f"{f}: not valid YAML at line 4, column 1: duplicate key 'steps' (first at line 2); "
                              "give each key once in a mapping")


def test_a_duplicate_key_inside_a_step_is_refused():
    msg = _refused("steps:\n  - eject: {barrel: gaba, current_nA: 10, current_nA: 99}\n")
    assert "p.yaml: not valid YAML at line 2, column 43: duplicate key 'current_nA' (first at line 2)" in msg


def test_yaml_errors_name_the_file_in_one_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("steps:\n  - eject: {barrel: gaba\n")
    with pytest.raises(ConfigError) as err:
        load(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: not valid YAML at line 3") and "\n" not in msg and "unicode string" not in msg


def test_a_bad_p_value_names_the_parameter():
    from protocols.loader import parse_overrides

    with pytest.raises(ConfigError, match=r"^-p currents_nA: not valid YAML at line 1, column \d+: "):
        parse_overrides(["currents_nA=[5, 10"])


def test_a_directory_is_not_a_protocol(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, not a protocol file"):
        load(tmp_path)


# --- size and duration -----------------------------------------------------------------------
NESTED = ("steps:\n  - repeat: {times: 1000, steps: [{repeat: {times: 1000, steps: [{repeat: {times: 1000, "
          "steps: [eject: {barrel: gaba, current_nA: 1, duration_s: 1}]}}]}}]}\n")


def test_nested_repeats_beyond_the_step_limit_are_refused_when_read():
    """This kept ``protocol check`` busy for minutes; now it is refused before any dry run."""
    msg = _refused(NESTED)
    assert (f"p.yaml: steps.0: expands to 3,000,000,000 steps (repeats multiplied out); a protocol may have at "
            f"most {MAX_STEPS:,} steps") in msg
    assert "steps.0: lasts at least 1e+09 s (repeats multiplied out); a protocol may last at most 172800 s (48 h)" in msg


def test_repeats_just_within_the_limits_load():
    load_yaml_string("steps:\n  - repeat: {times: 1000, steps: [{repeat: {times: 1000, steps: [mark: x]}}]}\n", "p")
    load_yaml_string("steps:\n  - repeat: {times: 2, steps: [wait: 86400]}\n", "p")  # exactly 48 h


def test_waits_beyond_48_h_are_refused_naming_the_longest_step():
    msg = _refused({"steps": [{"wait": 60}, {"repeat": {"times": 3, "steps": [{"wait": 86400}]}}]})
    assert "p.yaml: steps.1: lasts at least 259200 s (repeats multiplied out, 259260 s in all)" in msg
    assert MAX_PROTOCOL_S == 48 * 3600


def test_the_default_budget_is_documented():
    assert (DEFAULT_BUDGET.max_steps, DEFAULT_BUDGET.max_wall_s) == (1_000_000, 30.0)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocols.md").read_text()
    assert "1,000,000 steps" in doc and "30 s of wall time" in doc and "48 h" in doc


def _endless_pulses():
    for k in itertools.count():
        yield Eject("gaba", 10)
        yield Wait(0.001)
        yield Retain("gaba")
        yield Mark(f"pulse {k}")


def test_a_plan_beyond_the_step_budget_is_refused():
    res = dry_run(_endless_pulses(), RIG.pipette, RIG.rate_hz, budget=DryRunBudget(max_steps=1000))
    assert not res.ok
    assert len(res.errors) == 1
    assert res.errors[0].startswith("the dry run used up its budget of 1,000 steps at ")
    assert res.errors[0].endswith("a protocol must dry-run within 1,000 steps and 30 s; split it into shorter "
                                  "protocols")


def test_a_plan_beyond_the_wall_time_budget_is_refused():
    ticks = itertools.count()
    budget = DryRunBudget(max_wall_s=30.0, clock=lambda: float(next(ticks)))  # one "second" per step
    res = dry_run(_endless_pulses(), RIG.pipette, RIG.rate_hz, budget=budget)
    assert not res.ok and res.errors[0].startswith("the dry run used up its budget of 30 s at ")


def test_a_budget_that_suffices_changes_nothing():
    def plan():
        for _ in range(5):
            yield Eject("gaba", 10)
            yield Wait(1)
            yield Retain("gaba")
            yield Wait(1)
        return "done"

    res = dry_run(plan(), RIG.pipette, RIG.rate_hz, budget=DryRunBudget(max_steps=10_000))
    assert res.ok and len(res.epochs) == 5 and math.isclose(res.epochs[-1].start_s, 8.0, abs_tol=1e-3)


def test_check_reports_a_budget_overrun_as_one_line_naming_the_file(tmp_path):
    f = tmp_path / "endless.py"
    f.write_text("import itertools\nfrom protocols.commands import Eject, Retain, Wait\n\n"
                 "def plan():\n    for _ in itertools.count():\n        yield Eject('gaba', 5)\n"
                 "        yield Wait(0.01)\n        yield Retain('gaba')\n        yield Wait(0.01)\n")
    report = check_protocol(load(f), RIG, budget=DryRunBudget(max_steps=500))
    assert not report.ok and len(report.problems) == 1
    assert report.problems[0].startswith(f"{f}: the dry run used up its budget of 500 steps")


def test_a_plan_longer_than_48_h_is_refused_by_the_check(tmp_path):
    f = tmp_path / "long.yaml"
    f.write_text("plan: pulse_train\nparams: {barrel: gaba, current_nA: 5, pulses: 3, period_s: 86400}\n")
    report = check_protocol(load(f), RIG)
    assert not report.ok
    assert report.problems == [f"{f}: the plan did not finish within 172800 s (a protocol may last at most 48 h)"]


# --- the rig the check loads -----------------------------------------------------------------
def test_protocol_check_refuses_an_impossible_rig_in_one_line(tmp_path, capsys):
    """slew_limit_nA_per_ms: 1e-9 passed the check and the run died at the first ejection
    (MemoryError: Unable to allocate 14.6 TiB)."""
    doc = RIG.model_dump(mode="json")
    doc["pipette"]["slew_limit_nA_per_ms"] = 1e-9
    rig = tmp_path / "rig.yaml"
    rig.write_text(yaml.safe_dump(doc, sort_keys=False).replace("1.0e-09", "1e-9"))
    proto = tmp_path / "p.yaml"
    proto.write_text("steps:\n  - eject: {barrel: gaba, current_nA: 10, duration_s: 1}\n")
    code = main(["protocol", "check", str(proto), "--rig", str(rig)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{rig}: pipette: slew_limit_nA_per_ms 1e-09 is too slow" in err


@pytest.mark.parametrize("field, value", [("command_gain_nA_per_V", ".nan"), ("command_gain_nA_per_V", ".inf"),
                                          ("max_eject_nA", ".inf"), ("retain_nA", "true")])
def test_protocol_check_refuses_a_rig_with_a_non_number(tmp_path, capsys, field, value):
    """``command_gain_nA_per_V: .nan`` sent NaN volts and the run exited 0."""
    doc = RIG.model_dump(mode="json")
    text = yaml.safe_dump(doc, sort_keys=False)
    old = f"    {field}: {doc['pipette']['barrels'][1][field]}\n"
    assert old in text
    i = text.index(old, text.index("name: gaba"))
    rig = tmp_path / "rig.yaml"
    rig.write_text(text[:i] + f"    {field}: {value}\n" + text[i + len(old):])
    proto = tmp_path / "p.yaml"
    proto.write_text("steps:\n  - eject: {barrel: gaba, current_nA: 10, duration_s: 1}\n")
    code = main(["protocol", "check", str(proto), "--rig", str(rig)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"{rig}: pipette.barrels.1.{field}: Input should be a " in err


# --- any number of any example protocol ----------------------------------------------------------
def _number_paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _number_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _number_paths(v, (*prefix, i))
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield prefix, node


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "protocols" / "examples").glob("*.yaml"))
EXAMPLE_NUMBERS = [(f, path, value) for f in EXAMPLES
                   for path, value in _number_paths(yaml.safe_load(f.read_text()))]


@settings(max_examples=80, deadline=None)
@given(case=st.sampled_from(EXAMPLE_NUMBERS),
       replace=st.sampled_from(["true", "false", "text", ".nan", ".inf", "-.inf"]))
def test_any_number_of_an_example_protocol_as_a_non_number_is_refused_naming_it(case, replace):
    f, path, value = case
    doc = yaml.safe_load(f.read_text())
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = {"true": True, "false": False, "text": str(value), ".nan": math.nan, ".inf": math.inf,
                      "-.inf": -math.inf}[replace]
    msg = _refused(doc, f.name)
    fields = {".".join(str(p) for p in path)}
    if isinstance(path[-1], int):  # an item of a list of numbers: true/false and text name the list
        fields.add(".".join(str(p) for p in path[:-1]))
    assert any(f"{f.name}: {field}: " in msg for field in fields), msg


# --- the dry run's schedule is the engine's: slew-limited ramps are checked --------------------
def test_the_dry_run_checks_slew_limited_ramps_as_the_engine_does():
    """Three ramps each within its limits, together 140 nA on the way (limit 120 nA) though
    every target is within it: the engine's schedule refuses the third command, so must the
    dry run (it ignored the slew limit and said OK)."""
    from daq.errors import CurrentLimitError
    from daq.pipette import Pipette
    from daq.schedule import AOSchedule
    from protocols.commands import SetCurrent

    def barrel(name, **kw):
        return {"name": name, "drug": "x", "max_eject_nA": 150, "ao_channel": f"Dev1/ao{name}", **kw}

    pipette = Pipette.model_validate({"max_total_nA": 120, "slew_limit_nA_per_ms": 1.0, "barrels": [
        barrel("a", polarity=-1, retain_nA=50), barrel("c", polarity=-1, retain_nA=50),
        barrel("b", drug="NaCl", role="control"), barrel("d", drug="NaCl", role="control")]})

    def plan():
        yield SetCurrent("a", -50)  # +50 -> -50 nA: 100 ms down
        yield SetCurrent("b", 40)  # 0 -> 40 nA: 40 ms up
        yield SetCurrent("d", 40)  # at 40 ms: 10 + 50 + 40 + 40 = 140 nA
        yield Wait(1)

    engine_schedule = AOSchedule(pipette, rate_hz=20000.0)
    engine_schedule.set_current("a", -50, 0)
    engine_schedule.set_current("b", 40, 0)
    with pytest.raises(CurrentLimitError, match="net current of the barrels 140 nA exceeds max_total_nA 120 nA"):
        engine_schedule.set_current("d", 40, 0)
    res = dry_run(plan(), pipette, 20000.0)
    assert not res.ok
    assert len(res.errors) == 1
    assert res.errors[0].endswith("set d to +40 nA at 0.000 s, in step 'start': refused at sample 0 (protocol): net "
                                  "current of the barrels 140 nA exceeds max_total_nA 120 nA")
    assert dry_run(plan(), pipette.model_copy(update={"slew_limit_nA_per_ms": None}), 20000.0).ok
