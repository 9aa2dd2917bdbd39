"""The barrel panel's model: per barrel its setpoints, commanded and monitored current,
delivered charge and compliance/clog alarm; the balance barrel's live sum.

The commanded current of a barrel follows the engine's event log (an event arrives when
the read position reaches the sample the change was written at), so it is what the
device delivers now, not what was last clicked.  Setpoints are clamped to the barrel's
limits here and checked again by the engine and the schedule before anything reaches a
device.
"""

from __future__ import annotations

from dataclasses import dataclass

from psygnal import Signal

from daq.engine import Eject, EngineCommand, Retain, SetCurrent
from daq.errors import CurrentLimitError
from daq.pipette import Barrel, Pipette
from daq.types import EventKind, LogEvent

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}


@dataclass
class BarrelRow:
    """What one row of the panel shows."""

    barrel: Barrel
    eject_nA: float  # eject setpoint (magnitude)
    retain_nA: float  # retain setpoint (magnitude)
    eject_polarity: int  # sign used to eject (a control barrel's is chosen by the user)
    commanded_nA: float  # signed, as delivered now (from the event log)
    monitored_nA: float | None = None
    charge_nC: float = 0.0  # delivered in the ejecting direction (control: either direction)
    alarm: str = ""
    _since: int = 0  # sample index of the last current change
    _bad_since: int | None = None

    @property
    def name(self) -> str:
        return self.barrel.name

    @property
    def state(self) -> str:
        """'eject', 'retain', 'off', 'current' (control barrels: 'eject' when on)."""
        return self.barrel.classify(self.commanded_nA)

    @property
    def ejecting(self) -> bool:
        b = self.barrel
        if b.role == "drug":
            return self.commanded_nA * b.polarity > 0
        return b.role == "control" and abs(self.commanded_nA) > 1e-6


class BarrelModel:
    """Rows for every barrel; turns user actions into engine commands (within limits).

    Events (GUI thread): ``setpoint_changed(name)`` (eject/retain setpoint or polarity),
    ``current_changed(name)`` (a logged current change of that barrel; the balance
    barrel's follows), ``alarm_changed(name, text)`` (raised: the text; cleared: "")."""

    setpoint_changed = Signal(str)
    current_changed = Signal(str)
    alarm_changed = Signal(str, str)

    def __init__(self, pipette: Pipette, rate_hz: float, alarm_tolerance_nA: float = 3.0,
                 alarm_fraction: float = 0.2, alarm_hold_s: float = 0.5):
        self.pipette = pipette
        self.rate_hz = rate_hz
        self.alarm_tolerance_nA = alarm_tolerance_nA
        self.alarm_fraction = alarm_fraction
        self.alarm_hold_s = alarm_hold_s
        self.rows: list[BarrelRow] = []
        for b in pipette.barrels:
            default_eject = min(20.0, b.max_eject_nA)
            self.rows.append(BarrelRow(b, default_eject, b.retain_nA, b.polarity or 1, b.safe_current_nA))
        self._by_name = {r.name: r for r in self.rows}
        if self.balance is not None:
            self.balance.commanded_nA = self.balance_commanded_nA()

    def row(self, name: str) -> BarrelRow:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no barrel named {name!r}; barrels are {list(self._by_name)}") from None

    @property
    def balance(self) -> BarrelRow | None:
        bi = self.pipette.balance_index
        return self.rows[bi] if bi is not None else None

    def balance_commanded_nA(self) -> float:
        """The balance barrel's current: the negated sum of the others."""
        return -sum(r.commanded_nA for r in self.rows if r.barrel.role != "balance")

    # --- setpoints (GUI thread) ------------------------------------------------------------
    def eject_limit_nA(self, name: str) -> float:
        b = self.row(name).barrel
        return min(b.max_eject_nA, b.ao_range_V * abs(b.command_gain_nA_per_V))

    def retain_limit_nA(self, name: str) -> float:
        b = self.row(name).barrel
        return min(b.max_retain_nA, b.ao_range_V * abs(b.command_gain_nA_per_V)) if b.role == "drug" else 0.0

    def set_eject(self, name: str, nA: float) -> EngineCommand | None:
        """Change the eject setpoint (refused above the limit).  If the barrel is ejecting,
        returns the command that applies the new current now."""
        lim = self.eject_limit_nA(name)
        if not 0 <= nA <= lim:
            raise CurrentLimitError(f"barrel {name!r}: eject current {nA:g} nA is outside 0…{lim:g} nA")
        r = self.row(name)
        r.eject_nA = float(nA)
        self.setpoint_changed.emit(name)
        return self.eject_command(name) if r.ejecting else None

    def set_retain(self, name: str, nA: float) -> EngineCommand | None:
        """Change the retain setpoint; if the barrel is retaining, the command that applies it."""
        lim = self.retain_limit_nA(name)
        if not 0 <= nA <= lim:
            raise CurrentLimitError(f"barrel {name!r}: retain current {nA:g} nA is outside 0…{lim:g} nA")
        r = self.row(name)
        r.retain_nA = float(nA)
        self.setpoint_changed.emit(name)
        return self.retain_command(name) if (r.state in ("retain", "off") and not r.ejecting) else None

    def set_polarity(self, name: str, polarity: int) -> EngineCommand | None:
        r = self.row(name)
        if r.barrel.role != "control":
            raise ValueError(f"barrel {name!r}: only a control barrel's ejection polarity can be chosen")
        if polarity not in (1, -1):
            raise ValueError(f"polarity must be +1 or -1, got {polarity}")
        r.eject_polarity = polarity
        self.setpoint_changed.emit(name)
        return self.eject_command(name) if r.ejecting else None

    def eject_command(self, name: str) -> EngineCommand:
        r = self.row(name)
        if r.barrel.role == "balance":
            raise ValueError(f"barrel {name!r} is the balance barrel: its current follows the others")
        if r.barrel.role == "control":
            return Eject(name, r.eject_nA, r.eject_polarity)
        return Eject(name, r.eject_nA)

    def retain_command(self, name: str) -> EngineCommand:
        r = self.row(name)
        b = r.barrel
        if b.role == "balance":
            raise ValueError(f"barrel {name!r} is the balance barrel: its current follows the others")
        if b.role == "drug" and abs(r.retain_nA - b.retain_nA) > 1e-9:
            return SetCurrent(name, -b.polarity * r.retain_nA)
        return Retain(name)

    def toggle_command(self, name: str) -> EngineCommand:
        """Eject if retaining, retain if ejecting."""
        return self.retain_command(name) if self.row(name).ejecting else self.eject_command(name)

    # --- from the engine (GUI thread, via the bridge) -------------------------------------
    def on_event(self, ev: LogEvent) -> None:
        if ev.kind not in CURRENT_KINDS or ev.barrel not in self._by_name:
            return
        r = self._by_name[ev.barrel]
        self._accumulate(r, ev.sample_index)
        r.commanded_nA = float(ev.current_nA)
        r._bad_since = None
        had_alarm, r.alarm = r.alarm, ""
        bal = self.balance
        if bal is not None:
            self._accumulate(bal, ev.sample_index)
            bal.commanded_nA = self.balance_commanded_nA()
        self.current_changed.emit(r.name)
        if bal is not None and bal is not r:
            self.current_changed.emit(bal.name)
        if had_alarm:
            self.alarm_changed.emit(r.name, "")

    def _accumulate(self, r: BarrelRow, at_index: int) -> None:
        dt = max(0, at_index - r._since) / self.rate_hz
        if r.ejecting or r.barrel.role == "balance":
            r.charge_nC += abs(r.commanded_nA) * dt
        r._since = max(r._since, at_index)

    def charge_now_nC(self, name: str, now_index: int) -> float:
        """Charge delivered so far, including the running part of an ejection."""
        r = self.row(name)
        extra = 0.0
        if (r.ejecting or r.barrel.role == "balance") and now_index > r._since:
            extra = abs(r.commanded_nA) * (now_index - r._since) / self.rate_hz
        return r.charge_nC + extra

    def update_monitors(self, monitored_nA: dict[str, float], now_index: int) -> list[str]:
        """New monitor readings; returns the barrels whose alarm has just been raised.

        Alarm: the monitor differs from the commanded current by more than
        max(``alarm_tolerance_nA``, ``alarm_fraction``·|commanded|) for ``alarm_hold_s``
        — the source is at its compliance voltage (a clogged or broken barrel)."""
        raised = []
        for name, value in monitored_nA.items():
            r = self._by_name.get(name)
            if r is None:
                continue
            r.monitored_nA = value
            tol = max(self.alarm_tolerance_nA, self.alarm_fraction * abs(r.commanded_nA))
            if abs(value - r.commanded_nA) > tol and now_index - r._since > self.alarm_hold_s * self.rate_hz:
                if r._bad_since is None:
                    r._bad_since = now_index
                if now_index - r._bad_since >= self.alarm_hold_s * self.rate_hz and not r.alarm:
                    r.alarm = (f"compliance/clog: delivering {value:+.1f} nA of {r.commanded_nA:+.1f} nA "
                               f"commanded")
                    raised.append(name)
                    self.alarm_changed.emit(name, r.alarm)
            else:
                r._bad_since = None
                if r.alarm:
                    r.alarm = ""
                    self.alarm_changed.emit(name, "")
        return raised
