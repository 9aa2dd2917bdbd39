"""The engine under faults and while recordings start and stop: overflow, end of data,
refused recordings, marks at the stop, warnings, states."""

import numpy as np

from daq.engine import (
    AddMark,
    Call,
    Eject,
    Engine,
    EngineError,
    EngineState,
    EngineWarning,
    RecordingChanged,
    Retain,
    StartRecording,
    StateChanged,
    Stop,
    StopRecording,
)
from daq.errors import EndOfDataError, InputOverflowError
from daq.nulldevice import NullDevice
from daq.recording import Recorder, Recording
from daq.types import Block, EventKind
from tests.daq.test_engine import Collect, config_for


class Overflowing(NullDevice):
    """Overflows at the given read positions, losing ``lost`` samples each time."""

    def __init__(self, at, lost=300):
        super().__init__()
        self.at, self.lost = set(at), lost

    def read(self, n, timeout_s):
        if self._read in self.at:
            self.at.discard(self._read)
            self._read += self.lost  # the board overwrote them
            raise InputOverflowError("Dev1: input buffer overflow", code=-200279, lost_samples=self.lost)
        return super().read(n, timeout_s)


def events_of(eng):
    got = []
    eng.subscribe(got.append)
    return got


def test_input_overflow_is_recorded_as_a_gap_and_the_run_goes_on(pipette, tmp_path):
    dev = Overflowing(at=[500])
    rec = Recorder(tmp_path / "o.h5")
    eng = Engine(dev, config_for(pipette), pipette, recorder=rec, stop_after_samples=2000)
    got = events_of(eng)
    eng.run()
    assert eng.state == EngineState.STOPPED and eng.overflows == 1
    assert eng.gaps == 1 and eng.lost_samples == 300
    assert any(isinstance(e, EngineWarning) and "overflow" in e.message for e in got)
    with Recording(tmp_path / "o.h5") as r:
        assert r.gaps == [(500, 300)]  # the lost samples are a gap, not papered over
        assert r.n_samples == 1700
        kinds = {e.kind for e in r.events}
        assert EventKind.GAP in kinds and EventKind.WARNING in kinds


def test_repeated_overflows_stop_safely(pipette):
    dev = Overflowing(at=[100, 400, 700, 1000, 1300])
    dev.lost = 300
    eng = Engine(dev, config_for(pipette, block=100), pipette, max_overflows_in_row=2)

    # every read overflows: the positions line up with the read position after each loss
    eng.run()
    assert eng.state == EngineState.ERROR and "in a row" in eng.error
    assert np.allclose(dev.safe_writes[-1], pipette.safe_volts())


def test_end_of_data_ends_the_run_normally(pipette, tmp_path):
    class Finite(NullDevice):
        def read(self, n, timeout_s):
            if self._read >= 1000:
                raise EndOfDataError("replay: end of file")
            return super().read(n, timeout_s)

    rec = Recorder(tmp_path / "e.h5")
    eng = Engine(Finite(), config_for(pipette), pipette, recorder=rec)
    eng.run()
    assert eng.state == EngineState.STOPPED and eng.error is None
    with Recording(tmp_path / "e.h5") as r:
        assert r.n_samples == 1000 and r.status == "closed"
        assert any(e.kind == EventKind.NOTE and "end of data" in e.text for e in r.events)


def test_recording_starts_and_stops_while_acquisition_runs(pipette, tmp_path):
    path = tmp_path / "mid.h5"
    eng = Engine(NullDevice(), config_for(pipette), pipette, stop_after_samples=3000)
    got = events_of(eng)

    def at(i, fn):
        def cb(ev):
            if getattr(ev, "read_index", None) == i:
                fn()
        eng.subscribe(cb)

    at(1000, lambda: eng.submit(StartRecording(Recorder(path))))
    at(1200, lambda: eng.submit(Eject("glu", 50.0)))
    at(2000, lambda: eng.submit(StopRecording()))
    eng.run()
    assert eng.state == EngineState.STOPPED
    changes = [e for e in got if isinstance(e, RecordingChanged)]
    assert [c.recording for c in changes] == [True, False] and changes[0].path == str(path)
    with Recording(path) as r:
        # commands sent after block 1000 run at the end of the next turn (block 1050)
        assert r.first_index == 1050 and r.end_index == 2050 and r.gaps == []
        kinds = [e.kind for e in r.events]
        assert kinds[0] == EventKind.RECORDING_START and kinds[-1] == EventKind.RECORDING_STOP
        ej = [e for e in r.events if e.kind == EventKind.EJECT]
        assert len(ej) == 1 and ej[0].barrel == "glu" and ej[0].current_nA == -50.0
        # the barrels' state at the start of the recording is in the file
        assert {e.barrel for e in r.events if e.text == "at recording start"} == {"glu", "gaba", "nacl"}


def test_a_refused_recording_does_not_stop_acquisition(pipette, tmp_path):
    (tmp_path / "exists.h5").write_bytes(b"x")
    eng = Engine(NullDevice(), config_for(pipette), pipette, stop_after_samples=1500)
    got = events_of(eng)
    eng.submit(StartRecording(Recorder(tmp_path / "exists.h5")))
    eng.run()
    assert eng.state == EngineState.STOPPED and eng.read_index == 1500
    errs = [e.message for e in got if isinstance(e, EngineError)]
    assert any("recording not started" in m and "file exists" in m for m in errs)


def test_a_mark_just_before_stop_and_the_safe_stop_are_recorded(pipette, tmp_path):
    rec = Recorder(tmp_path / "s.h5")
    sink = Collect()
    eng = Engine(NullDevice(), config_for(pipette), pipette, recorder=rec, sinks=[sink])
    got = events_of(eng)

    def go(control):
        eng.submit(Eject("gaba", 30.0))

    eng.submit(Call(go))

    def stop_later(ev):
        if getattr(ev, "read_index", 0) == 1500:
            eng.submit(AddMark("last words"))
            eng.submit(Stop())
    eng.subscribe(stop_later)
    eng.run()
    states = [e.state for e in got if isinstance(e, StateChanged)]
    assert states == [EngineState.RUNNING, EngineState.STOPPING, EngineState.STOPPED]
    with Recording(tmp_path / "s.h5") as r:
        assert any(e.kind == EventKind.MARK and e.text == "last words" for e in r.events)
        last = [e for e in r.events if e.text == "safe level written at stop"]
        assert [(e.barrel, e.kind, e.current_nA) for e in last] == [("gaba", EventKind.RETAIN, -10.0)]
        assert last[0].sample_index == r.end_index
    assert any(e.text == "last words" for e in sink.events)


def test_retain_with_a_given_current(pipette):
    dev = NullDevice(keep_ao=True)
    sink = Collect()
    eng = Engine(dev, config_for(pipette), pipette, sinks=[sink], stop_after_samples=1000)
    eng.submit(Retain("glu", 25.0))
    eng.submit(Retain("nacl", 5.0))  # a control barrel has no retain direction: refused
    got = events_of(eng)
    eng.run()
    ev = [e for e in sink.events if e.barrel == "glu" and e.text == "manual"]
    assert ev and ev[0].current_nA == 25.0  # glutamate (anion) is retained with +
    assert any(isinstance(e, EngineError) and "no retain direction" in e.message for e in got)


def test_low_disk_warning_reaches_subscribers_and_the_file(pipette, tmp_path):
    rec = Recorder(tmp_path / "w.h5", low_disk_bytes=2**62)
    eng = Engine(NullDevice(), config_for(pipette), pipette, recorder=rec, stop_after_samples=500)
    got = events_of(eng)
    eng.run()
    warns = [e for e in got if isinstance(e, EngineWarning)]
    assert warns and "low disk space" in warns[0].message and warns[0].source == "Recorder"
    with Recording(tmp_path / "w.h5") as r:
        assert any(e.kind == EventKind.WARNING and "low disk space" in e.text for e in r.events)


def test_recorder_failure_stops_the_run_safely(pipette, tmp_path, monkeypatch):
    from daq.recording import h5file

    def broken(self, start, data):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(h5file.RecordingFile, "append_samples", broken)

    class Slow(NullDevice):
        def read(self, n, timeout_s):
            import time
            time.sleep(0.005)
            return super().read(n, timeout_s)

    dev = Slow()
    rec = Recorder(tmp_path / "f.h5", flush_interval_s=0.05)
    eng = Engine(dev, config_for(pipette), pipette, recorder=rec)
    eng.run()
    assert eng.state == EngineState.ERROR and "Input/output error" in eng.error
    assert np.allclose(dev.safe_writes[-1], pipette.safe_volts())


def test_block_indices_going_backwards_is_an_error(pipette):
    class Backwards(NullDevice):
        def read(self, n, timeout_s):
            b = super().read(n, timeout_s)
            return Block(max(0, b.start_index - 10), b.data) if b.start_index >= 200 else b

    eng = Engine(Backwards(), config_for(pipette), pipette, stop_after_samples=1000)
    eng.run()
    assert eng.state == EngineState.ERROR and "went backwards" in eng.error
