"""Running plans on the real engine (simulated rig or null device) for the protocol tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from analysis.detect import StreamingDetector
from daq.engine import BlockDone, Engine, EventLogged
from daq.rig import RigConfig
from daq.types import EventKind, LogEvent
from mock_daq import SimDevice
from protocols.commands import Plan
from protocols.runner import PlanRunner

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}
TIMELINE_KINDS = CURRENT_KINDS | {EventKind.STEP, EventKind.MARK, EventKind.PROTOCOL_START,
                                  EventKind.PROTOCOL_END, EventKind.NOTE}


@dataclass
class SimRun:
    events: list[LogEvent]
    engine: Engine
    runner: PlanRunner
    detector: StreamingDetector
    block_reads: list[int] = field(default_factory=list)

    def of(self, *kinds: EventKind, barrel: str | None = None) -> list[LogEvent]:
        return [e for e in self.events if e.kind in kinds and (barrel is None or e.barrel == barrel)]


def run_on_sim(plan: Plan | PlanRunner, rig: RigConfig, *, seed: int = 1,
               on_block: Callable[[int, Engine], None] | None = None) -> SimRun:
    """Run a plan on the simulated rig with the online detector, on this thread, to its end.
    ``on_block(read_index, engine)`` runs after every block (on this, the engine thread)."""
    runner = plan if isinstance(plan, PlanRunner) else PlanRunner(plan, "test")
    detector = StreamingDetector()
    engine = Engine(SimDevice(rig, seed=seed), rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s,
                    sinks=[detector], runner=runner, online=detector, stop_when_protocol_ends=True)
    run = SimRun([], engine, runner, detector)

    def listen(ev: object) -> None:
        if isinstance(ev, EventLogged):
            run.events.append(ev.event)
        elif isinstance(ev, BlockDone):
            run.block_reads.append(ev.read_index)
            if on_block is not None:
                on_block(ev.read_index, engine)

    engine.subscribe(listen)
    engine.run()
    assert engine.error is None, engine.error
    return run


def key(events: list[LogEvent], kinds: set[EventKind] = TIMELINE_KINDS) -> list[tuple]:
    """What must agree between a dry run and a real run (note texts carry measured values)."""
    return [(e.sample_index, str(e.kind), e.barrel, round(e.current_nA, 9), e.text if e.kind != EventKind.NOTE else "")
            for e in events if e.kind in kinds]


def currents_at(events: list[LogEvent], sample: int) -> dict[str, float]:
    """Each barrel's current at ``sample`` from the event log (changes at ``sample`` included)."""
    cur: dict[str, float] = {}
    for e in events:
        if e.kind in CURRENT_KINDS and e.barrel and e.sample_index <= sample:
            cur[e.barrel] = e.current_nA
    return cur

