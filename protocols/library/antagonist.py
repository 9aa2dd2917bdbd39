"""An agonist series during a concurrent antagonist ejection (e.g. GABA under bicuculline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from daq.pipette import Pipette
from protocols.commands import Checkpoint, Eject, Mark, Plan, Retain, RetainAll, Wait
from protocols.library._checks import barrel_problems, current_problems
from protocols.library._types import Currents, Seconds
from protocols.registry import Problem, register
from protocols.stubs import baseline, ejection


def _check(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    out: list[Problem] = []
    if p["agonist_barrel"] == p["antagonist_barrel"]:
        out.append(Problem("params.antagonist_barrel", "the antagonist needs its own barrel"))
    if pipette is None:
        return out
    out += barrel_problems("params.agonist_barrel", p["agonist_barrel"], pipette, ("drug",))
    out += current_problems("params.agonist_currents_nA", p["agonist_currents_nA"], p["agonist_barrel"], pipette)
    out += barrel_problems("params.antagonist_barrel", p["antagonist_barrel"], pipette, ("drug",))
    out += current_problems("params.antagonist_nA", [p["antagonist_nA"]], p["antagonist_barrel"], pipette,
                            indexed=False)
    return out


def _series(barrel: str, currents: list[float], eject_s: float, recovery_s: float, condition: str) -> Plan:
    yield Mark(f"{condition}: {barrel} series " + ", ".join(f"{c:g}" for c in currents) + " nA")
    for cur in currents:
        yield from ejection(barrel, cur, eject_s, recovery_s, condition=condition)


@register("antagonist_series", check=_check)
def antagonist_series(
    agonist_barrel: Annotated[str, Field(min_length=1, description="e.g. gaba")],
    agonist_currents_nA: Annotated[Currents, Field(description="agonist currents, in the order given")],
    antagonist_barrel: Annotated[str, Field(min_length=1, description="e.g. bic (bicuculline)")],
    antagonist_nA: Annotated[float, Field(gt=0, le=10000, description="antagonist current, held throughout")],
    eject_s: Seconds = 20.0,
    recovery_s: Seconds = 40.0,
    baseline_s: Seconds = 30.0,
    antagonist_baseline_s: Annotated[Seconds, Field(
        description="antagonist alone before the first agonist ejection under it")] = 60.0,
    control_series: Annotated[bool, Field(description="the agonist series once before the antagonist")] = True,
    washout_s: Annotated[Seconds, Field(description="after the antagonist is switched off")] = 120.0,
    recovery_series: Annotated[bool, Field(description="the agonist series again after the washout")] = False,
) -> Plan:
    """An agonist series during a concurrent antagonist ejection: baseline; the agonist
    series alone (control); the antagonist on, with its own baseline; the same series
    with the antagonist held on; antagonist off and washout; optionally the series again
    (recovery of the agonist response)."""
    currents = [float(c) for c in agonist_currents_nA]
    yield from baseline(baseline_s)
    if control_series:
        yield from _series(agonist_barrel, currents, eject_s, recovery_s, "control")
    yield Checkpoint("antagonist baseline", {"barrel": antagonist_barrel, "current_nA": antagonist_nA,
                                             "duration_s": antagonist_baseline_s})
    yield Eject(antagonist_barrel, antagonist_nA)
    yield Wait(antagonist_baseline_s)
    yield from _series(agonist_barrel, currents, eject_s, recovery_s, f"during {antagonist_barrel} {antagonist_nA:g} nA")
    yield Retain(antagonist_barrel)
    yield Checkpoint("washout", {"barrel": antagonist_barrel, "duration_s": washout_s})
    yield Wait(washout_s)
    if recovery_series:
        yield from _series(agonist_barrel, currents, eject_s, recovery_s, "recovery")
    yield RetainAll()
