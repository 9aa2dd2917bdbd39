"""Plan stubs: small plans to compose with ``yield from`` (in the spirit of bluesky's
``plan_stubs``).  Each one is a generator of commands; the ones that observe return
what they saw::

    def my_plan():
        yield from baseline(30)
        base = yield from measure_rate(30)          # Hz, or None in a dry run
        yield from ejection("glu", 20, eject_s=20, recovery_s=60)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from daq.pipette import Pipette
from protocols.commands import (
    Checkpoint,
    Eject,
    Mark,
    MeasureRate,
    Plan,
    PlanContext,
    Prompt,
    PromptReply,
    ReadPipette,
    Retain,
    Wait,
    WaitUntil,
)


def baseline(duration_s: float, label: str = "baseline") -> Plan:
    """A step named ``label`` in which nothing changes for ``duration_s``."""
    yield Checkpoint(label, {"duration_s": duration_s})
    yield Wait(duration_s)


def eject_for(barrel: str, current_nA: float, duration_s: float, polarity: int | None = None) -> Plan:
    """Eject for ``duration_s``, then back to retain."""
    yield Eject(barrel, current_nA, polarity)
    yield Wait(duration_s)
    yield Retain(barrel)


def ejection(barrel: str, current_nA: float, eject_s: float, recovery_s: float,
             polarity: int | None = None, **info: object) -> Plan:
    """One ejection epoch: a step ``eject``, the ejection, then a step ``recovery``."""
    yield Checkpoint("eject", {"barrel": barrel, "current_nA": current_nA, "eject_s": eject_s, **info})
    yield from eject_for(barrel, current_nA, eject_s, polarity)
    yield Checkpoint("recovery", {"barrel": barrel, "duration_s": recovery_s})
    yield Wait(recovery_s)


def measure_rate(window_s: float) -> Plan:
    """The online firing rate over the ``window_s`` before now (Hz; None in a dry run)."""
    rate = yield MeasureRate(window_s)
    return rate


def wait_until(condition: Callable[[PlanContext], bool], timeout_s: float, poll_s: float = 1.0,
               description: str = "") -> Plan:
    """Wait until ``condition(ctx)`` holds or ``timeout_s`` passes; returns True if it held."""
    met = yield WaitUntil(condition, timeout_s, poll_s, description)
    return bool(met)


def prompt(text: str, timeout_s: float | None = None) -> Plan:
    """Ask the operator and hold until acknowledged (or ``timeout_s``); returns a ``PromptReply``."""
    reply = yield Prompt(text, True, timeout_s)
    return reply if isinstance(reply, PromptReply) else PromptReply(True)


def note(text: str) -> Plan:
    """A message for the operator that does not hold the plan."""
    yield Prompt(text, wait=False)


def mark(text: str) -> Plan:
    yield Mark(text)


def read_pipette() -> Plan:
    """The rig's pipette (barrels, drugs, polarities, limits)."""
    pipette = yield ReadPipette()
    return pipette


# --- closed-loop helpers ----------------------------------------------------------------------
def rate_variation_pct(rates_hz: Sequence[float], bin_s: float) -> float:
    """How much a binned firing rate varies, in % of its mean: the larger of

    * its *drift*: the difference between the mean rates of the second and the first half
      of the bins (a recovery still under way), and
    * its *scatter* beyond Poisson counting noise: ``sqrt(max(0, var − mean/bin_s))``.

    Counting noise is in the drift: a half window holding N spikes is counted to about
    100/√N %, so choose the window (or the bound) accordingly.  ``inf`` when the mean is 0."""
    r = [float(x) for x in rates_hz]
    if len(r) < 2:
        raise ValueError("need at least two bins to judge variation")
    mean = sum(r) / len(r)
    if mean <= 0:
        return math.inf
    half = len(r) // 2
    drift = abs(sum(r[-half:]) - sum(r[:half])) / half
    var = sum((x - mean) ** 2 for x in r) / (len(r) - 1)
    scatter = math.sqrt(max(0.0, var - mean / bin_s))
    return 100.0 * max(drift, scatter) / mean


def stable_rate(window_s: float, bin_s: float, max_variation_pct: float,
                min_rate_hz: float) -> Callable[[PlanContext], bool]:
    """A ``WaitUntil`` condition: over the last ``window_s`` (all of it inside the wait),
    the rate in ``bin_s`` bins varies by at most ``max_variation_pct`` (see
    ``rate_variation_pct``) and its mean is at least ``min_rate_hz``."""
    n = max(2, round(window_s / bin_s))

    def condition(ctx: PlanContext) -> bool:
        if ctx.elapsed_s + 1e-9 < n * bin_s:
            return False
        rates = [ctx.rate_hz(bin_s, k * bin_s) for k in range(n)]
        if any(r is None for r in rates):
            return False
        values = [float(r) for r in rates if r is not None]
        if sum(values) / n < min_rate_hz:
            return False
        return rate_variation_pct(values, bin_s) <= max_variation_pct

    return condition


def barrel_of(pipette: Pipette | None, name: str) -> str:
    """``"glu (glutamate)"`` for messages; the bare name without a pipette."""
    if pipette is None:
        return name
    try:
        return f"{name} ({pipette.barrel(name).drug})"
    except KeyError:
        return name
