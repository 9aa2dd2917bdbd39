"""Trials from the event log: one vocabulary for the trial events a device reports, the drug
blocks a trial protocol logs, the protocol's closed loop on trial counts and the analysis.

Events (``daq.types.EventKind``; docs/trials.md):

* ``trial_start`` at the sample the stimulus came on; text ``trial=N code=C <name>=<value>…``
  (``code`` is the condition code a strobe word carries; the values name what was shown,
  e.g. ``orientation_deg=45``);
* ``trial_stop`` at the sample it went off; text ``trial=N code=C``;
* ``drug_block`` where a trial protocol changed the drug condition; text
  ``block=B state=on|off barrel=NAME current_nA=I settle_s=S discard=D``.

A trial is *valid* when it is complete (its stop is logged), no samples were lost and no
pause came during it, the drug condition and the drug barrel's current did not change during
it, the barrel was ejecting in an on block and not in an off block (a pause retains every
barrel, and resuming does not eject again), it started at least ``settle_s`` after its
block's drug change, and it is not among the first ``discard`` trials after that.  A block
may hold a single trial: an interleaved design logs a ``drug_block`` before every trial, and
the same rules then apply trial by trial.  Validity is
decided here, from the log, never at run time (DESIGN.md §8).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from daq.types import TRIAL_KINDS, EventKind, LogEvent

_CURRENT_KINDS = (EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT)
VALIDITY_KINDS = frozenset({*TRIAL_KINDS, *_CURRENT_KINDS, EventKind.PAUSE})
"""The events trial validity depends on: trials, drug blocks, current changes, pauses."""


def format_fields(**fields: object) -> str:
    """``key=value`` words (numbers with ``:g``)."""
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


def parse_fields(text: str) -> dict[str, str]:
    """The ``key=value`` words of an event text (other words are ignored)."""
    out = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key:
            out[key] = value
    return out


def _number(fields: dict[str, str], key: str, default: float) -> float:
    try:
        v = float(fields[key])
    except (KeyError, ValueError):
        return default
    return v if math.isfinite(v) else default


@dataclass(frozen=True)
class DrugBlock:
    """A drug condition of a trial protocol, from ``start_index`` on."""

    block: int
    start_index: int
    state: str  # "on" or "off"
    barrel: str = ""
    current_nA: float = 0.0
    settle_s: float = 0.0  # trials that start earlier than this after the change are not valid
    discard: int = 0  # then this many trials are not valid either

    def text(self) -> str:
        return format_fields(block=self.block, state=self.state, barrel=self.barrel or "-",
                             current_nA=float(self.current_nA), settle_s=float(self.settle_s), discard=self.discard)

    def event(self) -> LogEvent:
        return LogEvent(self.start_index, EventKind.DRUG_BLOCK, self.barrel, float(self.current_nA), self.text())

    @classmethod
    def from_event(cls, ev: LogEvent) -> DrugBlock:
        f = parse_fields(ev.text)
        return cls(block=int(_number(f, "block", 0)), start_index=ev.sample_index,
                   state="on" if f.get("state") == "on" else "off", barrel=ev.barrel or f.get("barrel", ""),
                   current_nA=_number(f, "current_nA", ev.current_nA), settle_s=max(0.0, _number(f, "settle_s", 0.0)),
                   discard=max(0, int(_number(f, "discard", 0))))


@dataclass(frozen=True)
class Trial:
    """One trial, its condition and whether it counts."""

    number: int
    start_index: int
    stop_index: int | None
    code: int
    stimulus: dict[str, float] = field(default_factory=dict)  # what was shown (e.g. orientation_deg)
    block: int = 0
    drug_state: str = "off"
    drug_current_nA: float = 0.0  # the drug barrel's commanded current at the trial's start (from the log)
    condition_nA: float = 0.0  # the drug condition's current: its block's (design) current, 0 when off
    valid: bool = True
    reason: str = ""  # why not valid: incomplete, gap, paused, drug changed, drug not on/off, settling, discarded

    def duration_s(self, rate_hz: float) -> float:
        return 0.0 if self.stop_index is None else (self.stop_index - self.start_index) / rate_hz


def _blocks_from_currents(events: Sequence[LogEvent], barrel: str, settle_s: float, discard: int) -> list[DrugBlock]:
    """Drug blocks from a barrel's current changes (no trial protocol logged them)."""
    blocks = [DrugBlock(0, 0, "off", barrel, 0.0, 0.0, 0)]
    for ev in events:
        if ev.barrel != barrel or ev.kind not in _CURRENT_KINDS:
            continue
        state = "on" if ev.kind == EventKind.EJECT else "off"
        if state != blocks[-1].state or (state == "on" and ev.current_nA != blocks[-1].current_nA):
            blocks.append(DrugBlock(len(blocks), ev.sample_index, state, barrel,
                                    ev.current_nA if state == "on" else 0.0, settle_s, discard))
    return blocks


def trials_from_events(events: Iterable[LogEvent], rate_hz: float, *, drug_barrel: str | None = None,
                       settle_s: float = 0.0, discard: int = 0,
                       gaps: Sequence[tuple[int, int]] = ()) -> list[Trial]:
    """The trials of an event log, in order, with their drug condition and validity.

    Drug blocks come from ``drug_block`` events; without them, from the current changes of
    ``drug_barrel`` (each change of eject/not-eject starts a block with ``settle_s`` and
    ``discard``); without either, every trial is in one "off" block.  ``gaps``: lost sample
    ranges [start, stop)."""
    events = sorted(events, key=lambda e: e.sample_index)
    blocks = [DrugBlock.from_event(e) for e in events if e.kind == EventKind.DRUG_BLOCK]
    if not blocks and drug_barrel:
        blocks = _blocks_from_currents(events, drug_barrel, settle_s, discard)
    if not blocks:
        blocks = [DrugBlock(0, 0, "off")]
    barrel = blocks[-1].barrel
    starts: dict[int, LogEvent] = {}
    stops: dict[int, LogEvent] = {}
    order: list[int] = []
    current_at: list[tuple[int, float, bool]] = []  # the drug barrel's current changes: (sample, nA, ejecting)
    pauses: list[int] = []
    for ev in events:
        if ev.kind == EventKind.TRIAL_START:
            n = int(_number(parse_fields(ev.text), "trial", len(order)))
            if n not in starts:
                starts[n] = ev
                order.append(n)
        elif ev.kind == EventKind.TRIAL_STOP:
            n = int(_number(parse_fields(ev.text), "trial", -1))
            stops.setdefault(n, ev)
        elif ev.kind in _CURRENT_KINDS and ev.barrel == barrel and barrel:
            current_at.append((ev.sample_index, ev.current_nA, ev.kind == EventKind.EJECT))
        elif ev.kind == EventKind.PAUSE:
            pauses.append(ev.sample_index)
    out: list[Trial] = []
    settled_in_block: dict[int, int] = {}
    bi = 0
    ci = -1
    for n in order:
        ev = starts[n]
        f = parse_fields(ev.text)
        a = ev.sample_index
        while bi + 1 < len(blocks) and blocks[bi + 1].start_index <= a:
            bi += 1
        while ci + 1 < len(current_at) and current_at[ci + 1][0] <= a:
            ci += 1
        blk = blocks[bi] if blocks[bi].start_index <= a else DrugBlock(-1, 0, "off")
        stop = stops.get(n)
        z = None if stop is None or stop.sample_index < a else stop.sample_index
        stim = {k: _number(f, k, math.nan) for k in f if k not in ("trial", "code")}
        reason = ""
        if z is None:
            reason = "incomplete"
        elif any(g0 < z and a < g1 for g0, g1 in gaps):
            reason = "gap"
        elif any(a <= p < z for p in pauses):
            reason = "paused"
        elif (bi + 1 < len(blocks) and blocks[bi + 1].start_index < z) or (
                ci + 1 < len(current_at) and current_at[ci + 1][0] < z):
            reason = "drug changed"
        elif blk.block < 0:
            reason = "before the first drug block"
        elif current_at and (ci >= 0 and current_at[ci][2]) != (blk.state == "on"):
            reason = f"drug not {blk.state}"  # e.g. a pause retained the barrel during an on block
        elif a < blk.start_index + round(blk.settle_s * rate_hz):
            reason = "settling"
        else:
            rank = settled_in_block.get(bi, 0)
            settled_in_block[bi] = rank + 1
            if rank < blk.discard:
                reason = "discarded"
        out.append(Trial(number=n, start_index=a, stop_index=z, code=int(_number(f, "code", 0)), stimulus=stim,
                         block=blk.block, drug_state=blk.state,
                         drug_current_nA=current_at[ci][1] if ci >= 0 else 0.0,
                         condition_nA=abs(blk.current_nA) if blk.state == "on" else 0.0, valid=not reason,
                         reason=reason))
    return out


def valid_counts(trials: Iterable[Trial], block: int | None = None) -> dict[int, int]:
    """Valid trials per condition code (in one block, or all)."""
    out: dict[int, int] = {}
    for t in trials:
        if t.valid and (block is None or t.block == block):
            out[t.code] = out.get(t.code, 0) + 1
    return out


@dataclass(frozen=True)
class StimulusRequest:
    """A trial a protocol asks the stimulus to show: from ``start_index`` to ``stop_index``
    (samples), condition ``code``, and what it is (``values``: name → value, e.g.
    ``orientation_deg``).  A device that can show stimuli (``daq.device.StimulusOutput``)
    reports the trial it showed as ``trial_start`` / ``trial_stop`` events; without one (a dry
    run) the runner logs them as requested."""

    trial: int
    start_index: int
    stop_index: int
    code: int
    values: tuple[tuple[str, float], ...] = ()

    def start_event(self) -> LogEvent:
        return LogEvent(self.start_index, EventKind.TRIAL_START,
                        text=format_fields(trial=self.trial, code=self.code, **{k: float(v) for k, v in self.values}))

    def stop_event(self) -> LogEvent:
        return LogEvent(self.stop_index, EventKind.TRIAL_STOP, text=format_fields(trial=self.trial, code=self.code))


class DigitalTrialDecoder:
    """Trial events from digital input lines sampled on the AI sample clock — what the NI
    backend feeds from port 0 (``daq.ni.digital``: a buffered DI task on ``ai/SampleClock``, one
    word per sample); ``feed_changes`` takes change-detection samples (the samples where the
    word changed), which no backend uses yet.

    A rising edge on ``trial_line`` starts a trial, a falling edge ends it.  The condition
    code is the word on ``code_lines`` (bit 0 first) — latched at the last rising edge of
    ``strobe_line`` at or before the trial's start when there is a strobe line, else read at
    the start.  ``conditions`` maps a code to what it shows (``{3: {"orientation_deg": 45}}``)
    for the event text.  Trials are numbered from 0 in the order they start.  Stateful across
    calls: feed consecutive blocks (engine thread)."""

    def __init__(self, trial_line: int, code_lines: Sequence[int] = (), strobe_line: int | None = None,
                 conditions: dict[int, dict[str, float]] | None = None):
        self.trial_line = trial_line
        self.code_lines = tuple(code_lines)
        self.strobe_line = strobe_line
        self.conditions = conditions or {}
        self._word = 0  # the last word seen (lines low before acquisition starts)
        self._latched = 0  # the strobed code
        self._open: tuple[int, int] | None = None  # (trial, code) of the trial in progress
        self._next = 0

    def _code(self, word: int) -> int:
        return sum(((word >> line) & 1) << i for i, line in enumerate(self.code_lines))

    def feed(self, start_index: int, words: np.ndarray) -> list[LogEvent]:
        """Events of a block of per-sample words (``start_index`` = the first word's sample)."""
        w = np.asarray(words).astype(np.int64, copy=False)
        if w.size == 0:
            return []
        changed = np.flatnonzero(np.diff(np.concatenate([[self._word], w])) != 0)
        return self.feed_changes(start_index + changed, w[changed])

    def feed_changes(self, indices: np.ndarray, words: np.ndarray) -> list[LogEvent]:
        """Events of the words at the samples where they changed (change detection)."""
        out: list[LogEvent] = []
        bit = 1 << self.trial_line
        strobe = None if self.strobe_line is None else 1 << self.strobe_line
        for at, word in zip(np.asarray(indices).tolist(), np.asarray(words).tolist()):
            old = self._word
            if strobe is not None and word & strobe and not old & strobe:
                self._latched = self._code(word)
            if word & bit and not old & bit:
                code = self._latched if strobe is not None else self._code(word)
                self._open = (self._next, code)
                self._next += 1
                values = {k: float(v) for k, v in self.conditions.get(code, {}).items()}
                out.append(LogEvent(int(at), EventKind.TRIAL_START, text=format_fields(trial=self._open[0], code=code,
                                                                                        **values)))
            elif old & bit and not word & bit and self._open is not None:
                out.append(LogEvent(int(at), EventKind.TRIAL_STOP,
                                    text=format_fields(trial=self._open[0], code=self._open[1])))
                self._open = None
            self._word = word
        return out
