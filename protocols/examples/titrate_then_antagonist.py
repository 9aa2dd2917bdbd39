"""A Python plan file: titrate GABA to halve the firing rate, then — with GABA still on at
the current found — eject bicuculline and see the inhibition reversed.

Run it:   ionto run protocols/examples/titrate_then_antagonist.py --device sim:cortex
Check it: ionto protocol check protocols/examples/titrate_then_antagonist.py -p bic_nA=60
"""

from typing import Annotated

from pydantic import Field

from protocols import Checkpoint, Eject, Mark, Retain, RetainAll, Wait
from protocols.library import titrate

NAME = "GABA titration, then bicuculline"
RIG = "sim:cortex"


def plan(
    target_change_pct: Annotated[float, Field(ge=-100, lt=0)] = -50.0,
    bic_nA: Annotated[float, Field(gt=0, le=100)] = 40.0,
    bic_s: Annotated[float, Field(gt=0)] = 60.0,
):
    result = yield from titrate("gaba", target_change_pct, tolerance_pct=15, start_nA=5, max_nA=80,
                                leave_on=True)
    if not result.reached:
        yield Mark("titration did not reach its target: no antagonist test")
        yield RetainAll()
        return
    yield Checkpoint("bicuculline during GABA", {"gaba_nA": result.current_nA, "bic_nA": bic_nA})
    yield Eject("bic", bic_nA)
    yield Wait(bic_s)
    yield Retain("bic")
    yield Retain("gaba")
    yield Checkpoint("recovery")
    yield Wait(60)
