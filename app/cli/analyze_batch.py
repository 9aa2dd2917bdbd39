"""``ionto analyze-batch PATHS``: many recordings in parallel on Dask, one summary table."""

from __future__ import annotations

import argparse
import logging
import sys

from app.cli import analyze as analyze_cli
from app.cli.common import emit_json, say
from app.cli.neo_options import DESTS as NEO_DESTS

ORDER = 52


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze-batch", help="analyse many recordings (HDF5 or NWB) in parallel on Dask; one summary table",
        description="Analyse every electrode channel of many recordings in parallel on Dask (a local cluster of "
        "worker processes, or an existing cluster with --scheduler) and write one summary table across files, "
        "channels and drugs (summary.csv, summary.json: each fit's status, EC50 or why it is not determinable), "
        "the population results per condition (population.csv: median and IQR of the EC50s, a pooled EC50 with "
        "its CI, responders vs non-responders; population_curves.png/.svg: every cell's normalised curve) and "
        "each file's analysis (files/*.json).  A file that "
        "fails is reported in the table and does not stop the batch.",
        epilog="Exit status: 0 when every file was analysed, 1 when any failed (the summary is written either way).")
    p.add_argument("paths", nargs="+", help="files (ionto .h5, .nwb, or any other system's file Neo reads: .abf, "
                   ".smr, .rhd, ...), Open Ephys folders, directories (their .h5/.hdf5/.nwb files) or glob patterns "
                   "(quote them: 'data/**/*.h5')")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                   "(default: a local cluster); its workers must see the files at the same paths")
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (default: CPUs)")
    p.add_argument("--timeout-s", type=float, default=3600.0,
                   help="give up on a file still running after this long (default 3600; 0 = no limit)")
    p.add_argument("--out", default="batch-out", help="output directory (default: ./batch-out)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    _add_analysis_options(p)
    p.set_defaults(func=run)


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    """The analysis options of ``ionto analyze`` (threshold, windows, dose axis, ...), taken from
    its parser so that both verbs always accept the same ones."""
    scratch = argparse.ArgumentParser(add_help=False).add_subparsers()
    analyze_cli.register(scratch)
    group = p.add_argument_group("analysis (as in ionto analyze)")
    for action in scratch.choices["analyze"]._actions:
        if action.option_strings and action.dest not in ("help", "out", "json", *NEO_DESTS):  # Neo's: per file
            group._add_action(action)


def _quiet_dask(record: logging.LogRecord) -> bool:
    """Drop Dask's own messages below ERROR (``--debug`` shows them)."""
    return not record.name.startswith("distributed") or record.levelno >= logging.ERROR


def population_lines(result) -> list[str]:
    """Per-cell EC50s with their status, then the population summary per condition."""
    lines = ["per cell:"]
    for c in result.cells:
        ec50 = f"EC50 {c.ec50:.3g} {c.dose_unit}" if c.determinable else "EC50 not determinable"
        resp = {True: "responder", False: "non-responder", None: "unclassified"}[c.responder]
        lines.append(f"  {c.file} {c.cell} — {c.condition}: {ec50} [{c.status}], {resp}"
                     + (f" ({'; '.join(c.reasons)})" if c.reasons and c.status != "fitted" else ""))
    for r in result.population:
        u = r["dose_unit"]
        med = (f"median EC50 {r['median_ec50']:.3g} {u} (IQR {r['ec50_q25']:.3g}–{r['ec50_q75']:.3g})"
               if r["median_ec50"] is not None else "no determinable EC50")
        pooled = (f"pooled EC50 {r['pooled_ec50']:.3g} {u} ({100 * r['ci_level']:g} % CI {r['pooled_ci_low']:.3g}–"
                  f"{r['pooled_ci_high']:.3g}; {r['pooled_k']} cells, two-stage random effects)"
                  if r["pooled_ec50"] is not None else f"no pooled EC50 ({r['pooled_note']})")
        lines.append(f"{r['condition']}: {r['n_cells']} cell(s) in {r['n_files']} file(s); {med}; {pooled}; "
                     f"{r['n_not_determinable']} not determinable, {r['n_no_fit']} without a fit; "
                     f"{r['n_responders']} responder(s), {r['n_non_responders']} non-responder(s), "
                     f"{r['n_unclassified']} unclassified")
    if result.population:
        lines.append(f"  ({result.population[0]['responder_criterion']})")
    return lines


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.batch import expand_inputs, run_batch, write_batch
    from daq.recording import refuse_special_file

    if not getattr(args, "debug", False):  # the cluster's own INFO chatter is not for the user
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_dask)
    files = expand_inputs(args.paths)
    for f in files:  # named one by one (folders and patterns give regular files only): a FIFO would hang a worker
        refuse_special_file(f)
    params = analyze_cli.params_from(args)
    say(f"ionto analyze-batch: {len(files)} file(s)")
    bar = tqdm(total=len(files), unit="file", desc="analysing", file=sys.stderr)
    failed = 0

    def progress(outcome: dict, done: int, total: int) -> None:
        nonlocal failed
        if outcome["status"] != "ok":
            failed += 1
            bar.write(f"failed: {outcome['file']}: {outcome.get('error')}", file=sys.stderr)
        bar.set_postfix(failed=failed)
        bar.update(1)

    try:
        result = run_batch(files, params, scheduler=args.scheduler, n_workers=args.workers,
                           timeout_s=args.timeout_s or None, progress=progress)
    finally:
        bar.close()
    paths = write_batch(result, args.out)
    if args.json:
        emit_json({"n_files": len(result.outcomes), "n_failed": len(result.failed), "rows": result.rows,
                   "population": result.population, "cells": [c.as_dict() for c in result.cells],
                   "failed": [{"file": o["file"], "error": o.get("error")} for o in result.failed],
                   "outputs": paths, "elapsed_s": result.elapsed_s, "scheduler": result.scheduler})
    else:
        say(f"{len(result.outcomes) - len(result.failed)} of {len(result.outcomes)} file(s) analysed in "
            f"{result.elapsed_s:.1f} s on {result.scheduler}; {len(result.rows)} summary row(s)")
        for o in result.failed:
            say(f"  failed: {o['file']}: {o.get('error')}")
        for line in population_lines(result):
            say(line)
        say(f"summary: {paths['csv']}, {paths['json']}; population: {paths['population']}"
            + (f", {paths['figure']}" if "figure" in paths else ""))
    return 1 if result.failed else 0
