"""Waiting in tests without trusting the wall clock.

A test that sleeps a fixed time and then asserts fails on a busy machine; one that waits for
the condition itself, with a generous timeout, only takes longer.  ``wait_until`` returns as
soon as the predicate holds and fails the test (naming what it waited for) if it never does.
The timeout is a bound against hanging, not a measurement: never assert how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0


def wait_until(predicate: Callable[[], T], timeout_s: float = DEFAULT_TIMEOUT_S, *, interval_s: float = 0.01,
               what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; return that value.

    Fails (``AssertionError``) after ``timeout_s`` seconds, with ``what`` (or the predicate's
    name) and its last value in the message.  Exceptions from the predicate propagate."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {name} (last value: {value!r})")
        time.sleep(interval_s)
