"""``ionto run PROTOCOL``: run a YAML protocol or a Python plan file, recording to HDF5."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import EngineProgress, emit_json, say
from app.session import (
    default_recording_path,
    load_any_protocol,
    parse_speed,
    resolve_rig,
    run_protocol,
)
from daq.errors import IontoError
from protocols.dryrun import dry_run

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a protocol (YAML or Python plan) and record it",
                       description="Run a protocol on a device and record everything to one HDF5 file.")
    p.add_argument("protocol", help="protocol file (.yaml) or Python plan file (.py)")
    p.add_argument("--device", default="sim", help="device URL (default: sim)")
    p.add_argument("--rig", help="rig file (YAML): channels, pipette (and simulation)")
    p.add_argument("--out", help="recording file (default: recordings/<protocol>-<time>.h5)")
    p.add_argument("--speed", default=None,
                   help="realtime, max or a factor (default: realtime on hardware, max on the simulator)")
    p.add_argument("--seed", type=int, help="simulator seed (reproducible runs)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    loaded = load_any_protocol(args.protocol)
    info = loaded.info
    speed_text = args.speed or ("max" if args.device.startswith("sim") else "realtime")
    speed = parse_speed(speed_text)
    # dry run first: limits and duration are checked before any current flows
    rig = resolve_rig(args.device, args.rig)
    dr = dry_run(loaded.factory(), rig.pipette, rig.rate_hz, info.name)
    if not dr.ok:
        raise IontoError(f"{args.protocol}: the protocol cannot run on this rig: " + "; ".join(dr.errors))
    out = Path(args.out) if args.out else default_recording_path(info.name)
    say(f"running {info.name!r} on {args.device} ({dr.duration_s:.0f} s of protocol) → {out}")
    progress = EngineProgress(dr.duration_s, rig.rate_hz, desc=info.name[:30])
    try:
        res = run_protocol(loaded.factory(), info, out, device_url=args.device, rig_path=args.rig, speed=speed,
                           seed=args.seed, overwrite=args.overwrite, on_event=progress)
    finally:
        progress.close()
    doc = {"recording": str(res.path), "duration_s": res.duration_s, "samples": res.samples,
           "gaps": res.gaps, "lost_samples": res.lost_samples, "events": res.events, "error": res.error}
    if args.json:
        emit_json(doc)
    else:
        say(f"recorded {res.duration_s:.1f} s ({res.samples} samples, {res.gaps} gaps) to {res.path}")
        if res.error:
            say(f"the run stopped with an error: {res.error}")
    return 1 if res.error else 0
