"""``ionto info`` for another system's file or folder read through Neo: what was found (streams,
channels, rates, durations, event channels), the stream that would be analysed, and which
source its ejection epochs came from (sidecar CSV, markers, current monitor) — or why it
cannot be analysed.  Thread: the caller's."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.common import emit_json, say


def neo_info(path: Path, args: argparse.Namespace) -> int:
    from analysis.neo_source import NeoSource, event_channels, open_rawio, streams
    from app.cli.neo_options import neo_kwargs
    from daq.errors import IontoError

    io = open_rawio(path)  # one line if Neo cannot read it
    doc: dict[str, Any] = {"path": str(path), "format": type(io).__name__.removesuffix("RawIO")}
    try:  # what the file holds, even when it cannot be analysed as it is
        if io.header["nb_block"] == 1 and io.header["nb_segment"][0] == 1:
            doc["streams"], doc["event_channels"] = streams(io), event_channels(io)
        else:
            doc["blocks"], doc["segments"] = int(io.header["nb_block"]), [int(n) for n in io.header["nb_segment"]]
    except Exception as exc:  # Neo's readers raise anything on a file they half-parse
        doc["streams_error"] = f"{type(exc).__name__}: {exc}"
    try:
        with NeoSource(path, **neo_kwargs(args)) as src:
            doc["analysed"] = {
                "stream": src.series_name, "rate_hz": src.rate_hz, "samples": src.n_samples,
                "duration_s": src.duration_s, "t_start_s": src.t_start_s,
                "channels": [{"name": c.name, "kind": str(c.kind), "source": c.physical} for c in src.channels],
                "epochs_source": src.epochs_source,
                "ejections": [{"barrel": e.barrel, "drug": e.drug, "current_nA": e.current_nA, "start_s": e.start_s,
                               "end_s": e.stop_s} for e in src.ejections]}
    except IontoError as exc:
        doc["analysed"] = None
        doc["not_analysable"] = str(exc)
    if args.json:
        emit_json(doc)
        return 0
    say(f"{path}  ({doc['format']}, read through Neo)")
    for s in doc.get("streams", []):
        chans = ", ".join(f"{c['name']} ({c['units']})" for c in s["channels"][:8])
        more = f" … {len(s['channels']) - 8} more" if len(s["channels"]) > 8 else ""
        say(f"  stream {s['index']}: {s['name']!r}  {s['rate_hz']:g} Hz, {s['samples']} samples = "
            f"{s['duration_s']:.2f} s; {chans}{more}")
    for e in doc.get("event_channels", []):
        say(f"  event channel {e['name']!r} ({e['type']}): {e['count']} events")
    a = doc["analysed"]
    if a is None:
        say(f"  not analysable as it is: {doc['not_analysable']}")
        return 0
    say(f"  analysed: stream {a['stream']!r}, channels "
        + ", ".join(f"{c['name']} ({c['kind']})" for c in a["channels"]))
    say(f"  epochs from: {a['epochs_source']}; {len(a['ejections'])} ejection(s)")
    for e in a["ejections"][: args.events]:
        say(f"    {e['start_s']:10.3f}–{e['end_s']:.3f} s  {e['barrel']:<6} {e['drug']:<13} {e['current_nA']:+8.1f} nA")
    return 0
