"""The rig window: menus, device bar, the safety strip, traces, ratemeter with ejection bars,
barrels, protocol, recording with a live dose–response; replay of a recorded file through the
same views.

Layout (1280×720 to 4K): the safety strip — every barrel's state and current, ALL TO RETAIN
(Esc) — is a fixed bar at the top of the central area, where no dock, splitter or scroll area
can hide it; docks can be moved, tabbed and closed but not floated (a floating dock could cover
the strip).  No panel asks for more width than a 1280-px screen has (long texts wrap or elide),
and the window opens sized to the screen's available area, or where it was last (QSettings),
pulled back onto the screen if that no longer fits.

Thread: everything here runs on the GUI thread.  Engine events arrive through the
``EngineBridge`` signals; samples are pulled from the display ring by the frame timer
(drawn as soon as a block is in, else every ``frame_ms``, ~65 Hz); opening a device and dry-running a protocol run on worker threads.
Nothing here waits on the device or the disk, except closing: the window then waits (bounded)
on the engine's ``stopped`` event, so that it goes away only once every barrel is on retain and
the recording is closed (DESIGN.md §7).  A signal (SIGINT, SIGTERM, SIGHUP) closes it without
asking anything; a bug in a slot puts the rig in a safe state and leaves the window open to say
so (``app.gui.stop_paths``).  Recording state changes only on the engine's ``RecordingChanged``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRect, QSettings, Qt, QTimer, QtMsgType, qInstallMessageHandler
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.gui import recording_actions, replay_bar, trial_view, workspace_actions
from app.gui.banner import BannerArea
from app.gui.barrel_panel import BarrelPanel
from app.gui.bridge import EngineBridge
from app.gui.device_bar import DeviceBar
from app.gui.layout_report import fit_rect
from app.gui.menus import EscapeEverywhere, KeySheet, build_menus
from app.gui.models.barrels import BarrelModel
from app.gui.models.protocol import LoadResult, ProtocolModel, load
from app.gui.models.raster import RateModel, spike_waveforms
from app.gui.models.recording import DoseResponseModel
from app.gui.models.traces import TraceModel
from app.gui.palette import barrel_colour, channel_colours
from app.gui.protocol_panel import ProtocolPanel
from app.gui.raster_view import RateView
from app.gui.recording_panel import DoseResponseView, RecordingPanel
from app.gui.replay_bar import ReplayBar
from app.gui.safety_strip import SafetyStrip
from app.gui.stop_paths import GuiExceptionGuard, QtStopSignals
from app.gui.traces_view import TracesView
from app.gui.trial_view import TrialView
from app.live import LiveSession
from app.session import resolve_rig
from app.stopping import CHECK_BY_HAND, STOP_WAIT_S
from daq.engine import Abort, AddMark, EngineCommand, Pause, Resume, RetainAll
from daq.errors import IontoError
from daq.types import ChannelKind, EventKind, LogEvent

if TYPE_CHECKING:
    from app.gui.models.replay import ReplayControl
    from app.gui.models.trials import TrialModel
    from app.gui.workspace import Workspace

log = logging.getLogger(__name__)
FRAME_MS = 15  # the frame pace between blocks: ~65 Hz asked, so that ≥ 60 frames/s are drawn
POLL_MS = 5  # how often the frame timer looks for new samples (a cheap index comparison)
GUI_BLOCK_S = 0.02  # engine block of a rig-window session when the rig file sets none (50 ms otherwise)
SLOW_EVERY = 6  # barrels, status, protocol progress: every 6th frame (~10 Hz)
RATE_EVERY = 15  # ratemeter, raster, waveforms: every 15th frame (~4 Hz)
DOCK_FRACTION = 0.40  # of the window's width, for the docks on first show (no saved layout)
STEP_KINDS = {EventKind.STEP: "step", EventKind.PAUSE: "pause", EventKind.RESUME: "resume",
              EventKind.ABORT: "abort", EventKind.PROTOCOL_START: "start", EventKind.PROTOCOL_END: "end"}
CURRENT_KINDS = (EventKind.EJECT, EventKind.RETAIN, EventKind.OFF, EventKind.CURRENT)


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class MainWindow(QMainWindow):
    def __init__(self, session: LiveSession, settings: QSettings | None = None, frame_ms: int = FRAME_MS):
        super().__init__()
        pg.setConfigOptions(background="w", foreground="k", antialias=False)
        self.session = session
        self.settings = settings if settings is not None else QSettings("ionto", "ionto-rig")
        self.confirm: Callable[[str, str], bool] = lambda title, text: _confirm(self, title, text)
        self.bridge = EngineBridge()
        session.subscribe(self.bridge.on_engine_event)
        self.setWindowTitle("ionto — microiontophoresis rig")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        # models that exist once connected (rebuilt on every connection)
        self.trace_model: TraceModel | None = None
        self.rate_model: RateModel | None = None
        self.barrel_model: BarrelModel | None = None
        self.dose_model: DoseResponseModel | None = None
        self.protocol_model = ProtocolModel(1.0)
        self._bound = False
        self._reingest = False

        # device bar
        self.device_bar = DeviceBar()
        self.device_bar.set_url(session.device_url)
        self.device_bar.set_speed(session.speed)
        if session.rig_path:
            self.device_bar.rig_path.setText(str(session.rig_path))
        tb = QToolBar("device")
        tb.setObjectName("device_toolbar")
        tb.setMovable(False)
        tb.addWidget(self.device_bar)
        self.addToolBar(tb)
        self.device_bar.connect_requested.connect(self.connect_device)
        self.device_bar.disconnect_requested.connect(self.disconnect_device)

        # central: the safety strip (fixed, first), banners, traces over the ratemeter
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(2, 2, 2, 2)
        self.safety = SafetyStrip()
        self.safety.retain_all.clicked.connect(self.all_retain)
        cl.addWidget(self.safety)
        self.banners = BannerArea()
        cl.addWidget(self.banners)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.traces = TracesView()
        self.rates = RateView()
        self.splitter.addWidget(self.traces)
        self.splitter.addWidget(self.rates)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        cl.addWidget(self.splitter, 1)
        self.replay_bar = ReplayBar()  # the overview and seek buttons, shown while replaying
        self.replay_bar.hide()
        cl.addWidget(self.replay_bar)
        self.replay_control: ReplayControl | None = None
        self.setCentralWidget(central)
        self.traces.window_changed.connect(self._on_window_changed)
        self.traces.threshold_dragged.connect(self.set_threshold)
        self.traces.auto.clicked.connect(self.auto_threshold)

        # docks
        self.barrels = BarrelPanel()
        self.barrels.command.connect(self.submit)
        self.barrels.error.connect(lambda m: self.banners.show_message("warning", m))
        self.protocol_panel = ProtocolPanel(self.protocol_model)
        self.protocol_panel.open_requested.connect(self.open_protocol)
        self.protocol_panel.run_requested.connect(self.run_protocol)
        self.protocol_panel.pause_requested.connect(lambda: self.submit(Pause()))
        self.protocol_panel.resume_requested.connect(lambda: self.submit(Resume()))
        self.protocol_panel.abort_requested.connect(lambda: self.submit(Abort()))
        self.recording_panel = RecordingPanel(str(self.session.disk.directory))
        self.recording_panel.start_requested.connect(self.start_recording)
        self.recording_panel.stop_requested.connect(self.stop_recording)
        self.recording_panel.mark_requested.connect(lambda text: self.submit(AddMark(text)))
        self.recording_panel.note_added.connect(partial(recording_actions.add_note, self))
        self.dose_view = DoseResponseView()
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.barrel_dock = self._dock("Barrels", self.barrels, right)
        self.protocol_dock = self._dock("Protocol", self.protocol_panel, right, scroll=False)
        self.recording_dock = self._dock("Recording", self.recording_panel, right)
        self.dose_dock = self._dock("Dose–response", self.dose_view, right, scroll=False)
        self.trial_view = TrialView()  # shown when the device reports its first trial (issue 17)
        self.trial_dock = self._dock("Trials", self.trial_view, right, scroll=False)
        self.trial_model: TrialModel | None = None
        self.docks = [self.barrel_dock, self.protocol_dock, self.recording_dock, self.dose_dock, self.trial_dock]
        self.trial_dock.hide()  # until the first trial; then a tab beside the dose-response (tabified
        # here, before the first show, it fixed the window at its minimum width, wider than a small screen)
        self.tabifyDockWidget(self.protocol_dock, self.recording_dock)
        self.protocol_dock.raise_()
        self._default_state = self.saveState()  # View > Reset the layout

        # menus and keys (Esc = every barrel to retain and F2 = mark work whatever has the focus)
        self.menus = build_menus(self)
        self.escape_filter = EscapeEverywhere(self.all_retain, self)
        QApplication.instance().installEventFilter(self.escape_filter)
        self.key_sheet: KeySheet | None = None
        self.current_max_nA: dict[str, float] = {}  # per barrel: largest |current| commanded or planned
        self.workspace: Workspace | None = None  # applied once connected (File > Load, --workspace)
        self.workspace_name: str | None = None
        self._manual_threshold_V: float | None = None  # a threshold set by hand (None: automatic k·σ)

        self.bridge.state_changed.connect(self._on_state)
        self.bridge.error.connect(self._on_engine_error)
        self.bridge.warning.connect(self._on_engine_warning)
        self.bridge.event_logged.connect(self._on_log_event)

        self.bridge.recording_changed.connect(partial(recording_actions.on_recording_changed, self))

        # stop paths: how the window ends (closeEvent, stop_on_signal, on_internal_error)
        self.stop_wait_s = STOP_WAIT_S  # how long closing waits for the engine to confirm the safe levels
        self.stop_reason = ""  # why the window is being closed without asking (a signal), if it is
        self.safe_confirmed: bool | None = None  # after closing: did the engine confirm the safe levels?
        self._closed = False
        self._unconfirmed_shown = False
        # what ``ionto gui --record/--protocol`` asks for once acquisition runs
        self.autostart_record: str | None = None
        self.autostart_protocol: str | None = None
        self._autostarted = False

        self.frame_ms = frame_ms
        self._last_frame_s = 0.0
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(min(POLL_MS, frame_ms))
        self.timer.timeout.connect(self._tick)
        self.frames = 0
        self.last_events: list[LogEvent] = []
        self._restore_settings()

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, scroll: bool = True) -> QDockWidget:
        """A dock for a panel; form-like panels scroll when the dock is small, plots just shrink."""
        d = QDockWidget(title, self)
        d.setObjectName(f"dock_{title.lower()}")
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        if scroll:
            area_widget = QScrollArea()
            area_widget.setWidgetResizable(True)
            area_widget.setWidget(widget)
            d.setWidget(area_widget)
        else:
            d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    # --- settings -------------------------------------------------------------------------------
    def available_geometry(self) -> QRect:
        """The screen area a window may use (without panels and docks of the desktop)."""
        screen = self.screen() or QApplication.primaryScreen()
        return screen.availableGeometry()

    def fit_to_screen(self) -> None:
        """Fill the available screen area (View > Fit the window to the screen)."""
        self.setGeometry(self.available_geometry())

    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if geo is None or not self.restoreGeometry(geo):
            self.fit_to_screen()  # first start: the whole available area, not a fixed size
        else:  # where it was last — pulled back onto this screen if it no longer fits
            self.setGeometry(fit_rect(self.geometry(), self.available_geometry()))
        state = s.value("window_state")
        self._layout_restored = state is not None and bool(self.restoreState(state))
        for key, widget in (("template", self.recording_panel.template),
                            ("directory", self.recording_panel.directory)):
            v = s.value(key)
            if isinstance(v, str) and v:
                widget.setText(v)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.setValue("template", self.recording_panel.template.text())
        s.setValue("directory", self.recording_panel.directory.text())
        s.sync()

    def showEvent(self, event) -> None:
        """First show without a saved layout: the docks take ``DOCK_FRACTION`` of the width."""
        super().showEvent(event)
        if not getattr(self, "_sized", False) and not self._layout_restored:
            self._sized = True
            self._size_docks()

    def _size_docks(self) -> None:
        self.resizeDocks([self.barrel_dock], [int(DOCK_FRACTION * self.width())], Qt.Orientation.Horizontal)
        h = self.height()
        self.resizeDocks([self.barrel_dock, self.protocol_dock, self.dose_dock],
                         [int(0.30 * h), int(0.36 * h), int(0.34 * h)], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """View > Reset the layout: the docks where they were at the first start."""
        self.restoreState(self._default_state)
        for d in self.docks:
            d.setVisible(True)
        self._size_docks()

    # --- connection -----------------------------------------------------------------------------
    def connect_device(self) -> None:
        """Open the device chosen in the device bar, on a worker thread."""
        if self.session.running:
            return
        self.session.device_url = self.device_bar.url()
        self.session.rig_path = self.device_bar.rig()
        self.session.speed = self.device_bar.speed_factor()
        self.device_bar.set_connecting()
        self.last_events = []  # nothing from a previous connection reaches the new models
        self.bridge.run_in_worker(self.session.connect, self._on_connect_done, name="ionto-connect")

    def start(self) -> None:
        """Connect (the first window's name; tests and ``ionto gui`` call it)."""
        self.connect_device()

    def _on_connect_done(self, _result: object, exc: BaseException | None) -> None:
        if exc is not None:
            self.device_bar.set_connected(False)
            msg = str(exc) if isinstance(exc, IontoError) else f"{type(exc).__name__}: {exc}"
            self.banners.show_message("error", f"could not connect to {self.session.device_url}", msg)

    def disconnect_device(self) -> None:
        if self.session.recording and not self.confirm(
                "Stop recording?", "A recording is running. Stop it and disconnect?"):
            return
        # every barrel to retain, the protocol aborted; the engine logs the retain, then closes
        # the recording and writes the safe levels; 'stopped' arrives by signal
        self.session.request_stop("disconnected")

    def stop(self) -> None:
        self.disconnect_device()

    def _show_band_note(self, note: str) -> None:
        """A rate too low for the spike band: the band the traces and the detector use instead,
        kept in the status bar (state messages come and go beside it)."""
        from PyQt6.QtWidgets import QLabel

        label = getattr(self, "_band_label", None)
        if label is None:
            label = self._band_label = QLabel()
            label.setObjectName("band_note")
            self.statusBar().addPermanentWidget(label)
        label.setText(note)
        label.setToolTip(note)
        label.setVisible(bool(note))

    def _bind(self) -> None:
        st = self.session.stream
        rig = self.session.rig
        if st is None or rig is None:
            return
        pipette = rig.pipette
        colour_lanes = {b.name: i for i, b in enumerate(pipette.barrels)}  # barrel -> palette index
        self.trace_model = TraceModel(st, window_s=float(self.traces.window.currentData()),
                                      n_columns=max(200, self.traces.glw.width()),
                                      history_s=self.session.display_s,
                                      limits_nA={b.name: b.max_eject_nA for b in pipette.barrels})
        elec = next((i for i, c in enumerate(st.channels) if c.kind == ChannelKind.ELECTRODE), 0)
        if self.session.detector is not None and getattr(self.session.detector, "ch", None) is not None:
            elec = self.session.detector.ch
        self.trace_model.columns_reset.connect(self._on_columns_reset)
        self.traces.bind(self.trace_model, elec, channel_colours(st, pipette))
        self._show_band_note(self.trace_model.band_note)
        self.current_max_nA = {b.name: abs(b.safe_current_nA) for b in pipette.barrels}
        self._plan_current_ranges()
        det = self.session.detector
        self.traces.threshold_source = lambda: det.threshold if det is not None else None
        self.traces.spike_source = self.session.spike_indices
        self.rate_model = RateModel(pipette, st.rate_hz)
        self.rates.bind(self.rate_model)
        if self.protocol_model.loaded is not None:
            self.rate_model.follow_protocol(self.protocol_model.loaded.duration_s)
        self.barrel_model = BarrelModel(pipette, st.rate_hz)
        self.barrels.bind(self.barrel_model, read_only=not self.session.can_eject)
        self.safety.bind(self.barrel_model, read_only=not self.session.can_eject)
        self.dose_model = DoseResponseModel(pipette, st.rate_hz)
        self._dose_spikes: tuple[np.ndarray, int, int] = (np.zeros(0, dtype=np.int64), 0, 0)
        self.dose_view.bind(self.dose_model, lambda: self._dose_spikes)
        trial_view.attach(self)  # (before the events that came before the stream: the first trials)
        self.protocol_model.rate_hz = st.rate_hz
        self.protocol_panel.colour_lanes = colour_lanes
        self.protocol_panel.connected = True
        self.protocol_panel.can_eject = self.session.can_eject
        self.dose_view.colour_lanes = colour_lanes
        self.recording_panel.set_recording(None)
        self.recording_panel.record_button.setEnabled(True)
        self.device_bar.set_connected(True, st)
        mode = "replay" if self.session.is_replay else ("acquiring" if self.session.can_eject else "input only")
        self.setWindowTitle(f"ionto — {self.session.device_url} ({mode})")
        if not self.session.can_eject:
            self.banners.show_message("info", f"{self.session.device_url}: no analog outputs — barrels are "
                                      "shown read-only, protocols cannot run")
        for ev in self.last_events:  # events that arrived before the stream was known
            self._dispatch(ev)
        self.last_events = []
        self._bound = True
        replay_bar.attach(self)
        if self.workspace is not None:
            self.apply_workspace(self.workspace)
        self.timer.start()
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
                self.banners.show_message("warning", f"{Path(self.autostart_protocol).name}: not started, because "
                                          "the recording did not start")
            self.open_protocol(self.autostart_protocol, run_when_loaded=run)

    # --- engine events (GUI thread, via the bridge) -----------------------------------------------
    def _on_state(self, state: str, message: str) -> None:
        if state in ("running", "paused") and not self._bound:
            self._bind()
        if state in ("stopped", "error"):
            self.timer.stop()
            self._bound = False
            self.device_bar.set_connected(False)
            self.safety.unbind()
            self.replay_bar.unbind()
            self.replay_control = None
            self.protocol_panel.connected = False
            self.protocol_panel.refresh(0)
            self.recording_panel.set_recording(None)
            self.recording_panel.record_button.setEnabled(False)
            if state == "error":
                self.banners.show_message("error", "acquisition stopped on an error; the barrels were set to "
                                          "their safe currents", message)
        self.statusBar().showMessage(f"{state} {message}".strip())

    def _on_engine_error(self, message: str, exc_type: str) -> None:
        level = "warning" if message.startswith("command refused") else "error"
        self.banners.show_message(level, message.split("\n")[0], f"{exc_type}: {message}" if exc_type else message)

    def _on_engine_warning(self, message: str, source: str) -> None:
        """GUI thread: the run goes on, but the operator must see it (low disk, lost samples)."""
        self.banners.show_message("warning", message.split("\n")[0], f"{source}: {message}" if source else message)

    def _on_log_event(self, ev: LogEvent) -> None:
        if not self._bound:
            self.last_events.append(ev)
            return
        self._dispatch(ev)

    def _dispatch(self, ev: LogEvent) -> None:
        for m in (self.barrel_model, self.rate_model, self.dose_model, self.trial_model):
            if m is not None:
                m.on_event(ev)
        self.protocol_model.on_event(ev)
        rate = self.session.stream.rate_hz if self.session.stream is not None else 1.0
        if ev.kind in CURRENT_KINDS and ev.barrel:
            self._note_current(ev.barrel, ev.current_nA)
            self._show_trace_bars(max(ev.sample_index, self.trace_model.end_index if self.trace_model else 0))
        ann = self.traces.annotations
        if ev.kind == EventKind.MARK:
            self.recording_panel.show_mark(ev.text, ev.sample_index / rate)
            if ann is not None:
                ann.add(ev.sample_index / rate, "mark", ev.text)
        if ev.kind in STEP_KINDS and ann is not None:
            ann.add(ev.sample_index / rate, STEP_KINDS[ev.kind], ev.text or STEP_KINDS[ev.kind])
        if ev.kind == EventKind.NOTE and ev.text:
            self.statusBar().showMessage(ev.text, 10000)
            if ann is not None:
                ann.add(ev.sample_index / rate, "note", ev.text)

    # --- commands -------------------------------------------------------------------------------
    def submit(self, cmd: EngineCommand) -> None:
        try:
            self.session.submit(cmd)
        except RuntimeError as exc:
            self.banners.show_message("warning", str(exc))

    def all_retain(self) -> None:
        """Esc: every barrel to its retaining current now."""
        if self.session.running and self.session.can_eject:
            self.session.submit(RetainAll())
            self.statusBar().showMessage("all barrels to retain", 5000)

    # --- current lanes: scaled to what each barrel is commanded ------------------------------------
    def _note_current(self, barrel: str, current_nA: float) -> None:
        if abs(current_nA) > self.current_max_nA.get(barrel, 0.0):
            self.current_max_nA[barrel] = abs(current_nA)
            self.traces.set_current_ranges(self.current_max_nA)

    def _plan_current_ranges(self) -> None:
        """The loaded protocol's currents widen the lanes before its first ejection."""
        loaded = self.protocol_model.loaded
        for blk in (loaded.blocks if loaded is not None else []):
            self.current_max_nA[blk.barrel] = max(self.current_max_nA.get(blk.barrel, 0.0), abs(blk.current_nA))
        self.traces.set_current_ranges(self.current_max_nA)

    # File > workspaces (app.gui.workspace_actions)
    def save_workspace_dialog(self) -> None:
        workspace_actions.save_workspace_dialog(self)

    def load_workspace_dialog(self) -> None:
        workspace_actions.load_workspace_dialog(self)

    def apply_workspace(self, ws: Workspace) -> None:
        """A workspace's settings on the window (the models' part once connected)."""
        workspace_actions.apply(self, ws)

    def set_threshold(self, threshold_phys: float | None) -> None:
        det = self.session.detector
        if det is not None:
            det.set_threshold(threshold_phys)
            self._manual_threshold_V = None if threshold_phys is None else abs(threshold_phys)

    def auto_threshold(self) -> None:
        det = self.session.detector
        if det is None or det.sigma is None:
            self.banners.show_message("info", "the noise is not estimated yet (the detector needs ~2 s of data)")
            return
        self.set_threshold(self.traces.k.value() * det.sigma)
        self.traces.set_threshold_line(det.threshold if det.threshold is not None else None)

    def _on_window_changed(self, window_s: float) -> None:
        if self.trace_model is not None:
            self.trace_model.set_window(window_s, self.traces.glw.width())  # -> columns_reset

    def _on_columns_reset(self) -> None:
        """The trace model rebuilt its columns (a new window length): re-read recent history."""
        self._reingest = True

    # --- recording (app.gui.recording_actions) -------------------------------------------------------
    def start_recording(self, path: str | os.PathLike[str] | None = None) -> None:
        recording_actions.start_recording(self, path)

    def stop_recording(self) -> None:
        self.session.stop_recording()
        recording_actions.show_state(self)

    # --- protocol ----------------------------------------------------------------------------------
    def open_protocol(self, path: str, run_when_loaded: bool = False) -> None:
        """Load and dry-run a protocol on a worker thread; the panel shows the result (and,
        with ``run_when_loaded``, a protocol that passed starts at once)."""
        try:
            rig = self.session.rig or resolve_rig(self.device_bar.url(), self.device_bar.rig())
        except IontoError as exc:
            self.banners.show_message("error", "connect first, or choose a rig file, to check a protocol", str(exc))
            return
        self.protocol_panel.show_loading(path)

        def done(result: LoadResult | None, exc: BaseException | None) -> None:
            if exc is not None or result is None:
                self.banners.show_message("error", f"{path}: could not load", f"{type(exc).__name__}: {exc}")
                return
            self.protocol_panel.show_loaded(result)
            self._plan_current_ranges()
            if self.rate_model is not None:
                self.rate_model.follow_protocol(result.duration_s)
            if not result.ok:
                self.banners.show_message("warning", f"{Path(path).name}: the protocol is not valid",
                                          "\n".join(result.messages))
            elif run_when_loaded and not self.stop_reason:
                self.run_protocol()

        self.bridge.run_in_worker(lambda: load(path, rig.pipette), done, name="ionto-dry-run")

    def run_protocol(self) -> None:
        loaded = self.protocol_model.loaded
        if loaded is None or loaded.plan is None:
            return
        try:
            self.session.start_protocol(loaded.plan)
        except IontoError as exc:
            self.banners.show_message("error", "could not start the protocol", str(exc))

    # --- drawing (GUI thread, each frame) -------------------------------------------------------------
    def _tick(self) -> None:
        """The frame timer (every ``POLL_MS``): draw as soon as new samples are in the display
        ring — a block then waits for no frame period before it is on screen — and otherwise
        at the frame pace (``frame_ms``), which keeps the view scrolling between blocks."""
        now = time.monotonic()
        m = self.trace_model
        fresh = m is None or m.next_index is None or self._reingest or self.session.end_index > m.next_index
        if not fresh and now - self._last_frame_s < self.frame_ms / 1000.0:
            return
        self._last_frame_s = now
        self.refresh()

    def refresh(self) -> None:
        m = self.trace_model
        if m is None:
            return
        cap = int(m.needs_history_s * m.rate_hz)  # after a stall, catch up with at most this much
        if m.next_index is None or self._reingest:
            start = max(0, self.session.end_index - int(m.needs_history_s * m.rate_hz))
            self._reingest = False
        else:
            start = m.next_index
        got = self.session.read_since(start, cap)
        if got is not None:
            m.ingest(*got)
        self.traces.refresh()
        self.frames += 1
        now = m.end_index
        if self.frames % SLOW_EVERY == 0:
            self._refresh_slow(now)
        if self.frames % RATE_EVERY == 0:
            self._refresh_rates(now)

    def _refresh_slow(self, now: int) -> None:
        if self.barrel_model is not None:
            for name in self.barrel_model.update_monitors(self.session.monitor_currents(), now):
                self.banners.show_message("error", f"barrel {name}: {self.barrel_model.row(name).alarm}",
                                          "The monitored current does not follow the command: the current "
                                          "source is at its compliance voltage (a blocked or broken barrel).")
            self.barrels.refresh(now)
            self.safety.refresh()
        self.device_bar.show_status(self.session.status())
        if self.replay_control is not None:
            self.replay_control.refresh()  # -> the overview's position line and readout
        self.protocol_panel.refresh(now)

    def _refresh_rates(self, now: int) -> None:
        if self.rate_model is None:
            return
        span = int(self.rate_model.span_s * self.rate_model.rate_hz)
        spikes = self.session.spike_indices(max(0, now - span - int(60 * self.rate_model.rate_hz)))
        self.rates.refresh(spikes, now)
        self._show_trace_bars(now)
        self.traces.update_cursor_readout()
        snap = self.session.electrode_snapshot(1.0)
        if snap is not None:
            t, uV = snap
            start = round(t[0] * self.rate_model.rate_hz)
            self.rates.show_waveforms(*spike_waveforms(uV, start, spikes, self.rate_model.rate_hz))
        if self.dose_model is not None and self.frames % (RATE_EVERY * 4) == 0:
            keep = self.session.detector.keep_s if self.session.detector is not None else 0
            since = max(0, now - int(keep * self.rate_model.rate_hz))
            self._dose_spikes = (self.session.spike_indices(since), since, now)  # the fits' spikes
            self.dose_model.update(spikes, now, since)  # -> points_changed -> the view refits
            trial_view.refresh(self, now)

    def _show_trace_bars(self, now: int) -> None:
        """The ejections of the scroll-back history as bars on the traces (at once when a
        current changes, and with the ratemeter a few times a second)."""
        ann, rm = self.traces.annotations, self.rate_model
        if ann is None or rm is None or self.trace_model is None:
            return
        history = int(self.trace_model.history_s * rm.rate_hz)
        n_barrels = len(rm.pipette.barrels) if rm.pipette is not None else 0
        ann.show_bars([b for b in rm.visible_bars(now) if b[2] * rm.rate_hz >= now - history],
                      {i: barrel_colour(i) for i in range(n_barrels)})
        ann.prune(max(0.0, (now - history) / rm.rate_hz))

    # --- stop paths: closing, signals, a bug in a slot ----------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before stopping a recording (unless a signal closes the window); then every barrel
        to retain, the protocol aborted, acquisition stopped, and wait — at most ``stop_wait_s``,
        on the engine's ``stopped`` event — until the engine has written the safe levels and
        closed the recording.  If it does not confirm in time, say so loudly (banner and
        stderr) and stay open; a second close (or a signal) then closes anyway."""
        if self._closed:
            event.accept()
            return
        if not self.stop_reason and self.session.recording and not self.confirm(
                "Stop recording?", "A recording is running. Stop it, put every barrel on retain and quit?"):
            if not self.stop_reason:  # (a signal that came while asking closes anyway)
                event.ignore()
                return
        confirmed = self._stop_and_wait(self.stop_reason or "window closed")
        self.safe_confirmed = confirmed
        if not confirmed:
            print(CHECK_BY_HAND, file=sys.stderr, flush=True)
            self.banners.show_message(
                "error", "THE DEVICE DID NOT CONFIRM THE SAFE LEVELS: CHECK EVERY BARREL AT THE CURRENT SOURCE "
                "BY HAND", f"The engine did not confirm within {self.stop_wait_s:g} s that it wrote the retain "
                "levels and closed the recording. Then run 'ionto safe'.")
            if not self.stop_reason and not self._unconfirmed_shown:
                self._unconfirmed_shown = True  # stay open so the operator reads it; closing again quits
                event.ignore()
                return
        self._closed = True
        self.timer.stop()
        self.save_settings()
        self.session.disk.close()
        event.accept()

    def _stop_and_wait(self, reason: str) -> bool:
        """Ask the engine to stop safely and wait on its ``stopped`` event (bounded).  True once
        it has written the safe levels and closed the recording (or never ran)."""
        s = self.session
        if s.engine is not None and not s.engine.stopped.is_set():
            # the engine puts every barrel on retain and logs it, then closes the recording:
            # stopping the recording first would end the file on a barrel still ejecting
            if not self.stop_reason:  # (a signal has asked already)
                s.request_stop(reason)
            s.wait_stopped(self.stop_wait_s)
        return s.safe_confirmed

    def stop_on_signal(self, reason: str) -> None:
        """A stop signal came (``QtStopSignals``; main thread, in the Python signal handler):
        the engine starts the retain at once, and the window closes without asking anything."""
        self.stop_reason = self.stop_reason or reason
        self.session.request_stop(reason)
        QTimer.singleShot(0, self._close_after_signal)

    def _close_after_signal(self) -> None:
        modal = QApplication.activeModalWidget()
        if modal is not None:  # a question is open (it would block the close): dismiss it first
            if isinstance(modal, QDialog):
                modal.reject()
            else:
                modal.close()
            QTimer.singleShot(0, self._close_after_signal)
            return
        if not self._closed:
            self.close()

    def on_internal_error(self, summary: str, details: str = "") -> None:
        """A bug in the window's own code (``GuiExceptionGuard``): every barrel to retain, the
        protocol aborted, acquisition stopped (the engine closes the recording); the window
        stays open with one line saying so."""
        acquiring = self.session.engine is not None and not self.session.engine.stopped.is_set()
        self.session.request_stop(f"internal error in the rig window: {summary}")
        what = ("every barrel put on retain, the protocol aborted and acquisition stopped (the recording "
                "is closed)" if acquiring else "nothing was acquiring")
        self.banners.show_message("error", f"internal error: {summary} — {what}; please report it",
                                  details or "Run 'ionto --debug gui' to see the traceback.")

    def guard_exceptions(self, debug: bool = False) -> GuiExceptionGuard:
        """A ``sys.excepthook`` that sends an exception escaping a slot to ``on_internal_error``
        (instead of PyQt's abort).  Install it (``.install()`` or ``with``)."""
        return GuiExceptionGuard(self.on_internal_error, lambda: self.session.request_stop("internal error"),
                                 debug=debug)


QT_NOISE = ("propagateSizeHints",)  # the offscreen platform's notes on every window: nothing to act on


def _qt_message(kind: QtMsgType, _context: object, message: str) -> None:
    """Qt's own messages go to the log (stderr): warnings as warnings, known noise and
    debug/info at debug level (``ionto --debug``)."""
    if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        log.error("Qt: %s", message)
    elif kind == QtMsgType.QtWarningMsg and not any(n in message for n in QT_NOISE):
        log.warning("Qt: %s", message)
    else:
        log.debug("Qt: %s", message)


def run_gui(device_url: str = "sim", rig_path: str | os.PathLike[str] | None = None, seed: int | None = None,
            connect: bool = True, record: str | os.PathLike[str] | None = None,
            protocol: str | os.PathLike[str] | None = None, speed: float | None = 1.0, debug: bool = False,
            workspace: Workspace | None = None) -> int:
    """Open the rig window and run Qt's event loop.  Returns the exit status: 0, or 128 + the
    signal that closed the window (after one line on stderr saying how the barrels were left)."""
    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(LiveSession(device_url, rig_path, seed=seed, speed=speed, block_s=GUI_BLOCK_S))
    if workspace is not None:  # (the command line's device, rig and speed win: the session has them)
        win.apply_workspace(workspace)
        win.device_bar.set_url(device_url)
        win.device_bar.rig_path.setText(str(rig_path) if rig_path else "")
        win.device_bar.set_speed(speed)
    win.autostart_record = str(record) if record else None
    win.autostart_protocol = str(protocol) if protocol else None

    def say_again(text: str) -> None:  # the first signal's outcome is said once, at the end
        if len(signals.received) > 1:
            print(text, file=sys.stderr, flush=True)

    signals = QtStopSignals(win.stop_on_signal, say=say_again)
    with signals, win.guard_exceptions(debug):
        win.show()
        if connect:
            win.connect_device()
        status = app.exec()
    if not signals.received:
        return status
    name = signals.first_name
    engine = win.session.engine
    if win.safe_confirmed is False:
        pass  # closeEvent printed CHECK_BY_HAND: that is the line
    elif engine is None:
        print(f"ionto gui: stopped by {name} (nothing was acquiring)", file=sys.stderr, flush=True)
    else:
        rec = engine.recording_path
        closed = f", {rec} closed" if rec else ""
        print(f"ionto gui: stopped by {name}: every barrel on retain{closed}", file=sys.stderr, flush=True)
    return signals.exit_status or 1
