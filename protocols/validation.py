"""Validation helpers shared by the YAML format, the plan registry and Python plan files.

``StrictModel`` refuses unknown keys with a message that lists the accepted ones, and
numbers given as true/false, as text or as .nan/.inf;
``format_errors`` turns a pydantic ``ValidationError`` into one line per problem,
``FILE: field.path: what is wrong (got VALUE)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import (
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from daq.pipette import FileModel

MAX_STEPS = 1_000_000
"""The most steps (commands a plan yields) a protocol may have: the dry run's budget."""
MAX_PROTOCOL_S = 48 * 3600.0
"""The longest protocol ionto checks and runs (48 h)."""

PLAN_TAG = "plan:"
"""Union tags of registered plans start with this (it is dropped from error paths)."""


class StrictModel(FileModel):
    """Frozen, no unknown fields (the error lists the accepted ones), and numbers that are
    finite numbers: not .nan/.inf, not true/false, not text such as '50' (``FileModel``)."""

    @model_validator(mode="wrap")
    @classmethod
    def _known_fields(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Unknown keys are reported next to every other error of the mapping."""
        if not isinstance(data, dict):
            return handler(data)
        unknown = [k for k in data if k not in cls.model_fields]
        if not unknown:
            return handler(data)
        errors: list[InitErrorDetails] = []
        try:
            handler({k: v for k, v in data.items() if k in cls.model_fields})
        except ValidationError as exc:
            errors = [InitErrorDetails(type=PydanticCustomError(e["type"], _escape(e["msg"])), loc=e["loc"],
                                       input=e["input"]) for e in exc.errors()]
        accepted = _escape(", ".join(cls.model_fields) or "(none)")
        for k in unknown:
            errors.append(InitErrorDetails(type=PydanticCustomError("unknown_field", f"unknown field; accepted: {accepted}"),
                                           loc=(str(k),), input=data[k]))
        raise ValidationError.from_exception_data(cls.__name__, errors)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def error_path(loc: tuple[Any, ...]) -> str:
    """A pydantic location as ``steps.3.eject.current_nA`` (union tags dropped)."""
    out: list[str] = []
    for part in loc:
        s = str(part)
        if s.startswith(PLAN_TAG):
            continue
        if out and out[-1] == s and not isinstance(part, int):
            continue  # a tagged union repeats the tag: steps.1.eject.eject.current_nA
        out.append(s)
    return ".".join(out)


def _describe_input(value: Any) -> str:
    if value is None or isinstance(value, dict | list | tuple | set):
        return ""
    text = repr(value)
    return f" (got {text if len(text) <= 60 else text[:57] + '...'})"


def format_errors(exc: ValidationError, source: str,
                  tag_message: Callable[[str, str], str] | None = None) -> str:
    """One line per error: ``source: path: message (got value)``.

    ``tag_message(kind, path)`` explains a mapping that matches no member of a tagged
    union (``kind`` is "top" for the document itself, else "step")."""
    lines = []
    for err in exc.errors():
        path = error_path(tuple(err.get("loc", ())))
        kind = err.get("type", "")
        msg = str(err.get("msg", "invalid"))
        ctx = err.get("ctx") or {}
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            tag = str(ctx.get("tag", ""))
            hint = tag_message("top" if not path else "step", path) if tag_message else "not a known form"
            if tag.startswith(PLAN_TAG):
                from protocols.registry import plan_names

                msg = f"no plan named {tag[len(PLAN_TAG):]!r}; registered plans: {', '.join(plan_names())}"
            elif kind == "union_tag_invalid":
                msg = f"unknown step {tag!r}; {hint}"
            else:
                msg = hint
        got = "" if kind in ("union_tag_invalid", "union_tag_not_found") else _describe_input(err.get("input"))
        lines.append(f"{source}: {path or '(top level)'}: {msg}{got}")
    return "\n".join(lines)
