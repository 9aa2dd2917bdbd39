"""The engine: exact event samples, sinks in order, commands, safe levels on every exit."""

import numpy as np
import pytest
from waiting import wait_until

from daq.engine import (
    AddMark,
    Call,
    Eject,
    Engine,
    EngineError,
    EngineState,
    EventLogged,
    Pause,
    Resume,
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
    eng.submit(Eject("gaba", 40.0))
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
    eng.submit(Eject("gaba", 1000.0))
    eng.run()
    assert eng.state == EngineState.STOPPED
    assert any("refused" in m and "gaba" in m for m in errs)


class Script(Collect):
    """A sink that submits commands when a chosen block arrives (engine thread), and notes
    the first sample each batch of commands could change (``write_index`` when executed)."""

    def __init__(self, engine_box, plan):
        super().__init__()
        self.engine_box, self.plan, self.at = engine_box, plan, {}

    def on_block(self, block):
        super().on_block(block)
        for name, cmds in self.plan.pop(block.start_index, {}).items():
            eng = self.engine_box[0]
            for cmd in cmds:
                eng.submit(cmd)
            eng.submit(Call(lambda c, name=name: self.at.__setitem__(name, c.write_index)))


def _ao(dev, pipette, barrel):
    return np.concatenate(dev.ao_chunks)[:, pipette.index(barrel)]


def test_pause_retains_all_and_mark_is_logged(pipette):
    """Pause puts every barrel on retain at the pause sample, long before the run ends (so
    the stop's own safe levels cannot stand in for it); resume ejects nothing by itself; a
    mark is logged where it was made."""
    dev = NullDevice(keep_ao=True)
    box = []
    script = Script(box, {
        0: {"eject": [Eject("glu", 30.0)]},
        500: {"pause": [Pause(), AddMark("hello")]},
        1000: {"resume": [Resume()]},
    })
    eng = Engine(dev, config_for(pipette), pipette, sinks=[script], stop_after_samples=3000)
    box.append(eng)
    states = []
    eng.subscribe(lambda ev: states.append(ev.state) if isinstance(ev, StateChanged) else None)
    eng.run()
    assert eng.state == EngineState.STOPPED, eng.error
    eject, pause, resume = script.at["eject"], script.at["pause"], script.at["resume"]
    assert 0 < eject < pause < resume < 3000
    glu = _ao(dev, pipette, "glu")
    safe = pipette.safe_volts()
    assert glu[eject - 1] == pytest.approx(safe[pipette.index("glu")])
    assert np.allclose(glu[eject:pause], -0.3)  # ejecting -30 nA until the pause sample...
    ao = np.concatenate(dev.ao_chunks)
    assert np.allclose(ao[pause:3000], safe)  # ...then every barrel on retain, to the stop and after resume
    ev = script.events
    assert [(e.sample_index, e.kind) for e in ev if e.kind in (EventKind.PAUSE, EventKind.RESUME)] == [
        (pause, EventKind.PAUSE), (resume, EventKind.RESUME)]
    glu_changes = [(e.sample_index, e.kind, e.current_nA) for e in ev
                   if e.barrel == "glu" and e.kind in (EventKind.EJECT, EventKind.RETAIN) and e.sample_index > 0]
    assert glu_changes == [(eject, EventKind.EJECT, -30.0), (pause, EventKind.RETAIN, 15.0)]
    marks = [e for e in ev if e.kind == EventKind.MARK]
    assert [m.text for m in marks] == ["hello"] and 500 <= marks[0].sample_index <= pause
    # nothing was left ejecting for the stop to put right
    assert not [e for e in ev if e.text == "safe level written at stop"]
    assert EngineState.PAUSED in states and states.index(EngineState.PAUSED) < states.index(EngineState.STOPPING)
    assert states[states.index(EngineState.PAUSED) + 1] == EngineState.RUNNING  # resumed


def test_retain_all_on_the_engine_thread_before_the_stop(pipette):
    """On the engine thread: RetainAll puts the ejecting barrels on retain at once, then a
    Pause does the same for a later ejection, both well before ``stop``."""

    class Slow(NullDevice):
        def read(self, n, timeout_s):
            import time
            time.sleep(0.002)
            return super().read(n, timeout_s)

    dev = Slow(keep_ao=True)
    eng = Engine(dev, config_for(pipette), pipette)
    logged, states = [], []
    eng.subscribe(lambda ev: logged.append(ev.event) if isinstance(ev, EventLogged) else
                  states.append(ev.state) if isinstance(ev, StateChanged) else None)

    def change(barrel, kind, source=""):
        """The first logged (sample, current) where ``barrel`` went to ``kind`` (from ``source``)."""
        for e in list(logged):
            if e.barrel == barrel and e.kind == kind and e.sample_index > 0 and source in e.text:
                return (e.sample_index, e.current_nA)
        return None

    eng.start()
    try:
        eng.submit(Eject("glu", 30.0))
        eng.submit(Eject("gaba", 40.0))
        glu_on = wait_until(lambda: change("glu", EventKind.EJECT), 30, what="glu ejecting")[0]
        gaba_on = wait_until(lambda: change("gaba", EventKind.EJECT), 30, what="gaba ejecting")[0]
        eng.submit(RetainAll())
        glu_off = wait_until(lambda: change("glu", EventKind.RETAIN, "all to retain"), 30, what="glu retained")
        gaba_off = wait_until(lambda: change("gaba", EventKind.RETAIN, "all to retain"), 30,
                              what="gaba retained")
        assert glu_off == (gaba_off[0], 15.0) and gaba_off[1] == -10.0  # one sample for all barrels
        eng.submit(Eject("nacl", 20.0, +1))
        nacl_on = wait_until(lambda: change("nacl", EventKind.CURRENT) or change("nacl", EventKind.EJECT), 30,
                             what="nacl ejecting")[0]
        eng.submit(Pause())
        wait_until(lambda: EngineState.PAUSED in states, 30, what="the paused state")
        pause = wait_until(lambda: [e.sample_index for e in list(logged) if e.kind == EventKind.PAUSE], 30,
                           what="the pause event")[0]
        nacl_off = wait_until(lambda: change("nacl", EventKind.OFF, "pause"), 30, what="nacl off at the pause")
        assert nacl_off == (pause, 0.0)
    finally:
        assert eng.stop(30)
    assert eng.state == EngineState.STOPPED, eng.error
    stopped_at = eng.read_index
    assert glu_on == gaba_on < glu_off[0] < nacl_on < pause < stopped_at
    ao = np.concatenate(dev.ao_chunks)
    safe = pipette.safe_volts()
    g, b, n = pipette.index("glu"), pipette.index("gaba"), pipette.index("nacl")
    assert np.allclose(ao[glu_on:glu_off[0], [g, b]], [-0.3, 0.4])
    assert np.allclose(ao[glu_off[0]:nacl_on], safe)  # retained by RetainAll, not by the stop
    assert ao[nacl_on, n] == pytest.approx(0.2) and np.allclose(ao[pause:stopped_at], safe)
    assert not [e for e in logged if e.text == "safe level written at stop"]
    assert np.allclose(dev.safe_writes[-1], safe)
