"""Closed-loop plans: they read the online firing rate and decide what to do next.

In a dry run there is no online rate: ``wait_for_stable_baseline`` runs to its timeout
and ``titrate`` assumes the worst case — it steps up to ``max_nA``, stays there for all
``max_steps`` and "reaches" the target only at the last step (its result says
``assumed``), so a plan that goes on from the titration is dry-run too, and the duration
and charge are upper bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from daq.pipette import Pipette
from protocols.commands import Checkpoint, Eject, EndProtocol, Mark, Plan, Retain, Wait
from protocols.library._checks import barrel_problems, current_problems
from protocols.library._types import Seconds
from protocols.registry import Problem, register
from protocols.stubs import measure_rate, stable_rate, wait_until


def _check_stable(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    if p["window_s"] < 2 * p["bin_s"]:
        return [Problem("params.window_s", f"the window ({p['window_s']:g} s) must hold at least two bins of "
                                           f"bin_s = {p['bin_s']:g} s")]
    return []


@register("wait_for_stable_baseline", check=_check_stable)
def wait_for_stable_baseline(
    window_s: Annotated[Seconds, Field(description="the rate must be stable over this long")] = 30.0,
    bin_s: Annotated[Seconds, Field(description="bin width of the rate")] = 5.0,
    max_variation_pct: Annotated[float, Field(
        gt=0, le=1000, description="largest drift (second vs first half of the window) or scatter beyond "
                                   "counting noise of the binned rate, in % of the mean")] = 20.0,
    min_rate_hz: Annotated[float, Field(ge=0, le=1000, description="the cell must fire at least this fast")] = 0.5,
    timeout_s: Annotated[Seconds, Field(description="give up after this long")] = 300.0,
    poll_s: Annotated[float, Field(gt=0, le=600, description="how often the condition is checked")] = 1.0,
    on_timeout: Annotated[Literal["continue", "stop"], Field(
        description="go on with the protocol, or end it, if the baseline never settles")] = "continue",
) -> Plan:
    """Wait for a stable baseline: until the online firing rate, in ``bin_s`` bins over
    the last ``window_s``, neither drifts (second half vs first half) nor scatters beyond
    counting noise by more than ``max_variation_pct`` of its mean, and fires at
    ``min_rate_hz`` or more; or until ``timeout_s`` passes.  Returns True if the baseline
    settled.  A half window holding N spikes is counted to about 100/√N %: at 6 Hz, 30 s
    windows resolve about 15 %."""
    yield Checkpoint("wait for stable baseline", {"window_s": window_s, "max_variation_pct": max_variation_pct,
                                                  "timeout_s": timeout_s})
    met = yield from wait_until(stable_rate(window_s, bin_s, max_variation_pct, min_rate_hz), timeout_s, poll_s,
                                f"stable baseline (±{max_variation_pct:g} % over {window_s:g} s)")
    if not met:
        yield Mark(f"baseline not stable within {timeout_s:g} s")
        if on_timeout == "stop":
            raise EndProtocol(f"the baseline did not settle within {timeout_s:g} s")
    return met


@dataclass(frozen=True)
class TitrationResult:
    """What ``titrate`` returns to a plan that composes it."""

    reached: bool
    current_nA: float | None  # the current that reached the target (or the last one tried)
    response_pct: float | None
    baseline_hz: float | None
    steps: list[tuple[float, float | None]] = field(default_factory=list)  # (current, response %)
    assumed: bool = False  # no online rate (a dry run): the worst case was assumed, not measured


def next_current(current: float, response_pct: float | None, target_pct: float, lo: float | None,
                 hi: float | None, factor: float, min_nA: float, max_nA: float) -> tuple[float, float | None, float | None]:
    """One step of the search: geometric steps until the target is bracketed, then
    bisection on a log scale.  Returns (next current, new lo, new hi); ``lo`` is the
    largest current known too weak, ``hi`` the smallest known too strong."""
    too_weak = response_pct is None or (response_pct - target_pct) * math.copysign(1, target_pct) < 0
    if too_weak:
        lo = current if lo is None else max(lo, current)
        nxt = current * factor if hi is None else math.sqrt(lo * hi)
    else:
        hi = current if hi is None else min(hi, current)
        nxt = current / factor if lo is None else math.sqrt(lo * hi)
    return min(max_nA, max(min_nA, round(nxt, 1))), lo, hi


def _check_titrate(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    out: list[Problem] = []
    if not p["min_nA"] <= p["start_nA"] <= p["max_nA"]:
        out.append(Problem("params.start_nA", f"start_nA must lie between min_nA ({p['min_nA']:g}) and max_nA "
                                              f"({p['max_nA']:g}); got {p['start_nA']:g}"))
    if p["measure_s"] > p["settle_s"]:
        out.append(Problem("params.measure_s", f"the measuring window ({p['measure_s']:g} s) is the end of each "
                                               f"step: it cannot be longer than settle_s ({p['settle_s']:g} s)"))
    if p["target_change_pct"] == 0 or abs(p["target_change_pct"]) <= p["tolerance_pct"]:
        out.append(Problem("params.target_change_pct", "the target must differ from 0 by more than the tolerance"))
    if p["target_change_pct"] < -100:
        out.append(Problem("params.target_change_pct", "a firing rate cannot fall by more than 100 %"))
    if pipette is None:
        return out
    out += barrel_problems("params.barrel", p["barrel"], pipette, ("drug",))
    out += current_problems("params.max_nA", [p["max_nA"]], p["barrel"], pipette, indexed=False)
    return out


@register("titrate", check=_check_titrate)
def titrate(
    barrel: Annotated[str, Field(min_length=1, description="the drug barrel")],
    target_change_pct: Annotated[float, Field(
        ge=-100, le=10000, description="the response to reach, % change of the rate (e.g. -50, +100)")],
    tolerance_pct: Annotated[float, Field(gt=0, le=100, description="accepted distance from the target "
                                                                     "(percentage points)")] = 10.0,
    start_nA: Annotated[float, Field(gt=0, le=10000)] = 5.0,
    min_nA: Annotated[float, Field(gt=0, le=10000)] = 1.0,
    max_nA: Annotated[float, Field(gt=0, le=10000, description="never eject more than this")] = 100.0,
    step_factor: Annotated[float, Field(gt=1, le=10, description="current ratio between steps "
                                                                 "until the target is bracketed")] = 2.0,
    settle_s: Annotated[Seconds, Field(description="time at each current")] = 20.0,
    measure_s: Annotated[Seconds, Field(description="the rate is measured over the end of each step")] = 10.0,
    baseline_s: Annotated[Seconds, Field(description="baseline measured before the first step")] = 30.0,
    max_steps: Annotated[int, Field(ge=1, le=50)] = 8,
    min_baseline_hz: Annotated[float, Field(ge=0, le=1000, description="below this, % changes mean "
                                                                       "nothing: do not titrate")] = 1.0,
    recovery_s: Annotated[Seconds, Field(description="after the titration (unless leave_on)")] = 60.0,
    leave_on: Annotated[bool, Field(description="keep ejecting at the found current (for a plan that "
                                                "goes on from there)")] = False,
    on_failure: Annotated[Literal["continue", "stop"], Field(
        description="if the target is not reached within the limits")] = "continue",
) -> Plan:
    """Titrate a barrel's current to a target response: measure a baseline, then eject at
    ``start_nA`` and step the current (ejecting throughout; ×``step_factor`` until the
    response brackets the target, then bisecting on a log scale) until the rate's %
    change is within ``tolerance_pct`` of ``target_change_pct``, never beyond
    ``min_nA``..``max_nA`` nor ``max_steps`` steps.  Returns a ``TitrationResult``."""
    yield Mark(f"titrate {barrel} to {target_change_pct:+g} ± {tolerance_pct:g} % "
               f"({min_nA:g}..{max_nA:g} nA, start {start_nA:g} nA)")
    yield Checkpoint("titration baseline", {"duration_s": baseline_s})
    yield Wait(baseline_s)
    base = yield from measure_rate(baseline_s)
    if base is not None and base < min_baseline_hz:
        yield Mark(f"cannot titrate: baseline {base:.2f} Hz is below {min_baseline_hz:g} Hz")
        if on_failure == "stop":
            raise EndProtocol("titration impossible: the cell fires too slowly")
        return TitrationResult(False, None, None, base)
    current, lo, hi = round(float(start_nA), 1), None, None
    steps: list[tuple[float, float | None]] = []
    reached = False
    response: float | None = None
    for k in range(max_steps):
        yield Checkpoint("titrate step", {"barrel": barrel, "current_nA": current, "step": k + 1})
        yield Eject(barrel, current)
        yield Wait(settle_s)
        rate = yield from measure_rate(measure_s)
        response = None if rate is None or base is None else 100.0 * (rate - base) / base
        steps.append((current, response))
        if response is not None:
            yield Mark(f"titrate {barrel} {current:g} nA: {response:+.1f} % (target {target_change_pct:+g} "
                       f"± {tolerance_pct:g})")
            if abs(response - target_change_pct) <= tolerance_pct:
                reached = True
                break
        elif k == max_steps - 1:
            # no data (a dry run): the worst case is every step, reaching the target only at
            # the last one, so whatever follows is checked too
            reached = True
            break
        nxt, lo, hi = next_current(current, response, target_change_pct, lo, hi, step_factor, min_nA, max_nA)
        if nxt == current and response is not None:
            yield Mark(f"titrate {barrel}: the limit {current:g} nA is reached without reaching the target")
            break
        current = nxt
    assumed = response is None
    result = TitrationResult(reached, current, response, base, steps, assumed)
    if assumed:
        yield Mark(f"titrate {barrel}: no online rate, assumed to reach the target at the last step "
                   f"({current:g} nA)")
    elif reached:
        yield Mark(f"titrate {barrel}: target reached at {current:g} nA ({response:+.1f} %)")
    else:
        yield Mark(f"titrate {barrel}: target not reached (last {current:g} nA)")
    if not (reached and leave_on):
        yield Retain(barrel)
        yield Checkpoint("recovery", {"duration_s": recovery_s})
        yield Wait(recovery_s)
    if not reached and on_failure == "stop":
        raise EndProtocol(f"titration of {barrel} did not reach {target_change_pct:+g} %")
    return result
