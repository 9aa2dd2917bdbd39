"""The recording panel's model: file-name template, notes, marks, and the live dose–response.

The dose–response fills in as epochs finish: an ejection's response (firing rate over the
last ``response_s`` of the ejection) against its baseline (the ``baseline_s`` before it),
from the online detector's spikes.  The model collects the events and the finished points;
the fit is ``app.gui.live_fit.live_fits`` — ``ionto analyze``'s own grouping and fit rule.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from daq.pipette import Pipette
from daq.types import EventKind, LogEvent

if TYPE_CHECKING:  # analysis.fit brings scipy: imported when the first epoch ends, not at start-up
    from analysis.epochs import Epoch

DEFAULT_TEMPLATE = "{date}_{time}_{protocol}.h5"
TEMPLATE_FIELDS = ("date", "time", "protocol", "device", "n")


def render_template(template: str, directory: str | Path, *, protocol: str = "manual", device: str = "sim",
                    now: _dt.datetime | None = None, exists=Path.exists) -> Path:
    """A recording path from a template such as ``{date}_{time}_{protocol}.h5``.

    Fields: {date} (YYYYMMDD), {time} (HHMMSS), {protocol}, {device}, {n} (the first number
    that gives a new file).  Raises ``ValueError`` naming an unknown field."""
    now = now or _dt.datetime.now()
    names = re.findall(r"{(\w+)(?::[^}]*)?}", template)
    bad = [n for n in names if n not in TEMPLATE_FIELDS]
    if bad:
        raise ValueError(f"file-name template {template!r}: unknown field(s) {bad}; use {list(TEMPLATE_FIELDS)}")

    def safe(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "x"

    fields = {"date": now.strftime("%Y%m%d"), "time": now.strftime("%H%M%S"),
              "protocol": safe(protocol), "device": safe(device)}
    name = template if template.lower().endswith((".h5", ".hdf5")) else template + ".h5"
    for n in range(1, 10000):
        try:
            p = Path(directory) / name.format(**fields, n=n)
        except (IndexError, KeyError, ValueError) as exc:
            raise ValueError(f"file-name template {template!r}: {exc}") from None
        if not exists(p) or "n" not in names:
            return p
    raise ValueError(f"file-name template {template!r}: no free file name in {directory}")


@dataclass(frozen=True)
class DosePoint:
    barrel: str
    drug: str
    current_nA: float  # magnitude
    charge_nC: float
    baseline_hz: float
    response_hz: float
    percent_change: float
    onset_s: float


class DoseResponseModel:
    """Dose–response points from finished epochs (the fit: ``app.gui.live_fit``).

    Events (GUI thread): ``points_changed()`` after ``update`` added points (and refitted)."""

    points_changed = Signal()

    def __init__(self, pipette: Pipette, rate_hz: float, baseline_s: float = 30.0, response_s: float = 10.0):
        self.pipette = pipette
        self.rate_hz = rate_hz
        self.baseline_s = baseline_s
        self.response_s = response_s
        self.events: list[LogEvent] = []
        self.points: list[DosePoint] = []
        self._done_onsets: set[tuple[str, int]] = set()
        self._first_index: int | None = None

    def on_event(self, ev: LogEvent) -> None:
        if self._first_index is None:
            self._first_index = ev.sample_index
        if ev.kind in (EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT) and ev.barrel:
            self.events.append(ev)

    def update(self, spikes: np.ndarray, now_index: int, spikes_from_index: int = 0) -> bool:
        """Add points for epochs that ended before ``now_index``; True if any was added.

        ``spikes_from_index``: the oldest sample the spike list still covers (an epoch whose
        baseline starts earlier is skipped rather than given a wrong rate)."""
        from analysis.epochs import EpochParams, find_epochs

        epochs = find_epochs(self.events, self.pipette, self.rate_hz,
                             max(self._first_index or 0, spikes_from_index), now_index,
                             EpochParams(baseline_s=self.baseline_s, response_s=self.response_s))
        added = False
        for ep in epochs:
            key = (ep.barrel, ep.onset)
            if key in self._done_onsets or ep.offset >= now_index or any("still running" in n for n in ep.notes):
                continue
            self._done_onsets.add(key)
            if any("before the recording" in f for f in ep.flags):
                continue
            self.points.append(self._point(ep, spikes))
            added = True
        if added:
            self.points_changed.emit()
        return added

    def _point(self, ep: Epoch, spikes: np.ndarray) -> DosePoint:
        def rate(lo: int, hi: int) -> float:
            n = int(np.count_nonzero((spikes >= lo) & (spikes < hi)))
            return n / ((hi - lo) / self.rate_hz) if hi > lo else float("nan")

        ep.baseline_rate_hz = rate(*ep.baseline)
        ep.response_rate_hz = rate(*ep.response)
        return DosePoint(ep.barrel, ep.drug, abs(ep.current_nA), ep.charge_nC, ep.baseline_rate_hz,
                         ep.response_rate_hz, ep.percent_change, ep.onset / self.rate_hz)

