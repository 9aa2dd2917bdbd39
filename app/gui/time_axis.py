"""Time axes in seconds, or minutes:seconds past ten minutes — never kiloseconds.

pyqtgraph's default axis puts an SI prefix on large values ("1.2 ks"); a rig operator reads a
protocol clock.  ``TimeAxisItem`` is a drop-in ``AxisItem`` for the bottom axis of every time
plot.  Thread: GUI thread (pyqtgraph calls ``tickStrings`` while painting).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt6.QtCore import QTimer

MMSS_FROM_S = 600.0  # a view that reaches past 10 min is labelled m:ss


def mmss(t_s: float) -> str:
    """``75`` -> ``"1:15"``; negative times get a leading minus."""
    sign = "-" if t_s < 0 else ""
    m, sec = divmod(abs(round(t_s)), 60)
    return f"{sign}{m}:{sec:02d}"


def time_labels(values: list[float], spacing_s: float) -> list[str]:
    """Tick labels for times ``values`` (s) ``spacing_s`` apart: m:ss once the axis reaches
    ``MMSS_FROM_S`` and the ticks are whole seconds apart, else plain seconds with as many
    decimals as the spacing needs."""
    if values and max(abs(v) for v in values) >= MMSS_FROM_S and spacing_s >= 1.0:
        return [mmss(v) for v in values]
    decimals = max(0, -math.floor(math.log10(spacing_s))) if spacing_s > 0 else 0
    return [f"{v:.{decimals}f}" for v in values]


class TimeAxisItem(pg.AxisItem):
    """A bottom axis in s or m:ss (see ``time_labels``); its title names the unit in use."""

    def __init__(self, orientation: str = "bottom", title: str = "time", **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self.title = title
        self.unit = "s"
        self.setLabel(title, units="s")

    def tickStrings(self, values, scale, spacing):  # (pyqtgraph calls it while painting)
        labels = time_labels([v * scale for v in values], spacing * scale)
        unit = "m:ss" if any(":" in lab for lab in labels) else "s"
        if unit != self.unit:  # the title follows the ticks (after this paint: no re-layout inside it)
            self.unit = unit
            QTimer.singleShot(0, lambda: self.setLabel(self.title, units=self.unit))
        return labels
