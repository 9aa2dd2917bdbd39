"""The trace view's split (issue 16 item 8): each connection's ``TracePlot`` is constructed
with that connection's ``TraceModel`` and follows its events; the window-lifetime frame
(``TracesView``) shows one plot at a time in its one canvas, and a new connection's plot
replaces the old one."""
# ruff: noqa: F811  (make_window, a fixture from gui_helpers, is each test's argument)

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from gui_helpers import TIMEOUT_MS, make_window  # noqa: F401 (make_window is a fixture)

from app.gui.models.traces import TraceModel
from app.gui.trace_plot import TracePlot
from app.gui.traces_view import TracesView
from daq.types import AIChannel, ChannelKind, StreamInfo


def _stream(n_electrodes: int = 2) -> StreamInfo:
    ch = tuple(AIChannel(f"e{i}", f"x/ai{i}", ChannelKind.ELECTRODE, 5.0, "default", "V", 1000.0)
               for i in range(n_electrodes))
    return StreamInfo(10000.0, ch, np.dtype(np.int16), (5.0 / 32768,) * n_electrodes, (0.0,) * n_electrodes)


def _plot_items(view: TracesView) -> list:
    return list(view.glw.ci.items)


def test_a_new_plot_replaces_the_old_in_the_canvas_and_only_the_new_model_is_followed(qtbot):
    view = TracesView()
    qtbot.addWidget(view)
    old_model, new_model = TraceModel(_stream(2), n_columns=500), TraceModel(_stream(3), n_columns=500)
    old = TracePlot(old_model, 0, None, view.glw)
    view.show_plot(old)
    assert view.plot_view is old and old.model is old_model and _plot_items(view) == [old.plot]
    assert view.controls_slot.indexOf(old.controls) >= 0 and old.controls.model is old_model

    new = TracePlot(new_model, 1, None, view.glw)
    view.show_plot(new)
    assert view.plot_view is new and new.model is new_model
    assert _plot_items(view) == [new.plot]  # the old plot's lanes left the canvas
    assert all(c.scene() is None or c.scene() is not view.glw.scene() for c in old.curves)
    assert view.controls_slot.indexOf(old.controls) < 0 and view.controls_slot.indexOf(new.controls) >= 0
    assert [new.controls.channel.itemText(i) for i in range(new.controls.channel.count())] == ["e0", "e1", "e2"]

    # the new model's gain events re-lay the new plot's lanes and move its controls
    scale = new.lane_scale(1)
    new_model.set_gain(1, 2.0)
    assert new.lane_scale(1) == pytest.approx(2 * scale)
    assert new.controls.gain.currentData() == 2.0
    new_model.set_visible(2, False)
    assert 2 not in new.lanes and not new.curves[2].isVisible()

    # the old model's are no longer followed, by the old plot or its controls
    old_lanes, old_gain_shown = dict(old.lanes), old.controls.gain.currentData()
    old_model.set_gain(0, 5.0)
    old_model.set_visible(1, False)
    assert old.lanes == old_lanes and old.controls.gain.currentData() == old_gain_shown
    assert new.lane_scale(1) == pytest.approx(2 * scale)

    # the frame's read-outs and threshold signal say the new plot's, not the old one's
    dragged = []
    view.threshold_dragged.connect(dragged.append)
    view.threshold_label.setText("")
    old.set_threshold_line(None)
    old.threshold_dragged.emit(1e-4)
    assert view.threshold_label.text() == "" and dragged == []
    new.set_threshold_line(None)
    new.threshold_dragged.emit(2e-4)
    assert view.threshold_label.text() == "calibrating…" and dragged == [2e-4]


def test_the_frame_follows_the_shown_models_window_and_freeze_only(qtbot):
    view = TracesView()
    qtbot.addWidget(view)
    old_model, new_model = TraceModel(_stream(), n_columns=500), TraceModel(_stream(), n_columns=500)
    view.show_plot(TracePlot(old_model, 0, None, view.glw))
    old_model.set_window(2.0)
    assert view.window.currentData() == 2.0
    view.show_plot(TracePlot(new_model, 0, None, view.glw))
    assert view.window.currentData() == new_model.window_s == 5.0  # the frame shows the new model's window
    old_model.set_window(10.0)
    old_model.ingest(0, np.zeros((20000, 2), np.int16))
    old_model.freeze(True)
    assert view.window.currentData() == 5.0 and not view.freeze.isChecked()
    new_model.ingest(0, np.zeros((20000, 2), np.int16))
    view.freeze.click()  # the frame's control acts on the shown model
    assert new_model.frozen and view.freeze.text() == "Live" and view.scroll.isEnabled()


def test_each_connection_gets_a_trace_plot_built_with_its_model(qtbot, make_window):
    win = make_window()
    engine = win.session.engine
    first_plot, first_model = win.traces.plot_view, win.trace_model
    assert first_plot.model is first_model
    win.menus.actions["disconnect"].trigger()
    qtbot.waitUntil(lambda: not win._bound and engine.stopped.is_set(), timeout=TIMEOUT_MS)
    win.menus.actions["connect"].trigger()
    qtbot.waitUntil(lambda: win._bound and win.session.engine is not engine, timeout=TIMEOUT_MS)
    plot = win.traces.plot_view
    assert plot is not first_plot and win.trace_model is not first_model and plot.model is win.trace_model
    assert list(win.traces.glw.ci.items) == [plot.plot]  # one plot in the canvas: the new one
    ch = plot.detector_channel
    scale = plot.lane_scale(ch)
    win.trace_model.set_gain(ch, 2.0)
    assert plot.lane_scale(ch) == pytest.approx(2 * scale)
    qtbot.waitUntil(lambda: plot.drawn_end_index > 0, timeout=TIMEOUT_MS)  # the frame clock draws the new plot


def test_the_cursors_the_view_menu_shows_checked_are_on_in_the_next_connections_plot(qtbot, make_window):
    win = make_window()
    engine = win.session.engine
    win.menus.actions["cursors"].trigger()  # F3 on
    assert win.traces.plot_view.cursors.vertical_on and not win.traces.plot_view.cursors.horizontal_on
    win.menus.actions["disconnect"].trigger()
    qtbot.waitUntil(lambda: not win._bound and engine.stopped.is_set(), timeout=TIMEOUT_MS)
    win.menus.actions["connect"].trigger()
    qtbot.waitUntil(lambda: win._bound and win.session.engine is not engine, timeout=TIMEOUT_MS)
    c = win.traces.plot_view.cursors
    assert win.menus.actions["cursors"].isChecked() and c.vertical_on  # the menu and the plot agree
    assert not win.menus.actions["hcursor"].isChecked() and not c.horizontal_on
