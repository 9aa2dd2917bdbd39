"""The rig window under faults (pytest-qt, offscreen): closed in the middle of a protocol, and a
clogged barrel flagged by the barrel panel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from PyQt6.QtCore import QSettings, Qt

from app.gui.main_window import MainWindow
from app.live import LiveSession
from daq.recording import Recording
from daq.types import EventKind

TIMEOUT_MS = 20000
PROTOCOL = """name: long ejection
rig: sim:cortex
plan: dose_response
params: {barrel: glu, currents_nA: [40, 80], eject_s: 30, recovery_s: 5, baseline_s: 0.5}
"""


def _window(qtbot, tmp_path, **kw) -> MainWindow:
    session = LiveSession("sim", seed=1, speed=4.0, recordings_dir=tmp_path / "rec", **kw)
    win = MainWindow(session, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    win.show()
    win.connect_device()
    qtbot.waitUntil(lambda: win._bound and win.trace_model is not None and win.trace_model.end_index > 0,
                    timeout=TIMEOUT_MS)
    return win


def test_closing_the_window_mid_protocol_mid_ejection(qtbot, tmp_path):
    win = _window(qtbot, tmp_path)
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.start_recording()
    path = win.session.recorder.path
    proto = tmp_path / "long.yaml"
    proto.write_text(PROTOCOL)
    win.open_protocol(str(proto))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    qtbot.mouseClick(win.protocol_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.barrel_model.row("glu").ejecting, timeout=TIMEOUT_MS)
    device = win.session.engine.device
    errors = []
    win.session.subscribe(lambda ev: errors.append(ev) if type(ev).__name__ == "EngineError" else None)
    assert win.close()
    assert not win.session.running and win.session.engine.error is None and not errors
    assert np.allclose(device.static_volts, win.session.pipette.safe_volts())  # every barrel on retain
    with Recording(path) as rec:
        assert rec.closed_cleanly and rec.n_samples > 0
        glu = [e for e in rec.events if e.barrel == "glu"]
        assert glu[-1].kind == EventKind.RETAIN  # the ejection was ended, and the file says so
        assert any(e.kind == EventKind.EJECT for e in glu)
