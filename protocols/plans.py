"""The plan library and its registry.  Every plan is a generator of commands.

Register a plan with ``@register("name")`` to make it available to YAML files
(``plan: name`` with ``params:``).  Parameters are keyword arguments with units in
their names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable
from typing import Any

from protocols.commands import Checkpoint, Command, Eject, Mark, Retain, RetainAll, Wait

Plan = Generator[Command, Any, None]
PlanFactory = Callable[..., Plan]

REGISTRY: dict[str, PlanFactory] = {}


def register(name: str) -> Callable[[PlanFactory], PlanFactory]:
    def deco(fn: PlanFactory) -> PlanFactory:
        REGISTRY[name] = fn
        return fn

    return deco


def get_plan(name: str) -> PlanFactory:
    if name not in REGISTRY:
        raise KeyError(f"no plan named {name!r}; registered plans are {sorted(REGISTRY)}")
    return REGISTRY[name]


def plan_source(name: str) -> str:
    """The Python source of a registered plan (stored in the recording)."""
    try:
        return inspect.getsource(get_plan(name))
    except (OSError, TypeError):
        return ""


# --- building blocks ----------------------------------------------------------------------
def baseline(duration_s: float) -> Plan:
    yield Checkpoint("baseline", {"duration_s": duration_s})
    yield Wait(duration_s)


def ejection(barrel: str, current_nA: float, eject_s: float, recovery_s: float,
             polarity: int | None = None) -> Plan:
    """One ejection epoch: eject for ``eject_s``, then retain and recover for ``recovery_s``."""
    yield Checkpoint("eject", {"barrel": barrel, "current_nA": current_nA, "eject_s": eject_s})
    yield Eject(barrel, current_nA, polarity)
    yield Wait(eject_s)
    yield Retain(barrel)
    yield Checkpoint("recovery", {"barrel": barrel, "duration_s": recovery_s})
    yield Wait(recovery_s)


# --- library plans ------------------------------------------------------------------------
@register("dose_response")
def dose_response(
    barrel: str,
    currents_nA: Iterable[float],
    eject_s: float = 20.0,
    recovery_s: float = 40.0,
    baseline_s: float = 30.0,
    repeats: int = 1,
) -> Plan:
    """Baseline, then one ejection per current (in the order given), with recovery between."""
    currents = [float(c) for c in currents_nA]
    yield Mark(f"dose-response on {barrel}: {currents} nA")
    yield from baseline(baseline_s)
    for _ in range(repeats):
        for cur in currents:
            yield from ejection(barrel, cur, eject_s, recovery_s)
    yield RetainAll()
