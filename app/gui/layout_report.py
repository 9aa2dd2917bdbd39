"""Where the safety-critical parts of the rig window are on the screen, and whether any is cut.

``layout_report(win)`` says, in screen coordinates, where the window, the safety strip, every
barrel's chip and the ALL TO RETAIN button are (and, while replaying, the replay bar's
overview, buttons and position readout), and lists ``problems``: a part outside the
available screen area, hidden, clipped by its parents (its visible region smaller than itself),
or narrower than its text needs.  The real-window tests (tests/app/test_gui_xvfb.py) and
``python -m app.gui.screenshot --layout-report`` use it; ``fit_rect`` pulls a saved window
geometry back onto the screen.  Thread: GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QPoint, QRect
from PyQt6.QtWidgets import QWidget

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def _global_rect(w: QWidget) -> QRect:
    return QRect(w.mapToGlobal(QPoint(0, 0)), w.size())


def _rect(r: QRect) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def fit_rect(rect: QRect, screen: QRect) -> QRect:
    """``rect`` moved and, if need be, shrunk so that it lies inside ``screen``."""
    w, h = min(rect.width(), screen.width()), min(rect.height(), screen.height())
    x = min(max(rect.x(), screen.x()), screen.x() + screen.width() - w)
    y = min(max(rect.y(), screen.y()), screen.y() + screen.height() - h)
    return QRect(x, y, w, h)


def part_problems(name: str, w: QWidget, screen: QRect) -> list[str]:
    """What is wrong with how ``w`` is shown: nothing, if it is whole and on the screen."""
    out = []
    if not w.isVisible():
        return [f"{name}: not visible"]
    g = _global_rect(w)
    if not screen.contains(g):
        out.append(f"{name}: {_rect(g)} is not inside the screen's available area {_rect(screen)}")
    visible = w.visibleRegion().boundingRect()
    if visible.size() != w.size():
        out.append(f"{name}: clipped — {visible.width()}×{visible.height()} of {w.width()}×{w.height()} px visible")
    need = w.sizeHint()
    if w.width() < need.width() or w.height() < min(need.height(), w.maximumHeight()):
        out.append(f"{name}: {w.width()}×{w.height()} px, its text needs {need.width()}×{need.height()}")
    return out


def layout_report(win: MainWindow) -> dict:
    """The window's safety-critical parts in screen coordinates, and what is wrong with them."""
    screen = win.available_geometry()
    parts: dict[str, QWidget] = {"safety strip": win.safety, "ALL TO RETAIN": win.safety.retain_all}
    parts.update({f"barrel {name}": chip for name, chip in win.safety.chips.items()})
    if win.replay_control is not None:  # replaying: the seek buttons and the position must be whole too
        parts.update({f"replay {name}": b for name, b in win.replay_bar.buttons.items()})
        parts["replay overview"] = win.replay_bar.plot.viewport()  # (the view itself is all covered by it)
        parts["replay position"] = win.replay_bar.readout
    problems = []
    frame = win.frameGeometry()
    if not screen.contains(frame):
        problems.append(f"window: {_rect(frame)} is not inside the screen's available area {_rect(screen)}")
    for name, w in parts.items():
        problems += part_problems(name, w, screen)
    return {
        "screen": _rect(screen),
        "window": _rect(frame),
        "parts": {name: _rect(_global_rect(w)) for name, w in parts.items()},
        "barrels": list(win.safety.chips),
        "problems": problems,
    }
