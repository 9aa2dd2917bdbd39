"""``ionto gui``: open the rig window on a session and run Qt's event loop; Qt's own messages
go to the log.  A stop signal (SIGINT, SIGTERM, SIGHUP) closes the window without asking
(``QtStopSignals`` -> ``MainWindow.stop_on_signal``), and the exit status and one line on
stderr say how the barrels were left.

Thread: the main (GUI) thread.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from PyQt6.QtCore import QtMsgType, qInstallMessageHandler
from PyQt6.QtWidgets import QApplication

from app.gui.frame_clock import GUI_BLOCK_S
from app.gui.main_window import MainWindow
from app.gui.stop_paths import QtStopSignals
from app.live import LiveSession

if TYPE_CHECKING:
    from app.gui.workspace import Workspace

log = logging.getLogger(__name__)

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
    win.freeze_collector = True  # no collector pauses once acquisition runs (app.gui.collector)
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
