"""The barrel panel: a row per barrel — drug, polarity, retain/eject toggle, eject and retain
current boxes checked against the barrel's limits, live monitored current, delivered charge,
compliance/clog alarm; the balance row shows the live sum.  (ALL TO RETAIN is on the safety
strip, which no dock can hide.)

A current typed past the barrel's limit is refused with a visible message and the setpoint
stays what it was: the box is a line edit, not a ``QDoubleSpinBox``, because a spin box clamps
or truncates what is typed ("250" into a 0…200 box silently leaves 25).

Takes the connection's ``BarrelModel`` in the constructor (the window makes a panel for each
connection: ``MainWindow.show_connection_views``) and redraws a row on the model's
``current_changed``, ``setpoint_changed`` and ``alarm_changed`` events.  User actions become
engine commands, emitted with ``command`` (the window submits them; nothing here touches the
device).  Thread: GUI thread only.
"""

from __future__ import annotations

from PyQt6.QtCore import QRegularExpression, pyqtSignal
from PyQt6.QtGui import QRegularExpressionValidator
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.models.barrels import BarrelModel
from app.gui.palette import EJECT_COLOUR, barrel_colour
from daq.errors import CurrentLimitError

HEADERS = ["barrel", "drug, pol.", "state", "eject nA", "retain nA", "now nA", "mon. nA", "ejected", ""]


def _pol(p: int) -> str:
    return {1: "+", -1: "−", 0: "±"}[p]


class CurrentEdit(QLineEdit):
    """A current box (nA, a magnitude): holds the setpoint the model accepted; what is typed
    is only a proposal until the panel has checked it (``BarrelPanel._apply``)."""

    def __init__(self, value_nA: float, limit_nA: float, what: str):
        super().__init__()
        self.limit_nA = float(limit_nA)
        self.what = what
        self.setMaximumWidth(60)
        self.setValidator(QRegularExpressionValidator(QRegularExpression(r"\s*[0-9]*([.,][0-9]*)?\s*")))
        self.setToolTip(f"{what} current, 0…{limit_nA:g} nA (the barrel's limit); Enter to apply")
        self.setValue(value_nA)

    def maximum(self) -> float:
        return self.limit_nA

    def value(self) -> float:
        """The setpoint shown (the last accepted one)."""
        return self._value

    def setValue(self, value_nA: float) -> None:  # (Qt's spelling, as the spin box had)
        self._value = float(value_nA)
        self.setText(f"{self._value:g}")
        self.setStyleSheet("")

    def typed_nA(self) -> float:
        """What is typed, as nA; ``ValueError`` with a one-line reason if it is not a number."""
        text = self.text().strip().replace(",", ".")
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a current: type a number of nA, 0…{self.limit_nA:g}") from None


class BarrelPanel(QWidget):
    command = pyqtSignal(object)  # a daq.engine command
    error = pyqtSignal(str)

    def __init__(self, model: BarrelModel, read_only: bool = False, parent: QWidget | None = None):
        """A row per barrel of ``model``; ``read_only``: the toggles and boxes are disabled (a
        device without analog outputs, a replay)."""
        super().__init__(parent)
        self.model = model
        outer = QVBoxLayout(self)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(5)
        outer.addLayout(self.grid)
        self.refusal = QLabel("")  # the last refused entry, in red, until the next accepted one
        self.refusal.setObjectName("refusal")
        self.refusal.setWordWrap(True)
        self.refusal.setStyleSheet("color:#c0392b;font-weight:bold;")
        self.refusal.setVisible(False)
        outer.addWidget(self.refusal)
        outer.addStretch(1)
        self.toggles: dict[str, QPushButton] = {}
        self.eject_edits: dict[str, CurrentEdit] = {}
        self.retain_edits: dict[str, CurrentEdit] = {}
        self.polarity: dict[str, QComboBox] = {}
        self.labels: dict[tuple[str, str], QLabel] = {}
        self._build_rows(model, read_only)
        model.current_changed.connect(self.refresh_row)
        model.alarm_changed.connect(self._on_alarm)
        model.setpoint_changed.connect(self._show_setpoints)
        self.refresh(0)

    def _on_alarm(self, name: str, _text: str) -> None:
        self.refresh_row(name)

    def _build_rows(self, model: BarrelModel, read_only: bool) -> None:
        for c, h in enumerate(HEADERS):
            lab = QLabel(f"<b>{h}</b>")
            self.grid.addWidget(lab, 0, c)
        for r, row in enumerate(model.rows, start=1):
            b = row.barrel
            name = QLabel(f"<span style='color:{barrel_colour(r - 1)}'>■</span> <b>{b.name}</b>")
            self.grid.addWidget(name, r, 0)
            tip = (f"{b.drug} {b.concentration_mM:g} mM, {b.role}; limits: eject ≤ {b.max_eject_nA:g} nA, "
                   f"retain ≤ {b.max_retain_nA:g} nA")
            if b.role == "control":  # the drug and the ejection polarity the operator chooses
                pol = QComboBox()
                pol.addItems([f"{b.drug} +", f"{b.drug} −"])
                pol.setToolTip(tip + "; choose the ejecting polarity")
                pol.currentIndexChanged.connect(lambda i, n=b.name: self._on_polarity(n, 1 if i == 0 else -1))
                self.polarity[b.name] = pol
                self.grid.addWidget(pol, r, 1)
            else:
                drug = QLabel(f"{b.drug} {_pol(b.polarity) if b.role == 'drug' else '(bal.)'}")
                drug.setToolTip(tip)
                self.grid.addWidget(drug, r, 1)
            if b.role != "balance":
                t = QPushButton("Retain")
                t.setCheckable(True)
                t.setMinimumWidth(60)
                t.clicked.connect(lambda _c=False, n=b.name: self._on_toggle(n))
                self.toggles[b.name] = t
                self.grid.addWidget(t, r, 2)
                ej = CurrentEdit(row.eject_nA, model.eject_limit_nA(b.name), "eject")
                ej.editingFinished.connect(lambda n=b.name: self._on_eject_value(n))
                self.eject_edits[b.name] = ej
                self.grid.addWidget(ej, r, 3)
                if b.role == "drug":
                    rt = CurrentEdit(row.retain_nA, model.retain_limit_nA(b.name), "retain")
                    rt.editingFinished.connect(lambda n=b.name: self._on_retain_value(n))
                    self.retain_edits[b.name] = rt
                    self.grid.addWidget(rt, r, 4)
            else:
                self.grid.addWidget(QLabel("<i>−Σ of the others</i>"), r, 2, 1, 3)
            for c, key in ((5, "commanded"), (6, "monitor"), (7, "charge"), (8, "alarm")):
                lab = QLabel("")
                if key == "alarm":
                    lab.setStyleSheet("color:#c0392b;font-weight:bold;")
                self.labels[(b.name, key)] = lab
                self.grid.addWidget(lab, r, c)
        for w in [*self.toggles.values(), *self.eject_edits.values(), *self.retain_edits.values(),
                  *self.polarity.values()]:
            w.setEnabled(not read_only)

    # --- user actions ------------------------------------------------------------------------
    def _emit(self, fn, *args) -> None:
        try:
            cmd = fn(*args)
        except (CurrentLimitError, ValueError, KeyError) as exc:
            self.error.emit(str(exc))
            return
        if cmd is not None:
            self.command.emit(cmd)

    def _on_toggle(self, name: str) -> None:
        self._emit(self.model.toggle_command, name)
        self.refresh_row(name)  # the toggle shows the commanded state, not the click

    def _on_eject_value(self, name: str) -> None:
        self._apply(self.eject_edits[name], self.model.set_eject, name)

    def _on_retain_value(self, name: str) -> None:
        self._apply(self.retain_edits[name], self.model.set_retain, name)

    def _apply(self, box: CurrentEdit, setter, name: str) -> None:
        """Check what was typed: a number within the barrel's limit becomes the setpoint (and,
        if the barrel is in that state, a command); anything else is refused in words, on the
        panel and as a banner, and the box shows the setpoint that still holds."""
        try:
            typed = box.typed_nA()
        except ValueError as exc:
            self._refuse(box, f"barrel {name!r}: {exc}")
            return
        if typed == box.value():
            return
        try:
            cmd = setter(name, typed)
        except (CurrentLimitError, ValueError, KeyError) as exc:
            self._refuse(box, str(exc))
            return
        box.setValue(typed)
        self.refusal.setVisible(False)
        if cmd is not None:
            self.command.emit(cmd)

    def _refuse(self, box: CurrentEdit, reason: str) -> None:
        message = f"refused: {reason}; the {box.what} current stays {box.value():g} nA"
        box.setValue(box.value())
        box.setStyleSheet("QLineEdit{border:2px solid #c0392b;}")
        self.refusal.setText(message)
        self.refusal.setVisible(True)
        self.error.emit(message)

    def _on_polarity(self, name: str, pol: int) -> None:
        self._emit(self.model.set_polarity, name, pol)

    # --- drawing -------------------------------------------------------------------------------
    def _show_setpoints(self, name: str) -> None:
        """The model's setpoints changed (here or elsewhere): the boxes show them."""
        r = self.model.row(name)
        if name in self.eject_edits and self.eject_edits[name].value() != r.eject_nA:
            self.eject_edits[name].setValue(r.eject_nA)
        if name in self.retain_edits and self.retain_edits[name].value() != r.retain_nA:
            self.retain_edits[name].setValue(r.retain_nA)

    def refresh_row(self, name: str, now_index: int | None = None) -> None:
        m = self.model
        r = m.row(name)
        t = self.toggles.get(name)
        if t is not None:
            t.blockSignals(True)
            t.setChecked(r.ejecting)
            t.blockSignals(False)
            t.setText("EJECT" if r.ejecting else ("Retain" if r.state != "off" else "Off"))
            t.setStyleSheet(f"QPushButton{{background:{EJECT_COLOUR};color:white;font-weight:bold;}}"
                            if r.ejecting else "")
        cur = m.balance_commanded_nA() if r.barrel.role == "balance" else r.commanded_nA
        self.labels[(name, "commanded")].setText(f"{cur:+.1f}")
        mon = r.monitored_nA
        self.labels[(name, "monitor")].setText("—" if mon is None else f"{mon:+.1f}")
        if now_index is not None:
            self.labels[(name, "charge")].setText(f"{m.charge_now_nC(name, now_index):.0f} nC")
        self.labels[(name, "alarm")].setText("⚠ " + r.alarm.split(":")[0] if r.alarm else "")
        self.labels[(name, "alarm")].setToolTip(r.alarm)

    def refresh(self, now_index: int) -> None:
        for r in self.model.rows:
            self.refresh_row(r.name, now_index)
