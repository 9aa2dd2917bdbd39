"""One lane of the trace view: a channel's min/max columns drawn straight with QPainter.

pyqtgraph's ``PlotDataItem``/``PlotCurveItem`` build a ``QPainterPath`` from the points,
stroke it, and recompute the data bounds on every ``setData``.  A lane is already reduced
to one min/max pair per screen column or finer (``TraceModel.columns``), so this item draws
it the way a scope does:

* ``set_columns``: where the columns are at most a pixel apart, one vertical line per column
  from its min to its max, stretched to meet the next column's range so the trace stays
  joined (the picture of the min/max zigzag, with half the segments, all axis-aligned);
* ``setData``: otherwise (few samples over many pixels), the points joined by one polyline.

Both fill Qt's own arrays in place from numpy (pyqtgraph's ``create_qpolygonf`` and its
``PrimitiveArray`` of ``QLineF``, as its ``ScatterPlotItem`` does).  A frame of 16 lanes
costs about half of what the ``PlotDataItem`` lanes did (``bench/bench_gui.py``: the
frames/s rows and the paint time in their notes).

Thread: GUI thread only.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QLineF, QRectF
from PyQt6.QtGui import QPainter, QPen
from pyqtgraph import functions as fn
from pyqtgraph.Qt import internals


class LaneCurve(pg.GraphicsObject):
    """A channel's trace in its lane, drawn with a cosmetic ``pen``.

    ``xData``/``yData``: the points last given (columns: each column's time and its max;
    ``None`` before the first data)."""

    def __init__(self, pen: QPen):
        super().__init__()
        self.pen = QPen(pen)
        self.xData: np.ndarray | None = None
        self.yData: np.ndarray | None = None
        self._poly = fn.create_qpolygonf(0)
        self._lines = internals.PrimitiveArray(QLineF, 4)
        self._columns = False
        self._rect = QRectF()

    def setData(self, x: np.ndarray, y: np.ndarray) -> None:  # (pyqtgraph's name: one vocabulary)
        """Points ``(x, y)`` joined in order by one polyline."""
        x, y = _checked(x, y)
        self.prepareGeometryChange()
        self.xData, self.yData, self._columns = x, y, False
        self._poly = fn.create_qpolygonf(len(x))
        if len(x):
            pts = fn.ndarray_from_qpolygonf(self._poly)
            pts[:, 0] = x
            pts[:, 1] = y
        self._rect = _bounds(x, y, y)
        self.update()

    def set_columns(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Columns at ``x`` spanning ``lo``..``hi``, each line reaching into the next column's
        range (so consecutive columns touch)."""
        x, lo = _checked(x, lo)
        _, hi = _checked(x, hi)
        self.prepareGeometryChange()
        self.xData, self.yData, self._columns = x, hi, True
        self._lines.resize(len(x))
        if len(x):
            a = self._lines.ndarray()
            a[:, 0] = x
            a[:, 2] = x
            a[:, 1] = lo
            a[:, 3] = hi
            np.minimum(lo[:-1], hi[1:], out=a[:-1, 1])
            np.maximum(hi[:-1], lo[1:], out=a[:-1, 3])
        self._rect = _bounds(x, lo, hi)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, p: QPainter, *_args: object) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(self.pen)
        if self._columns:
            if len(self._lines):
                p.drawLines(*self._lines.drawargs())
        elif self._poly.size() >= 2:
            p.drawPolyline(self._poly)


def _checked(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    return x, y


def _bounds(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> QRectF:
    """The data's rectangle, never empty (Qt never paints an item whose rectangle is empty)."""
    if len(x) == 0:
        return QRectF()
    y_lo, y_hi = float(np.nanmin(lo)), float(np.nanmax(hi))
    if not np.isfinite(y_lo) or not np.isfinite(y_hi):
        y_lo = y_hi = 0.0
    pad = 1e-6 * max(1.0, abs(y_lo), abs(y_hi))
    return QRectF(float(x[0]), y_lo - pad, max(float(x[-1] - x[0]), pad), y_hi - y_lo + 2 * pad)
