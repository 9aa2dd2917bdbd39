"""Current controls: the same currents through an NaCl barrel, at the polarity of the
drug they control for, to show that the current itself does not change the firing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from daq.pipette import Pipette
from protocols.commands import Mark, Plan, RetainAll
from protocols.library._checks import barrel_problems, current_problems
from protocols.library._types import Currents, Order, Seconds
from protocols.library.dose_response import current_sequence
from protocols.registry import Problem, register
from protocols.stubs import baseline, ejection, read_pipette


def _check(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    out: list[Problem] = []
    if (p["match"] is None) == (p["polarity"] is None):
        out.append(Problem("params.match", "give either 'match' (a drug barrel whose polarity the controls "
                                           "copy) or 'polarity' (+1 or -1), not both"))
    if pipette is None:
        return out
    out += barrel_problems("params.barrel", p["barrel"], pipette, ("control",))
    out += current_problems("params.currents_nA", p["currents_nA"], p["barrel"], pipette)
    if p["match"] is not None:
        out += barrel_problems("params.match", p["match"], pipette, ("drug",))
    return out


@register("current_controls", check=_check)
def current_controls(
    barrel: Annotated[str, Field(min_length=1, description="the NaCl control barrel")],
    currents_nA: Annotated[Currents, Field(description="control currents (magnitudes, nA)")],
    match: Annotated[str | None, Field(description="drug barrel whose polarity the controls copy")] = None,
    polarity: Annotated[Literal[1, -1] | None, Field(description="polarity, if no barrel is matched")] = None,
    order: Order = "ascending",
    repeats: Annotated[int, Field(ge=1, le=100)] = 1,
    eject_s: Seconds = 20.0,
    recovery_s: Seconds = 40.0,
    baseline_s: Seconds = 30.0,
    seed: Annotated[int | None, Field(ge=0)] = None,
) -> Plan:
    """Current controls on an NaCl barrel at matched currents and polarity: baseline,
    then each current for ``eject_s`` with ``recovery_s`` after it, with the polarity of
    the drug barrel named in ``match`` (or the one given)."""
    pol = polarity
    if match is not None:
        pipette = yield from read_pipette()
        pol = pipette.barrel(match).polarity
    rows = current_sequence(currents_nA, order, repeats, seed)
    yield Mark(f"current controls on {barrel}, polarity {pol:+d}"
               + (f" (matching {match})" if match else "") + ": "
               + " | ".join(", ".join(f"{c:g}" for c in row) for row in rows) + " nA")
    yield from baseline(baseline_s)
    for r, row in enumerate(rows, 1):
        for cur in row:
            yield from ejection(barrel, cur, eject_s, recovery_s, pol, repeat=r, control_for=match or "")
    yield RetainAll()
