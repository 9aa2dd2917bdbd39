"""Signals become safe stops: SIGINT (Ctrl-C), SIGTERM (``kill``, ``timeout``, systemd) and
SIGHUP (a closed terminal) ask the engine to put every barrel on retain, close the recording
and stop; the process then waits on the engine's ``stopped`` event — never on
``Thread.join``, which a Ctrl-C cuts short on CPython ≤ 3.12 — and exits only once the safe
levels are written, or after ``STOP_WAIT_S`` with one loud line telling the operator to
check the barrels by hand.  A second Ctrl-C does not skip anything; it says what is going on.

Thread: the handlers run on the main thread (Python runs signal handlers there, between
bytecodes); they only enqueue a stop request.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_WAIT_S = 15.0
"""How long the process waits for the engine to confirm the safe levels after a signal."""


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """While active (a context manager), the stop signals call ``request_stop(reason)``.

    ``received`` lists the signals that came; ``exit_status`` is 128 + the first one (the
    shell's convention), or None.  Outside the main thread it does nothing (Python allows
    handlers only there)."""

    def __init__(self, request_stop: Callable[[str], None], say: Callable[[str], None] | None = None,
                 signals: tuple[int, ...] = STOP_SIGNALS):
        self.request_stop = request_stop
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.signals = signals
        self.received: list[int] = []
        self.first_at: float | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    @property
    def exit_status(self) -> int | None:
        return 128 + self.received[0] if self.received else None

    @property
    def first_name(self) -> str:
        return signal_name(self.received[0]) if self.received else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        name = signal_name(signum)
        if len(self.received) == 1:
            self.first_at = time.monotonic()
            self.request_stop(f"{name} received")
            self.say(f"ionto: {name}: stopping safely: every barrel to retain, then the recording is closed")
        else:
            self.request_stop(f"{name} received again")
            self.say(f"ionto: {name} again: still stopping safely (waiting for the device to confirm the retain "
                     f"levels, at most {STOP_WAIT_S:g} s)")


def wait_for_stop(stopped: threading.Event, signals: StopSignals, *, poll_s: float = 0.2,
                  wait_after_signal_s: float = STOP_WAIT_S) -> bool:
    """Wait for ``stopped``; after a signal, at most ``wait_after_signal_s`` more.  True once
    the engine has stopped (safe levels written, recording closed)."""
    while not stopped.wait(poll_s):
        if signals.first_at is not None and time.monotonic() - signals.first_at > wait_after_signal_s:
            return stopped.is_set()
    return True


CHECK_BY_HAND = ("ionto: WARNING: the device did not confirm the safe levels: CHECK EVERY BARREL AT THE CURRENT "
                 "SOURCE BY HAND (then run 'ionto safe --device URL --rig RIG')")
