"""Ejection epochs of another system's recording, from whichever of three places has them.

* a **sidecar CSV** next to the recording (``FILE.ejections.csv``, or ``STEM.ejections.csv``):
  columns ``barrel, drug, current_nA, start_s, end_s`` (one row per ejection, times in the
  recording's seconds); see :func:`read_sidecar`;
* the file's **markers** — Neo event or epoch channels whose labels read
  ``BARREL[:DRUG] CURRENT nA`` (e.g. ``glu:glutamate -30 nA``): an epoch channel's duration
  ends the ejection; on an event channel the next ``BARREL off``, ``BARREL retain`` or
  ``BARREL 0 nA`` (or another current) does; see :func:`parse_marker` / :func:`marker_ejections`;
* a recorded **current monitor** (threshold and level): a barrel ejects while its monitored
  current differs from its resting level (the retain current: the histogram mode of the whole
  channel) by more than ``threshold_nA``; the ejection's current is the mean over the run,
  rounded to 0.1 nA (runs shorter than 10 ms are noise; runs less than 10 ms apart are one
  ejection); see :class:`MonitorEpochs`.

Thread: the caller's.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.nwb_stimulus import Ejection
from daq.errors import RecordingError
from daq.pipette import Barrel, Pipette

SIDECAR_COLUMNS = ("barrel", "drug", "current_nA", "start_s", "end_s")
CURRENT_RESOLUTION_NA = 0.1  # an epoch's current from a monitor is rounded to this
MARKER = re.compile(r"^\s*(?P<barrel>[A-Za-z0-9_.\-]+)(?::(?P<drug>\S+))?\s+"
                    r"(?:(?P<current>[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*nA|(?P<off>off|retain))\s*$",
                    re.IGNORECASE)


class EpochSourceError(RecordingError):
    """The ejections of another system's recording cannot be read (a bad sidecar row...)."""


def sidecar_for(path: Path, kind: str = "ejections") -> Path | None:
    """The sidecar CSV (``kind`` = ``ejections`` or ``monitors``) next to ``path`` (a file:
    ``FILE.KIND.csv`` or ``STEM.KIND.csv``; a folder: ``FOLDER/KIND.csv``), if there is one."""
    for cand in (Path(f"{path}.{kind}.csv"), path.with_suffix(f".{kind}.csv"),
                 path / f"{kind}.csv" if path.is_dir() else None):
        if cand is not None and cand.is_file():
            return cand
    return None


MONITOR_COLUMNS = ("channel", "barrel", "drug", "V_per_nA")


def read_monitors(path: Path) -> dict[str, tuple[str, str, float]]:
    """A monitors CSV (``channel, barrel, drug, V_per_nA``): which recorded channels are barrel
    current monitors, and their gains; ``{channel: (barrel, drug, V_per_nA)}``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EpochSourceError(f"{path}: cannot read the monitors CSV ({exc})") from None
    out = {}
    for k, r in enumerate(rows, start=2):
        if any(c not in r for c in MONITOR_COLUMNS):
            raise EpochSourceError(f"{path}: the header must name {','.join(MONITOR_COLUMNS)} (it names {list(r)})")
        try:
            gain = float(r["V_per_nA"])
        except ValueError:
            gain = math.nan
        if not (math.isfinite(gain) and gain != 0) or not r["channel"] or not r["barrel"]:
            raise EpochSourceError(f"{path}: line {k}: need a channel, a barrel and a finite non-zero V_per_nA "
                                   f"(got {r['channel']!r}, {r['barrel']!r}, {r['V_per_nA']!r})")
        out[r["channel"]] = (r["barrel"], r["drug"], gain)
    return out


def _ejection(start_s: float, end_s: float, barrel: str, drug: str, current_nA: float) -> Ejection:
    role = "control" if drug.lower() in ("nacl", "saline", "control") else "drug"
    charge = abs(current_nA) * (end_s - start_s) if math.isfinite(current_nA) else math.nan
    return Ejection(start_s, end_s, barrel, drug or barrel, role, current_nA, charge, 0.0, "")


def read_sidecar(path: Path) -> list[Ejection]:
    """The rows of a sidecar CSV of ejections; a missing column or a bad value is refused in
    one line naming the file, the row and what is accepted."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            header = [h.strip() for h in (rows[0].keys() if rows else [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EpochSourceError(f"{path}: cannot read the ejections CSV ({exc})") from None
    if not rows:
        raise EpochSourceError(f"{path}: no ejection rows; expected a header {','.join(SIDECAR_COLUMNS)} and a row "
                               "per ejection")
    missing = [c for c in SIDECAR_COLUMNS if c not in header]
    if missing:
        raise EpochSourceError(f"{path}: missing column(s) {missing}; the header must name "
                               f"{','.join(SIDECAR_COLUMNS)} (it names {header})")
    out = []
    for k, r in enumerate(rows, start=2):
        r = {(key or "").strip(): (v or "").strip() for key, v in r.items()}
        try:
            cur, a, b = float(r["current_nA"]), float(r["start_s"]), float(r["end_s"])
        except ValueError:
            raise EpochSourceError(f"{path}: line {k}: current_nA, start_s and end_s must be numbers, got "
                                   f"{r['current_nA']!r}, {r['start_s']!r}, {r['end_s']!r}") from None
        if not (math.isfinite(cur) and math.isfinite(a) and math.isfinite(b) and b > a):
            raise EpochSourceError(f"{path}: line {k}: an ejection runs from start_s {a} to end_s {b} s at "
                                   f"{cur} nA; all finite, with end_s > start_s")
        if not r["barrel"]:
            raise EpochSourceError(f"{path}: line {k}: the barrel is empty; name the barrel (e.g. glu)")
        out.append(_ejection(a, b, r["barrel"], r["drug"], cur))
    return sorted(out, key=lambda e: e.start_s)


def parse_marker(label: str) -> tuple[str, str, float] | None:
    """``(barrel, drug, current_nA)`` of a marker label (current 0 for ``off``/``retain``),
    or None for a label that is not an ejection marker."""
    m = MARKER.match(label)
    if m is None:
        return None
    cur = 0.0 if m["off"] else float(m["current"])
    return m["barrel"], m["drug"] or "", cur


def marker_ejections(markers: Iterable[tuple[float, float | None, str]], end_s: float) -> list[Ejection]:
    """Ejections from markers ``(time_s, duration_s or None, label)`` in time order: an epoch
    (with a duration) is one ejection; an event opens one that the barrel's next event closes
    (or the end of the recording does)."""
    out: list[Ejection] = []
    open_: dict[str, tuple[float, str, float]] = {}
    for t, dur, label in sorted(markers, key=lambda m: m[0]):
        parsed = parse_marker(label)
        if parsed is None:
            continue
        barrel, drug, cur = parsed
        if dur is not None and dur > 0:
            if cur != 0:
                out.append(_ejection(t, t + dur, barrel, drug, cur))
            continue
        if barrel in open_:
            t0, d0, c0 = open_.pop(barrel)
            if t > t0:
                out.append(_ejection(t0, t, barrel, d0, c0))
        if cur != 0:
            open_[barrel] = (t, drug, cur)
    for barrel, (t0, d0, c0) in open_.items():
        if end_s > t0:
            out.append(_ejection(t0, end_s, barrel, d0, c0))
    return sorted(out, key=lambda e: e.start_s)


@dataclass
class MonitorEpochs:
    """Ejections of one barrel from its monitored current, fed block by block (bounded memory).

    Two passes over the channel: ``add_level`` (a histogram of the current at 0.1 nA: its mode
    is the resting level), then ``add_runs`` (samples further than ``threshold_nA`` from the
    resting level; runs shorter than ``min_duration_s`` are noise and dropped)."""

    barrel: str
    rate_hz: float
    threshold_nA: float = 2.0
    drug: str = ""
    min_duration_s: float = 0.01
    _hist: dict[int, int] = field(default_factory=dict)
    _runs: list[list[float]] = field(default_factory=list)  # [start row, stop row, sum nA]
    _open: list[float] | None = None

    def add_level(self, current_nA: np.ndarray) -> None:
        bins, counts = np.unique(np.round(current_nA / CURRENT_RESOLUTION_NA).astype(np.int64), return_counts=True)
        for b, c in zip(bins.tolist(), counts.tolist()):
            self._hist[b] = self._hist.get(b, 0) + c

    @property
    def resting_nA(self) -> float:
        return max(self._hist.items(), key=lambda kv: kv[1])[0] * CURRENT_RESOLUTION_NA if self._hist else 0.0

    def add_runs(self, first_row: int, current_nA: np.ndarray) -> None:
        on = np.abs(current_nA - self.resting_nA) > self.threshold_nA
        edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            s = float(current_nA[a:b].sum())
            if self._open is not None and self._open[1] == first_row + a:
                self._open[1], self._open[2] = first_row + b, self._open[2] + s
            else:
                self._close()
                self._open = [first_row + a, first_row + b, s]
        if self._open is not None and self._open[1] < first_row + len(current_nA):
            self._close()

    def _close(self) -> None:
        if self._open is not None:
            self._runs.append(self._open)
            self._open = None

    def ejections(self, t0_s: float) -> list[Ejection]:
        """The runs as ejections (times in the recording's seconds, ``t0_s`` at row 0): runs
        shorter than ``min_duration_s`` are dropped (noise crossing the threshold), then runs
        less than ``min_duration_s`` apart are one ejection (noise dipping back across it)."""
        self._close()
        merged: list[list[float]] = []
        gap_rows = self.min_duration_s * self.rate_hz
        for a, b, s in self._runs:
            if b - a < gap_rows:
                continue
            if merged and a - merged[-1][1] < gap_rows:
                last = merged[-1]
                last[1], last[2], last[3] = b, last[2] + s, last[3] + (b - a)
            else:
                merged.append([a, b, s, b - a])
        out = []
        for a, b, s, n in merged:
            cur = round(s / n / CURRENT_RESOLUTION_NA) * CURRENT_RESOLUTION_NA
            out.append(_ejection(t0_s + a / self.rate_hz, t0_s + b / self.rate_hz, self.barrel, self.drug, round(cur, 6)))
        return out


def pipette_from(ejections: list[Ejection], name: str) -> Pipette | None:
    """The barrels the ejections name (drug, role, polarity of the ejection current)."""
    if not ejections:
        return None
    barrels = []
    for bname in dict.fromkeys(e.barrel for e in ejections):
        rows = [e for e in ejections if e.barrel == bname]
        currents = [e.current_nA for e in rows if math.isfinite(e.current_nA) and e.current_nA != 0]
        top = max([200.0, *(abs(c) for c in currents)])
        role = rows[0].role
        pol = 0 if role == "control" else (int(np.sign(currents[0])) if currents else 1)
        barrels.append(Barrel(name=bname, drug=rows[0].drug, role=role, polarity=pol, max_eject_nA=top,
                              command_gain_nA_per_V=max(100.0, top / 10.0)))
    return Pipette(barrels=tuple(barrels), max_total_nA=max(500.0, *(b.max_eject_nA for b in barrels)), name=name)
