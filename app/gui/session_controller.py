"""The rig window's session controller: what the window does with the ``LiveSession`` —
connect and disconnect, the connection's models (made when acquisition first runs), the
engine's state and logged events handed to the models and views, the commands (eject,
retain, ALL TO RETAIN, marks, pause / resume / abort), recording and protocol actions and
the detection threshold.  ``MainWindow`` is only the layout; it delegates here.

Models and views (napari's split): ``ProtocolModel``, ``SessionModel`` and ``RateModel``
exist for the window's whole life (a protocol loads before any device; the ratemeter's bin
and span outlive connections: ``RateModel.reset`` on each) and their views take them in the
constructor.  The models that depend on the connection's stream — ``TraceModel``,
``BarrelModel``, ``DoseResponseModel``, ``TrialModel`` — are made anew on every connection
(``_bind``); the barrel panel, the safety strip, the dose-response and trial views are then
constructed with theirs (``MainWindow.show_connection_views``), and the ``TracePlot`` with
the ``TraceModel`` (its lanes and channel controls), which the trace view's frame shows in
its canvas (``TracesView.show_plot``: the frame's controls — window, freeze, k, threshold —
outlive connections).  Session and recording state change only on engine events: the
bridge feeds the ``SessionModel``, which the recording panel follows.

Thread: every method runs on the GUI thread — engine events arrive through the
``EngineBridge`` signals (queued from the engine thread); opening a device and dry-running a
protocol run on worker threads (``EngineBridge.run_in_worker``) and hand their results back
to the GUI thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.gui import menus, recording_actions, replay_bar, trial_view
from app.gui.bridge import EngineBridge
from app.gui.collector import freeze_long_lived
from app.gui.models.barrels import BarrelModel
from app.gui.models.protocol import LoadResult, ProtocolModel, load
from app.gui.models.raster import RateModel
from app.gui.models.recording import DoseResponseModel
from app.gui.models.traces import TraceModel
from app.gui.palette import channel_colours
from app.gui.trace_plot import TracePlot
from app.session import resolve_rig
from daq.engine import EngineCommand, RetainAll
from daq.errors import IontoError
from daq.types import ChannelKind, EventKind, LogEvent

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow
    from app.gui.models.replay import ReplayControl
    from app.gui.models.trials import TrialModel
    from app.live import LiveSession

STEP_KINDS = {EventKind.STEP: "step", EventKind.PAUSE: "pause", EventKind.RESUME: "resume",
              EventKind.ABORT: "abort", EventKind.PROTOCOL_START: "start", EventKind.PROTOCOL_END: "end"}
CURRENT_KINDS = (EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT)


def controller_attribute(name: str, settable: bool = False) -> property:
    """A ``MainWindow`` attribute that is the session controller's attribute ``name`` (the
    names the menus, the CLI, tests and the bench use on the window)."""
    def get(win: MainWindow) -> Any:
        return getattr(win.controller, name)

    def put(win: MainWindow, value: Any) -> None:
        setattr(win.controller, name, value)

    return property(get, put if settable else None, doc=f"The session controller's ``{name}``.")


def controller_method(name: str) -> Callable[..., Any]:
    """A ``MainWindow`` method that calls the session controller's method ``name``."""
    def call(win: MainWindow, *args: Any, **kwargs: Any) -> Any:
        return getattr(win.controller, name)(*args, **kwargs)

    call.__name__ = name
    call.__doc__ = f"The session controller's ``{name}``."
    return call


class SessionController:
    """The window's session: its models, the engine's events, the operator's commands."""

    def __init__(self, win: MainWindow, session: LiveSession):
        self.win = win
        self.session = session
        self.bridge = EngineBridge()  # feeds bridge.session_model (state, recording) on the GUI thread
        self.session_model = self.bridge.session_model
        session.subscribe(self.bridge.on_engine_event)
        # the window's whole life: protocols load before a connection; the ratemeter's bin and
        # span outlive connections (each connection resets it: its pipette and rate, no bars)
        self.protocol_model = ProtocolModel(1.0)
        self.rate_model = RateModel(None, 1.0)
        # the connection's models (made anew on every connection, in _bind)
        self.trace_model: TraceModel | None = None
        self.barrel_model: BarrelModel | None = None
        self.dose_model: DoseResponseModel | None = None
        self.trial_model: TrialModel | None = None
        self.replay_control: ReplayControl | None = None
        self.bound = False  # the connection's models exist and follow the engine's events
        self.last_events: list[LogEvent] = []  # logged before the stream was known
        self.current_max_nA: dict[str, float] = {}  # per barrel: largest |current| commanded or planned
        self.manual_threshold_V: float | None = None  # a threshold set by hand (None: automatic k·σ)
        # what ``ionto gui --record/--protocol`` asks for once acquisition runs
        self.autostart_record: str | None = None
        self.freeze_collector = False  # ionto gui: freeze long-lived objects once acquisition runs (app.gui.collector)
        self.autostart_protocol: str | None = None
        self._autostarted = False
        b = self.bridge
        b.state_changed.connect(self._on_state)
        b.error.connect(self._on_engine_error)
        b.warning.connect(self._on_engine_warning)
        b.event_logged.connect(self._on_log_event)
        b.recording_changed.connect(self._on_recording_changed)

    # --- connection -----------------------------------------------------------------------------
    def connect_device(self) -> None:
        """Open the device chosen in the device bar, on a worker thread."""
        s, bar = self.session, self.win.device_bar
        if s.running:
            return
        s.device_url, s.rig_path, s.speed = bar.url(), bar.rig(), bar.speed_factor()
        bar.set_connecting()
        self.last_events = []  # nothing from a previous connection reaches the new models
        self.bridge.run_in_worker(s.connect, self._on_connect_done, name="ionto-connect")

    def _on_connect_done(self, _result: object, exc: BaseException | None) -> None:
        if exc is not None:
            self.win.device_bar.set_connected(False)
            msg = str(exc) if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}"
            self.win.banners.show_message("error", f"could not connect to {self.session.device_url}", msg)

    def disconnect_device(self) -> None:
        if self.session.recording and not self.win.confirm(
                "Stop recording?", "A recording is running. Stop it and disconnect?"):
            return
        # every barrel to retain, the protocol aborted; the engine logs the retain, then closes
        # the recording and writes the safe levels; 'stopped' arrives by signal
        self.session.request_stop("disconnected")

    def _bind(self) -> None:
        """Acquisition runs: the connection's models, and the views that show them."""
        win, s = self.win, self.session
        st, rig = s.stream, s.rig
        if st is None or rig is None:
            return
        pipette = rig.pipette
        colour_lanes = {b.name: i for i, b in enumerate(pipette.barrels)}  # barrel -> palette index
        self.trace_model = TraceModel(st, window_s=float(win.traces.window.currentData()),
                                      n_columns=max(200, win.traces.glw.width()), history_s=s.display_s,
                                      limits_nA={b.name: b.max_eject_nA for b in pipette.barrels})
        elec = next((i for i, c in enumerate(st.channels) if c.kind == ChannelKind.ELECTRODE), 0)
        if s.detector is not None and getattr(s.detector, "ch", None) is not None:
            elec = s.detector.ch
        self.trace_model.columns_reset.connect(win.clock.on_columns_reset)
        det = s.detector
        win.traces.show_plot(TracePlot(self.trace_model, elec, channel_colours(st, pipette), win.traces.glw,
                                       threshold_source=lambda: det.threshold if det is not None else None,
                                       spike_source=s.spike_indices))
        menus.cursors_as_checked(win)
        win.show_band_note(self.trace_model.band_note)
        self.current_max_nA = {b.name: abs(b.safe_current_nA) for b in pipette.barrels}
        self.plan_current_ranges()
        self.rate_model.reset(pipette, st.rate_hz)  # -> stream_reset: the ratemeter starts empty
        if self.protocol_model.loaded is not None:
            self.rate_model.follow_protocol(self.protocol_model.loaded.duration_s)
        self.barrel_model = BarrelModel(pipette, st.rate_hz)
        self.dose_model = DoseResponseModel(pipette, st.rate_hz)
        self.trial_model = trial_view.make_model(s)  # (before the events that came before the stream)
        win.show_connection_views(read_only=not s.can_eject)
        self.protocol_model.rate_hz = st.rate_hz
        win.protocol_panel.colour_lanes = colour_lanes
        win.protocol_panel.connected = True
        win.protocol_panel.can_eject = s.can_eject
        win.device_bar.set_connected(True, st)
        mode = "replay" if s.is_replay else ("acquiring" if s.can_eject else "input only")
        win.setWindowTitle(f"ionto — {s.device_url} ({mode})")
        if not s.can_eject:
            win.banners.show_message("info", f"{s.device_url}: no analog outputs — barrels are "
                                     "shown read-only, protocols cannot run")
        for ev in self.last_events:  # events that arrived before the stream was known
            self._dispatch(ev)
        self.last_events = []
        self.bound = True
        replay_bar.attach(win)
        if win.workspace is not None:
            win.apply_workspace(win.workspace)
        win.clock.start()
        if self.freeze_collector:
            freeze_long_lived()
        self._autostart()

    def _autostart(self) -> None:
        """Once, when acquisition first runs: the recording and protocol given on the command line."""
        if self._autostarted:
            return
        self._autostarted = True
        if self.autostart_record:
            self.start_recording(self.autostart_record)
        if self.autostart_protocol:
            # a protocol asked to be recorded does not run unrecorded (it would spend the cell)
            run = not self.autostart_record or self.session.recording
            if not run:
                self.win.banners.show_message("warning", f"{Path(self.autostart_protocol).name}: not started, "
                                              "because the recording did not start")
            self.open_protocol(self.autostart_protocol, run_when_loaded=run)

    # --- engine events (GUI thread, via the bridge) -----------------------------------------------
    def _on_state(self, state: str, message: str) -> None:
        win = self.win
        if state in ("running", "paused") and not self.bound:
            self._bind()
        if state in ("stopped", "error"):
            win.clock.stop()
            self.bound = False
            win.device_bar.set_connected(False)
            win.safety.set_connected(False)
            if win.replay_bar is not None:  # the replay's bar stays, greyed: nothing to seek any more
                win.replay_bar.setEnabled(False)
            self.replay_control = None
            win.protocol_panel.connected = False
            win.protocol_panel.refresh(0)
            if state == "error":
                win.banners.show_message("error", "acquisition stopped on an error; the barrels were set to "
                                         "their safe currents", message)
        win.statusBar().showMessage(f"{state} {message}".strip())

    def _on_engine_error(self, message: str, exc_type: str) -> None:
        level = "warning" if message.startswith("command refused") else "error"
        self.win.banners.show_message(level, message.split("\n")[0], f"{exc_type}: {message}" if exc_type else message)

    def _on_engine_warning(self, message: str, source: str) -> None:
        """The run goes on, but the operator must see it (low disk, lost samples)."""
        self.win.banners.show_message("warning", message.split("\n")[0], f"{source}: {message}" if source else message)

    def _on_recording_changed(self, recording: bool, path: str) -> None:
        """The engine started or closed the file (the recording panel follows the session model)."""
        if not recording:
            self.win.statusBar().showMessage(f"saved {path}", 10000)

    def _on_log_event(self, ev: LogEvent) -> None:
        if not self.bound:
            self.last_events.append(ev)
            return
        self._dispatch(ev)

    def _dispatch(self, ev: LogEvent) -> None:
        """A logged event to every model, and the marks, steps, notes and bars on the traces."""
        win = self.win
        for m in (self.barrel_model, self.rate_model, self.dose_model, self.trial_model):
            if m is not None:
                m.on_event(ev)
        self.protocol_model.on_event(ev)
        rate = self.session.stream.rate_hz if self.session.stream is not None else 1.0
        if ev.kind in CURRENT_KINDS and ev.barrel:
            self._note_current(ev.barrel, ev.current_nA)
            win.clock.show_trace_bars(max(ev.sample_index, self.trace_model.end_index if self.trace_model else 0))
        ann = win.traces.plot_view.annotations if win.traces.plot_view is not None else None
        if ev.kind == EventKind.MARK:
            win.recording_panel.show_mark(ev.text, ev.sample_index / rate)
            if ann is not None:
                ann.add(ev.sample_index / rate, "mark", ev.text)
        if ev.kind in STEP_KINDS and ann is not None:
            ann.add(ev.sample_index / rate, STEP_KINDS[ev.kind], ev.text or STEP_KINDS[ev.kind])
        if ev.kind == EventKind.NOTE and ev.text:
            win.statusBar().showMessage(ev.text, 10000)
            if ann is not None:
                ann.add(ev.sample_index / rate, "note", ev.text)

    # --- commands -------------------------------------------------------------------------------
    def submit(self, cmd: EngineCommand) -> None:
        try:
            self.session.submit(cmd)
        except RuntimeError as exc:
            self.win.banners.show_message("warning", str(exc))

    def all_retain(self) -> None:
        """Esc: every barrel to its retaining current now."""
        if self.session.running and self.session.can_eject:
            self.session.submit(RetainAll())
            self.win.statusBar().showMessage("all barrels to retain", 5000)

    # --- current lanes: scaled to what each barrel is commanded ------------------------------------
    def _note_current(self, barrel: str, current_nA: float) -> None:
        if abs(current_nA) > self.current_max_nA.get(barrel, 0.0):
            self.current_max_nA[barrel] = abs(current_nA)
            self._show_current_ranges()

    def plan_current_ranges(self) -> None:
        """The loaded protocol's currents widen the lanes before its first ejection."""
        loaded = self.protocol_model.loaded
        for blk in (loaded.blocks if loaded is not None else []):
            self.current_max_nA[blk.barrel] = max(self.current_max_nA.get(blk.barrel, 0.0), abs(blk.current_nA))
        self._show_current_ranges()

    def _show_current_ranges(self) -> None:
        if self.win.traces.plot_view is not None:
            self.win.traces.plot_view.set_current_ranges(self.current_max_nA)

    # --- detection threshold ---------------------------------------------------------------------
    def set_threshold(self, threshold_phys: float | None) -> None:
        det = self.session.detector
        if det is not None:
            det.set_threshold(threshold_phys)
            self.manual_threshold_V = None if threshold_phys is None else abs(threshold_phys)

    def auto_threshold(self) -> None:
        det, traces = self.session.detector, self.win.traces
        if det is None or det.sigma is None:
            self.win.banners.show_message("info", "the noise is not estimated yet (the detector needs ~2 s of data)")
            return
        self.set_threshold(traces.k.value() * det.sigma)
        if traces.plot_view is not None:
            traces.plot_view.set_threshold_line(det.threshold if det.threshold is not None else None)

    def on_window_changed(self, window_s: float) -> None:
        if self.trace_model is not None:
            self.trace_model.set_window(window_s, self.win.traces.glw.width())  # -> columns_reset

    # --- recording (app.gui.recording_actions) -------------------------------------------------------
    def start_recording(self, path: str | os.PathLike[str] | None = None) -> None:
        recording_actions.start_recording(self.win, path)

    def stop_recording(self) -> None:
        self.session.stop_recording()

    # --- protocol ----------------------------------------------------------------------------------
    def open_protocol(self, path: str, run_when_loaded: bool = False) -> None:
        """Load and dry-run a protocol on a worker thread; the panel shows the result (and,
        with ``run_when_loaded``, a protocol that passed starts at once)."""
        win = self.win
        try:
            rig = self.session.rig or resolve_rig(win.device_bar.url(), win.device_bar.rig())
        except IontoError as exc:
            win.banners.show_message("error", "connect first, or choose a rig file, to check a protocol", str(exc))
            return
        win.protocol_panel.show_loading(path)

        def done(result: LoadResult | None, exc: BaseException | None) -> None:  # GUI thread
            if exc is not None or result is None:
                win.banners.show_message("error", f"{path}: could not load", f"{type(exc).__name__}: {exc}")
                return
            win.protocol_panel.show_loaded(result)
            self.plan_current_ranges()
            self.rate_model.follow_protocol(result.duration_s)
            if not result.ok:
                win.banners.show_message("warning", f"{Path(path).name}: the protocol is not valid",
                                         "\n".join(result.messages))
            elif run_when_loaded and not win.stop_reason:
                self.run_protocol()

        self.bridge.run_in_worker(lambda: load(path, rig.pipette), done, name="ionto-dry-run")

    def run_protocol(self) -> None:
        loaded = self.protocol_model.loaded
        if loaded is None or loaded.plan is None:
            return
        try:
            self.session.start_protocol(loaded.plan)
        except IontoError as exc:
            self.win.banners.show_message("error", "could not start the protocol", str(exc))
