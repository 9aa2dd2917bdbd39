"""ionto.protocols — commands, Python plans, the YAML format, the runner and the dry run.

Plans are generators that yield frozen commands (``Eject``, ``Retain``, ``Wait``, …) and
compose with ``yield from``; the runner steps them on the engine thread, placing every
current change exactly on the sample clock.
"""

from protocols.commands import (
    Checkpoint,
    Eject,
    Mark,
    Prompt,
    Retain,
    RetainAll,
    SetCurrent,
    Wait,
    WaitUntil,
)

__all__ = ["Checkpoint", "Eject", "Mark", "Prompt", "Retain", "RetainAll", "SetCurrent", "Wait", "WaitUntil"]
