"""Dry run: step a plan through the real engine and runner against a ``NullDevice``.

Because it is the same engine, schedule and runner as a real run, the timeline it reports
is the timeline a real run produces, sample for sample (closed-loop waits aside: with no
neuron, their conditions see no rate and run to their timeouts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from daq.engine import Engine, EngineError, EventLogged
from daq.nulldevice import NullDevice
from daq.pipette import Pipette
from daq.types import AcquisitionConfig, AIChannel, AOChannel, EventKind, LogEvent
from protocols.plans import Plan
from protocols.runner import PlanRunner

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}


@dataclass
class DryRunResult:
    ok: bool
    duration_s: float
    events: list[LogEvent]
    charge_nC: dict[str, float]  # total |charge| delivered per barrel
    eject_charge_nC: dict[str, float]  # charge in the ejecting direction per barrel
    errors: list[str] = field(default_factory=list)
    rate_hz: float = 0.0

    def timeline(self) -> list[dict]:
        """Current changes and steps as JSON-ready dicts."""
        return [
            {"sample_index": e.sample_index, "t_s": e.sample_index / self.rate_hz, "kind": str(e.kind),
             "barrel": e.barrel, "current_nA": e.current_nA, "text": e.text}
            for e in self.events
        ]


def dry_run(plan: Plan, pipette: Pipette, rate_hz: float = 20000.0, name: str = "protocol",
            block_s: float = 1.0, max_duration_s: float = 48 * 3600) -> DryRunResult:
    """Run ``plan`` to its end against the null device; report timeline, charges, errors."""
    ao = tuple(AOChannel(b.name, b.ao_channel or f"null/ao{i}") for i, b in enumerate(pipette.barrels)
               if b.ao_channel)
    config = AcquisitionConfig(rate_hz=rate_hz, ai=(AIChannel("null", "null/ai0"),), ao=ao,
                               block_samples=max(1, round(rate_hz * block_s)))
    runner = PlanRunner(plan, name)
    engine = Engine(NullDevice(), config, pipette, runner=runner, stop_when_protocol_ends=True,
                    stop_after_samples=round(max_duration_s * rate_hz))
    events: list[LogEvent] = []
    errors: list[str] = []

    def on_event(ev: object) -> None:
        if isinstance(ev, EventLogged):
            events.append(ev.event)
        elif isinstance(ev, EngineError):
            errors.append(ev.message)

    engine.subscribe(on_event)
    engine.run()  # on this thread
    end = engine.read_index
    if not runner.finished and not errors:
        errors.append(f"the plan did not finish within {max_duration_s:g} s")
    charge, eject_charge = _charges(events, pipette, rate_hz, end)
    return DryRunResult(not errors, end / rate_hz, events, charge, eject_charge, errors, rate_hz)


def _charges(events: list[LogEvent], pipette: Pipette, rate_hz: float, end: int) -> tuple[dict, dict]:
    charge = {b.name: 0.0 for b in pipette.barrels}
    eject = {b.name: 0.0 for b in pipette.barrels}
    cur = {b.name: b.safe_current_nA for b in pipette.barrels}
    last = {b.name: 0 for b in pipette.barrels}
    changes = [e for e in events if e.kind in CURRENT_KINDS and e.barrel]
    changes.append(LogEvent(end, EventKind.NOTE))
    for e in changes:
        for name in ([e.barrel] if e.barrel else list(cur)):
            dt = (e.sample_index - last[name]) / rate_hz
            q = cur[name] * dt  # nA·s = nC
            charge[name] += abs(q)
            pol = pipette.barrel(name).polarity
            if pol and q * pol > 0:
                eject[name] += abs(q)
            elif pipette.barrel(name).role == "control":
                eject[name] += abs(q)
            last[name] = e.sample_index
            if e.barrel:
                cur[name] = e.current_nA
    bi = pipette.balance_index
    if bi is not None:
        # the balance barrel's charge follows from the others'; integrate it the same way
        names = [b.name for b in pipette.barrels if b.role != "balance"]
        pts = sorted({0, end, *(e.sample_index for e in changes)})
        state = {n: pipette.barrel(n).safe_current_nA for n in names}
        q = 0.0
        by_index: dict[int, list[LogEvent]] = {}
        for e in changes:
            by_index.setdefault(e.sample_index, []).append(e)
        prev = 0
        for p in pts:
            q += abs(-sum(state.values())) * (p - prev) / rate_hz
            for e in by_index.get(p, []):
                if e.barrel in state:
                    state[e.barrel] = e.current_nA
            prev = p
        charge[pipette.barrels[bi].name] = q
    return {k: float(np.round(v, 6)) for k, v in charge.items()}, {k: float(np.round(v, 6)) for k, v in eject.items()}
