"""The trace view's polyline lane (short windows: fewer columns than pixels) draws the whole trace."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.gui.lane_curve import LaneCurve

INK = "#1f4e79"


def _ink_columns(widget: pg.PlotWidget, x0: float, x1: float) -> np.ndarray:
    """Which pixel columns between data x0 and x1 hold the pen's colour (anywhere in the view)."""
    img = widget.viewport().grab().toImage()
    vb = widget.getPlotItem().vb
    rect = widget.mapFromScene(vb.mapRectToScene(vb.boundingRect())).boundingRect()
    left = widget.mapFromScene(vb.mapViewToScene(pg.Point(x0, 0))).x() + 1
    right = widget.mapFromScene(vb.mapViewToScene(pg.Point(x1, 0))).x()
    ink = pg.mkColor(INK).rgb()
    return np.array([any(img.pixel(x, y) == ink for y in range(rect.top(), rect.bottom()))
                     for x in range(left, right)])


def test_a_flat_lane_with_one_spike_is_drawn_across_the_view_and_reaches_the_spike(qtbot):
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.setBackground("w")
    p = w.getPlotItem()
    p.setXRange(0, 1, padding=0)
    p.setYRange(-1.2, 0.2, padding=0)
    c = LaneCurve(pg.mkPen(INK, width=1))
    p.addItem(c)
    n = 40  # far fewer columns than pixels
    t = np.linspace(0, 1, n, endpoint=False)
    lo, hi = np.zeros(n), np.zeros(n)
    lo[n // 2] = -1.0  # one spike down to -1
    y = np.empty(2 * n)
    y[0::2], y[1::2] = lo, hi
    c.setData(np.repeat(t, 2), y)
    w.show()
    qtbot.waitExposed(w)
    inked = _ink_columns(w, t[0], t[-1])
    inked = inked[8:]  # (the left axis' tick marks are drawn over the first pixels)
    assert len(inked) > 300 and inked.all(), np.flatnonzero(~inked)  # a joined trace: no empty pixel column
    # the spike's tip is drawn: ink at the pixel row of y = -1
    img = w.viewport().grab().toImage()
    tip = w.mapFromScene(p.vb.mapViewToScene(pg.Point(t[n // 2], -1.0)))
    ink = pg.mkColor(INK).rgb()
    near = [img.pixel(int(tip.x()) + dx, int(tip.y()) + dy) == ink for dx in range(-2, 3) for dy in range(-2, 3)]
    assert any(near)
