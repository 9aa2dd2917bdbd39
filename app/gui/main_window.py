"""The rig window (first version): live electrode trace, ratemeter with spikes, start/stop.

Thread: everything here runs on the GUI thread.  Engine events arrive through
``EngineBridge`` signals; samples are pulled from the display ring by a ~30 Hz timer.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QApplication, QLabel, QMainWindow, QToolBar, QVBoxLayout, QWidget

from app.gui.bridge import EngineBridge
from app.gui.decimate import minmax_decimate
from app.live import LiveSession
from daq.engine import RetainAll
from daq.errors import IontoError

TRACE_WINDOW_S = 5.0
RATE_WINDOW_S = 120.0
FRAME_MS = 33


class MainWindow(QMainWindow):
    def __init__(self, session: LiveSession):
        super().__init__()
        self.session = session
        self.bridge = EngineBridge()
        session.subscribe(self.bridge.on_engine_event)
        self.setWindowTitle(f"ionto — {session.device_url}")
        self.resize(1100, 700)

        tb = QToolBar("acquisition")
        self.addToolBar(tb)
        self.start_action = QAction("Start", self)
        self.start_action.setShortcut(QKeySequence("Ctrl+R"))
        self.start_action.triggered.connect(self.start)
        self.stop_action = QAction("Stop", self)
        self.stop_action.triggered.connect(self.stop)
        self.stop_action.setEnabled(False)
        self.retain_action = QAction("All to retain (Esc)", self)
        self.retain_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.retain_action.triggered.connect(self.all_retain)
        for a in (self.start_action, self.stop_action, self.retain_action):
            tb.addAction(a)

        central = QWidget()
        lay = QVBoxLayout(central)
        pg.setConfigOptions(antialias=False)
        self.trace_plot = pg.PlotWidget(title="electrode (µV)")
        self.trace_plot.setLabel("bottom", "time", "s")
        self.trace_curve = self.trace_plot.plot(pen=pg.mkPen("k" if False else "y", width=1))
        self.rate_plot = pg.PlotWidget(title="ratemeter (1-s bins, Hz)")
        self.rate_plot.setLabel("bottom", "time", "s")
        self.rate_curve = self.rate_plot.plot(stepMode="center", fillLevel=0, brush=(100, 150, 255, 120))
        lay.addWidget(self.trace_plot, 1)
        lay.addWidget(self.rate_plot, 1)
        self.setCentralWidget(central)
        self.status = QLabel("idle")
        self.statusBar().addWidget(self.status)

        self.bridge.state_changed.connect(self._on_state)
        self.bridge.error.connect(self._on_error)
        self.bridge.progress.connect(self._on_progress)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.refresh)
        self.frames = 0

    # --- actions (GUI thread) -------------------------------------------------------------
    def start(self) -> None:
        try:
            self.session.start()
        except IontoError as exc:
            self._on_error(str(exc))
            return
        self.start_action.setEnabled(False)
        self.stop_action.setEnabled(True)
        self.timer.start()

    def stop(self) -> None:
        self.session.stop()
        self.timer.stop()
        self.start_action.setEnabled(True)
        self.stop_action.setEnabled(False)

    def all_retain(self) -> None:
        if self.session.running:
            self.session.submit(RetainAll())

    # --- drawing (GUI thread, ~30 Hz) ----------------------------------------------------
    def refresh(self) -> None:
        snap = self.session.electrode_snapshot(TRACE_WINDOW_S)
        if snap is not None:
            t, uV = snap
            width = max(100, self.trace_plot.width())
            t_d, y_d = minmax_decimate(t, uV, width)
            self.trace_curve.setData(t_d, y_d)
            spikes = self.session.spike_times()
            if len(t):
                now = t[-1]
                lo = max(0.0, now - RATE_WINDOW_S)
                edges = np.arange(np.floor(lo), np.floor(now) + 1.0, 1.0)
                if len(edges) >= 2:
                    counts, _ = np.histogram(spikes, bins=edges)
                    self.rate_curve.setData(edges, counts.astype(float))
        self.frames += 1

    # --- engine events (GUI thread, via the bridge) ----------------------------------------
    def _on_state(self, state: str, message: str) -> None:
        self.status.setText(f"{state} {message}".strip())
        if state in ("stopped", "error"):
            self.timer.stop()
            self.start_action.setEnabled(True)
            self.stop_action.setEnabled(False)

    def _on_error(self, message: str) -> None:
        self.status.setText(f"error: {message}")

    def _on_progress(self, read_index: int, gaps: int, lost: int) -> None:
        st = self.session.stream
        if st is not None:
            self.status.setText(f"running  {read_index / st.rate_hz:8.1f} s   gaps {gaps}   lost {lost}")

    def closeEvent(self, event) -> None:
        if self.session.running:
            self.session.submit(RetainAll())
            self.session.stop()
        event.accept()


def run_gui(device_url: str = "sim", rig_path: str | os.PathLike[str] | None = None, seed: int | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(background="w", foreground="k")
    win = MainWindow(LiveSession(device_url, rig_path, seed=seed, speed=1.0))
    win.show()
    win.start()
    return app.exec()
