"""The trace view's lane item draws the whole min/max picture: every column's range, joined."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra.numpy import arrays

from app.gui.lane_curve import LaneCurve

INK = "#1f4e79"


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, hs.integers(1, 60), elements=hs.floats(-1e3, 1e3)),
       arrays(np.float64, 60, elements=hs.floats(0, 1e3)))
def test_each_column_line_covers_its_range_and_meets_the_next_column(qapp, lo, extra):
    hi = lo + extra[: len(lo)]
    c = LaneCurve(pg.mkPen(INK))
    c.set_columns(np.arange(len(lo), dtype=float), lo, hi)
    a = c._lines.ndarray()[: len(lo)]
    y0, y1 = np.minimum(a[:, 1], a[:, 3]), np.maximum(a[:, 1], a[:, 3])
    assert np.all(y0 <= lo) and np.all(y1 >= hi)  # the column's whole range is drawn
    # consecutive lines share a y value: the trace has no vertical gap between columns
    assert np.all(np.maximum(y0[:-1], y0[1:]) <= np.minimum(y1[:-1], y1[1:]))
    assert np.array_equal(a[:, 0], a[:, 2]) and np.array_equal(a[:, 0], np.arange(len(lo)))
    r = c.boundingRect()
    assert r.top() <= lo.min() and r.bottom() >= hi.max() and r.height() > 0


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


@pytest.mark.parametrize("mode", ["columns", "polyline"])
def test_a_flat_lane_with_one_spike_is_drawn_across_the_view_and_reaches_the_spike(qtbot, mode):
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.setBackground("w")
    p = w.getPlotItem()
    p.setXRange(0, 1, padding=0)
    p.setYRange(-1.2, 0.2, padding=0)
    c = LaneCurve(pg.mkPen(INK, width=1))
    p.addItem(c)
    n = 1000 if mode == "columns" else 40  # (more columns than pixels, or far fewer)
    t = np.linspace(0, 1, n, endpoint=False)
    lo, hi = np.zeros(n), np.zeros(n)
    lo[n // 2] = -1.0  # one spike down to -1
    if mode == "columns":
        c.set_columns(t, lo, hi)
    else:
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
