"""Ratemeter with ejection bars, spike raster and overlaid waveforms.

Takes the window's ``RateModel`` in the constructor (one for the window's life: the bin and
span outlive connections) and follows its ``bin_changed`` and ``span_changed`` events (a
workspace or a loaded protocol may change them) and its ``stream_reset`` (a new connection:
the plots start empty).  Thread: GUI thread only; ``refresh`` runs a few times a second from
the window's frame clock.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtGui import QFontMetricsF
from PyQt6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.gui.models.raster import MAX_SPAN_S, MIN_SPAN_S, RateModel, fitting_labels
from app.gui.palette import barrel_colour
from app.gui.time_axis import TimeAxisItem

BAR = 0.06  # height of an ejection bar, as a fraction of the rate axis


class RateView(QWidget):
    def __init__(self, model: RateModel, parent: QWidget | None = None):
        super().__init__(parent)
        probe = pg.TextItem("")  # kept while its font is read (its text item dies with it)
        self._label_metrics = QFontMetricsF(probe.textItem.font())  # to fit the bar labels
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Ratemeter bin"))
        self.bin = QDoubleSpinBox()
        self.bin.setRange(0.1, 10.0)
        self.bin.setSingleStep(0.5)
        self.bin.setValue(model.bin_s)
        self.bin.setSuffix(" s")
        self.bin.valueChanged.connect(self._on_bin)
        bar.addWidget(self.bin)
        bar.addWidget(QLabel("Span"))
        self.span = QDoubleSpinBox()
        self.span.setRange(MIN_SPAN_S, MAX_SPAN_S)
        self.span.setSingleStep(60)
        self.span.setValue(model.span_s)
        self.span.setSuffix(" s")
        self.span.valueChanged.connect(self._on_span)
        bar.addWidget(self.span)
        self.rate_label = QLabel("")
        bar.addWidget(self.rate_label, 1)
        lay.addLayout(bar)
        self.glw = pg.GraphicsLayoutWidget()
        lay.addWidget(self.glw, 1)
        self.rate_plot = self.glw.addPlot(row=0, col=0)
        self.rate_plot.setLabel("left", "rate", units="Hz")
        self.rate_plot.setMenuEnabled(False)
        self.rate_plot.hideButtons()
        self.rate_plot.setMouseEnabled(x=False, y=False)
        self.rate_plot.getAxis("bottom").setStyle(showValues=False)
        self.rate_curve = self.rate_plot.plot(stepMode="center", fillLevel=0, pen=pg.mkPen("#34495e", width=1),
                                              brush=pg.mkBrush(52, 73, 94, 110))
        self.raster_plot = self.glw.addPlot(row=1, col=0, axisItems={"bottom": TimeAxisItem()})
        self.raster_plot.setMaximumHeight(60)
        self.raster_plot.setMenuEnabled(False)
        self.raster_plot.hideButtons()
        self.raster_plot.setMouseEnabled(x=False, y=False)
        self.raster_plot.setXLink(self.rate_plot)
        self.raster_plot.setYRange(0, 1, padding=0)
        self.raster_plot.getAxis("left").setStyle(showValues=False)
        self.raster_plot.setLabel("left", "spikes")
        self.raster_plot.getAxis("left").setWidth(self.rate_plot.getAxis("left").width())
        self.raster = self.raster_plot.plot(pen=pg.mkPen(44, 62, 80, 90, width=1), connect="pairs")
        self.wave_plot = self.glw.addPlot(row=0, col=1, rowspan=2)
        self.wave_plot.setLabel("bottom", "ms")
        self.wave_plot.setLabel("left", "µV")
        self.wave_plot.setTitle("spike waveforms")
        self.wave_plot.setMenuEnabled(False)
        self.wave_plot.hideButtons()
        self.glw.ci.layout.setColumnStretchFactor(0, 5)
        self.glw.ci.layout.setColumnStretchFactor(1, 1)
        self.wave_curve = self.wave_plot.plot(pen=pg.mkPen(44, 62, 80, 70), connect="finite")
        self._bar_items: list[pg.GraphicsObject] = []
        self.drawn_bars: list[str] = []

        model.bin_changed.connect(self._show_bin)
        model.span_changed.connect(self._show_span)
        model.stream_reset.connect(self._clear)

    def _clear(self) -> None:
        """A new connection: nothing drawn until its first refresh."""
        self.rate_curve.setData([], [])
        self.raster.setData([], [])
        self.wave_curve.setData([], [])
        self.rate_label.setText("")
        for it in self._bar_items:
            self.rate_plot.removeItem(it)
        self._bar_items = []
        self.drawn_bars = []

    def _show_bin(self, bin_s: float) -> None:
        self.bin.blockSignals(True)
        self.bin.setValue(bin_s)
        self.bin.blockSignals(False)

    def _show_span(self, span_s: float) -> None:
        self.span.blockSignals(True)
        self.span.setValue(span_s)
        self.span.blockSignals(False)

    def _on_bin(self, v: float) -> None:
        self.model.set_bin(v)

    def _on_span(self, v: float) -> None:
        self.model.set_span(v)

    # --- drawing (GUI thread) ------------------------------------------------------------------
    def refresh(self, spikes: np.ndarray, end_index: int) -> None:
        m = self.model
        edges, rate = m.histogram(spikes, end_index)
        if len(rate):
            self.rate_curve.setData(edges, rate)
            self.rate_label.setText(f"last bin {rate[-1]:.1f} Hz · mean {np.mean(rate[-30:]):.1f} Hz (30 bins)")
        t_end = end_index / m.rate_hz
        t_start = max(0.0, t_end - m.span_s)
        self.rate_plot.setXRange(t_start, max(t_end, t_start + 1), padding=0)
        ymax = max(10.0, float(rate.max()) * 1.25 if len(rate) else 10.0)
        self.rate_plot.setYRange(0, ymax * 1.2, padding=0)
        sp = spikes[spikes >= t_start * m.rate_hz] / m.rate_hz
        xs = np.repeat(sp, 2)
        ys = np.tile([0.15, 0.85], len(sp))
        self.raster.setData(xs, ys)
        self._draw_bars(end_index, ymax)

    def _draw_bars(self, end_index: int, ymax: float) -> None:
        m = self.model
        for it in self._bar_items:
            self.rate_plot.removeItem(it)
        self._bar_items = []
        self.drawn_bars = []
        bars = m.visible_bars(end_index)
        lanes = sorted({b.lane for b, _, _ in bars})
        (x0, x1), width_px = self.rate_plot.getViewBox().viewRange()[0], self.rate_plot.getViewBox().width()
        labels = fitting_labels(bars, width_px / max(x1 - x0, 1e-9), self._label_metrics.horizontalAdvance,
                                view_end_s=x1)
        # each lane of bars: a bar and, above it, a line of label text (its pixel height turned into
        # rate units, so that the top label is never cut by the plot's edge whatever its height)
        px_h = max(self.rate_plot.getViewBox().height(), 40.0)
        text_frac = min(0.25, (self._label_metrics.height() + 4) / px_h)  # of the whole y range
        n = len(lanes)
        top = ymax * (1.02 + BAR * n) / max(0.2, 1.0 - n * text_frac) if lanes else ymax * 1.1
        lane_h = ymax * BAR + text_frac * top
        for (bar, t0, t1), label in zip(bars, labels):
            k = lanes.index(bar.lane)
            y0 = ymax * 1.02 + lane_h * k
            colour = barrel_colour(bar.lane)
            rect = pg.QtWidgets.QGraphicsRectItem(t0, y0, max(t1 - t0, 1e-3), ymax * BAR)
            rect.setBrush(pg.mkBrush(colour))
            rect.setPen(pg.mkPen(None))
            self.rate_plot.addItem(rect)
            self._bar_items.append(rect)
            if label:  # shortened or left out where it would run into the next one
                text = pg.TextItem(label, color=colour, anchor=(0, 1))
                text.setPos(t0, y0 + ymax * BAR)  # its bottom on the bar: the text fills the lane above
                self.rate_plot.addItem(text)
                self._bar_items.append(text)
                self.drawn_bars.append(label)
        self.rate_plot.setYRange(0, top, padding=0)

    def show_waveforms(self, t_ms: np.ndarray, waves: np.ndarray) -> None:
        if waves.size == 0:
            self.wave_curve.setData([], [])
            return
        n, _k = waves.shape
        x = np.tile(np.append(t_ms, np.nan), n)
        y = np.hstack([waves, np.full((n, 1), np.nan)]).ravel()
        self.wave_curve.setData(x, y)
