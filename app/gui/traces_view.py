"""The trace view's frame, for the window's whole life: the controls that outlive connections
(window length, freeze and the scroll-back bar, k and Auto, the threshold and cursor
read-outs) and the canvas — one ``GraphicsLayoutWidget`` — in which each connection's
``TracePlot`` (``app.gui.trace_plot``) draws its lanes.

The session controller makes a ``TracePlot`` with each connection's ``TraceModel`` and hands
it over with ``show_plot``: the previous plot is detached (its items leave the canvas, it
stops following its model), the new one's channel controls take the slot in the bar, and the
frame follows the new model's window and freeze events whoever changed them (these controls,
a workspace, the Space key).
Thread: GUI thread only (``refresh`` is called by the window's frame timer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.gui.models.traces import TraceModel
from app.gui.trace_plot import TracePlot

WINDOWS_S = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0]


class TracesView(QWidget):
    window_changed = pyqtSignal(float)
    threshold_dragged = pyqtSignal(float)  # new threshold, physical units (V), positive (the plot's, relayed)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_view: TracePlot | None = None  # the connection's plot (show_plot)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.window = QComboBox()
        self.window.setToolTip("Window: how many seconds the traces show")
        for w in WINDOWS_S:
            self.window.addItem(f"{w:g} s", w)
        self.window.setCurrentIndex(WINDOWS_S.index(5.0))
        self.window.currentIndexChanged.connect(lambda _i: self.window_changed.emit(self.window.currentData()))
        bar.addWidget(self.window)
        self.freeze = QPushButton("Freeze")
        self.freeze.setCheckable(True)
        self.freeze.setToolTip("Hold the view and scroll back through the last minutes (acquisition goes on)")
        self.freeze.toggled.connect(self._on_freeze)
        bar.addWidget(self.freeze)
        self.scroll = QScrollBar(Qt.Orientation.Horizontal)  # below the plot, shown while frozen
        self.scroll.setEnabled(False)
        self.scroll.setVisible(False)
        self.scroll.valueChanged.connect(self._on_scroll)
        self.controls_slot = QHBoxLayout()  # the connection's channel controls (channel, gain, shown)
        self.controls_slot.setContentsMargins(0, 0, 0, 0)
        bar.addLayout(self.controls_slot)
        bar.addSpacing(12)
        self.k = QDoubleSpinBox()
        self.k.setPrefix("k ")
        self.k.setRange(2.0, 20.0)
        self.k.setSingleStep(0.5)
        self.k.setValue(5.0)
        self.k.setToolTip("Threshold = k × noise σ (σ = MAD of the spike band / 0.6745)")
        bar.addWidget(self.k)
        self.auto = QPushButton("Auto")
        self.auto.setToolTip("Set the spike threshold to k × the detector's noise estimate")
        bar.addWidget(self.auto)
        self.threshold_label = QLabel("")
        bar.addWidget(self.threshold_label)
        self.cursor_label = QLabel("")  # what the cursors measure
        self.cursor_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.cursor_label, 1)
        lay.addLayout(bar)
        self.glw = pg.GraphicsLayoutWidget()  # the canvas: one for the window's life
        self.glw.ci.layout.setSpacing(0)
        lay.addWidget(self.glw, 1)
        lay.addWidget(self.scroll)

    @property
    def model(self) -> TraceModel | None:
        """The connection's trace model (the plot's), or None before the first connection."""
        return self.plot_view.model if self.plot_view is not None else None

    # --- the connection's plot ------------------------------------------------------------------
    def show_plot(self, plot: TracePlot) -> None:
        """A new connection's plot, already drawn in ``glw``: the previous one leaves the canvas
        and stops following its model; the frame follows the new model's window and freeze."""
        old = self.plot_view
        if old is not None:
            old.detach()
            for signal, slot in self._links(old):
                signal.disconnect(slot)
            self.controls_slot.removeWidget(old.controls)
            old.controls.hide()
            old.controls.deleteLater()
        self.plot_view = plot
        for signal, slot in self._links(plot):
            signal.connect(slot)
        self.controls_slot.addWidget(plot.controls)
        plot.controls.show()
        self.cursor_label.setText("")
        self._model_window_changed(plot.model.window_s)
        self._model_frozen_changed(plot.model.frozen)

    def _links(self, plot: TracePlot) -> list[tuple[Any, Callable[..., Any]]]:
        """What the frame follows of a plot and its model: (signal, slot) pairs."""
        return [(plot.threshold_dragged, self.threshold_dragged), (plot.threshold_text, self.threshold_label.setText),
                (plot.cursor_text, self.cursor_label.setText),
                (plot.model.window_changed, self._model_window_changed),
                (plot.model.frozen_changed, self._model_frozen_changed)]

    # --- user actions (GUI thread) ------------------------------------------------------------
    def _on_freeze(self, on: bool) -> None:
        m = self.model
        if m is not None and on != m.frozen:
            m.freeze(on)  # -> _model_frozen_changed

    def _on_scroll(self, value: int) -> None:
        if self.model is not None:
            self.model.scroll_to((self.scroll.maximum() - value) / 10.0)

    # --- the model's events (GUI thread) ---------------------------------------------------------
    def _model_window_changed(self, window_s: float) -> None:
        i = self.window.findData(window_s)
        if i < 0:
            self.window.addItem(f"{window_s:g} s", window_s)
            i = self.window.count() - 1
        self.window.blockSignals(True)
        self.window.setCurrentIndex(i)
        self.window.blockSignals(False)

    def _model_frozen_changed(self, on: bool) -> None:
        self.freeze.blockSignals(True)
        self.freeze.setChecked(on)
        self.freeze.blockSignals(False)
        self.freeze.setText("Live" if on else "Freeze")
        self.scroll.setEnabled(on)
        self.scroll.setVisible(on)
        self._update_scrollbar()

    def _update_scrollbar(self) -> None:
        m = self.model
        if m is None:
            return
        lim = int(m.scroll_limit_s * 10)
        self.scroll.blockSignals(True)
        self.scroll.setRange(0, lim)
        self.scroll.setPageStep(max(1, int(m.window_s * 10)))
        self.scroll.setValue(lim - int(m.scroll_s * 10))
        self.scroll.blockSignals(False)

    # --- each frame (GUI thread) -----------------------------------------------------------------
    def refresh(self) -> None:
        """One frame: the connection's plot drawn; while frozen, the scroll bar follows the
        scroll-back history (which grows as acquisition goes on)."""
        p = self.plot_view
        if p is None:
            return
        p.refresh()
        if p.model.frozen:
            self._update_scrollbar()
