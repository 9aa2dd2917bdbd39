"""Helpers for the GUI tests: a window on the simulated rig, a short protocol, and a tiny
replay device (the product's ``replay:`` device belongs to the recording package; this one
exists only to drive the GUI's replay path in tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

TIMEOUT_MS = 60000  # a bound against hanging on a busy machine, not a measurement

SHORT_PROTOCOL = """\
name: short dose-response
plan: dose_response
params:
  barrel: glu
  currents_nA: [10, 20, 40, 80]
  eject_s: {eject_s}
  recovery_s: {recovery_s}
  baseline_s: {baseline_s}
"""


def write_protocol(tmp_path: Path, eject_s: float = 1.0, recovery_s: float = 1.0, baseline_s: float = 1.0) -> Path:
    p = tmp_path / "short.yaml"
    p.write_text(SHORT_PROTOCOL.format(eject_s=eject_s, recovery_s=recovery_s, baseline_s=baseline_s))
    return p


@pytest.fixture
def make_window(qtbot, qt_windows, tmp_path):
    windows = qt_windows  # held until the teardown, then deleted (see qt_windows)

    from PyQt6.QtCore import QSettings

    from app.gui.main_window import MainWindow
    from app.live import LiveSession

    def make(url: str = "sim", speed: float = 4.0, connect: bool = True, **kw) -> MainWindow:
        session = LiveSession(url, seed=1, speed=speed, recordings_dir=tmp_path / "rec", **kw)
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        win = MainWindow(session, settings=settings)
        win.confirm = lambda title, text: True
        qtbot.addWidget(win)
        windows.append(win)
        win.show()
        win.activateWindow()  # the window's own keys (Space, digits, Ctrl+O …) need it active
        qtbot.waitUntil(win.isActiveWindow, timeout=TIMEOUT_MS)
        if connect:
            win.connect_device()
            qtbot.waitUntil(lambda: win._bound and win.trace_model is not None and win.trace_model.end_index > 0,
                            timeout=TIMEOUT_MS)
        return win

    yield make
    for w in windows:
        w.confirm = lambda title, text: True
        w.close()
