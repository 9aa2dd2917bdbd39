"""The simulator's wiring faults and hardware balance, as the current monitors show them: an
open barrel carries nothing, swapped command lines drive each other's source, a source of its
own gain scales the current, a balance barrel without an AO is balanced by the source."""

from __future__ import annotations

import numpy as np
import pytest
from simhelp import BASE_RIG, deep_update, make_rig

from daq.errors import ConfigError
from daq.schedule import AOSchedule
from daq.types import ChannelKind
from mock_daq import SimDevice


def _monitors(rig, currents_nA: dict[str, float], faults=(), n=2000) -> dict[str, float]:
    """Mean monitored current per barrel while ``currents_nA`` (others: retain) are commanded."""
    dev = SimDevice(rig, seed=1, faults=list(faults))
    stream = dev.configure(rig.acquisition_config())
    sched = AOSchedule(rig.pipette)
    sched.set_currents(currents_nA, 0)
    dev.write_ao(0, sched.render_volts(0, 2 * n))
    dev.start()
    block = dev.read(n, 5.0)
    return {ch.barrel: float(stream.to_physical(block.data[:, i], i).mean())
            for i, ch in enumerate(stream.channels) if ch.kind == ChannelKind.CURRENT_MONITOR}


def test_an_open_barrel_carries_no_current_whatever_is_commanded():
    rig = make_rig()
    mon = _monitors(rig, {"gaba": 40.0}, [{"kind": "open", "barrel": "gaba"}])
    assert abs(mon["gaba"]) < 0.5
    assert mon["glu"] == pytest.approx(15.0, abs=0.5)  # the others as commanded


def test_swapped_command_lines_put_each_barrels_current_on_the_others_monitor():
    rig = make_rig()
    mon = _monitors(rig, {"gaba": 40.0}, [{"kind": "swap", "barrels": ["glu", "gaba"]}])
    assert mon["glu"] == pytest.approx(40.0, abs=0.5)  # gaba's command drives glu's source
    assert mon["gaba"] == pytest.approx(15.0, abs=0.5)  # glu's retain (+15) drives gaba's


def test_a_balance_barrel_without_an_analog_output_is_balanced_by_the_source():
    barrels = [dict(b) for b in BASE_RIG["pipette"]["barrels"]]
    barrels[4]["ao_channel"] = ""
    rig = make_rig(pipette=deep_update(BASE_RIG["pipette"], {"barrels": barrels}))
    assert rig.pipette.balance.ao_channel == ""
    mon = _monitors(rig, {"gaba": 40.0, "nacl": -25.0})
    others = mon["glu"] + mon["gaba"] + mon["bic"] + mon["nacl"]
    assert mon["bal"] == pytest.approx(-others, abs=0.5)
    assert mon["bal"] == pytest.approx(-20.0, abs=0.5)  # -(15 + 40 - 10 - 25)


@pytest.mark.parametrize(("fault", "says"), [
    ({"kind": "open", "barrel": "nope"}, "faults.0.barrel: no barrel 'nope'"),
    ({"kind": "swap", "barrels": ["glu", "nope"]}, "faults.0.barrels: no barrel 'nope'"),
    ({"kind": "swap", "barrels": ["glu", "glu"]}, "a swap needs two different barrels"),
])
def test_a_wiring_fault_naming_a_barrel_the_rig_lacks_is_one_line_naming_the_field(fault, says):
    rig = make_rig({"faults": [fault]})
    with pytest.raises(ConfigError) as err:
        SimDevice(rig)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_wiring_faults_are_announced_in_the_event_log():
    rig = make_rig()
    dev = SimDevice(rig, seed=1, faults=[{"kind": "open", "barrel": "bic"}, {"kind": "swap", "barrels": ["glu", "gaba"]}])
    dev.configure(rig.acquisition_config())
    dev.write_ao(0, np.zeros((4000, len(rig.pipette.ao_barrels()))))
    dev.start()
    dev.read(1000, 5.0)
    texts = [e.text for e in dev.drain_events()]
    assert any("'bic' open" in t for t in texts) and any("'glu' and 'gaba' are swapped" in t for t in texts)
