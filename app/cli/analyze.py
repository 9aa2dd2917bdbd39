"""``ionto analyze FILE``: spikes, ratemeter, epochs and dose–response fits of a recording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis.detect import DetectionParams
from analysis.open import analyze_path
from analysis.pipeline import AnalysisParams, result_json
from analysis.report import epoch_table, fit_table, summary_figure
from app.cli.common import emit_json, say

ORDER = 50


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a recording: spikes, rates, epochs, dose–response",
                       description="Detect spikes, compute the ratemeter and ejection epochs, fit the "
                       "dose–response of each drug barrel, and write tables and figures.")
    p.add_argument("file", help="an ionto HDF5 recording or an NWB file with an ElectricalSeries")
    p.add_argument("--out", help="directory for tables and figures (default: next to the file)")
    p.add_argument("--channel", help="electrode channel (default: the first)")
    p.add_argument("--k", type=float, default=5.0, help="threshold in MAD noise units (default 5)")
    p.add_argument("--baseline-s", type=float, default=30.0, help="baseline window before each onset (s)")
    p.add_argument("--response-s", type=float, default=10.0, help="response window at the end of an ejection (s)")
    p.add_argument("--bin-s", type=float, default=1.0, help="ratemeter bin (s)")
    p.add_argument("--dose", choices=["current", "charge"], default="current", help="dose axis of the fit")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def params_from(args: argparse.Namespace) -> AnalysisParams:
    return AnalysisParams(detection=DetectionParams(k=args.k), channel=args.channel, bin_s=args.bin_s,
                          baseline_s=args.baseline_s, response_s=args.response_s, dose=args.dose)


def run(args: argparse.Namespace) -> int:
    res = analyze_path(args.file, params_from(args))
    out = Path(args.out) if args.out else Path(args.file).with_suffix("").parent / (Path(args.file).stem + "-analysis")
    out.mkdir(parents=True, exist_ok=True)
    fig = summary_figure(res, out / "summary.png")
    doc = result_json(res)
    doc["outputs"] = {"figure": str(fig), "json": str(out / "analysis.json")}
    (out / "analysis.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if args.json:
        emit_json(doc)
        return 0
    say(f"{res.path}: {res.duration_s:.1f} s, {len(res.spike_index)} spikes on {res.channel} "
        f"(threshold {res.spikes.threshold * 1e6:.1f} µV = {res.params.detection.k:g} σ)")
    say(epoch_table(res))
    say(fit_table(res))
    say(f"figure: {fig}\ntables: {out / 'analysis.json'}")
    return 0
