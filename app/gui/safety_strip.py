"""The safety strip: every barrel's state and current now, and ALL TO RETAIN (Esc), in a fixed
bar at the top of the window's central area — no dock, splitter or scroll area can hide it.

Takes the connection's ``BarrelModel`` in the constructor — the window makes a strip for each
connection (``MainWindow.show_connection_views``), and one without a model ("not connected",
ALL TO RETAIN) before the first — and redraws on its ``current_changed`` events (a barrel's
logged current changed).  Thread: GUI thread only.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from app.gui.models.barrels import BarrelModel, BarrelRow
from app.gui.palette import EJECT_COLOUR, RETAIN_COLOUR, barrel_colour

RETAIN_ALL_TEXT = "ALL TO RETAIN  (Esc)"
STATE_WORDS = {"eject": "EJECT", "retain": "retain", "off": "off", "current": "current"}


def chip_text(row: BarrelRow, current_nA: float, colour: str) -> str:
    """What a barrel's chip says: its colour, name, state and current now."""
    state = "balance" if row.barrel.role == "balance" else STATE_WORDS.get(row.state, row.state)
    if row.barrel.role == "control" and row.ejecting:
        state = "EJECT"
    return (f"<span style='color:{colour}'>■</span> <b>{html.escape(row.name)}</b> {html.escape(state)}"
            f"<br><b>{current_nA:+.1f}</b> nA")


class SafetyStrip(QFrame):
    """One chip per barrel (orange while it ejects) and the ALL TO RETAIN button."""

    def __init__(self, model: BarrelModel | None = None, read_only: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("safety_strip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the window
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(4, 2, 4, 2)
        self._lay.setSpacing(4)
        self.title = QLabel("not connected")
        self._lay.addWidget(self.title)
        self._lay.addStretch(1)
        self.retain_all = QPushButton(RETAIN_ALL_TEXT)
        self.retain_all.setObjectName("retain_all")
        self.retain_all.setStyleSheet(f"QPushButton{{background:{RETAIN_COLOUR};color:white;font-weight:bold;"
                                      "padding:6px 10px;}")
        self.retain_all.setToolTip("Every barrel to its retaining current now (Esc works whatever has the focus)")
        self.retain_all.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._lay.addWidget(self.retain_all)
        self.model = model
        self.chips: dict[str, QLabel] = {}
        if model is not None:
            self._add_chips(model)
            model.current_changed.connect(self._on_current)
        self.retain_all.setEnabled(not read_only)
        self.refresh()

    def _add_chips(self, model: BarrelModel) -> None:
        self.title.setVisible(False)
        for i, row in enumerate(model.rows):
            chip = QLabel()
            chip.setObjectName(f"chip_{row.name}")
            chip.setTextFormat(Qt.TextFormat.RichText)
            chip.setMinimumWidth(chip.fontMetrics().horizontalAdvance("■ name retain") + 8)
            chip.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            chip.setToolTip(f"{row.name}: {row.barrel.drug} ({row.barrel.role})")
            self._lay.insertWidget(i, chip)
            self.chips[row.name] = chip

    def _on_current(self, _name: str) -> None:
        self.refresh()

    def set_connected(self, connected: bool) -> None:
        """Disconnected: the chips stay (greyed) with the last state the engine confirmed."""
        for chip in self.chips.values():
            chip.setEnabled(connected)

    def refresh(self) -> None:
        m = self.model
        if m is None:
            return
        for i, row in enumerate(m.rows):
            chip = self.chips[row.name]
            cur = m.balance_commanded_nA() if row.barrel.role == "balance" else row.commanded_nA
            chip.setText(chip_text(row, cur, barrel_colour(i)))
            bg = f"background:{EJECT_COLOUR};color:white;" if row.ejecting else ""
            chip.setStyleSheet(f"QLabel{{{bg}border:1px solid #bbb;border-radius:3px;padding:1px 4px;}}")
