"""Current-source presets in rig files: every value has a basis, a preset fills in only what the
rig file leaves out, and what it cannot fill in is one line naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import daq.current_sources as cs
from daq.current_sources import CONFIRM, SOURCE_FIELDS, CurrentSource, get_source, source_names
from daq.errors import ConfigError
from daq.pipette import Pipette

GLU = {"name": "glu", "drug": "glutamate", "polarity": -1, "retain_nA": 15, "max_eject_nA": 150,
       "ao_channel": "Dev1/ao0"}


def _pipette(barrel_changes=None, **pipette):
    return Pipette.from_mapping({**pipette, "barrels": [{**GLU, **(barrel_changes or {})}]}, "rig.yaml: pipette")


def test_the_four_sources_labs_own_are_presets_and_every_value_has_a_basis():
    assert source_names() == ["dagan-ion-100", "neurophore-bh2", "npi-mvcs", "wpi-260"]
    for name in source_names():
        src = get_source(name)
        assert all(src.basis[f] for f in SOURCE_FIELDS)
        for f in ("command_gain_nA_per_V", "monitor_gain_V_per_nA", "max_current_nA", "compliance_V"):
            if getattr(src, f) is None:  # not known: the basis says to read it off the unit
                assert CONFIRM in src.basis[f], (name, f)


def test_a_preset_without_a_basis_for_a_value_is_refused():
    with pytest.raises(ValueError, match="no basis"):
        CurrentSource(name="x", basis={"command_gain_nA_per_V": "manual"})


def test_a_pipette_source_gives_its_known_gain_to_every_barrel_that_names_no_source():
    pip = _pipette(source="neurophore-bh2")
    assert pip.barrels[0].source == "neurophore-bh2" and pip.barrels[0].command_gain_nA_per_V == 200


@settings(max_examples=50, deadline=None)
@given(gain=st.sampled_from([10.0, 20.0, 50.0, 100.0, 500.0, 1000.0]), name=st.sampled_from(source_names()))
def test_an_explicit_gain_in_the_rig_file_always_wins_over_the_preset(gain, name):
    pip = _pipette({"command_gain_nA_per_V": gain, "max_eject_nA": min(150.0, 10 * gain)}, source=name)
    assert pip.barrels[0].command_gain_nA_per_V == gain


def test_a_gain_the_preset_does_not_know_is_one_line_naming_the_field():
    with pytest.raises(ConfigError) as err:
        _pipette(source="npi-mvcs")
    msg = str(err.value)
    assert msg.startswith("rig.yaml: pipette: barrels.0: source 'npi-mvcs'") and "give command_gain_nA_per_V" in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError, match="give monitor_gain_V_per_nA"):
        _pipette({"command_gain_nA_per_V": 100, "monitor_channel": "Dev1/ai1"}, source="npi-mvcs")


def test_an_unknown_source_lists_the_presets():
    with pytest.raises(ConfigError, match=r"no current source preset 'acme'; presets are \['dagan-ion-100'"):
        _pipette({"source": "acme"})


def test_a_limit_beyond_the_sources_range_is_refused(monkeypatch):
    real = cs.current_sources()
    small = real["npi-mvcs"].model_copy(update={"max_current_nA": 100.0, "command_gain_nA_per_V": 100.0})
    monkeypatch.setattr(cs, "current_sources", lambda: {**real, "npi-mvcs": small})
    with pytest.raises(ConfigError, match="150 nA is beyond the 100 nA the source 'npi-mvcs' can deliver"):
        _pipette({"source": "npi-mvcs"})
    assert _pipette({"source": "npi-mvcs", "max_eject_nA": 100}).barrels[0].max_eject_nA == 100
