"""One real window: the rig window on an X server (Xvfb) with Qt's xcb platform, screenshotted.

CI installs Xvfb and the xcb libraries Qt needs (.ci/run); without Xvfb this test is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

XVFB = shutil.which("Xvfb")


def _free_display() -> int:
    for n in range(90, 140):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number between :90 and :139")


@pytest.fixture
def xserver():
    if XVFB is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb; .ci/run installs it)")
    n = _free_display()
    proc = subprocess.Popen([XVFB, f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60  # a bound against hanging on a busy machine
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"Xvfb :{n} did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    yield f":{n}"
    proc.terminate()
    proc.wait(5)


def test_real_window_under_xvfb_takes_a_screenshot(xserver, tmp_path):
    out = tmp_path / "window.png"
    env = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb"}
    p = subprocess.run([sys.executable, "-m", "app.gui.screenshot", str(out), "--screen", "--size", "1600x1000",
                        "--at", "3", "--speed", "4", "--timeout", "90"],
                       capture_output=True, text=True, env=env, timeout=150)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "platform xcb" in p.stdout  # a real X window, not the offscreen platform
    from PyQt6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1600, 1000)
    # the screen shows the window: the trace's dark blue, the spike marks' red, the retain button's green
    colours = {img.pixel(x, y) & 0xFFFFFF for x in range(0, 1600, 3) for y in range(0, 1000, 3)}
    assert len(colours) > 50

    def near(rgb: int, tol: int = 40) -> bool:
        r, g, b = rgb >> 16, (rgb >> 8) & 255, rgb & 255
        return any(abs(r - (c >> 16)) < tol and abs(g - ((c >> 8) & 255)) < tol and abs(b - (c & 255)) < tol
                   for c in colours)

    assert near(0x1F4E79)  # electrode trace
    assert near(0xE74C3C)  # spike marks and threshold
    assert near(0x2E7D32)  # "ALL TO RETAIN (Esc)"
