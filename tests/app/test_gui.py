"""The first window, offscreen: it starts the simulated rig, draws, retains on Esc, stops."""


import numpy as np
import pytest

pytest.importorskip("PyQt6")

from PyQt6.QtCore import Qt

from app.gui.decimate import minmax_decimate
from app.gui.main_window import MainWindow
from app.live import LiveSession


def test_window_shows_live_data_and_stops(qtbot):
    win = MainWindow(LiveSession("sim", seed=1, speed=4.0))
    qtbot.addWidget(win)
    win.show()
    win.start()
    qtbot.waitUntil(lambda: win.frames > 10 and win.trace_curve.xData is not None, timeout=10000)
    t = win.trace_curve.xData
    assert t[-1] > 0.5
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    win.stop()
    assert not win.session.running


def test_minmax_decimation_keeps_peaks():
    t = np.arange(100000) / 1e4
    y = np.zeros_like(t)
    y[12345] = -200.0
    _td, yd = minmax_decimate(t, y, 500)
    assert len(yd) == 1000 and yd.min() == -200.0
