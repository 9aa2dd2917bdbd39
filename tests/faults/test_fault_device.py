"""Device faults, on the in-process simulated rig and on the NI backend against the simulated
NI-DAQmx gRPC device: disconnect mid-run and AI overflow.  Each run ends with a readable
file, every barrel at retain or zero on the device's own outputs, and a clear message."""

from __future__ import annotations

import numpy as np
import pytest
from harness import check_ends_safe, outputs_safe_or_zero, run_under_fault
from waiting import wait_until

from daq.ni import NIConnection, NIDevice
from daq.ni.rigs import rig_on_device
from daq.recording import Recording
from daq.types import EventKind
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer


# --- the in-process simulated rig ---------------------------------------------------------------
def test_disconnect_mid_ejection_ends_with_zero_current_and_says_to_check_the_barrels(tmp_path):
    # glutamate is ejecting at 40 nA when the cable goes (t = 2.5 s)
    run = run_under_fault(tmp_path, faults=[{"kind": "disconnect", "at_s": 2.5}])
    info = check_ends_safe(run, expect_error=r"disconnected.*-201003")
    # the board lost its power: every output at 0 V (not at retain — and the operator is told)
    assert np.allclose(run.device.static_volts, 0.0)
    assert any("could not write the safe levels" in m and "check them" in m for m in run.errors)
    errors = [e.text for e in run.file_events(EventKind.ERROR)]
    assert any("could not write the safe levels" in t for t in errors)
    # the file does not claim the safe levels were written
    assert not [e for e in run.file_events() if e.text == "safe level written at stop"]
    assert info["status"] == "closed" and info["committed_samples"] == 50_000  # every sample before the fault


def test_overflow_reported_by_a_jump_is_a_gap_and_a_warning_and_the_run_goes_on(tmp_path):
    run = run_under_fault(tmp_path, faults=[{"kind": "overflow", "at_s": 2.0, "lost_s": 0.1}])
    check_ends_safe(run, expect_warning=r"2000 samples \(0\.100 s\) lost at sample 40000",
                    file_warning=(EventKind.GAP, "lost 2000 samples"))
    assert run.engine.error is None
    with Recording(run.path) as rec:
        assert rec.gaps == [(40000, 2000)]
        assert rec.status == "closed"
        assert [e.kind for e in rec.events if e.sample_index == 40000 and e.kind == EventKind.GAP]


def test_overflow_reported_as_an_error_is_one_warning_and_a_gap(tmp_path):
    run = run_under_fault(tmp_path, faults=[{"kind": "overflow", "at_s": 2.0, "lost_s": 0.1, "report": "error"}])
    check_ends_safe(run, expect_warning=r"input overflow \(2000 samples lost\).*-200279")
    assert len(run.warnings) == 1  # the gap it leaves is not announced twice
    with Recording(run.path) as rec:
        assert rec.gaps == [(40000, 2000)]


def test_overflow_after_overflow_stops_the_run_safely(tmp_path):
    faults = [{"kind": "overflow", "at_s": 1.0 + 0.05 * k, "lost_s": 0.05, "report": "error"} for k in range(6)]
    run = run_under_fault(tmp_path, faults=faults, max_overflows_in_row=2)
    check_ends_safe(run, expect_error=r"input overflow 3 times in a row.*cannot keep up")
    assert np.allclose(run.device.static_volts, run.rig.pipette.safe_volts())


# --- the NI backend against the simulated NI-DAQmx gRPC device ---------------------------------
def _ni_device(server: SimNIServer, rig, **kw) -> NIDevice:
    conn = NIConnection("127.0.0.1", server.port)
    return NIDevice("Dev1", conn, safe_volts=rig.pipette.safe_volts(), ao_limits_V=rig.pipette.ao_limits_V(),
                    **kw)


@pytest.mark.parametrize("chassis", ["", "cDAQ1"])
def test_ni_server_gone_mid_ejection(tmp_path, chassis):
    """The gRPC link dies while glutamate ejects.  On a cDAQ chassis the watchdog puts every
    output at its safe level; a plain board holds what it last generated — no software can
    reach it — and the operator is told to check the barrels by hand."""
    rig = rig_on_device(load_preset("cortex"), "Dev1")
    server = SimNIServer(load_preset("cortex"), port=0, speed=4.0, seed=5, chassis=chassis, preset="cortex").start()
    try:
        # a watchdog timeout a loaded test machine cannot trip while the run goes on
        device = _ni_device(server, rig, watchdog_timeout_s=2.0)
        stop_at = round(2.3 * rig.rate_hz)  # inside the 40 nA ejection (2.0 .. 3.0 s)

        class KillLink:
            def start(self, stream):
                pass

            def on_block(self, block):
                if block.end_index >= stop_at and server._server is not None:
                    server.stop(grace_s=0)

            def on_events(self, events):
                pass

            def stop(self):
                pass

        run = run_under_fault(tmp_path, device=device, rig=rig, sinks=[KillLink()], ao_lead_s=0.5,
                              join_timeout_s=60)
    finally:
        server.stop(grace_s=0)
    check_ends_safe(run, levels=np.zeros(len(rig.pipette.barrels)), expect_error=r"gRPC server did not answer")
    assert any("could not write the safe levels" in m for m in run.errors)
    hw = server.hardware

    def happened(what: str) -> bool:  # the server is gone: bring the board's clock up to date here
        hw.poll()
        return what in [k for k, _ in hw.log]

    if chassis:  # nothing resets the watchdog any more: it expires and sets the safe levels
        wait_until(lambda: happened("watchdog"), 60, what="the chassis watchdog to expire")
        held = hw.output_levels()
        assert outputs_safe_or_zero(held, rig), held
    else:  # the plain board runs out of AO and holds the ejection it was generating
        wait_until(lambda: happened("underflow"), 60, what="the board's AO to run out")
        held = hw.output_levels()
        assert not happened("watchdog")
        assert held[rig.pipette.index("glu")] == pytest.approx(-0.4)  # what the message warns about
    with Recording(run.path) as rec:
        # recorded up to the link's death (by sample index: on a starved machine the AO may run out
        # first, and the engine's restart leaves a gap that has no rows)
        assert rec.status == "closed" and rec.end_index >= stop_at - 2 * rig.acquisition_config().block


def test_ni_input_overflow_in_a_recorded_run(tmp_path):
    rig = rig_on_device(load_preset("cortex"), "Dev1")
    with SimNIServer(load_preset("cortex"), port=0, speed=2.0, seed=3, preset="cortex") as server:
        device = _ni_device(server, rig, ai_buffer_s=0.25)
        stalled = []

        class Stall:  # the computer stalls once, until the board's 0.25 s input buffer has overflowed
            def start(self, stream):
                pass

            def on_block(self, block):
                if block.start_index >= 30_000 and not stalled:
                    stalled.append(block.start_index)
                    wait_until(lambda: "overflow" in [k for k, _ in server.hardware.log], 60,
                               what="the board's input buffer to overflow")

            def on_events(self, events):
                pass

            def stop(self):
                pass

        run = run_under_fault(tmp_path, device=device, rig=rig, sinks=[Stall()], ao_lead_s=2.0)
        levels = server.hardware.output_levels()
        assert ("overflow" in [k for k, _ in server.hardware.log])
    check_ends_safe(run, levels=levels, expect_warning=r"-200279.*restarted")
    assert run.engine.error is None and run.engine.gaps >= 1
    with Recording(run.path) as rec:
        assert len(rec.gaps) == run.engine.gaps and rec.status == "closed"
        assert any(e.kind == EventKind.GAP for e in rec.events)
