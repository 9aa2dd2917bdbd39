"""The rig window's menus and keys: File, Device, Protocol, Recording, View, Help.

Every action is a ``QAction`` held in ``Menus.actions`` under a short name (tests and the key
sheet use them); the key sheet under Help is built from the actions themselves, so it cannot
drift from the keys that work.  Esc (every barrel to retain) and F2 (mark) work whatever has
the focus (application-wide; Esc even in a modal dialog or an open menu: ``EscapeEverywhere``); the other keys work in the window, and a text box that is being
typed into keeps its own keys (Space, digits).  Typed markers 0–9 are marks whose text is the
digit, drawn on the traces as Spike2's keyboard markers are.

Thread: GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from PyQt6 import sip
from PyQt6.QtCore import QEvent, QObject, Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.gui import recording_actions
from daq.engine import Abort, AddMark, Pause, Resume

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

APP = Qt.ShortcutContext.ApplicationShortcut
WINDOW = Qt.ShortcutContext.WindowShortcut


@dataclass
class Menus:
    menus: dict[str, QMenu] = field(default_factory=dict)
    actions: dict[str, QAction] = field(default_factory=dict)

    def key_sheet_rows(self) -> list[tuple[str, str, str]]:
        """(menu, key, what it does) for every action that has a key."""
        rows = []
        for menu_name, menu in self.menus.items():
            for a in menu.actions():
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
                if keys:
                    rows.append((menu_name, keys, a.text().replace("&", "").rstrip("…").strip()))
        rows.append(("Recording", "0 … 9", "typed marker with that digit (drawn on the traces)"))
        return rows


def _add(m: Menus, menu: QMenu, name: str, text: str, slot: Callable[..., object], keys: str | list[str] = "",
         context: Qt.ShortcutContext = WINDOW, checkable: bool = False, tip: str = "") -> QAction:
    a = QAction(text, menu)
    if keys:
        a.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)])
        a.setShortcutContext(context)
    a.setCheckable(checkable)
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    a.triggered.connect(lambda checked=False: slot(checked) if checkable else slot())
    menu.addAction(a)
    m.actions[name] = a
    return a


def build_menus(win: MainWindow) -> Menus:
    """The menu bar of ``win``: its actions call the window's methods or the slots below
    (nothing here holds state)."""
    m = Menus()
    bar = win.menuBar()
    f = m.menus["File"] = bar.addMenu("&File")
    _add(m, f, "open_protocol", "&Open protocol…", partial(open_protocol_dialog, win), "Ctrl+O")
    _add(m, f, "replay", "Open a &recording to replay…", partial(open_replay_dialog, win))
    f.addSeparator()
    _add(m, f, "save_workspace", "&Save workspace…", win.save_workspace_dialog, "Ctrl+Shift+S",
         tip="Save the device, rig file, threshold, gains, window, ratemeter and layout under a name")
    _add(m, f, "load_workspace", "&Load workspace…", win.load_workspace_dialog, "Ctrl+Shift+O")
    f.addSeparator()
    _add(m, f, "quit", "&Quit", win.close, "Ctrl+Q")

    d = m.menus["Device"] = bar.addMenu("&Device")
    _add(m, d, "connect", "&Connect", win.connect_device)
    _add(m, d, "disconnect", "&Disconnect", win.disconnect_device)
    d.addSeparator()
    _add(m, d, "retain_all", "ALL TO &RETAIN", win.all_retain, "Esc", APP,
         tip="Every barrel to its retaining current now, whatever has the focus")
    d.addSeparator()
    for name, text, keys in REPLAY_ACTIONS:
        _add(m, d, f"replay_{name}", text, partial(replay_action, win, name), keys)

    p = m.menus["Protocol"] = bar.addMenu("&Protocol")
    _add(m, p, "open_protocol_2", "&Open…", partial(open_protocol_dialog, win))
    _add(m, p, "run", "&Run", win.run_protocol, "F5")
    _add(m, p, "pause", "&Pause", partial(pause_protocol, win), "F6")
    _add(m, p, "resume", "R&esume", partial(resume_protocol, win), "F7")
    _add(m, p, "abort", "&Abort (every barrel to retain)", partial(abort_protocol, win), "Shift+F5")

    r = m.menus["Recording"] = bar.addMenu("&Recording")
    _add(m, r, "record", "Start / stop &recording", partial(toggle_recording, win), "Ctrl+R")
    _add(m, r, "mark", "&Mark (with the mark text)", win.recording_panel.request_mark, "F2", APP)
    _add(m, r, "note", "Add the &notes to the file", partial(add_notes, win))
    for digit in range(10):
        a = QAction(f"Typed marker {digit}", win)
        a.setShortcut(QKeySequence(str(digit)))
        a.setShortcutContext(WINDOW)
        a.triggered.connect(lambda _c=False, k=digit: typed_marker(win, k))
        win.addAction(a)  # in the window, not the menu: ten rows would bury the menu
        m.actions[f"marker_{digit}"] = a

    v = m.menus["View"] = bar.addMenu("&View")
    _add(m, v, "freeze", "&Freeze the display", win.traces.freeze.setChecked, "Space", checkable=True,
         tip="Hold the traces and scroll back; acquisition and recording go on")
    win.traces.freeze.toggled.connect(m.actions["freeze"].setChecked)
    _add(m, v, "cursors", "&Vertical cursor pair (Δt, spikes, rate)", partial(show_vertical_cursors, win), "F3",
         checkable=True)
    _add(m, v, "hcursor", "&Horizontal cursor (amplitude)", partial(show_horizontal_cursor, win), "F4", checkable=True)
    v.addSeparator()
    for dock in win.docks:
        a = dock.toggleViewAction()
        v.addAction(a)
        m.actions[f"dock_{dock.windowTitle()}"] = a
    _add(m, v, "fit_screen", "Fit the window to the &screen", win.fit_to_screen)
    _add(m, v, "reset_layout", "Reset the &layout", win.reset_layout)

    h = m.menus["Help"] = bar.addMenu("&Help")
    _add(m, h, "keys", "&Keys…", partial(show_key_sheet, win), "F1")
    _add(m, h, "about", "&About ionto", partial(show_about, win))
    return m


REPLAY_ACTIONS = (  # (name, menu text, key): the replay bar's buttons (app.gui.replay_bar)
    ("back", "Replay: &back a step", "Ctrl+Left"),
    ("forward", "Replay: &forward a step", "Ctrl+Right"),
    ("previous_ejection", "Replay: previous ejection", "PgUp"),
    ("next_ejection", "Replay: &next ejection", "PgDown"),
    ("previous_mark", "Replay: previous mark", "Ctrl+PgUp"),
    ("next_mark", "Replay: next &mark", "Ctrl+PgDown"),
    ("slower", "Replay: slower", "Ctrl+Down"),
    ("faster", "Replay: faster", "Ctrl+Up"),
    ("pause", "Replay: pause / play", "Ctrl+Space"),
)


# --- what the menus do (slots; the window's own methods do the rest) -----------------------------
def replay_action(win: MainWindow, name: str) -> None:
    """The replay keys: press the replay bar's button of that name (only while replaying)."""
    if win.controller.replay_control is None:
        win.statusBar().showMessage("replay keys work while a recording is replayed (File > Open a recording)",
                                    5000)
        return
    win.replay_bar.buttons[name].click()


def typed_marker(win: MainWindow, digit: int) -> None:
    """Keys 0–9: a mark whose text is the digit (Spike2's keyboard markers)."""
    if win.session.running:
        win.submit(AddMark(str(digit)))


def pause_protocol(win: MainWindow) -> None:
    """F6."""
    win.submit(Pause())


def resume_protocol(win: MainWindow) -> None:
    """F7."""
    win.submit(Resume())


def abort_protocol(win: MainWindow) -> None:
    """Shift+F5: every barrel to retain, the plan stopped."""
    win.submit(Abort())


def toggle_recording(win: MainWindow) -> None:
    """Ctrl+R: start recording (the panel's template) or stop the running one."""
    if not win.controller.bound:
        win.statusBar().showMessage("connect first: recording needs a running device", 5000)
    elif win.session.recording:
        win.stop_recording()
    else:
        win.start_recording()


def add_notes(win: MainWindow) -> None:
    """Recording > Add the notes to the file."""
    recording_actions.add_note(win, win.recording_panel.notes.toPlainText())


def cursors_as_checked(win: MainWindow) -> None:
    """A new connection's plot: its cursors as the View menu's F3/F4 items say (kept across
    connections, as the menu is)."""
    show_vertical_cursors(win, win.menus.actions["cursors"].isChecked())
    show_horizontal_cursor(win, win.menus.actions["hcursor"].isChecked())


def show_vertical_cursors(win: MainWindow, on: bool) -> None:
    """F3: the vertical cursor pair."""
    plot = win.traces.plot_view
    if plot is not None:
        plot.cursors.show_vertical(on)
        plot.update_cursor_readout()


def show_horizontal_cursor(win: MainWindow, on: bool) -> None:
    """F4: the horizontal cursor."""
    plot = win.traces.plot_view
    if plot is not None:
        plot.cursors.show_horizontal(on)
        plot.update_cursor_readout()


def open_protocol_dialog(win: MainWindow) -> None:
    """Ctrl+O: choose a protocol file; it is checked (dry run) and shown in the protocol panel."""
    path, _ = QFileDialog.getOpenFileName(win, "Open a protocol", "",
                                          "Protocols (*.yaml *.yml *.py);;All files (*)")
    if path:
        win.protocol_dock.show()
        win.protocol_dock.raise_()
        win.open_protocol(path)


def open_replay_dialog(win: MainWindow) -> None:
    """File > Open a recording to replay: the device bar takes the file and connects."""
    path, _ = QFileDialog.getOpenFileName(win, "Replay a recording", "", "ionto recordings (*.h5 *.hdf5)")
    if path:
        if win.session.running:  # the device bar takes the file once this connection has stopped
            win.disconnect_device()
            win.statusBar().showMessage(f"stopping the device; then Connect replays {path}", 10000)
        win.device_bar.set_url(f"replay:{path}")
        if not win.session.running:
            win.connect_device()


def show_key_sheet(win: MainWindow) -> None:
    """Help > Keys (F1): every key the window answers to."""
    if win.key_sheet is None:
        win.key_sheet = KeySheet(win.menus.key_sheet_rows(), win)
    win.key_sheet.show()
    win.key_sheet.raise_()


def show_about(win: MainWindow) -> None:
    """Help > About."""
    from daq import __version__ as version

    QMessageBox.about(win, "About ionto", f"ionto {version} — rig software for microiontophoresis.")


class KeySheet(QDialog):
    """Help > Keys: every key the window answers to, from the actions themselves."""

    def __init__(self, rows: list[tuple[str, str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("ionto — keys")
        self.rows = rows
        lay = QVBoxLayout(self)
        cells = "".join(f"<tr><td><b>{key}</b></td><td>{what}</td><td style='color:#777'>{menu}</td></tr>"
                        for menu, key, what in rows)
        text = QLabel(f"<table cellspacing=6>{cells}</table><p>Text boxes keep Space and the digits while "
                      "you type in them; Esc and F2 work everywhere.</p>")
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(text)


class EscapeEverywhere(QObject):
    """Esc puts every barrel on retain even while a modal dialog or a menu holds the keyboard.

    Qt does not deliver the window's application-wide shortcut while a modal dialog (a file
    dialog, a question) or a popup menu is open: Esc then only closes the dialog.  This filter,
    installed on the application, sees that Esc first and calls ``retain_all`` too (the dialog
    still closes).  Without a modal dialog or popup the window's own Esc action does it, so a
    key press retains once.  Thread: GUI thread (Qt's event delivery)."""

    def __init__(self, retain_all: Callable[[], object], parent: QObject | None = None):
        super().__init__(parent)
        self.retain_all = retain_all
        self._seen: set[int] = set()  # events already handled (a key press travels up the parents)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # (Qt's name)
        if ev.type() == QEvent.Type.KeyPress and ev.key() == Qt.Key.Key_Escape and not ev.isAutoRepeat():
            if QApplication.activeModalWidget() is not None or QApplication.activePopupWidget() is not None:
                addr = sip.unwrapinstance(ev)
                if addr not in self._seen:
                    self._seen.add(addr)
                    QTimer.singleShot(0, self._seen.clear)
                    self.retain_all()
        return False  # the dialog or menu still gets its Esc
