"""The recording panel: file-name template and folder, notes, marks (hot key F2),
start/stop recording independently of acquisition, and the live dose–response plot.

``RecordingPanel`` takes the window's ``SessionModel`` in the constructor and shows what it
says — "recording to FILE" only once the engine has started the file (``recording_changed``),
the record button enabled only while acquiring (``state_changed``): asking for a recording
changes nothing here.  ``DoseResponseView`` takes the connection's ``DoseResponseModel``.

Thread: GUI thread only (the session model's events come from the bridge, on the GUI thread).
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.live_fit import LiveFits, live_fits
from app.gui.models.recording import DEFAULT_TEMPLATE, DoseResponseModel
from app.gui.models.session import SessionModel
from app.gui.palette import barrel_colour


class RecordingPanel(QWidget):
    start_requested = pyqtSignal()
    stop_requested = pyqtSignal()
    mark_requested = pyqtSignal(str)
    note_added = pyqtSignal(str)

    def __init__(self, session: SessionModel, directory: str = "recordings", parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.template = QLineEdit(DEFAULT_TEMPLATE)
        self.template.setToolTip("Fields: {date} {time} {protocol} {device} {n}")
        form.addRow("File name", self.template)
        dir_row = QHBoxLayout()
        self.directory = QLineEdit(directory)
        browse = QPushButton("…")
        browse.setMaximumWidth(28)
        browse.clicked.connect(self._browse)
        dir_row.addWidget(self.directory, 1)
        dir_row.addWidget(browse)
        form.addRow("Folder", dir_row)
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("cell, depth, pipette, anything worth keeping (stored in the file)")
        self.notes.setMaximumHeight(54)
        form.addRow("Notes", self.notes)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.record_button = QPushButton("● Start recording")
        self.record_button.setStyleSheet("QPushButton{color:#c0392b;font-weight:bold;}")
        self.record_button.clicked.connect(self._on_record)
        row.addWidget(self.record_button)
        self.add_note_button = QPushButton("Add note")
        self.add_note_button.setToolTip("Append the notes text to the running recording")
        self.add_note_button.clicked.connect(lambda: self.note_added.emit(self.notes.toPlainText()))
        row.addWidget(self.add_note_button)
        lay.addLayout(row)
        self.path = QLabel("not recording")
        self.path.setWordWrap(True)
        lay.addWidget(self.path)
        mark_row = QHBoxLayout()
        self.mark_text = QLineEdit()
        self.mark_text.setPlaceholderText("mark text (optional)")
        self.mark_button = QPushButton("Mark (F2)")
        self.mark_button.clicked.connect(self.request_mark)
        mark_row.addWidget(self.mark_text, 1)
        mark_row.addWidget(self.mark_button)
        lay.addLayout(mark_row)
        self.marks = QLabel("")
        self.marks.setWordWrap(True)
        lay.addWidget(self.marks)
        lay.addStretch(1)
        self.recording = False
        self.mark_count = 0
        self._show_recording(session.recording, session.recording_path)
        self._show_state(session.state)
        session.recording_changed.connect(self._show_recording)
        session.state_changed.connect(self._show_state)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Recording folder", self.directory.text())
        if d:
            self.directory.setText(d)

    def _on_record(self) -> None:
        (self.stop_requested if self.recording else self.start_requested).emit()

    def request_mark(self) -> None:
        self.mark_count += 1
        self.mark_requested.emit(self.mark_text.text().strip() or f"mark {self.mark_count}")

    def _show_state(self, _state: str, _message: str = "") -> None:
        self.record_button.setEnabled(self.session.acquiring)

    def _show_recording(self, recording: bool, path: str) -> None:
        """The engine started (or closed) the file: the session model's ``recording_changed``."""
        self.recording = bool(recording)
        self.record_button.setText("■ Stop recording" if self.recording else "● Start recording")
        self.path.setText(f"<b>recording to</b> {path}" if self.recording else "not recording")
        self.template.setEnabled(not self.recording)
        self.directory.setEnabled(not self.recording)
        self.add_note_button.setEnabled(self.recording)

    def show_mark(self, text: str, t_s: float) -> None:
        self.marks.setText(f"last mark: “{text}” at {t_s:.1f} s")


class DoseResponseView(QWidget):
    """The live dose–response: % change of the rate against the ejecting current, one series
    per fit group as ``ionto analyze`` groups them — a drug alone and under an antagonist are
    two series (the barrel's colour; ○ alone, △ □ ◇ under something else) — with the fit,
    its status and its reasons in ``analysis``'s own words (``app.gui.live_fit``).

    Takes the connection's ``DoseResponseModel`` in the constructor (the window makes a view for
    each connection) and refits on its ``points_changed`` event, with the spikes
    ``spike_source`` gives: (sample indices, the first index they cover, the newest index);
    ``colour_lanes``: barrel -> its place on the pipette (its colour).  Thread: GUI thread."""

    SYMBOLS = ("o", "t", "s", "d")

    def __init__(self, model: DoseResponseModel | None = None,
                 spike_source: Callable[[], tuple[np.ndarray, int, int]] | None = None,
                 colour_lanes: dict[str, int] | None = None, parent: QWidget | None = None):
        """Without a model: a view of the fits given to ``show_fits`` (tests, reports)."""
        super().__init__(parent)
        self.model = model
        self.spike_source = spike_source
        lay = QVBoxLayout(self)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "ejecting current (nA)")
        self.plot.setLabel("left", "% change of rate")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.setLogMode(x=True, y=False)
        self.plot.setMinimumHeight(120)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        lay.addWidget(self.plot, 1)
        self.fit_label = QLabel("points appear as ejections finish (response: last 10 s of the ejection "
                                "vs the 30 s before it; fitted as ionto analyze fits)")
        self.fit_label.setWordWrap(True)
        self.fit_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.fit_label)
        self.colour_lanes: dict[str, int] = dict(colour_lanes or {})
        self.live: LiveFits | None = None
        ticks = [(np.log10(v), f"{v:g}") for v in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)]
        self.plot.getAxis("bottom").setTicks([ticks, []])
        if model is not None and spike_source is not None:
            model.points_changed.connect(self._refit)

    def _refit(self) -> None:
        assert self.model is not None and self.spike_source is not None
        self.show_fits(live_fits(self.model, *self.spike_source()))

    def show_fits(self, live: LiveFits) -> None:
        self.live = live
        pi = self.plot.getPlotItem()
        pi.clear()
        lines = []
        per_barrel: dict[str, int] = {}
        for key, (x, y) in live.points.items():
            barrel = live.barrels.get(key, key.split(":")[0])
            colour = barrel_colour(self.colour_lanes.get(barrel, 0))
            k = per_barrel.get(barrel, 0)
            per_barrel[barrel] = k + 1
            symbol = self.SYMBOLS[k % len(self.SYMBOLS)]
            ok = x > 0  # dose-0 points (each ejection's own baseline) are fitted, not drawn on a log axis
            pi.plot(x[ok], y[ok], pen=None, symbol=symbol, symbolBrush=colour if k == 0 else None,
                    symbolPen=pg.mkPen(colour, width=2), symbolSize=9, name=key)
            f = live.fits.get(key)
            mark = f"<b style='color:{colour}'>{'○△□◇'[k % 4]} {html.escape(key)}</b>"
            if f is not None:
                if f.determinable and np.any(ok):
                    xx = np.geomspace(x[ok].min(), x[ok].max(), 100)  # over the tested doses only, as the report
                    style = Qt.PenStyle.SolidLine if k == 0 else Qt.PenStyle.DashLine
                    pi.plot(xx, f.predict(xx), pen=pg.mkPen(colour, width=2, style=style))
                text = (f"EC50 {f.ec50_text()} ({f.ec50_ci_text()}), Hill {f.hill:.2f}, top {f.top:.0f} %, "
                        f"bottom {f.bottom:.0f} %, n = {f.n_points} [{f.status}]")
                why = "".join(f"<br>&nbsp;&nbsp;why: {html.escape(r)}" for r in f.reasons)
                lines.append(f"{mark}: {html.escape(text)}{why}")
            else:
                lines.append(f"{mark}: {int(np.count_nonzero(ok))} ejection(s); "
                             f"{html.escape(live.errors.get(key, 'no fit'))}")
        self.fit_label.setText("<br>".join(lines))
        self.fit_label.setToolTip(f"points: {live.points_label}")
        pi.enableAutoRange()
