"""The wiring check before the first cell (``ionto rig check``): each barrel, in turn, gets a
small test current in its retain direction; its current monitor is read back and compared
with the rig file.

Per barrel, in turn (every other barrel on retain, the balance barrel balancing), the
barrel's current steps 0 → T/2 → T, where T is ``test_nA`` (20 nA by default) against the
drug's polarity — the retain direction, so no drug is ejected — capped at the barrel's
retain limit (control barrels: +T within their limit).  Each level is held ``settle_s`` and
then every monitor is averaged over ``measure_s``.  From the step 0 → T:

* **open** — the barrel's own monitor moved less than ``open_fraction`` of T and no other
  monitor answered: no current flows (broken lead, empty or blocked barrel, air bubble,
  source off or on standby);
* **swapped** — its own monitor stayed still but another barrel's moved by at least
  ``swap_fraction`` of T: the command drives that barrel's source (AO lines swapped, or
  the monitors);
* **clogged** — the second half-step (T/2 → T) rose less than ``linearity`` times the first:
  the source ran into its compliance voltage, the barrel's resistance is too high; or, with a
  source whose barrel-voltage output is wired (``voltage_monitor_channel``), a resistance
  ΔV/ΔI above ``clog_MOhm`` (reported for every barrel that has one);
* **sign reversed** — the monitor moved against the command;
* **gain mismatch** — measured/commanded is off 1 by more than ``gain_tolerance``: the
  source's real gain (measured vs the rig file's ``command_gain_nA_per_V``), or the monitor
  gain, is not what the file says;
* **OK** otherwise.  A barrel without a monitor is *not checked* (said, not failed).

The balance barrel is checked on the same steps: its monitor must move by −T each time.

``RigCheck`` is a protocol runner for the engine (it places the test currents on the AO
schedule, so every stop path — the end of the check, Ctrl-C, an error — goes through the
engine's shutdown and leaves every barrel on retain); its ``sink`` collects the monitors.
``RigCheck.report()`` gives the results; ``save_report``/``load_for_recording`` keep them
next to the rig file for the next recordings.

Thread: ``RigCheck`` and its sink run on the engine thread; ``report`` after the engine stopped.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from daq.errors import ConfigError
from daq.pipette import Barrel, Pipette
from daq.rig import RigConfig
from daq.types import Block, ChannelKind, LogEvent, StreamInfo

if TYPE_CHECKING:
    from daq.engine import EngineControl

DEFAULT_TEST_nA = 20.0
OK, GAIN, SIGN, OPEN, CLOGGED, SWAPPED, NOT_CHECKED = (
    "ok", "gain_mismatch", "sign_reversed", "open", "clogged", "swapped", "not_checked")
FAULTS = (GAIN, SIGN, OPEN, CLOGGED, SWAPPED)


@dataclass(frozen=True)
class Thresholds:
    """Where each verdict starts (see the module docstring; docs/rig-check.md)."""

    gain_tolerance: float = 0.15
    open_fraction: float = 0.1
    swap_fraction: float = 0.5
    linearity: float = 0.7
    clog_MOhm: float = 500.0  # clogged barrels: 0.5–1 GΩ (DESIGN.md §1, iontophoresis-parameters.md)
    over_limit_nA: float = 10.0  # a monitor this far beyond a barrel's limit stops the check at once


@dataclass
class BarrelResult:
    """The verdict on one barrel."""

    barrel: str
    drug: str
    status: str
    message: str
    commanded_nA: float = 0.0  # the test step T
    measured_nA: float | None = None  # what its monitor moved by
    file_gain_nA_per_V: float = 0.0
    measured_gain_nA_per_V: float | None = None
    resistance_MOhm: float | None = None
    answered_on: str | None = None  # the barrel whose monitor answered instead (swapped)

    @property
    def ok(self) -> bool:
        return self.status not in FAULTS


@dataclass
class RigCheckReport:
    """What ``ionto rig check`` found; ``as_dict`` is its JSON (and the recordings' metadata)."""

    barrels: list[BarrelResult]
    time: str = ""
    device: str = ""
    rig: str = ""
    rig_sha256: str = ""
    completed: bool = True
    stopped_because: str = ""
    test_currents_nA: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def checked(self) -> list[BarrelResult]:
        """The barrels the check could judge (not those without a monitor or a test current)."""
        return [r for r in self.barrels if r.status != NOT_CHECKED]

    @property
    def ok(self) -> bool:
        """Finished, at least one barrel judged, and every judged barrel OK."""
        return self.completed and bool(self.checked) and all(r.ok for r in self.barrels)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "time": self.time, "device": self.device, "rig": self.rig,
                "rig_sha256": self.rig_sha256, "completed": self.completed, "stopped_because": self.stopped_because,
                "barrels": [asdict(r) for r in self.barrels], "test_currents_nA": self.test_currents_nA,
                "thresholds": self.thresholds}


@dataclass(frozen=True)
class _Window:
    barrel: int  # column of the stepped barrel
    level: int  # 0, 1, 2: 0 nA, T/2, T
    start: int  # first sample measured
    stop: int
    attempt: int = 0  # 0 first; 1, 2 … a barrel stepped again after samples were lost


MAX_ATTEMPTS = 3
"""How often a barrel is stepped when lost samples spoil its windows (an input overflow or an
output underflow restarts acquisition on safe levels: DESIGN.md §7) before it is reported as
not measured."""


def probe_current_nA(barrel: Barrel, pipette: Pipette, test_nA: float = DEFAULT_TEST_nA) -> float:
    """The signed test current T of a barrel: retain direction for drug barrels, + for control
    barrels; at most ``test_nA`` and within every limit (0 when none is allowed)."""
    sign = -barrel.polarity if barrel.role == "drug" else 1.0
    mag = min(test_nA, barrel.limit_for(sign * test_nA))
    if barrel.role == "balance" or not barrel.ao_channel or mag <= 0:
        return 0.0
    # the balance carries -T: keep it (and the net current) within the pipette's limits
    floor = mag / 64  # halve a few times at most: a test current the limits squeeze below this is none
    while mag > floor:
        cur = pipette.safe_currents_nA()
        cur[pipette.index(barrel.name)] = sign * mag
        if not pipette.violations(pipette.with_balance(cur)):
            return float(sign * mag)
        mag /= 2
    return 0.0


class _Collector:
    """The engine sink of a check: the mean of every monitor over each measuring window, and
    the largest monitored current beyond a limit.  Engine thread."""

    def __init__(self, check: RigCheck):
        self.check = check
        self.stream: StreamInfo | None = None
        self.columns: dict[int, int] = {}  # barrel column -> AI column of its monitor
        self.volt_columns: dict[int, int] = {}  # barrel column -> AI column of its barrel-voltage output
        self.sums: np.ndarray = np.zeros((0, 0))
        self.sums_V: np.ndarray = np.zeros((0, 0))
        self.counts: np.ndarray = np.zeros(0)
        self.over_limit: str = ""
        self.spoiled: set[int] = set()  # windows that lost samples (or their settling) to a gap
        self._next_index: int | None = None  # where the next block should start
        self.lookback = 0  # samples before a gap whose currents may not be the schedule's (set by the check)

    def start(self, stream: StreamInfo) -> None:
        self.stream = stream
        names = self.check.pipette.names
        for col, ch in enumerate(stream.channels):
            if ch.kind == ChannelKind.CURRENT_MONITOR and ch.barrel in names:
                self.columns[names.index(ch.barrel)] = col
            elif ch.kind == ChannelKind.OTHER and ch.barrel in names:
                self.volt_columns[names.index(ch.barrel)] = col
        self.sums = np.zeros((len(self.check.windows), len(names)))
        self.sums_V = np.zeros((len(self.check.windows), len(names)))
        self.counts = np.zeros(len(self.check.windows))

    def grow(self) -> None:
        """Room for the windows the check added (a barrel stepped again)."""
        extra = len(self.check.windows) - len(self.counts)
        if extra > 0:
            self.sums = np.vstack([self.sums, np.zeros((extra, self.sums.shape[1]))])
            self.sums_V = np.vstack([self.sums_V, np.zeros((extra, self.sums_V.shape[1]))])
            self.counts = np.concatenate([self.counts, np.zeros(extra)])

    def _note_gap(self, lost_from: int, resumed_at: int) -> None:
        """Samples ``lost_from .. resumed_at`` were lost.  Before them the outputs may already
        have stopped following the schedule (an output underflow holds the last value until the
        engine notices, then it writes the safe levels while the input still runs: up to the AO
        lead and a block, ``lookback``); after them the currents settle again.  A window that
        overlaps any of that measured nothing it can trust."""
        suspect_from = lost_from - self.lookback
        settled = resumed_at + self.check.settle
        for k, w in enumerate(self.check.windows):
            if w.start < settled and w.stop > suspect_from and k not in self.spoiled:
                self.spoiled.add(k)
                self.sums[k], self.sums_V[k], self.counts[k] = 0.0, 0.0, 0

    def on_block(self, block: Block) -> None:
        if self.stream is None:
            return
        if self._next_index is not None and block.start_index > self._next_index:
            self._note_gap(self._next_index, block.start_index)
        self._next_index = block.end_index
        physical = {b: self.stream.to_physical(block.data[:, c], c) for b, c in self.columns.items()}
        volts = {b: self.stream.to_physical(block.data[:, c], c) for b, c in self.volt_columns.items()}
        for b, nA in physical.items():
            barrel = self.check.pipette.barrels[b]
            worst = float(np.max(np.abs(nA))) if nA.size else 0.0
            if worst > barrel.max_abs_nA + self.check.thresholds.over_limit_nA and not self.over_limit:
                self.over_limit = (f"barrel {barrel.name!r}: its monitor read {worst:.1f} nA, beyond its limit of "
                                   f"{barrel.max_abs_nA:g} nA")
        for k, w in enumerate(self.check.windows):
            a, z = max(w.start, block.start_index), min(w.stop, block.end_index)
            if a >= z or k in self.spoiled:
                continue
            for b, nA in physical.items():
                self.sums[k, b] += float(np.sum(nA[a - block.start_index:z - block.start_index]))
            for b, v in volts.items():
                self.sums_V[k, b] += float(np.sum(v[a - block.start_index:z - block.start_index]))
            self.counts[k] += z - a

    def on_events(self, events: list[LogEvent]) -> None:
        pass

    def stop(self) -> None:
        pass

    def mean_nA(self, window: int, barrel: int) -> float | None:
        if barrel not in self.columns or self.counts[window] == 0:
            return None
        return float(self.sums[window, barrel] / self.counts[window])

    def mean_V(self, window: int, barrel: int) -> float | None:
        """The barrel's mean voltage over a window (sources with a barrel-voltage output)."""
        if barrel not in self.volt_columns or self.counts[window] == 0:
            return None
        return float(self.sums_V[window, barrel] / self.counts[window])


class RigCheck:
    """Steps each barrel's test current on the engine's schedule and judges the monitors.

    Give it to the engine as ``runner`` and ``check.sink`` among the ``sinks``, with
    ``stop_when_protocol_ends=True``.  Engine thread."""

    def __init__(self, pipette: Pipette, rate_hz: float, *, test_nA: float = DEFAULT_TEST_nA,
                 settle_s: float = 0.15, measure_s: float = 0.25, thresholds: Thresholds | None = None):
        if not test_nA > 0:
            raise ConfigError(f"the test current must be > 0 nA, got {test_nA:g}")
        self.pipette = pipette
        self.rate_hz = rate_hz
        self.thresholds = thresholds or Thresholds()
        self.test = {b.name: probe_current_nA(b, pipette, test_nA) for b in pipette.barrels}
        slew = pipette.slew_limit_nA_per_ms
        ramp_s = max((abs(t) for t in self.test.values()), default=0.0) / slew / 1000.0 if slew else 0.0
        self.settle = round((settle_s + ramp_s) * rate_hz)
        self.measure = max(1, round(measure_s * rate_hz))
        self.stepped = [i for i, b in enumerate(pipette.barrels) if self.test[b.name] != 0.0]
        self.windows: list[_Window] = []
        self.end_index = 0
        self.stopped_because = ""
        self._finished = False
        self.sink = _Collector(self)
        self._place_windows(0)

    def _place_windows(self, first: int) -> None:
        hold = self.settle + self.measure
        self.windows = [_Window(b, k, first + (3 * n + k) * hold + self.settle, first + (3 * n + k + 1) * hold)
                        for n, b in enumerate(self.stepped) for k in range(3)]
        self.end_index = first + 3 * len(self.stepped) * hold
        self._retried: dict[int, int] = {}  # barrel -> attempts scheduled after the first

    def _schedule(self, control: EngineControl, barrels: list[int], first: int, attempt: int) -> None:
        """Step each of ``barrels`` 0 → T/2 → T from sample ``first`` on, then back to safe."""
        names = self.pipette.names
        hold = self.settle + self.measure
        for n, b in enumerate(barrels):
            name, t = names[b], self.test[names[b]]
            for k, level in enumerate((0.0, t / 2, t)):
                control.set_currents({name: level}, first + (3 * n + k) * hold, f"rig check {name}")
            control.set_currents({name: self.pipette.barrels[b].safe_current_nA}, first + (3 * n + 3) * hold,
                                 f"rig check {name} done")
            if attempt:
                self.windows.extend(_Window(b, k, first + (3 * n + k) * hold + self.settle,
                                            first + (3 * n + k + 1) * hold, attempt) for k in range(3))
        self.end_index = max(self.end_index, first + 3 * len(barrels) * hold)

    def _step_again(self, control: EngineControl) -> None:
        """Barrels whose latest windows lost samples are stepped again after the schedule's end
        (at most ``MAX_ATTEMPTS`` times each)."""
        latest = {w.barrel: w.attempt for w in self.windows}
        again = sorted({w.barrel for k, w in enumerate(self.windows)
                        if k in self.sink.spoiled and w.attempt == latest[w.barrel]
                        and latest[w.barrel] + 1 < MAX_ATTEMPTS})
        if not again:
            return
        first = max(self.end_index, control.write_index + round(0.1 * self.rate_hz))
        for b in again:
            self._retried[b] = latest[b] + 1
        for attempt in sorted({self._retried[b] for b in again}):
            group = [b for b in again if self._retried[b] == attempt]
            self._schedule(control, group, first, attempt)
            first = self.end_index
        self.sink.grow()

    @property
    def duration_s(self) -> float:
        return (3 * len(self.stepped) * (self.settle + self.measure)) / self.rate_hz

    # --- ProtocolRunner (engine thread) ---------------------------------------------------
    def on_start(self, control: EngineControl) -> None:
        first = control.write_index + round(0.1 * self.rate_hz)
        self._place_windows(first)
        self._schedule(control, self.stepped, first, 0)

    def on_block(self, block: Block, control: EngineControl) -> None:
        if self._finished:
            return
        if self.sink.over_limit:
            self.stopped_because = self.sink.over_limit + ": the check was stopped"
            control.safe_all(control.write_index, "rig check stopped")
            control.request_stop()
            self._finished = True
            return
        self.sink.lookback = max(self.sink.lookback, control.write_index - control.read_index + block.n_samples)
        if self.sink.spoiled:
            self._step_again(control)
        if control.read_index >= self.end_index:
            self._finished = True

    def pause(self, control: EngineControl) -> None:
        pass

    def resume(self, control: EngineControl) -> None:
        pass

    def abort(self, control: EngineControl) -> None:
        if not self._finished:
            self.stopped_because = self.stopped_because or "stopped before the end"
        self._finished = True

    @property
    def finished(self) -> bool:
        return self._finished

    # --- the verdicts (after the engine stopped) ------------------------------------------
    def report(self, *, device: str = "", rig_path: str | os.PathLike[str] | None = None,
               compliance_V: dict[str, float] | None = None) -> RigCheckReport:
        """Per barrel a ``BarrelResult``.  ``compliance_V`` (per barrel, when known) turns a
        compliance-limited current into a lower bound of the barrel's resistance."""
        complete = not self.stopped_because and all(self._attempt(b) is not None for b in self.stepped)
        why = self.stopped_because or ("" if complete else "stopped before every barrel was measured")
        results = [self._judge(i, compliance_V or {}) for i, b in enumerate(self.pipette.barrels)
                   if b.role != "balance"]
        bal = self.pipette.balance_index
        if bal is not None:
            results.append(self._judge_balance(bal))
        rig_text = Path(rig_path).read_bytes() if rig_path and Path(rig_path).is_file() else b""
        return RigCheckReport(
            results, time=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), device=device,
            rig=str(rig_path or ""), rig_sha256=hashlib.sha256(rig_text).hexdigest() if rig_text else "",
            completed=complete, stopped_because=why,
            test_currents_nA={k: v for k, v in self.test.items() if v}, thresholds=asdict(self.thresholds))

    def _attempt(self, barrel: int) -> int | None:
        """The latest attempt at ``barrel`` whose three windows measured samples, untouched by a
        gap (None: none did)."""
        good = [a for a in sorted({w.attempt for w in self.windows if w.barrel == barrel}, reverse=True)
                if all(self.sink.counts[k] > 0 and k not in self.sink.spoiled
                       for k, w in enumerate(self.windows) if w.barrel == barrel and w.attempt == a)]
        return good[0] if good else None

    def _window(self, barrel: int, level: int) -> int:
        """The window of ``barrel``'s step ``level`` in its latest whole attempt (LookupError:
        none)."""
        a = self._attempt(barrel)
        found = [k for k, w in enumerate(self.windows) if w.barrel == barrel and w.level == level and w.attempt == a]
        if a is None or not found:
            raise LookupError(f"no whole measurement of barrel {barrel}")
        return found[0]

    def _steps(self, stepped: int, monitor: int) -> tuple[float, float] | None:
        """(first half-step, whole step) of ``monitor``'s barrel while ``stepped`` stepped."""
        try:
            m = [self.sink.mean_nA(self._window(stepped, k), monitor) for k in range(3)]
        except LookupError:
            return None
        if any(x is None for x in m):
            return None
        return m[1] - m[0], m[2] - m[0]  # type: ignore[operator]

    def _judge(self, i: int, compliance_V: dict[str, float]) -> BarrelResult:
        th = self.thresholds
        b = self.pipette.barrels[i]
        t = self.test[b.name]
        res = BarrelResult(b.name, b.drug, NOT_CHECKED, "", t, None, b.command_gain_nA_per_V)
        if t == 0.0:
            res.message = ("not checked: no analog output" if not b.ao_channel
                           else "not checked: no test current fits within its limits")
            return res
        if self._attempt(i) is None:
            if any(k in self.sink.spoiled for k, w in enumerate(self.windows) if w.barrel == i):
                res.message = (f"not measured: samples were lost during its steps {MAX_ATTEMPTS} times (the board "
                               "could not keep up: see the warnings); run the check again")
            else:
                res.message = "not measured: the check stopped before this barrel"
            return res
        own = self._steps(i, i)
        # another commanded barrel's monitor answering this barrel's command
        others = [(j, s[1]) for j in range(len(self.pipette.barrels))
                  if j != i and self.pipette.barrels[j].role != "balance" and (s := self._steps(i, j)) is not None]
        j_best, moved = max(others, key=lambda x: abs(x[1]), default=(None, 0.0))
        own_moved = own[1] if own is not None else 0.0
        if own is not None:
            res.measured_nA = own_moved
            res.measured_gain_nA_per_V = b.command_gain_nA_per_V * own_moved / t
        if j_best is not None and abs(moved) >= th.swap_fraction * abs(t) and abs(own_moved) < th.open_fraction * abs(t):
            other = self.pipette.barrels[j_best].name
            res.status, res.answered_on = SWAPPED, other
            res.message = (f"swapped channel: {t:+.1f} nA commanded on {b.name!r} moved the monitor of {other!r} by "
                           f"{moved:+.1f} nA and its own by {own_moved:+.1f} nA — the AO line of {b.name!r} drives "
                           f"the source of {other!r} (or the monitor lines are swapped)")
            return res
        if own is None:
            res.message = "not checked: no current monitor (monitor_channel) for this barrel"
            return res
        half, whole = own
        dv = self._volt_step(i)
        if dv is not None and abs(whole) >= th.open_fraction * abs(t):
            res.resistance_MOhm = abs(dv / whole) * 1e3  # V/nA = GΩ
        if abs(whole) < th.open_fraction * abs(t):
            res.status = OPEN
            res.message = (f"open: {t:+.1f} nA commanded, the monitor moved {whole:+.2f} nA — no current flows "
                           "(broken lead, empty or blocked barrel, air bubble, source off or on standby)")
            return res
        if res.resistance_MOhm is not None and res.resistance_MOhm > th.clog_MOhm:
            res.status = CLOGGED
            res.message = (f"clogged: {res.resistance_MOhm:.0f} MΩ ({dv:+.2f} V for {whole:+.1f} nA), above "
                           f"{th.clog_MOhm:g} MΩ — a clogged tip (drug barrels are 20–100 MΩ)")
            return res
        first, second = half / (t / 2), (whole - half) / (t / 2)
        if first > th.open_fraction and second < th.linearity * first:  # the rise flattened: compliance
            res.status = CLOGGED
            comp = compliance_V.get(b.name)
            if comp:
                res.resistance_MOhm = comp / abs(whole) * 1e3
            more = f"; its resistance is above {res.resistance_MOhm:.0f} MΩ" if res.resistance_MOhm else ""
            res.message = (f"clogged: the current stopped rising at {whole:+.1f} nA of {t:+.1f} nA commanded — the "
                           f"source reached its compliance voltage{more} (a clogged or broken-off tip)")
            return res
        ratio = whole / t
        if ratio < 0:
            res.status = SIGN
            res.message = (f"sign reversed: {t:+.1f} nA commanded, the monitor moved {whole:+.1f} nA — the command "
                           "or the monitor polarity is inverted (the source's polarity switch or wiring, the sign of "
                           "command_gain_nA_per_V / monitor_gain_V_per_nA)")
            return res
        if abs(ratio - 1.0) > th.gain_tolerance:
            res.status = GAIN
            res.message = (f"gain mismatch: {t:+.1f} nA commanded, {whole:+.1f} nA measured: the source behaves like "
                           f"{abs(res.measured_gain_nA_per_V or 0):.3g} nA/V, the rig file says "
                           f"{abs(b.command_gain_nA_per_V):g} nA/V (command_gain_nA_per_V) — check the source's range "
                           f"switch, or the monitor gain ({b.monitor_gain_V_per_nA:g} V/nA) is off by x{ratio:.2f}")
            return res
        res.status = OK
        res.message = f"OK: {t:+.1f} nA commanded, {whole:+.1f} nA measured ({ratio:.2f} of the command)"
        if res.resistance_MOhm is not None:
            res.message += f", barrel resistance {res.resistance_MOhm:.0f} MΩ"
        return res

    def _volt_step(self, i: int) -> float | None:
        """How far barrel ``i``'s voltage moved over its own step 0 → T (None: no voltage output)."""
        try:
            v0, v2 = (self.sink.mean_V(self._window(i, k), i) for k in (0, 2))
        except LookupError:
            return None
        return None if v0 is None or v2 is None else v2 - v0

    def _judge_balance(self, i: int) -> BarrelResult:
        th = self.thresholds
        b = self.pipette.barrels[i]
        res = BarrelResult(b.name, b.drug, NOT_CHECKED, "", 0.0, None, b.command_gain_nA_per_V)
        pairs = [(-self.test[self.pipette.barrels[s].name], st[1]) for s in self.stepped
                 if (st := self._steps(s, i)) is not None]
        if not pairs:
            res.message = "not checked: no current monitor (monitor_channel) for the balance barrel"
            return res
        expected = np.array([p[0] for p in pairs])
        moved = np.array([p[1] for p in pairs])
        ratio = float(expected @ moved / (expected @ expected))
        k = int(np.argmax(np.abs(expected)))
        res.commanded_nA, res.measured_nA = float(expected[k]), float(moved[k])
        res.measured_gain_nA_per_V = b.command_gain_nA_per_V * ratio
        if abs(ratio) < th.open_fraction:
            res.status = OPEN
            res.message = ("open: the balance barrel's monitor did not follow the other barrels' test currents "
                           f"(moved {moved[k]:+.2f} nA for {expected[k]:+.1f} nA) — no current flows")
        elif ratio < 0:
            res.status = SIGN
            res.message = (f"sign reversed: the balance barrel moved {moved[k]:+.1f} nA for {expected[k]:+.1f} nA — "
                           "its command or monitor polarity is inverted")
        elif abs(ratio - 1.0) > th.gain_tolerance:
            res.status = GAIN
            res.message = (f"gain mismatch: the balance barrel carried {ratio:.2f} of the balancing current: it "
                           f"behaves like {abs(res.measured_gain_nA_per_V):.3g} nA/V, the rig file says "
                           f"{abs(b.command_gain_nA_per_V):g} nA/V (or its monitor gain is off)")
        else:
            res.status = OK
            res.message = f"OK: balanced each test current ({ratio:.2f} of it)"
        return res


# --- the results next to the rig file, for the next recordings --------------------------------
def report_path(rig_path: str | os.PathLike[str]) -> Path:
    """Where the last check of a rig file is kept: ``RIG.rig-check.json`` beside ``RIG.yaml``."""
    p = Path(rig_path)
    return p.with_name(p.stem + ".rig-check.json")


def save_report(report: RigCheckReport, rig_path: str | os.PathLike[str]) -> Path:
    """Write the report beside the rig file (atomically); returns its path."""
    out = report_path(rig_path)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot save the rig check ({exc.strerror or exc})") from None
    return out


def rig_document(rig: RigConfig, rig_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """What a recording stores as its rig: the rig and, when its rig file has been checked, the
    last check (``rig_check``; see ``load_for_recording``)."""
    doc = rig.model_dump(mode="json")
    checked = load_for_recording(rig_path)
    if checked is not None:
        doc["rig_check"] = checked
    return doc


def load_for_recording(rig_path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The last rig check of ``rig_path`` as a recording stores it, with ``rig_changed_since``
    (the rig file is not the one checked); None when there is none (or it cannot be read)."""
    if not rig_path:
        return None
    p = report_path(rig_path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    try:
        now = hashlib.sha256(Path(rig_path).read_bytes()).hexdigest()
    except OSError:
        now = ""
    doc["rig_changed_since"] = bool(doc.get("rig_sha256")) and doc.get("rig_sha256") != now
    doc["file"] = str(p)
    return doc
