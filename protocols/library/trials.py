"""``drug_trials``: drug blocks during a stimulus task, closed loop on valid trial counts."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from daq.pipette import Pipette
from protocols.commands import Mark, Plan, RetainAll
from protocols.library._checks import barrel_problems, current_problems
from protocols.library._types import Currents, Seconds
from protocols.registry import Problem, register
from protocols.trials import (
    DrivenStimulus,
    block_currents,
    block_trials,
    design_text,
    drug_block,
    interleaved_sequence,
    interleaved_text,
    interleaved_trials,
)


def _check(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    out: list[Problem] = []
    values = p["stimulus_values"]
    if p["design"] == "interleaved":
        if values is None:
            out.append(Problem("params.design", "interleaved switches the drug before each trial, so ionto must "
                                                "show the trials: give stimulus_values (or design blocked or "
                                                "randomised for a task that runs itself)"))
        if p["discard_trials"]:
            out.append(Problem("params.discard_trials", f"{p['discard_trials']}: an interleaved design discards no "
                                                        "trials (lead_s and washout_s settle each drug change); "
                                                        "give 0 or leave it out"))
    if values is None and p["conditions"] is None:
        return [Problem("params.conditions", "give the number of stimulus conditions the task shows, or "
                                             "stimulus_values for the protocol to show them itself")]
    if values is not None:
        if len(set(values)) != len(values):
            out.append(Problem("params.stimulus_values", f"each value once, got {values}"))
        if p["conditions"] is not None and p["conditions"] != len(values):
            out.append(Problem("params.conditions", f"{p['conditions']} but stimulus_values has {len(values)}"))
        if p["stimulus_name"] == "contrast" and any(not 0 <= v <= 1 for v in values):
            out.append(Problem("params.stimulus_values", f"contrasts lie in 0..1, got {values}"))
        return out + _rig_problems(p, pipette)
    need_s = max(p["lead_s"], p["washout_s"]) + block_trials(p["conditions"], p["trials_per_condition"],
                                                            _discard(p["discard_trials"], p["design"])) \
        * p["trial_period_s"]
    if p["block_timeout_s"] < need_s:
        out.append(Problem("params.block_timeout_s",
                           f"{p['block_timeout_s']:g} s is shorter than a block needs at the nominal trial period "
                           f"({need_s:g} s: lead_s or washout_s + (discard_trials + conditions x trials_per_condition) x "
                           f"trial_period_s)"))
    return out + _rig_problems(p, pipette)


def _rig_problems(p: Mapping[str, Any], pipette: Pipette | None) -> list[Problem]:
    if pipette is None:
        return []
    return (barrel_problems("params.barrel", p["barrel"], pipette, ("drug",))
            + current_problems("params.currents_nA", p["currents_nA"], p["barrel"], pipette))


def _discard(discard_trials: int | None, design: str) -> int:
    """Trials discarded after each drug change: 2 by default in block designs, none interleaved."""
    if discard_trials is not None:
        return discard_trials
    return 0 if design == "interleaved" else 2


@register("drug_trials", check=_check)
def drug_trials(
    barrel: Annotated[str, Field(min_length=1, description="the drug barrel")],
    currents_nA: Annotated[Currents, Field(description="ejection currents of the drug-on blocks (nA)")],
    conditions: Annotated[int | None, Field(
        ge=1, le=256, description="stimulus conditions the task shows (codes); with stimulus_values: their "
                                  "number")] = None,
    trials_per_condition: Annotated[int, Field(
        ge=1, le=10000, description="valid trials per condition before the block ends")] = 20,
    discard_trials: Annotated[int | None, Field(
        ge=0, le=1000, description="trials that do not count after each drug change (after lead_s/washout_s); "
                                   "default 2, none in an interleaved design")] = None,
    lead_s: Annotated[float, Field(
        ge=0, le=3600, description="the ejection starts this long before the trials of an on block count")] = 10.0,
    washout_s: Annotated[float, Field(
        ge=0, le=3600, description="after the drug goes off, trials count only after this long")] = 10.0,
    design: Annotated[Literal["blocked", "randomised", "interleaved"], Field(
        description="blocks with the on-currents in the given order each repeat, or shuffled per repeat "
                    "(seeded); or interleaved: each trial's drug condition drawn at random (seeded; needs "
                    "stimulus_values)")] = "blocked",
    repeats: Annotated[int, Field(ge=1, le=100, description="how many times the on-currents run")] = 1,
    trial_period_s: Annotated[Seconds, Field(
        description="the task's nominal trial period (stimulus + interval): the dry run's duration")] = 1.0,
    block_timeout_s: Annotated[Seconds, Field(description="a block ends after this long even if short of trials")]
    = 600.0,
    seed: Annotated[int | None, Field(ge=0, description="seed of the randomised design and of the shown "
                                                        "stimulus order (drawn if not given)")] = None,
    stimulus_values: Annotated[list[float] | None, Field(
        min_length=2, max_length=256, description="the protocol shows these stimuli itself (the device needs a "
                                                  "stimulus output, e.g. sim:gain with stimulus mode: driven); "
                                                  "None: the task runs on its own")] = None,
    stimulus_name: Annotated[Literal["orientation_deg", "contrast"], Field(
        description="what stimulus_values are")] = "orientation_deg",
    stimulus_s: Annotated[Seconds, Field(description="with stimulus_values: each stimulus lasts this long")] = 1.0,
    iti_s: Annotated[Seconds, Field(description="with stimulus_values: the interval between stimuli")] = 0.5,
) -> Plan:
    """Drug × stimulus trials: an off block (retain), then each on-current followed by an
    off block, blocked or randomised per repeat.  A block lasts until every one of
    ``conditions`` stimulus codes has ``trials_per_condition`` valid trials in it (trials
    from the device's trial events; the first ``discard_trials`` after ``lead_s`` (on) or
    ``washout_s`` (off) do not count), or ``block_timeout_s``.  Each block is logged as a
    ``drug_block`` event; ends with every barrel on retain.

    With ``stimulus_values`` the protocol drives the stimulus itself: each block shows the
    trials that fall in its lead/washout, ``discard_trials`` more, then
    ``trials_per_condition`` shuffled repetitions of the values (seeded), a trial every
    ``stimulus_s + iti_s`` — open loop, so the dry run's duration is exact.

    ``design: interleaved`` (needs ``stimulus_values``) changes the drug trial by trial: every
    stimulus × drug condition (off, on at each current) ``trials_per_condition`` times, in
    shuffled repetitions (seeded); a trial after a change waits ``lead_s`` (drug on) or
    ``washout_s`` (drug off); every trial is logged as its own drug block."""
    discard_trials = _discard(discard_trials, design)
    if design == "interleaved":
        assert stimulus_values is not None  # the check asks for them
        stim = DrivenStimulus(tuple(float(v) for v in stimulus_values), stimulus_name, stimulus_s, iti_s,
                              random.Random(seed), [0])
        seq = interleaved_sequence(currents_nA, len(stim.values), trials_per_condition, seed)
        yield Mark(interleaved_text(barrel, seq, stim, trials_per_condition, lead_s, washout_s, seed))
        yield from interleaved_trials(barrel, seq, stim, lead_s, washout_s)
        yield RetainAll()
        return
    blocks = block_currents(currents_nA, design, repeats, seed)
    stim = None
    shown = ""
    if stimulus_values is not None:
        stim = DrivenStimulus(tuple(float(v) for v in stimulus_values), stimulus_name, stimulus_s, iti_s,
                              random.Random(None if seed is None else seed + 1), [0])
        conditions = len(stim.values)
        trial_period_s = stim.period_s
        shown = f"{stimulus_name} {', '.join(f'{v:g}' for v in stim.values)}, {stimulus_s:g} s on, {iti_s:g} s off"
    assert conditions is not None  # the check asks for one or the other
    yield Mark(design_text(barrel, blocks, conditions, trials_per_condition, discard_trials, lead_s, trial_period_s,
                           shown))
    for b, cur in enumerate(blocks):
        yield from drug_block(b, barrel, cur, conditions=conditions, trials_per_condition=trials_per_condition,
                              discard=discard_trials, settle_s=lead_s if cur > 0 else washout_s,
                              trial_period_s=trial_period_s, timeout_s=block_timeout_s, stimulus=stim)
    yield RetainAll()
