"""A live acquisition session for the GUI: device, engine, detector and display ring.

Plain Python (no Qt), so it is testable headless.  The GUI owns one and pulls snapshots.

Thread: ``start``/``stop``/``submit`` from any thread (usually the GUI thread); the engine
runs on its own thread; ``snapshot``/``spikes`` may be called from any thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from analysis.detect import StreamingDetector
from app.session import open_device
from daq.engine import Command, Engine, EngineEvent, EngineState
from daq.rig import RigConfig
from daq.ring import DisplaySink
from daq.types import ChannelKind, StreamInfo


class LiveSession:
    def __init__(self, device_url: str = "sim", rig_path: str | os.PathLike[str] | None = None,
                 seed: int | None = None, speed: float | None = 1.0, display_s: float = 120.0):
        self.device_url = device_url
        self.rig_path = rig_path
        self.seed = seed
        self.speed = speed
        self.display_s = display_s
        self.engine: Engine | None = None
        self.display: DisplaySink | None = None
        self.detector: StreamingDetector | None = None
        self.rig: RigConfig | None = None
        self._listeners: list[Callable[[EngineEvent], None]] = []

    def subscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        """``callback`` runs on the engine thread."""
        self._listeners.append(callback)

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.state in (EngineState.RUNNING, EngineState.PAUSED)

    def start(self) -> None:
        if self.running:
            return
        device, rig = open_device(self.device_url, self.rig_path, seed=self.seed, speed=self.speed)
        self.rig = rig
        self.display = DisplaySink(self.display_s)
        self.detector = StreamingDetector()
        self.engine = Engine(device, rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s,
                             sinks=[self.detector, self.display], online=self.detector)
        for cb in self._listeners:
            self.engine.subscribe(cb)
        self.engine.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.engine is not None:
            self.engine.stop(timeout_s)

    def submit(self, command: Command) -> None:
        if self.engine is None:
            raise RuntimeError("not running")
        self.engine.submit(command)

    @property
    def stream(self) -> StreamInfo | None:
        return self.display.stream if self.display is not None else None

    def electrode_snapshot(self, seconds: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(time s, electrode µV) of the last ``seconds`` of the first electrode."""
        if self.display is None or self.display.ring is None or self.stream is None:
            return None
        st = self.stream
        ch = next((i for i, c in enumerate(st.channels) if c.kind == ChannelKind.ELECTRODE), 0)
        start, raw = self.display.ring.snapshot(int(seconds * st.rate_hz))
        if len(raw) == 0:
            return None
        uV = st.to_physical(raw[:, ch], ch) * 1e6
        t = (start + np.arange(len(uV))) / st.rate_hz
        return t, uV

    def spike_times(self, since_s: float = 0.0) -> np.ndarray:
        if self.detector is None or self.stream is None:
            return np.zeros(0)
        return self.detector.recent_spikes(int(since_s * self.stream.rate_hz)) / self.stream.rate_hz
