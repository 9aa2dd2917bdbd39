"""Rig files are refused, in one line per problem naming the file and the field, wherever a
number could not drive a run: .nan/.inf anywhere, true/false or text for a number, gains
that send 0 V or nothing sensible, slew limits no schedule can meet, retain currents the
balance barrel cannot carry.  YAML itself: duplicate keys refused, errors name the file."""

from __future__ import annotations

import copy
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.config_file import parse_yaml
from daq.errors import ConfigError
from daq.pipette import MAX_RAMP_S
from daq.rig import load_rig
from mock_daq import load_preset

BASE = load_preset("cortex").model_dump(mode="json")


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))
    else:
        yield prefix, node


NUMBER_PATHS = [p for p, v in _paths(BASE) if isinstance(v, int | float) and not isinstance(v, bool)]
# numbers the rig model itself types (the simulation section is checked for .nan/.inf only;
# its own model, in mock_daq, types the rest); polarity also takes words such as '+1'
TYPED_NUMBER_PATHS = [p for p in NUMBER_PATHS if p[0] != "simulation" and p[-1] != "polarity"]


def _with(path, value, doc=None):
    doc = copy.deepcopy(BASE if doc is None else doc)
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


def _write(tmp_path, doc, name="rig.yaml"):
    f = tmp_path / name
    f.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return f


def _refused(f) -> str:
    with pytest.raises(ConfigError) as err:
        load_rig(f)
    msg = str(err.value)
    assert "Traceback" not in msg
    for line in msg.splitlines():
        assert line.startswith(f"{f}: "), line
    return msg


def test_the_preset_itself_loads(tmp_path):
    assert load_rig(_write(tmp_path, BASE)).pipette.names == ("glu", "gaba", "bic", "nacl", "bal")


def test_the_fields_the_issue_found(tmp_path):
    """command_gain_nA_per_V: .nan sent NaN volts (and the run exited 0); .inf sent 0 V while
    the log said "ejected"; infinite limits were accepted."""
    for path, value in [(("pipette", "barrels", 1, "command_gain_nA_per_V"), math.nan),
                        (("pipette", "barrels", 1, "command_gain_nA_per_V"), math.inf),
                        (("pipette", "max_total_nA"), math.inf),
                        (("pipette", "barrels", 0, "max_retain_nA"), math.inf),
                        (("electrodes", 0, "range_V"), math.inf),
                        (("pipette", "slew_limit_nA_per_ms"), math.inf)]:
        msg = _refused(_write(tmp_path, _with(path, value)))
        assert ".".join(map(str, path)) + ": Input should be a finite number" in msg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(NUMBER_PATHS), value=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_a_non_finite_number_anywhere_is_refused_naming_the_field(tmp_path, path, value):
    msg = _refused(_write(tmp_path, _with(path, value)))
    assert ".".join(map(str, path[1:])) in msg  # (polarity words: "polarity nan is not one of +1, -1, ...")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(TYPED_NUMBER_PATHS), as_text=st.booleans())
def test_a_number_given_as_true_false_or_text_is_refused(tmp_path, path, as_text):
    old = BASE
    for k in path:
        old = old[k]
    value = str(old) if as_text else True
    msg = _refused(_write(tmp_path, _with(path, value)))
    assert f"{'.'.join(map(str, path))}: Input should be a valid number, not {'text' if as_text else 'true/false'}" in msg


@pytest.mark.parametrize("gain, accepted", [(0, False), (-100.0, True), (1e5, True), (1e300, False), (-1e6, False)])
def test_command_gains_are_non_zero_and_of_a_sane_size(tmp_path, gain, accepted):
    f = _write(tmp_path, _with(("pipette", "barrels", 1, "command_gain_nA_per_V"), gain))
    if accepted:
        load_rig(f)
    else:
        assert "command_gain_nA_per_V" in _refused(f) and "nA/V" in _refused(f)


@pytest.mark.parametrize("gain, accepted", [(0, False), (1e-300, False), (0.02, True), (-0.05, True), (1e9, False)])
def test_monitor_gains_are_non_zero_and_of_a_sane_size(tmp_path, gain, accepted):
    f = _write(tmp_path, _with(("pipette", "barrels", 1, "monitor_gain_V_per_nA"), gain))
    if accepted:
        load_rig(f)
    else:
        assert "monitor_gain_V_per_nA" in _refused(f)


@pytest.mark.parametrize("slew", [1e-9, 0.01])
def test_a_slew_limit_no_schedule_can_meet_is_refused(tmp_path, slew):
    """1e-9 nA/ms passed ``protocol check`` and the run died at the first ejection
    (MemoryError: 14.6 TiB for the ramp); every barrel must cross its range in 10 s."""
    msg = _refused(_write(tmp_path, _with(("pipette", "slew_limit_nA_per_ms"), slew)))
    assert f"slew_limit_nA_per_ms {slew:g} is too slow" in msg
    assert f"ramps must fit in {MAX_RAMP_S:g} s" in msg and "at least 0.03 nA/ms" in msg  # nacl: -150..+150 nA


def test_a_slew_limit_that_fits_is_accepted(tmp_path):
    assert load_rig(_write(tmp_path, _with(("pipette", "slew_limit_nA_per_ms"), 0.03))).pipette.slew_limit_nA_per_ms


def test_retain_currents_the_balance_barrel_cannot_carry_are_refused(tmp_path):
    f = _write(tmp_path, _with(("pipette", "barrels", 4, "max_eject_nA"), 5))  # retains need 10 nA on bal
    msg = _refused(f)
    assert "safe currents" in msg and "10 nA exceeds its limit 5 nA" in msg


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path):
    """PyYAML reads 1e-9 as text; ionto reads it as the number everybody means."""
    f = tmp_path / "rig.yaml"
    f.write_text(yaml.safe_dump(BASE, sort_keys=False).replace("rate_hz: 20000.0", "rate_hz: 2e4"))
    assert load_rig(f).rate_hz == 20000.0


def test_a_duplicate_key_is_refused_with_the_file_and_line(tmp_path):
    text = yaml.safe_dump(BASE, sort_keys=False).replace("  max_total_nA: 400.0\n",
                                                         "  max_total_nA: 400.0\n  max_total_nA: 40.0\n")
    f = tmp_path / "rig.yaml"
    f.write_text(text)
    line = text.splitlines().index("  max_total_nA: 40.0") + 1
    msg = _refused(f)
    assert f"not valid YAML at line {line}, column 3: duplicate key 'max_total_nA' (first at line {line - 1})" in msg


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "x:\n  - {b: 1, b: 1}\n", "? a\n: 1\na: 2\n"])
def test_duplicate_keys_anywhere_are_refused(text):
    with pytest.raises(ConfigError, match=r"^f\.yaml: not valid YAML at line \d+, column \d+: duplicate key"):
        parse_yaml(text, "f.yaml")


def test_merge_keys_may_still_be_overridden():
    assert parse_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n", "f.yaml")["use"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: 1\n\tb: 2\n", "a: b\x07\n", "---\na: 1\n---\nb: 2\n",
                                  "? [1]\n: 2\n"])
def test_yaml_errors_are_one_line_naming_the_file_never_unicode_string(tmp_path, text):
    f = tmp_path / "my-rig.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_rig(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: not valid YAML") and "\n" not in msg and "<unicode string>" not in msg


def test_a_directory_as_a_rig_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, not the rig file"):
        load_rig(tmp_path)
