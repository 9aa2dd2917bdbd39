"""The rig window's menus, keys, cursors, palette, lanes and size (issue 16 items 1-3), offscreen
against the simulated rig: each action and key does what its menu says."""
# ruff: noqa: F811  (make_window, a fixture from gui_helpers, is each test's argument)

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from gui_helpers import TIMEOUT_MS, make_window, write_protocol  # noqa: F401 (make_window is a fixture)
from PyQt6.QtCore import QRect, QSettings, Qt
from PyQt6.QtWidgets import QApplication, QFileDialog, QInputDialog

from app.gui.cursors import between
from app.gui.main_window import MainWindow, fit_rect
from app.gui.palette import barrel_colour
from app.gui.time_axis import time_labels
from app.gui.trace_plot import current_half_range
from app.live import LiveSession

EXPECTED_KEYS = {"open_protocol": "Ctrl+O", "record": "Ctrl+R", "freeze": "Space", "mark": "F2",
                 "retain_all": "Esc", "run": "F5", "pause": "F6", "resume": "F7", "abort": "Shift+F5",
                 "cursors": "F3", "hcursor": "F4", "keys": "F1", "quit": "Ctrl+Q",
                 "save_workspace": "Ctrl+Shift+S", "load_workspace": "Ctrl+Shift+O"}


def _marks(win, text: str) -> list:
    return [m for m in win.traces.plot_view.annotations.marks if m.kind == "mark" and m.text == text]


def test_the_menu_bar_has_the_six_menus_and_the_expected_keys(qtbot, make_window):
    win = make_window(connect=False)
    assert list(win.menus.menus) == ["File", "Device", "Protocol", "Recording", "View", "Help"]
    assert [a.text() for a in win.menuBar().actions()] == ["&File", "&Device", "&Protocol", "&Recording", "&View",
                                                            "&Help"]
    for name, key in EXPECTED_KEYS.items():
        assert win.menus.actions[name].shortcut().toString() == key, name
    for digit in range(10):
        assert win.menus.actions[f"marker_{digit}"].shortcut().toString() == str(digit)
    assert win.menus.actions["retain_all"].shortcutContext() == Qt.ShortcutContext.ApplicationShortcut
    assert win.menus.actions["mark"].shortcutContext() == Qt.ShortcutContext.ApplicationShortcut


def test_f1_opens_a_key_sheet_that_lists_every_key(qtbot, make_window):
    win = make_window(connect=False)
    qtbot.keyClick(win, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: win.key_sheet is not None and win.key_sheet.isVisible(), timeout=TIMEOUT_MS)
    keys = {key for _menu, key, _what in win.key_sheet.rows}
    assert set(EXPECTED_KEYS.values()) <= keys and "0 … 9" in keys


def test_ctrl_o_opens_the_chosen_protocol_and_checks_it(qtbot, make_window, tmp_path, monkeypatch):
    win = make_window()
    proto = write_protocol(tmp_path)
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a) or (str(proto), ""))
    qtbot.keyClick(win, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert asked
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    assert win.protocol_model.loaded.ok and win.protocol_model.loaded.path == proto
    assert win.protocol_dock.isVisible()


def test_ctrl_r_starts_and_stops_the_recording(qtbot, make_window, tmp_path):
    win = make_window()
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.recording_panel.template.setText("ctrl_r_{n}.h5")
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.session.recording, timeout=TIMEOUT_MS)
    path = win.session.recorder.path
    assert path.name == "ctrl_r_1.h5"
    qtbot.waitUntil(lambda: win.recording_panel.recording, timeout=TIMEOUT_MS)  # the engine's event, queued
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not win.session.recording and not win.recording_panel.recording, timeout=TIMEOUT_MS)


def test_space_freezes_the_display_but_types_a_space_in_a_text_box(qtbot, make_window):
    win = make_window()
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert win.trace_model.frozen and win.traces.freeze.isChecked() and win.menus.actions["freeze"].isChecked()
    held = win.trace_model.view_range()
    qtbot.waitUntil(lambda: win.trace_model.end_index > held[1] + win.trace_model.rate_hz // 2, timeout=TIMEOUT_MS)
    assert win.trace_model.view_range() == held
    box = win.recording_panel.mark_text
    win.recording_dock.show()
    win.recording_dock.raise_()
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=TIMEOUT_MS)
    qtbot.keyClicks(box, "a b")
    assert box.text() == "a b" and win.trace_model.frozen  # the text box kept its space
    win.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert not win.trace_model.frozen and not win.traces.freeze.isChecked()


def test_digit_keys_add_typed_markers_drawn_on_the_traces(qtbot, make_window):
    win = make_window()
    qtbot.keyClick(win, Qt.Key.Key_3)
    qtbot.keyClick(win, Qt.Key.Key_7)
    qtbot.waitUntil(lambda: bool(_marks(win, "3") and _marks(win, "7")), timeout=TIMEOUT_MS)
    (m3,), (m7,) = _marks(win, "3"), _marks(win, "7")
    assert m3.t_s <= m7.t_s
    assert m3.item.label.toPlainText() == "3"  # the digit is drawn on the trace's line
    assert m3.item in win.traces.plot_view.plot.items


def test_f2_mark_is_drawn_on_the_traces_with_its_text(qtbot, make_window):
    win = make_window()
    win.recording_panel.mark_text.setText("washout")
    qtbot.keyClick(win, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: bool(_marks(win, "washout")), timeout=TIMEOUT_MS)
    assert "washout" in win.recording_panel.marks.text()


def test_escape_retains_every_barrel_with_the_focus_in_the_notes(qtbot, make_window):
    win = make_window()
    qtbot.mouseClick(win.barrels.toggles["gaba"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.barrel_model.row("gaba").ejecting, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "EJECT" in win.safety.chips["gaba"].text(), timeout=TIMEOUT_MS)
    notes = win.recording_panel.notes
    win.recording_dock.show()
    win.recording_dock.raise_()
    notes.setFocus()
    qtbot.keyClick(notes, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not win.barrel_model.row("gaba").ejecting, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "retain" in win.safety.chips["gaba"].text(), timeout=TIMEOUT_MS)


def test_protocol_keys_run_pause_resume_and_abort(qtbot, make_window, tmp_path):
    win = make_window()
    win.open_protocol(str(write_protocol(tmp_path, eject_s=3.0, recovery_s=3.0, baseline_s=0.5)))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    qtbot.keyClick(win, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: win.protocol_model.state == "running", timeout=TIMEOUT_MS)
    qtbot.keyClick(win, Qt.Key.Key_F6)
    qtbot.waitUntil(lambda: win.protocol_model.state == "paused", timeout=TIMEOUT_MS)
    qtbot.keyClick(win, Qt.Key.Key_F7)
    qtbot.waitUntil(lambda: win.protocol_model.state == "running", timeout=TIMEOUT_MS)
    qtbot.keyClick(win, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: win.protocol_model.state == "aborted", timeout=TIMEOUT_MS)
    assert not any(r.ejecting for r in win.barrel_model.rows)


def test_protocol_steps_and_ejections_are_drawn_on_the_traces(qtbot, make_window, tmp_path):
    win = make_window(speed=8.0)
    win.open_protocol(str(write_protocol(tmp_path, eject_s=1.0, recovery_s=1.0, baseline_s=0.5)))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    win.run_protocol()
    ann = win.traces.plot_view.annotations
    qtbot.waitUntil(lambda: len([k for k in ann.bars if k[0] == "glu"]) >= 2, timeout=TIMEOUT_MS)
    assert any(m.kind == "step" for m in ann.marks)  # protocol steps as lines on the traces
    glu = win.session.rig.pipette.barrels.index(win.session.rig.pipette.barrel("glu"))
    rect, text = next(v for k, v in ann.bars.items() if k[0] == "glu")
    assert rect.brush().color().name() == barrel_colour(glu)  # the barrel's own colour
    assert text.toPlainText().endswith("nA")
    onsets = sorted(k[1] for k in ann.bars if k[0] == "glu")
    ejects = sorted(b.onset_index for b in win.rate_model.bars if b.barrel == "glu")
    assert onsets == ejects[:len(onsets)]  # the same ejections the ratemeter shows, to the sample


def test_vertical_cursors_measure_time_spikes_and_rate_between_them(qtbot, make_window):
    win = make_window()
    rate = win.trace_model.rate_hz
    qtbot.waitUntil(lambda: len(win.session.spike_indices(0)) >= 5, timeout=TIMEOUT_MS)
    qtbot.keyClick(win, Qt.Key.Key_Space)  # freeze, so the cursors stay over what was measured
    qtbot.keyClick(win, Qt.Key.Key_F3)
    c = win.traces.plot_view.cursors
    assert c.vertical_on and win.menus.actions["cursors"].isChecked()
    spikes = win.session.spike_indices(0)
    t_a, t_b = spikes[0] / rate - 0.01, spikes[-1] / rate - 0.001  # the last spike is outside [a, b)
    c.b.setValue(t_a)  # either order
    c.a.setValue(t_b)
    iv = between(float(c.a.value()), float(c.b.value()), win.session.spike_indices(0), rate)
    assert iv.dt_s == pytest.approx(t_b - t_a)
    assert iv.n_spikes == np.count_nonzero((spikes >= t_a * rate) & (spikes < t_b * rate)) == len(spikes) - 1
    assert iv.rate_hz == pytest.approx(iv.n_spikes / iv.dt_s)
    assert win.traces.cursor_label.text().startswith(iv.text())
    qtbot.keyClick(win, Qt.Key.Key_F3)
    assert not c.vertical_on and win.traces.cursor_label.text() == ""


def test_horizontal_cursor_reads_the_amplitude_in_its_lane_units(qtbot, make_window):
    win = make_window()
    qtbot.keyClick(win, Qt.Key.Key_F4)
    c = win.traces.plot_view.cursors
    assert c.horizontal_on
    ch = win.traces.plot_view.detector_channel
    centre, scale = win.traces.plot_view.lanes[ch]
    c.h.setValue(centre - 80.0 * scale)  # 80 µV below the electrode's zero
    name = win.trace_model.channels[ch].name
    assert f"h: {name} -80.0 µV" in win.traces.cursor_label.text()
    glu_lane = next(i for i, x in enumerate(win.trace_model.stream.channels) if x.barrel == "glu")
    centre, scale = win.traces.plot_view.lanes[glu_lane]
    c.h.setValue(centre + 12.5 * scale)
    assert "+12.5 nA" in win.traces.cursor_label.text()


def test_one_colour_per_barrel_in_strip_panel_lane_bars_and_dose_response(qtbot, make_window):
    win = make_window()
    pip = win.session.rig.pipette
    for i, b in enumerate(pip.barrels):
        colour = barrel_colour(i)
        assert colour in win.safety.chips[b.name].text()
        lane = [k for k, x in enumerate(win.trace_model.stream.channels) if x.barrel == b.name]
        strip_colours = {lane.channel: lane.colour.name() for lane in win.traces.plot_view.strip.lanes}
        for k in lane:  # the current lane is drawn in the barrel's colour
            assert strip_colours[k] == colour and win.traces.plot_view.curves[k].pen.color().name() == colour
    assert win.protocol_panel.colour_lanes == {b.name: i for i, b in enumerate(pip.barrels)}
    assert win.dose_view.colour_lanes == win.protocol_panel.colour_lanes
    assert len(set(barrel_colour(i) for i in range(len(pip.barrels)))) == len(pip.barrels)


def test_a_current_lane_is_scaled_to_the_commanded_current_with_a_zero_line(qtbot, make_window):
    win = make_window()
    gaba_lane = next(i for i, x in enumerate(win.trace_model.stream.channels) if x.barrel == "gaba")
    assert win.traces.plot_view.half_range(gaba_lane) == current_half_range(15.0)  # retain 15 nA -> ±20, not ±limit
    box = win.barrels.eject_edits["gaba"]
    box.setText("35")
    box.editingFinished.emit()
    qtbot.mouseClick(win.barrels.toggles["gaba"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.traces.plot_view.half_range(gaba_lane) == 50.0, timeout=TIMEOUT_MS)  # 35 nA -> ±50 nA
    limit = win.session.rig.pipette.barrel("gaba").max_eject_nA
    assert 50.0 < limit
    assert f"{win.trace_model.channels[gaba_lane].name} ±50 nA" in win.traces.plot_view.lane_labels
    centre, _ = win.traces.plot_view.lanes[gaba_lane]
    assert any(z.value() == pytest.approx(centre) for z in win.traces.plot_view.zero_lines)
    _major, minor = win.traces.plot_view.plot.getAxis("left")._tickLevels
    assert (centre + 0.45, "+50") in [(pytest.approx(y), t) for y, t in minor]


def test_current_half_range_and_time_labels():
    assert [current_half_range(x) for x in (0, 4, 15, 35, 80, 200)] == [5, 5, 20, 50, 100, 500]
    assert time_labels([0.0, 200.0, 400.0], 200.0) == ["0", "200", "400"]  # never "0.2 ks"
    assert time_labels([0.0, 0.5, 1.0], 0.5) == ["0.0", "0.5", "1.0"]
    assert time_labels([600.0, 1200.0, 1800.0], 600.0) == ["10:00", "20:00", "30:00"]
    assert time_labels([1000.0, 1500.0], 500.0) == ["16:40", "25:00"]


def test_window_opens_sized_to_the_screen_and_comes_back_where_it_was(qtbot, qt_windows, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)

    def window() -> MainWindow:
        win = MainWindow(LiveSession("sim", seed=1, recordings_dir=tmp_path / "rec"), settings=settings)
        win.confirm = lambda title, text: True
        qtbot.addWidget(win)
        qt_windows.append(win)
        return win

    win = window()
    screen = win.available_geometry()
    assert win.geometry() == screen  # not a fixed 1500×950
    assert win.minimumSizeHint().width() <= 1280  # nothing asks for more than a 1280-px screen
    win.show()
    least = win.minimumSizeHint()  # (the offscreen platform's screen is smaller than a real one)
    target = QRect(screen.x() + 40, screen.y() + 30, least.width() + 13, least.height() + 7)
    win.setGeometry(target)
    qtbot.waitUntil(lambda: win.geometry() == target, timeout=TIMEOUT_MS)
    win.close()
    again = window()
    # size and position restored (QSettings), pulled onto the screen where it does not fit (the
    # offscreen platform's screen is narrower than the window's minimum; ±2 px: its frame)
    want = fit_rect(target, screen)
    got = again.geometry()
    assert max(abs(got.x() - want.x()), abs(got.y() - want.y()), abs(got.width() - want.width()),
               abs(got.height() - want.height())) <= 2, (got, want)
    assert fit_rect(QRect(-50, -20, 9000, 300), QRect(0, 0, 1366, 768)) == QRect(0, 0, 1366, 300)
    assert fit_rect(QRect(1300, 700, 400, 300), QRect(0, 0, 1366, 768)) == QRect(966, 468, 400, 300)


def test_loading_a_protocol_does_not_widen_the_window(qtbot, make_window):
    win = make_window()
    win.resize(1280, 720)
    qtbot.waitUntil(lambda: win.width() == 1280, timeout=TIMEOUT_MS)
    from app.cli.demo import example_protocol

    win.open_protocol(str(example_protocol("antagonist_series.yaml")))  # the longest name and messages
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    for _ in range(20):
        QApplication.processEvents()
    assert win.width() == 1280 and win.minimumSizeHint().width() <= 1280


def test_hiding_every_dock_leaves_the_safety_strip_in_place(qtbot, make_window):
    win = make_window()
    assert not win.trial_dock.isVisible()  # (hidden until the device reports a trial)
    for d in win.docks:
        if d.isVisible():
            win.menus.actions[f"dock_{d.windowTitle()}"].trigger()
    assert not any(d.isVisible() for d in win.docks)
    assert win.safety.isVisible() and win.safety.retain_all.isVisible()
    assert set(win.safety.chips) == {b.name for b in win.session.rig.pipette.barrels}
    win.menus.actions["reset_layout"].trigger()
    assert all(d.isVisible() for d in win.docks)


def test_workspace_save_and_load_from_the_file_menu(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("IONTO_CONFIG_DIR", str(tmp_path / "cfg"))
    win = make_window()
    ch = win.traces.plot_view.detector_channel
    win.trace_model.set_gain(ch, 2.0)
    win.traces.window.setCurrentIndex(win.traces.window.findData(2.0))
    win.rates.span.setValue(900.0)
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("bench 2", True))
    qtbot.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (tmp_path / "cfg" / "workspaces" / "bench 2.yaml").is_file()
    win.trace_model.set_gain(ch, 1.0)
    win.traces.window.setCurrentIndex(win.traces.window.findData(5.0))
    win.rates.span.setValue(300.0)
    qtbot.keyClick(win, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.trace_model.channels[ch].gain == 2.0 and win.traces.plot_view.lane_scale(ch) > 0
    assert win.trace_model.window_s == 2.0 and win.traces.window.currentData() == 2.0  # the view follows
    assert win.rate_model.span_s == 900.0 and win.rates.span.value() == 900.0


def test_device_menu_disconnects_and_connects_again(qtbot, make_window):
    win = make_window()
    engine = win.session.engine
    first = (win.barrel_model, win.dose_model, win.trial_model)
    rates = win.rate_model
    win.rates.span.setValue(900.0)  # the ratemeter's settings outlive the connection
    win.menus.actions["disconnect"].trigger()
    qtbot.waitUntil(lambda: not win._bound and engine.stopped.is_set(), timeout=TIMEOUT_MS)
    assert all(not c.isEnabled() for c in win.safety.chips.values())  # greyed: the last confirmed state
    win.menus.actions["connect"].trigger()
    qtbot.waitUntil(lambda: win._bound and win.session.engine is not engine, timeout=TIMEOUT_MS)
    assert all(c.isEnabled() for c in win.safety.chips.values())
    # the new connection's models, each shown by a view constructed with it, in the old one's place
    assert all(new is not old for new, old in zip((win.barrel_model, win.dose_model, win.trial_model), first,
                                                  strict=True))
    assert win.safety.model is win.barrel_model and win.barrels.model is win.barrel_model
    assert win.barrel_dock.widget().widget() is win.barrels and win.dose_dock.widget() is win.dose_view
    assert win.dose_view.model is win.dose_model and win.trial_view.model is win.trial_model
    assert win.centralWidget().layout().indexOf(win.safety) == 0  # the strip stays first, above everything
    assert set(win.safety.chips) == {r.name for r in win.barrel_model.rows}
    assert win.rate_model is rates and rates.span_s == 900.0 and win.rates.model is rates


def test_recording_menu_adds_the_notes_to_the_running_file_and_draws_them_on_the_traces(qtbot, make_window, tmp_path):
    win = make_window()
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.menus.actions["record"].trigger()
    qtbot.waitUntil(lambda: win.session.recording, timeout=TIMEOUT_MS)
    path = win.session.recorder.path
    win.recording_panel.notes.setPlainText("pipette moved 20 µm")
    win.menus.actions["note"].trigger()
    qtbot.waitUntil(lambda: any(m.kind == "note" and "pipette moved 20 µm" in m.text
                                for m in win.traces.plot_view.annotations.marks), timeout=TIMEOUT_MS)  # on the traces too
    win.menus.actions["record"].trigger()
    qtbot.waitUntil(lambda: not win.session.recording, timeout=TIMEOUT_MS)
    from daq.recording import Recording
    from daq.recording.h5file import writer_alive

    qtbot.waitUntil(lambda: path.exists() and writer_alive(path) is False, timeout=TIMEOUT_MS)
    with Recording(path) as rec:
        assert "pipette moved 20 µm" in rec.notes


def test_file_menu_replays_a_chosen_recording(qtbot, make_window, tmp_path, monkeypatch):
    from app.session import load_any_protocol, run_protocol

    plan = load_any_protocol(write_protocol(tmp_path, eject_s=0.5, recovery_s=0.5, baseline_s=0.5))
    out = tmp_path / "to_replay.h5"
    assert run_protocol(plan.factory(), plan.info, out, device_url="sim", seed=3, speed=None).error is None
    win = make_window(connect=False)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(out), ""))
    win.menus.actions["replay"].trigger()
    qtbot.waitUntil(lambda: win._bound and win.session.is_replay, timeout=TIMEOUT_MS)
    assert win.device_bar.url() == f"replay:{out}" and not win.safety.retain_all.isEnabled()


def test_view_and_help_menus_fit_the_screen_and_say_what_ionto_is(qtbot, make_window, monkeypatch):
    win = make_window(connect=False)
    win.resize(win.minimumSizeHint())
    small = win.geometry()
    win.menus.actions["fit_screen"].trigger()
    screen, g = win.available_geometry(), win.geometry()
    # the whole screen (offscreen, whose screen is narrower than the window's minimum: its height)
    assert g.topLeft() == screen.topLeft() and g.height() == screen.height() > small.height()
    assert g.width() == max(screen.width(), win.minimumSizeHint().width())
    said = []
    monkeypatch.setattr("app.gui.main_window.QMessageBox.about", lambda parent, title, text: said.append(text))
    win.menus.actions["about"].trigger()
    assert said and said[0].startswith("ionto ")


def test_escape_retains_every_barrel_even_with_a_modal_dialog_open(qtbot, make_window):
    """Qt withholds the window's shortcuts while a modal dialog (a file dialog, a question) is
    open; Esc must still put every barrel on retain (and close the dialog)."""
    from PyQt6.QtWidgets import QMessageBox

    win = make_window()
    qtbot.mouseClick(win.barrels.toggles["glu"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.barrel_model.row("glu").ejecting, timeout=TIMEOUT_MS)
    box = QMessageBox(QMessageBox.Icon.Question, "Stop recording?", "a question", QMessageBox.StandardButton.Yes
                      | QMessageBox.StandardButton.No, win)
    box.setWindowModality(Qt.WindowModality.ApplicationModal)
    box.open()
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is box, timeout=TIMEOUT_MS)
    retained = []
    win.session.submit = (lambda submit: lambda cmd: retained.append(type(cmd).__name__) or submit(cmd))(
        win.session.submit)
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not win.barrel_model.row("glu").ejecting, timeout=TIMEOUT_MS)
    assert retained == ["RetainAll"]  # once per key press
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=TIMEOUT_MS)  # and the dialog still closed
