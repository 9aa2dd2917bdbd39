"""The replay bar (issue 16, item 5): the whole recording at a glance and the seek buttons.

``OverviewPlot`` draws a ``ReplayOverview``: the electrode's spike-band envelope over the
whole file, every ejection as a span in its barrel's colour (``palette.barrel_colour``, by
the barrel's place on the pipette, as everywhere else), every mark as a dashed line, and the
replay's position as a red line.  A click on it seeks there; dragging seeks as the mouse
moves.  ``ReplayBar`` adds the buttons — back / forward by ``STEP_S``, previous / next
ejection, previous / next mark, slower, pause, faster — and a readout of the position and
speed; the keys are in the Device menu (``menus.py``).  Both take their models in the
constructor and follow them by their events (``ReplayOverview.position_changed``,
``ReplayControl``'s ``speed_changed`` / ``paused_changed`` / ``jumped``).

``attach`` hooks a window connected to a ``replay:`` device: it reads the file's overview on
a worker thread (a long file takes a moment; the window's replay area says so meanwhile),
then constructs the bar with the replay's ``ReplayControl`` in that area.  For a live device
the area is hidden and there is no bar.

Thread: GUI thread only (the overview is read on a worker, handed back through the bridge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPoint, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QMouseEvent
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.gui.models.replay import Landmark, ReplayControl, ReplayOverview
from app.gui.palette import ELECTRODE_COLOUR, SPIKE_COLOUR, barrel_colour
from app.gui.time_axis import TimeAxisItem, mmss

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

STEP_S = 5.0  # back / forward by this much (s of the recording)
PRE_ROLL_S = 2.0  # a jump lands this long before the ejection or mark (its baseline on screen)
OVERVIEW_BINS = 2000  # min/max bins over the whole recording (about a bin per pixel on a wide screen)
PLOT_HEIGHT_PX = 64
SPAN_ALPHA = 110  # of 255: the ejection spans show the envelope through them
ENVELOPE_ALPHA = 90
MARK_COLOUR = "#555555"


class OverviewPlot(pg.PlotWidget):
    """The overview of a whole recording.  ``seek_requested(t_s)`` on a click or a drag."""

    seek_requested = pyqtSignal(float)

    def __init__(self, overview: ReplayOverview, colours: dict[str, str], parent: QWidget | None = None):
        """Draw ``overview``; ``colours``: barrel name -> its colour."""
        super().__init__(parent, axisItems={"bottom": TimeAxisItem("bottom", title="")})
        self.setFixedHeight(PLOT_HEIGHT_PX)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the window
        pi = self.getPlotItem()
        pi.hideAxis("left")
        pi.getAxis("bottom").showLabel(False)  # (the tick labels say s or m:ss)
        pi.setMenuEnabled(False)
        pi.hideButtons()
        pi.setMouseEnabled(x=False, y=False)
        self.setToolTip("The whole recording: ejections in their barrel's colour, marks dashed. "
                        "Click or drag to seek.")
        self.position_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(SPIKE_COLOUR, width=2))
        self.position_line.setZValue(10)
        self.overview = ov = overview
        self.spans: list[pg.LinearRegionItem] = []
        self.mark_lines: list[pg.InfiniteLine] = []
        self._dragging = False
        if len(ov.t_s):
            t = np.append(ov.t_s, ov.duration_s)  # step curves: each bin's min/max over its span
            lo = pg.PlotCurveItem(t, ov.lo, stepMode="center", pen=pg.mkPen(ELECTRODE_COLOUR))
            hi = pg.PlotCurveItem(t, ov.hi, stepMode="center", pen=pg.mkPen(ELECTRODE_COLOUR))
            pi.addItem(lo)
            pi.addItem(hi)
            fill = QColor(ELECTRODE_COLOUR)
            fill.setAlpha(ENVELOPE_ALPHA)  # light, so the ejection spans over it show their colour
            pi.addItem(pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(fill)))
        for m in ov.ejections():
            c = QColor(colours.get(m.barrel, MARK_COLOUR))
            c.setAlpha(SPAN_ALPHA)
            span = pg.LinearRegionItem((m.t_s, max(m.end_s, m.t_s)), movable=False, brush=pg.mkBrush(c),
                                       pen=pg.mkPen(colours.get(m.barrel, MARK_COLOUR)))
            span.setToolTip(f"{m.label}, {mmss(m.t_s)}–{mmss(m.end_s)}")
            span.setZValue(5)  # over the envelope
            pi.addItem(span)
            self.spans.append(span)
        for m in ov.marks():
            line = pg.InfiniteLine(m.t_s, angle=90, pen=pg.mkPen(MARK_COLOUR, style=Qt.PenStyle.DashLine))
            line.setToolTip(f"{m.label} at {mmss(m.t_s)}")  # (a label on each would overlap the next)
            pi.addItem(line)
            self.mark_lines.append(line)
        pi.addItem(self.position_line)
        pi.setXRange(0.0, max(ov.duration_s, 1e-3), padding=0.0)
        if len(ov.t_s):
            pi.setYRange(float(ov.lo.min()), float(ov.hi.max()), padding=0.05)
        self.show_position(ov.position_s)
        ov.position_changed.connect(self.show_position)

    def show_position(self, t_s: float) -> None:
        self.position_line.setValue(t_s)

    # --- click and drag to seek ---------------------------------------------------------
    def time_at(self, x_px: float) -> float:
        """The recording time under the widget's x pixel ``x_px`` (clamped to the recording)."""
        vb = self.getPlotItem().getViewBox()
        t = vb.mapSceneToView(self.mapToScene(QPoint(round(x_px), self.height() // 2))).x()
        return float(min(max(0.0, t), self.overview.duration_s))

    def x_of(self, t_s: float) -> int:
        """The widget's x pixel of recording time ``t_s`` (tests click there)."""
        vb = self.getPlotItem().getViewBox()
        return self.mapFromScene(vb.mapViewToScene(pg.Point(t_s, 0.0))).x()

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self.seek_requested.emit(self.time_at(ev.position().x()))
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        if self._dragging and ev.buttons() & Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.time_at(ev.position().x()))
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        self._dragging = False
        super().mouseReleaseEvent(ev)


class ReplayBar(QWidget):
    """The overview and the seek buttons of a replay, for its ``ReplayControl``; ``colours``:
    barrel name -> its colour."""

    def __init__(self, control: ReplayControl, colours: dict[str, str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("replay_bar")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.control = control
        self.plot = OverviewPlot(control.overview, colours)
        lay.addWidget(self.plot)
        row = QHBoxLayout()
        row.setSpacing(3)
        lay.addLayout(row)
        self.buttons: dict[str, QPushButton] = {}
        for name, text, tip in (
                ("back", f"−{STEP_S:g} s", f"Back {STEP_S:g} s"),
                ("forward", f"+{STEP_S:g} s", f"Forward {STEP_S:g} s"),
                ("previous_ejection", "◀ ejection", "The previous ejection (a little before it)"),
                ("next_ejection", "ejection ▶", "The next ejection (a little before it)"),
                ("previous_mark", "◀ mark", "The previous mark"),
                ("next_mark", "mark ▶", "The next mark"),
                ("slower", "slower", "Replay slower"),
                ("pause", "pause", "Pause / play the replay"),
                ("faster", "faster", "Replay faster")):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Esc and the window's keys stay with the window
            b.setStyleSheet("QPushButton{padding:3px 7px;}")  # (no style's 80-px minimum: fits 1280 px)
            row.addWidget(b)
            self.buttons[name] = b
        self.readout = QLabel("")
        row.addWidget(self.readout, 1)
        self.note = ""  # the last jump (or why there was none), after the position in the readout
        self.plot.seek_requested.connect(self._seek)
        b = self.buttons
        b["back"].clicked.connect(lambda: self._step(-STEP_S))
        b["forward"].clicked.connect(lambda: self._step(STEP_S))
        b["previous_ejection"].clicked.connect(lambda: self._jump(False, "ejection"))
        b["next_ejection"].clicked.connect(lambda: self._jump(True, "ejection"))
        b["previous_mark"].clicked.connect(lambda: self._jump(False, "mark"))
        b["next_mark"].clicked.connect(lambda: self._jump(True, "mark"))
        b["slower"].clicked.connect(control.slower)
        b["faster"].clicked.connect(control.faster)
        b["pause"].clicked.connect(control.toggle_pause)
        control.overview.position_changed.connect(self._show_readout)
        control.speed_changed.connect(self._show_readout)
        control.paused_changed.connect(self._show_paused)
        control.jumped.connect(self._show_jump)
        self._show_readout()

    def _seek(self, t_s: float) -> None:
        self.note = ""
        self.control.seek(t_s)

    def _step(self, delta_s: float) -> None:
        self.note = ""
        self.control.step(delta_s)

    def _jump(self, forward: bool, kind: str) -> None:
        c = self.control
        got = c.next(kind) if forward else c.previous(kind)
        if got is None:
            self.note = f"no {kind} {'after' if forward else 'before'} {mmss(c.position_s)}"
            self._show_readout()

    def _show_jump(self, mark: Landmark) -> None:
        self.note = f"→ {mark.label} at {mmss(mark.t_s)}"
        self._show_readout()

    def _show_paused(self, paused: bool) -> None:
        self.buttons["pause"].setText("play" if paused else "pause")
        self._show_readout()

    def _show_readout(self, *_: object) -> None:
        c = self.control
        speed = c.session.speed
        pace = "as fast as it reads" if not speed else f"×{speed:g}"
        state = "paused" if c.session.replay_paused else pace
        note = f"   {self.note}" if self.note else ""
        self.readout.setText(f"{mmss(c.overview.position_s)} / {mmss(c.overview.duration_s)}  {state}{note}")


def replay_area() -> tuple[QWidget, QLabel]:
    """The window's place for a replay bar, hidden until a replay connects, and the note it
    shows while the overview is read."""
    area = QWidget()
    area.setObjectName("replay_area")
    area.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the window
    lay = QVBoxLayout(area)
    lay.setContentsMargins(0, 0, 0, 0)
    note = QLabel("")
    note.setWordWrap(True)
    lay.addWidget(note)
    area.hide()
    return area, note


def replay_path(device_url: str) -> str:
    """The file of a ``replay:FILE.h5[?options]`` URL."""
    return device_url.removeprefix("replay:").split("?", 1)[0]


def attach(win: MainWindow) -> None:
    """On every connection: a replay's overview is read on a worker, then its bar is
    constructed with the replay's ``ReplayControl`` (the controller's) in the window's replay
    area; for a live device the area is hidden and there is no bar."""
    area, note, c = win.replay_area, win.replay_note, win.controller
    c.replay_control = None
    if win.replay_bar is not None:  # the previous replay's
        area.layout().removeWidget(win.replay_bar)
        win.replay_bar.hide()
        win.replay_bar.deleteLater()
        win.replay_bar = None
    if not win.session.is_replay:
        area.hide()
        return
    note.setText("reading the recording …")
    note.show()
    area.show()
    path = replay_path(win.session.device_url)
    rig = win.session.rig
    colours = {b.name: barrel_colour(i) for i, b in enumerate(rig.pipette.barrels)} if rig is not None else {}

    def done(ov: ReplayOverview | None, exc: BaseException | None) -> None:  # GUI thread
        if exc is not None or ov is None:
            note.setText(f"no overview: {exc}")
            return
        if not win.session.is_replay or not c.bound or win.replay_bar is not None:  # disconnected meanwhile
            return
        c.replay_control = ReplayControl(win.session, ov, pre_roll_s=PRE_ROLL_S)
        win.replay_bar = ReplayBar(c.replay_control, colours)
        note.hide()
        area.layout().addWidget(win.replay_bar)
        win.replay_bar.show()  # (now: Qt shows a child added to a visible parent only at a later turn)
        c.replay_control.refresh()

    c.bridge.run_in_worker(lambda: ReplayOverview.from_recording(path, n_bins=OVERVIEW_BINS), done,
                           name="ionto-replay-overview")
