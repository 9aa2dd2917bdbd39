"""Running plans on the real engine (simulated rig or null device) for the protocol tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from analysis.detect import StreamingDetector
from daq.engine import BlockDone, Engine, EventLogged
from daq.rig import RigConfig
from daq.types import Block, EventKind, LogEvent, StreamInfo
from mock_daq import SimDevice
from protocols.commands import Plan
from protocols.runner import PlanRunner

CURRENT_KINDS = {EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT}
TIMELINE_KINDS = CURRENT_KINDS | {EventKind.STEP, EventKind.MARK, EventKind.PROTOCOL_START,
                                  EventKind.PROTOCOL_END, EventKind.NOTE}


class TruthSink:
    """Keeps what the simulated rig says really happened — its neuron's spikes and
    noiseless expected rate — in memory.  Handed to the engine as its recorder (the engine
    thread calls it, before the runner in each turn), it can also serve as the online rate:
    an exact spike count, so closed-loop plans are tested apart from spike detection."""

    def __init__(self) -> None:
        self.fs = 0.0
        self.index: list[np.ndarray] = []
        self.expected: list[np.ndarray] = []
        self.spikes: list[int] = []

    def on_truth_metadata(self, metadata: Mapping[str, object]) -> None:
        self.fs = float(metadata["rate_hz"])  # type: ignore[arg-type]

    def start(self, stream: StreamInfo) -> None:
        pass

    def on_block(self, block: Block) -> None:
        pass

    def on_events(self, events: list[LogEvent]) -> None:
        pass

    def on_truth(self, truth: Mapping[str, object]) -> None:
        if "truth_index" in truth:
            self.index.append(np.asarray(truth["truth_index"]))
            self.expected.append(np.asarray(truth["expected_rate_hz"])[:, 0])
        if "spike_index/neuron0" in truth:
            self.spikes.extend(int(x) for x in np.asarray(truth["spike_index/neuron0"]))

    def rate_hz(self, window_s: float, end_index: int | None = None) -> float | None:
        """The true firing rate over the ``window_s`` before ``end_index`` (``OnlineRate``)."""
        end = self.spikes[-1] + 1 if end_index is None else end_index
        lo = end - round(window_s * self.fs)
        return sum(1 for x in self.spikes if lo <= x < end) / window_s

    def stop(self) -> None:
        pass

    def mean_rate(self, start_s: float, stop_s: float) -> float:
        """The neuron's expected rate averaged over [start_s, stop_s)."""
        t = np.concatenate(self.index) / self.fs
        r = np.concatenate(self.expected)
        sel = (t >= start_s) & (t < stop_s)
        return float(r[sel].mean())


@dataclass
class SimRun:
    events: list[LogEvent]
    engine: Engine
    runner: PlanRunner
    detector: StreamingDetector
    truth: TruthSink
    block_reads: list[int] = field(default_factory=list)

    def of(self, *kinds: EventKind, barrel: str | None = None) -> list[LogEvent]:
        return [e for e in self.events if e.kind in kinds and (barrel is None or e.barrel == barrel)]


def run_on_sim(plan: Plan | PlanRunner, rig: RigConfig, *, seed: int = 1, online: str = "detector",
               on_block: Callable[[int, Engine], None] | None = None) -> SimRun:
    """Run a plan on the simulated rig, on this thread, to its end.  The online rate comes
    from the streaming spike detector, or (``online="truth"``) from the simulated neuron's
    true spikes.  ``on_block(read_index, engine)`` runs after every block (engine thread)."""
    runner = plan if isinstance(plan, PlanRunner) else PlanRunner(plan, "test")
    detector = StreamingDetector()
    truth = TruthSink()
    engine = Engine(SimDevice(rig, seed=seed), rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s,
                    sinks=[detector], recorder=truth, runner=runner,
                    online=truth if online == "truth" else detector, stop_when_protocol_ends=True)
    run = SimRun([], engine, runner, detector, truth)

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

