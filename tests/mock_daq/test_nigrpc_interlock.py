"""X Series digital lines, the DIO watchdog and the simulated current source's STANDBY/ENABLE
input, driven through ``nidaqmx`` over gRPC.

X Series User Manual, "Watchdog Timer": on expiry the lines go to their safe states and the
device ignores digital writes until the watchdog is disarmed (NI-DAQmx: -200678)."""

from __future__ import annotations

import time

import grpc
import nidaqmx
import numpy as np
import pytest
from nidaqmx.constants import AcquisitionType, Level, LineGrouping
from nidaqmx.errors import DaqError
from nidaqmx.system.watchdog import DOExpirationState, WatchdogTask

from daq.ni.rigs import rig_on_device
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer


def wait_for(cond, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def rig():
    return rig_on_device(load_preset("cortex"), "Dev1")


@pytest.fixture
def server(rig):
    with SimNIServer(rig, port=0, speed=1.0, seed=4, preset="cortex") as s:
        yield s


@pytest.fixture
def channel(server):
    ch = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield ch
    ch.close()


def opts(channel, name: str = ""):
    return nidaqmx.GrpcSessionOptions(channel, name)


def do_task(channel, lines: str, name: str = "do", grouping=LineGrouping.CHAN_PER_LINE) -> nidaqmx.Task:
    t = nidaqmx.Task(name, grpc_options=opts(channel, name))
    t.do_channels.add_do_chan(lines, line_grouping=grouping)
    return t


def test_lines_follow_on_demand_writes(server, channel):
    hw = server.hardware
    assert [hw.line_level(f"port0/line{i}") for i in range(8)] == [None] * 8  # power-up: tristate
    one = do_task(channel, "Dev1/port0/line0")
    one.write(True)  # WriteDigitalLines
    assert hw.line_level("Dev1/port0/line0") is True
    one.write(False)
    assert hw.line_level("port0/line0") is False
    port = do_task(channel, "Dev1/port0/line1:7", "port", LineGrouping.CHAN_FOR_ALL_LINES)
    port.write(0b1010_0110)  # WriteDigitalU32: bit k is line k
    assert [hw.line_level(f"port0/line{i}") for i in range(1, 8)] == [True, True, False, False, True, False, True]
    per_line = do_task(channel, "Dev1/port0/line2:3", "pair")  # lines of 'port' too: it is not running
    per_line.write([False, True])  # one boolean per channel
    assert [hw.line_level("port0/line2"), hw.line_level("port0/line3")] == [False, True]
    for t in (one, port, per_line):
        t.close()


def test_a_running_do_task_reserves_its_lines(server, channel):
    held = do_task(channel, "Dev1/port0/line0", "held")
    held.start()
    held.write(True)
    other = do_task(channel, "Dev1/port0/line0", "other")
    with pytest.raises(DaqError) as info:
        other.write(False)
    assert info.value.error_code == -50103 and "Dev1/port0/line0" in str(info.value)
    assert server.hardware.line_level("port0/line0") is True
    held.close()
    other.write(False)
    other.close()


def test_the_interlock_line_gates_every_barrel_current(server, channel, rig):
    hw = server.hardware
    assert hw.interlock_line() == "Dev1/port0/line0"
    assert hw.interlock_enabled()  # never driven: unwired counts as enabled
    gain = rig.pipette.barrel("glu").monitor_gain_V_per_nA
    ai = nidaqmx.Task("ai", grpc_options=opts(channel, "ai"))
    ai.ai_channels.add_ai_voltage_chan("Dev1/ai1")  # glutamate's current monitor
    ai.timing.cfg_samp_clk_timing(20_000, sample_mode=AcquisitionType.CONTINUOUS, samps_per_chan=100_000)
    ao = nidaqmx.Task("ao", grpc_options=opts(channel, "ao"))
    ao.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    ao.write(-0.6)  # on demand: glutamate ejects -60 nA
    lock = do_task(channel, "Dev1/port0/line0", "lock")
    lock.write(True)
    ai.start()
    first = np.asarray(ai.read(2000, timeout=10.0)) / gain
    assert np.median(first) == pytest.approx(-60.0, abs=2.0)
    lock.write(False)  # STANDBY
    assert not hw.interlock_enabled()
    ai.read(200, timeout=10.0)  # (the samples around the switch)
    standby = np.asarray(ai.read(2000, timeout=10.0)) / gain
    assert np.median(standby) == pytest.approx(0.0, abs=2.0)  # 0 nA whatever the AO command
    assert hw.output_levels()[0] == pytest.approx(-0.6)  # the DAC still commands the ejection
    lock.write(True)
    ai.read(200, timeout=10.0)
    again = np.asarray(ai.read(2000, timeout=10.0)) / gain
    assert np.median(again) == pytest.approx(-60.0, abs=2.0)
    for t in (ai, ao, lock):
        t.close()


def test_dio_watchdog_expires_to_standby_and_blocks_writes_until_cleared(server, channel):
    hw = server.hardware
    lock = do_task(channel, "Dev1/port0/line0", "lock")
    lock.write(True)
    wd = WatchdogTask("Dev1", "wd", 60.0, grpc_options=opts(channel, "wd"))
    wd.cfg_watchdog_do_expir_states([DOExpirationState(physical_channel="Dev1/port0/line0",
                                                       expiration_state=Level.LOW)])
    wd.start()
    wd.reset_timer()
    wd.timeout = 0.2
    assert hw.interlock_enabled()
    # the client stops resetting the watchdog
    assert wait_for(hw.watchdog_expired)
    assert hw.line_level("port0/line0") is False and not hw.interlock_enabled()
    with pytest.raises(DaqError) as info:
        lock.write(True)
    assert info.value.error_code == -200678
    with pytest.raises(DaqError) as info:
        wd.reset_timer()
    assert info.value.error_code == -200644
    assert not hw.interlock_enabled()
    wd.timeout = 60.0
    wd.clear_expiration()  # X Series: disarmed; the line keeps its state until written
    assert not hw.watchdog_expired() and hw.line_level("port0/line0") is False
    lock.write(True)
    assert hw.interlock_enabled()
    wd.close()
    lock.close()


def test_reset_device_tristates_the_lines_and_disarms_the_dio_watchdog(server, channel):
    hw = server.hardware
    lock = do_task(channel, "Dev1/port0/line0", "lock")
    lock.write(True)
    wd = WatchdogTask("Dev1", "wd", 0.05, grpc_options=opts(channel, "wd"))
    wd.cfg_watchdog_do_expir_states([DOExpirationState(physical_channel="Dev1/port0/line0",
                                                       expiration_state=Level.LOW)])
    wd.start()
    assert wait_for(hw.watchdog_expired)
    nidaqmx.system.System.remote(opts(channel)).devices["Dev1"].reset_device()
    assert not hw.watchdog_expired()
    assert hw.line_level("port0/line0") is None  # power-up state: tristate, pulled low
    assert not hw.interlock_enabled()  # a driven interlock input stays wired: standby
    lock.write(True)
    assert hw.interlock_enabled()
    wd.close()
    lock.close()


def test_no_interlock_and_an_active_low_one(rig):
    with SimNIServer(rig, port=0, interlock=None) as s:
        assert s.hardware.interlock_line() is None
        with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
            t = do_task(ch, "Dev1/port0/line0")
            t.write(False)
            assert s.hardware.interlock_enabled()
            t.close()
    with SimNIServer(rig, port=0, interlock="port0/line5", interlock_enable_high=False) as s:
        assert s.hardware.interlock_line() == "Dev1/port0/line5"
        with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
            t = do_task(ch, "Dev1/port0/line5")
            t.write(True)
            assert not s.hardware.interlock_enabled()
            t.write(False)
            assert s.hardware.interlock_enabled()
            t.close()


def test_the_rigs_interlock_line_is_the_default(rig):
    from daq.rig import InterlockConfig

    wired = rig.model_copy(update={"interlock": InterlockConfig(line="Dev1/port0/line3", enable_high=False)})
    with SimNIServer(wired, port=0) as s:
        assert s.hardware.interlock_line() == "Dev1/port0/line3" and not s.hardware.port.enable_high


def test_a_cdaq_module_has_no_digital_lines_and_no_interlock(rig):
    with SimNIServer(rig, port=0, chassis="cDAQ1") as s:
        assert s.hardware.interlock_line() is None
        with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
            t = nidaqmx.Task("do", grpc_options=opts(ch, "do"))
            with pytest.raises(DaqError) as info:
                t.do_channels.add_do_chan("Dev1/port0/line0")
            assert info.value.error_code == -200170
            t.close()
