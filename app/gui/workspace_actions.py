"""The File menu's workspaces: the rig window's settings captured into, and applied from, a
saved workspace (``app.gui.workspace`` holds the format, the files and the models' part).

The window's own part lives here: device, rig and speed on the device bar (used at the next
connection), the recording folder and template, the dock layout and geometry (base64 of Qt's
saved state), and the threshold set by hand.  A loaded workspace never ejects anything; a bad
file is one banner naming the file and the field, and nothing of it is applied.
Thread: GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QByteArray
from PyQt6.QtWidgets import QInputDialog

from app.gui.layout_report import fit_rect
from app.gui.workspace import (
    RecordingSettings,
    Workspace,
    apply_workspace,
    capture_workspace,
    list_workspaces,
    load_workspace,
    save_workspace,
)
from daq.errors import IontoError

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def save_workspace_dialog(win: MainWindow) -> None:
    """File > Save workspace: ask for a name (the saved ones are offered)."""
    current = win.workspace_name or ""
    name, ok = QInputDialog.getItem(win, "Save workspace", "Workspace name:", list_workspaces() or [current],
                                    0, True)
    if ok and name.strip():
        win.workspace_name = name.strip()
        save(win, name.strip())


def load_workspace_dialog(win: MainWindow) -> None:
    names = list_workspaces()
    if not names:
        win.banners.show_message("info", "no workspace is saved yet (File > Save workspace)")
        return
    name, ok = QInputDialog.getItem(win, "Load workspace", "Workspace:", names, 0, False)
    if ok and name:
        win.workspace_name = name
        load(win, name)


def capture(win: MainWindow) -> Workspace:
    """The window's settings now, as a workspace (``app.gui.workspace``)."""
    p = win.recording_panel
    manual = win.controller.manual_threshold_V
    return capture_workspace(
        device=win.device_bar.url(), rig=win.device_bar.rig(), speed=win.device_bar.speed_factor(),
        trace_model=win.trace_model, rate_model=win.rate_model,
        threshold_uV=None if manual is None else manual * 1e6,
        recording=RecordingSettings(directory=p.directory.text() or ".", template=p.template.text()),
        layout={"window_state": bytes(win.saveState().toBase64()).decode("ascii"),
                "geometry": bytes(win.saveGeometry().toBase64()).decode("ascii")})


def apply(win: MainWindow, ws: Workspace) -> None:
    """Put a workspace's settings on the window: device, rig and speed (used at the next
    connection), recording folder and template and the layout now, and — once connected —
    window, gains, hidden lanes, ratemeter and threshold.  Never ejects anything."""
    if not win.session.running:
        win.device_bar.set_url(ws.device)
        win.device_bar.rig_path.setText(ws.rig or "")
        win.device_bar.set_speed(ws.speed)
    win.recording_panel.directory.setText(ws.recording.directory)
    win.recording_panel.template.setText(ws.recording.template)
    if "window_state" in ws.layout:
        win.restoreState(QByteArray.fromBase64(ws.layout["window_state"].encode("ascii")))
    if "geometry" in ws.layout and win.restoreGeometry(QByteArray.fromBase64(ws.layout["geometry"].encode("ascii"))):
        win.setGeometry(fit_rect(win.geometry(), win.available_geometry()))
    win.workspace = ws
    if not win.controller.bound:
        return  # the rest once connected (_bind)
    win.controller.manual_threshold_V = None if ws.threshold_uV is None else ws.threshold_uV * 1e-6
    for note in apply_workspace(ws, trace_model=win.trace_model, rate_model=win.rate_model,
                                detector=win.session.detector):
        win.banners.show_message("info", f"workspace: {note}")


def save(win: MainWindow, name: str) -> None:
    """File > Save workspace: the window's settings under ``name``."""
    try:
        path = save_workspace(name, capture(win))
    except IontoError as exc:
        win.banners.show_message("error", f"could not save workspace {name!r}", str(exc))
        return
    win.statusBar().showMessage(f"workspace {name!r} saved to {path}", 10000)


def load(win: MainWindow, name: str) -> None:
    """File > Load workspace: a saved workspace's settings on the window (a bad file is one
    banner naming the file and field, and nothing is applied)."""
    try:
        ws = load_workspace(name)
    except IontoError as exc:
        win.banners.show_message("error", f"could not load workspace {name!r}", str(exc))
        return
    apply(win, ws)
    win.statusBar().showMessage(f"workspace {name!r} loaded", 10000)
