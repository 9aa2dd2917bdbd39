"""The replay overview's model: the whole recording at a glance, and where to jump.

``ReplayOverview.from_recording`` reads a recording once, in bounded memory, and keeps
(a) the spike-band envelope of its first electrode as min/max per bin over the whole file
(the detector's own filter, ``DetectionParams``, as the trace lanes use), and (b) its
*landmarks*: every ejection (barrel, current, onset and offset) and every mark, with their
times from the recording's first sample.  ``next_landmark``/``previous_landmark`` give the
jump targets for "next / previous ejection or mark"; ``ReplayControl`` seeks the replay
there (``LiveSession.replay_seek_s``) and carries the speed and pause buttons.

Times are the recording's (s from its first sample; its gaps included).  Reading a long
file takes a moment: build the overview on a worker thread; ``set_position`` and the
queries run on the GUI thread.  Events: ``position_changed(t_s)``.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from psygnal import Signal

from daq.types import ChannelKind, EventKind, LogEvent

if TYPE_CHECKING:
    from analysis.detect import DetectionParams

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}
MARK_KINDS = {EventKind.MARK}
JUMP_TOLERANCE_S = 0.5  # "previous" from just after a landmark goes to the one before it


@dataclass(frozen=True)
class Landmark:
    """An ejection (``end_s`` its offset) or a mark (``end_s`` = ``t_s``)."""

    kind: str  # "ejection" or "mark"
    t_s: float
    end_s: float
    label: str
    barrel: str = ""
    current_nA: float = 0.0


def landmarks_from_events(events: list[LogEvent], first_index: int, rate_hz: float,
                          end_s: float) -> list[Landmark]:
    """Ejections (an eject event, or a non-zero current, up to the barrel's next change) and
    marks, in time order; times from ``first_index``.  Replayed copies ('replay: ...') of
    another file's events count as that file's."""
    out: list[Landmark] = []
    open_: dict[str, LogEvent] = {}

    def t(e: LogEvent) -> float:
        return (e.sample_index - first_index) / rate_hz

    def close(on: LogEvent, off_s: float) -> None:
        out.append(Landmark("ejection", t(on), off_s, f"{on.barrel} {on.current_nA:+g} nA", on.barrel, on.current_nA))

    for e in sorted(events, key=lambda e: e.sample_index):
        if e.kind in CURRENT_KINDS and e.barrel:
            on = open_.pop(e.barrel, None)
            if on is not None:
                close(on, t(e))
            if e.kind == EventKind.EJECT or (e.kind == EventKind.CURRENT and e.current_nA):
                open_[e.barrel] = e
        elif e.kind in MARK_KINDS:
            text = e.text.removeprefix("replay:").strip()
            out.append(Landmark("mark", t(e), t(e), text or "mark"))
    for on in open_.values():
        close(on, end_s)
    return sorted(out, key=lambda m: (m.t_s, m.kind))


class ReplayOverview:
    """Envelope and landmarks of a whole recording, and the replay's position in it."""

    position_changed = Signal(float)

    def __init__(self, duration_s: float, t_s: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 landmarks: list[Landmark], units: str = "µV"):
        self.duration_s = float(duration_s)
        self.t_s = t_s  # each bin's start, s
        self.lo = lo
        self.hi = hi
        self.units = units
        self.landmarks = landmarks
        self.position_s = 0.0

    @classmethod
    def from_recording(cls, path: str | os.PathLike[str], n_bins: int = 2000,
                       detection: DetectionParams | None = None, chunk_rows: int = 1 << 18) -> ReplayOverview:
        """Read ``path`` once (chunks of ``chunk_rows``) into ``n_bins`` min/max bins.  Raises the
        recording reader's one-line errors for a missing or damaged file."""
        from analysis.detect import DetectionParams
        from analysis.filters import CausalFilter
        from daq.recording import Recording

        with Recording(path) as rec:
            rate = rec.rate_hz
            st = rec.stream
            first = rec.first_index
            duration = (rec.end_index - first) / rate
            landmarks = landmarks_from_events(rec.events, first, rate, duration)
            elec = [i for i, c in enumerate(st.channels) if c.kind == ChannelKind.ELECTRODE]
            n = rec.n_samples
            n_bins = max(1, min(n_bins, n))
            if not elec or n == 0:
                z = np.zeros(0)
                return cls(duration, z, z, z, landmarks, "")
            ch = elec[0]
            c = st.channels[ch]
            gain = st.scale_V[ch] / c.gain * 1e6  # raw -> µV (an electrode's physical unit is V)
            filt = CausalFilter((detection or DetectionParams()).for_rate(rate)[0].bandpass(rate), np.array([gain]),
                                np.array([st.offset_V[ch] / c.gain * 1e6]))
            edges = np.linspace(0, n, n_bins + 1).astype(np.int64)
            lo = np.full(n_bins, np.inf)
            hi = np.full(n_bins, -np.inf)
            seg_rows = rec.segments[:, 0]
            for start in range(0, n, chunk_rows):
                stop = min(n, start + chunk_rows)
                raw = rec.raw(start, stop, [ch])
                y = np.empty((len(raw), 1))
                # the filter restarts at each of the recording's gaps, as the detector's does
                cuts = [start, *[int(r) for r in seg_rows if start < r < stop], stop]
                for a, b in itertools.pairwise(cuts):
                    if a in seg_rows and a > 0:
                        filt.reset()
                    y[a - start:b - start] = filt(raw[a - start:b - start])
                k0 = int(np.searchsorted(edges, start, side="right") - 1)
                k1 = int(np.searchsorted(edges, stop - 1, side="right") - 1)
                for k in range(k0, k1 + 1):
                    a, b = max(edges[k], start) - start, min(edges[k + 1], stop) - start
                    if b > a:
                        lo[k] = min(lo[k], float(y[a:b, 0].min()))
                        hi[k] = max(hi[k], float(y[a:b, 0].max()))
            t_s = (rec.row_to_index(edges[:-1]) - first) / rate
        return cls(duration, t_s, lo, hi, landmarks)

    # --- queries (GUI thread) -----------------------------------------------------------
    def ejections(self) -> list[Landmark]:
        return [m for m in self.landmarks if m.kind == "ejection"]

    def marks(self) -> list[Landmark]:
        return [m for m in self.landmarks if m.kind == "mark"]

    def next_landmark(self, t_s: float, kind: str | None = None) -> Landmark | None:
        """The first ejection or mark (or only ``kind``) that starts after ``t_s``."""
        return next((m for m in self.landmarks if m.t_s > t_s + 1e-9 and kind in (None, m.kind)), None)

    def previous_landmark(self, t_s: float, kind: str | None = None) -> Landmark | None:
        """The last one that starts before ``t_s`` (by more than ``JUMP_TOLERANCE_S``, so that
        pressing "previous" again right after a jump goes further back)."""
        before = [m for m in self.landmarks if m.t_s < t_s - JUMP_TOLERANCE_S and kind in (None, m.kind)]
        return before[-1] if before else None

    def set_position(self, t_s: float) -> None:
        """The replay's position (from ``LiveSession.replay_position_s``)."""
        t = float(min(max(0.0, t_s), self.duration_s))
        if t != self.position_s:
            self.position_s = t
            self.position_changed.emit(t)


class ReplaySession(Protocol):
    """What ``ReplayControl`` needs of ``app.live.LiveSession``."""

    speed: float | None

    def replay_seek_s(self, t_s: float) -> None: ...
    def replay_faster(self) -> float: ...
    def replay_slower(self) -> float: ...
    def pause_replay(self, paused: bool) -> None: ...
    @property
    def replay_paused(self) -> bool: ...
    @property
    def replay_position_s(self) -> float | None: ...


class ReplayControl:
    """The replay bar's model: jump to the next / previous ejection or mark (``pre_roll_s``
    before it, so its baseline is on screen), faster, slower, pause, and the position.

    Events (GUI thread): ``jumped(landmark)``, ``speed_changed(speed)`` (× real time),
    ``paused_changed(paused)``; the overview's ``position_changed(t_s)`` on ``refresh``
    (the window's timer calls it).  The session carries every request out on the engine
    thread at the replay's next read (``app.live``)."""

    jumped = Signal(object)
    speed_changed = Signal(float)
    paused_changed = Signal(bool)

    def __init__(self, session: ReplaySession, overview: ReplayOverview, pre_roll_s: float = 2.0):
        self.session = session
        self.overview = overview
        self.pre_roll_s = float(pre_roll_s)
        self._anchor: float | None = None  # the landmark time of the last jump
        self._asked_at: float | None = None  # the position when it was asked for (not yet carried out)

    @property
    def position_s(self) -> float:
        p = self.session.replay_position_s
        return self.overview.position_s if p is None else p

    def _reference_s(self) -> float:
        """Where "next" and "previous" count from: the last jump's landmark while the replay is
        still in its pre-roll (so "next" twice goes two landmarks on), else the position."""
        p = self.position_s
        a = self._anchor
        if a is not None and (p == self._asked_at or a - self.pre_roll_s - JUMP_TOLERANCE_S <= p < a):
            return a  # (p == _asked_at: the replay has not carried the jump out yet)
        return p

    def _jump(self, mark: Landmark | None) -> Landmark | None:
        if mark is None:
            return None
        self._anchor, self._asked_at = mark.t_s, self.position_s
        self.session.replay_seek_s(max(0.0, mark.t_s - self.pre_roll_s))
        self.jumped.emit(mark)
        return mark

    def next(self, kind: str | None = None) -> Landmark | None:
        """Seek to the next ejection or mark (or only ``kind``); None (and no seek) if none is left."""
        return self._jump(self.overview.next_landmark(self._reference_s(), kind))

    def previous(self, kind: str | None = None) -> Landmark | None:
        return self._jump(self.overview.previous_landmark(self._reference_s(), kind))

    def seek(self, t_s: float) -> None:
        """Seek to ``t_s`` of the recording (a click on the overview)."""
        self._anchor = None
        self.session.replay_seek_s(min(max(0.0, float(t_s)), self.overview.duration_s))

    def step(self, delta_s: float) -> None:
        """Seek ``delta_s`` from the current position (back if negative; clamped to the recording)."""
        self.seek(self.position_s + float(delta_s))

    def faster(self) -> float:
        s = self.session.replay_faster()
        self.speed_changed.emit(s)
        return s

    def slower(self) -> float:
        s = self.session.replay_slower()
        self.speed_changed.emit(s)
        return s

    def toggle_pause(self) -> bool:
        paused = not self.session.replay_paused
        self.session.pause_replay(paused)
        self.paused_changed.emit(paused)
        return paused

    def refresh(self) -> None:
        """Take the replay's position into the overview (emits ``position_changed`` if it moved)."""
        p = self.session.replay_position_s
        if p is not None:
            self.overview.set_position(p)
