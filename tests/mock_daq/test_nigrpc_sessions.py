"""The simulated NI board's named sessions, reservations and device reset, driven through the
unmodified ``nidaqmx`` package over gRPC (as an NI gRPC Device Server in front of a board).

Session semantics: github.com/ni/grpc-device ``source/server/session_repository.cpp``;
reservation: NI KB "Error -50103 in NI-DAQmx"; reset: DAQmxResetDevice (C Reference)."""

from __future__ import annotations

import grpc
import nidaqmx
import pytest
from nidaqmx.errors import DaqError, RpcError
from nidaqmx.grpc_session_options import SessionInitializationBehavior as SIB

from daq.ni.rigs import rig_on_device
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer


@pytest.fixture
def server():
    with SimNIServer(rig_on_device(load_preset("cortex"), "Dev1"), port=0, speed=1.0, seed=1, preset="cortex") as s:
        yield s


class Client:
    """One client process's view: its own gRPC channel (closing it = the client going away)."""

    def __init__(self, port: int):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def task(self, name: str, behavior: SIB = SIB.AUTO) -> nidaqmx.Task:
        return nidaqmx.Task(name, grpc_options=nidaqmx.GrpcSessionOptions(self.channel, name, initialization_behavior=behavior))

    def device(self, name: str = "Dev1"):
        opts = nidaqmx.GrpcSessionOptions(self.channel, "")
        return nidaqmx.system.System.remote(opts).devices[name]

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def clients(server):
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(server.port))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_auto_creates_then_attaches_to_the_same_session(server, clients):
    a, b = clients(), clients()
    t1 = a.task("ionto:Dev1:ao")
    assert t1._close_on_exit  # new_session_initialized = True
    t1.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    t2 = b.task("ionto:Dev1:ao")  # AUTO: attaches
    assert not t2._close_on_exit  # new_session_initialized = False
    assert t2.name == "ionto:Dev1:ao" and t2.channel_names == ["Dev1/ao0"]
    assert server.hardware.session_names() == ["ionto:Dev1:ao"]


def test_initialize_fails_when_the_session_exists(server, clients):
    a = clients()
    a.task("t")
    with pytest.raises(RpcError) as info:
        a.task("t", SIB.INITIALIZE_SERVER_SESSION)
    assert info.value.rpc_code == grpc.StatusCode.ALREADY_EXISTS
    assert str(info.value).endswith(": Cannot initialize 't' when a session already exists.")


def test_attach_fails_when_there_is_no_session(server, clients):
    with pytest.raises(RpcError) as info:
        clients().task("nobody", SIB.ATTACH_TO_SERVER_SESSION)
    assert info.value.rpc_code == grpc.StatusCode.FAILED_PRECONDITION
    assert str(info.value).endswith(": Cannot attach to 'nobody' because a session has not been initialized.")
    assert server.hardware.session_names() == []


def test_unnamed_tasks_get_generated_session_names(server, clients):
    a = clients()
    t1, t2 = a.task(""), a.task("")
    assert t1.name == "_unnamedTask<0>" and t2.name == "_unnamedTask<1>"  # DAQmx's task names
    assert server.hardware.session_names() == ["ni:generated:1", "ni:generated:2"]  # grpc-device's
    t1.close()
    assert server.hardware.session_names() == ["ni:generated:2"]


def test_a_dead_clients_task_stays_with_its_channels_reserved_and_ao_held(server, clients):
    dead = clients()
    t = dead.task("ionto:Dev1:ao")
    t.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    t.start()
    t.write(0.8)  # ejecting
    dead.close()  # the client dies without ClearTask
    assert server.hardware.session_names() == ["ionto:Dev1:ao"]
    assert server.hardware.output_levels()[0] == pytest.approx(0.8)

    new = clients()
    other = new.task("ionto:Dev1:safe")
    other.ao_channels.add_ao_voltage_chan("Dev1/ao0")  # creating the channel is allowed ...
    with pytest.raises(DaqError) as info:
        other.write(0.0)  # ... reserving it (auto start) is not
    assert info.value.error_code == -50103
    assert "The specified resource is reserved" in str(info.value) and "ionto:Dev1:ao" in str(info.value)
    assert server.hardware.output_levels()[0] == pytest.approx(0.8)

    # recovery as a new client does it: attach by name, close (ClearTask), then write safe
    stale = new.task("ionto:Dev1:ao", SIB.ATTACH_TO_SERVER_SESSION)
    assert not stale._close_on_exit
    stale.close()  # nidaqmx's close() sends ClearTask even for an attached session
    assert server.hardware.session_names() == ["ionto:Dev1:safe"]
    other.write(0.0)
    assert server.hardware.output_levels()[0] == 0.0
    other.close()


def test_a_stopped_task_releases_its_channels(server, clients):
    a = clients()
    t1 = a.task("one")
    t1.ao_channels.add_ao_voltage_chan("Dev1/ao1")
    t1.start()
    t2 = a.task("two")
    t2.ao_channels.add_ao_voltage_chan("Dev1/ao1")
    with pytest.raises(DaqError) as info:
        t2.start()
    assert info.value.error_code == -50103
    t1.stop()
    t2.start()  # released by the stop
    t2.write(0.3)
    assert server.hardware.output_levels()[1] == pytest.approx(0.3)
    with pytest.raises(DaqError) as info:
        t1.start()
    assert info.value.error_code == -50103
    t1.close()
    t2.close()


def test_commit_reserves_until_unreserved(server, clients):
    from nidaqmx.constants import TaskMode

    a = clients()
    t1 = a.task("one")
    t1.ao_channels.add_ao_voltage_chan("Dev1/ao2")
    t1.control(TaskMode.TASK_COMMIT)
    t2 = a.task("two")
    t2.ao_channels.add_ao_voltage_chan("Dev1/ao2")
    with pytest.raises(DaqError) as info:
        t2.write(1.0)
    assert info.value.error_code == -50103
    t1.control(TaskMode.TASK_UNRESERVE)
    t2.write(1.0)
    t1.close()
    t2.close()


def test_using_a_cleared_session_is_an_invalid_task(server, clients):
    a = clients()
    t = a.task("gone")
    attached = a.task("gone")
    t.close()
    with pytest.raises(DaqError) as info:
        attached.start()
    assert info.value.error_code == -200088


def test_reset_device_aborts_tasks_keeps_sessions_and_zeroes_ao(server, clients):
    a = clients()
    t = a.task("held")
    t.ao_channels.add_ao_voltage_chan("Dev1/ao0:1")
    t.start()
    t.write([0.5, -0.5])
    assert list(server.hardware.output_levels()[:2]) == pytest.approx([0.5, -0.5])
    a.device().reset_device()
    assert list(server.hardware.output_levels()[:2]) == [0.0, 0.0]  # X Series: AO to 0 V
    assert server.hardware.session_names() == ["held"]  # aborted, not cleared
    other = a.task("next")
    other.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    other.write(0.2)  # the reset released the channels
    other.close()
    t.start()  # "To recover the task, use DAQmx Start"
    t.close()
    assert server.hardware.session_names() == []
