"""``ionto info FILE``: what a recording holds."""

from __future__ import annotations

import argparse

from app.cli.common import emit_json, say
from daq.recording import Recording

ORDER = 40


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what a recording holds",
                       description="Channels, rate, duration, committed samples, gaps, events, pipette, protocol.")
    p.add_argument("file", help="an ionto HDF5 recording")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Recording(args.file) as rec:
        s = rec.summary()
        events = rec.events
    if args.json:
        s["event_list"] = [
            {"sample_index": e.sample_index, "t_s": e.sample_index / s["rate_hz"], "kind": str(e.kind),
             "barrel": e.barrel, "current_nA": e.current_nA, "text": e.text}
            for e in events
        ]
        emit_json(s)
        return 0
    say(f"{s['path']}  (ionto recording, schema {s['schema_version']}, created {s['created']})")
    say(f"  closed cleanly: {'yes' if s['closed_cleanly'] else 'NO (crashed or still being written)'}")
    say(f"  {s['rate_hz']:g} Hz, {s['committed_samples']} committed samples = {s['duration_s']:.2f} s, "
        f"{s['dtype']}, {len(s['gaps'])} gaps")
    say("  channels:")
    for c in s["channels"]:
        say(f"    {c['name']:<12} {c['physical']:<10} {c['kind']:<16} {c['units']:<3} gain {c['gain']:g}"
            + (f"  (barrel {c['barrel']})" if c["barrel"] else ""))
    if s["pipette"]:
        say("  pipette:")
        for b in s["pipette"]:
            say(f"    {b['name']:<6} {b['drug']:<13} {b['role']:<8} polarity {b['polarity']:+d}  "
                f"{b['concentration_mM']:g} mM  retain {b['retain_nA']:g} nA  max {b['max_eject_nA']:g} nA")
    say(f"  protocol: {s['protocol']['name'] or '(none)'} ({s['protocol']['format'] or '-'})")
    say(f"  events: {s['events']['count']}  " + ", ".join(f"{k} {v}" for k, v in sorted(s['events']['by_kind'].items())))
    for e in events[:200]:
        if str(e.kind) in ("initial",):
            continue
        say(f"    {e.sample_index / s['rate_hz']:10.3f} s  {e.kind!s:<15} {e.barrel:<6} "
            + (f"{e.current_nA:+8.1f} nA  " if e.barrel else "") + e.text)
    if len(events) > 200:
        say(f"    ... {len(events) - 200} more (use --json for all)")
    if s["ground_truth"]:
        say("  ground truth: yes (recorded on the simulated rig)")
    return 0
