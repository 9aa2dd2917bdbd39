"""The engine's recording slot: the recorder that is the first (critical) sink, if any.

A recording may start and stop while acquisition runs (the GUI); ``ionto run`` gives the
engine its recorder before it starts.  A recorder that cannot start is reported and the run
goes on unrecorded; the slot holds a recorder only once it has started, so what the engine
publishes (``RecordingChanged``) is the truth about the file.

Thread: the engine thread (``path`` and ``committed_samples`` from any thread).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daq.engine_api import EngineError, RecorderSink, RecordingChanged
from daq.errors import RecordingError
from daq.types import EventKind, LogEvent

if TYPE_CHECKING:
    from daq.engine import Engine


class RecordingSlot:
    def __init__(self, engine: Engine, recorder: RecorderSink | None):
        self._e = engine
        self.recorder = recorder  # given at construction: started in ``open_initial``

    @property
    def path(self) -> str | None:
        rec = self.recorder
        return None if rec is None else str(getattr(rec, "path", "")) or None

    @property
    def committed_samples(self) -> int:
        return int(getattr(self.recorder, "committed_samples", 0))

    def _start_recorder(self, recorder: RecorderSink) -> None:
        e = self._e
        assert e.stream is not None
        if e.has_truth:
            recorder.on_truth_metadata(e.device.truth_metadata())
        recorder.start(e.stream)

    def open_initial(self) -> None:
        """The recorder the engine was built with: it must start, or the run does not."""
        if self.recorder is None:
            return
        self._start_recorder(self.recorder)
        self.recorder.on_events([LogEvent(0, EventKind.RECORDING_START)])
        self._e.publish(RecordingChanged(True, self.path or ""))

    def start(self, recorder: RecorderSink) -> None:
        """A recording started while acquisition runs; if it cannot start, the run goes on."""
        e = self._e
        if self.recorder is not None:
            raise ValueError("a recording is already running; stop it first")
        try:
            self._start_recorder(recorder)
        except (RecordingError, OSError) as exc:
            e.publish(EngineError(f"recording not started: {exc}", type(exc).__name__))
            return
        self.recorder = recorder
        recorder.on_events([LogEvent(e.read_index, EventKind.RECORDING_START),
                            *e.state_events(e.read_index, "at recording start")])
        e.publish(RecordingChanged(True, self.path or ""))

    def stop(self) -> None:
        """Close the recording; acquisition goes on."""
        e = self._e
        if self.recorder is None:
            return
        rec, self.recorder = self.recorder, None
        path = str(getattr(rec, "path", ""))
        try:
            rec.on_events([LogEvent(e.read_index, EventKind.RECORDING_STOP)])
            rec.stop()
        except RecordingError as exc:
            e.publish(EngineError(f"the recording did not close cleanly: {exc}", type(exc).__name__))
        e.publish(RecordingChanged(False, path, int(getattr(rec, "committed_samples", 0))))
