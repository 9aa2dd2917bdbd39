"""An exception inside a sink (the online detector, the display, a user's sink) or the
protocol: the run stops, the barrels go to retain, the file says why — naming the sink."""

from __future__ import annotations

import numpy as np
import pytest
from harness import check_ends_safe, run_under_fault

from protocols.commands import Eject, Wait


class Broken:
    """Raises on the given call (``where``) after ``after`` blocks."""

    def __init__(self, where: str, after: int = 30):
        self.where, self.after, self.blocks = where, after, 0

    def start(self, stream):
        if self.where == "start":
            raise KeyError("no channel 'x'")

    def on_block(self, block):
        self.blocks += 1
        if self.where == "on_block" and self.blocks == self.after:
            raise ZeroDivisionError("division by zero")

    def on_events(self, events):
        if self.where == "on_events" and self.blocks >= self.after:
            raise ValueError("bad event")

    def stop(self):
        if self.where == "stop":
            raise RuntimeError("could not flush")


@pytest.mark.parametrize("where", ["on_block", "on_events"])
def test_a_sink_raising_mid_ejection_stops_the_run_safely(tmp_path, where):
    run = run_under_fault(tmp_path, sinks=[Broken(where)])
    check_ends_safe(run, expect_error=r"the sink Broken failed on the block at sample \d+: \w+Error: .*; "
                                      r"the run was stopped")
    assert np.allclose(run.device.static_volts, run.rig.pipette.safe_volts())


def test_a_sink_that_cannot_start_stops_the_run_before_any_current_flows(tmp_path):
    run = run_under_fault(tmp_path, sinks=[Broken("start")])
    assert run.engine.error and "no channel 'x'" in run.engine.error
    assert np.allclose(run.device.static_volts, run.rig.pipette.safe_volts())


def test_a_sink_failing_at_stop_is_reported(tmp_path):
    run = run_under_fault(tmp_path, sinks=[Broken("stop")])
    check_ends_safe(run, expect_error=r"RuntimeError: could not flush", file_error=False)


def test_a_plan_raising_mid_ejection_ends_on_retain(tmp_path):
    def plan():
        yield Eject("glu", 40)
        yield Wait(1.0)
        raise RuntimeError("my plan has a bug")

    run = run_under_fault(tmp_path, plan=plan())
    check_ends_safe(run)
    assert np.allclose(run.device.static_volts, run.rig.pipette.safe_volts())
    glu = [e for e in run.file_events() if e.barrel == "glu"]
    assert glu[-1].current_nA == 15.0  # back on retain after the bug
    assert any("my plan has a bug" in e.text for e in run.file_events())
