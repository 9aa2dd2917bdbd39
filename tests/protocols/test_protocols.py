"""YAML protocols, the runner on the sample clock, and the dry run."""

import numpy as np
import pytest

from daq.engine import Engine, EventLogged
from daq.errors import ConfigError
from daq.types import EventKind
from mock_daq import SimDevice, load_preset
from protocols.commands import Eject, Retain, Wait
from protocols.dryrun import dry_run
from protocols.runner import PlanRunner
from protocols.yaml_format import load_protocol, parse_protocol

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


def test_yaml_steps_dry_run_timeline(tmp_path, pipette):
    p = tmp_path / "p.yaml"
    p.write_text(STEPS)
    lp = load_protocol(p)
    dr = dry_run(lp.build(), pipette, 1000.0)
    assert dr.ok, dr.errors
    ej = [e for e in dr.events if e.kind == EventKind.EJECT]
    assert [(e.sample_index, e.barrel, e.current_nA) for e in ej] == [(1500, "gaba", 20.0)]
    ret = [e for e in dr.events if e.kind == EventKind.RETAIN and e.text != "initial"]
    assert ret[0].sample_index == 3500
    assert dr.duration_s == pytest.approx(4.5, abs=0.01)
    assert dr.eject_charge_nC["gaba"] == pytest.approx(40.0)


def test_yaml_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"steps\.1.*eject.*current_nA"):
        parse_protocol({"steps": [{"wait": 1}, {"eject": {"barrel": "g", "current_nA": "lots"}}]}, "f.yaml")
    with pytest.raises(ConfigError, match="either 'plan'"):
        parse_protocol({"name": "x"}, "f.yaml")
    bad = tmp_path / "b.yaml"
    bad.write_text("plan: dose_response\nparams: {barrel: glu, currents: [1]}\n")
    with pytest.raises(ConfigError, match="missing a required argument: 'currents_nA'"):
        load_protocol(bad)
    bad.write_text("plan: no_such_plan\n")
    with pytest.raises(ConfigError, match="registered plans"):
        load_protocol(bad)


def test_limit_violation_is_reported_by_the_dry_run(pipette):
    def plan():
        yield Wait(1)
        yield Eject("gaba", 500)
        yield Wait(1)

    dr = dry_run(plan(), pipette, 1000.0)
    assert not dr.ok
    assert "gaba" in dr.errors[0] and "500" in dr.errors[0]


def test_dry_run_equals_real_run_on_the_simulated_rig_sample_for_sample():
    rig = load_preset("cortex")

    def plan():
        yield Wait(0.777)
        yield Eject("glu", 30)
        yield Wait(1.2345)
        yield Retain("glu")
        yield Eject("gaba", 10)
        yield Wait(0.5)

    dr = dry_run(plan(), rig.pipette, rig.rate_hz)
    events = []
    eng = Engine(SimDevice(rig, seed=1), rig.acquisition_config(), rig.pipette, runner=PlanRunner(plan()),
                 stop_when_protocol_ends=True)
    eng.subscribe(lambda ev: events.append(ev.event) if isinstance(ev, EventLogged) else None)
    eng.run()

    def key(evs):
        return [(e.sample_index, str(e.kind), e.barrel, e.current_nA) for e in evs]

    assert key(events) == key(dr.events)
    ej = [e for e in events if e.kind == EventKind.EJECT]
    assert ej[0].sample_index == round(0.777 * rig.rate_hz)


def test_block_size_does_not_move_the_timeline(pipette):
    def plan():
        yield Wait(0.3333)
        yield Eject("glu", 10)
        yield Wait(0.1)

    a = dry_run(plan(), pipette, 30000.0, block_s=0.05)
    b = dry_run(plan(), pipette, 30000.0, block_s=0.7)
    assert [(e.sample_index, e.kind) for e in a.events] == [(e.sample_index, e.kind) for e in b.events]


def test_bundled_example_passes_dry_run():
    from importlib import resources

    rig = load_preset("cortex")
    for f in (resources.files("protocols") / "examples").iterdir():
        if f.name.endswith(".yaml"):
            lp = load_protocol(str(f))
            dr = dry_run(lp.build(), rig.pipette, rig.rate_hz)
            assert dr.ok, (f.name, dr.errors)
            assert np.isfinite(dr.duration_s)
