"""Parameter types shared by the library plans (units in the names, bounds in the types)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

Order = Literal["ascending", "descending", "given", "randomised", "latin_square"]
Seconds = Annotated[float, Field(gt=0, le=86400)]
Currents = Annotated[list[Annotated[float, Field(gt=0, le=10000)]], Field(min_length=1, max_length=100)]
