"""Rig checks shared by the library plans: barrels that exist and have the right role,
currents within a barrel's limit.  Each problem names the parameter."""

from __future__ import annotations

from collections.abc import Iterable

from daq.pipette import Pipette
from protocols.registry import Problem


def barrel_problems(where: str, name: str, pipette: Pipette, roles: tuple[str, ...]) -> list[Problem]:
    """The barrel exists and has one of ``roles`` ("drug", "control")."""
    try:
        b = pipette.barrel(name)
    except KeyError:
        return [Problem(where, f"no barrel {name!r} on this rig; barrels: {', '.join(pipette.names)}")]
    if b.role not in roles:
        fitting = [x.name for x in pipette.barrels if x.role in roles]
        return [Problem(where, f"barrel {name!r} ({b.drug}) is a {b.role} barrel; this needs a "
                               f"{' or '.join(roles)} barrel ({', '.join(fitting) or 'the rig has none'})")]
    return []


def current_problems(where: str, currents_nA: Iterable[float], name: str, pipette: Pipette,
                     indexed: bool = True) -> list[Problem]:
    """Each ejection current is within the barrel's ejection limit (barrel assumed valid)."""
    try:
        b = pipette.barrel(name)
    except KeyError:
        return []
    limit = b.limit_for(b.polarity or 1)
    out = []
    for i, cur in enumerate(currents_nA):
        if cur > limit + 1e-9:
            out.append(Problem(f"{where}.{i}" if indexed else where,
                               f"{cur:g} nA exceeds the ejection limit of barrel {name!r} ({b.drug}): {limit:g} nA"))
    return out
