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
duration.

An *interleaved* design changes the drug condition trial by trial: each trial's condition
(off, or on at one of the currents) and stimulus are drawn at random (seeded), every
stimulus × drug condition equally often; before a trial whose condition differs from the
last one's the drug changes and the trial waits ``lead_s`` (drug on) or ``washout_s`` (drug
off).  Every trial is its own ``drug_block`` (``interleaved_trials``), so the log says each
trial's condition and current and ``daq.trials`` judges each trial by the same rules.  Only
a protocol that shows the stimuli can interleave (it must know when the next trial comes).

Thread: plans run on the engine thread (or in a dry run).
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
"""Block designs (``block_currents``); ``interleaved`` is trial by trial (``interleaved_sequence``)."""


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



def interleaved_sequence(currents_nA: Sequence[float], n_values: int, trials_per_condition: int,
                         seed: int | None) -> list[tuple[float, int]]:
    """The (drug current, stimulus index) of each trial of an interleaved design: the drug
    conditions are off (0) and each current; each repetition shows every stimulus × drug
    condition once, shuffled (seeded), ``trials_per_condition`` repetitions."""
    rng = random.Random(seed)
    cells = [(c, v) for c in [0.0, *(float(x) for x in currents_nA)] for v in range(n_values)]
    out: list[tuple[float, int]] = []
    for _ in range(trials_per_condition):
        rep = list(cells)
        rng.shuffle(rep)
        out += rep
    return out


def interleaved_settles(sequence: Sequence[tuple[float, int]], lead_s: float, washout_s: float) -> list[float]:
    """The wait before each trial: ``lead_s`` when the drug goes on or changes current,
    ``washout_s`` when it goes off, 0 when the condition stays (every barrel starts on retain)."""
    out, before = [], 0.0
    for cur, _ in sequence:
        out.append(0.0 if cur == before else (lead_s if cur > 0 else washout_s))
        before = cur
    return out


def interleaved_trials(barrel: str, sequence: Sequence[tuple[float, int]], stim: DrivenStimulus, lead_s: float,
                       washout_s: float) -> Plan:
    """Show the trials of an interleaved design (``interleaved_sequence``): before each, change
    the drug if its condition differs from the last one's (eject at the current, or retain)
    and wait ``lead_s`` / ``washout_s``; log every trial's ``drug_block`` (block = trial
    number, ``settle_s`` = that wait, no discard); then show the stimulus and wait one period."""
    before = 0.0
    for (cur, vi), settle_s in zip(sequence, interleaved_settles(sequence, lead_s, washout_s), strict=True):
        state = "on" if cur > 0 else "off"
        if cur != before:
            yield Eject(barrel, cur) if cur > 0 else Retain(barrel)
            before = cur
        k = stim.next_trial[0]
        stim.next_trial[0] += 1
        yield DrugBlock(k, 0, state, barrel, cur, settle_s, 0)
        if settle_s > 0:
            yield Wait(settle_s)
        v = stim.values[vi]
        yield ShowStimulus(k, vi + 1, stim.stimulus_s, ((stim.name, float(v)),))
        yield Wait(stim.period_s)


def interleaved_text(barrel: str, sequence: Sequence[tuple[float, int]], stim: DrivenStimulus,
                     trials_per_condition: int, lead_s: float, washout_s: float, seed: int | None) -> str:
    """One line describing an interleaved design and its duration (logged as a mark; shown
    by the dry run), with every trial's drug condition in order."""
    currents = sorted({c for c, _ in sequence if c > 0})
    settles = interleaved_settles(sequence, lead_s, washout_s)
    total_s = sum(settles) + len(sequence) * stim.period_s
    changes = sum(s > 0 for s in settles)
    order = " ".join("off" if c == 0 else f"{c:g}" for c, _ in sequence)
    drawn = "unseeded" if seed is None else f"seed {seed}"
    return (f"interleaved drug x stimulus trials on {barrel}: {len(sequence)} trials, each off or on at "
            f"{', '.join(f'{c:g}' for c in currents)} nA with {stim.name} "
            f"{', '.join(f'{v:g}' for v in stim.values)}, {trials_per_condition} per stimulus x drug condition, "
            f"drawn at random ({drawn}); {stim.stimulus_s:g} s on, {stim.iti_s:g} s off; the ejection starts "
            f"{lead_s:g} s before a drug trial after a change, {washout_s:g} s washout after the drug goes off "
            f"({changes} changes); {math.ceil(total_s):d} s; conditions in order (nA): {order}")
