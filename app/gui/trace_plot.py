"""The traces of one connection: one lane per channel, scrolling, min/max columns, threshold
and spikes; marks, protocol steps and ejections drawn on the traces; cursors.

``TracePlot(model, detector_channel, colours, canvas)`` is made on each connection
(``SessionController._bind``) with that connection's ``TraceModel`` (napari's split: the view
takes its model in the constructor and subscribes to its events).  It makes its ``PlotItem``
in the window's canvas (the ``TracesView``'s one ``GraphicsLayoutWidget``, which outlives
connections) and takes it out again in ``detach`` when the next connection's plot comes.  It
draws only what the model computed, and re-lays its lanes on the model's gain and visibility
events whoever changed them.

The per-channel controls (channel, gain, shown: ``ChannelControls``) are made here too, with
the same model, rather than kept in the window's bar and re-pointed: they list the
connection's channels, and a widget that takes its model in its constructor never shows one
connection's gains against another's channels.  The controls that outlive connections
(window length, freeze, k, Auto, the threshold and cursor read-outs) are the ``TracesView``'s;
this plot says what goes into the read-outs through ``threshold_text`` and ``cursor_text``.

The lanes are one ``StripImage`` (``app.gui.strip_image``: a strip chart that draws only the
new pixel columns each frame) while the model's columns are at least as dense as the screen's
pixels, and one ``LaneCurve`` polyline per lane when they are sparser (short windows).
Each lane is drawn in its channel's colour (a current monitor in its barrel's colour,
``app.gui.palette``); a current lane is scaled to the barrel's commanded range
(``set_current_ranges``), with a zero line and ticks, not to the barrel's limit.  The time
axis is in s, or m:ss past ten minutes (``app.gui.time_axis``).
Thread: GUI thread only (``refresh`` is called by the window's frame timer; the model's
events and the Qt signals are emitted on the GUI thread).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, pyqtSignal

from app.gui.channel_controls import ChannelControls
from app.gui.cursors import Cursors, amplitude, between
from app.gui.lane_curve import LaneCurve
from app.gui.models.traces import TraceModel
from app.gui.palette import ELECTRODE_COLOUR, SPIKE_COLOUR
from app.gui.strip_image import Lane, StripImage
from app.gui.time_axis import TimeAxisItem
from app.gui.trace_marks import TraceAnnotations
from daq.types import ChannelKind

_NICE = [m * 10**e for e in range(-1, 4) for m in (1, 2, 5)]
MIN_CURRENT_HALF_nA = 5.0  # a current lane spans at least ±5 nA (a barrel that never left 0)
BAND = 0.6  # height of the ejection band above the lanes (a lane is 1; the electrode's is 3)
MAX_AHEAD_S = 0.1


def current_half_range(max_abs_nA: float) -> float:
    """The half-range of a current lane for currents up to ``max_abs_nA``: 20 % headroom,
    rounded up to a 1-2-5 step, at least ``MIN_CURRENT_HALF_nA``."""
    need = max(MIN_CURRENT_HALF_nA, 1.2 * abs(max_abs_nA))
    return next((v for v in _NICE if v >= need), need)


class TracePlot(QObject):
    threshold_dragged = pyqtSignal(float)  # new threshold, physical units (V), positive
    threshold_text = pyqtSignal(str)  # what the threshold read-out says
    cursor_text = pyqtSignal(str)  # what the cursors measure

    def __init__(self, model: TraceModel, detector_channel: int, colours: list[str] | None,
                 canvas: pg.GraphicsLayoutWidget, *,
                 threshold_source: Callable[[], float | None] = lambda: None,
                 spike_source: Callable[[int], np.ndarray] | None = None,
                 parent: QObject | None = None):
        """One plot, one lane per channel (a chart recorder): a single pair of axes keeps a
        frame cheap whatever the channel count.  The detector's electrode gets a taller lane.
        ``colours``: each channel's pen (``palette.channel_colours``); ``threshold_source``:
        the detector's threshold now (V, or None while it calibrates); ``spike_source``: the
        detected spikes (sample indices) since an index."""
        super().__init__(parent)
        self.model = model
        self.canvas = canvas
        self.detector_channel = detector_channel
        self.threshold_source = threshold_source
        self.spike_source: Callable[[int], np.ndarray] = (
            spike_source if spike_source is not None else (lambda since: np.zeros(0, dtype=np.int64)))
        self.colours = list(colours) if colours else [ELECTRODE_COLOUR] * len(model.channels)
        self.current_half_nA: dict[int, float] = {  # current lanes: channel -> half-range at gain 1
            i: current_half_range(0.0) for i, c in enumerate(model.stream.channels)
            if c.kind == ChannelKind.CURRENT_MONITOR}
        self.zero_lines: list[pg.InfiniteLine] = []
        self.lanes: dict[int, tuple[float, float]] = {}  # channel → (lane centre, plot units per display unit)
        self.lane_half_heights: dict[int, float] = {}  # channel → half its lane's height, plot units
        self.drawn_end_index = 0  # newest sample drawn (for the bench's latency)
        self.view_end_index = 0  # right edge of the view, including the smooth-scroll advance
        self._last_end: int | None = None
        self._last_change = 0.0
        self._pace: float | None = None  # observed samples per wall-clock second
        p = canvas.addPlot(row=0, col=0, axisItems={"bottom": TimeAxisItem()})
        p.setMenuEnabled(False)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        # the lane axis only changes with the lanes: paint it from a cached pixmap, not text each frame
        p.getAxis("left").setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot = p
        # the lanes: a strip chart where the model's columns are at least as dense as the
        # screen's pixels (each frame draws only the new pixels), else one polyline per lane
        self.strip = StripImage()
        p.addItem(self.strip, ignoreBounds=True)
        self.as_columns = True
        self.curves: list[LaneCurve] = []
        self.lane_labels: list[str] = []  # the y axis names each lane: "name ±range units"
        for i in range(len(model.channels)):
            c = LaneCurve(pg.mkPen(self.colours[i], width=1))
            p.addItem(c, ignoreBounds=True)
            self.curves.append(c)
        self.threshold_line = pg.InfiniteLine(angle=0, movable=True, pen=pg.mkPen(SPIKE_COLOUR, width=1.5),
                                              hoverPen=pg.mkPen(SPIKE_COLOUR, width=3),
                                              label="threshold", labelOpts={"position": 0.9, "color": SPIKE_COLOUR})
        self.threshold_line.setVisible(False)
        self.threshold_line.sigPositionChangeFinished.connect(self._on_threshold_dragged)
        p.addItem(self.threshold_line, ignoreBounds=True)
        self.spike_marks = pg.ScatterPlotItem(symbol="t", size=7, pen=None, brush=pg.mkBrush(SPIKE_COLOUR))
        p.addItem(self.spike_marks, ignoreBounds=True)
        self.annotations = TraceAnnotations(p)
        self.annotations.band = (0.05, BAND)
        self.cursors = Cursors(p, self.update_cursor_readout)
        self.controls = ChannelControls(model, detector_channel)
        model.gain_changed.connect(self._model_lanes_changed)
        model.visibility_changed.connect(self._model_lanes_changed)
        self._layout_lanes()

    def detach(self) -> None:
        """The connection is over (the next one's plot comes): stop following the model and
        take this plot's items out of the canvas."""
        self.model.gain_changed.disconnect(self._model_lanes_changed)
        self.model.visibility_changed.disconnect(self._model_lanes_changed)
        self.controls.detach()
        self.canvas.removeItem(self.plot)

    def half_range(self, channel: int) -> float:
        """Half the y range of a lane, display units: a current lane's follows the barrel's
        commanded range, any other its channel's (both shrink with the gain)."""
        v = self.model.channels[channel]
        auto = self.current_half_nA.get(channel)
        return auto / v.gain if auto is not None else v.y_range[1]

    def set_current_ranges(self, max_abs_nA: dict[str, float]) -> None:
        """Scale each barrel's current lane to the largest |current| it has been or will be
        commanded (from the event log and the loaded protocol), not to its limit."""
        changed = False
        for i, c in enumerate(self.model.stream.channels):
            if i in self.current_half_nA and c.barrel in max_abs_nA:
                half = current_half_range(max_abs_nA[c.barrel])
                if half != self.current_half_nA[i]:
                    self.current_half_nA[i] = half
                    changed = True
        if changed:
            self._layout_lanes()

    def _layout_lanes(self) -> None:
        """Place the visible lanes top to bottom, under the ejection band; the y axis names them
        (major ticks) and gives a current lane its range (minor ticks); a current lane has a
        zero line."""
        m = self.model
        assert m is not None
        for z in self.zero_lines:
            self.plot.removeItem(z)
        self.zero_lines = []
        self.lanes = {}
        self.lane_half_heights: dict[int, float] = {}
        y = 0.0
        ticks, minor = [], []
        self.lane_labels = []
        for i, v in enumerate(m.channels):
            self.curves[i].setVisible(v.visible and not self.as_columns)
            if not v.visible:
                continue
            h = 3.0 if i == self.detector_channel else 1.0
            centre = y - h / 2
            half = self.half_range(i)
            self.lanes[i] = (centre, 0.45 * h / half)
            self.lane_half_heights[i] = h / 2
            label = f"{v.name} ±{half:g} {v.units}"
            ticks.append((centre, label))
            self.lane_labels.append(label)
            if i in self.current_half_nA:
                minor += [(centre + 0.45 * h, f"+{half:g}"), (centre, "0"), (centre - 0.45 * h, f"−{half:g}")]
                # solid and pale (the barrel's colour halfway to white): a dashed or translucent
                # line across the whole view cost a millisecond of every frame
                c = pg.mkColor(self.colours[i])
                pale = pg.mkColor((c.red() + 255) // 2, (c.green() + 255) // 2, (c.blue() + 255) // 2)
                zero = pg.InfiniteLine(pos=centre, angle=0, movable=False, pen=pg.mkPen(pale, width=1))
                self.plot.addItem(zero, ignoreBounds=True)
                self.zero_lines.append(zero)
            y -= h
        axis = self.plot.getAxis("left")
        axis.setTicks([ticks, minor])
        axis.setWidth(12 + 7 * max((len(t) for _, t in ticks), default=8))  # a label too wide is not drawn
        self.plot.setYRange(y, BAND, padding=0.01)
        self._lane_bottom = y
        self.strip.set_lanes([Lane(i, centre, scale, 1.1 * self.half_range(i), centre + self.lane_half_heights[i],
                                   centre - self.lane_half_heights[i], pg.mkColor(self.colours[i]))
                              for i, (centre, scale) in self.lanes.items()], 0.0, min(y, -1.0))

    def lane_scale(self, channel: int) -> float:
        """Plot units per display unit of a channel's lane (grows with its gain)."""
        return self.lanes[channel][1]

    # --- the model's events and the threshold line (GUI thread) --------------------------------
    def _model_lanes_changed(self, _channel: int, _value: object) -> None:
        self._layout_lanes()

    def _on_threshold_dragged(self, line: pg.InfiniteLine) -> None:
        v = self.model.channels[self.detector_channel]
        centre, scale = self.lanes[self.detector_channel]
        self.threshold_dragged.emit(abs((float(line.value()) - centre) / scale) / v.to_display)

    def set_threshold_line(self, threshold_phys: float | None) -> None:
        """Show the detector's threshold (negative-going spikes: drawn below zero)."""
        line = self.threshold_line
        if line.moving:
            return
        if threshold_phys is None:
            line.setVisible(False)
            self.threshold_text.emit("calibrating…")
            return
        v = self.model.channels[self.detector_channel]
        if self.detector_channel not in self.lanes:
            line.setVisible(False)
            return
        centre, scale = self.lanes[self.detector_channel]
        line.setVisible(True)
        line.setValue(centre - threshold_phys * v.to_display * scale)
        self.threshold_text.emit(f"{-threshold_phys * v.to_display:.0f} {v.units}")

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
        cs, lo, hi = m.columns()
        # columns at most a pixel apart: the strip chart; sparser ones: a polyline per lane
        as_columns = m.window_s * m.rate_hz / m.samples_per_column >= self.plot.vb.width()
        if as_columns != self.as_columns:
            self.as_columns = as_columns
            self.strip.setVisible(as_columns)
            for i, v in enumerate(m.channels):
                self.curves[i].setVisible(v.visible and not as_columns and i in self.lanes)
        if as_columns:
            self.strip.update_columns(cs, lo, hi, m.rate_hz, m.window_s)
        else:
            t2 = np.repeat(cs / m.rate_hz, 2)
            for i, (centre, scale) in self.lanes.items():
                half = 1.1 * self.half_range(i)
                y = np.empty(2 * len(cs))
                y[0::2] = np.clip(lo[:, i], -half, half)
                y[1::2] = np.clip(hi[:, i], -half, half)
                self.curves[i].setData(t2, centre + scale * y)
        t0, t1 = m.view_range()
        ahead = 0 if m.frozen else self._ahead(t1)
        x0, x1 = (t0 + ahead) / m.rate_hz, (t1 + ahead) / m.rate_hz
        self.plot.setXRange(x0, x1, padding=0)
        self.view_end_index = t1 + ahead
        if self.spike_marks is not None and self.detector_channel in self.lanes:
            sp = self.spike_source(max(0, t0))
            sp = sp[sp < t1]
            centre, scale = self.lanes[self.detector_channel]
            top = centre + 0.9 * scale * self.half_range(self.detector_channel)
            self.spike_marks.setData(sp / m.rate_hz, np.full(len(sp), top))
        if self.annotations is not None and not m.frozen:
            self.annotations.extend_running(t1 / m.rate_hz)
        self.set_threshold_line(self.threshold_source())
        self.drawn_end_index = m.end_index

    # --- cursors (GUI thread) ---------------------------------------------------------------------
    def update_cursor_readout(self) -> None:
        """Say what the cursors measure: Δt, spikes and rate between the pair; the amplitude at
        the horizontal cursor in its lane's units."""
        c, m = self.cursors, self.model
        parts = []
        if c.vertical_on:
            ta, tb = float(c.a.value()), float(c.b.value())
            spikes = self.spike_source(max(0, int(min(ta, tb) * m.rate_hz)))
            parts.append(between(ta, tb, spikes, m.rate_hz).text())
        if c.horizontal_on:
            amp = amplitude(float(c.h.value()), self.lanes, self.lane_half_heights,
                            [v.name for v in m.channels], [v.units for v in m.channels])
            parts.append(f"h: {amp[0]} {amp[1]:+.1f} {amp[2]}" if amp else "h: between lanes")
        self.cursor_text.emit(" · ".join(parts))
