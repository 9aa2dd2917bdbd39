"""Messages for the operator: one that waits for an acknowledgement, one that does not."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from protocols.commands import EndProtocol, Mark, Plan
from protocols.registry import register
from protocols.stubs import note as note_stub
from protocols.stubs import prompt


@register("operator_prompt")
def operator_prompt(
    text: Annotated[str, Field(min_length=1, description="what the operator should do or check")],
    timeout_s: Annotated[float | None, Field(gt=0, le=86400, description="stop waiting after this")] = None,
    on_timeout: Annotated[Literal["continue", "stop"], Field(
        description="what to do if nobody acknowledges in time")] = "continue",
) -> Plan:
    """Show ``text`` to the operator and hold the plan until it is acknowledged (in the
    GUI, on the terminal of ``ionto run``; at once in headless runs).  Currents stay as
    they are while it waits."""
    reply = yield from prompt(text, timeout_s)
    if not reply.acknowledged:
        yield Mark(f"prompt not acknowledged within {timeout_s:g} s: {text}")
        if on_timeout == "stop":
            raise EndProtocol(f"the operator did not acknowledge {text!r}")
    return reply


@register("note")
def note(text: Annotated[str, Field(min_length=1)]) -> Plan:
    """A message for the operator (logged, shown in the GUI); the plan does not wait."""
    yield from note_stub(text)
