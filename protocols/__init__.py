"""ionto.protocols — commands, Python plans, the plan library, the YAML format, the runner
and the dry run.

Plans are generators that yield frozen commands (``Eject``, ``Retain``, ``Wait``, …) and
compose with ``yield from``; the runner steps them on the engine thread, placing every
current change exactly on the sample clock.  See docs/protocols.md.
"""

from protocols.commands import (
    Checkpoint,
    Eject,
    EndProtocol,
    Mark,
    MeasureRate,
    Plan,
    PlanContext,
    Prompt,
    PromptReply,
    ReadPipette,
    Retain,
    RetainAll,
    SetCurrent,
    Wait,
    WaitUntil,
)
from protocols.registry import Problem, register
from protocols.stubs import (
    baseline,
    eject_for,
    ejection,
    mark,
    measure_rate,
    note,
    prompt,
    rate_variation_pct,
    read_pipette,
    stable_rate,
    wait_until,
)

__all__ = [
    "Checkpoint", "Eject", "EndProtocol", "Mark", "MeasureRate", "Plan", "PlanContext", "Problem", "Prompt",
    "PromptReply", "ReadPipette", "Retain", "RetainAll", "SetCurrent", "Wait", "WaitUntil", "baseline",
    "eject_for", "ejection", "mark", "measure_rate", "note", "prompt", "rate_variation_pct", "read_pipette",
    "register", "stable_rate", "wait_until",
]
