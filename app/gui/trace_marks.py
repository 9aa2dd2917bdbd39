"""Marks, protocol steps and ejections drawn on the raw traces (not only on the ratemeter).

Marks are vertical lines labelled with their text — a typed marker (keys 0–9) with its digit,
as Spike2's keyboard markers are; notes added to the file are dashed green lines with their
first words; protocol steps are dotted grey lines labelled with the step;
ejections are bars in their barrel's colour in a band above the lanes, labelled with the current.
Items live in data coordinates, so they scroll with the traces; ``prune`` drops the ones older
than the view's history.  Thread: GUI thread only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PyQt6.QtCore import Qt

from app.gui.models.raster import EjectionBar

MARK_COLOUR = "#6c3483"
NOTE_COLOUR = "#117a65"
STEP_COLOUR = "#7f8c8d"
MAX_LABEL = 24  # characters of a mark's text drawn on the trace (the whole text is in the tooltip)


@dataclass
class DrawnMark:
    t_s: float
    kind: str  # "mark" | "step" | "pause" | "resume" | ...
    text: str
    item: pg.InfiniteLine


class TraceAnnotations:
    """The marks, steps and ejection bars on one pyqtgraph plot."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.marks: list[DrawnMark] = []
        self.bars: dict[tuple[str, int], tuple[pg.QtWidgets.QGraphicsRectItem, pg.TextItem]] = {}
        self.band = (0.0, 0.5)  # y range of the ejection band (above the lanes)
        self.bar_rows: dict[int, int] = {}  # barrel lane -> row in the band
        self.running: set[tuple[str, int]] = set()  # ejections still running (stretched every frame)

    def clear(self) -> None:
        for m in self.marks:
            self.plot.removeItem(m.item)
        for rect, text in self.bars.values():
            self.plot.removeItem(rect)
            self.plot.removeItem(text)
        self.marks, self.bars, self.bar_rows, self.running = [], {}, {}, set()

    def add(self, t_s: float, kind: str, text: str) -> DrawnMark:
        """A vertical line at ``t_s``: a mark (purple, its text), a note (dashed green) or a
        protocol step (dotted grey)."""
        is_mark = kind in ("mark", "note")
        colour = {"mark": MARK_COLOUR, "note": NOTE_COLOUR}.get(kind, STEP_COLOUR)
        text = " ".join(text.split())  # a note's lines on one line
        label = text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"
        style = {"mark": Qt.PenStyle.SolidLine, "note": Qt.PenStyle.DashLine}.get(kind, Qt.PenStyle.DotLine)
        line = pg.InfiniteLine(pos=t_s, angle=90, movable=False, pen=pg.mkPen(colour, width=1, style=style),
                               label=label, labelOpts={"position": 0.97 if is_mark else 0.03, "color": colour,
                                                       "fill": (255, 255, 255, 200), "anchors": [(0, 0), (0, 0)]})
        line.setToolTip(f"{kind} at {t_s:.2f} s: {text}")
        self.plot.addItem(line, ignoreBounds=True)
        m = DrawnMark(t_s, kind, text, line)
        self.marks.append(m)
        return m

    def show_bars(self, bars: list[tuple[EjectionBar, float, float]], colours: dict[int, str]) -> None:
        """Draw (or stretch, while running) each ejection as a bar in its barrel's colour."""
        y0, y1 = self.band
        for bar, _t0, _t1 in bars:
            if bar.lane not in self.bar_rows:
                self.bar_rows[bar.lane] = len(self.bar_rows)
        n_rows = max(1, len(self.bar_rows))
        h = (y1 - y0) / n_rows
        self.running = {(b.barrel, b.onset_index) for b, _, _ in bars if b.offset_index is None}
        for bar, t0, t1 in bars:
            key = (bar.barrel, bar.onset_index)
            row = self.bar_rows[bar.lane]
            bottom = y0 + row * h + 0.1 * h
            if key not in self.bars:
                colour = colours.get(bar.lane, "#888888")
                rect = pg.QtWidgets.QGraphicsRectItem(0, 0, 1, 1)
                rect.setBrush(pg.mkBrush(colour))
                rect.setPen(pg.mkPen(None))
                rect.setToolTip(bar.label)
                text = pg.TextItem(bar.short_label, color=colour, anchor=(0, 1))
                self.plot.addItem(rect, ignoreBounds=True)
                self.plot.addItem(text, ignoreBounds=True)
                self.bars[key] = (rect, text)
            rect, text = self.bars[key]
            rect.setRect(t0, bottom, max(t1 - t0, 1e-3), 0.5 * h)
            text.setPos(t0, bottom + 0.95 * h)

    def extend_running(self, now_s: float) -> None:
        """Each frame: a running ejection's bar reaches the newest sample drawn."""
        for key in self.running:
            rect = self.bars[key][0]
            r = rect.rect()
            if now_s > r.right():
                r.setRight(now_s)
                rect.setRect(r)

    def prune(self, before_s: float) -> None:
        """Forget what ended before ``before_s`` (older than the scroll-back history)."""
        keep = []
        for m in self.marks:
            if m.t_s < before_s:
                self.plot.removeItem(m.item)
            else:
                keep.append(m)
        self.marks = keep
        for key, (rect, text) in list(self.bars.items()):
            if rect.rect().right() < before_s:
                self.plot.removeItem(rect)
                self.plot.removeItem(text)
                del self.bars[key]
