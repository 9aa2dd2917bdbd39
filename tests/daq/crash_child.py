"""A real recording run (``app.session.run_protocol`` on the simulator) that reports, on
stdout, what the engine had handed to the recorder and when: ``B <read_index> <t>`` after
each block, ``E <sample_index> <kind> <t>`` after each logged event (``t`` = monotonic
clock, shared by all processes on the machine).  The crash test SIGKILLs it.

Usage: python tests/daq/crash_child.py OUT.h5 SPEED
"""

from __future__ import annotations

import sys
import time

from app.session import run_protocol
from daq.engine import BlockDone, EngineEvent, EventLogged
from daq.recording import ProtocolInfo
from protocols.commands import Checkpoint, Eject, Mark, Retain, Wait

CURRENTS_nA = (10, 20, 40, 80, 10, 20, 40, 80)


def plan():
    yield Mark("crash test")
    yield Checkpoint("baseline")
    yield Wait(3.0)
    for cur in CURRENTS_nA:
        yield Checkpoint(f"glu {cur} nA")
        yield Eject("glu", cur)
        yield Wait(2.0)
        yield Retain("glu")
        yield Wait(2.0)


def main(out: str, speed: float | None) -> None:
    def report(ev: EngineEvent) -> None:
        t = time.monotonic()
        if isinstance(ev, BlockDone):
            print(f"B {ev.read_index} {t:.6f}", flush=True)
        elif isinstance(ev, EventLogged):
            print(f"E {ev.event.sample_index} {ev.event.kind} {t:.6f}", flush=True)

    res = run_protocol(plan(), ProtocolInfo(name="crash test", format="python"), out, device_url="sim",
                       speed=speed, seed=7, on_event=report)
    print(f"DONE {res.samples} {res.error}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], None if sys.argv[2] == "max" else float(sys.argv[2]))
