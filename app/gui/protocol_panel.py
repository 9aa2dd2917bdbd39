"""The protocol panel: open a YAML protocol or a plan file, validation messages, a timeline
preview (ejection blocks per barrel, from the dry run), run / pause / resume / abort, the
current step, elapsed and remaining time, progress.

Takes a ``ProtocolModel`` in its constructor and redraws on its events (``loaded_changed``,
``state_changed``, ``step_changed``).  Thread: GUI thread only.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.gui.models.protocol import LoadResult, ProtocolModel
from app.gui.palette import barrel_colour
from app.gui.time_axis import TimeAxisItem, mmss


class ProtocolPanel(QWidget):
    open_requested = pyqtSignal(str)
    run_requested = pyqtSignal()
    pause_requested = pyqtSignal()
    resume_requested = pyqtSignal()
    abort_requested = pyqtSignal()

    def __init__(self, model: ProtocolModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.lanes: dict[str, int] = {}
        self.colour_lanes: dict[str, int] = {}  # barrel → colour index (its place on the pipette)
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.open_button = QPushButton("Open protocol…")
        self.open_button.clicked.connect(self._browse)
        top.addWidget(self.open_button)
        self.name = QLabel("no protocol loaded")
        self.name.setWordWrap(True)  # a long protocol name wraps instead of widening the window
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.name, 1)
        lay.addLayout(top)
        self.messages = QPlainTextEdit()
        self.messages.setReadOnly(True)
        self.messages.setMaximumHeight(52)
        self.messages.setPlaceholderText("open a protocol: its dry run checks every current against the "
                                         "barrels' limits and previews the ejections")
        lay.addWidget(self.messages)
        self.timeline = pg.PlotWidget(axisItems={"bottom": TimeAxisItem(title="protocol time")})
        self.timeline.setMinimumHeight(90)
        self.timeline.setMenuEnabled(False)
        self.timeline.hideButtons()
        self.timeline.setMouseEnabled(x=False, y=False)
        self.timeline.getAxis("left").setWidth(48)
        self.timeline.setXRange(0, 60)
        self.timeline.getAxis("left").setTicks([[], []])
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#c0392b", width=2))
        self.timeline.addItem(self.cursor)
        lay.addWidget(self.timeline, 1)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("▶ Run")
        self.pause_button = QPushButton("❚❚ Pause")
        self.resume_button = QPushButton("▶ Resume")
        self.abort_button = QPushButton("■ Abort")
        self.abort_button.setStyleSheet("QPushButton:enabled{color:#c0392b;font-weight:bold;}")
        for b, sig in ((self.run_button, self.run_requested), (self.pause_button, self.pause_requested),
                       (self.resume_button, self.resume_requested), (self.abort_button, self.abort_requested)):
            b.clicked.connect(sig.emit)
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.step = QLabel("")
        self.step.setWordWrap(True)
        self.step.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.step)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        lay.addWidget(self.progress)
        self.can_eject = True
        self.connected = False
        self.now_index = 0  # the newest sample the window has shown (for the progress)
        model.loaded_changed.connect(self._draw_loaded)
        model.state_changed.connect(lambda _state: self.refresh(self.now_index))
        model.step_changed.connect(lambda _step: self.refresh(self.now_index))
        self.refresh(0)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a protocol", "",
                                              "Protocols (*.yaml *.yml *.py);;All files (*)")
        if path:
            self.open_requested.emit(path)

    def show_loading(self, path: str) -> None:
        self.name.setText(f"checking {path} …")
        self.messages.setPlainText("dry run in progress…")

    def show_loaded(self, result: LoadResult) -> None:
        """Hand a dry-run result to the model (which tells this panel to draw it)."""
        self.model.set_loaded(result)

    def _draw_loaded(self, result: LoadResult) -> None:
        plan = result.plan
        self.name.setText(f"<b>{plan.info.name if plan else result.path.name}</b> — {result.path.name}")
        self.messages.setPlainText("\n".join(result.messages))
        colour = "#2e7d32" if result.ok else "#c0392b"
        self.messages.setStyleSheet(f"QPlainTextEdit{{color:{colour};}}")
        self._draw_timeline(result)
        self.refresh(0)

    def _draw_timeline(self, result: LoadResult) -> None:
        pi = self.timeline.getPlotItem()
        for it in list(pi.items):
            if it is not self.cursor:
                pi.removeItem(it)
        barrels = []
        for blk in result.blocks:
            if blk.barrel not in barrels:
                barrels.append(blk.barrel)
        self.lanes = {b: i for i, b in enumerate(barrels)}
        top = max(1.0, max((abs(b.current_nA) for b in result.blocks), default=1.0))
        for blk in result.blocks:
            lane = self.lanes[blk.barrel]
            h = 0.8 * abs(blk.current_nA) / top
            rect = pg.QtWidgets.QGraphicsRectItem(blk.start_s, lane + 0.1, blk.end_s - blk.start_s, max(h, 0.05))
            rect.setBrush(pg.mkBrush(barrel_colour(self._colour_lane(blk.barrel))))
            rect.setPen(pg.mkPen(None))
            rect.setToolTip(f"{blk.barrel} {blk.current_nA:+g} nA, {blk.start_s:.0f}–{blk.end_s:.0f} s")
            pi.addItem(rect)
            label = pg.TextItem(f"{abs(blk.current_nA):g}", color="#333", anchor=(0, 1))
            label.setPos(blk.start_s, lane + 0.1)
            pi.addItem(label)
        ax = self.timeline.getAxis("left")
        ax.setTicks([[(i + 0.5, b) for b, i in self.lanes.items()]])
        self.timeline.setXRange(0, max(1.0, result.duration_s), padding=0.02)
        self.timeline.setYRange(0, max(1, len(barrels)), padding=0.05)

    def _colour_lane(self, barrel: str) -> int:
        return self.colour_lanes.get(barrel, self.lanes.get(barrel, 0))

    def refresh(self, now_index: int) -> None:
        self.now_index = max(self.now_index, now_index) if now_index else now_index
        m = self.model
        p = m.progress(now_index)
        running = p.state in ("running", "paused")
        self.run_button.setEnabled(m.can_run and self.connected and self.can_eject)
        self.pause_button.setEnabled(p.state == "running")
        self.resume_button.setEnabled(p.state == "paused")
        self.abort_button.setEnabled(running)
        self.open_button.setEnabled(not running)
        total = m.loaded.duration_s if m.loaded is not None else 0.0
        if p.state == "idle":
            self.step.setText(f"ready — {mmss(total)} total" if m.can_run else "")
        else:
            self.step.setText(f"<b>{p.state}</b> · step: {p.step} · elapsed {mmss(p.elapsed_s)} · "
                              f"remaining {mmss(p.remaining_s)}")
        self.progress.setValue(round(1000 * p.fraction))
        self.progress.setFormat(f"{100 * p.fraction:.0f} %")
        self.cursor.setValue(p.fraction * total)
