"""Shared fixtures.  Qt runs offscreen unless told otherwise."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from daq.pipette import Barrel, Pipette


def _lsl_on_this_machine_only() -> None:
    """Lab Streaming Layer (the network trial input's tests) finds streams by multicast, which a
    CI container may not route.  Before pylsl loads liblsl, point it at a configuration that
    also asks this machine directly (``KnownPeers``), keeps discovery on this machine, uses
    IPv4 only and logs errors only (liblsl's configuration file keys: ``[lab] KnownPeers``,
    ``[multicast] ResolveScope``, ``[ports] IPv6``, ``[log] level``).  The sender subprocesses
    the tests start inherit it."""
    import tempfile
    from pathlib import Path

    cfg = Path(tempfile.gettempdir()) / f"ionto-tests-lsl-{os.getuid()}.cfg"
    cfg.write_text("[ports]\nIPv6 = disable\n\n[multicast]\nResolveScope = machine\n\n"
                   "[lab]\nKnownPeers = {127.0.0.1}\n\n[log]\nlevel = -2\n")
    os.environ["LSLAPICFG"] = str(cfg)


_lsl_on_this_machine_only()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--ni-device", default=None, help="run the opt-in tests on this real NI device (e.g. Dev1)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--ni-device"):
        return
    skip = pytest.mark.skip(reason="needs a real NI board: pass --ni-device DevN")
    for item in items:
        if "ni_hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def qt_windows(qtbot):
    """The windows a test makes (``qt_windows.append(win)``), held until the test's teardown and
    deleted there, at a known point.

    ``qtbot.addWidget`` keeps only a weak reference.  Once the test body returns, a window is
    then held only by reference cycles (pyqtgraph's items, slots that close over it) while it is
    still open, and pytest-qt goes on processing events for it (painting it) before its teardown
    closes it.  Any garbage collection may then free it — and, the window being Python's, delete
    its C++ side at once — even one that runs inside its own pyqtgraph view's ``paintEvent``: the
    paint goes on in freed memory ("wrapped C/C++ object of type AxisItem has been deleted", then
    a segmentation fault), which full test runs hit now and then.  Held here, a window lives until
    pytest-qt has closed it; then it is deleted here (``deleteLater`` and the deferred deletes
    sent), not by a later collection at some arbitrary point of another test."""
    windows: list = []
    yield windows
    from PyQt6 import sip
    from PyQt6.QtCore import QCoreApplication, QEvent

    for w in windows:
        if not sip.isdeleted(w):
            if w.isVisible():  # (pytest-qt's close was refused: close once more, then delete anyway)
                w.close()
            w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    windows.clear()


@pytest.fixture(scope="session")
def pipette() -> Pipette:
    """Glutamate (anion), GABA (cation), an NaCl control and the balance barrel."""
    return Pipette(
        max_total_nA=300,
        barrels=(
            Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=15, max_eject_nA=150,
                   command_gain_nA_per_V=100, ao_channel="x/ao0"),
            Barrel(name="gaba", drug="GABA", polarity=+1, retain_nA=10, max_eject_nA=100,
                   command_gain_nA_per_V=100, ao_channel="x/ao1"),
            Barrel(name="nacl", drug="NaCl", role="control", max_eject_nA=100,
                   command_gain_nA_per_V=100, ao_channel="x/ao2"),
            Barrel(name="bal", drug="NaCl", role="balance", max_eject_nA=300,
                   command_gain_nA_per_V=100, ao_channel="x/ao3"),
        ),
    )
