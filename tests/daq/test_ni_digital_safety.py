"""The trial input and sync output tasks never come before retain: at a stop the safe levels are
written before the digital tasks stop, and after a crash the next ionto clears the digital tasks
the dead one left and writes retain before its own tasks exist."""

from __future__ import annotations

import pytest
from waiting import wait_until

from daq.engine import Abort, Call, Engine, EngineState
from daq.ni.rigs import rig_on_device
from daq.rig import parse_rig
from daq.types import EventKind
from mock_daq import load_preset
from tests.daq.test_ni_backend import Collect
from tests.daq.test_ni_recovery import _crash_while_ejecting, _device, _is_safe, start_server

DIO = {"trial_input": {"trial_line": "sim/port0/line1", "code_lines": ["sim/port0/line2", "sim/port0/line3"],
                       "strobe_line": "sim/port0/line4"},
       "sync_out": {"line": "sim/port0/line7", "period_s": 0.05, "width_s": 0.005}}


@pytest.fixture
def dio_rig():
    data = load_preset("cortex").model_dump(mode="python", exclude_none=True)
    return rig_on_device(parse_rig({**data, **DIO}, "test rig"), "Dev1")


@pytest.fixture
def board():
    server = start_server(seed=5)
    yield server
    server.stop()


def _dio(rig) -> dict:
    return {"trial_input": rig.trial_input, "sync_out": rig.sync_out}


def test_an_abort_writes_retain_before_the_digital_tasks_stop(board, dio_rig):
    hw = board.hardware
    order: list[str] = []
    write, stop = hw.write, hw.stop

    def spy_write(task, *a, **kw):
        if task.name.endswith(":safe"):
            order.append("retain")
        return write(task, *a, **kw)

    def spy_stop(task, *a, **kw):
        if task.name.endswith((":di", ":sync")) and task.state in ("running", "armed"):
            order.append(task.name.rsplit(":", 1)[1])
        return stop(task, *a, **kw)

    hw.write, hw.stop = spy_write, spy_stop
    dev = _device(board, dio_rig, **_dio(dio_rig))
    sink = Collect()
    eng = Engine(dev, dio_rig.acquisition_config(), dio_rig.pipette, ao_lead_s=1.0, sinks=[sink])
    eng.submit(Call(lambda c: c.set_currents({"gaba": 80.0}, 0, "eject")))
    eng.start()
    wait_until(lambda: any(e.kind == EventKind.SYNC for e in list(sink.events)), 60, what="a sync pulse logged")
    order.clear()  # (the safe levels written at connect)
    eng.submit(Abort(stop=True))
    assert eng.join(60)
    assert eng.state == EngineState.STOPPED
    assert _is_safe(board, dio_rig) and not hw.tasks
    assert order[0] == "retain" and {"di", "sync"} <= set(order[1:]), order


def test_after_a_crash_the_digital_tasks_are_cleared_and_retain_written_first(board, dio_rig):
    _crash_while_ejecting(board, dio_rig, **_dio(dio_rig))
    names = {t.name for t in board.hardware.tasks.values()}
    assert {"ionto:Dev1:di", "ionto:Dev1:sync"} <= names
    assert not _is_safe(board, dio_rig)
    dev = _device(board, dio_rig, **_dio(dio_rig))
    dev.configure(dio_rig.acquisition_config())
    assert {"ionto:Dev1:di", "ionto:Dev1:sync"} <= set(dev.recovered)
    assert _is_safe(board, dio_rig)
    dev.close()
    assert not board.hardware.tasks
