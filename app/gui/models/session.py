"""The session model: acquisition and recording state as the engine reports them.

The window shows "recording" only after the engine has published ``RecordingChanged(True)``
(the file exists and is being written) and "not recording" after ``RecordingChanged(False)``
or the engine's stop; asking for a recording changes nothing here.  A recorder that fails
at start therefore never shows as recording: the engine publishes an ``EngineError``
("recording not started: ...") and no ``RecordingChanged``.

Threads: ``on_engine_event`` runs on whichever thread calls it and emits there; the rig
window feeds the model through the bridge (``EngineBridge(session_model=...)``), which
calls ``on_state``/``on_recording``/``on_error`` on the GUI thread.
"""

from __future__ import annotations

from psygnal import Signal

from daq.engine import EngineError, EngineEvent, EngineState, RecordingChanged, StateChanged

ENDED = (str(EngineState.STOPPED), str(EngineState.ERROR))


class SessionModel:
    """Engine state, recording state and the last error, changed only by engine events.

    Events: ``state_changed(state, message)``, ``recording_changed(recording, path)``,
    ``error(message)``."""

    state_changed = Signal(str, str)
    recording_changed = Signal(bool, str)
    error = Signal(str)

    def __init__(self) -> None:
        self.state = "disconnected"
        self.message = ""
        self.recording = False
        self.recording_path = ""  # the file being written, or the last one closed
        self.last_error = ""

    @property
    def acquiring(self) -> bool:
        return self.state in (str(EngineState.IDLE), str(EngineState.RUNNING), str(EngineState.PAUSED))

    def on_engine_event(self, ev: EngineEvent) -> None:
        """Any engine event (other kinds are ignored)."""
        if isinstance(ev, StateChanged):
            self.on_state(str(ev.state), ev.message)
        elif isinstance(ev, RecordingChanged):
            self.on_recording(ev.recording, ev.path)
        elif isinstance(ev, EngineError):
            self.on_error(ev.message, ev.exc_type)

    def on_state(self, state: str, message: str = "") -> None:
        if (state, message) != (self.state, self.message):
            self.state, self.message = state, message
            self.state_changed.emit(state, message)
        if state in ENDED:  # a stopped engine records nothing: its shutdown closed the file
            self.on_recording(False, self.recording_path)

    def on_recording(self, recording: bool, path: str) -> None:
        if recording == self.recording and (path == self.recording_path or not recording):
            return
        self.recording = bool(recording)
        self.recording_path = path or self.recording_path
        self.recording_changed.emit(self.recording, self.recording_path)

    def on_error(self, message: str, exc_type: str = "") -> None:
        self.last_error = message
        self.error.emit(message)
