"""One lane of the trace view as a polyline, drawn straight with QPainter.

Where the model's min/max columns are at least as dense as the screen's pixels, the trace view
draws its lanes as a strip chart (``app.gui.strip_image``).  Where they are sparser (a short
window: fewer columns than pixels) each lane is this item: the columns' (min, max) points
joined by one polyline.  pyqtgraph's ``PlotDataItem``/``PlotCurveItem`` build a
``QPainterPath`` from the points, stroke it, and recompute the data bounds on every
``setData``; this item fills Qt's own polygon in place from numpy (pyqtgraph's
``create_qpolygonf``) and draws it with one call.

Thread: GUI thread only.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QPainter, QPen
from pyqtgraph import functions as fn


class LaneCurve(pg.GraphicsObject):
    """A channel's trace in its lane, drawn with a cosmetic ``pen``.

    ``xData``/``yData``: the points last given (``None`` before the first data)."""

    def __init__(self, pen: QPen):
        super().__init__()
        self.pen = QPen(pen)
        self.xData: np.ndarray | None = None
        self.yData: np.ndarray | None = None
        self._poly = fn.create_qpolygonf(0)
        self._rect = QRectF()

    def setData(self, x: np.ndarray, y: np.ndarray) -> None:  # (pyqtgraph's name: one vocabulary)
        """Points ``(x, y)`` joined in order by one polyline."""
        x, y = _checked(x, y)
        self.prepareGeometryChange()
        self.xData, self.yData = x, y
        self._poly = fn.create_qpolygonf(len(x))
        if len(x):
            pts = fn.ndarray_from_qpolygonf(self._poly)
            pts[:, 0] = x
            pts[:, 1] = y
        self._rect = _bounds(x, y, y)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, p: QPainter, *_args: object) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(self.pen)
        if self._poly.size() >= 2:
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
