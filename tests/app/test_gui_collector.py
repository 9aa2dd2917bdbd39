"""The rig window keeps Python's collector from pausing it (app/gui/collector.py)."""
# ruff: noqa: F811  (make_window, a fixture from gui_helpers, is each test's argument)

from __future__ import annotations

import gc

import pytest

pytest.importorskip("PyQt6")

from gui_helpers import TIMEOUT_MS, make_window  # noqa: F401 (make_window is a fixture)


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # (the test process builds many windows: nothing stays frozen after the test)


def test_ionto_guis_window_freezes_the_long_lived_objects_once_acquisition_runs(qtbot, make_window, unfrozen):
    """With ``freeze_collector`` (what ``ionto gui`` sets), the objects alive once the connection's
    models exist leave the collector's full passes; without it nothing is frozen."""
    plain = make_window()
    assert plain.trace_model is not None and gc.get_freeze_count() == 0
    win = make_window(connect=False)
    win.freeze_collector = True
    win.connect_device()
    qtbot.waitUntil(lambda: win._bound, timeout=TIMEOUT_MS)
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the modules, Qt wrappers and models: the bulk of the heap
    alive = len(gc.get_objects())  # what a full pass now walks: made since the freeze
    assert alive < frozen


def test_ionto_gui_asks_for_the_freeze(qtbot, monkeypatch, tmp_path):
    """``ionto gui``'s own path (``run_gui``) builds its window with ``freeze_collector`` set."""
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.gui import run
    from app.gui.main_window import MainWindow

    monkeypatch.chdir(tmp_path)
    seen = {}

    def exec_once(_app=None) -> int:  # instead of the event loop: look at the window, close it
        win = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen["freeze"] = win.freeze_collector
        win.confirm = lambda title, text: True
        win.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_once)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)  # (not the user's)
    monkeypatch.setattr(run, "MainWindow", lambda session: MainWindow(session, settings=settings))
    assert run.run_gui("sim", connect=False) == 0
    assert seen == {"freeze": True}
