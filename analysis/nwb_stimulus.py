"""What the iontophoresis part of an NWB export holds, computed from the event log.

* :func:`ejection_rows`: one row per ejection (drug and current-control barrels) for the
  ``iontophoresis`` TimeIntervals table: barrel, drug, role, signed current (nA), charge (nC),
  concentration (mM), and flags (an ejection that ends with the recording, or that spans a
  gap in the samples).
* :func:`commanded_currents`: each barrel's commanded current as a step function (times of
  change, current after the change), the balance barrel's computed as the negated sum of
  the others, as the engine drives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq.pipette import Pipette
from daq.types import EventKind, LogEvent

CURRENT_KINDS = (EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT)  # a barrel's current changed


@dataclass(frozen=True)
class Ejection:
    """One ejection: a row of the ``iontophoresis`` table (written on export, read on import)."""

    start_s: float
    stop_s: float
    barrel: str
    drug: str
    role: str
    current_nA: float
    charge_nC: float
    concentration_mM: float
    flags: str


def ejection_rows(events: list[LogEvent], pipette: Pipette, rate_hz: float, end_index: int,
                  gaps: list[tuple[int, int]]) -> list[Ejection]:
    """The ejections of the event log: each runs from an ``eject`` event of a barrel to that
    barrel's next current change (a step to another ejecting current starts a new row), or to
    the end of the recording."""
    changes = sorted((e for e in events if e.kind in CURRENT_KINDS and e.barrel), key=lambda e: e.sample_index)
    spans: list[tuple[LogEvent, int]] = []
    open_: dict[str, LogEvent] = {}
    for e in changes:
        if e.barrel in open_:
            spans.append((open_.pop(e.barrel), e.sample_index))
        if e.kind == EventKind.EJECT:
            open_[e.barrel] = e
    spans += [(on, -1) for on in open_.values()]  # still ejecting when the recording ended
    rows = []
    for on, off in sorted(spans, key=lambda s: s[0].sample_index):
        flags = ["ends with the recording"] if off < 0 else []
        off = end_index if off < 0 else off
        lost = sum(n for at, n in gaps if on.sample_index < at < off)
        if lost:
            flags.append(f"{lost} samples lost during the ejection")
        try:
            b = pipette.barrel(on.barrel)
            drug, role, conc = b.drug, b.role, b.concentration_mM
        except KeyError:
            drug, role, conc = "?", "drug", float("nan")
        duration_s = (off - on.sample_index) / rate_hz
        rows.append(Ejection(on.sample_index / rate_hz, off / rate_hz, on.barrel, drug, role,
                                float(on.current_nA), abs(on.current_nA) * duration_s, float(conc), "; ".join(flags)))
    return rows


def commanded_currents(events: list[LogEvent], pipette: Pipette | None,
                       rate_hz: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per barrel: (times s of each change, commanded current nA from then on).

    Several changes at one sample index keep the last.  The balance barrel (if the pipette
    has one and its current is not logged) changes whenever another barrel does, to the
    negated sum of their currents."""
    changes = [e for e in events if e.kind in CURRENT_KINDS and e.barrel]
    changes.sort(key=lambda e: e.sample_index)  # stable: the log order within one index
    per: dict[str, dict[int, float]] = {}
    for e in changes:
        per.setdefault(e.barrel, {})[e.sample_index] = float(e.current_nA)
    bal = pipette.balance if pipette is not None else None
    if bal is not None and bal.name not in per and per:
        state = {b: 0.0 for b in per}
        steps: dict[int, float] = {}
        for e in changes:
            state[e.barrel] = float(e.current_nA)
            steps[e.sample_index] = -sum(state.values())
        per[bal.name] = steps
    out = {}
    for barrel, steps in per.items():
        idx = np.array(sorted(steps), dtype=np.int64)
        out[barrel] = (idx / rate_hz, np.array([steps[i] for i in idx], dtype=np.float64))
    return out


def pharmacology_text(pipette: Pipette) -> str:
    """A sentence per barrel for NWB's ``pharmacology`` field."""
    parts = []
    for b in pipette.barrels:
        sign = {1: "cation, ejected with + current", -1: "anion, ejected with − current"}.get(b.polarity, "either polarity")
        retain = f", retained with {b.retain_current_nA:+g} nA" if b.retain_nA else ""
        parts.append(f"barrel {b.name} ({b.role}): {b.drug} {b.concentration_mM:g} mM, {sign}{retain}, "
                     f"limit {b.max_eject_nA:g} nA")
    name = f"{pipette.name}: " if pipette.name else ""
    return (f"Microiontophoresis from a {len(pipette.barrels)}-barrel pipette ({name}net tip current "
            f"balanced, limit {pipette.max_total_nA:g} nA). " + "; ".join(parts) + ".")
