"""Screenshots of the rig window during a simulated run (for the docs and the real-window test).

    python -m app.gui.screenshot OUT.png [--protocol FILE [--at-protocol S]] [--speed 20] [--at 200] [--screen]
                                 [--size WxH] [--layout-report FILE.json] [--until-done]

Opens the window on the simulated rig, starts recording and (optionally) a protocol, waits
until the given sample time, and saves a PNG: of the widget (``grab``), or with ``--screen``
of the whole X screen as the window server shows it (run it under Xvfb with
``QT_QPA_PLATFORM=xcb`` for a real window).  Without ``--size`` the window opens as ``ionto gui``
opens it (sized to the screen).  ``--layout-report`` writes where the safety strip and every
barrel's chip are on the screen, and what is cut or off-screen (``app.gui.layout_report``),
before the protocol, once it is loaded, at the picture, and (``--until-done``) after the
protocol ends.  Exits non-zero if the window never showed data or the protocol never ended.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.gui.screenshot", description=__doc__)
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--protocol", help="YAML protocol or plan file to run")
    ap.add_argument("--device", default="sim", help="device URL (default sim)")
    ap.add_argument("--speed", type=float, default=10.0, help="simulation speed (default 10×)")
    ap.add_argument("--at", type=float, default=8.0, help="sample time (s) at which to take the picture")
    ap.add_argument("--at-protocol", type=float, default=None,
                    help="instead of --at: take the picture this many seconds into the protocol")
    ap.add_argument("--window", type=float, default=5.0, help="trace window (s)")
    ap.add_argument("--size", default="", help="window size WxH (default: sized to the screen, as ionto gui)")
    ap.add_argument("--layout-report", default="", help="JSON file: the safety strip's place and problems")
    ap.add_argument("--until-done", action="store_true", help="after the picture, wait for the protocol's end")
    ap.add_argument("--screen", action="store_true", help="grab the X screen instead of the widget")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    ap.add_argument("--recordings", help="keep the run's recording in this folder (default: a temporary "
                    "folder, removed at the end)")
    args = ap.parse_args(argv)
    tmp = Path(args.recordings) if args.recordings else Path(tempfile.mkdtemp(prefix="ionto-shot-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        return _shoot(args, tmp)
    finally:
        if not args.recordings:
            shutil.rmtree(tmp, ignore_errors=True)


def _shoot(args: argparse.Namespace, tmp: Path) -> int:
    """Run the window, take the picture and the layout report (recordings and settings in ``tmp``)."""

    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.gui.layout_report import layout_report
    from app.gui.main_window import MainWindow
    from app.live import LiveSession

    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(LiveSession(args.device, seed=7, speed=args.speed, recordings_dir=tmp),
                     settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.confirm = lambda title, text: True
    try:
        if args.size:
            w, h = (int(v) for v in args.size.lower().split("x"))
            win.resize(w, h)
        win.show()
        reports: dict[str, dict] = {}
        win.traces.window.setCurrentIndex(max(0, win.traces.window.findData(args.window)))
        win.connect_device()
        deadline = time.monotonic() + args.timeout

        def pump(cond) -> bool:
            while not cond():
                if time.monotonic() > deadline:
                    return False
                app.processEvents()
                time.sleep(0.005)
            return True

        def settle() -> None:
            for _ in range(20):  # let the slower panels catch up
                app.processEvents()
                time.sleep(0.02)

        if not pump(lambda: win.trace_model is not None and win.trace_model.end_index > 0):
            print("the window never showed data", file=sys.stderr)
            return 1
        settle()
        reports["before"] = layout_report(win)
        win.recording_panel.notes.setPlainText("cell 3, 850 µm, layer V; 5-barrel pipette (screenshot run)")
        win.start_recording()
        if args.protocol:
            win.open_protocol(args.protocol)
            if not pump(lambda: win.protocol_model.loaded is not None):
                return 1
            settle()
            reports["loaded"] = layout_report(win)
            win.run_protocol()
        rate = win.trace_model.rate_hz
        if args.protocol and args.at_protocol is not None:
            pump(lambda: win.protocol_model.progress(win.trace_model.end_index).elapsed_s >= args.at_protocol)
        else:
            pump(lambda: win.trace_model.end_index >= args.at * rate)
        if win.session.is_replay and not pump(lambda: win.replay_control is not None):
            print("the replay overview never came", file=sys.stderr)
            return 1
        settle()
        reports["during"] = layout_report(win)
        reports["during"]["ejecting"] = [r.name for r in win.barrel_model.rows if r.ejecting]
        if args.screen:
            screen = app.primaryScreen()
            pix = screen.grabWindow(0)
        else:
            pix = win.grab()
        ok = pix.save(args.out)
        print(f"{args.out}: {pix.width()}x{pix.height()} at t = {win.trace_model.end_index / rate:.1f} s, "
              f"platform {app.platformName()}")
        if args.protocol and args.until_done:
            if not pump(lambda: win.protocol_model.state in ("done", "aborted", "error")):
                print("the protocol did not end in time", file=sys.stderr)
                ok = False
            settle()
            reports["after"] = layout_report(win)
            reports["after"]["protocol"] = win.protocol_model.state
        if args.layout_report:
            Path(args.layout_report).write_text(json.dumps(reports, indent=1))
    finally:
        win.close()  # (every way out: the recording is closed before its folder goes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
