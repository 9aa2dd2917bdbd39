"""The GUI models emit change events (napari's model/view split), and the session and
recording state change only on engine events (issue 16, items 2 and 8)."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest
from waiting import wait_until

from app.gui.models.barrels import BarrelModel
from app.gui.models.protocol import ProtocolModel
from app.gui.models.raster import RateModel, span_for_protocol
from app.gui.models.session import SessionModel
from app.gui.models.traces import TraceModel
from app.live import LiveSession
from daq.engine import EngineError, RecordingChanged, StateChanged
from daq.engine_api import EngineState
from daq.types import AIChannel, ChannelKind, EventKind, LogEvent, StreamInfo
from mock_daq import load_preset


class Recorder:
    """Collects the arguments of every emission of one signal, with the emitting thread."""

    def __init__(self, signal) -> None:
        self.calls: list[tuple] = []
        self.threads: list[threading.Thread] = []
        signal.connect(self)

    def __call__(self, *args) -> None:
        self.calls.append(args)
        self.threads.append(threading.current_thread())


def _stream() -> StreamInfo:
    ch = (AIChannel("e0", "x/ai0", ChannelKind.ELECTRODE, 5.0, "default", "V", 1000.0),)
    return StreamInfo(10000.0, ch, np.dtype(np.int16), (5.0 / 32768,), (0.0,))


# --- models emit what changed ------------------------------------------------------------------
def test_trace_model_events_name_the_change():
    m = TraceModel(_stream(), window_s=5.0, n_columns=1000)
    window, reset, gain, vis, frozen = (Recorder(s) for s in (m.window_changed, m.columns_reset, m.gain_changed,
                                                              m.visibility_changed, m.frozen_changed))
    assert m.set_window(10.0) and window.calls == [(10.0,)] and reset.calls == [()]
    m.set_gain(0, 4.0)
    m.set_visible(0, False)
    m.ingest(0, np.zeros((20000, 1), np.int16))
    m.freeze(True)
    m.freeze(True)  # no change, no event
    m.freeze(False)
    assert gain.calls == [(0, 4.0)] and vis.calls == [(0, False)] and frozen.calls == [(True,), (False,)]
    with pytest.raises(ValueError):
        m.set_gain(0, 0.0)
    assert gain.calls == [(0, 4.0)]  # a refused change emits nothing


def test_barrel_model_events_follow_the_event_log():
    rig = load_preset("cortex")
    m = BarrelModel(rig.pipette, 1000.0)
    current, setpoint = Recorder(m.current_changed), Recorder(m.setpoint_changed)
    m.set_eject("glu", 40.0)
    assert setpoint.calls == [("glu",)] and current.calls == []  # a setpoint is not a current
    m.on_event(LogEvent(1000, EventKind.EJECT, "glu", -40.0))
    balance = m.balance.name
    assert current.calls == [("glu",), (balance,)] and m.row("glu").commanded_nA == -40.0
    with pytest.raises(Exception, match="outside"):
        m.set_eject("glu", 10_000.0)
    assert setpoint.calls == [("glu",)]


def test_protocol_model_state_changes_only_on_logged_events():
    m = ProtocolModel(1000.0)
    state, step = Recorder(m.state_changed), Recorder(m.step_changed)
    m.on_event(LogEvent(10, EventKind.STEP, text="ignored before a start"))
    assert state.calls == [] and step.calls == []
    for ev in (LogEvent(100, EventKind.PROTOCOL_START), LogEvent(200, EventKind.STEP, text="eject 10 nA"),
               LogEvent(300, EventKind.PAUSE), LogEvent(400, EventKind.RESUME), LogEvent(500, EventKind.PROTOCOL_END)):
        m.on_event(ev)
    assert [c[0] for c in state.calls] == ["running", "paused", "running", "done"]
    assert [c[0] for c in step.calls] == ["start", "eject 10 nA", "done"]


def test_rate_model_bars_and_span_events():
    rig = load_preset("cortex")
    m = RateModel(rig.pipette, 1000.0)
    bars, span = Recorder(m.bars_changed), Recorder(m.span_changed)
    m.on_event(LogEvent(1000, EventKind.EJECT, "glu", -20.0))
    m.on_event(LogEvent(3000, EventKind.RETAIN, "glu", 15.0))
    m.on_event(LogEvent(3500, EventKind.RETAIN, "glu", 15.0))  # no bar opened or closed
    assert len(bars.calls) == 2
    assert m.follow_protocol(600.0) == 660.0 and span.calls[-1] == (660.0,)  # a 10-minute protocol fits
    assert m.follow_protocol(60.0) == 660.0  # a shorter one does not shrink the view
    with pytest.raises(ValueError, match="span"):
        m.set_span(0.5)


def test_rate_model_reset_to_a_new_connection_drops_the_bars_and_keeps_bin_and_span(qtbot):
    from app.gui.raster_view import RateView

    rig = load_preset("cortex")
    m = RateModel(None, 1.0)  # the window's, before any connection
    view = RateView(m)  # constructed once, with its model
    qtbot.addWidget(view)
    m.set_bin(2.0)
    m.set_span(900.0)
    assert view.bin.value() == 2.0 and view.span.value() == 900.0  # the view follows the model
    resets = Recorder(m.stream_reset)
    m.reset(rig.pipette, 1000.0)
    m.on_event(LogEvent(1000, EventKind.EJECT, "glu", -20.0))
    view.refresh(np.array([1200, 1500], dtype=np.int64), 5000)
    assert len(m.bars) == 1 and m.bars[0].drug == rig.pipette.barrel("glu").drug and view.drawn_bars
    assert view.rate_curve.xData is not None and view.raster.xData is not None
    m.reset(rig.pipette, 20000.0)  # the next connection: another rate, no bars yet
    assert len(resets.calls) == 2 and m.bars == [] and m.rate_hz == 20000.0
    assert (m.bin_s, m.span_s) == (2.0, 900.0) and view.span.value() == 900.0
    assert view.drawn_bars == [] and view.rate_curve.xData is None and view.raster.xData is None  # cleared


@pytest.mark.parametrize(("duration_s", "span_s"), [(0.0, 60.0), (30.0, 60.0), (300.0, 360.0), (600.0, 660.0),
                                                     (3600.0, 3780.0), (10 * 3600.0, 4 * 3600.0)])
def test_ratemeter_span_covers_the_protocol(duration_s, span_s):
    assert span_for_protocol(duration_s) == span_s
    assert span_s >= min(duration_s, 4 * 3600.0)


# --- session and recording state: engine events only --------------------------------------------
def test_session_model_says_recording_only_after_the_engine_started_the_file():
    m = SessionModel()
    rec = Recorder(m.recording_changed)
    m.on_engine_event(StateChanged(EngineState.RUNNING))
    assert m.acquiring and not m.recording
    m.on_engine_event(EngineError("recording not started: x.h5: permission denied", "RecordingError"))
    assert not m.recording and rec.calls == [] and "recording not started" in m.last_error
    m.on_engine_event(RecordingChanged(True, "/data/a.h5"))
    assert m.recording and rec.calls == [(True, "/data/a.h5")]
    m.on_engine_event(StateChanged(EngineState.STOPPED))  # the engine's stop closed the file
    assert not m.recording and not m.acquiring and rec.calls[-1] == (False, "/data/a.h5")


def test_a_recorder_that_fails_at_start_never_shows_as_recording(tmp_path, monkeypatch):
    import daq.recording.writer as writer

    def refuse(path, *a, **kw):
        raise OSError(errno.EACCES, "Permission denied", str(path))

    s = LiveSession("sim", seed=2, speed=None, recordings_dir=tmp_path)
    model = SessionModel()
    rec, err = Recorder(model.recording_changed), Recorder(model.error)
    s.subscribe(model.on_engine_event)
    s.connect()
    try:
        wait_until(lambda: model.acquiring, 60, what="the engine running")
        monkeypatch.setattr(writer, "RecordingFile", refuse)
        target = tmp_path / "locked" / "cell.h5"
        s.start_recording(target)
        monkeypatch.undo()
        wait_until(lambda: err.calls, 60, what="the engine's error")
        assert "recording not started" in err.calls[0][0]
        assert rec.calls == [] and not model.recording
        assert not s.recording and s.recorder is None and not target.exists()
        assert s.running  # acquisition goes on
        good = s.start_recording(tmp_path / "good.h5")  # and the slot is free
        wait_until(lambda: model.recording, 60, what="the engine's RecordingChanged")
        assert rec.calls == [(True, str(good))] and good.exists() and s.recording
        s.stop_recording()
        wait_until(lambda: not model.recording, 60, what="the recording closed")
    finally:
        s.close()
    assert not model.acquiring


def test_the_bridge_feeds_the_session_model_on_the_gui_thread(qtbot, tmp_path, monkeypatch):
    import daq.recording.writer as writer
    from app.gui.bridge import EngineBridge

    bridge = EngineBridge()
    model = bridge.session_model
    rec, err, state = Recorder(model.recording_changed), Recorder(model.error), Recorder(model.state_changed)
    s = LiveSession("sim", seed=2, speed=None, recordings_dir=tmp_path)
    s.subscribe(bridge.on_engine_event)
    s.connect()
    try:
        qtbot.waitUntil(lambda: model.acquiring, timeout=60_000)
        monkeypatch.setattr(writer, "RecordingFile",
                            lambda path, *a, **k: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only", str(path))))
        s.start_recording(tmp_path / "ro" / "x.h5")
        monkeypatch.undo()
        qtbot.waitUntil(lambda: bool(err.calls), timeout=60_000)
        assert rec.calls == [] and not model.recording
        s.start_recording(tmp_path / "ok.h5")
        qtbot.waitUntil(lambda: model.recording, timeout=60_000)
    finally:
        s.close()
    qtbot.waitUntil(lambda: not model.acquiring, timeout=60_000)
    main = threading.main_thread()
    assert all(t is main for t in rec.threads + err.threads + state.threads)
    assert rec.calls[0] == (True, str(tmp_path / "ok.h5")) and rec.calls[-1][0] is False


def test_the_ratemeter_span_follows_a_loaded_protocol():
    from pathlib import Path

    from app.gui.models.protocol import load

    rig = load_preset("cortex")
    rates, proto = RateModel(rig.pipette, 1000.0, span_s=120.0), ProtocolModel(1000.0)
    rates.follow(proto)
    example = Path(__file__).resolve().parents[2] / "protocols" / "examples" / "dose_response.yaml"
    result = load(example, rig.pipette)
    assert result.ok and result.duration_s > 300  # longer than the old fixed 300-s span
    proto.set_loaded(result)
    assert rates.span_s == span_for_protocol(result.duration_s) >= result.duration_s
    bad = load(example.with_name("no-such.yaml"), rig.pipette)
    proto.set_loaded(bad)
    assert rates.span_s == span_for_protocol(result.duration_s)  # a failed load changes nothing


def test_the_recording_panel_says_recording_only_when_the_session_model_does(qtbot):
    from app.gui.recording_panel import RecordingPanel

    m = SessionModel()
    panel = RecordingPanel(m, "rec")
    qtbot.addWidget(panel)
    asked: list[bool] = []
    panel.start_requested.connect(lambda: asked.append(True))
    assert not panel.record_button.isEnabled() and panel.path.text() == "not recording"  # nothing acquires
    m.on_state(str(EngineState.RUNNING))
    assert panel.record_button.isEnabled()
    panel.record_button.click()  # asking for a recording changes nothing shown
    assert asked == [True] and not panel.recording and panel.path.text() == "not recording"
    m.on_recording(True, "/data/cell3_01.h5")  # the engine started the file
    assert panel.recording and "cell3_01.h5" in panel.path.text() and panel.add_note_button.isEnabled()
    assert not panel.template.isEnabled()
    m.on_state(str(EngineState.STOPPED))  # a stopped engine records nothing
    assert not panel.recording and panel.path.text() == "not recording"
    assert not panel.record_button.isEnabled() and not panel.add_note_button.isEnabled()
