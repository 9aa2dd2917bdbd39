"""The rig window, offscreen, against the simulated rig: every control does what it says."""
# ruff: noqa: F811  (make_window, a fixture from gui_helpers, is each test's argument)

from __future__ import annotations

import html

import numpy as np
import pytest

pytest.importorskip("PyQt6")
import pyqtgraph as pg
from gui_helpers import TIMEOUT_MS, make_window, write_protocol  # noqa: F401 (make_window is a fixture)
from PyQt6.QtCore import QEvent, QPointF, QSettings, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication

from app.session import load_any_protocol, run_protocol
from daq.engine import Call
from daq.errors import CurrentLimitError
from daq.recording import Recording
from daq.recording.h5file import writer_alive
from daq.types import EventKind


def wait_ejecting(qtbot, win, name: str, on: bool) -> None:
    qtbot.waitUntil(lambda: win.barrel_model.row(name).ejecting == on, timeout=TIMEOUT_MS)


def test_window_shows_live_traces_and_ratemeter(qtbot, make_window):
    win = make_window()
    qtbot.waitUntil(lambda: win.trace_model.end_index > 1.0 * win.trace_model.rate_hz and win.frames > 20,
                    timeout=TIMEOUT_MS)
    pv = win.traces.plot_view
    assert pv.as_columns  # a 5-s window: more columns than pixels, drawn as a strip chart
    span = pv.strip.drawn_span_s()
    assert span is not None and span[1] > 0.9
    # on the screen: the detector's lane holds its colour around its centre
    img = win.traces.glw.grab().toImage()
    centre, _ = pv.lanes[pv.detector_channel]
    y = int(win.traces.glw.mapFromScene(pv.plot.vb.mapViewToScene(pg.Point(0, centre))).y())
    ink = pg.mkColor(pv.colours[pv.detector_channel]).rgb()
    assert sum(img.pixel(x, yy) == ink for x in range(img.width()) for yy in range(y - 5, y + 6)) > 100
    qtbot.waitUntil(lambda: win.rates.rate_curve.xData is not None, timeout=TIMEOUT_MS)
    assert "kHz" in win.device_bar.info.text()
    qtbot.waitUntil(lambda: "AO buffer" in win.device_bar.status.text(), timeout=TIMEOUT_MS)


def test_eject_toggle_writes_an_event_at_that_barrel_and_current(qtbot, make_window, tmp_path):
    win = make_window()
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.recording_panel.template.setText("toggle_{n}.h5")
    win.recording_panel.notes.setPlainText("cell 1, 900 µm")
    qtbot.mouseClick(win.recording_panel.record_button, Qt.MouseButton.LeftButton)
    assert win.session.recording
    path = win.session.recorder.path
    assert path.name == "toggle_1.h5"
    qtbot.waitUntil(lambda: win.recording_panel.recording, timeout=TIMEOUT_MS)  # the engine's event, queued
    win.recording_panel.notes.setPlainText("drug A washed in")
    qtbot.mouseClick(win.recording_panel.add_note_button, Qt.MouseButton.LeftButton)
    box = win.barrels.eject_edits["glu"]
    box.clear()
    qtbot.keyClicks(box, "42")
    box.editingFinished.emit()
    assert box.value() == 42.0
    qtbot.mouseClick(win.barrels.toggles["glu"], Qt.MouseButton.LeftButton)
    wait_ejecting(qtbot, win, "glu", True)
    assert win.barrels.toggles["glu"].isChecked() and win.barrels.toggles["glu"].text() == "EJECT"

    def glu_bars():
        return [b for b in win.rate_model.bars if b.barrel == "glu"]

    def running_bar_labelled() -> bool:
        """The ratemeter shows the running ejection as a bar labelled with its current."""
        bars = glu_bars()
        return (len(bars) == 1 and bars[0].offset_index is None and bars[0].current_nA == pytest.approx(-42.0)
                and any(lab in (bars[0].label, bars[0].short_label) for lab in win.rates.drawn_bars))

    qtbot.waitUntil(running_bar_labelled, timeout=TIMEOUT_MS)
    assert "-42 nA" in " ".join(win.rates.drawn_bars)
    qtbot.mouseClick(win.barrels.toggles["glu"], Qt.MouseButton.LeftButton)
    wait_ejecting(qtbot, win, "glu", False)
    qtbot.waitUntil(lambda: len(glu_bars()) == 1 and glu_bars()[0].offset_index is not None, timeout=TIMEOUT_MS)
    (bar,) = glu_bars()  # the bar ends where the retain began
    qtbot.mouseClick(win.recording_panel.record_button, Qt.MouseButton.LeftButton)
    assert not win.session.recording
    # the writer finishes on its own thread: open the file only once it has let go of it (one
    # process shares one HDF5 file object, so a reader opened earlier would hold the writer's)
    qtbot.waitUntil(lambda: path.exists() and writer_alive(path) is False, timeout=TIMEOUT_MS)
    with Recording(path) as rec:
        assert rec.closed_cleanly
        ev = rec.events
        assert "cell 1, 900 µm" in rec.notes and "drug A washed in" in rec.notes
    ejects = [e for e in ev if e.kind == EventKind.EJECT and e.barrel == "glu"]
    assert len(ejects) == 1 and ejects[0].current_nA == pytest.approx(-42.0)  # glutamate ejects with −
    retains = [e for e in ev if e.kind == EventKind.RETAIN and e.barrel == "glu" and e.sample_index > ejects[0].sample_index]
    assert retains and retains[0].current_nA == pytest.approx(15.0)
    # the bar drawn on the ratemeter spans exactly the ejection the file records
    assert (bar.onset_index, bar.offset_index) == (ejects[0].sample_index, retains[0].sample_index)


def test_eject_current_above_the_limit_is_refused(qtbot, make_window):
    win = make_window()
    box = win.barrels.eject_edits["glu"]
    limit = win.session.rig.pipette.barrel("glu").max_eject_nA
    assert box.maximum() == pytest.approx(limit)  # the barrel's limit bounds the box
    with pytest.raises(CurrentLimitError, match=rf"barrel 'glu': eject current {limit + 1.0:g} nA is outside 0…{limit:g} nA"):
        win.barrel_model.set_eject("glu", limit + 1.0)
    assert win.barrel_model.row("glu").eject_nA <= limit  # the setpoint was not changed


def test_typing_an_over_limit_eject_current_shows_a_refusal_and_keeps_the_setpoint(qtbot, make_window):
    """250 typed into a 200-nA box: refused in words (panel and banner), the setpoint stays 20,
    nothing is commanded — never silently 25 (what a QDoubleSpinBox leaves)."""
    win = make_window()
    name = "glu"
    limit = win.barrel_model.eject_limit_nA(name)
    over = f"{limit + 50:g}"  # e.g. 250 for a 200-nA limit
    box = win.barrels.eject_edits[name]
    before = win.barrel_model.row(name).eject_nA
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, over)
    assert box.text() == over  # the box took every digit (a spin box keeps "25")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert win.barrel_model.row(name).eject_nA == before
    assert box.value() == before and box.text() == f"{before:g}"
    assert win.barrels.refusal.isVisible()
    msg = win.barrels.refusal.text()
    assert f"{float(over):g} nA" in msg and f"0…{limit:g} nA" in msg and f"stays {before:g} nA" in msg
    assert any("refused" in b.text and name in b.text for b in win.banners.banners())
    # a number within the limit is taken, and the refusal goes away
    box.selectAll()
    qtbot.keyClicks(box, "35")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert win.barrel_model.row(name).eject_nA == 35.0 and not win.barrels.refusal.isVisible()
    box.clear()
    qtbot.keyClicks(box, "abc")  # letters never reach the box
    assert box.text() == ""
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert "not a current" in win.barrels.refusal.text() and win.barrel_model.row(name).eject_nA == 35.0


def test_escape_puts_every_barrel_on_retain(qtbot, make_window):
    win = make_window()
    for name in ("glu", "gaba"):
        qtbot.mouseClick(win.barrels.toggles[name], Qt.MouseButton.LeftButton)
    wait_ejecting(qtbot, win, "glu", True)
    wait_ejecting(qtbot, win, "gaba", True)
    win.barrels.eject_edits["gaba"].setFocus()  # Esc works wherever the focus is
    qtbot.keyClick(win.barrels.eject_edits["gaba"], Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not any(r.ejecting for r in win.barrel_model.rows), timeout=TIMEOUT_MS)
    glu = win.barrel_model.row("glu")
    assert glu.commanded_nA == pytest.approx(15.0) and glu.state == "retain"
    assert win.barrel_model.balance_commanded_nA() == pytest.approx(-(15 - 15 - 10))


def test_protocol_run_pause_resume_abort(qtbot, make_window, tmp_path):
    win = make_window(speed=4.0)
    proto = write_protocol(tmp_path, eject_s=3.0, recovery_s=3.0, baseline_s=0.5)
    win.open_protocol(str(proto))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    assert win.protocol_model.loaded.ok, win.protocol_model.loaded.messages
    assert len(win.protocol_model.loaded.blocks) == 4
    assert win.protocol_panel.run_button.isEnabled()
    qtbot.mouseClick(win.protocol_panel.run_button, Qt.MouseButton.LeftButton)
    wait_ejecting(qtbot, win, "glu", True)
    assert win.protocol_model.state == "running"
    qtbot.waitUntil(lambda: win.protocol_panel.pause_button.isEnabled(), timeout=TIMEOUT_MS)
    qtbot.mouseClick(win.protocol_panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.protocol_model.state == "paused", timeout=TIMEOUT_MS)
    wait_ejecting(qtbot, win, "glu", False)  # pause puts every barrel on retain
    assert win.protocol_panel.resume_button.isEnabled()
    qtbot.mouseClick(win.protocol_panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.protocol_model.state == "running", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: win.protocol_panel.abort_button.isEnabled(), timeout=TIMEOUT_MS)
    qtbot.mouseClick(win.protocol_panel.abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.protocol_model.state == "aborted", timeout=TIMEOUT_MS)
    assert not any(r.ejecting for r in win.barrel_model.rows)
    assert "aborted" in win.protocol_panel.step.text()


def test_invalid_protocol_shows_messages_and_cannot_run(qtbot, make_window, tmp_path):
    win = make_window()
    bad = tmp_path / "bad.yaml"
    bad.write_text("plan: dose_response\nparams: {barrel: glu, currents_nA: [10, 500], eject_s: 1, recovery_s: 1}\n")
    win.open_protocol(str(bad))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    assert not win.protocol_model.loaded.ok
    assert "500" in win.protocol_panel.messages.toPlainText()
    assert not win.protocol_panel.run_button.isEnabled()
    assert any("not valid" in b.text for b in win.banners.banners())


def _drag(view, item_scene_pos: QPointF, dy_px: float) -> None:
    """Press on a scene point of a pyqtgraph view, move by ``dy_px``, release (real mouse events)."""
    vp = view.viewport()
    start = view.mapFromScene(item_scene_pos).toPointF()
    end = QPointF(start.x(), start.y() + dy_px)
    press_btn = Qt.MouseButton.LeftButton
    mods = Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseButtonPress, start, vp.mapToGlobal(start),
                                           press_btn, press_btn, mods))
    for k in range(1, 6):
        QTest.qWait(60)  # pyqtgraph drops move events that come faster than its frame rate
        p = QPointF(start.x(), start.y() + dy_px * k / 5)
        QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseMove, p, vp.mapToGlobal(p),
                                               Qt.MouseButton.NoButton, press_btn, mods))
    QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseButtonRelease, end, vp.mapToGlobal(end),
                                           press_btn, Qt.MouseButton.NoButton, mods))


def test_dragging_the_threshold_line_sets_the_detector_threshold(qtbot, make_window):
    win = make_window()
    det = win.session.detector
    qtbot.waitUntil(lambda: det.threshold is not None and win.traces.plot_view.threshold_line.isVisible(), timeout=TIMEOUT_MS)
    before = det.threshold
    line = win.traces.plot_view.threshold_line
    vb = win.traces.plot_view.plot.getViewBox()
    x_mid = sum(vb.viewRange()[0]) / 2
    scene_pt = vb.mapViewToScene(QPointF(x_mid, line.value()))
    dy = 0.05 * vb.sceneBoundingRect().height()
    _drag(win.traces.glw, scene_pt, dy)  # drag downwards: a more negative, larger |threshold|
    qtbot.waitUntil(lambda: det._manual_threshold is not None, timeout=TIMEOUT_MS)
    centre, scale = win.traces.plot_view.lanes[win.traces.plot_view.detector_channel]
    assert det._manual_threshold == pytest.approx(abs(line.value() - centre) / scale / 1e6, rel=1e-6)
    assert det._manual_threshold > before
    qtbot.waitUntil(lambda: det.threshold == pytest.approx(det._manual_threshold), timeout=TIMEOUT_MS)


def test_auto_threshold_is_k_times_the_noise(qtbot, make_window):
    win = make_window()
    det = win.session.detector
    qtbot.waitUntil(lambda: det.sigma is not None, timeout=TIMEOUT_MS)
    win.traces.k.setValue(4.0)
    qtbot.mouseClick(win.traces.auto, Qt.MouseButton.LeftButton)
    assert det._manual_threshold == pytest.approx(4.0 * det.sigma)


def test_freeze_holds_the_view_and_scrolls_back(qtbot, make_window):
    win = make_window(speed=8.0)
    win.traces.window.setCurrentIndex(win.traces.window.findData(1.0))
    qtbot.waitUntil(lambda: win.trace_model.end_index > 4 * win.trace_model.rate_hz, timeout=TIMEOUT_MS)
    qtbot.mouseClick(win.traces.freeze, Qt.MouseButton.LeftButton)
    held = win.trace_model.view_range()
    qtbot.waitUntil(lambda: win.trace_model.end_index > held[1] + win.trace_model.rate_hz, timeout=TIMEOUT_MS)
    assert win.trace_model.view_range() == held  # acquisition goes on; the view holds
    win.traces.scroll.setValue(win.traces.scroll.minimum())  # all the way back
    lo, hi = win.trace_model.view_range()
    assert hi < held[1] - 2 * win.trace_model.rate_hz
    cs, _, _ = win.trace_model.columns()
    assert len(cs) > 0 and cs[0] >= lo - win.trace_model.samples_per_column
    qtbot.mouseClick(win.traces.freeze, Qt.MouseButton.LeftButton)
    assert not win.trace_model.frozen


def test_gain_and_window_controls(qtbot, make_window):
    win = make_window()
    ch = win.traces.plot_view.detector_channel
    win.traces.plot_view.controls.channel.setCurrentIndex(ch)
    scale1 = win.traces.plot_view.lane_scale(ch)
    win.traces.plot_view.controls.gain.setCurrentIndex(win.traces.plot_view.controls.gain.findData(2.0))
    assert win.trace_model.channels[ch].y_range == (-125.0, 125.0)  # ±250 µV at gain 1 → ±125 µV at gain 2
    assert win.traces.plot_view.lane_scale(ch) == pytest.approx(2 * scale1)
    assert any(lab.endswith("±125 µV") for lab in win.traces.plot_view.lane_labels)
    monitor = next(i for i in range(len(win.trace_model.channels)) if i != ch)
    win.traces.plot_view.controls.channel.setCurrentIndex(monitor)
    win.traces.plot_view.controls.visible.setChecked(False)
    assert monitor not in win.traces.plot_view.lanes and not win.traces.plot_view.curves[monitor].isVisible()
    win.traces.plot_view.controls.visible.setChecked(True)
    win.traces.window.setCurrentIndex(win.traces.window.findData(0.5))

    strip, vb = win.traces.plot_view.strip, win.traces.plot_view.plot.vb

    def shows_half_a_second() -> bool:  # the strip's pixels are 0.5 s / the view's width, and filled
        span = strip.drawn_span_s()
        return (span is not None and abs(strip.dt_s * vb.width() - 0.5) < 1e-3
                and span[1] - span[0] > 0.4)

    qtbot.waitUntil(shows_half_a_second, timeout=TIMEOUT_MS)
    lo, hi = win.trace_model.view_range()
    assert (hi - lo) / win.trace_model.rate_hz == pytest.approx(0.5)


def test_mark_hot_key_logs_a_mark(qtbot, make_window):
    win = make_window()
    win.recording_panel.mark_text.setText("drug washed in")
    qtbot.keyClick(win, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: "drug washed in" in win.recording_panel.marks.text(), timeout=TIMEOUT_MS)


def test_recording_error_is_a_banner_and_acquisition_goes_on(qtbot, make_window, tmp_path):
    win = make_window()
    (tmp_path / "rec").mkdir(exist_ok=True)
    (tmp_path / "rec" / "taken.h5").write_bytes(b"x")
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.recording_panel.template.setText("taken.h5")
    qtbot.mouseClick(win.recording_panel.record_button, Qt.MouseButton.LeftButton)
    assert not win.session.recording
    assert any("could not start recording" in b.text for b in win.banners.banners())
    assert "file exists" in win.banners.history[-1][2]
    end = win.trace_model.end_index
    qtbot.waitUntil(lambda: win.trace_model.end_index > end, timeout=TIMEOUT_MS)
    win.recording_panel.template.setText("{bogus}.h5")
    qtbot.mouseClick(win.recording_panel.record_button, Qt.MouseButton.LeftButton)
    assert "unknown field" in win.banners.history[-1][2]


def test_bad_device_is_a_banner_not_a_traceback(qtbot, make_window):
    win = make_window(connect=False)
    win.device_bar.set_url("ni:Dev9")
    win.connect_device()
    qtbot.waitUntil(lambda: bool(win.banners.banners()), timeout=TIMEOUT_MS)
    b = win.banners.banners()[0]
    assert b.level == "error" and "could not connect" in b.text
    assert win.device_bar.connect_button.text() == "Connect" and win.device_bar.connect_button.isEnabled()


def test_closing_asks_before_stopping_a_recording_and_retains_every_barrel(qtbot, make_window, tmp_path):
    win = make_window()
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.start_recording()
    path = win.session.recorder.path
    qtbot.mouseClick(win.barrels.toggles["gaba"], Qt.MouseButton.LeftButton)
    wait_ejecting(qtbot, win, "gaba", True)
    asked = []
    win.confirm = lambda title, text: asked.append(text) or False
    assert not win.close()  # refused: still open, still recording
    assert asked and "recording" in asked[0] and win.session.recording
    win.confirm = lambda title, text: True
    device = win.session.engine.device
    assert win.close()
    assert not win.session.running
    safe = win.session.pipette.safe_volts()
    assert np.allclose(device.static_volts, safe)  # every barrel on retain after closing
    with Recording(path) as rec:
        assert rec.closed_cleanly
        kinds = [(e.kind, e.barrel) for e in rec.events]
    assert (EventKind.RETAIN, "gaba") in kinds
    assert QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat).value("geometry") is not None


def test_live_dose_response_fills_in_as_epochs_finish(qtbot, make_window, tmp_path):
    win = make_window(speed=10.0)
    win.dose_model.baseline_s = 2.0
    win.dose_model.response_s = 1.0
    proto = write_protocol(tmp_path, eject_s=2.0, recovery_s=2.0, baseline_s=2.0)
    win.open_protocol(str(proto))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    win.run_protocol()
    qtbot.waitUntil(lambda: win.protocol_model.state == "done", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(win.dose_model.points) == 4, timeout=TIMEOUT_MS)
    currents = sorted(p.current_nA for p in win.dose_model.points)
    assert currents == [10, 20, 40, 80]
    assert win.protocol_panel.progress.value() == 1000
    qtbot.waitUntil(lambda: win.dose_view.live is not None and "glu:glutamate" in win.dose_view.live.points,
                    timeout=TIMEOUT_MS)
    live = win.dose_view.live
    x, _y = live.points["glu:glutamate"]
    assert sorted(x[x > 0]) == [10, 20, 40, 80] and np.count_nonzero(x == 0) == 4  # + each ejection's baseline
    label = win.dose_view.fit_label.text()
    if "glu:glutamate" in live.fits:  # the status and reasons in analysis's own words
        f = live.fits["glu:glutamate"]
        assert f"[{f.status}]" in label and f.ec50_text() in label
        assert all(html.escape(r) in label for r in f.reasons)
    else:
        assert live.errors["glu:glutamate"] in label


def test_replay_shows_the_file_through_the_same_views(qtbot, make_window, tmp_path):
    proto = write_protocol(tmp_path, eject_s=1.0, recovery_s=0.5, baseline_s=0.5)
    plan = load_any_protocol(proto)
    out = tmp_path / "to_replay.h5"
    res = run_protocol(plan.factory(), plan.info, out, device_url="sim", seed=3, speed=None)
    assert res.error is None
    win = make_window(f"replay:{out}", speed=4.0)  # the real replay device (app.session.open_device)
    assert not win.session.can_eject
    assert not win.barrels.toggles["glu"].isEnabled()  # a replay never drives barrels
    assert any("no analog outputs" in b.text for b in win.banners.banners())
    qtbot.waitUntil(lambda: len([b for b in win.rate_model.bars if b.barrel == "glu"]) >= 2, timeout=TIMEOUT_MS)
    bar = win.rate_model.bars[0]
    assert bar.label == "glu · glutamate -10 nA"
    with Recording(out) as rec:
        first = next(e for e in rec.events if e.kind == EventKind.EJECT)
        raw = rec.raw(0, 2000)
    assert bar.onset_index == first.sample_index
    st = win.session.stream
    np.testing.assert_array_equal(win.session.display.ring.snapshot()[1][:2000], raw)
    assert st.rate_hz == 20000


def test_an_overflow_the_engine_recovers_from_is_a_warning_banner(qtbot, make_window):
    """Lost samples must reach the operator: the simulator's overflow fault (NI -200279) is
    recovered by the engine and shown as a warning, while acquisition goes on."""
    win = make_window()
    dev = win.session.engine.device
    win.session.submit(Call(lambda c: dev.inject_fault(
        {"kind": "overflow", "at_s": 0.0, "lost_s": 0.02, "report": "error"})))
    qtbot.waitUntil(lambda: any(b.level == "warning" and "overflow" in b.text.lower()
                                for b in win.banners.banners()), timeout=TIMEOUT_MS)
    end = win.trace_model.end_index
    qtbot.waitUntil(lambda: win.trace_model.end_index > end, timeout=TIMEOUT_MS)
    assert win.session.running


def test_frame_timer_draws_new_samples_at_once_and_otherwise_at_the_frame_pace(qtbot, make_window):
    win = make_window(speed=1.0)
    win.clock.stop()  # drive the ticks by hand
    m = win.trace_model
    drew_new = 0
    for _ in range(200):  # ~1 s: about 20 engine blocks arrive
        win.clock._last_frame_s = float("inf")  # as if a frame had just been drawn
        fresh = win.session.end_index > m.next_index
        reingest = win.clock.reingest  # the plot was resized (columns rebuilt): redrawn at once too
        before, before_next = win.frames, m.next_index
        win.clock._tick()
        drew = win.frames > before
        if fresh:  # new samples: drawn at once, whatever the frame pace
            assert drew
            drew_new += 1
        if drew and not reingest:  # otherwise no frame inside the frame period
            assert m.next_index > before_next, (before_next, m.next_index, win.session.end_index)
        QTest.qWait(5)
    assert drew_new >= 5
    win.clock._last_frame_s = 0.0  # the frame period has passed: drawn even without new samples
    before = win.frames
    win.clock._tick()
    assert win.frames == before + 1


ANTAGONIST = """name: short antagonist series
plan: antagonist_series
params: {agonist_barrel: gaba, agonist_currents_nA: [10, 20, 40], antagonist_barrel: bic, antagonist_nA: 40,
         eject_s: 2, recovery_s: 2, baseline_s: 2, antagonist_baseline_s: 3, washout_s: 2}
"""


def test_live_dose_response_keeps_the_drug_alone_and_under_the_antagonist_apart(qtbot, make_window, tmp_path):
    """The antagonist example: GABA alone and GABA under bicuculline are two series (and two
    fits), grouped as ionto analyze groups them, never one lumped series."""
    win = make_window(speed=10.0)
    win.dose_model.baseline_s = 2.0
    win.dose_model.response_s = 1.0
    proto = tmp_path / "antagonist.yaml"
    proto.write_text(ANTAGONIST)
    win.open_protocol(str(proto))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    assert win.protocol_model.loaded.ok, win.protocol_model.loaded.messages
    win.run_protocol()
    qtbot.waitUntil(lambda: win.protocol_model.state == "done", timeout=TIMEOUT_MS)

    def gaba_groups() -> list[str]:
        live = win.dose_view.live
        return [] if live is None else sorted(k for k in live.points if k.startswith("gaba:"))

    qtbot.waitUntil(lambda: len(gaba_groups()) == 2 and all(
        np.count_nonzero(win.dose_view.live.points[k][0] > 0) == 3 for k in gaba_groups()), timeout=TIMEOUT_MS)
    alone, under = gaba_groups()
    assert alone == "gaba:GABA" and under.startswith("gaba:GABA + bicuculline")
    for key in (alone, under):
        x, _ = win.dose_view.live.points[key]
        assert sorted(x[x > 0]) == [10, 20, 40]  # each series holds its own three currents
        assert key in win.dose_view.fit_label.text()
    items = [it for it in win.dose_view.plot.getPlotItem().listDataItems() if it.name() in (alone, under)]
    assert len(items) == 2  # two series drawn, in gaba's colour, with different symbols
    assert items[0].opts["symbol"] != items[1].opts["symbol"]


def test_a_rig_sampled_too_slowly_for_the_spike_band_says_which_band_it_shows(qtbot, make_window, tmp_path):
    """At 10 kHz the 300–6000 Hz spike band does not fit (0.45 × the rate): the traces and the
    detector use 300–4500 Hz, and the window says so rather than showing a band it does not use."""
    import yaml

    from mock_daq import load_preset

    d = load_preset("cortex").model_dump(mode="json", exclude_none=True)
    d["rate_hz"] = 10_000.0
    rig = tmp_path / "slow-rig.yaml"
    rig.write_text(yaml.safe_dump(d), encoding="utf-8")
    win = make_window(rig_path=str(rig))
    assert win.trace_model.detection.band_hz == (300.0, 4500.0)
    from PyQt6.QtWidgets import QLabel

    note = win.statusBar().findChild(QLabel, "band_note")
    assert note is not None and note.isVisible()
    assert "4500" in note.text() and "6000" in note.text(), note.text()


def test_a_rig_fast_enough_for_the_spike_band_shows_no_band_note(qtbot, make_window):
    from PyQt6.QtWidgets import QLabel

    win = make_window()
    assert win.trace_model.detection.band_hz == (300.0, 6000.0)
    note = win.statusBar().findChild(QLabel, "band_note")
    assert note is None or not note.isVisible()
