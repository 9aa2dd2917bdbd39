"""The rig window's ways out that no button starts: a signal, and a bug in the GUI's code.

``QtStopSignals``: SIGINT, SIGTERM and SIGHUP while Qt's event loop runs.  Python runs a
signal handler only when the interpreter gets control, which Qt's C++ loop may not give it
for a long time; ``signal.set_wakeup_fd`` makes the C-level handler write a byte to a socket
that a ``QSocketNotifier`` watches, so Qt wakes up, calls into Python, and the Python handler
(``app.stopping.StopSignals``) runs at once.  The handler only asks: the engine starts the
retain right away, and the window closes without asking anything (DESIGN.md §7).

``GuiExceptionGuard``: PyQt6 aborts the process (``qFatal``) when an exception escapes a slot
and ``sys.excepthook`` is Python's own — with barrels possibly ejecting and the file open.
The guard's hook instead puts every barrel on retain, aborts the protocol and stops
acquisition (the engine closes the recording), and lets the window say so and stay open.

Thread: the GUI (main) thread.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PyQt6.QtCore import QObject, QSocketNotifier

from app.stopping import STOP_SIGNALS, StopSignals

log = logging.getLogger(__name__)


class QtStopSignals(QObject):
    """While active (a context manager, on the main thread), the stop signals call
    ``on_signal(reason)`` promptly even while Qt's event loop runs.  ``stops.received``,
    ``exit_status`` (128 + the first signal) and ``first_name`` are ``StopSignals``'."""

    def __init__(self, on_signal: Callable[[str], None], say: Callable[[str], None] | None = None,
                 signals: tuple[int, ...] = STOP_SIGNALS):
        super().__init__()
        self.stops = StopSignals(on_signal, say=say, signals=signals)
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._notifier = QSocketNotifier(self._rsock.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self._old_fd: int | None = None

    def __enter__(self) -> QtStopSignals:
        self._old_fd = signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)
        self.stops.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stops.__exit__(*exc)
        if self._old_fd is not None:
            signal.set_wakeup_fd(self._old_fd)
            self._old_fd = None
        self._notifier.setEnabled(False)
        self._rsock.close()
        self._wsock.close()

    def _drain(self) -> None:
        """GUI thread: Qt saw the wakeup byte.  By the time this Python code runs, Python has
        run the signal's handler; only the bytes are left to read."""
        try:
            while self._rsock.recv(64):
                pass
        except (BlockingIOError, OSError):
            pass

    @property
    def received(self) -> list[int]:
        return self.stops.received

    @property
    def exit_status(self) -> int | None:
        return self.stops.exit_status

    @property
    def first_name(self) -> str:
        return self.stops.first_name


def describe(exc: BaseException) -> str:
    """One line: the exception's type and message, and where it was raised."""
    where = ""
    tb = exc.__traceback__
    if tb is not None:
        last = traceback.extract_tb(tb)[-1]
        where = f" (in {last.name}, {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}{where}"


class GuiExceptionGuard:
    """``sys.excepthook`` for the rig window (a context manager; ``install``/``uninstall``).

    ``on_error(summary, details)`` is called on the GUI thread with a one-line summary and
    the traceback (or '' unless ``debug``); it must make the rig safe.  If it fails itself,
    ``fallback()`` (which must only ask the engine to stop) runs and one line goes to stderr."""

    def __init__(self, on_error: Callable[[str, str], None], fallback: Callable[[], None], debug: bool = False):
        self.on_error = on_error
        self.fallback = fallback
        self.debug = debug
        self.errors: list[str] = []
        self._old: Callable[..., object] | None = None
        self._busy = False

    def install(self) -> GuiExceptionGuard:
        if self._old is None:
            self._old = sys.excepthook
            sys.excepthook = self.hook
        return self

    def uninstall(self) -> None:
        if self._old is not None and sys.excepthook == self.hook:
            sys.excepthook = self._old
        self._old = None

    __enter__ = install

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def hook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if exc.__traceback__ is None and tb is not None:
            exc = exc.with_traceback(tb)
        summary = describe(exc)
        full = "".join(traceback.format_exception(exc_type, exc, tb))
        self.errors.append(summary)
        log.error("internal error in the rig window: %s", summary)
        log.debug("internal error in the rig window:\n%s", full)
        if self._busy:  # the handler itself failed: do not recurse
            self._last_resort(summary)
            return
        self._busy = True
        try:
            self.on_error(summary, full if self.debug else "")
        except BaseException as again:  # the error handler has a bug too: still make the rig safe
            log.debug("the rig window's error handler failed", exc_info=again)
            self._last_resort(summary)
        finally:
            self._busy = False

    def _last_resort(self, summary: str) -> None:
        try:
            self.fallback()
        finally:
            print(f"ionto gui: internal error: {summary}; every barrel asked to retain and acquisition to stop",
                  file=sys.stderr, flush=True)
