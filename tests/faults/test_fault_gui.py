"""The rig window under faults (pytest-qt, offscreen): closed in the middle of a protocol, and a
clogged barrel flagged by the barrel panel and a banner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("PyQt6")

from PyQt6.QtCore import QSettings, Qt

from app.gui.main_window import MainWindow
from app.live import LiveSession
from daq.recording import Recording
from daq.types import EventKind
from mock_daq import load_preset

TIMEOUT_MS = 60000  # a bound against hanging on a busy machine, not a measurement
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


def _record_protocol(qtbot, tmp_path, **kw) -> tuple[MainWindow, Path]:
    """A window recording to a new file and running ``PROTOCOL``; (the window, the file)."""
    win = _window(qtbot, tmp_path, **kw)
    win.recording_panel.directory.setText(str(tmp_path / "rec"))
    win.start_recording()
    path = win.session.recorder.path
    proto = tmp_path / "long.yaml"
    proto.write_text(PROTOCOL)
    win.open_protocol(str(proto))
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    qtbot.mouseClick(win.protocol_panel.run_button, Qt.MouseButton.LeftButton)
    return win, path


def test_closing_the_window_mid_protocol_mid_ejection(qtbot, tmp_path):
    win, path = _record_protocol(qtbot, tmp_path)
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


def _clogged_rig(tmp_path, barrel: str = "glu", resistance_MOhm: float = 4000.0) -> str:
    """The cortex rig with ``barrel`` clogged from the start: at the 100 V compliance a 4 GΩ
    barrel passes at most 25 nA (its 15 nA retain gets through; a 40 nA ejection does not)."""
    doc = load_preset("cortex").model_dump(mode="json")
    doc["simulation"]["faults"] = [{"kind": "clog", "at_s": 0.0, "barrel": barrel,
                                    "resistance_MOhm": resistance_MOhm}]
    path = tmp_path / "clogged.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_clogged_barrel_raises_the_row_alarm_and_a_banner(qtbot, tmp_path):
    # Why an earlier version of this test timed out: it clogged the barrel with the fault's
    # default 1 GΩ, through which the 100 V compliance still drives 100 nA, so the 40 nA
    # ejection was delivered in full and no alarm was due.  The alarm needs a clog that the
    # commanded current cannot get through (here 4 GΩ: at most 25 nA).
    win, path = _record_protocol(qtbot, tmp_path, rig_path=_clogged_rig(tmp_path))
    glu = win.barrel_model.row("glu")
    qtbot.waitUntil(lambda: glu.ejecting, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: bool(glu.alarm), timeout=TIMEOUT_MS)
    # the row says what is delivered against what is commanded, and the panel shows it
    assert "compliance/clog" in glu.alarm and "-25" in glu.alarm and "-40.0 nA commanded" in glu.alarm
    assert glu.monitored_nA == pytest.approx(-25.0, abs=1.0)
    label = win.barrels.labels[("glu", "alarm")]
    qtbot.waitUntil(lambda: "compliance/clog" in label.text(), timeout=TIMEOUT_MS)
    assert label.toolTip() == glu.alarm
    banners = [b for b in win.banners.banners() if b.level == "error"]
    assert any(b.text.startswith("barrel glu: compliance/clog") and "compliance voltage" in b.details
               for b in banners), [b.text for b in banners]
    # the barrels that are not clogged raise nothing
    assert all(not r.alarm for r in win.barrel_model.rows if r.name != "glu")
    assert all(not win.barrels.labels[(r.name, "alarm")].text() for r in win.barrel_model.rows if r.name != "glu")
    device = win.session.engine.device
    assert win.close()
    assert np.allclose(device.static_volts, win.session.pipette.safe_volts())
    with Recording(path) as rec:
        assert rec.closed_cleanly
        events = [e for e in rec.events if e.barrel == "glu"]
        assert events[-1].kind == EventKind.RETAIN
        eject = next(e for e in events if e.kind == EventKind.EJECT)
        assert eject.current_nA == -40.0
        # the file's monitor shows the clipped current the alarm was raised on
        mon = rec.physical(rec.monitor_channel("glu"))
        start = int(rec.index_to_row(np.array([eject.sample_index]))[0]) + int(0.2 * rec.rate_hz)
        assert mon[start:start + int(0.5 * rec.rate_hz)].mean() == pytest.approx(-25.0, abs=0.5)
