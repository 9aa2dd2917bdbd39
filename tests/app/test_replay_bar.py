"""The replay bar drawn in the window (issue 16, item 5): the overview of the whole recording
with its ejections in the barrel colours and its marks, and the seek buttons and keys — each
moves the real replay (``replay:FILE.h5``) to the sample it should."""
# ruff: noqa: F811  (make_window, a fixture from gui_helpers, is each test's argument)

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from gui_helpers import TIMEOUT_MS, make_window  # noqa: F401 (make_window is a fixture)
from PyQt6.QtCore import QPoint, Qt

from app.gui.palette import barrel_colour
from app.gui.replay_bar import PRE_ROLL_S, STEP_S
from daq.recording import Recorder
from daq.types import Block, EventKind, LogEvent, StreamInfo
from mock_daq import load_preset

RATE = 20000.0
SECONDS = 12


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """12 s on the cortex rig's channels: noise, glu ejections at 2–3 s and 6–8 s, gaba at
    9–10 s, a mark at 4.5 s."""
    rig = load_preset("cortex")
    cfg = rig.acquisition_config()
    n_ch = len(cfg.ai)
    assert cfg.rate_hz == RATE
    stream = StreamInfo(cfg.rate_hz, cfg.ai, np.dtype(np.int16), (1e-4,) * n_ch, (0.0,) * n_ch)
    path = tmp_path_factory.mktemp("replaybar") / "cell.h5"
    data = np.random.default_rng(7).integers(-200, 200, size=(int(SECONDS * RATE), n_ch), dtype=np.int16)
    rec = Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"))
    rec.start(stream)
    for k in range(0, len(data), 2000):
        rec.on_block(Block(k, data[k:k + 2000]))
    rec.on_events([LogEvent(int(2 * RATE), EventKind.EJECT, "glu", -40.0, "step 1"),
                   LogEvent(int(3 * RATE), EventKind.RETAIN, "glu", 15.0),
                   LogEvent(int(4.5 * RATE), EventKind.MARK, text="drug wash"),
                   LogEvent(int(6 * RATE), EventKind.EJECT, "glu", -80.0, "step 2"),
                   LogEvent(int(8 * RATE), EventKind.RETAIN, "glu", 15.0),
                   LogEvent(int(9 * RATE), EventKind.EJECT, "gaba", 30.0),
                   LogEvent(int(10 * RATE), EventKind.RETAIN, "gaba", -10.0)])
    rec.stop()
    return path


def _replay_window(qtbot, make_window, path):
    win = make_window(f"replay:{path}?loop", speed=1.0)  # looping: it never ends under a slow test
    qtbot.waitUntil(lambda: win.replay_control is not None, timeout=TIMEOUT_MS)
    assert win.replay_bar.isVisible() and win.replay_bar.control is win.replay_control  # made with it
    return win


def _pause(qtbot, win) -> None:
    win.replay_bar.buttons["pause"].click()
    qtbot.waitUntil(lambda: win.session.replay_paused, timeout=TIMEOUT_MS)
    assert win.replay_bar.buttons["pause"].text() == "play"


def _wait_at(qtbot, win, t_s: float) -> None:
    """Wait until the paused replay's next sample is the recording's sample at ``t_s``."""
    want = round(t_s * RATE)
    qtbot.waitUntil(lambda: round(win.session.replay_position_s * RATE) == want, timeout=TIMEOUT_MS)


def test_the_overview_draws_each_ejection_in_its_barrels_colour_and_each_mark(qtbot, make_window, recording):
    win = _replay_window(qtbot, make_window, recording)
    plot = win.replay_bar.plot
    pipette = win.session.rig.pipette
    index = {b.name: i for i, b in enumerate(pipette.barrels)}
    spans = [(s.getRegion(), s.brush.color().name()) for s in plot.spans]
    assert spans == [((2.0, 3.0), barrel_colour(index["glu"])), ((6.0, 8.0), barrel_colour(index["glu"])),
                     ((9.0, 10.0), barrel_colour(index["gaba"]))]
    assert [(m.value(), m.toolTip()) for m in plot.mark_lines] == [(4.5, "drug wash at 0:04")]
    assert plot.overview.duration_s == pytest.approx(SECONDS)
    # the position line follows the replay
    _pause(qtbot, win)
    win.replay_control.seek(5.0)
    _wait_at(qtbot, win, 5.0)
    qtbot.waitUntil(lambda: plot.position_line.value() == pytest.approx(5.0), timeout=TIMEOUT_MS)
    assert "0:05" in win.replay_bar.readout.text() and "paused" in win.replay_bar.readout.text()


def test_a_click_on_the_overview_seeks_to_the_sample_under_the_mouse(qtbot, make_window, recording):
    win = _replay_window(qtbot, make_window, recording)
    _pause(qtbot, win)
    plot = win.replay_bar.plot
    x = plot.x_of(6.5)
    t = plot.time_at(x)
    assert abs(t - 6.5) < 2 * SECONDS / plot.width()  # the pixel's time is 6.5 s, to a pixel or so
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, plot.height() // 2))
    _wait_at(qtbot, win, t)
    x2 = plot.x_of(1.0)  # and far back
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x2, plot.height() // 2))
    _wait_at(qtbot, win, plot.time_at(x2))
    assert win.session.replay_position_s < 1.5


def test_dragging_on_the_overview_seeks_to_where_the_mouse_is_let_go(qtbot, make_window, recording):
    win = _replay_window(qtbot, make_window, recording)
    _pause(qtbot, win)
    plot, vp = win.replay_bar.plot, win.replay_bar.plot.viewport()
    y = plot.height() // 2
    x0, x1 = plot.x_of(2.0), plot.x_of(9.0)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=QPoint(x0, y))
    for x in np.linspace(x0, x1, 6).astype(int)[1:]:
        qtbot.mouseMove(vp, QPoint(int(x), y))
    # (qtbot.mouseMove sends no button state: a real drag's move event does)
    from PyQt6.QtCore import QEvent, QPointF
    from PyQt6.QtGui import QMouseEvent
    from PyQt6.QtWidgets import QApplication

    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(x1, y), vp.mapToGlobal(QPointF(x1, y)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, move)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=QPoint(x1, y))
    _wait_at(qtbot, win, plot.time_at(x1))
    assert 8.5 < win.session.replay_position_s < 9.5


def test_seek_buttons_jump_to_ejections_marks_and_by_a_step(qtbot, make_window, recording):
    win = _replay_window(qtbot, make_window, recording)
    _pause(qtbot, win)
    b = win.replay_bar.buttons
    win.replay_control.seek(11.0)
    _wait_at(qtbot, win, 11.0)
    b["previous_ejection"].click()  # gaba at 9 s, the pre-roll before it
    _wait_at(qtbot, win, 9.0 - PRE_ROLL_S)
    b["previous_ejection"].click()  # from the anchor (9 s), not the position: glu at 6 s
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S)
    b["previous_mark"].click()  # the mark at 4.5 s
    _wait_at(qtbot, win, 4.5 - PRE_ROLL_S)
    b["next_ejection"].click()  # from the mark: glu at 6 s
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S)
    b["forward"].click()
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S + STEP_S)
    b["back"].click()
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S)
    b["back"].click()  # clamped at the start
    _wait_at(qtbot, win, 0.0)
    b["next_mark"].click()
    _wait_at(qtbot, win, 4.5 - PRE_ROLL_S)
    assert "drug wash" in win.replay_bar.readout.text()


def test_replay_keys_seek_pause_and_change_speed(qtbot, make_window, recording):
    win = _replay_window(qtbot, make_window, recording)
    qtbot.keyClick(win, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)  # pause
    qtbot.waitUntil(lambda: win.session.replay_paused, timeout=TIMEOUT_MS)
    win.replay_control.seek(11.0)
    _wait_at(qtbot, win, 11.0)
    qtbot.keyClick(win, Qt.Key.Key_PageUp)  # previous ejection: gaba at 9 s
    _wait_at(qtbot, win, 9.0 - PRE_ROLL_S)
    qtbot.keyClick(win, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)  # previous mark
    _wait_at(qtbot, win, 4.5 - PRE_ROLL_S)
    qtbot.keyClick(win, Qt.Key.Key_PageDown)  # next ejection: glu at 6 s
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S)
    qtbot.keyClick(win, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S + STEP_S)
    qtbot.keyClick(win, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    _wait_at(qtbot, win, 6.0 - PRE_ROLL_S)
    qtbot.keyClick(win, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert win.session.speed == 2.0
    qtbot.keyClick(win, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(win, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert win.session.speed == 0.5
    qtbot.keyClick(win, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)  # play again
    qtbot.waitUntil(lambda: not win.session.replay_paused, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: win.session.replay_position_s > 6.0 - PRE_ROLL_S + 0.05, timeout=TIMEOUT_MS)


def test_a_live_device_has_no_replay_bar_and_the_replay_keys_say_why(qtbot, make_window):
    win = make_window("sim", speed=4.0)
    assert win.replay_bar is None and not win.replay_area.isVisible() and win.replay_control is None
    qtbot.keyClick(win, Qt.Key.Key_PageDown)
    assert "replay keys work while a recording is replayed" in win.statusBar().currentMessage()
