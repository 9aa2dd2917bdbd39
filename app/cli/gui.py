"""``ionto gui``: the rig window.

SIGINT, SIGTERM and SIGHUP close the window without asking: every barrel to retain, the
recording closed, then exit 128 + the signal with one line on stderr.  ``--record`` and
``--protocol`` start a recording and a protocol as soon as acquisition runs.
``--workspace NAME`` opens a saved rig workspace (device, rig, speed, threshold, gains,
window length, ratemeter, layout: ``app.gui.workspace``); options given on the command line
win over the workspace's.

Start-up: nothing heavy is imported to build the parser; Qt, the models and the session are
imported only when the window opens, after the display and the options were checked.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from daq.errors import ConfigError, IontoError

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the rig window", description="Live traces, ratemeter, barrels, protocols.")
    p.add_argument("--device", help="device URL (default: the workspace's, else sim)")
    p.add_argument("--rig", help="rig file (YAML) (default: the workspace's)")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--speed", help="simulator speed: realtime or a factor (default: the workspace's, else realtime)")
    p.add_argument("--workspace", metavar="NAME",
                   help="open a saved rig workspace (File > Save workspace; a name, or a .yaml file)")
    p.add_argument("--record", metavar="FILE", help="start recording to FILE (.h5) once acquisition runs")
    p.add_argument("--protocol", metavar="FILE",
                   help="load this protocol (YAML or Python plan) and run it once acquisition runs, if it passes "
                        "its dry run")
    p.set_defaults(func=run)


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why no window can open here, in one line, or None.  On X11/Wayland systems a window needs
    DISPLAY or WAYLAND_DISPLAY (or an explicit QT_QPA_PLATFORM); without them Qt aborts with
    a misleading hint about missing xcb libraries."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith(("darwin", "win", "cygwin")):
        return None
    if env.get("QT_QPA_PLATFORM") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop "
            "session, over 'ssh -X', or under 'xvfb-run ionto gui'; QT_QPA_PLATFORM=offscreen runs it without a "
            "screen (tests)")


def run(args: argparse.Namespace) -> int:
    problem = display_problem()
    if problem:
        raise IontoError(problem)
    from app.session import parse_speed

    ws = None
    if args.workspace:
        from app.gui.workspace import load_workspace

        ws = load_workspace(args.workspace)  # a bad file: one line, before any window opens
    device = args.device or (ws.device if ws is not None else "sim")
    rig = args.rig or (ws.rig if ws is not None else None)
    speed = parse_speed(args.speed or (str(ws.speed) if ws is not None else "realtime"))
    if speed is None:
        raise ConfigError("--speed max is for 'ionto run'; the rig window runs in real time or at a factor")
    if args.record:
        rec = Path(args.record)
        if rec.suffix.lower() not in (".h5", ".hdf5"):
            raise ConfigError(f"{rec}: a recording file name must end in .h5")
        if rec.exists():
            raise ConfigError(f"{rec} exists; choose another --record")
    if args.protocol and not Path(args.protocol).is_file():
        raise ConfigError(f"{args.protocol}: no such protocol file")
    from app.gui.run import run_gui  # Qt is imported only here

    # the window applies the rest of the workspace (models, recording, layout) once connected
    return run_gui(device_url=device, rig_path=rig, seed=args.seed, record=args.record,
                   protocol=args.protocol, speed=speed, debug=bool(getattr(args, "debug", False)), workspace=ws)
