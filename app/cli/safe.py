"""``ionto safe --device URL [--rig RIG.yaml] [--json]``: every barrel to its retain (or zero)
level, from any state — for the operator whose run died.

Clears the tasks a stopped (or crashed, or still running: it takes over, and says so) ionto
left on the board, disarms an expired cDAQ watchdog (resetting the chassis), then writes the
pipette's safe levels with an on-demand task.  Without a rig: 0 V on every analog output of
the device.  Prints one line per barrel; exit 0, or 1 with one line when it cannot.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.common import emit_json, say
from daq.errors import ConfigError

ORDER = 25


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("safe", help="put every barrel at its retain (or zero) level, from any state",
                       description="Clear the tasks a stopped or crashed ionto left on an NI board, disarm an "
                       "expired watchdog, and write each barrel's safe level (retain, or 0 nA where the rig says "
                       "safe_state: zero).  Without --rig: 0 V on every analog output of the device.  Takes over "
                       "from an ionto still running on the board.")
    p.add_argument("--device", required=True, help="device URL: ni:DEV, ni+grpc://HOST:PORT/DEV (sim: nothing to do)")
    p.add_argument("--rig", help="rig file (YAML): which output drives which barrel, and the gains")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def _preset_rig(conn: Any, device: str) -> Any:
    """The rig of an ionto simulated board started from a preset (None for anything else)."""
    from daq.ni import capabilities
    from daq.ni.rigs import rig_on_device
    from mock_daq import load_preset
    from mock_daq.nigrpc.spec import preset_of

    preset = preset_of(capabilities(conn, device).product)
    return rig_on_device(load_preset(preset), device) if preset else None


def run(args: argparse.Namespace) -> int:
    from app.session import parse_device_url

    url = args.device.strip()
    spec = parse_device_url(url)
    if spec.scheme not in ("ni", "ni+grpc"):
        msg = (f"{url}: a {spec.scheme} device holds no outputs between runs: nothing to do")
        if args.json:
            emit_json({"device": url, "levels": [], "cleared": [], "notes": [msg]})
        else:
            say(msg)
        return 0
    from daq.ni import NIConnection
    from daq.ni.recovery import make_safe
    from daq.rig import load_rig

    rig = load_rig(args.rig) if args.rig else None
    conn = NIConnection(spec.host, spec.port) if spec.scheme == "ni+grpc" else NIConnection()
    try:
        conn.wait_ready()
        if rig is None:
            rig = _preset_rig(conn, spec.target)
        report = make_safe(conn, spec.target, rig, url=url, rig_path=args.rig or "")
    finally:
        conn.close()
    if args.json:
        emit_json(report.as_dict())
        return 0
    for name in report.cleared:
        say(f"cleared stale task {name}")
    for note in report.notes:
        say(note)
    for lv in report.levels:
        if lv.barrel:
            say(f"{lv.barrel} ({lv.drug}) {lv.channel}: {lv.kind} {lv.current_nA:g} nA ({lv.volts:+.4g} V)")
        else:
            say(f"{lv.channel}: {lv.kind}")
    if not report.levels and not report.notes:
        raise ConfigError(f"{url}: nothing was written")
    return 0
