"""Dry run: step a plan through the real runner and AO schedule against a fake clock.

No samples are generated: a ``DryControl`` plays the engine's part (the same AO
schedule with its limit checks, the same lead between the read position and the AO
horizon) and jumps its clock straight to the next sample where the runner has something
to do.  A five-minute protocol dry-runs in milliseconds, a day-long one in well under a
second, and the timeline is the one a real run produces, sample for sample (tested
against the simulated rig).

Closed-loop commands see no online rate (``None``): ``WaitUntil`` runs to its timeout and
the library's closed-loop plans assume the worst (titration steps to its limit), so the
duration and charge are upper bounds — ``closed_loop`` says so.  Operator prompts are
acknowledged at once (their waits are not counted).

Refused commands (a current above a limit, an unknown barrel) are recorded and the plan
goes on, so one dry run lists every problem.

Limits: a dry run has a budget (``DryRunBudget``: ``MAX_STEPS``, one million steps —
commands the plan yields plus turns of the fake clock — and 30 s of wall time) and a
protocol may last at most ``MAX_PROTOCOL_S`` (48 h).  A protocol beyond either is refused with one line that
says so: what ``ionto run`` cannot dry-run it will not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daq.engine import Engine
from daq.nulldevice import NullDevice
from daq.pipette import Pipette
from daq.rig import RigConfig
from daq.schedule import AOSchedule, CurrentChange
from daq.types import AcquisitionConfig, AIChannel, EventKind, LogEvent
from protocols.commands import Plan
from protocols.runner import OnlineRate, PlanRunner
from protocols.validation import MAX_PROTOCOL_S, MAX_STEPS

CURRENT_KINDS = frozenset({EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT})

@dataclass(frozen=True)
class DryRunBudget:
    """What a dry run may spend before it refuses the protocol: ``max_steps`` commands the
    plan yields plus turns of the fake clock, and ``max_wall_s`` seconds of ``clock``."""

    max_steps: int = MAX_STEPS
    max_wall_s: float = 30.0
    clock: Callable[[], float] = time.monotonic

    def describe(self) -> str:
        return f"{self.max_steps:,} steps and {self.max_wall_s:g} s"


DEFAULT_BUDGET = DryRunBudget()


class _Meter:
    """Counts a dry run's steps against its budget."""

    def __init__(self, budget: DryRunBudget):
        self.budget = budget
        self.steps = 0
        self.started_s = budget.clock()
        self.exceeded = ""  # what ran out, once it has

    def tick(self) -> bool:
        """One more step; False once the budget is spent."""
        self.steps += 1
        if not self.exceeded:
            if self.steps > self.budget.max_steps:
                self.exceeded = f"{self.budget.max_steps:,} steps"
            elif self.budget.clock() - self.started_s > self.budget.max_wall_s:
                self.exceeded = f"{self.budget.max_wall_s:g} s"
        return not self.exceeded


def _metered(plan: Plan, meter: _Meter) -> Plan:
    """``plan``, ending early (and closed) once ``meter``'s budget is spent."""
    try:
        cmd = next(plan)
        while meter.tick():
            try:
                reply = yield cmd
            except GeneratorExit:
                raise
            except BaseException as exc:  # thrown into the plan: pass it on
                cmd = plan.throw(exc)
                continue
            cmd = plan.send(reply)
        return None
    except StopIteration as stop:
        return stop.value
    finally:
        plan.close()


class DryControl:
    """The engine as the runner sees it, on a fake clock (``RunnerControl``)."""

    def __init__(self, pipette: Pipette, rate_hz: float, lead_samples: int):
        self.pipette = pipette
        self.rate_hz = rate_hz
        self.lead = lead_samples
        self.schedule = AOSchedule(pipette, rate_hz=rate_hz)  # as the engine's: slew-limited ramps checked too
        self.read_index = 0
        self.write_index = 0  # the engine has written no AO before the first top-up
        self.events: list[LogEvent] = []
        self.changes: list[LogEvent] = []  # current changes below ``write_index``, as the log has them
        self.online: OnlineRate | None = None

    @property
    def horizon_index(self) -> int:
        return self.read_index + self.lead

    def set_currents(self, currents_nA: Mapping[str, float], at_index: int, source: str) -> list[CurrentChange]:
        return self.schedule.set_currents(currents_nA, max(at_index, self.write_index), source)

    def safe_all(self, at_index: int, source: str) -> list[CurrentChange]:
        return self.schedule.safe_all(max(at_index, self.write_index), source)

    def log(self, event: LogEvent) -> None:
        self.events.append(event)

    def advance_to(self, read_index: int) -> None:
        """A block was read up to ``read_index``: AO was written up to the old horizon.
        What is written can no longer change: log it and prune it (as the engine does, so
        the schedule stays short however long the protocol)."""
        self.collect(self.horizon_index)
        self.write_index = self.horizon_index
        self.schedule.freeze(self.write_index)
        self.schedule.prune(self.write_index - 1)
        self.read_index = read_index

    def collect(self, until_index: int) -> None:
        """Log the current changes below ``until_index`` not logged yet."""
        start = self.changes[-1].sample_index + 1 if self.changes else 0
        pip = self.pipette
        self.changes += [LogEvent(c.sample_index, EventKind(pip.barrel(c.barrel).classify(c.current_nA)), c.barrel,
                                  c.current_nA, c.source) for c in self.schedule.changes_in(start, until_index)]


@dataclass(frozen=True)
class Epoch:
    """One ejection (or control current) epoch of the timeline."""

    barrel: str
    start_index: int
    stop_index: int
    current_nA: float
    rate_hz: float

    @property
    def start_s(self) -> float:
        return self.start_index / self.rate_hz

    @property
    def duration_s(self) -> float:
        return (self.stop_index - self.start_index) / self.rate_hz

    @property
    def charge_nC(self) -> float:
        return abs(self.current_nA) * self.duration_s


@dataclass
class DryRunResult:
    ok: bool
    duration_s: float
    events: list[LogEvent]
    charge_nC: dict[str, float]  # total |charge| through each barrel (balance included)
    eject_charge_nC: dict[str, float]  # charge in the ejecting direction per barrel
    errors: list[str] = field(default_factory=list)
    rate_hz: float = 0.0
    samples: int = 0
    warnings: list[str] = field(default_factory=list)
    epochs: list[Epoch] = field(default_factory=list)
    max_current_nA: dict[str, float] = field(default_factory=dict)  # largest |current| per barrel
    closed_loop: bool = False  # durations and charges are upper bounds
    prompts: int = 0

    def timeline(self) -> list[dict[str, Any]]:
        """Current changes, steps, marks and notes as JSON-ready dicts."""
        return [
            {"sample_index": e.sample_index, "t_s": e.sample_index / self.rate_hz, "kind": str(e.kind),
             "barrel": e.barrel, "current_nA": e.current_nA, "text": e.text}
            for e in self.events
        ]


def engine_lead_samples(rate_hz: float, block_samples: int, ao_lead_s: float) -> int:
    """The AO lead the engine keeps for this configuration (asked of the engine itself)."""
    config = AcquisitionConfig(rate_hz=rate_hz, ai=(AIChannel("null", "null/ai0"),), block_samples=block_samples)
    return Engine(NullDevice(), config, _ONE_BARREL, ao_lead_s=ao_lead_s).ao_lead


_ONE_BARREL = Pipette.model_validate({"barrels": [{"name": "x", "drug": "NaCl", "role": "control"}]})


def dry_run(plan: Plan, pipette: Pipette, rate_hz: float = 20000.0, name: str = "protocol", *,
            ao_lead_s: float = 0.25, block_s: float = 0.05, max_duration_s: float = MAX_PROTOCOL_S,
            locate: Callable[[], str] | None = None, budget: DryRunBudget = DEFAULT_BUDGET) -> DryRunResult:
    """Run ``plan`` to its end on a fake clock; report timeline, charges and every problem.

    ``ao_lead_s`` and ``block_s`` are the rig's (they set the lead that closed-loop
    decisions wait for); the result does not otherwise depend on the block size.  A plan
    that runs past ``max_duration_s`` or spends more than ``budget`` is an error."""
    lead = engine_lead_samples(rate_hz, max(1, round(rate_hz * block_s)), ao_lead_s)
    control = DryControl(pipette, rate_hz, lead)
    meter = _Meter(budget)
    runner = PlanRunner(_metered(plan, meter), name, prompts="auto", refused="record", locate=locate)
    limit = round(max_duration_s * rate_hz)
    step = max(1, round(rate_hz))  # while the runner waits on nothing predictable
    runner.on_start(control)
    while not runner.finished and control.read_index < limit and meter.tick():
        wake = runner.wake_index(lead)
        target = control.read_index + step if wake is None else wake
        control.advance_to(min(limit, max(control.read_index + 1, target)))
        runner.on_block(None, control)
    errors = [str(p) for p in runner.problems]
    if runner.status.error and runner.status.error not in errors:
        errors.append(runner.status.error)
    if meter.exceeded:
        where = locate() if locate is not None else ""
        errors.append(f"the dry run used up its budget of {meter.exceeded} at {control.read_index / rate_hz:g} s of "
                      f"the protocol{f' ({where})' if where else ''}: a protocol must dry-run within "
                      f"{budget.describe()}; split it into shorter protocols")
    elif not runner.finished:
        errors.append(f"the plan did not finish within {max_duration_s:g} s (a protocol may last at most "
                      f"{max_duration_s / 3600:g} h)")
    end = max(control.schedule.last_change_index() + 1, max((e.sample_index for e in control.events), default=0) + 1)
    events = _event_log(control, end)
    charge, eject_charge, peak = _charges(events, pipette, end, rate_hz)
    warnings = []
    if runner.closed_loop:
        warnings.append("closed-loop steps: duration and charge are upper bounds (no online rate in a dry run)")
    if runner.prompt_count:
        warnings.append(f"{runner.prompt_count} operator prompt(s): the time the operator takes is not counted")
    return DryRunResult(not errors, end / rate_hz, events, charge, eject_charge, errors, rate_hz, end, warnings,
                        _epochs(events, pipette, end, rate_hz), peak, runner.closed_loop, runner.prompt_count)


def dry_run_rig(plan: Plan, rig: RigConfig, name: str = "protocol", **kwargs: Any) -> DryRunResult:
    """``dry_run`` with the rate, block and AO lead of a rig."""
    return dry_run(plan, rig.pipette, rig.rate_hz, name, ao_lead_s=rig.ao_lead_s, block_s=rig.block_s, **kwargs)


def _event_log(control: DryControl, end: int) -> list[LogEvent]:
    """The event log as the engine writes it: by sample index; at one sample the initial
    states and the runner's events come before the current changes placed there, so the
    log ends on what the device got."""
    initial = [LogEvent(0, EventKind(b.classify(b.safe_current_nA)), b.name, b.safe_current_nA, "initial")
               for b in control.pipette.barrels if b.role != "balance"]
    control.collect(end)
    return sorted([*initial, *control.events, *control.changes], key=lambda e: e.sample_index)


def _charges(events: list[LogEvent], pipette: Pipette, end: int, rate_hz: float) -> tuple[dict, dict, dict]:
    """Charge through each barrel (nC) from the piecewise-constant currents of the log."""
    names = list(pipette.names)
    state = pipette.safe_currents_nA()
    total = np.zeros(len(names))
    eject = np.zeros(len(names))
    peak = np.abs(state)
    pol = np.array([b.polarity if b.role == "drug" else 0 for b in pipette.barrels])
    control = np.array([b.role == "control" for b in pipette.barrels])
    last = 0
    for e in [*(e for e in events if e.kind in CURRENT_KINDS and e.barrel), LogEvent(end, EventKind.NOTE)]:
        dt = e.sample_index - last
        if dt > 0:
            total += np.abs(state) * dt
            eject += np.where(control, np.abs(state), np.clip(state * pol, 0, None)) * dt
            last = e.sample_index
        if e.barrel:
            state[pipette.index(e.barrel)] = e.current_nA
            state = pipette.with_balance(state)
            peak = np.maximum(peak, np.abs(state))
    scale = 1.0 / rate_hz
    return ({n: round(float(q * scale), 6) for n, q in zip(names, total)},
            {n: round(float(q * scale), 6) for n, q in zip(names, eject)},
            {n: round(float(p), 6) for n, p in zip(names, peak)})


def _epochs(events: list[LogEvent], pipette: Pipette, end: int, rate_hz: float) -> list[Epoch]:
    """Intervals where a drug barrel ejects or a control barrel carries current."""
    out: list[Epoch] = []
    open_: dict[str, tuple[int, float]] = {}
    for e in [*(e for e in events if e.kind in CURRENT_KINDS and e.barrel), None]:
        if e is None:
            for name, (start, cur) in open_.items():
                out.append(Epoch(name, start, end, cur, rate_hz))
            break
        if e.barrel in open_:
            start, cur = open_.pop(e.barrel)
            if e.sample_index > start:
                out.append(Epoch(e.barrel, start, e.sample_index, cur, rate_hz))
        if e.kind == EventKind.EJECT:
            open_[e.barrel] = (e.sample_index, e.current_nA)
    return sorted(out, key=lambda ep: (ep.start_index, pipette.index(ep.barrel)))
