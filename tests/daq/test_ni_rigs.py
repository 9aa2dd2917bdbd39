"""``daq.ni.rigs.rig_on_device``: a rig's every physical channel moves onto the NI device(s) —
inputs, outputs, voltage monitors, the marker and the interlock line — keeping its number."""

from daq.ni.rigs import rig_on_device
from daq.rig import parse_rig
from mock_daq.presets import load_preset


def _rig_with_every_kind_of_channel():
    d = load_preset("cortex").model_dump(mode="json")
    for k, b in enumerate(d["pipette"]["barrels"]):
        b.update(voltage_monitor_channel=f"sim/ai{10 + k}", voltage_monitor_gain_V_per_V=0.1)
    d["marker"] = {"physical": "sim/ai15"}
    d["interlock"] = {"line": "sim/port0/line3"}
    return parse_rig(d, "test rig")


def _devices(rig):
    ins = [e.physical for e in rig.electrodes] + [rig.marker.physical]
    ins += [c for b in rig.pipette.barrels for c in (b.monitor_channel, b.voltage_monitor_channel) if c]
    outs = [b.ao_channel for b in rig.pipette.barrels if b.ao_channel]
    return {c.split("/")[0] for c in ins}, {c.split("/")[0] for c in outs}, rig.interlock.line


def test_every_channel_moves_onto_one_board():
    rig = rig_on_device(_rig_with_every_kind_of_channel(), "Dev1")
    assert _devices(rig) == ({"Dev1"}, {"Dev1"}, "Dev1/port0/line3")
    assert rig.marker.physical == "Dev1/ai15"
    assert [b.voltage_monitor_channel for b in rig.pipette.barrels][:2] == ["Dev1/ai10", "Dev1/ai11"]


def test_a_chassis_takes_inputs_outputs_and_lines_on_their_own_modules():
    rig = rig_on_device(_rig_with_every_kind_of_channel(), "cDAQ1Mod1", ao_device="cDAQ1Mod2",
                        line_device="cDAQ1")
    assert _devices(rig) == ({"cDAQ1Mod1"}, {"cDAQ1Mod2"}, "cDAQ1/port0/line3")
