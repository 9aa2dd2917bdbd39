"""The trace view: one lane per channel, scrolling, min/max columns, threshold and spikes.

Takes a ``TraceModel`` (``bind``) and the session's detector; draws only what the model
computed.  Thread: GUI thread only (``refresh`` is called by the window's frame timer).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollBar,
    QVBoxLayout,
    QWidget,
)

from app.gui.models.traces import TraceModel

LANE_COLOURS = ["#1f4e79", "#8e44ad", "#16a085", "#d35400", "#2c3e50", "#7f8c8d", "#27ae60", "#c0392b"]
WINDOWS_S = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0]
MAX_AHEAD_S = 0.1
GAINS = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]


class TracesView(QWidget):
    window_changed = pyqtSignal(float)
    threshold_dragged = pyqtSignal(float)  # new threshold, physical units (V), positive

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: TraceModel | None = None
        self.threshold_source: Callable[[], float | None] = lambda: None
        self.spike_source: Callable[[int], np.ndarray] = lambda since: np.zeros(0, dtype=np.int64)
        self.detector_channel = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Window"))
        self.window = QComboBox()
        for w in WINDOWS_S:
            self.window.addItem(f"{w:g} s", w)
        self.window.setCurrentIndex(WINDOWS_S.index(5.0))
        self.window.currentIndexChanged.connect(lambda _i: self.window_changed.emit(self.window.currentData()))
        bar.addWidget(self.window)
        self.freeze = QPushButton("Freeze")
        self.freeze.setCheckable(True)
        self.freeze.setToolTip("Hold the view and scroll back through the last minutes (acquisition goes on)")
        self.freeze.toggled.connect(self._on_freeze)
        bar.addWidget(self.freeze)
        self.scroll = QScrollBar(Qt.Orientation.Horizontal)
        self.scroll.setEnabled(False)
        self.scroll.setMinimumWidth(160)
        self.scroll.valueChanged.connect(self._on_scroll)
        bar.addWidget(self.scroll, 1)
        bar.addWidget(QLabel("Channel"))
        self.channel = QComboBox()
        self.channel.currentIndexChanged.connect(self._show_channel_settings)
        bar.addWidget(self.channel)
        self.gain = QComboBox()
        for g in GAINS:
            self.gain.addItem(f"×{g:g}", g)
        self.gain.setToolTip("Display gain of the chosen channel (y zoom)")
        self.gain.currentIndexChanged.connect(self._on_gain)
        bar.addWidget(self.gain)
        self.visible = QCheckBox("shown")
        self.visible.toggled.connect(self._on_visible)
        bar.addWidget(self.visible)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Threshold k"))
        self.k = QDoubleSpinBox()
        self.k.setRange(2.0, 20.0)
        self.k.setSingleStep(0.5)
        self.k.setValue(5.0)
        self.k.setToolTip("Threshold = k × noise σ (σ = MAD of the spike band / 0.6745)")
        bar.addWidget(self.k)
        self.auto = QPushButton("Auto k·MAD")
        self.auto.setToolTip("Set the spike threshold to k × the detector's noise estimate")
        bar.addWidget(self.auto)
        self.threshold_label = QLabel("")
        bar.addWidget(self.threshold_label)
        lay.addLayout(bar)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.layout.setSpacing(0)
        lay.addWidget(self.glw, 1)
        self.plot: pg.PlotItem | None = None
        self.curves: list[pg.PlotDataItem] = []
        self.lane_labels: list[str] = []  # the y axis names each lane: "name ±range units"
        self.lanes: dict[int, tuple[float, float]] = {}  # channel → (lane centre, plot units per display unit)
        self.threshold_line: pg.InfiniteLine | None = None
        self.spike_marks: pg.ScatterPlotItem | None = None
        self.drawn_end_index = 0  # newest sample drawn (for the bench's latency)
        self.view_end_index = 0  # right edge of the view, including the smooth-scroll advance
        self._last_end: int | None = None
        self._last_change = 0.0
        self._pace: float | None = None  # observed samples per wall-clock second
        self.frames = 0

    # --- binding -------------------------------------------------------------------------
    def bind(self, model: TraceModel, detector_channel: int) -> None:
        """One plot, one lane per channel (a chart recorder): a single pair of axes keeps a
        frame cheap whatever the channel count.  The detector's electrode gets a taller lane."""
        self.model = model
        self.detector_channel = detector_channel
        self.glw.clear()
        self.channel.blockSignals(True)
        self.channel.clear()
        p = self.glw.addPlot(row=0, col=0)
        p.setMenuEnabled(False)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        p.setLabel("bottom", "time", units="s")
        # the lane axis only changes with the lanes: paint it from a cached pixmap, not text each frame
        p.getAxis("left").setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot = p
        self.curves = []
        self.lane_labels = []
        for i, v in enumerate(model.channels):
            self.channel.addItem(v.name, i)
            c = p.plot(pen=pg.mkPen(LANE_COLOURS[i % len(LANE_COLOURS)], width=1))
            c.setSkipFiniteCheck(True)
            self.curves.append(c)
        self.threshold_line = pg.InfiniteLine(angle=0, movable=True, pen=pg.mkPen("#e74c3c", width=1.5),
                                              hoverPen=pg.mkPen("#e74c3c", width=3),
                                              label="threshold", labelOpts={"position": 0.9, "color": "#e74c3c"})
        self.threshold_line.setVisible(False)
        self.threshold_line.sigPositionChangeFinished.connect(self._on_threshold_dragged)
        p.addItem(self.threshold_line, ignoreBounds=True)
        self.spike_marks = pg.ScatterPlotItem(symbol="t", size=7, pen=None, brush=pg.mkBrush("#e74c3c"))
        p.addItem(self.spike_marks, ignoreBounds=True)
        self.channel.blockSignals(False)
        self.channel.setCurrentIndex(detector_channel)
        self._layout_lanes()
        self._show_channel_settings()

    def _layout_lanes(self) -> None:
        """Place the visible lanes top to bottom; the y axis names them."""
        m = self.model
        assert m is not None
        self.lanes = {}
        y = 0.0
        ticks = []
        self.lane_labels = []
        for i, v in enumerate(m.channels):
            self.curves[i].setVisible(v.visible)
            if not v.visible:
                continue
            h = 3.0 if i == self.detector_channel else 1.0
            centre = y - h / 2
            self.lanes[i] = (centre, 0.45 * h / v.y_range[1])
            label = f"{v.name} ±{v.y_range[1]:g} {v.units}"
            ticks.append((centre, label))
            self.lane_labels.append(label)
            y -= h
        axis = self.plot.getAxis("left")
        axis.setTicks([ticks, []])
        axis.setWidth(12 + 7 * max((len(t) for _, t in ticks), default=8))  # a label too wide is not drawn
        self.plot.setYRange(y, 0, padding=0.01)
        self._lane_bottom = y

    def lane_scale(self, channel: int) -> float:
        """Plot units per display unit of a channel's lane (grows with its gain)."""
        return self.lanes[channel][1]

    # --- user actions (GUI thread) ------------------------------------------------------------
    def _selected(self) -> int | None:
        i = self.channel.currentData()
        return None if i is None else int(i)

    def _show_channel_settings(self, *_args: object) -> None:
        i = self._selected()
        if self.model is None or i is None:
            return
        v = self.model.channels[i]
        self.gain.blockSignals(True)
        self.gain.setCurrentIndex(min(range(len(GAINS)), key=lambda k: abs(GAINS[k] - v.gain)))
        self.gain.blockSignals(False)
        self.visible.blockSignals(True)
        self.visible.setChecked(v.visible)
        self.visible.blockSignals(False)

    def _on_gain(self, *_args: object) -> None:
        i = self._selected()
        if self.model is None or i is None:
            return
        self.model.set_gain(i, float(self.gain.currentData()))
        self._layout_lanes()

    def _on_visible(self, on: bool) -> None:
        i = self._selected()
        if self.model is None or i is None:
            return
        self.model.set_visible(i, on)
        self._layout_lanes()

    def _on_freeze(self, on: bool) -> None:
        if self.model is None:
            return
        self.model.freeze(on)
        self.scroll.setEnabled(on)
        self._update_scrollbar()
        self.freeze.setText("Live" if on else "Freeze")

    def _update_scrollbar(self) -> None:
        if self.model is None:
            return
        lim = int(self.model.scroll_limit_s * 10)
        self.scroll.blockSignals(True)
        self.scroll.setRange(0, lim)
        self.scroll.setPageStep(max(1, int(self.model.window_s * 10)))
        self.scroll.setValue(lim - int(self.model.scroll_s * 10))
        self.scroll.blockSignals(False)

    def _on_scroll(self, value: int) -> None:
        if self.model is None:
            return
        self.model.scroll_to((self.scroll.maximum() - value) / 10.0)

    def _on_threshold_dragged(self, line: pg.InfiniteLine) -> None:
        if self.model is None:
            return
        v = self.model.channels[self.detector_channel]
        centre, scale = self.lanes[self.detector_channel]
        self.threshold_dragged.emit(abs((float(line.value()) - centre) / scale) / v.to_display)

    def set_threshold_line(self, threshold_phys: float | None) -> None:
        """Show the detector's threshold (negative-going spikes: drawn below zero)."""
        line = self.threshold_line
        if line is None or self.model is None or line.moving:
            return
        if threshold_phys is None:
            line.setVisible(False)
            self.threshold_label.setText("calibrating…")
            return
        v = self.model.channels[self.detector_channel]
        if self.detector_channel not in self.lanes:
            line.setVisible(False)
            return
        centre, scale = self.lanes[self.detector_channel]
        line.setVisible(True)
        line.setValue(centre - threshold_phys * v.to_display * scale)
        self.threshold_label.setText(f"{-threshold_phys * v.to_display:.0f} {v.units}")

    # --- drawing (GUI thread, each frame) -------------------------------------------------------
    def _ahead(self, data_end: int) -> int:
        """Samples to scroll past the newest data so the view moves smoothly every frame although
        data arrive in engine blocks (~50 ms): the sample clock's pace, as observed, times the time
        since the last block — never more than ``MAX_AHEAD_S`` (the right edge is then empty)."""
        now = time.monotonic()
        if data_end != self._last_end:
            if self._last_end is not None and data_end > self._last_end and now > self._last_change:
                pace = (data_end - self._last_end) / (now - self._last_change)
                self._pace = pace if self._pace is None else 0.8 * self._pace + 0.2 * pace
            self._last_end, self._last_change = data_end, now
            return 0
        if self._pace is None or self.model is None:
            return 0
        return int(min((now - self._last_change) * self._pace, MAX_AHEAD_S * self.model.rate_hz))

    def refresh(self) -> None:
        m = self.model
        if m is None:
            return
        for i, t, y in m.curves():
            lane = self.lanes.get(i)
            if lane is not None:
                self.curves[i].setData(t, lane[0] + lane[1] * np.clip(y, -1.1 * m.channels[i].y_range[1],
                                                                       1.1 * m.channels[i].y_range[1]))
        t0, t1 = m.view_range()
        ahead = 0 if m.frozen else self._ahead(t1)
        x0, x1 = (t0 + ahead) / m.rate_hz, (t1 + ahead) / m.rate_hz
        self.plot.setXRange(x0, x1, padding=0)
        self.view_end_index = t1 + ahead
        if self.spike_marks is not None and self.detector_channel in self.lanes:
            sp = self.spike_source(max(0, t0))
            sp = sp[sp < t1]
            centre, scale = self.lanes[self.detector_channel]
            top = centre + 0.9 * scale * m.channels[self.detector_channel].y_range[1]
            self.spike_marks.setData(sp / m.rate_hz, np.full(len(sp), top))
        self.set_threshold_line(self.threshold_source())
        if m.frozen:
            self._update_scrollbar()
        self.drawn_end_index = m.end_index
        self.frames += 1
