"""Recovery after a crash, ``make_safe``, the cDAQ watchdog order and the interlock line —
through the real ``nidaqmx`` package against the simulated NI-DAQmx gRPC device.

A crashed client is simulated in-process (tasks made, an ejection written and started, then
the gRPC channel dropped without closing anything) or, in tests/app/test_cli_safe.py, by
SIGKILLing a real ``ionto run``.

NAMED SESSIONS: the NI gRPC Device Server keeps every task as a named session and honours
``initialization_behavior`` (AUTO / INITIALIZE_SERVER_SESSION / ATTACH_TO_SERVER_SESSION).
Until mock_daq/nigrpc does so itself (another engineer is adding it), ``start_server`` wraps
its servicer in ``NamedSessions`` below — NI's semantics, nothing more — and says so in the
test id; once the simulated server attaches by itself the wrapper is not used.
"""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from nidaqmx._stubs import nidaqmx_pb2 as pb
from session_pb2 import Session

from daq.errors import ConfigError, DeviceError
from daq.ni import NIConnection, NIDevice
from daq.ni.recovery import BoardBusyError, make_safe, task_name
from daq.ni.rigs import rig_on_device
from daq.schedule import AOSchedule
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer
from mock_daq.nigrpc import server as server_mod
from mock_daq.nigrpc.servicer import SimNiDAQmxServicer

ATTACH, INITIALIZE = 2, 1


class NamedSessions(SimNiDAQmxServicer):
    """NI gRPC Device Server session semantics on top of the simulated servicer (used only while
    the simulated server lacks them): a named task is found by name; ATTACH to a missing one is
    NOT_FOUND, INITIALIZE of an existing one ALREADY_EXISTS, AUTO attaches when it exists."""

    def _named(self, request, context, create):
        name = request.session_name
        found = next((t for t in self.hw.tasks.values() if name and t.name == name), None)
        behavior = request.initialization_behavior
        if found is not None:
            if behavior == INITIALIZE:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"Cannot initialize '{name}': it exists.")
            return Session(name=found.name, id=found.id), False
        if behavior == ATTACH:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Cannot attach to '{name}': it has not been initialized.")
        return create(), True

    def CreateTask(self, request, context):
        def create():
            t = self.hw.create_task(request.session_name)
            return Session(name=t.name, id=t.id)
        session, new = self._named(request, context, create)
        return pb.CreateTaskResponse(task=session, new_session_initialized=new)

    def CreateWatchdogTimerTaskEx(self, request, context):
        def create():
            t = self.hw.create_watchdog(request.device_name, request.session_name, request.timeout)
            return Session(name=t.name, id=t.id)
        session, new = self._named(request, context, create)
        return pb.CreateWatchdogTimerTaskExResponse(task=session, new_session_initialized=new)


def _sim_attaches() -> bool:
    """Does the simulated server itself honour ATTACH_TO_SERVER_SESSION?"""
    with SimNIServer(load_preset("cortex"), port=0, preset="cortex") as server:
        conn = NIConnection("127.0.0.1", server.port)
        t = conn.task("probe")
        try:
            found = conn.attach("probe")
            missing = conn.attach("no-such-task")
            return found is not None and missing is None
        except DeviceError:
            return False
        finally:
            t.close()
            conn.close()


SIM_ATTACHES = _sim_attaches()


def start_server(monkeypatch=None, **kw) -> SimNIServer:
    """A simulated board that keeps named sessions like NI's server (see the module docstring)."""
    kw.setdefault("speed", 1.0)
    kw.setdefault("preset", "cortex")
    if SIM_ATTACHES:
        return SimNIServer(load_preset("cortex"), port=0, **kw).start()
    orig = server_mod.SimNiDAQmxServicer
    server_mod.SimNiDAQmxServicer = NamedSessions
    try:
        return SimNIServer(load_preset("cortex"), port=0, **kw).start()
    finally:
        server_mod.SimNiDAQmxServicer = orig


@pytest.fixture
def ni_rig():
    return rig_on_device(load_preset("cortex"), "Dev1")


@pytest.fixture
def board():
    server = start_server(seed=5)
    yield server
    server.stop()


def _device(server, rig, **kw) -> NIDevice:
    conn = NIConnection("127.0.0.1", server.port)
    return NIDevice("Dev1", conn, safe_volts=rig.pipette.safe_volts(), ao_limits_V=rig.pipette.ao_limits_V(),
                    name=server.url("Dev1"), **kw)


def _wait(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def _is_safe(server, rig) -> bool:
    return bool(np.allclose(server.hardware.output_levels(), rig.pipette.safe_volts(), atol=1e-9))


def _crash_while_ejecting(server, rig, glu_nA: float = -100.0, **kw) -> None:
    """A client that makes its tasks, ejects glutamate, and dies: the gRPC channel is dropped
    without stopping or clearing anything (what a SIGKILL does)."""
    dev = _device(server, rig, **kw)
    cfg = rig.acquisition_config()
    dev.configure(cfg)
    sched = AOSchedule(rig.pipette, rate_hz=cfg.rate_hz)
    sched.set_current("glu", glu_nA, 0)
    dev.write_ao(0, sched.render_volts(0, 20 * cfg.block))  # 1 s of ejection, then it runs dry
    dev.start()
    dev.read(cfg.block, 5.0)
    glu = rig.pipette.barrel("glu")
    _wait(lambda: server.hardware.output_levels()[0] == pytest.approx(glu_nA / glu.command_gain_nA_per_V),
          10, "the ejection on the outputs")
    dev._keepalive_stop()
    dev.conn._channel.close()  # dead: nothing stopped, nothing cleared


def test_names_are_deterministic(board, ni_rig):
    dev = _device(board, ni_rig)
    dev.configure(ni_rig.acquisition_config())
    names = {t.name for t in board.hardware.tasks.values()}
    assert names == {"ionto:Dev1:ai", "ionto:Dev1:ao"}
    dev.close()
    assert not board.hardware.tasks


def test_after_a_crash_the_next_connection_writes_retain_first_and_runs(board, ni_rig, caplog):
    _crash_while_ejecting(board, ni_rig)
    assert {t.name for t in board.hardware.tasks.values()} == {"ionto:Dev1:ai", "ionto:Dev1:ao"}
    assert not _is_safe(board, ni_rig)  # a dead ionto keeps ejecting
    dev = _device(board, ni_rig)
    cfg = ni_rig.acquisition_config()
    t0 = time.monotonic()
    with caplog.at_level("WARNING"):
        dev.configure(cfg)
    assert dev.t_retain_written is not None and dev.t_retain_written - t0 < 5.0
    print(f"connect -> retain written after a crash: {dev.t_retain_written - t0:.3f} s")
    assert sorted(dev.recovered) == ["ionto:Dev1:ai", "ionto:Dev1:ao"]
    lines = [r.getMessage() for r in caplog.records if "cleared the tasks" in r.getMessage()]
    assert len(lines) == 1 and "ionto:Dev1:ao" in lines[0]
    assert _is_safe(board, ni_rig)  # retain, before AI/AO of this run start
    sched = AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz)
    dev.write_ao(0, sched.render_volts(0, 8 * cfg.block))
    dev.start()
    blocks = [dev.read(cfg.block, 5.0) for _ in range(3)]
    assert [b.start_index for b in blocks] == [0, cfg.block, 2 * cfg.block]
    dev.stop()
    dev.write_safe(ni_rig.pipette.safe_volts())
    dev.close()
    assert _is_safe(board, ni_rig) and not board.hardware.tasks


def test_a_live_ionto_is_refused_and_ionto_safe_takes_over(board, ni_rig):
    live = _device(board, ni_rig, ao_buffer_s=12.0)
    cfg = ni_rig.acquisition_config()
    live.configure(cfg)
    sched = AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz)
    sched.set_current("gaba", 60.0, 0)
    live.write_ao(0, sched.render_volts(0, 200 * cfg.block))  # 10 s ahead
    live.start()
    stop = threading.Event()
    failed: list[Exception] = []

    def reader():
        while not stop.is_set():
            try:
                live.read(cfg.block, 5.0)
            except DeviceError as exc:
                failed.append(exc)
                return

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        second = _device(board, ni_rig)
        with pytest.raises(BoardBusyError, match=r"another ionto is running on Dev1 .*ionto safe"):
            second.configure(cfg)
        second.close()
        assert {t.name for t in board.hardware.tasks.values()} == {"ionto:Dev1:ai", "ionto:Dev1:ao"}  # untouched
        conn = NIConnection("127.0.0.1", board.port)
        report = make_safe(conn, "Dev1", ni_rig, url=board.url("Dev1"))
        conn.close()
        assert any("took over" in n for n in report.notes)
        assert _is_safe(board, ni_rig)
        assert [lv.barrel for lv in report.levels] == [b.name for b in ni_rig.pipette.ao_barrels()]
    finally:
        stop.set()
        th.join(10)
        live.close()


def test_make_safe_without_a_rig_writes_zero_on_every_output(board, ni_rig):
    _crash_while_ejecting(board, ni_rig)
    conn = NIConnection("127.0.0.1", board.port)
    report = make_safe(conn, "Dev1", None)
    conn.close()
    assert len(report.levels) == 8 and {lv.kind for lv in report.levels} == {"0 V"}
    assert any("no rig given" in n for n in report.notes)
    assert np.allclose(board.hardware.output_levels(), 0.0)
    assert not board.hardware.tasks


def test_a_rig_on_another_device_is_one_clear_error(board, ni_rig):
    conn = NIConnection("127.0.0.1", board.port)
    with pytest.raises(ConfigError, match=r"not on 'Dev1'"):
        make_safe(conn, "Dev1", rig_on_device(load_preset("cortex"), "Dev2"), rig_path="rig.yaml")
    conn.close()


def test_a_channel_held_by_another_program_is_explained(board, ni_rig):
    """A running task that is not ionto's holds ao0: -200022 becomes one line saying what to do."""
    conn = NIConnection("127.0.0.1", board.port)
    other = conn.task("LabVIEW task")
    other.ao_channels.add_ao_voltage_chan("Dev1/ao0")
    other.start()
    other.write(0.5)
    try:
        dev = _device(board, ni_rig)
        with pytest.raises(DeviceError) as err:
            dev.configure(ni_rig.acquisition_config())
        msg = str(err.value)
        assert "\n" not in msg
        assert "a task of another program or of an ionto that did not stop holds Dev1/ao0" in msg
        assert f"ionto safe --device {board.url('Dev1')} --rig RIG" in msg
        assert any(f"NI-DAQmx error {c})" in msg for c in (-50103, -200022, -201105))
        dev.close()
    finally:
        other.close()
        conn.close()


# --- cDAQ: the watchdog before any other task --------------------------------------------------------
def _record_order(server) -> list[tuple[str, str]]:
    hw = server.hardware
    seen: list[tuple[str, str]] = []
    create, start = hw.create_task, hw.start

    def rec_create(name, *args, **kw):  # attaching to an existing task (or a refused attach) is no creation
        before = set(hw.tasks)
        out = create(name, *args, **kw)
        if set(hw.tasks) - before:
            seen.append(("create", name))
        return out

    def rec_start(task, *args, **kw):
        seen.append(("start", task.name))
        return start(task, *args, **kw)

    hw.create_task, hw.start = rec_create, rec_start
    return seen


def test_cdaq_watchdog_is_started_before_ai_and_ao(ni_rig):
    server = start_server(chassis="cDAQ1")
    try:
        seen = _record_order(server)
        dev = _device(server, ni_rig, watchdog_timeout_s=3.0)
        cfg = ni_rig.acquisition_config()
        dev.configure(cfg)
        wd = task_name("cDAQ1", "watchdog")
        assert ("start", wd) in seen
        i_wd = seen.index(("start", wd))
        later = [n for _, n in seen[i_wd + 1:]]
        assert task_name("cDAQ1", "ai") in later and task_name("cDAQ1", "ao") in later
        assert all(n != task_name("cDAQ1", "ai") for _, n in seen[:i_wd])
        # the safe task came first, and was cleared before the watchdog started
        assert seen.index(("create", task_name("cDAQ1", "safe"))) < i_wd
        # setup may take long (recorder, detector): the keep-alive holds the watchdog meanwhile
        time.sleep(1.0)
        assert "watchdog" not in [k for k, _ in server.hardware.log]
        sched = AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz)
        dev.write_ao(0, sched.render_volts(0, 10 * cfg.block))
        dev.start()
        dev.read(cfg.block, 5.0)
        dev.stop()
        dev.write_safe(ni_rig.pipette.safe_volts())
        dev.close()
        assert _is_safe(server, ni_rig)
    finally:
        server.stop()


def test_cdaq_expired_watchdog_after_a_crash_is_disarmed_and_retain_written(ni_rig):
    server = start_server(chassis="cDAQ1")
    try:
        _crash_while_ejecting(server, ni_rig, watchdog_timeout_s=3.0)
        _wait(lambda: "watchdog" in [k for k, _ in server.hardware.log], 60, "the watchdog to expire")
        assert _is_safe(server, ni_rig)  # the chassis itself put the barrels on retain
        dev = _device(server, ni_rig, watchdog_timeout_s=3.0)  # generous: a busy machine may starve the keep-alive
        cfg = ni_rig.acquisition_config()
        dev.configure(cfg)
        assert task_name("cDAQ1", "watchdog") in dev.recovered and dev.watchdog_active
        assert _is_safe(server, ni_rig)
        dev.write_ao(0, AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz).render_volts(0, 10 * cfg.block))
        dev.start()
        dev.read(cfg.block, 5.0)
        dev.close()
    finally:
        server.stop()


# --- the interlock line (X Series DIO watchdog) -------------------------------------------------------
def test_interlock_enabled_while_running_and_standby_after_the_watchdog_expires(ni_rig):
    from daq.rig import InterlockConfig

    server = start_server()
    try:
        lock = InterlockConfig(line="Dev1/port0/line0", enable_high=True, timeout_s=3.0)  # a busy machine may starve the keep-alive
        dev = _device(server, ni_rig, interlock=lock)
        cfg = ni_rig.acquisition_config()
        dev.configure(cfg)
        assert dev.interlock_mode == "watchdog"
        dev.write_ao(0, AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz).render_volts(0, 40 * cfg.block))
        dev.start()
        dev.read(cfg.block, 5.0)
        assert server.hardware.line_level(lock.line) is True  # enabled
        dev.conn._channel.close()  # ionto dies: nobody resets the DIO watchdog
        _wait(lambda: server.hardware.line_level(lock.line) is False, 30, "the line to drop to standby")
    finally:
        server.stop()
