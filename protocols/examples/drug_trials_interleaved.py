"""A Python plan file: orientation tuning with ACh interleaved trial by trial (docs/trials.md,
"Designs"), built from the pieces of ``protocols.trials``: every orientation ×
drug condition (off, ACh at each current) ``reps`` times in shuffled repetitions (seeded),
the ejection starting ``lead_s`` before a drug trial after a change; then a drug-off block of
``reps`` more repetitions of every orientation after ``washout_s``.

Run it:   ionto run protocols/examples/drug_trials_interleaved.py --device sim:gain --rig RIG.yaml
          (RIG.yaml: sim:gain with simulation.stimulus.mode: driven, as ionto demo gain writes it)
Check it: ionto protocol check protocols/examples/drug_trials_interleaved.py -p seed=3
"""

import random
from typing import Annotated

from pydantic import Field

from protocols import Mark, RetainAll
from protocols.trials import (
    DrivenStimulus,
    drug_block,
    interleaved_sequence,
    interleaved_text,
    interleaved_trials,
)

NAME = "ACh and orientation, interleaved trial by trial (Python)"
RIG = "sim:gain"


def plan(
    currents_nA: Annotated[list[float], Field(min_length=1, description="ACh currents (nA)")] = [25.0, 50.0],  # noqa: B006
    reps: Annotated[int, Field(ge=1, le=100)] = 8,
    lead_s: Annotated[float, Field(ge=0, le=60)] = 2.0,
    washout_s: Annotated[float, Field(ge=0, le=60)] = 2.0,
    seed: Annotated[int, Field(ge=0)] = 1,
):
    orientations = (0.0, 30.0, 60.0, 90.0, 120.0, 150.0)
    stim = DrivenStimulus(orientations, "orientation_deg", 0.5, 0.5, random.Random(seed), [0])
    seq = interleaved_sequence(currents_nA, len(orientations), reps, seed)
    yield Mark(interleaved_text("ach", seq, stim, reps, lead_s, washout_s, seed))
    yield from interleaved_trials("ach", seq, stim, lead_s, washout_s)
    # a drug-off block after the interleaved trials (its own drug block: retain, washout_s, shown trials)
    yield from drug_block(len(seq), "ach", 0.0, conditions=len(orientations), trials_per_condition=reps, discard=0,
                          settle_s=washout_s, trial_period_s=stim.period_s, timeout_s=600.0, stimulus=stim)
    yield RetainAll()
