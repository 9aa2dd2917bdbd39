"""The one bridge between the engine thread and the GUI thread.

The engine calls ``on_engine_event`` on its own thread; the bridge re-emits low-rate
events as Qt signals, which Qt delivers on the GUI thread (queued connection).  Samples
never cross here: the GUI pulls ring-buffer snapshots on a timer.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from daq.engine import BlockDone, EngineError, EngineEvent, EventLogged, StateChanged


class EngineBridge(QObject):
    state_changed = pyqtSignal(str, str)  # state, message
    error = pyqtSignal(str)
    event_logged = pyqtSignal(object)  # LogEvent
    progress = pyqtSignal(int, int, int)  # read index, gaps, lost samples

    def __init__(self) -> None:
        super().__init__()
        self._last_progress = -1

    def on_engine_event(self, ev: EngineEvent) -> None:
        """Engine thread.  Emits signals (thread-safe); block progress is thinned to ~10 Hz."""
        if isinstance(ev, StateChanged):
            self.state_changed.emit(str(ev.state), ev.message)
        elif isinstance(ev, EngineError):
            self.error.emit(ev.message)
        elif isinstance(ev, EventLogged):
            self.event_logged.emit(ev.event)
        elif isinstance(ev, BlockDone):
            if ev.read_index - self._last_progress >= 2000 or self._last_progress < 0:
                self._last_progress = ev.read_index
                self.progress.emit(ev.read_index, ev.gaps, ev.lost_samples)
