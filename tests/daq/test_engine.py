"""The engine: exact event samples, sinks in order, commands, safe levels on every exit."""

import numpy as np
import pytest

from daq.engine import (
    AddMark,
    Call,
    EjectBarrel,
    Engine,
    EngineError,
    EngineState,
    EventLogged,
    Pause,
    RetainAll,
    StateChanged,
)
from daq.nulldevice import NullDevice
from daq.types import AcquisitionConfig, AIChannel, AOChannel, Block, EventKind


def config_for(pipette, rate=1000.0, block=50):
    ao = tuple(AOChannel(b.name, b.ao_channel) for b in pipette.barrels)
    return AcquisitionConfig(rate, (AIChannel("e", "x/ai0"),), ao, block_samples=block)


class Collect:
    def __init__(self):
        self.blocks, self.events, self.started, self.stopped = [], [], False, False

    def start(self, stream):
        self.started = True

    def on_block(self, block):
        self.blocks.append(block.start_index)

    def on_events(self, events):
        self.events.extend(events)

    def stop(self):
        self.stopped = True


def test_manual_eject_logged_at_the_sample_where_the_current_changes(pipette):
    dev = NullDevice(keep_ao=True)
    sink = Collect()
    eng = Engine(dev, config_for(pipette), pipette, sinks=[sink], stop_after_samples=2000)
    seen = {}

    def at_500(control):
        seen["write_index"] = control.write_index

    # enqueue before running: executed after the first block
    eng.submit(EjectBarrel("gaba", 40.0))
    eng.submit(Call(at_500))
    eng.run()
    ejects = [e for e in sink.events if e.kind == EventKind.EJECT]
    assert len(ejects) == 1
    at = ejects[0].sample_index
    assert at == seen["write_index"]
    ao = np.concatenate(dev.ao_chunks)
    g = pipette.index("gaba")
    assert ao[at - 1, g] == pytest.approx(-0.1)  # retain -10 nA / 100 nA/V
    assert ao[at, g] == pytest.approx(0.4)
    assert sink.blocks == list(range(0, 2000, 50))
    assert sink.stopped
    assert dev.safe_writes and np.allclose(dev.safe_writes[-1], pipette.safe_volts())


def test_exception_in_a_sink_becomes_error_event_and_safe_stop(pipette):
    class Boom(Collect):
        def on_block(self, block):
            if block.start_index >= 200:
                raise RuntimeError("disk on fire")

    dev = NullDevice()
    eng = Engine(dev, config_for(pipette), pipette, sinks=[Boom()])
    errors, states = [], []
    eng.subscribe(lambda ev: errors.append(ev) if isinstance(ev, EngineError) else
                  states.append(ev.state) if isinstance(ev, StateChanged) else None)
    eng.run()
    assert eng.state == EngineState.ERROR
    assert "disk on fire" in errors[0].message
    assert states[-1] == EngineState.ERROR
    assert np.allclose(dev.safe_writes[-1], pipette.safe_volts())


def test_gap_in_sample_index_is_logged(pipette):
    class Gappy(NullDevice):
        def read(self, n, timeout_s):
            b = super().read(n, timeout_s)
            if b.start_index == 300:
                self._read += 120  # the device lost 120 samples
                return Block(b.start_index + 120, b.data)
            return b

    sink = Collect()
    eng = Engine(Gappy(), config_for(pipette), pipette, sinks=[sink], stop_after_samples=1000)
    eng.run()
    gaps = [e for e in sink.events if e.kind == EventKind.GAP]
    assert len(gaps) == 1 and gaps[0].sample_index == 300 and "120" in gaps[0].text
    assert eng.lost_samples == 120


def test_refused_manual_command_does_not_stop_the_run(pipette):
    eng = Engine(NullDevice(), config_for(pipette), pipette, stop_after_samples=500)
    errs = []
    eng.subscribe(lambda ev: errs.append(ev.message) if isinstance(ev, EngineError) else None)
    eng.submit(EjectBarrel("gaba", 1000.0))
    eng.run()
    assert eng.state == EngineState.STOPPED
    assert any("refused" in m and "gaba" in m for m in errs)


def test_pause_retains_all_and_mark_is_logged(pipette):
    sink = Collect()
    eng = Engine(NullDevice(), config_for(pipette), pipette, sinks=[sink], stop_after_samples=1000)
    eng.submit(EjectBarrel("glu", 30.0))
    eng.submit(AddMark("hello"))
    eng.run_turns = None
    eng.start()
    eng.join(5)
    kinds = [e.kind for e in sink.events]
    assert EventKind.MARK in kinds


def test_engine_thread_start_stop_and_retain_all(pipette):
    class Slow(NullDevice):
        def read(self, n, timeout_s):
            import time
            time.sleep(0.002)
            return super().read(n, timeout_s)

    sink = Collect()
    dev = Slow()
    eng = Engine(dev, config_for(pipette), pipette, sinks=[sink])
    logged = []
    eng.subscribe(lambda ev: logged.append(ev.event) if isinstance(ev, EventLogged) else None)
    eng.start()
    eng.submit(EjectBarrel("glu", 30.0))
    eng.submit(Pause())
    eng.submit(RetainAll())
    assert eng.stop(5)
    assert eng.state == EngineState.STOPPED
    assert np.allclose(dev.safe_writes[-1], pipette.safe_volts())
