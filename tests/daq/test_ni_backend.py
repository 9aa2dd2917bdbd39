"""The NI-DAQmx backend end to end against the simulated NI-DAQmx gRPC device.

Every call goes through the unmodified ``nidaqmx`` package and its gRPC interpreter, as it
would to an NI gRPC Device Server in front of a real board.
"""

from __future__ import annotations

import numpy as np
import pytest
from waiting import wait_until

from daq.device import AOStatus, EventSource, Restartable
from daq.engine import Abort, Call, Engine, EngineState
from daq.errors import ConfigError, CurrentLimitError, DeviceNotFoundError
from daq.ni import NIConnection, NIDevice, capabilities, device_names
from daq.ni.rigs import rig_on_device
from daq.schedule import AOSchedule
from daq.types import AcquisitionConfig, Block, ChannelKind, EventKind, LogEvent, StreamInfo
from mock_daq import SimDevice, load_preset
from mock_daq.nigrpc import SimNIServer
from tests.daq.conftest import make_device


class Collect:
    """A sink that keeps every block and event (engine thread)."""

    def __init__(self, fail_after: int | None = None):
        self.blocks: list[Block] = []
        self.events: list[LogEvent] = []
        self.fail_after = fail_after

    def start(self, stream: StreamInfo) -> None:
        self.stream = stream

    def on_block(self, block: Block) -> None:
        self.blocks.append(block)
        if self.fail_after is not None and len(self.blocks) >= self.fail_after:
            raise RuntimeError("sink failed on purpose")

    def on_events(self, events: list[LogEvent]) -> None:
        self.events.extend(events)

    def stop(self) -> None:
        pass

    def data(self) -> np.ndarray:
        """Samples placed at their sample index; NaN where a gap lost them."""
        out = np.full((self.blocks[-1].end_index, self.blocks[0].data.shape[1]), np.nan)
        for b in self.blocks:
            out[b.start_index:b.end_index] = b.data
        return out


def _safe_on_outputs(server: SimNIServer, rig) -> bool:
    return np.allclose(server.hardware.output_levels(), rig.pipette.safe_volts(), atol=1e-9)


def test_discovery_reports_the_device_and_its_limits(sim_server):
    conn = NIConnection("127.0.0.1", sim_server.port)
    assert device_names(conn) == ["Dev1"]
    caps = capabilities(conn, "Dev1")
    assert caps.product == "ionto SimRig (preset cortex)"
    assert caps.ai_channels[0] == "Dev1/ai0" and len(caps.ao_channels) == 8
    assert caps.max_ai_rate(4) == pytest.approx(250_000.0)  # 1 MS/s aggregate over 4 channels
    assert caps.ai_ranges_V[-1] == 10.0
    with pytest.raises(DeviceNotFoundError, match=r"'Dev9'.*Dev1"):
        capabilities(conn, "Dev9")


def test_refuses_rates_channels_and_ranges_before_starting(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    cfg = ni_rig.acquisition_config()
    with pytest.raises(ConfigError, match=r"rate 300000 Hz exceeds its maximum 166667 Hz.*1e\+06 S/s aggregate"):
        dev.configure(AcquisitionConfig(300_000, cfg.ai, cfg.ao))
    bad = AcquisitionConfig(cfg.rate_hz, (*cfg.ai[:1], cfg.ai[1].__class__("x", "Dev1/ai99")), cfg.ao)
    with pytest.raises(ConfigError, match=r"no analog input 'Dev1/ai99' \(it has Dev1/ai0 … Dev1/ai15\)"):
        dev.configure(bad)
    wide = AcquisitionConfig(cfg.rate_hz, (cfg.ai[0].__class__("e", "Dev1/ai0", range_V=20.0),), ())
    with pytest.raises(ConfigError, match=r"±20 V exceeds the largest, ±10 V"):
        dev.configure(wide)
    assert not sim_server.hardware.tasks  # nothing was created on the device
    dev.close()


def test_unknown_device_in_the_url_is_a_clear_error(sim_server, ni_rig):
    dev = NIDevice("Dev7", NIConnection("127.0.0.1", sim_server.port))
    with pytest.raises(DeviceNotFoundError, match=r"no NI device named 'Dev7'.*devices there: \['Dev1'\]"):
        dev.configure(rig_on_device(ni_rig, "Dev7").acquisition_config())


def test_no_server_is_a_clear_error():
    conn = NIConnection("127.0.0.1", 1)  # nothing listens on port 1
    with pytest.raises(DeviceNotFoundError, match=r"no NI-DAQmx gRPC server answers at 127\.0\.0\.1:1"):
        conn.wait_ready(timeout_s=0.5)


def test_acquires_contiguous_blocks_with_read_positions(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    cfg = ni_rig.acquisition_config()
    stream = dev.configure(cfg)
    assert stream.dtype == np.float32 and stream.n_channels == 6
    sched = AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz)
    dev.write_ao(0, sched.render_volts(0, 8 * cfg.block))
    dev.start()
    blocks = [dev.read(cfg.block, 5.0) for _ in range(4)]
    assert isinstance(dev, AOStatus) and isinstance(dev, Restartable) and isinstance(dev, EventSource)
    generated = dev.ao_generated_index()
    assert 4 * cfg.block <= generated <= 8 * cfg.block  # AO runs on the AI clock
    assert 40_000 - 8 * cfg.block <= dev.ao_space() <= 40_000  # a 2 s buffer, 8 blocks written
    dev.stop()
    dev.write_safe(ni_rig.pipette.safe_volts())
    dev.close()
    assert [b.start_index for b in blocks] == [i * cfg.block for i in range(4)]
    data = np.concatenate([b.data for b in blocks])
    electrode = data[:, stream.index_of("electrode")]
    assert 1e-3 < electrode.std() < 1.0  # noise and spikes, volts after the x1000 amplifier
    glu = data[:, stream.index_of("I_glu")] / ni_rig.pipette.barrel("glu").monitor_gain_V_per_nA  # V -> nA
    assert np.median(glu) == pytest.approx(15.0, abs=0.2)  # glutamate retained with +15 nA


def test_start_runs_the_simulation_before_its_clock(sim_server, ni_rig):
    """StartTask generates the first 50 ms (whose AO is written) before the clock starts, so
    loading the simulator's compiled kernels does not eat the client's AO lead; the samples
    are the ones the first reads would have generated."""
    dev = make_device(sim_server, ni_rig)
    cfg = ni_rig.acquisition_config()
    dev.configure(cfg)
    sched = AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz)
    dev.write_ao(0, sched.render_volts(0, 8 * cfg.block))
    dev.start()
    try:
        hw = sim_server.hardware
        assert hw._sim_index >= int(0.05 * cfg.rate_hz)  # generated at StartTask
        first = dev.read(cfg.block, 5.0).data
    finally:
        dev.stop()
        dev.write_safe(ni_rig.pipette.safe_volts())
        dev.close()
    hw_rig = sim_server.hardware.rig.model_copy(update={"rate_hz": cfg.rate_hz})
    lazy = SimDevice(hw_rig, sim_server.hardware.sim_config, seed=7, speed=None)  # the server's first run: seed 7
    stream = lazy.configure(hw_rig.acquisition_config())
    lazy.write_ao(0, sched.render_volts(0, 8 * cfg.block))
    lazy.start()
    raw = lazy.read(cfg.block, 1.0).data
    lazy.close()
    volts = raw.astype(np.float64) * np.asarray(stream.scale_V) + np.asarray(stream.offset_V)
    assert np.allclose(first, volts, atol=1e-6)


def _engine(dev, rig, **kw):
    cfg = rig.acquisition_config()
    sink = Collect(kw.pop("fail_after", None))
    eng = Engine(dev, cfg, rig.pipette, ao_lead_s=1.0, sinks=[sink], **kw)  # 1 s of margin against a loaded machine
    return eng, sink, cfg


def test_ejects_at_exactly_the_scheduled_samples(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    start, stop = 32_345, 43_456  # beyond the 1 s (20 000 samples) of AO written at the first turn
    eng, sink, _cfg = _engine(dev, ni_rig, stop_after_samples=50_000)

    def plan(c):
        c.set_currents({"glu": -60.0}, start, "test eject")
        c.set_currents({"glu": 15.0}, stop, "test retain")

    eng.submit(Call(plan))
    eng.run()
    assert eng.state == EngineState.STOPPED, eng.error
    data = sink.data()
    s = sink.stream
    glu = data[:, s.index_of("I_glu")] / ni_rig.pipette.barrel("glu").monitor_gain_V_per_nA
    bal = data[:, s.index_of("I_bal")] / ni_rig.pipette.barrel("bal").monitor_gain_V_per_nA
    assert np.isfinite(glu).mean() > 0.9  # (a gap under heavy load loses samples, never shifts them)

    def near(x, value):
        return bool(np.all(np.abs(x[np.isfinite(x)] - value) < 1.0))

    assert near(glu[:start], 15.0)
    assert near(glu[start:stop], -60.0)  # every ejection sample, and only those
    assert near(glu[stop:], 15.0)
    others = -60.0 - 15.0 - 10.0 + 0.0  # glu ejecting, gaba and bic retained, nacl off
    assert near(bal[start:stop], -others)  # the balance carries the negated sum
    ev = [(e.sample_index, e.kind) for e in sink.events if e.barrel == "glu"]
    assert (start, EventKind.EJECT) in ev and (stop, EventKind.RETAIN) in ev
    assert _safe_on_outputs(sim_server, ni_rig)


def test_forced_input_overflow_is_recorded_as_a_gap_and_the_run_goes_on(ni_rig):
    with SimNIServer(load_preset("cortex"), port=0, speed=1.0, seed=3, preset="cortex") as server:
        # a 0.25 s input buffer and a stall: AI overflows; AO, written 2 s ahead, does not
        dev = make_device(server, ni_rig, ai_buffer_s=0.25)
        cfg = ni_rig.acquisition_config()
        small = AcquisitionConfig(cfg.rate_hz, cfg.ai, cfg.ao, block_samples=500)
        sink = Collect()
        eng = Engine(dev, small, ni_rig.pipette, ao_lead_s=2.0, sinks=[sink], stop_after_samples=40_000)
        # the engine stalls until the input buffer has overflowed (not for a guessed time)
        eng.submit(Call(lambda c: wait_until(lambda: "overflow" in [k for k, _ in server.hardware.log], 60,
                                             what="the input buffer to overflow")))
        eng.run()
        assert eng.state == EngineState.STOPPED, eng.error
        faults = [k for k, _ in server.hardware.log]
        assert faults and set(faults) == {"overflow"}  # NI stopped the AI; the AO never ran dry
        assert eng.gaps == len(faults) and eng.lost_samples > 5000 * len(faults)
        gaps = [e for e in sink.events if e.kind == EventKind.GAP]
        assert len(gaps) == eng.gaps and sum(int(g.text.split()[1]) for g in gaps) == eng.lost_samples
        notes = [e for e in sink.events if e.kind == EventKind.NOTE and "InputOverflowError" in e.text]
        assert len(notes) == eng.gaps and all("-200279" in e.text for e in notes)
        jumps = [b.start_index - a.end_index for a, b in zip(sink.blocks, sink.blocks[1:])
                 if b.start_index != a.end_index]
        assert sum(jumps) == eng.lost_samples and all(j > 0 for j in jumps)
        assert sink.blocks[-1].end_index >= 40_000
        # around each gap the barrel currents are stated: safe while restarting, then as scheduled
        assert {e.barrel for e in sink.events if e.text == "after the gap"} == {"glu", "gaba", "bic", "nacl"}
        assert any(e.text == "safe levels while restarting" for e in sink.events)
        assert _safe_on_outputs(server, ni_rig)


def test_safe_levels_reach_the_outputs_on_abort(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    eng, sink, _cfg = _engine(dev, ni_rig)
    eng.submit(Call(lambda c: c.set_currents({"gaba": 80.0, "nacl": -50.0}, 0, "eject")))
    eng.start()
    wait_until(lambda: any(e.barrel == "gaba" and e.kind == EventKind.EJECT for e in list(sink.events)), 60,
               what="gaba's ejection to be logged")
    levels = sim_server.hardware.output_levels()
    assert levels[ni_rig.pipette.index("gaba")] == pytest.approx(0.8)  # ejecting now
    eng.submit(Abort(stop=True))
    assert eng.join(60)
    assert eng.state == EngineState.STOPPED
    assert _safe_on_outputs(sim_server, ni_rig)
    assert not sim_server.hardware.tasks  # every task cleared


def test_safe_levels_reach_the_outputs_on_an_exception(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    eng, _sink, _cfg = _engine(dev, ni_rig, fail_after=5)
    eng.submit(Call(lambda c: c.set_currents({"glu": -120.0}, 0, "eject")))
    eng.run()
    assert eng.state == EngineState.ERROR and "sink failed on purpose" in eng.error
    assert _safe_on_outputs(sim_server, ni_rig)


def test_device_refuses_volts_beyond_a_barrel_limit(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    cfg = ni_rig.acquisition_config()
    dev.configure(cfg)
    volts = np.tile(ni_rig.pipette.safe_volts(), (100, 1))
    glu = ni_rig.pipette.barrel("glu")
    limit_V = glu.max_eject_nA / glu.command_gain_nA_per_V
    volts[50, 0] = -(limit_V + 0.1)  # 10 nA beyond glutamate's ejection limit
    with pytest.raises(CurrentLimitError, match=rf"Dev1/ao0 \(barrel 'glu'\): {limit_V + 0.1:g} V > {limit_V:g} V"):
        dev.write_ao(0, volts)
    assert dev.ao_write_index == 0
    assert sum(t.written for t in sim_server.hardware.tasks.values()) == 0  # nothing reached the device
    dev.close()


def test_watchdog_sets_safe_levels_when_the_engine_stops_reading(ni_rig):
    with SimNIServer(load_preset("cortex"), port=0, speed=1.0, chassis="cDAQ1", preset="cortex") as server:
        # long enough that a loaded machine does not trip it between start and the first read
        dev = make_device(server, ni_rig, watchdog_timeout_s=3.0)
        assert dev.caps().watchdog_device == "cDAQ1"
        cfg = ni_rig.acquisition_config()
        dev.configure(cfg)
        sched = AOSchedule(ni_rig.pipette, rate_hz=cfg.rate_hz)
        sched.set_current("glu", -100.0, 0)
        dev.write_ao(0, sched.render_volts(0, 10 * cfg.block))
        dev.start()
        assert dev.watchdog_active
        dev.read(cfg.block, 5.0)
        hw = server.hardware
        assert hw.output_levels()[0] == pytest.approx(-1.0)  # ejecting (held once the written AO runs out)
        assert "watchdog" not in [k for k, _ in hw.log]
        # the engine "hangs": no read, no watchdog reset, until the watchdog expires
        wait_until(lambda: "watchdog" in [k for k, _ in hw.log], 60, what="the watchdog to expire")
        assert _safe_on_outputs(server, ni_rig)
        dev.close()


def test_no_watchdog_where_the_hardware_has_none(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    assert dev.caps().watchdog_device == ""
    cfg = ni_rig.acquisition_config()
    dev.configure(cfg)
    dev.write_ao(0, np.tile(ni_rig.pipette.safe_volts(), (cfg.block * 4, 1)))
    dev.start()
    assert not dev.watchdog_active
    dev.close()


def test_stream_channels_keep_their_kinds(sim_server, ni_rig):
    dev = make_device(sim_server, ni_rig)
    stream = dev.configure(ni_rig.acquisition_config())
    kinds = [c.kind for c in stream.channels]
    assert kinds[0] == ChannelKind.ELECTRODE and set(kinds[1:]) == {ChannelKind.CURRENT_MONITOR}
    dev.close()
