"""Cursors on the traces: a vertical pair with the time between them, the spikes between them
and their rate; a horizontal cursor with its amplitude in the units of the lane it lies in.

The measurements are plain functions (``between``, ``amplitude``); ``Cursors`` places the
draggable lines on a pyqtgraph plot and says the result in ``readout`` (the traces view shows
it).  Thread: GUI thread only (pyqtgraph's drag signals and the window's refresh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

CURSOR_COLOUR = "#2c3e50"


@dataclass(frozen=True)
class Interval:
    dt_s: float
    n_spikes: int
    rate_hz: float

    def text(self) -> str:
        return f"Δt {self.dt_s:.3f} s · {self.n_spikes} spikes · {self.rate_hz:.1f} Hz"


def between(t_a_s: float, t_b_s: float, spikes: np.ndarray, rate_hz: float) -> Interval:
    """The interval between two cursors (either order): its length, the spikes (sample indices)
    in [earlier, later), and their mean rate."""
    lo, hi = sorted((t_a_s, t_b_s))
    a, b = lo * rate_hz, hi * rate_hz
    n = int(np.count_nonzero((spikes >= a) & (spikes < b)))
    dt = hi - lo
    return Interval(dt, n, n / dt if dt > 0 else float("nan"))


def amplitude(y_plot: float, lanes: dict[int, tuple[float, float]], half_heights: dict[int, float],
              names: list[str], units: list[str]) -> tuple[str, float, str] | None:
    """A horizontal cursor at plot height ``y_plot``: (channel, value, units) of the lane it lies
    in (lanes: channel -> (centre, plot units per display unit); half_heights: channel -> half
    the lane's height in plot units), or None between lanes."""
    for ch, (centre, scale) in lanes.items():
        if abs(y_plot - centre) <= half_heights.get(ch, 0.5) and scale:
            return names[ch], (y_plot - centre) / scale, units[ch]
    return None


class Cursors:
    """The vertical pair (``a``, ``b``) and the horizontal cursor (``h``) of one plot."""

    def __init__(self, plot: pg.PlotItem, on_change: Callable[[], None]):
        self.plot = plot
        pen = pg.mkPen(CURSOR_COLOUR, width=1.5)
        hover = pg.mkPen(CURSOR_COLOUR, width=3)
        opts = {"position": 0.9, "color": CURSOR_COLOUR, "fill": (255, 255, 255, 210)}
        self.a = pg.InfiniteLine(angle=90, movable=True, pen=pen, hoverPen=hover, label="1", labelOpts=opts)
        self.b = pg.InfiniteLine(angle=90, movable=True, pen=pen, hoverPen=hover, label="2", labelOpts=opts)
        self.h = pg.InfiniteLine(angle=0, movable=True, pen=pg.mkPen(CURSOR_COLOUR, width=1.5, dash=[6, 3]),
                                 hoverPen=hover, label="h", labelOpts={**opts, "position": 0.02})
        for line in (self.a, self.b, self.h):
            line.setVisible(False)
            line.setZValue(20)
            plot.addItem(line, ignoreBounds=True)
            line.sigPositionChanged.connect(lambda *_: on_change())

    @property
    def vertical_on(self) -> bool:
        return self.a.isVisible()

    @property
    def horizontal_on(self) -> bool:
        return self.h.isVisible()

    def show_vertical(self, on: bool) -> None:
        """Show the pair; they appear at 1/3 and 2/3 of what the view shows now."""
        if on:
            (x0, x1), _ = self.plot.getViewBox().viewRange()
            self.a.setValue(x0 + (x1 - x0) / 3)
            self.b.setValue(x0 + 2 * (x1 - x0) / 3)
        self.a.setVisible(on)
        self.b.setVisible(on)

    def show_horizontal(self, on: bool, y: float | None = None) -> None:
        if on:
            _, (y0, y1) = self.plot.getViewBox().viewRange()
            self.h.setValue(y if y is not None else (y0 + y1) / 2)
        self.h.setVisible(on)
