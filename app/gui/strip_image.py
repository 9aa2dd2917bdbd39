"""The trace view's lanes as a scrolling strip chart: one image, only new pixel columns drawn.

Redrawing every lane's every column each frame costs what the lanes hold: at 64 channels,
~1500 columns each, Qt drew ~96,000 lines a frame (8 ms of a 25-ms frame, and the frame
clock then could not keep up with the engine's blocks).  A scope does not redraw what has
not changed, and neither does this item:

* Time is cut into **pixel columns on a fixed grid** (pixel ``P`` covers
  ``[P·dt, (P+1)·dt)`` s, ``dt`` = the window's seconds per screen pixel), so a column once
  drawn stays right while the view scrolls; each model column (``TraceModel.columns``) goes
  to the pixel its first sample falls in, and a pixel keeps the min and max of its columns.
* The pixels live in a **ring** of ``width`` columns (an RGB32 ``QImage`` over a numpy buffer,
  one row per screen pixel of the lanes' height).  Each frame only the pixels at and after the
  newest one drawn are computed and rasterised (the newest pixel may have grown); the rest is
  reused.  A pixel is drawn as a vertical span from its min to its max, stretched to meet the
  previous pixel's range so the trace stays joined — the picture of ``LaneCurve``'s columns.
* ``paint`` copies the visible part of the ring to the screen, in at most two pieces, 1:1
  (no scaling: a blit), after the newest pixel nothing (the view's background).

The per-pixel min/max are kept in display units, so a new lane layout (gain, a lane shown or
hidden, a current lane's range) or a new height re-rasterises the ring from them without the
model; a new ``dt`` (window length or width) starts an empty ring, which the next ``update``
fills from the columns in view.  Columns sparser than the screen's pixels are not this item's
job (the trace view then draws ``LaneCurve`` polylines).

Thread: GUI thread only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPoint, QRect, QRectF
from PyQt6.QtGui import QColor, QImage, QPainter


@dataclass(frozen=True)
class Lane:
    """One channel's lane: plot y of a value ``v`` is ``centre + scale · clip(v, ±clip)``;
    ``top``/``bottom``: the lane's extent in plot y (its pixels never leave it)."""

    channel: int
    centre: float
    scale: float
    clip: float
    top: float
    bottom: float
    colour: QColor


def _rgb32(c: QColor) -> np.uint32:
    return np.uint32(0xFF000000 | (c.red() << 16) | (c.green() << 8) | c.blue())


class StripImage(pg.GraphicsObject):
    """All lanes of a trace view, drawn as a strip chart (see the module docstring).

    ``set_lanes(lanes, y_top, y_bottom)`` when the layout changes; ``update_columns(cs, lo, hi,
    rate_hz, window_s)`` each frame with the model's columns in view; ``pixels_drawn`` counts
    the pixel columns rasterised (a frame that brings one block draws a few, not the view)."""

    def __init__(self, background: QColor | str = "w"):
        super().__init__()
        self.setZValue(-10)  # under every other item of the plot (zero lines, marks, cursors)
        self._bg = _rgb32(pg.mkColor(background))
        self._lanes: list[Lane] = []
        self._y_top = 0.0
        self._y_bottom = -1.0
        self._n_ch = 0
        self._dt_s = 0.0  # seconds per pixel column
        self._width = 0  # ring capacity, pixel columns
        self._height = 0  # rows (screen pixels of y_top..y_bottom)
        self._buf = np.zeros((0, 0), dtype=np.uint32)
        self._image = QImage()
        self._pcol = np.zeros(0, dtype=np.int64)  # absolute pixel column held by each slot (-1: none)
        self._lo = np.zeros((0, 0), dtype=np.float32)  # per slot and channel, display units
        self._hi = np.zeros((0, 0), dtype=np.float32)
        self._last: int | None = None  # newest pixel column drawn
        self._first = 0  # oldest pixel column drawn since the ring (re)started: nothing older is shown
        self._row_lane = np.zeros(0, dtype=np.int64)  # lane of each image row (-1: none)
        self._row_colour = np.zeros(0, dtype=np.uint32)
        self._stale = True  # the image must be re-rasterised from _lo/_hi (layout or height changed)
        self.pixels_drawn = 0

    # --- configuration (GUI thread) ---------------------------------------------------------------
    def set_lanes(self, lanes: list[Lane], y_top: float, y_bottom: float) -> None:
        """The visible lanes and the plot y range they fill (top above bottom)."""
        if not y_top > y_bottom:
            raise ValueError(f"y_top must be above y_bottom, got {y_top} and {y_bottom}")
        self.prepareGeometryChange()
        self._lanes = list(lanes)
        self._y_top, self._y_bottom = float(y_top), float(y_bottom)
        self._stale = True
        self.update()

    @property
    def lanes(self) -> list[Lane]:
        return list(self._lanes)

    @property
    def dt_s(self) -> float:
        return self._dt_s

    @property
    def newest_pixel(self) -> int | None:
        return self._last

    def drawn_span_s(self) -> tuple[float, float] | None:
        """(start, end) s of the pixel columns held, or None before the first columns."""
        if self._last is None:
            return None
        return self._oldest() * self._dt_s, (self._last + 1) * self._dt_s

    def _oldest(self) -> int:
        """The oldest pixel column the ring shows (drawn since it started, and not overwritten)."""
        assert self._last is not None
        return max(self._first, self._last - self._width + 1)

    def pixel_column(self, px: int) -> np.ndarray | None:
        """The image column (top to bottom, RGB32) drawn for absolute pixel column ``px``, or
        None when the ring does not hold it."""
        if self._last is None or self._height == 0 or not self._oldest() <= px <= self._last:
            return None
        return self._buf[:, px % self._width].copy()

    # --- data in (GUI thread, each frame) ------------------------------------------------------------
    def update_columns(self, cs: np.ndarray, lo: np.ndarray, hi: np.ndarray, rate_hz: float,
                       window_s: float) -> None:
        """The model's columns in view: start sample indices ``cs`` (ascending) and their
        ``lo``/``hi`` (columns × channels, display units).  Computes the pixel columns from the
        newest one drawn on (all of them after a reset or a jump back, as when a frozen view
        scrolls), and rasterises them."""
        view = self.getViewBox()
        width_px = round(view.width()) if view is not None else 0
        if width_px < 2 or len(cs) == 0:
            return
        n_ch = lo.shape[1]
        dt = window_s / width_px
        if dt != self._dt_s or n_ch != self._n_ch or self._width != width_px + 8:
            self._reset(dt, width_px + 8, n_ch)
        self._ensure_height()
        p = (np.asarray(cs, dtype=np.float64) / rate_hz / dt).astype(np.int64)  # pixel of each column
        if self._last is not None and p[-1] < self._last:  # the view went back: start again
            self._pcol[:] = -1
            self._last = None
        start = p[0] if self._last is None else max(self._last, p[0])
        start = max(start, p[-1] - self._width + 1)
        k0 = int(np.searchsorted(p, start, side="left"))
        if k0 >= len(p):
            return
        p, lo, hi = p[k0:], lo[k0:], hi[k0:]
        first = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])  # the first column of each pixel
        px = p[first]
        plo = np.minimum.reduceat(lo, first, axis=0)
        phi = np.maximum.reduceat(hi, first, axis=0)
        # the pixels drawn: from the newest drawn before (or the first of a new start) to the newest
        # now, those with no column (samples lost, or the view jumped on) left empty
        if self._last is None:
            self._first = int(px[0])
            span_from = int(px[0])
        else:
            span_from = max(min(int(px[0]), self._last + 1), int(px[-1]) - self._width + 1)
        span = np.arange(span_from, int(px[-1]) + 1, dtype=np.int64)
        slots = span % self._width
        self._pcol[slots] = -1
        self._pcol[px % self._width] = px
        self._lo[px % self._width] = plo
        self._hi[px % self._width] = phi
        self._last = int(px[-1]) if self._last is None else max(self._last, int(px[-1]))
        if not self._stale:
            self._rasterise(span)
        self.prepareGeometryChange()
        self.update()

    def _reset(self, dt: float, width: int, n_ch: int) -> None:
        self._dt_s, self._width, self._n_ch = dt, width, n_ch
        self._pcol = np.full(width, -1, dtype=np.int64)
        self._lo = np.zeros((width, n_ch), dtype=np.float32)
        self._hi = np.zeros((width, n_ch), dtype=np.float32)
        self._last = None
        self._height = 0  # reallocated by _ensure_height

    def _ensure_height(self) -> None:
        """Rows = the screen pixels between y_top and y_bottom; re-rasterise when that changed."""
        view = self.getViewBox()
        if view is None or view.height() <= 0:
            return
        _, (y0, y1) = view.viewRange()
        height = round(view.height() * (self._y_top - self._y_bottom) / max(1e-12, y1 - y0))
        height = max(1, height)
        if height != self._height or self._buf.shape[1] != self._width:
            self._height = height
            self._buf = np.empty((height, self._width), dtype=np.uint32)
            self._image = QImage(self._buf.data, self._width, height, 4 * self._width, QImage.Format.Format_RGB32)
            self._stale = True
        if self._stale:
            self._row_lanes()
        if self._stale and self._last is not None:
            self._stale = False
            self._rasterise(np.arange(self._oldest(), self._last + 1, dtype=np.int64))
        elif self._stale:
            self._stale = False

    def _rows(self, y: np.ndarray) -> np.ndarray:
        """Image row of plot y (row 0 at y_top)."""
        return (self._y_top - y) * (self._height / (self._y_top - self._y_bottom))

    def _rasterise(self, span: np.ndarray) -> None:
        """Draw the pixel columns ``span`` (consecutive absolute pixels) into the ring image."""
        if len(span) == 0 or self._height == 0:
            return
        span = span[-self._width:]
        for a, b in _pieces(span % self._width):
            self._rasterise_piece(span[a:b], int(span[a] % self._width))
        self.pixels_drawn += len(span)

    def _row_lanes(self) -> None:
        """Which lane each image row belongs to (-1: none), and its colour: the lanes' bands are
        disjoint, so one gather per row draws every lane at once."""
        rows = np.full(self._height, -1, dtype=np.int64)
        colour = np.full(self._height, self._bg, dtype=np.uint32)
        for k, lane in enumerate(self._lanes):
            r0 = max(0, round(float(self._rows(np.float64(lane.top)))))
            r1 = min(self._height, round(float(self._rows(np.float64(lane.bottom)))))
            rows[r0:r1] = k
            colour[r0:r1] = _rgb32(lane.colour)
        self._row_lane, self._row_colour = rows, colour

    def _rasterise_piece(self, px: np.ndarray, s0: int) -> None:
        s = slice(s0, s0 + len(px))
        have = self._pcol[s] == px
        prev_slots = (px - 1) % self._width
        prev_ok = (have & (self._pcol[prev_slots] == px - 1))[:, None]
        ch = np.array([lane.channel for lane in self._lanes if lane.channel < self._n_ch], dtype=np.int64)
        lanes = [lane for lane in self._lanes if lane.channel < self._n_ch]
        if not lanes:
            self._buf[:, s] = self._bg
            return
        clip = np.array([lane.clip for lane in lanes], dtype=np.float32)
        centre = np.array([lane.centre for lane in lanes])
        scale = np.array([lane.scale for lane in lanes])
        a = np.clip(self._lo[s][:, ch], -clip, clip)
        b = np.clip(self._hi[s][:, ch], -clip, clip)
        pa = np.clip(self._lo[prev_slots][:, ch], -clip, clip)
        pb = np.clip(self._hi[prev_slots][:, ch], -clip, clip)
        # stretched to meet the previous pixel's range (a joined trace), where there is one
        a = np.where(prev_ok, np.minimum(a, pb), a)
        b = np.where(prev_ok, np.maximum(b, pa), b)
        n = len(px)
        # (columns, lanes + 1): the last lane never inks (rows of no lane)
        top = np.full((n, len(lanes) + 1), self._height + 1, dtype=np.int32)
        bot = np.full((n, len(lanes) + 1), -1, dtype=np.int32)
        top[:, :-1] = np.floor(self._rows(centre + scale * b))
        bot[:, :-1] = np.floor(self._rows(centre + scale * a))
        bot[~have, :] = -1
        rl = self._row_lane
        rows = np.arange(self._height, dtype=np.int32)
        ink = (top[:, rl] <= rows) & (rows <= bot[:, rl])  # (columns, rows)
        self._buf[:, s] = np.where(ink.T, self._row_colour[:, None], self._bg)

    # --- drawing (GUI thread) ----------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        if self._last is None or self._dt_s <= 0:
            return QRectF()
        x0 = (self._last - self._width + 1) * self._dt_s
        return QRectF(x0, self._y_bottom, self._width * self._dt_s, self._y_top - self._y_bottom)

    def paint(self, p: QPainter, *_args: object) -> None:
        view = self.getViewBox()
        if self._last is None or view is None or self._height == 0:
            return
        self._ensure_height()
        (x0, x1), _ = view.viewRange()
        first = max(int(np.floor(x0 / self._dt_s)), self._oldest())
        last = min(int(np.floor(x1 / self._dt_s)), self._last)
        if last < first:
            return
        tr = p.transform()  # this item's coordinates (s, plot y) → device pixels: a scale and a shift
        y_dev = tr.m22() * self._y_top + tr.dy()
        px = np.arange(first, last + 1, dtype=np.int64)
        p.save()
        p.resetTransform()
        for a, b in _pieces(px % self._width):
            x_dev = tr.m11() * (px[a] * self._dt_s) + tr.dx()
            src = QRect(int(px[a] % self._width), 0, b - a, self._height)
            p.drawImage(QPoint(round(x_dev), round(y_dev)), self._image, src)
        p.restore()


def _pieces(slots: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[a, b)`` of ``slots`` that are consecutive in the ring (at most two for a
    span shorter than the ring)."""
    if len(slots) == 0:
        return []
    breaks = np.flatnonzero(np.diff(slots) != 1) + 1
    edges = [0, *breaks.tolist(), len(slots)]
    return list(itertools.pairwise(edges))
