"""The one bridge between other threads and the GUI thread.

The engine calls ``on_engine_event`` on its own thread; the bridge re-emits low-rate
events as Qt signals, which Qt delivers on the GUI thread (queued connection).  Samples
never cross here: the GUI pulls ring-buffer snapshots on a timer.  Worker threads (device
connection, protocol dry runs) hand their results back with ``call_in_gui``.

Given a ``SessionModel``, the bridge feeds it the engine's state, recording and error
events on the GUI thread, so the session and recording state the window shows change only
on engine events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal

from app.gui.models.session import SessionModel
from daq.engine import (
    BlockDone,
    EngineError,
    EngineEvent,
    EngineWarning,
    EventLogged,
    RecordingChanged,
    StateChanged,
)


class EngineBridge(QObject):
    state_changed = pyqtSignal(str, str)  # state, message
    error = pyqtSignal(str, str)  # message, exception type
    warning = pyqtSignal(str, str)  # message, source (low disk, a recovered overflow, ...)
    event_logged = pyqtSignal(object)  # LogEvent
    progress = pyqtSignal(int, int, int)  # read index, gaps, lost samples
    recording_changed = pyqtSignal(bool, str)  # recording, path: the engine started / closed the file
    _call = pyqtSignal(object)

    def __init__(self, session_model: SessionModel | None = None) -> None:
        super().__init__()
        self._last_progress = -1
        self._call.connect(self._run)
        self.session_model = session_model if session_model is not None else SessionModel()
        m = self.session_model  # slots run on the GUI thread (queued from the engine's)
        self.state_changed.connect(m.on_state)
        self.recording_changed.connect(m.on_recording)
        self.error.connect(m.on_error)

    def on_engine_event(self, ev: EngineEvent) -> None:
        """Engine thread.  Emits signals (thread-safe); block progress is thinned to ~10 Hz."""
        if isinstance(ev, StateChanged):
            self.state_changed.emit(str(ev.state), ev.message)
        elif isinstance(ev, EngineError):
            self.error.emit(ev.message, ev.exc_type)
        elif isinstance(ev, EngineWarning):
            self.warning.emit(ev.message, ev.source)
        elif isinstance(ev, EventLogged):
            self.event_logged.emit(ev.event)
        elif isinstance(ev, RecordingChanged):
            self.recording_changed.emit(ev.recording, ev.path)
        elif isinstance(ev, BlockDone):
            if ev.read_index < self._last_progress:  # a new engine started from 0
                self._last_progress = -1
            if ev.read_index - self._last_progress >= 2000 or self._last_progress < 0:
                self._last_progress = ev.read_index
                self.progress.emit(ev.read_index, ev.gaps, ev.lost_samples)

    def call_in_gui(self, fn: Callable[[], Any]) -> None:
        """Any thread: run ``fn()`` on the GUI thread (queued)."""
        self._call.emit(fn)

    def _run(self, fn: Callable[[], Any]) -> None:
        fn()

    def run_in_worker(self, work: Callable[[], Any], done: Callable[[Any, BaseException | None], None],
                      name: str = "ionto-worker") -> threading.Thread:
        """Run ``work()`` on a daemon thread; ``done(result, exception)`` then runs on the GUI thread."""

        def target() -> None:
            try:
                result = work()
            except Exception as exc:  # handed to the GUI as a banner, never lost
                self.call_in_gui(lambda exc=exc: done(None, exc))
                return
            self.call_in_gui(lambda: done(result, None))

        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        return t
