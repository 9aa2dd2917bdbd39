"""Trains of short ejection pulses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from daq.pipette import Pipette
from protocols.commands import Checkpoint, Eject, Mark, Plan, Retain, RetainAll, Wait
from protocols.library._checks import barrel_problems, current_problems
from protocols.library._types import Seconds
from protocols.registry import Problem, register
from protocols.stubs import baseline


def _check(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    out: list[Problem] = []
    if p["period_s"] <= p["pulse_s"]:
        out.append(Problem("params.period_s", f"the period ({p['period_s']:g} s, onset to onset) must be longer "
                                              f"than the pulse ({p['pulse_s']:g} s)"))
    if pipette is None:
        return out
    out += barrel_problems("params.barrel", p["barrel"], pipette, ("drug", "control"))
    out += current_problems("params.current_nA", [p["current_nA"]], p["barrel"], pipette, indexed=False)
    if not out and pipette.barrel(p["barrel"]).role == "control" and p["polarity"] is None:
        out.append(Problem("params.polarity", f"barrel {p['barrel']!r} is a control barrel: give polarity +1 or -1"))
    return out


@register("pulse_train", check=_check)
def pulse_train(
    barrel: Annotated[str, Field(min_length=1)],
    current_nA: Annotated[float, Field(gt=0, le=10000, description="pulse current (magnitude)")],
    pulse_s: Annotated[float, Field(ge=0.001, le=3600, description="pulse duration")] = 1.0,
    period_s: Annotated[float, Field(gt=0, le=86400, description="onset to onset")] = 5.0,
    pulses: Annotated[int, Field(ge=1, le=10000, description="pulses per train")] = 10,
    trains: Annotated[int, Field(ge=1, le=1000)] = 1,
    train_interval_s: Annotated[Seconds, Field(description="from the end of a train to the next")] = 60.0,
    baseline_s: Seconds = 30.0,
    recovery_s: Seconds = 30.0,
    polarity: Annotated[Literal[1, -1] | None, Field(description="for a control barrel only")] = None,
) -> Plan:
    """Trains of ejection pulses: baseline, then ``trains`` trains of ``pulses`` pulses of
    ``pulse_s`` every ``period_s`` (onset to onset), ``train_interval_s`` between trains,
    and a recovery.  Pulse onsets are exact on the sample clock."""
    yield Mark(f"pulse trains on {barrel}: {trains} x {pulses} pulses of {current_nA:g} nA for {pulse_s:g} s "
               f"every {period_s:g} s")
    yield from baseline(baseline_s)
    for t in range(trains):
        yield Checkpoint("train", {"barrel": barrel, "train": t + 1, "current_nA": current_nA})
        for k in range(pulses):
            yield Eject(barrel, current_nA, polarity)
            yield Wait(pulse_s)
            yield Retain(barrel)
            if k < pulses - 1:
                yield Wait(period_s - pulse_s)
        if t < trains - 1:
            yield Checkpoint("train interval", {"duration_s": train_interval_s})
            yield Wait(train_interval_s)
    yield Checkpoint("recovery", {"duration_s": recovery_s})
    yield Wait(recovery_s)
    yield RetainAll()
