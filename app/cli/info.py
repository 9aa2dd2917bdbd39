"""``ionto info FILE``: what a recording holds (finished, still being written, or crashed); for an
NWB file, its ElectricalSeries (to choose ``--series`` from) and the one that would be analysed;
for another system's file or folder that Neo reads, its streams, channels, rates, durations,
event channels, and where the ejection epochs came from."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import emit_json, say
from app.cli.neo_options import add_neo_options

ORDER = 40

STATUS_TEXT = {
    "closed": "closed cleanly",
    "live": "being written now (live; figures are what the writer has committed so far)",
    "crashed": "NOT closed cleanly: the writer stopped (crash, kill or power loss); "
               "everything up to its last commit is readable",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what a recording holds",
                       description="Channels, rate, duration, committed samples, gaps, events, pipette, protocol, "
                                   "and whether the file was closed cleanly (or is still being written).")
    p.add_argument("file", help="an ionto HDF5 recording, an NWB file, or another system's file or folder that Neo "
                   "reads (.abf, .smr, .rhd, .pl2, .ns5, .nix, an Open Ephys folder, …)")
    p.add_argument("--series", metavar="NAME", help="NWB files: the ElectricalSeries to describe (name or path); "
                   "other systems' files: the signal stream (name or number)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--events", type=int, default=200, metavar="N", help="list at most N events (default 200)")
    add_neo_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from daq.recording import Recording, refuse_special_file

    refuse_special_file(args.file)  # (Recording checks too) a FIFO would block forever
    if _is_nwb(Path(args.file)):
        return _nwb_info(Path(args.file), args)
    from analysis.neo_source import is_neo_path

    if is_neo_path(Path(args.file)):
        from app.cli.info_neo import neo_info

        return neo_info(Path(args.file), args)
    with Recording(args.file) as rec:
        s = rec.summary()
        events = rec.events
    rate = s["rate_hz"]
    if args.json:
        s["event_list"] = [
            {"sample_index": e.sample_index, "t_s": e.sample_index / rate, "kind": str(e.kind),
             "barrel": e.barrel, "current_nA": e.current_nA, "text": e.text}
            for e in events
        ]
        emit_json(s)
        return 0
    say(f"{s['path']}  (ionto recording, schema {s['schema_version']}, created {s['created']} {s['timezone']})")
    say(f"  status: {STATUS_TEXT.get(s['status'], s['status'])}")
    if s["status"] != "closed" and s["last_commit_age_s"] is not None:
        say(f"  last commit: {s['last_commit_age_s']:.1f} s ago")
    say(f"  {rate:g} Hz, {s['committed_samples']} committed samples = {s['duration_s']:.2f} s recorded "
        f"(samples {s['first_index']}..{s['end_index']}), {s['dtype']}")
    if s["gaps"]:
        say(f"  gaps: {len(s['gaps'])}, {s['lost_samples']} samples lost")
        for g in s["gaps"][:20]:
            say(f"    at {g['t_s']:10.3f} s  lost {g['lost_samples']} samples ({g['lost_samples'] / rate * 1e3:.1f} ms)")
    else:
        say("  gaps: none")
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
    if s["notes"]:
        say(f"  notes: {s['notes']}")
    say(f"  events: {s['events']['count']}  " + ", ".join(f"{k} {v}" for k, v in sorted(s['events']['by_kind'].items())))
    for e in events[: args.events]:
        say(f"    {e.sample_index / rate:10.3f} s  {e.kind!s:<15} {e.barrel:<6} "
            + (f"{e.current_nA:+8.1f} nA  " if e.barrel else "") + e.text)
    if len(events) > args.events:
        say(f"    ... {len(events) - args.events} more (use --events N or --json for all)")
    if s["ground_truth"]:
        say("  ground truth: yes (recorded on the simulated rig)")
    return 0


def _is_nwb(path: Path) -> bool:
    if path.suffix.lower() == ".nwb":
        return True
    if path.suffix.lower() in (".h5", ".hdf5") or not path.is_file():
        return False
    from analysis.nwb_file import is_nwb_file

    return is_nwb_file(path)


def _nwb_info(path: Path, args: argparse.Namespace) -> int:
    """The file's ElectricalSeries, and what the analysis would read: the chosen (or only)
    series' rate, samples, channels, gaps and clock jitter, and its ejections — or why not."""
    from analysis.detect import DetectionParams
    from analysis.filters import BAND_LIMIT_OF_RATE
    from analysis.nwb_file import electrical_series
    from analysis.nwb_source import NwbSource
    from daq.errors import IontoError

    doc: dict = {"path": str(path), "format": "nwb", "electrical_series": electrical_series(path)}
    try:
        with NwbSource(path, series=args.series) as src:
            doc["analysed"] = {
                "series": src.series_name, "rate_hz": src.rate_hz, "samples": src.n_samples,
                "duration_s": src.duration_s, "channels": [c.name for c in src.channels],
                "gaps": [{"sample_index": a, "lost_samples": n} for a, n in src.gaps],
                "timestamp_jitter_periods": src.jitter_periods, "ejections": len(src.ejections),
                "read_notes": list(src.read_notes),
                "subject": {k: str(v) for k, v in src.metadata["subject"].items()},
                "band_limit_hz": BAND_LIMIT_OF_RATE * src.rate_hz, "default_band_hz": list(DetectionParams().band_hz)}
        for es in doc["electrical_series"]:  # the analysed series' shape as read: (samples, channels)
            if es["series"] == src.series_name and es["samples"] != src.n_samples == es["columns"]:
                es.update(stored_shape=[es["samples"], es["columns"]], samples=src.n_samples,
                          columns=len(src.channels), note="stored channels-first; read transposed")
    except IontoError as exc:
        doc["analysed"] = None
        doc["not_analysable"] = str(exc)
    if args.json:
        emit_json(doc)
        return 0
    say(f"{path}  (NWB file)")
    say("  ElectricalSeries:")
    for es in doc["electrical_series"]:
        clock = "timestamps" if es["timestamps"] else f"{es['rate_hz']:g} Hz"
        say(f"    {es['series']:<48} {clock:>12}  {es['samples']} samples × {es['columns']} columns, {es['dtype']}"
            + (f" ({es['note']})" if "note" in es else ""))
    a = doc["analysed"]
    if a is None:
        say(f"  not analysable as it is: {doc['not_analysable']}")
        return 0
    say(f"  analysed: {a['series']}: {a['rate_hz']:g} Hz, {a['samples']} samples = {a['duration_s']:.2f} s, "
        f"channels {a['channels']}")
    for note in a["read_notes"]:
        say(f"  warning: {note}")
    if a["timestamp_jitter_periods"]:
        say(f"  timestamps: within ±{a['timestamp_jitter_periods']:.2g} sample period of one regular clock")
    say(f"  gaps: {len(a['gaps'])}" + "".join(f"; {g['lost_samples']} samples lost at sample {g['sample_index']}"
                                              for g in a["gaps"][:5]))
    say(f"  ejections: {a['ejections']}; subject: {a['subject'] or '(none)'}")
    if a["band_limit_hz"] < a["default_band_hz"][1]:
        lo, hi = a["default_band_hz"]
        say(f"  spike detection: this rate holds frequencies up to {a['band_limit_hz']:g} Hz, below the default "
            f"{lo:g}–{hi:g} Hz band: ionto analyze refuses it unless given --band LOW HIGH with HIGH ≤ "
            f"{a['band_limit_hz']:g}")
    return 0
