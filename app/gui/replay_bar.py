"""The replay bar (issue 16, item 5): the whole recording at a glance and the seek buttons.

``OverviewPlot`` draws a ``ReplayOverview``: the electrode's spike-band envelope over the
whole file, every ejection as a span in its barrel's colour (``palette.barrel_colour``, by
the barrel's place on the pipette, as everywhere else), every mark as a dashed line, and the
replay's position as a red line.  A click on it seeks there; dragging seeks as the mouse
moves.  ``ReplayBar`` adds the buttons — back / forward by ``STEP_S``, previous / next
ejection, previous / next mark, slower, pause, faster — and a readout of the position and
speed; the keys are in the Device menu (``menus.py``).  Both take their models in ``bind``
and follow them by their events (``ReplayOverview.position_changed``, ``ReplayControl``'s
``speed_changed`` / ``paused_changed``).

``attach`` hooks the bar to a window connected to a ``replay:`` device: it reads the file's
overview on a worker thread (a long file takes a moment) and binds the bar when it is in.
The bar is made once with the window and ``bind``s each replay's ``ReplayControl``: its
buttons are the Device menu's replay keys' targets, and the control exists only once the
overview is read.

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

    def __init__(self, parent: QWidget | None = None):
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
        self.overview: ReplayOverview | None = None
        self.spans: list[pg.LinearRegionItem] = []
        self.mark_lines: list[pg.InfiniteLine] = []
        self._dragging = False

    def show_overview(self, ov: ReplayOverview, colours: dict[str, str]) -> None:
        """Draw ``ov``; ``colours``: barrel name -> its colour."""
        if self.overview is not None:
            self.overview.position_changed.disconnect(self.show_position)
        self.overview = ov
        pi = self.getPlotItem()
        pi.clear()
        self.spans, self.mark_lines = [], []
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
        end = self.overview.duration_s if self.overview is not None else 0.0
        return float(min(max(0.0, t), end))

    def x_of(self, t_s: float) -> int:
        """The widget's x pixel of recording time ``t_s`` (tests click there)."""
        vb = self.getPlotItem().getViewBox()
        return self.mapFromScene(vb.mapViewToScene(pg.Point(t_s, 0.0))).x()

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and self.overview is not None:
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
    """The overview and the seek buttons of a replay (hidden for a live device)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("replay_bar")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.plot = OverviewPlot()
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
            b.setEnabled(False)
            row.addWidget(b)
            self.buttons[name] = b
        self.readout = QLabel("reading the recording …")
        row.addWidget(self.readout, 1)
        self.control: ReplayControl | None = None
        self.note = ""  # the last jump (or why there was none), after the position in the readout
        self.plot.seek_requested.connect(self._seek)
        b = self.buttons
        b["back"].clicked.connect(lambda: self._step(-STEP_S))
        b["forward"].clicked.connect(lambda: self._step(STEP_S))
        b["previous_ejection"].clicked.connect(lambda: self._jump(False, "ejection"))
        b["next_ejection"].clicked.connect(lambda: self._jump(True, "ejection"))
        b["previous_mark"].clicked.connect(lambda: self._jump(False, "mark"))
        b["next_mark"].clicked.connect(lambda: self._jump(True, "mark"))
        b["slower"].clicked.connect(lambda: self.control and self.control.slower())
        b["faster"].clicked.connect(lambda: self.control and self.control.faster())
        b["pause"].clicked.connect(lambda: self.control and self.control.toggle_pause())

    def bind(self, control: ReplayControl, colours: dict[str, str]) -> None:
        self.unbind()
        self.control = control
        self.plot.show_overview(control.overview, colours)
        control.overview.position_changed.connect(self._show_readout)
        control.speed_changed.connect(self._show_readout)
        control.paused_changed.connect(self._show_paused)
        control.jumped.connect(self._show_jump)
        for btn in self.buttons.values():
            btn.setEnabled(True)
        self._show_readout()

    def unbind(self) -> None:
        c = self.control
        if c is not None:
            c.overview.position_changed.disconnect(self._show_readout)
            c.speed_changed.disconnect(self._show_readout)
            c.paused_changed.disconnect(self._show_paused)
            c.jumped.disconnect(self._show_jump)
        self.control = None
        self.note = ""
        for btn in self.buttons.values():
            btn.setEnabled(False)

    def _seek(self, t_s: float) -> None:
        if self.control is not None:
            self.note = ""
            self.control.seek(t_s)

    def _step(self, delta_s: float) -> None:
        if self.control is not None:
            self.note = ""
            self.control.step(delta_s)

    def _jump(self, forward: bool, kind: str) -> None:
        c = self.control
        if c is None:
            return
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
        if c is None:
            return
        speed = c.session.speed
        pace = "as fast as it reads" if not speed else f"×{speed:g}"
        state = "paused" if c.session.replay_paused else pace
        note = f"   {self.note}" if self.note else ""
        self.readout.setText(f"{mmss(c.overview.position_s)} / {mmss(c.overview.duration_s)}  {state}{note}")


def replay_path(device_url: str) -> str:
    """The file of a ``replay:FILE.h5[?options]`` URL."""
    return device_url.removeprefix("replay:").split("?", 1)[0]


def attach(win: MainWindow) -> None:
    """Once a replay is connected: read its overview on a worker, then bind ``win.replay_bar``
    and keep the controller's ``replay_control``; for a live device, hide the bar."""
    bar, c = win.replay_bar, win.controller
    bar.unbind()
    c.replay_control = None
    if not win.session.is_replay:
        bar.hide()
        return
    bar.show()
    bar.readout.setText("reading the recording …")
    path = replay_path(win.session.device_url)
    rig = win.session.rig
    colours = {b.name: barrel_colour(i) for i, b in enumerate(rig.pipette.barrels)} if rig is not None else {}

    def done(ov: ReplayOverview | None, exc: BaseException | None) -> None:
        if exc is not None or ov is None:
            bar.readout.setText(f"no overview: {exc}")
            return
        if not win.session.is_replay or not c.bound:  # disconnected meanwhile
            return
        c.replay_control = ReplayControl(win.session, ov, pre_roll_s=PRE_ROLL_S)
        bar.bind(c.replay_control, colours)
        c.replay_control.refresh()

    c.bridge.run_in_worker(lambda: ReplayOverview.from_recording(path, n_bins=OVERVIEW_BINS), done,
                             name="ionto-replay-overview")
