"""Dose–response series on one barrel, and the orders of its currents."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field

from daq.pipette import Pipette
from protocols.commands import Mark, Plan, RetainAll
from protocols.library._checks import barrel_problems, current_problems
from protocols.library._types import Currents, Order, Seconds
from protocols.registry import Problem, register
from protocols.stubs import baseline, ejection, read_pipette


def williams_rows(n: int) -> list[list[int]]:
    """A Williams design: a Latin square (each index once per row and once per position)
    in which every index follows every other equally often (balanced for carry-over).
    n rows for even n, 2n for odd n."""
    first = [0]
    lo, hi = 1, n - 1
    for k in range(1, n):
        if k % 2:
            first.append(lo)
            lo += 1
        else:
            first.append(hi)
            hi -= 1
    rows = [[(x + i) % n for x in first] for i in range(n)]
    if n % 2:
        rows += [list(reversed(r)) for r in rows]
    return rows


def current_sequence(currents_nA: Sequence[float], order: str, repeats: int, seed: int | None) -> list[list[float]]:
    """The currents of each repeat, in the order they are ejected."""
    cur = [float(c) for c in currents_nA]
    rng = random.Random(seed)
    if order == "ascending":
        return [sorted(cur)] * repeats
    if order == "descending":
        return [sorted(cur, reverse=True)] * repeats
    if order == "given":
        return [cur] * repeats
    if order == "randomised":
        return [rng.sample(cur, len(cur)) for _ in range(repeats)]
    if order == "latin_square":
        labels = rng.sample(cur, len(cur))  # which current is "treatment 0, 1, ..."
        rows = williams_rows(len(cur))
        rng.shuffle(rows)
        return [[labels[i] for i in rows[r % len(rows)]] for r in range(repeats)]
    raise ValueError(f"order {order!r} is not one of ascending, descending, given, randomised, latin_square")


def _check(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    out: list[Problem] = []
    if p["order"] == "latin_square":
        n = len(p["currents_nA"])
        full = n if n % 2 == 0 else 2 * n
        if p["repeats"] % full:
            out.append(Problem("params.repeats", f"a Latin square of {n} currents needs repeats = a multiple of "
                                                 f"{full} (got {p['repeats']})"))
    if pipette is None:
        return out
    out += barrel_problems("params.barrel", p["barrel"], pipette, ("drug",))
    out += current_problems("params.currents_nA", p["currents_nA"], p["barrel"], pipette)
    if p["control_barrel"] is not None:
        out += barrel_problems("params.control_barrel", p["control_barrel"], pipette, ("control",))
        out += current_problems("params.currents_nA", p["currents_nA"], p["control_barrel"], pipette)
    return out


@register("dose_response", check=_check)
def dose_response(
    barrel: Annotated[str, Field(min_length=1, description="the drug barrel")],
    currents_nA: Annotated[Currents, Field(description="ejection currents (magnitudes, nA)")],
    order: Annotated[Order, Field(description="order of the currents in each repeat")] = "ascending",
    repeats: Annotated[int, Field(ge=1, le=100, description="how many times the series runs")] = 1,
    eject_s: Annotated[Seconds, Field(description="duration of each ejection")] = 20.0,
    recovery_s: Annotated[Seconds, Field(description="recovery after each ejection")] = 40.0,
    baseline_s: Annotated[Seconds, Field(description="baseline before the first ejection")] = 30.0,
    control_barrel: Annotated[str | None, Field(
        description="an NaCl control barrel: after each ejection, the same current and polarity on it")] = None,
    seed: Annotated[int | None, Field(ge=0, description="seed of the randomised orders (drawn if not given)")] = None,
) -> Plan:
    """Dose–response series on one barrel: baseline, then one ejection per current with a
    recovery after each; ascending, descending, as given, randomised per repeat, or a
    carry-over balanced Latin square (Williams design) over the repeats.  Optionally each
    ejection is followed by an NaCl current control at the same current and polarity."""
    rows = current_sequence(currents_nA, order, repeats, seed)
    yield Mark(f"dose-response on {barrel}: {order}, {repeats} repeat(s): "
               + " | ".join(", ".join(f"{c:g}" for c in row) for row in rows) + " nA")
    polarity = None
    if control_barrel is not None:
        pipette = yield from read_pipette()
        polarity = pipette.barrel(barrel).polarity
    yield from baseline(baseline_s)
    for r, row in enumerate(rows, 1):
        for cur in row:
            yield from ejection(barrel, cur, eject_s, recovery_s, repeat=r)
            if control_barrel is not None:
                yield from ejection(control_barrel, cur, eject_s, recovery_s, polarity, repeat=r,
                                    control_for=barrel)
    yield RetainAll()
