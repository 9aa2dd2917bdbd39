"""Ejection epochs from the event log: onset, offset, baseline and response windows.

An epoch starts where a barrel's current switches to ejection and ends at its next
change.  Baseline = the ``baseline_s`` before onset; response = the last ``response_s``
of the ejection.  Windows that overlap a gap in the recording are flagged, never silently used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from daq.pipette import Pipette
from daq.types import EventKind, LogEvent

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}


@dataclass
class Epoch:
    barrel: str
    drug: str
    role: str
    current_nA: float  # signed
    onset: int  # sample index
    offset: int
    baseline: tuple[int, int]
    response: tuple[int, int]
    rate_hz: float
    flags: list[str] = field(default_factory=list)
    baseline_rate_hz: float = float("nan")
    response_rate_hz: float = float("nan")

    @property
    def duration_s(self) -> float:
        return (self.offset - self.onset) / self.rate_hz

    @property
    def charge_nC(self) -> float:
        return abs(self.current_nA) * self.duration_s

    @property
    def percent_change(self) -> float:
        if not np.isfinite(self.baseline_rate_hz) or self.baseline_rate_hz <= 0:
            return float("nan")
        return 100.0 * (self.response_rate_hz - self.baseline_rate_hz) / self.baseline_rate_hz

    @property
    def is_control(self) -> bool:
        return self.role == "control"

    def as_dict(self) -> dict:
        return {
            "barrel": self.barrel, "drug": self.drug, "control": self.is_control,
            "current_nA": self.current_nA, "duration_s": self.duration_s, "charge_nC": self.charge_nC,
            "onset_s": self.onset / self.rate_hz, "offset_s": self.offset / self.rate_hz,
            "baseline_rate_hz": self.baseline_rate_hz, "response_rate_hz": self.response_rate_hz,
            "percent_change": self.percent_change, "flags": list(self.flags),
        }


def find_epochs(events: list[LogEvent], pipette: Pipette, rate_hz: float, end_index: int,
                baseline_s: float = 30.0, response_s: float = 10.0,
                gaps: list[tuple[int, int]] | None = None, first_index: int = 0) -> list[Epoch]:
    """Ejection epochs of every drug or control barrel, in onset order."""
    gaps = gaps or []
    epochs: list[Epoch] = []
    open_: dict[str, LogEvent] = {}
    changes = sorted((e for e in events if e.kind in CURRENT_KINDS and e.barrel), key=lambda e: e.sample_index)
    for e in changes:
        if e.barrel in open_:
            on = open_.pop(e.barrel)
            epochs.append(_epoch(on, e.sample_index, pipette, rate_hz, baseline_s, response_s, gaps, first_index))
        if e.kind == EventKind.EJECT:
            open_[e.barrel] = e
    for on in open_.values():  # an ejection still running when the recording ended
        ep = _epoch(on, end_index, pipette, rate_hz, baseline_s, response_s, gaps, first_index)
        ep.flags.append("ends with the recording")
        epochs.append(ep)
    epochs.sort(key=lambda ep: ep.onset)
    return epochs


def _epoch(on: LogEvent, off: int, pipette: Pipette, rate_hz: float, baseline_s: float,
           response_s: float, gaps: list[tuple[int, int]], first_index: int) -> Epoch:
    try:
        b = pipette.barrel(on.barrel)
        drug, role = b.drug, b.role
    except KeyError:
        drug, role = "?", "drug"
    bl = (on.sample_index - round(baseline_s * rate_hz), on.sample_index)
    resp_len = min(round(response_s * rate_hz), off - on.sample_index)
    rs = (off - resp_len, off)
    flags = []
    if bl[0] < first_index:
        flags.append("baseline window starts before the recording")
    if off - on.sample_index < round(response_s * rate_hz):
        flags.append("ejection shorter than the response window")
    for g_at, g_n in gaps:
        for name, (lo, hi) in (("baseline", bl), ("response", rs)):
            if lo < g_at + g_n and g_at < hi:
                flags.append(f"{name} window overlaps a gap of {g_n} samples")
    return Epoch(on.barrel, drug, role, on.current_nA, on.sample_index, off, bl, rs, rate_hz, flags)
