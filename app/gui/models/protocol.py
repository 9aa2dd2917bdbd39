"""The protocol panel's model: load and validate a protocol, its dry-run timeline, and where
a running protocol stands (step, elapsed, remaining, progress).

Loading runs the protocol's dry run (the same engine and runner against a null device),
so the preview and the charges are those of the real run; it takes up to a second for a
long protocol, so the GUI calls ``load`` from a worker thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from psygnal import Signal

from daq.errors import IontoError
from daq.pipette import Pipette
from daq.types import EventKind, LogEvent

if TYPE_CHECKING:
    from app.session import LoadedPlan
    from protocols.dryrun import DryRunResult

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}


@dataclass(frozen=True)
class TimelineBlock:
    """One ejection in the preview: barrel, start/end (s from the protocol start), current."""

    barrel: str
    start_s: float
    end_s: float
    current_nA: float


@dataclass
class LoadResult:
    """What ``load`` found: the plan (None if it cannot run), messages, the dry run."""

    path: Path
    plan: LoadedPlan | None
    ok: bool
    messages: list[str]
    dry: DryRunResult | None = None
    blocks: list[TimelineBlock] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.dry.duration_s if self.dry is not None else 0.0


def timeline_blocks(dry: DryRunResult) -> list[TimelineBlock]:
    """Ejection blocks per barrel from a dry run's current changes."""
    out: list[TimelineBlock] = []
    open_: dict[str, LogEvent] = {}
    end = dry.duration_s
    for e in sorted((e for e in dry.events if e.kind in CURRENT_KINDS and e.barrel), key=lambda e: e.sample_index):
        on = open_.pop(e.barrel, None)
        if on is not None:
            out.append(TimelineBlock(e.barrel, on.sample_index / dry.rate_hz, e.sample_index / dry.rate_hz,
                                     on.current_nA))
        if e.kind == EventKind.EJECT or (e.kind == EventKind.CURRENT and e.current_nA):
            open_[e.barrel] = e
    for b, on in open_.items():
        out.append(TimelineBlock(b, on.sample_index / dry.rate_hz, end, on.current_nA))
    return sorted(out, key=lambda b: b.start_s)


def load(path: str | os.PathLike[str], pipette: Pipette, rate_hz: float = 1000.0) -> LoadResult:
    """Load a YAML protocol or a plan file and dry-run it on ``pipette``.  Never raises for
    a bad file: the messages say what is wrong (file, field, value)."""
    from app.session import load_any_protocol
    from protocols.dryrun import dry_run

    p = Path(path)
    try:
        plan = load_any_protocol(p)
    except IontoError as exc:
        return LoadResult(p, None, False, [str(exc)])
    try:
        dry = dry_run(plan.factory(), pipette, rate_hz=rate_hz, name=plan.info.name or p.stem, block_s=1.0)
    except (IontoError, ValueError, TypeError, KeyError) as exc:
        return LoadResult(p, None, False, [f"{p.name}: the dry run failed: {exc}"])
    msgs = [f"{p.name}: {m}" for m in dry.errors]
    if dry.ok:
        mins, secs = divmod(round(dry.duration_s), 60)
        charges = ", ".join(f"{b} {q:.0f} nC" for b, q in dry.eject_charge_nC.items() if q > 0)
        msgs.append(f"OK: {plan.info.name or p.stem} — {mins} min {secs:02d} s; "
                    f"ejected charge: {charges or 'none'}")
    return LoadResult(p, plan if dry.ok else None, dry.ok, msgs, dry, timeline_blocks(dry))


@dataclass(frozen=True)
class Progress:
    step: str
    elapsed_s: float
    remaining_s: float
    fraction: float
    state: str  # idle, running, paused, done, aborted


class ProtocolModel:
    """The loaded protocol and the progress of its run (fed with logged events).

    Events (GUI thread): ``loaded_changed(result)`` (a protocol was loaded, good or not),
    ``state_changed(state)`` (idle, running, paused, done, aborted: only from logged events
    and loading), ``step_changed(step)``."""

    loaded_changed = Signal(object)
    state_changed = Signal(str)
    step_changed = Signal(str)

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self.loaded: LoadResult | None = None
        self.state = "idle"
        self.step = ""
        self._start_index: int | None = None
        self._live_steps: list[int] = []
        self._paused_at: int | None = None
        self._paused_samples = 0
        self._end_index: int | None = None

    def set_loaded(self, result: LoadResult) -> None:
        self.loaded = result
        self.loaded_changed.emit(result)
        self._set("idle", self.step)

    def _set(self, state: str, step: str) -> None:
        old_state, old_step = self.state, self.step
        self.state, self.step = state, step
        if state != old_state:
            self.state_changed.emit(state)
        if step != old_step:
            self.step_changed.emit(step)

    @property
    def can_run(self) -> bool:
        return self.loaded is not None and self.loaded.ok and self.state not in ("running", "paused")

    def on_event(self, ev: LogEvent) -> None:
        """Logged events (GUI thread): protocol start/end, steps, pause/resume."""
        k = ev.kind
        if k == EventKind.PROTOCOL_START:
            self._start_index, self._live_steps = ev.sample_index, []
            self._paused_samples, self._paused_at, self._end_index = 0, None, None
            self._set("running", "start")
        elif self._start_index is None:
            return
        elif k == EventKind.STEP:
            self._live_steps.append(ev.sample_index)
            self._set(self.state, ev.text)
        elif k == EventKind.PAUSE and self.state == "running":
            self._paused_at = ev.sample_index
            self._set("paused", self.step)
        elif k == EventKind.RESUME and self.state == "paused":
            if self._paused_at is not None:
                self._paused_samples += ev.sample_index - self._paused_at
            self._paused_at = None
            self._set("running", self.step)
        elif k == EventKind.PROTOCOL_END:
            self._end_index = ev.sample_index
            end = "aborted" if ev.text == "aborted" else "done"
            self._set(end, end)

    def progress(self, now_index: int) -> Progress:
        """Elapsed (pauses excluded) and remaining time; the position maps the run's k-th step
        onto the dry run's k-th step, so a resume that drops a wait stays in step."""
        total = self.loaded.duration_s if self.loaded is not None else 0.0
        if self._start_index is None:
            return Progress("", 0.0, total, 0.0, self.state)
        now = self._end_index if self._end_index is not None else now_index
        if self._paused_at is not None:
            now = min(now, self._paused_at)
        elapsed = max(0.0, (now - self._start_index - self._paused_samples) / self.rate_hz)
        pos = elapsed
        dry = self.loaded.dry if self.loaded is not None else None
        if dry is not None and self._live_steps:
            dry_start = next((e.sample_index for e in dry.events if e.kind == EventKind.PROTOCOL_START), 0)
            dry_steps = [e.sample_index for e in dry.events if e.kind == EventKind.STEP]
            k = len(self._live_steps) - 1
            if k < len(dry_steps):
                pos = (dry_steps[k] - dry_start) / dry.rate_hz + max(0.0, (now - self._live_steps[k]) / self.rate_hz)
        if self.state in ("done", "aborted"):
            return Progress(self.step, elapsed, 0.0, 1.0 if self.state == "done" else min(1.0, pos / total or 0),
                            self.state)
        remaining = max(0.0, total - pos)
        frac = min(1.0, pos / total) if total > 0 else 0.0
        return Progress(self.step, elapsed, remaining, frac, self.state)
