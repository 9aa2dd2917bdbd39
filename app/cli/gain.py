"""``ionto gain FILE...``: the drug × stimulus analysis of trial recordings (docs/trials.md).

Per recording: trials from its event log, spikes detected on an electrode, responses per
stimulus × drug condition, tuning curves per drug condition, the gain model
(multiplicative vs additive), Fano factors, AUROC and modulation indices; with several
recordings (cells), a summary per cell type.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from app.cli.common import emit_json, say
from daq.errors import IontoError

ORDER = 54


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gain", help="drug x stimulus trials: tuning per drug condition and the gain (docs/trials.md)",
                       description="Analyses the trials of recordings (trial_start/trial_stop events, drug blocks): "
                       "responses per stimulus x drug condition, tuning curves (von Mises or Naka-Rushton) per "
                       "drug condition, the gain model drug = g x control + a with bootstrap CIs and the "
                       "preferred model (multiplicative, additive, both, none), Fano factor, AUROC, modulation "
                       "index; with several recordings a summary per cell type.")
    p.add_argument("files", nargs="+", help="recordings (.h5 or .nwb), one cell each")
    p.add_argument("--cell-type", action="append", default=None,
                   help="cell type of each file, in order (repeat the option; default: 'cell')")
    p.add_argument("--channel", help="electrode channel to detect spikes on (default: the first)")
    p.add_argument("--drug-barrel", help="without drug_block events: the barrel whose ejections make the blocks")
    p.add_argument("--settle-s", type=float, default=0.0, help="with --drug-barrel: trials count this long "
                   "after each drug change (default 0)")
    p.add_argument("--discard", type=int, default=0, help="with --drug-barrel: trials dropped after that "
                   "(default 0)")
    p.add_argument("--window-start-s", type=float, default=0.05, help="the response window starts this long "
                   "after stimulus onset and ends as long after its offset (default 0.05)")
    p.add_argument("--out", help="directory for the report: report.html with the tuning per drug condition of "
                   "each recording (PNG at 300 dpi and SVG), cells.csv, tuning.csv, tuning_fits.csv, gain.csv")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> list[str]:
    types = args.cell_type or []
    if types and len(types) != len(args.files):
        raise IontoError(f"--cell-type: {len(types)} given for {len(args.files)} file(s); give one per file")
    for name, v in (("--settle-s", args.settle_s), ("--window-start-s", args.window_start_s)):
        if not (math.isfinite(v) and v >= 0):
            raise IontoError(f"{name}: {v} must be a finite number of seconds >= 0")
    if args.discard < 0:
        raise IontoError(f"--discard: {args.discard} must be >= 0")
    return types or ["cell"] * len(args.files)


def run(args: argparse.Namespace) -> int:
    types = _check(args)
    from analysis.gain_report import analyze_gain, detected_spikes, gain_doc, gain_figure
    from analysis.gain_summary import cell_row, summarize, write_csv
    from analysis.source import open_source

    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    cells: list[dict[str, Any]] = []
    rows = []
    analysed = []
    for path, cell_type in zip(args.files, types):
        with open_source(path) as rec:
            try:
                spikes = detected_spikes(rec, args.channel)
            except KeyError as exc:
                raise IontoError(f"{path}: no electrode channel {args.channel!r} ({exc})") from None
            res = analyze_gain(rec, spikes, window_start_s=args.window_start_s, drug_barrel=args.drug_barrel,
                               settle_s=args.settle_s, discard=args.discard)
        doc = {"file": str(path), "cell_type": cell_type, **gain_doc(res)}
        if out is not None:
            doc["figure"] = gain_figure(res, out / f"{Path(path).stem}-gain.png")
        cells.append(doc)
        rows.append(cell_row(Path(path).stem, cell_type, res))
        analysed.append((Path(path).stem, res))
    summary = [s.__dict__ for s in summarize(rows)]
    table = write_csv(rows, out / "cells.csv") if out is not None else None
    extra: dict[str, Any] = {}
    if out is not None:
        from analysis.gain_html import write_gain_report

        files: dict[str, Any] = {"cells": table}
        extra["report"] = str(write_gain_report(analysed, out, files))
        extra["tables"] = {k: files[k] for k in ("tuning", "tuning_fits", "gain")}
        for c, (name, _) in zip(cells, analysed):
            c["tuning_figure"] = files["figures"][name]
    if args.json:
        emit_json({"cells": cells, "summary": summary, "table": table, **extra})
        return 0
    for c in cells:
        f = c["fit"]
        say(f"{c['file']} ({c['cell_type']}): {c['trials']['valid']} valid trials of {c['trials']['total']}; "
            f"g {f['gain']:.3f} [{f['gain_ci95'][0]:.3f}, {f['gain_ci95'][1]:.3f}], "
            f"a {f['offset']:+.2f} Hz [{f['offset_ci95'][0]:+.2f}, {f['offset_ci95'][1]:+.2f}]; "
            f"preferred model: {c['preferred_model']}")
        for label, curve in c["curves"].items():
            t, g = curve["tuning"], curve["gain"]
            line = f"  {'control (off)' if label == 'off' else label}: "
            if t is not None:
                line += "tuning " + (t["error"] or ", ".join(f"{k} {v:.3g}" for k, v in t["params"].items()
                                                          if v is not None))
            if g is not None and len(c["curves"]) > 2:  # several currents: each one's gain against control
                line += f"; g {g['gain']:.3f}, a {g['offset']:+.2f} Hz ({g['preferred_model']})"
            say(line)
    if len(rows) > 1:
        say("")
        for s in summary:
            say(f"{s['cell_type']}: {s['n_cells']} cell(s), median g {s['gain_median']:.3f}, median a "
                f"{s['offset_median_hz']:+.2f} Hz, preferred: "
                + ", ".join(f"{m} {n}" for m, n in s["preferred_models"].items() if n))
    if table:
        say(f"\ncells: {table}\nreport: {extra['report']}")
    return 0
