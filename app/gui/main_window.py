"""The rig window: menus, device bar, the safety strip, traces, ratemeter with ejection bars,
barrels, protocol, recording with a live dose–response; replay of a recorded file through the
same views.

Layout (1280×720 to 4K): the safety strip — every barrel's state and current, ALL TO RETAIN
(Esc) — is a fixed bar at the top of the central area, where no dock, splitter or scroll area
can hide it; docks can be moved, tabbed and closed but not floated (a floating dock could cover
the strip).  No panel asks for more width than a 1280-px screen has (long texts wrap or elide),
and the window opens sized to the screen's available area, or where it was last (QSettings),
pulled back onto the screen if that no longer fits.

``MainWindow`` is the layout: it builds the panels and docks, and hands what it does with
the session to ``app.gui.session_controller.SessionController`` (connect, the connection's
models, engine events, commands, recording, protocols) and the drawing to
``app.gui.frame_clock.FrameClock`` (the frame timer).  The panels that show a connection's
model are constructed with it on every connection (``show_connection_views``); the trace
view is a frame built once, in which the controller shows each connection's ``TracePlot``
(``TracesView.show_plot``).

Thread: everything here runs on the GUI thread.  Engine events arrive through the
``EngineBridge`` signals (the controller's); samples are pulled from the display ring by the
frame clock.  Nothing here waits on the device or the disk, except closing: the window then waits (bounded)
on the engine's ``stopped`` event, so that it goes away only once every barrel is on retain and
the recording is closed (DESIGN.md §7).  A signal (SIGINT, SIGTERM, SIGHUP) closes it without
asking anything; a bug in a slot puts the rig in a safe state and leaves the window open to say
so (``app.gui.stop_paths``).  Recording state changes only on the engine's ``RecordingChanged``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PyQt6.QtCore import QRect, QSettings, Qt
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.gui import recording_actions, trial_view, window_close, workspace_actions
from app.gui.banner import BannerArea
from app.gui.barrel_panel import BarrelPanel
from app.gui.device_bar import DeviceBar
from app.gui.frame_clock import FRAME_MS, GUI_BLOCK_S, FrameClock
from app.gui.layout_report import fit_rect
from app.gui.menus import EscapeEverywhere, KeySheet, build_menus
from app.gui.protocol_panel import ProtocolPanel
from app.gui.raster_view import RateView
from app.gui.recording_panel import DoseResponseView, RecordingPanel
from app.gui.replay_bar import ReplayBar, replay_area
from app.gui.safety_strip import SafetyStrip
from app.gui.session_controller import SessionController, controller_attribute, controller_method
from app.gui.stop_paths import GuiExceptionGuard
from app.gui.traces_view import TracesView
from app.gui.trial_view import TrialView
from app.live import LiveSession
from app.stopping import STOP_WAIT_S
from daq.engine import Abort, AddMark, Pause, Resume

if TYPE_CHECKING:
    from app.gui.workspace import Workspace

__all__ = ["FRAME_MS", "GUI_BLOCK_S", "MainWindow", "fit_rect"]  # (bench and tests import these from here)

DOCK_FRACTION = 0.40  # of the window's width, for the docks on first show (no saved layout)
NOT_CONNECTED = "connect a device (the device bar, or Device > Connect)"


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def _placeholder(text: str) -> QLabel:
    """A dock's content until the first connection constructs its view with its model."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    return label


class MainWindow(QMainWindow):
    """The rig window's layout.  ``controller`` (``SessionController``) does what the window
    does with the session; ``clock`` (``FrameClock``) draws."""

    def __init__(self, session: LiveSession, settings: QSettings | None = None, frame_ms: int = FRAME_MS):
        super().__init__()
        pg.setConfigOptions(background="w", foreground="k", antialias=False)
        self.session = session
        self.settings = settings if settings is not None else QSettings("ionto", "ionto-rig")
        self.confirm: Callable[[str, str], bool] = lambda title, text: _confirm(self, title, text)
        self.controller = c = SessionController(self, session)
        self.bridge = c.bridge
        self.protocol_model = c.protocol_model
        self.clock = FrameClock(self, frame_ms)
        self.setWindowTitle("ionto — microiontophoresis rig")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

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
        self.device_bar.connect_requested.connect(c.connect_device)
        self.device_bar.disconnect_requested.connect(c.disconnect_device)

        # central: the safety strip (fixed, first), banners, traces over the ratemeter
        central = QWidget()
        self._central_layout = cl = QVBoxLayout(central)
        cl.setContentsMargins(2, 2, 2, 2)
        self.safety = self._safety_strip(SafetyStrip())  # chips once connected (show_connection_views)
        cl.addWidget(self.safety)
        self.banners = BannerArea()
        cl.addWidget(self.banners)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.traces = TracesView()
        self.rates = RateView(c.rate_model)
        self.splitter.addWidget(self.traces)
        self.splitter.addWidget(self.rates)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        cl.addWidget(self.splitter, 1)
        self.replay_area, self.replay_note = replay_area()  # while replaying (replay_bar.attach)
        cl.addWidget(self.replay_area)
        self.replay_bar: ReplayBar | None = None
        self.setCentralWidget(central)
        # the status bar and its band note exist before the window is shown: a child added to a
        # visible window is shown only at a later turn of the event loop
        self._band_label = QLabel()
        self._band_label.setObjectName("band_note")
        self._band_label.setVisible(False)
        self.statusBar().addPermanentWidget(self._band_label)
        self.traces.window_changed.connect(c.on_window_changed)
        self.traces.threshold_dragged.connect(c.set_threshold)
        self.traces.auto.clicked.connect(c.auto_threshold)

        # docks (barrels, dose-response and trials: their views come with the connection's models)
        self.barrels: BarrelPanel | None = None
        self.dose_view: DoseResponseView | None = None
        self.trial_view: TrialView | None = None
        self.protocol_panel = ProtocolPanel(self.protocol_model)
        self.protocol_panel.open_requested.connect(c.open_protocol)
        self.protocol_panel.run_requested.connect(c.run_protocol)
        self.protocol_panel.pause_requested.connect(lambda: c.submit(Pause()))
        self.protocol_panel.resume_requested.connect(lambda: c.submit(Resume()))
        self.protocol_panel.abort_requested.connect(lambda: c.submit(Abort()))
        self.recording_panel = RecordingPanel(c.session_model, str(session.disk.directory))
        self.recording_panel.start_requested.connect(c.start_recording)
        self.recording_panel.stop_requested.connect(c.stop_recording)
        self.recording_panel.mark_requested.connect(lambda text: c.submit(AddMark(text)))
        self.recording_panel.note_added.connect(partial(recording_actions.add_note, self))
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.barrel_dock = self._dock("Barrels", _placeholder(NOT_CONNECTED), right)
        self.protocol_dock = self._dock("Protocol", self.protocol_panel, right, scroll=False)
        self.recording_dock = self._dock("Recording", self.recording_panel, right)
        self.dose_dock = self._dock("Dose–response", _placeholder("points appear as ejections finish"), right,
                                    scroll=False)
        self.trial_dock = self._dock("Trials", _placeholder(""), right, scroll=False)  # issue 17
        self.docks = [self.barrel_dock, self.protocol_dock, self.recording_dock, self.dose_dock, self.trial_dock]
        self.trial_dock.hide()  # until the first trial; then a tab beside the dose-response (tabified
        # here, before the first show, it fixed the window at its minimum width, wider than a small screen)
        self.tabifyDockWidget(self.protocol_dock, self.recording_dock)
        self.protocol_dock.raise_()
        self._default_state = self.saveState()  # View > Reset the layout

        # menus and keys (Esc = every barrel to retain and F2 = mark work whatever has the focus)
        self.menus = build_menus(self)
        self.escape_filter = EscapeEverywhere(c.all_retain, self)
        QApplication.instance().installEventFilter(self.escape_filter)
        self.key_sheet: KeySheet | None = None
        self.workspace: Workspace | None = None  # applied once connected (File > Load, --workspace)
        self.workspace_name: str | None = None

        # stop paths: how the window ends (closeEvent, stop_on_signal, on_internal_error)
        self.stop_wait_s = STOP_WAIT_S  # how long closing waits for the engine to confirm the safe levels
        self.stop_reason = ""  # why the window is being closed without asking (a signal), if it is
        self.safe_confirmed: bool | None = None  # after closing: did the engine confirm the safe levels?
        self._closed = False
        self._unconfirmed_shown = False
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

    def _safety_strip(self, strip: SafetyStrip) -> SafetyStrip:
        strip.retain_all.clicked.connect(self.controller.all_retain)
        return strip

    # --- the connection's views, each constructed with its model (the controller's) --------------------
    def show_connection_views(self, read_only: bool) -> None:
        """A new connection: the safety strip, barrel panel, dose-response and trial views made
        anew with the connection's models, in the places of the previous ones."""
        c = self.controller
        assert c.barrel_model is not None and c.dose_model is not None and c.trial_model is not None
        strip = self._safety_strip(SafetyStrip(c.barrel_model, read_only=read_only))
        self._central_layout.replaceWidget(self.safety, strip)  # (the same fixed place, first)
        self.safety.hide()
        self.safety.deleteLater()
        self.safety = strip
        strip.show()
        self.barrels = BarrelPanel(c.barrel_model, read_only=read_only)
        self.barrels.command.connect(c.submit)
        self.barrels.error.connect(lambda m: self.banners.show_message("warning", m))
        self.barrel_dock.widget().setWidget(self.barrels)  # (the scroll area deletes the previous panel)
        colour_lanes = {b.name: i for i, b in enumerate(c.barrel_model.pipette.barrels)}
        self.dose_view = self._replace_dock_widget(self.dose_dock, DoseResponseView(
            c.dose_model, lambda: self.clock.dose_spikes, colour_lanes))
        self.trial_view = self._replace_dock_widget(self.trial_dock, TrialView(
            c.trial_model, trial_view.drug_colour(self.session, c.trial_model)))
        c.trial_model.first_trial.connect(self._show_trial_dock)

    @staticmethod
    def _replace_dock_widget(dock: QDockWidget, view: QWidget) -> QWidget:
        old = dock.widget()
        dock.setWidget(view)
        if old is not None:
            old.hide()
            old.deleteLater()
        return view

    def _show_trial_dock(self) -> None:
        """The connection's first trial: the Trials dock, as a tab beside the dose-response."""
        if self.dose_dock.isVisible() and self.trial_dock not in self.tabifiedDockWidgets(self.dose_dock):
            self.tabifyDockWidget(self.dose_dock, self.trial_dock)
        self.trial_dock.show()
        self.trial_dock.raise_()

    def show_band_note(self, note: str) -> None:
        """A rate too low for the spike band: the band the traces and the detector use instead,
        kept in the status bar (state messages come and go beside it)."""
        label = self._band_label
        label.setText(note)
        label.setToolTip(note)
        label.setVisible(bool(note))

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

    # --- the session's API (the controller's), as the menus, the CLI, tests and the bench use it ------
    trace_model = controller_attribute("trace_model")
    rate_model = controller_attribute("rate_model")
    barrel_model = controller_attribute("barrel_model")
    dose_model = controller_attribute("dose_model")
    trial_model = controller_attribute("trial_model")
    replay_control = controller_attribute("replay_control")
    _bound = controller_attribute("bound")
    autostart_record = controller_attribute("autostart_record", settable=True)
    autostart_protocol = controller_attribute("autostart_protocol", settable=True)
    freeze_collector = controller_attribute("freeze_collector", settable=True)
    connect_device = controller_method("connect_device")
    disconnect_device = controller_method("disconnect_device")
    submit = controller_method("submit")
    all_retain = controller_method("all_retain")
    start_recording = controller_method("start_recording")
    stop_recording = controller_method("stop_recording")
    open_protocol = controller_method("open_protocol")
    run_protocol = controller_method("run_protocol")

    @property
    def frames(self) -> int:
        """Frames drawn so far (the frame clock's)."""
        return self.clock.frames

    def refresh(self) -> None:
        """One frame now (the frame clock's)."""
        self.clock.refresh()

    # File > workspaces (app.gui.workspace_actions)
    def save_workspace_dialog(self) -> None:
        workspace_actions.save_workspace_dialog(self)

    def load_workspace_dialog(self) -> None:
        workspace_actions.load_workspace_dialog(self)

    def apply_workspace(self, ws: Workspace) -> None:
        """A workspace's settings on the window (the models' part once connected)."""
        workspace_actions.apply(self, ws)

    # --- stop paths: closing, signals, a bug in a slot (app.gui.window_close) ----------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # (Qt's name)
        """Every barrel to retain, the recording closed, acquisition stopped — confirmed by the
        engine (bounded wait) — before the window goes (``window_close.close_event``)."""
        window_close.close_event(self, event)

    def stop_on_signal(self, reason: str) -> None:
        """SIGINT / SIGTERM / SIGHUP (main thread): retain at once, close without asking."""
        window_close.stop_on_signal(self, reason)

    def on_internal_error(self, summary: str, details: str = "") -> None:
        window_close.on_internal_error(self, summary, details)

    def guard_exceptions(self, debug: bool = False) -> GuiExceptionGuard:
        return window_close.guard_exceptions(self, debug)
