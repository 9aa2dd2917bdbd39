"""The rig window's stop paths (DESIGN.md §7): a signal to ``ionto gui``, closing the window
while ejecting, a bug in a slot, no display, and a recording that cannot start.

The signal tests run ``ionto gui`` as a real child process (offscreen) recording a protocol that
ejects; the others drive the window in-process with pytest-qt.  Everything waits on conditions
with generous timeouts; the times printed are measurements, bounded only loosely.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtWidgets import QApplication, QPushButton

from app.cli.gui import display_problem
from app.gui.main_window import MainWindow, _confirm
from app.gui.stop_paths import QtStopSignals
from app.live import LiveSession
from app.stopping import CHECK_BY_HAND
from daq.engine import Call
from daq.recording import Recording
from daq.types import EventKind
from tests.waiting import wait_until

IONTO = [sys.executable, "-m", "app.cli.main"]
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 30000
LONG_EJECTION = """name: long ejection
steps:
  - eject: {barrel: glu, current_nA: 40}
  - eject: {barrel: gaba, current_nA: 20}
  - wait: 600
  - retain: all
"""
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


# --- helpers -------------------------------------------------------------------------------------
def _glu_ejection_committed(path: Path) -> bool:
    """The live file holds the glu ejection and ~0.5 s after it (so the stop is mid-ejection)."""
    try:
        with Recording(path) as rec:
            ejects = [e for e in rec.events if e.barrel == "glu" and e.kind == EventKind.EJECT]
            return bool(ejects) and rec.end_index > ejects[0].sample_index + int(0.5 * rec.rate_hz)
    except Exception:  # not created yet, or between commits
        return False


def _check_file_ends_on_retain(path: Path) -> None:
    with Recording(path) as rec:
        assert rec.closed_cleanly, rec.status
        _, rows, _ = rec.commanded_currents()
        safe = rec.pipette.safe_currents_nA()
        glu = [e for e in rec.events if e.barrel == "glu"]
    assert any(e.kind == EventKind.EJECT for e in glu), "the ejection never reached the file"
    assert glu[-1].kind == EventKind.RETAIN
    assert np.allclose(rows[-1], safe), f"last commanded currents {rows[-1]} are not the retain levels {safe}"


def _ionto_info(path: Path) -> str:
    p = subprocess.run([*IONTO, "info", str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _start_gui(tmp_path: Path, device: str, out: Path, **env_extra: str) -> subprocess.Popen:
    proto = tmp_path / "long.yaml"
    proto.write_text(LONG_EJECTION)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), **env_extra}
    return subprocess.Popen([*IONTO, "gui", "--device", device, "--record", str(out), "--protocol", str(proto)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _ionto_lines(stderr: str) -> list[str]:
    """What ionto said on stderr (not counting log lines a very busy machine may add, such as
    a warning about lost samples); never a traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    return [ln for ln in stderr.splitlines() if ln.startswith("ionto")]


def _make_window(qtbot, qt_windows, tmp_path, url: str = "sim", speed: float = 4.0, **kw) -> MainWindow:
    """A window on the simulated rig, acquiring; ``qt_windows`` holds it until the teardown."""
    session = LiveSession(url, seed=1, speed=speed, recordings_dir=tmp_path / "rec", **kw)
    win = MainWindow(session, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win.confirm = lambda title, text: True  # (a test that wants the real question puts it back)
    qtbot.addWidget(win)
    qt_windows.append(win)
    win.show()
    win.connect_device()
    qtbot.waitUntil(lambda: win._bound and win.trace_model is not None and win.trace_model.end_index > 0,
                    timeout=TIMEOUT_MS)
    return win


def _record_and_eject(qtbot, tmp_path, win: MainWindow) -> Path:
    """A recording running and the long protocol ejecting glu; returns the file."""
    win.start_recording(tmp_path / "rec" / "run.h5")
    assert win.session.recording
    path = win.session.recorder.path
    proto = tmp_path / "long.yaml"
    proto.write_text(LONG_EJECTION)
    win.open_protocol(str(proto), run_when_loaded=True)
    qtbot.waitUntil(lambda: win.barrel_model.row("glu").ejecting, timeout=TIMEOUT_MS)
    return path


def _on_retain(win: MainWindow, device) -> bool:
    return bool(np.allclose(device.static_volts, win.session.pipette.safe_volts()))


# --- 1. a signal to `ionto gui` ------------------------------------------------------------------
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_closes_ionto_gui_without_asking_every_barrel_on_retain_file_closed(tmp_path, sig):
    out = tmp_path / "gui.h5"
    proc = _start_gui(tmp_path, "sim:cortex", out)
    try:
        wait_until(lambda: _glu_ejection_committed(out) or proc.poll() is not None, 120,
                   what="ionto gui to record the glu ejection")
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        t_signal = time.monotonic()
        proc.send_signal(sig)
        # a recording is running: a window that asked "Stop recording?" would never exit
        _, err = proc.communicate(timeout=60)
        took_s = time.monotonic() - t_signal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"\n{sig.name} -> ionto gui exited in {took_s:.2f} s")
    assert proc.returncode == 128 + sig, err[-3000:]
    lines = _ionto_lines(err)
    assert len(lines) == 1, err[-3000:]
    assert lines[0] == f"ionto gui: stopped by {sig.name}: every barrel on retain, {out} closed"
    assert took_s < 20, f"ionto gui took {took_s:.1f} s to exit after {sig.name}"
    assert "closed cleanly" in _ionto_info(out)
    _check_file_ends_on_retain(out)


@pytest.fixture
def ni_server():
    from mock_daq import load_preset
    from mock_daq.nigrpc import SimNIServer

    rig = load_preset("cortex")
    server = SimNIServer(rig, port=0, speed=1.0, seed=3, preset="cortex").start()
    yield server, np.asarray(rig.pipette.safe_volts(), dtype=float)
    server.stop()


def test_sigterm_to_ionto_gui_on_ni_puts_the_outputs_on_retain(tmp_path, ni_server):
    """Over NI's gRPC path the test sees the board's outputs: the retain is on them soon after
    the signal, and no ionto task is left on the board."""
    server, safe = ni_server
    out = tmp_path / "ni.h5"
    proc = _start_gui(tmp_path, server.url(), out)
    try:
        wait_until(lambda: bool(np.abs(server.hardware.output_levels() - safe).max() > 0.05)
                   or proc.poll() is not None, 120, what="the board to eject")
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        wait_until(lambda: _glu_ejection_committed(out), 60, what="the file to hold the ejection")
        proc.send_signal(signal.SIGTERM)
        t_signal = time.monotonic()
        wait_until(lambda: np.allclose(server.hardware.output_levels(), safe, atol=1e-6), 30,
                   what="the outputs to return to retain")
        to_retain_s = time.monotonic() - t_signal
        _, err = proc.communicate(timeout=60)
        to_exit_s = time.monotonic() - t_signal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"\nSIGTERM -> outputs on retain in {to_retain_s:.2f} s, ionto gui exited in {to_exit_s:.2f} s")
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert len(_ionto_lines(err)) == 1, err[-3000:]
    assert to_retain_s <= 5.0, f"the outputs reached retain {to_retain_s:.2f} s after SIGTERM"
    _check_file_ends_on_retain(out)
    assert not server.hardware.tasks, f"tasks left on the board: {[t.name for t in server.hardware.tasks.values()]}"


def test_a_signal_while_a_question_is_open_still_closes_the_window(qtbot, qt_windows, tmp_path):
    """The operator clicked the window's close box and "Stop recording?" is open (a modal
    question, its own event loop) when SIGTERM comes: the question goes, the window closes."""
    win = _make_window(qtbot, qt_windows, tmp_path)
    path = _record_and_eject(qtbot, tmp_path, win)
    device = win.session.engine.device
    stops = QtStopSignals(win.stop_on_signal, say=lambda text: None)
    win.confirm = lambda title, text: _confirm(win, title, text)  # the real question (a QMessageBox)
    guard = QTimer()  # against a hang: dismiss any question after a long time (the test then fails)
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: QApplication.activeModalWidget() and QApplication.activeModalWidget().close())
    asked = []
    try:
        stops.__enter__()

        def signal_when_asked() -> None:
            if QApplication.activeModalWidget() is None:
                QTimer.singleShot(20, signal_when_asked)
                return
            asked.append(QApplication.activeModalWidget().windowTitle())
            os.kill(os.getpid(), signal.SIGTERM)

        QTimer.singleShot(0, signal_when_asked)
        guard.start(60000)
        win.close()  # asks (a real QMessageBox), then the signal closes it
    finally:
        guard.stop()
        stops.__exit__(None, None, None)
        win.confirm = lambda title, text: True
    assert asked == ["Stop recording?"]
    assert stops.received == [signal.SIGTERM] and stops.exit_status == 128 + signal.SIGTERM
    assert not win.isVisible() and win.safe_confirmed is True
    assert _on_retain(win, device)
    _check_file_ends_on_retain(path)


# --- 2. closing the window while ejecting ----------------------------------------------------------
def test_closing_waits_for_the_engine_and_says_so_loudly_if_it_does_not_confirm(qtbot, qt_windows, tmp_path, capfd):
    win = _make_window(qtbot, qt_windows, tmp_path)
    path = _record_and_eject(qtbot, tmp_path, win)
    device = win.session.engine.device
    entered, gate = threading.Event(), threading.Event()

    def stuck(_c) -> None:  # the engine thread hangs (a device call that never returns)
        entered.set()
        gate.wait(120)

    win.session.submit(Call(stuck))
    assert entered.wait(30)
    win.stop_wait_s = 0.5
    try:
        assert not win.close()  # not confirmed in time: the window stays open and says so
        assert win.isVisible() and win.safe_confirmed is False
        loud = [b for b in win.banners.banners() if b.level == "error" and "CHECK EVERY BARREL" in b.text]
        assert loud, [b.text for b in win.banners.banners()]
        assert CHECK_BY_HAND in capfd.readouterr().err
    finally:
        gate.set()
    win.stop_wait_s = 30.0
    assert win.close()  # the engine runs again: it stops safely, the window closes
    assert win.safe_confirmed is True and win.session.engine.safe_levels_written
    assert _on_retain(win, device)
    _check_file_ends_on_retain(path)


def test_disconnect_ends_the_file_on_retain(qtbot, qt_windows, tmp_path):
    win = _make_window(qtbot, qt_windows, tmp_path)
    path = _record_and_eject(qtbot, tmp_path, win)
    device = win.session.engine.device
    win.disconnect_device()
    qtbot.waitUntil(lambda: win.session.engine.stopped.is_set(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not win.recording_panel.recording, timeout=TIMEOUT_MS)
    assert _on_retain(win, device) and not win.session.recording
    _check_file_ends_on_retain(path)


# --- 3. a bug in a slot -----------------------------------------------------------------------------
@pytest.mark.qt_no_exception_capture
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_an_exception_in_a_slot_makes_the_rig_safe_and_keeps_the_window_open(qtbot, qt_windows, tmp_path, debug):
    win = _make_window(qtbot, qt_windows, tmp_path)
    path = _record_and_eject(qtbot, tmp_path, win)
    device = win.session.engine.device
    button = QPushButton("buggy", win)
    button.show()

    def buggy_slot() -> None:
        raise ZeroDivisionError("division by zero")

    button.clicked.connect(buggy_slot)
    with win.guard_exceptions(debug=debug) as guard:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # PyQt's default would be abort()
        qtbot.waitUntil(lambda: win.session.engine.stopped.is_set(), timeout=TIMEOUT_MS)
    assert guard.errors and guard.errors[0].startswith("ZeroDivisionError: division by zero (in buggy_slot")
    assert win.isVisible()
    (banner,) = [b for b in win.banners.banners() if b.text.startswith("internal error")]
    assert banner.level == "error" and "\n" not in banner.text and "retain" in banner.text
    assert ("Traceback" in banner.details) is debug
    assert win.session.engine.safe_levels_written and _on_retain(win, device)
    qtbot.waitUntil(lambda: not win.recording_panel.recording, timeout=TIMEOUT_MS)
    _check_file_ends_on_retain(path)
    with Recording(path) as rec:
        kinds = [e.kind for e in rec.events]
    assert EventKind.ABORT in kinds and EventKind.PROTOCOL_END in kinds  # the protocol was aborted
    assert win.close()


# --- 4. no display ----------------------------------------------------------------------------------
def test_ionto_gui_without_a_display_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    p = subprocess.run([*IONTO, "gui", "--device", "sim"], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 1, p.stderr[-3000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ionto gui: error: no display"), p.stderr[-3000:]
    assert "xvfb-run" in lines[0] and "ssh -X" in lines[0] and "libxcb" not in lines[0]


def test_display_problem_only_where_windows_need_one():
    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


# --- 5. a recording that cannot start ---------------------------------------------------------------
def _assert_not_recording_and_error_shown(qtbot, win: MainWindow, target: Path) -> None:
    qtbot.waitUntil(lambda: any(b.text.startswith("recording not started") for b in win.banners.banners()),
                    timeout=TIMEOUT_MS)
    assert not win.session.recording and win.session.recorder is None
    assert not win.recording_panel.recording and win.recording_panel.path.text() == "not recording"
    assert not target.exists()
    assert win.session.running  # acquisition goes on
    # the recording slot is free: a good folder records
    win.recording_panel.directory.setText(str(target.parent.parent / "good"))
    win.start_recording()
    assert win.session.recording and win.session.recorder.path.exists()
    qtbot.waitUntil(lambda: win.recording_panel.recording, timeout=TIMEOUT_MS)


def test_a_recorder_that_fails_at_start_leaves_the_window_not_recording(qtbot, qt_windows, tmp_path, monkeypatch):
    """The folder passed the window's checks, but the file cannot be made (a share whose
    permissions os.access does not see; a disk gone read-only): the engine's recorder fails."""
    import daq.recording.writer as writer

    def refuse(path, *a, **kw):
        raise OSError(errno.EACCES, "Permission denied", str(path))

    win = _make_window(qtbot, qt_windows, tmp_path)
    monkeypatch.setattr(writer, "RecordingFile", refuse)
    win.recording_panel.directory.setText(str(tmp_path / "locked"))
    win.recording_panel.template.setText("cell_{n}.h5")
    qtbot.mouseClick(win.recording_panel.record_button, Qt.MouseButton.LeftButton)
    monkeypatch.undo()
    _assert_not_recording_and_error_shown(qtbot, win, tmp_path / "locked" / "cell_1.h5")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_recording_into_a_folder_that_cannot_be_written(qtbot, qt_windows, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    win = _make_window(qtbot, qt_windows, tmp_path)
    monkeypatch.setattr("app.live.os.access", lambda *a, **k: True)  # the check is fooled, as on some shares
    win.recording_panel.directory.setText(str(locked))
    win.recording_panel.template.setText("cell_{n}.h5")
    try:
        qtbot.mouseClick(win.recording_panel.record_button, Qt.MouseButton.LeftButton)
        monkeypatch.undo()
        _assert_not_recording_and_error_shown(qtbot, win, locked / "cell_1.h5")
    finally:
        locked.chmod(0o755)


# --- a stop while the device is still opening ------------------------------------------------------
def test_a_stop_asked_while_connecting_never_starts_the_engine(tmp_path):
    from app.session import open_device

    opening, go = threading.Event(), threading.Event()
    opened = []

    def slow_opener(*a, **kw):
        opening.set()
        assert go.wait(60)
        device, rig = open_device(*a, **kw)
        opened.append(device)
        return device, rig

    session = LiveSession("sim", seed=1, recordings_dir=tmp_path, opener=slow_opener)
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            session.connect()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    assert opening.wait(60)
    session.request_stop("SIGTERM received")  # the window is closing: nothing must start after this
    go.set()
    wait_until(lambda: errors or session.engine is not None, 60, what="the connection to end")
    assert errors and "stop was asked for while connecting" in str(errors[0])
    assert session.engine is None and not session.running and session.safe_confirmed
    session.disk.close()


def test_ionto_gui_record_and_protocol_the_protocol_waits_for_the_recording(qtbot, qt_windows, tmp_path, monkeypatch):
    """``ionto gui --record F --protocol P``: if F cannot be started, P is loaded but not run."""
    import daq.recording.writer as writer

    def refuse(path, *a, **kw):
        raise OSError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(writer, "RecordingFile", refuse)
    proto = tmp_path / "long.yaml"
    proto.write_text(LONG_EJECTION)
    session = LiveSession("sim", seed=1, speed=4.0, recordings_dir=tmp_path / "rec")
    win = MainWindow(session, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    qt_windows.append(win)
    win.autostart_record, win.autostart_protocol = str(tmp_path / "rec" / "x.h5"), str(proto)
    win.show()
    win.connect_device()
    qtbot.waitUntil(lambda: win.protocol_model.loaded is not None, timeout=TIMEOUT_MS)
    assert not win.session.recording and win.session.runner is None
    assert any("not started, because the recording did not start" in b.text for b in win.banners.banners())
    assert not win.barrel_model.row("glu").ejecting
