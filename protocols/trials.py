"""Drug × stimulus trial designs: drug blocks and the closed loop on valid trial counts.

The task (a stimulus computer, or the simulated one in ``mock_daq.stimulus``) runs its
trials on its own; a trial protocol decides the drug condition — off (retain) or on at a
current — block by block, and moves to the next block once every stimulus condition has
``trials_per_condition`` valid trials in this one (``daq.trials`` decides validity: a
``settle_s`` after each change and ``discard`` trials after that do not count).

Each block is logged as a ``drug_block`` event at the sample where its drug change is
placed (the ejection starts ``lead_s`` before the trials that count), and the event log
carries every barrel current, so each trial's drug current is in the log.

A dry run has no trial input: a block then lasts the time the design needs at the task's
nominal trial period (``trial_period_s``), so the dry run shows the design and its
duration.  Thread: plans run on the engine thread (or in a dry run).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from daq.trials import DrugBlock, trials_from_events, valid_counts
from protocols.commands import Checkpoint, Eject, Mark, Plan, PlanContext, Retain, Wait
from protocols.stubs import wait_until

DESIGNS = ("blocked", "randomised")


@dataclass(frozen=True)
class ShowStimulus:
    """Show trial ``trial``'s stimulus from the cursor for ``duration_s``: condition ``code``
    and what it is (``values``: (name, value) pairs such as ``("orientation_deg", 45.0)``).
    Replies None.  The device shows it and reports it as trial events; in a dry run the runner
    logs them as asked.  Does not move the cursor."""

    trial: int
    code: int
    duration_s: float
    values: tuple[tuple[str, float], ...] = ()


def block_currents(currents_nA: Sequence[float], design: str, repeats: int, seed: int | None) -> list[float]:
    """The drug current of each block (0 = off): an off block first, then each on-current
    followed by an off block; ``blocked`` keeps the given order in every repeat,
    ``randomised`` shuffles it per repeat (seeded)."""
    if design not in DESIGNS:
        raise ValueError(f"design {design!r} is not one of {DESIGNS}")
    rng = random.Random(seed)
    out = [0.0]
    for _ in range(repeats):
        order = [float(c) for c in currents_nA]
        if design == "randomised":
            rng.shuffle(order)
        for c in order:
            out += [c, 0.0]
    return out


def block_trials(conditions: int, trials_per_condition: int, discard: int) -> int:
    """Trials a block needs at least (every condition shown equally often)."""
    return discard + conditions * trials_per_condition


def enough_trials(block: int, conditions: int, trials_per_condition: int,
                  dry_run_s: float) -> Callable[[PlanContext], bool]:
    """A ``WaitUntil`` condition: every one of ``conditions`` codes has
    ``trials_per_condition`` valid trials in drug block ``block``.  Without trial input (a
    dry run) it is met after ``dry_run_s``."""

    def met(ctx: PlanContext) -> bool:
        events = ctx.trial_events()
        if events is None:
            return ctx.elapsed_s >= dry_run_s - 1e-9
        counts = valid_counts(trials_from_events(events, ctx.sample_rate_hz), block)
        return len(counts) >= conditions and all(n >= trials_per_condition for n in counts.values())

    return met


@dataclass(frozen=True)
class DrivenStimulus:
    """What a protocol that drives the stimulus shows: ``values`` of ``name`` (e.g.
    ``orientation_deg``), each for ``stimulus_s`` with ``iti_s`` between, in shuffled
    repetitions drawn from ``rng``; trials are numbered from ``next_trial`` on."""

    values: tuple[float, ...]
    name: str
    stimulus_s: float
    iti_s: float
    rng: random.Random
    next_trial: list[int]  # one mutable counter shared by the blocks

    @property
    def period_s(self) -> float:
        return self.stimulus_s + self.iti_s


def show_trials(stim: DrivenStimulus, n_trials: int) -> Plan:
    """Show ``n_trials`` trials, a trial every ``stim.period_s`` from the cursor, in
    shuffled repetitions of ``stim.values`` (whole repetitions when ``n_trials`` is a
    multiple of their number)."""
    order: list[float] = []
    for _ in range(n_trials):
        if not order:
            order = list(stim.values)
            stim.rng.shuffle(order)
        v = order.pop()
        k = stim.next_trial[0]
        stim.next_trial[0] += 1
        yield ShowStimulus(k, stim.values.index(v) + 1, stim.stimulus_s, ((stim.name, float(v)),))
        yield Wait(stim.period_s)


def drug_block(block: int, barrel: str, current_nA: float, *, conditions: int, trials_per_condition: int,
               discard: int, settle_s: float, trial_period_s: float, timeout_s: float,
               stimulus: DrivenStimulus | None = None) -> Plan:
    """One drug block: change the drug (eject at ``current_nA``, or retain at 0), log the
    block, and wait until every condition has its valid trials (or ``timeout_s``).
    With ``stimulus`` the protocol shows the trials itself: those that fall in ``settle_s``,
    ``discard`` more, then ``trials_per_condition`` whole shuffled repetitions.
    Returns True if the counts were reached (driven: True)."""
    state = "on" if current_nA > 0 else "off"
    yield Checkpoint(f"drug block {block}: {barrel} {state}" + (f" {current_nA:g} nA" if current_nA > 0 else ""),
                     {"block": block, "barrel": barrel, "current_nA": current_nA, "state": state})
    if current_nA > 0:
        yield Eject(barrel, current_nA)
    else:
        yield Retain(barrel)
    yield DrugBlock(block, 0, state, barrel, current_nA, settle_s, discard)
    if stimulus is not None:
        yield from show_trials(stimulus, math.ceil(settle_s / stimulus.period_s - 1e-9) + discard)
        yield from show_trials(stimulus, len(stimulus.values) * trials_per_condition)
        return True
    need_s = settle_s + block_trials(conditions, trials_per_condition, discard) * trial_period_s
    met = yield from wait_until(enough_trials(block, conditions, trials_per_condition, need_s), timeout_s,
                                poll_s=min(1.0, trial_period_s),
                                description=f"{trials_per_condition} valid trials x {conditions} conditions")
    if not met:
        yield Mark(f"drug block {block}: fewer than {trials_per_condition} valid trials per condition "
                   f"within {timeout_s:g} s")
    return met


def design_text(barrel: str, blocks: Sequence[float], conditions: int, trials_per_condition: int, discard: int,
                lead_s: float, trial_period_s: float, shown: str = "") -> str:
    """One line describing a design (logged as a mark; shown by the dry run)."""
    per = block_trials(conditions, trials_per_condition, discard) * trial_period_s
    seq = ", ".join("off" if c == 0 else f"{c:g} nA" for c in blocks)
    return (f"drug x stimulus trials on {barrel}: blocks {seq}; {trials_per_condition} valid trials x "
            f"{conditions} conditions per block, first {discard} discarded, ejection {lead_s:g} s before; "
            f"about {math.ceil(per):d} s per block at {trial_period_s:g} s per trial"
            + (f"; ionto shows {shown}" if shown else "; the task shows the stimuli"))

