"""The live trial view (issue 17, item 5): when the device reports trials, a dock with the
trial raster and PSTH of one stimulus value, drug off and drug on, and the tuning curve (rate
against the stimulus value) drug off vs drug on, with its fit — filling in as trials arrive.

The numbers are ``app.gui.models.trials.TrialModel``'s: ``analysis.trials`` and
``analysis.tuning``, as ``ionto analyze`` computes them.  Drug off is drawn in grey, drug on
in the drug barrel's colour (``palette``).  The stimulus value shown in the raster and PSTH
follows the preferred one (the largest control response) until the operator picks one.

``make_model(session)`` makes the connection's model (on every connection; the analysis
modules are imported then, not before the window's first paint) and the window constructs a
``TrialView`` with it; ``refresh(win, now)`` updates it from the detector's spikes (the
window's frame clock, about once a second; the numbers are worked out on a worker thread).
The dock stays hidden until the model's ``first_trial``.

Thread: GUI thread only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.gui.palette import barrel_colour

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow
    from app.gui.models.trials import TrialModel, TrialSnapshot
    from app.live import LiveSession

OFF_COLOUR = "#555555"  # drug off (control)
AUTO = "preferred"  # the combo's first entry: follow the value with the largest control response
STATES = ("off", "on")


class TrialView(QWidget):
    """Raster and PSTH of one stimulus value (off and on) and the tuning curves of ``model``
    (a connection's); drug on drawn in ``on_colour``.  Redraws on the model's ``changed``."""

    def __init__(self, model: TrialModel, on_colour: str = barrel_colour(0), parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        row.addWidget(QLabel("stimulus"))
        self.value_box = QComboBox()
        self.value_box.addItem(AUTO, None)
        self.value_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        row.addWidget(self.value_box)
        row.addStretch(1)
        lay.addLayout(row)
        self.summary = QLabel("trials appear as the device reports them")
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setToolTip("Fitted live as ionto analyze fits; the gain model without its bootstrap "
                                "(ionto analyze gives the confidence intervals)")
        lay.addWidget(self.summary)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setMinimumHeight(150)
        lay.addWidget(self.glw, 1)
        self.raster_plot = self.glw.addPlot(row=0, col=0)
        self.raster_plot.setLabel("left", "trial")
        self.psth_plot = self.glw.addPlot(row=1, col=0)
        self.psth_plot.setLabel("left", "rate (Hz)")
        self.psth_plot.setLabel("bottom", "time from onset (s)")
        self.psth_plot.setXLink(self.raster_plot)
        self.tuning_plot = self.glw.addPlot(row=0, col=1, rowspan=2)
        self.tuning_plot.setLabel("left", "rate (Hz)")
        self.tuning_plot.setLabel("bottom", "stimulus")
        for p in (self.raster_plot, self.psth_plot, self.tuning_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
        self.tuning_plot.addLegend(offset=(5, 5))  # top left: the curves peak mid-range
        self.colours = {"off": OFF_COLOUR, "on": on_colour}
        self.model = model
        self.shown_value: float | None = None
        self.value_box.currentIndexChanged.connect(lambda _i: self._redraw())
        model.changed.connect(self.show_snapshot)

    def show_snapshot(self, snap: TrialSnapshot) -> None:
        have = {self.value_box.itemData(i) for i in range(1, self.value_box.count())}
        for v in snap.values:
            if v not in have:
                self.value_box.addItem(f"{v:g}", v)
        self._redraw()

    def selected_value(self, snap: TrialSnapshot) -> float | None:
        """The value whose raster and PSTH are shown: the picked one, else the preferred."""
        picked = self.value_box.currentData()
        if picked is not None:
            return float(picked)
        control = [s for (state, _v), s in snap.stats.items() if state == "off"] or list(snap.stats.values())
        return max(control, key=lambda s: s.mean_rate_hz).value if control else None

    def _redraw(self) -> None:
        snap = self.model.snapshot
        if snap is None:
            return
        self.shown_value = v = self.selected_value(snap)
        self._draw_raster_psth(snap, v)
        self._draw_tuning(snap)
        self.summary.setText(summary_text(snap, v))

    def _draw_raster_psth(self, snap: TrialSnapshot, v: float | None) -> None:
        rp, pp = self.raster_plot, self.psth_plot
        rp.clear()
        pp.clear()
        row = 0
        for state in STATES:
            rows = snap.rasters.get((state, v), []) if v is not None else []
            if rows:
                x = np.concatenate([np.repeat(r, 2) for r in rows]) if any(len(r) for r in rows) else np.zeros(0)
                y = np.concatenate([np.tile([row + k, row + k + 0.8], len(r)) for k, r in enumerate(rows)])
                rp.addItem(pg.PlotCurveItem(x, y, connect="pairs", pen=pg.mkPen(self.colours[state])))
                row += len(rows)
            if v is not None and (state, v) in snap.psths:
                edges, rate = snap.psths[(state, v)]
                pp.addItem(pg.PlotCurveItem(edges, rate, stepMode="center", pen=pg.mkPen(self.colours[state], width=2)))
        rp.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine)))
        pp.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine)))
        rp.setTitle(f"{snap.value_name} = {v:g}" if v is not None else "")

    def _draw_tuning(self, snap: TrialSnapshot) -> None:
        tp = self.tuning_plot
        tp.clear()
        tp.setLabel("bottom", snap.value_name)
        for state in STATES:
            pts = sorted((s.value, s.mean_rate_hz, s.sem_rate_hz) for (st, _v), s in snap.stats.items() if st == state)
            if not pts:
                continue
            x, y, e = (np.array(c, float) for c in zip(*pts, strict=True))
            colour = self.colours[state]
            name = "drug off" if state == "off" else "drug on"
            tp.addItem(pg.ErrorBarItem(x=x, y=y, height=2 * np.nan_to_num(e), pen=pg.mkPen(colour)))
            tp.plot(x, y, pen=None, symbol="o", symbolBrush=colour, symbolPen=colour, name=name)
            fit = snap.tuning.get(state)
            if fit is not None and not fit.error:
                xs = np.linspace(float(x.min()), float(x.max()), 200)
                tp.plot(xs, fit(xs), pen=pg.mkPen(colour, width=2))


def summary_text(snap: TrialSnapshot, v: float | None) -> str:
    """One or two lines: the trials, the tuning fits and the gain model (or why not yet)."""
    n_on = sum(t.valid and t.drug_state == "on" for t in snap.trials)
    n_off = sum(t.valid and t.drug_state == "off" for t in snap.trials)
    parts = [f"{len(snap.trials)} trials, {snap.n_valid} valid ({n_off} drug off, {n_on} drug on)"]
    if snap.left_out:
        parts.append(f"{snap.left_out} older ones past the detector's memory left out")
    for state in STATES:
        fit = snap.tuning.get(state)
        if fit is None:
            continue
        if fit.error:
            parts.append(f"{state}: {fit.error}")
        elif fit.kind == "orientation":
            parts.append(f"{state}: preferred {fit.params['preferred_deg']:.0f}°, "
                         f"amplitude {fit.params['amplitude_hz']:.1f} Hz")
        else:
            parts.append(f"{state}: Rmax {fit.params['rmax_hz']:.1f} Hz, c50 {fit.params['c50']:.2f}")
    g = snap.gain
    if g is not None and math.isfinite(g.gain):
        parts.append(f"gain g = {g.gain:.2f}, offset a = {g.offset_hz:+.1f} Hz ({g.preferred_model})")
    elif snap.gain_message:
        parts.append(snap.gain_message)
    return "; ".join(parts)


# --- the window's hookups --------------------------------------------------------------------
def make_model(session: LiveSession) -> TrialModel:
    """A connection's ``TrialModel`` (its first trial shows the dock: ``MainWindow``)."""
    from app.gui.models.trials import TrialModel

    st, rig = session.stream, session.rig
    return TrialModel(rig.pipette if rig is not None else None, st.rate_hz if st is not None else 1.0)


def drug_colour(session: LiveSession, model: TrialModel) -> str:
    """The colour of the model's drug barrel (its place on the pipette, ``palette``)."""
    rig = session.rig
    index = {b.name: i for i, b in enumerate(rig.pipette.barrels)} if rig is not None else {}
    return barrel_colour(index.get(model.drug_barrel or "", 0))


def refresh(win: MainWindow, now: int) -> None:
    """Recompute the model from the detector's kept spikes on a worker (one at a time; frame
    timer, GUI thread); the view redraws when its snapshot is back."""
    c = win.controller
    m = c.trial_model
    if m is None or not m.has_trials or m.busy:
        return
    det = win.session.detector
    keep_s = det.keep_s if det is not None else 0.0
    since = max(0, now - int(keep_s * m.rate_hz))

    def done(snap: TrialSnapshot | None, exc: BaseException | None) -> None:
        m.busy = False
        if exc is not None:
            win.statusBar().showMessage(f"trial view: {type(exc).__name__}: {exc}", 10000)
        elif snap is not None and c.trial_model is m:
            m.accept(snap)

    m.busy = True
    c.bridge.run_in_worker(m.job(win.session.spike_indices(since), since), done, name="ionto-trials")
