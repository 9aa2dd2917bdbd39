"""The simulated cDAQ-9189 chassis watchdog, driven through ``nidaqmx`` over gRPC.

cDAQ-9185/9189 User Manual, "Watchdog Timer": no other task may run on the chassis while the
watchdog starts (-201477); on expiry the outputs go to their expiration states and the
chassis performs no operation until it is reset (-201478)."""

from __future__ import annotations

import time

import grpc
import nidaqmx
import numpy as np
import pytest
from nidaqmx.constants import AcquisitionType, RegenerationMode, WatchdogAOExpirState
from nidaqmx.errors import DaqError
from nidaqmx.system.watchdog import AOExpirationState, WatchdogTask

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
def server():
    rig = rig_on_device(load_preset("cortex"), "Dev1")
    with SimNIServer(rig, port=0, speed=1.0, seed=2, chassis="cDAQ1", preset="cortex") as s:
        yield s


@pytest.fixture
def channel(server):
    ch = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield ch
    ch.close()


def opts(channel, name: str = ""):
    return nidaqmx.GrpcSessionOptions(channel, name)


def watchdog(channel, timeout_s: float, safe: list[float]) -> WatchdogTask:
    wd = WatchdogTask("cDAQ1", "wd", timeout_s, grpc_options=opts(channel, "wd"))
    wd.cfg_watchdog_ao_expir_states([
        AOExpirationState(physical_channel=f"Dev1/ao{i}", expiration_state=v,
                          output_type=WatchdogAOExpirState.VOLTAGE) for i, v in enumerate(safe)])
    return wd


def test_the_watchdog_does_not_start_while_another_task_runs_on_the_chassis(server, channel):
    ao = nidaqmx.Task("ao", grpc_options=opts(channel, "ao"))
    ao.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    ao.start()
    wd = watchdog(channel, 5.0, [0.15])
    with pytest.raises(DaqError) as info:
        wd.start()
    assert info.value.error_code == -201477
    assert "another task is reserved or running" in str(info.value)
    ao.stop()
    wd.start()  # nothing else running now
    ao.start()  # and other tasks may start after it
    ao.close()
    wd.close()


def test_expiry_sets_expiration_states_stops_buffered_ao_and_locks_the_chassis_until_reset(server, channel):
    hw = server.hardware
    safe = [0.15, -0.1]
    wd = watchdog(channel, 60.0, safe)  # long while the tasks start (slow on a busy machine) ...
    wd.start()
    ai = nidaqmx.Task("ai", grpc_options=opts(channel, "ai"))
    ai.ai_channels.add_ai_voltage_chan("Dev1/ai0")
    ai.timing.cfg_samp_clk_timing(20_000, sample_mode=AcquisitionType.CONTINUOUS)
    ao = nidaqmx.Task("ao", grpc_options=opts(channel, "ao"))
    ao.ao_channels.add_ao_voltage_chan("Dev1/ao0:1")
    ao.timing.cfg_samp_clk_timing(20_000, source="/Dev1/ai/SampleClock", sample_mode=AcquisitionType.CONTINUOUS)
    ao.triggers.start_trigger.cfg_dig_edge_start_trig("/Dev1/ai/StartTrigger")
    ao.out_stream.regen_mode = RegenerationMode.DONT_ALLOW_REGENERATION
    ao.write(np.tile([[-1.0], [0.5]], (1, 200_000)))  # 10 s of ejection
    ao.start()
    ai.start()
    assert wait_for(lambda: hw.output_levels()[0] == pytest.approx(-1.0), 5)
    wd.timeout = 0.2  # ... then short
    wd.reset_timer()
    # the client stops resetting the watchdog (a hung or disconnected ionto)
    assert wait_for(hw.watchdog_expired)
    assert list(hw.output_levels()[:2]) == pytest.approx(safe)
    time.sleep(0.1)
    assert list(hw.output_levels()[:2]) == pytest.approx(safe)  # buffered AO stopped: it stays there
    assert wd.expired
    for action in (lambda: ao.write(np.zeros((2, 100))), wd.reset_timer, wd.clear_expiration):
        with pytest.raises(DaqError) as info:
            action()
        assert info.value.error_code in (-201478, -200644)
    safe_task = nidaqmx.Task("safe", grpc_options=opts(channel, "safe"))
    safe_task.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    with pytest.raises(DaqError) as info:
        safe_task.write(0.0)
    assert info.value.error_code == -201478 and "Reset the chassis" in str(info.value)
    for t in (ai, ao, wd):
        t.close()
    nidaqmx.system.System.remote(opts(channel)).devices["cDAQ1"].reset_device()
    assert not hw.watchdog_expired()
    assert list(hw.output_levels()[:2]) == [0.0, 0.0]  # power-up states
    safe_task.write(0.15)
    assert hw.output_levels()[0] == pytest.approx(0.15)
    safe_task.close()


def test_a_module_reset_leaves_the_chassis_expired(server, channel):
    wd = watchdog(channel, 0.05, [0.15])
    wd.start()
    assert wait_for(server.hardware.watchdog_expired)
    system = nidaqmx.system.System.remote(opts(channel))
    system.devices["Dev1"].reset_device()
    assert server.hardware.watchdog_expired()
    system.devices["cDAQ1"].reset_device()
    assert not server.hardware.watchdog_expired()
    assert server.hardware.session_names() == ["wd"]  # aborted, still there
    wd.close()


def test_a_watchdog_reset_in_time_never_expires(server, channel):
    wd = watchdog(channel, 2.0, [0.0])  # generous: a busy machine may starve this thread for a while
    wd.start()
    end = time.monotonic() + 5.0
    while time.monotonic() < end:
        wd.reset_timer()
        time.sleep(0.05)
    assert not server.hardware.watchdog_expired()
    wd.close()


def test_watchdog_on_the_module_asks_for_the_chassis(server, channel):
    with pytest.raises(DaqError) as info:
        WatchdogTask("Dev1", "wd", 1.0, grpc_options=opts(channel, "wd"))
    assert info.value.error_code == -200662 and "specify the chassis name" in str(info.value)


def test_a_reset_that_arrives_while_the_server_is_busy_counts(server, channel):
    """The simulated server holds its lock while it builds a simulation, which a busy machine can
    stretch past the watchdog timeout; a reset sent in time then waits for the lock.  A real
    chassis resets its timer when the request arrives, so the waiting reset must keep the
    watchdog alive (the CI failure of 2026-12-06: an expired chassis after a slow start)."""
    import threading

    timeout_s = 0.5
    wd = watchdog(channel, timeout_s, [0.0])
    wd.start()
    wd.reset_timer()
    task = next(t for t in server.hardware.tasks.values() if t.name == "wd")
    hw = server.hardware
    with hw.lock:
        sender = threading.Thread(target=wd.reset_timer)
        sender.start()
        assert wait_for(lambda: task.resets_waiting == 1, 30.0), "the reset never reached the server"
        time.sleep(3 * timeout_s)  # the server stays busy well past the timeout
    sender.join(30.0)
    assert not sender.is_alive()
    assert not hw.watchdog_expired()
    wd.reset_timer()  # and the client goes on resetting it
    assert not hw.watchdog_expired()
    wd.close()


def test_a_client_that_stops_resetting_while_the_server_is_busy_expires(server, channel):
    """The other side of the rule above: no reset in flight, so the busy time counts."""
    timeout_s = 0.5
    wd = watchdog(channel, timeout_s, [0.0])
    wd.start()
    wd.reset_timer()
    hw = server.hardware
    with hw.lock:
        time.sleep(3 * timeout_s)
    assert wait_for(hw.watchdog_expired, 30.0)
    wd.close()
