"""How the rig window ends (DESIGN.md §7): closing, a stop signal, a bug in a slot.

Every way the window stops leaves every barrel on retain: closing asks before stopping a
recording (unless a signal closes it), then asks the engine to stop — it puts every barrel on
retain, aborts the protocol, closes the recording and writes the safe levels — and waits, at
most ``win.stop_wait_s``, on the engine's ``stopped`` event; if the engine does not confirm,
it says so loudly (a banner and ``CHECK_BY_HAND`` on stderr).  The window keeps the state
(``stop_reason``, ``safe_confirmed``, ``stop_wait_s``); ``MainWindow.closeEvent``,
``stop_on_signal``, ``on_internal_error`` and ``guard_exceptions`` call these functions.

Thread: GUI thread, except ``stop_on_signal``, which runs on the main thread in the Python
signal handler (``QtStopSignals``) and only asks the engine to stop and queues the close.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QDialog

from app.gui.stop_paths import GuiExceptionGuard
from app.stopping import CHECK_BY_HAND

if TYPE_CHECKING:
    from PyQt6.QtGui import QCloseEvent

    from app.gui.main_window import MainWindow


def close_event(win: MainWindow, event: QCloseEvent) -> None:
    """Ask before stopping a recording (unless a signal closes the window); then every barrel
    to retain, the protocol aborted, acquisition stopped, and wait — at most ``stop_wait_s``,
    on the engine's ``stopped`` event — until the engine has written the safe levels and
    closed the recording.  If it does not confirm in time, say so loudly (banner and
    stderr) and stay open; a second close (or a signal) then closes anyway."""
    if win._closed:
        event.accept()
        return
    if not win.stop_reason and win.session.recording and not win.confirm(
            "Stop recording?", "A recording is running. Stop it, put every barrel on retain and quit?"):
        if not win.stop_reason:  # (a signal that came while asking closes anyway)
            event.ignore()
            return
    confirmed = stop_and_wait(win, win.stop_reason or "window closed")
    win.safe_confirmed = confirmed
    if not confirmed:
        print(CHECK_BY_HAND, file=sys.stderr, flush=True)
        win.banners.show_message(
            "error", "THE DEVICE DID NOT CONFIRM THE SAFE LEVELS: CHECK EVERY BARREL AT THE CURRENT SOURCE "
            "BY HAND", f"The engine did not confirm within {win.stop_wait_s:g} s that it wrote the retain "
            "levels and closed the recording. Then run 'ionto safe'.")
        if not win.stop_reason and not win._unconfirmed_shown:
            win._unconfirmed_shown = True  # stay open so the operator reads it; closing again quits
            event.ignore()
            return
    win._closed = True
    win.clock.stop()
    win.save_settings()
    win.session.disk.close()
    event.accept()


def stop_and_wait(win: MainWindow, reason: str) -> bool:
    """Ask the engine to stop safely and wait on its ``stopped`` event (bounded).  True once
    it has written the safe levels and closed the recording (or never ran)."""
    s = win.session
    if s.engine is not None and not s.engine.stopped.is_set():
        # the engine puts every barrel on retain and logs it, then closes the recording:
        # stopping the recording first would end the file on a barrel still ejecting
        if not win.stop_reason:  # (a signal has asked already)
            s.request_stop(reason)
        s.wait_stopped(win.stop_wait_s)
    return s.safe_confirmed


def stop_on_signal(win: MainWindow, reason: str) -> None:
    """A stop signal came (``QtStopSignals``; main thread, in the Python signal handler):
    the engine starts the retain at once, and the window closes without asking anything."""
    win.stop_reason = win.stop_reason or reason
    win.session.request_stop(reason)
    QTimer.singleShot(0, lambda: close_after_signal(win))


def close_after_signal(win: MainWindow) -> None:
    modal = QApplication.activeModalWidget()
    if modal is not None:  # a question is open (it would block the close): dismiss it first
        if isinstance(modal, QDialog):
            modal.reject()
        else:
            modal.close()
        QTimer.singleShot(0, lambda: close_after_signal(win))
        return
    if not win._closed:
        win.close()


def on_internal_error(win: MainWindow, summary: str, details: str = "") -> None:
    """A bug in the window's own code (``GuiExceptionGuard``): every barrel to retain, the
    protocol aborted, acquisition stopped (the engine closes the recording); the window
    stays open with one line saying so."""
    acquiring = win.session.engine is not None and not win.session.engine.stopped.is_set()
    win.session.request_stop(f"internal error in the rig window: {summary}")
    what = ("every barrel put on retain, the protocol aborted and acquisition stopped (the recording "
            "is closed)" if acquiring else "nothing was acquiring")
    win.banners.show_message("error", f"internal error: {summary} — {what}; please report it",
                             details or "Run 'ionto --debug gui' to see the traceback.")


def guard_exceptions(win: MainWindow, debug: bool = False) -> GuiExceptionGuard:
    """A ``sys.excepthook`` that sends an exception escaping a slot to ``on_internal_error``
    (instead of PyQt's abort).  Install it (``.install()`` or ``with``)."""
    return GuiExceptionGuard(lambda summary, details="": on_internal_error(win, summary, details),
                             lambda: win.session.request_stop("internal error"), debug=debug)
