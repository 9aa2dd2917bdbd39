"""Batch analysis on Dask: many recordings (ionto HDF5 or NWB) in parallel, one summary table
and the population results (``analysis.population``).

Each file is one Dask task (:func:`analyze_file`) that analyses every electrode channel
(each a neuron, or a multi-unit site) with ``analysis.pipeline.analyze`` and returns plain,
picklable results.  A file that fails — unreadable, damaged, no electrode, a worker that
dies — becomes a ``failed`` row with the reason; the others go on.  The summary has one row
per file × channel × condition of each barrel (a drug alone or with what else was ejected
throughout, or a current control): the fit's status and reasons, the EC50/IC50 with its CI
(empty when not determinable), Hill slope, top, bottom, R², the epochs' mean % change and
whether the cell responded.  ``population.csv`` has one row per condition across cells and
files (median and IQR of the EC50s, the pooled EC50 with its CI, responders), and
``population_curves.png``/``.svg`` shows every cell's normalised curve.

By default a local cluster of worker *processes* runs on this machine; give the address
of a Dask scheduler (``tcp://host:8786``) to use an existing cluster — its workers must
see the files at the same paths and have ionto installed.

Thread: ``run_batch`` runs on the caller's thread; ``progress`` is called there, once per
finished file.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis.neo_source import is_open_ephys_folder
from analysis.pipeline import AnalysisParams, analyze
from analysis.population import (
    Cell,
    cells_of,
    curves_figure,
    is_responder,
    largest_response,
    summarise,
)
from analysis.source import open_source
from analysis.tables import result_json
from daq.errors import ConfigError, IontoError
from daq.types import ChannelKind

SUFFIXES = (".h5", ".hdf5", ".nwb")
ROW_FIELDS = ("file", "status", "channel", "barrel", "drug", "condition", "role", "n_epochs", "n_flagged",
              "mean_percent_change", "largest_response_percent", "responder", "dose_unit", "fit_status", "ec50",
              "ec50_ci_low", "ec50_ci_high", "ci_level", "hill", "top", "bottom", "r_squared", "n_points", "points",
              "fit_reasons", "fit_warnings", "fit_error", "n_spikes", "mean_rate_hz", "duration_s", "error")


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """Files named by paths, directories and glob patterns (``**`` allowed; both give their
    .h5/.hdf5/.nwb files), in order, each once.  ``ConfigError`` if an item matches nothing."""
    out: dict[Path, None] = {}
    for item in items:
        p = Path(item)
        if p.is_dir() and is_open_ephys_folder(p):  # one recording (analysis/neo_source.py)
            found = [p]
        elif p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in SUFFIXES)
        elif p.exists():
            found = [p]
        elif glob.has_magic(item):
            found = sorted(Path(q) for q in glob.glob(item, recursive=True)
                           if Path(q).is_file() and Path(q).suffix.lower() in SUFFIXES)
        else:
            raise ConfigError(f"{item}: no such file, directory or matching pattern")
        if not found:
            raise ConfigError(f"{item}: matches no recording (looked for {', '.join(SUFFIXES)} files)")
        for q in found:
            out.setdefault(q.resolve(), None)
    return list(out)


def channel_params(params: AnalysisParams, channel: str) -> AnalysisParams:
    """``params`` analysing the spikes of one electrode channel."""
    return replace(params, channels=(channel,), unit=None)


def requested_channels(params: AnalysisParams) -> list[str] | None:
    """The channels the user named (``--channel``), or None for every electrode channel."""
    return list(params.channels) if params.channels else None


def analyze_file(path: str, params: AnalysisParams) -> dict[str, Any]:
    """Analyse each electrode channel of one file (those named in ``params``, else all; or
    once, as given, when ``params`` chooses a unit).  Runs on a Dask worker; returns
    ``{"file", "status": "ok", "analyses": [result_json, ...], "elapsed_s"}`` or
    ``{"file", "status": "failed", "error", "error_type"}`` for errors ionto understands."""
    t0 = time.perf_counter()
    try:
        with open_source(path, series=params.series) as src:
            if params.unit:
                runs = [params]
            else:
                channels = requested_channels(params) or [
                    src.channels[i].name for i in src.channel_indices(ChannelKind.ELECTRODE)]
                if not channels:
                    raise ConfigError(f"{path}: no electrode channel; channels are "
                                      f"{[c.name for c in src.channels]}")
                runs = [channel_params(params, ch) for ch in channels]
            docs = [result_json(analyze(src, p)) for p in runs]
    except (IontoError, ValueError, KeyError, OSError) as exc:
        return {"file": path, "status": "failed", "error": str(exc), "error_type": type(exc).__name__}
    return {"file": path, "status": "ok", "analyses": docs, "elapsed_s": time.perf_counter() - t0}


def summary_rows(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary table's rows for one file's outcome: per analysed spike train, one row per
    condition of each drug barrel (with its fit, or why there is none) and per control barrel."""
    base = {k: None for k in ROW_FIELDS}
    base["file"] = outcome["file"]
    base["status"] = outcome["status"]
    if outcome["status"] != "ok":
        return [{**base, "error": f"{outcome.get('error_type', 'Error')}: {outcome.get('error', '')}"}]
    rows = []
    for doc in outcome["analyses"]:
        spikes = doc.get("spikes", {})
        train = doc.get("unit") or next(iter(spikes), None)
        common = {**base, "channel": train, "n_spikes": spikes.get(train, {}).get("count"),
                  "mean_rate_hz": doc.get("rates", {}).get("mean_rate_hz"), "duration_s": doc.get("duration_s")}
        groups: dict[str, list[dict]] = {}
        for ep in doc.get("epochs", []):
            # the fit key: barrel:drug (+ what else was ejected throughout, as its condition says)
            groups.setdefault(f"{ep['barrel']}:{ep.get('condition') or ep['drug']}", []).append(ep)
        if not groups:
            rows.append(common)
        for key, eps in groups.items():
            # result_json documents are JSON-safe already (None for NaN), and so is this mean
            usable = [e for e in eps if e.get("used", not e.get("flags"))]
            changes = [e["percent_change"] for e in usable if e.get("percent_change") is not None]
            row = {**common, "barrel": eps[0]["barrel"], "drug": eps[0]["drug"],
                   "condition": eps[0].get("condition") or eps[0]["drug"],
                   "role": "control" if eps[0].get("control") else "drug", "n_epochs": len(eps),
                   "n_flagged": len(eps) - len(usable),
                   "mean_percent_change": float(np.mean(changes)) if changes else None}
            fit = doc.get("fits", {}).get(key)
            if not row["role"] == "control":
                row["largest_response_percent"] = largest_response(eps, doc.get("dose", "current"))
                row["responder"] = is_responder(fit, row["largest_response_percent"])
            if fit is not None:
                # a not-determinable EC50 is None here (FitResult.as_dict): an empty cell beside its status
                ci = fit.get("ec50_ci") or [None, None]
                row.update(dose_unit=fit.get("dose_unit"), fit_status=fit.get("status"), ec50=fit.get("ec50"),
                           ec50_ci_low=ci[0], ec50_ci_high=ci[1], ci_level=fit.get("conf"), hill=fit.get("hill"),
                           top=fit.get("top"), bottom=fit.get("bottom"), r_squared=fit.get("r_squared"),
                           n_points=fit.get("n_points"), points=fit.get("points"),
                           fit_reasons="; ".join(fit.get("reasons", [])),
                           fit_warnings="; ".join(fit.get("warnings", [])))
            elif key in doc.get("fit_errors", {}):
                row["fit_status"] = "no fit"
                row["fit_error"] = doc["fit_errors"][key]
            rows.append(row)
    return rows


@dataclass
class BatchResult:
    outcomes: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    elapsed_s: float
    scheduler: str
    n_workers: int
    paths: dict[str, str] = field(default_factory=dict)  # what write_batch wrote
    cells: list[Cell] = field(default_factory=list)  # every cell × condition (analysis.population)
    population: list[dict[str, Any]] = field(default_factory=list)  # one summary row per condition

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if o["status"] != "ok"]


Task = Callable[[str, AnalysisParams], dict[str, Any]]


def run_batch(files: Sequence[Path], params: AnalysisParams | None = None, *, scheduler: str | None = None,
              n_workers: int | None = None, connect_timeout_s: float = 10.0, timeout_s: float | None = 3600.0,
              progress: Callable[[dict[str, Any], int, int], None] | None = None,
              task: Task = analyze_file) -> BatchResult:
    """Analyse ``files`` on Dask and gather the outcomes (in the order of ``files``).

    ``scheduler``: a Dask scheduler address (given up after ``connect_timeout_s``), or None
    for a local cluster of ``n_workers`` processes (default: the CPUs, at most the files).
    A file still running ``timeout_s`` after a worker took it is reported as failed and its
    worker restarted (a damaged file can hang the HDF5 library; None = no limit).
    ``progress(outcome, done, total)`` after each file.  ``task(path, params)`` is the
    per-file function run on the workers (default :func:`analyze_file`)."""
    from dask.distributed import Client, LocalCluster

    t0 = time.perf_counter()
    params = params or AnalysisParams()
    files = [str(Path(f)) for f in files]
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        where = scheduler
    else:
        n = n_workers or max(1, min(os.cpu_count() or 1, len(files)))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        where = f"local cluster ({n} worker processes)"
    try:
        info = client.scheduler_info(n_workers=-1).get("workers", {})
        slots = max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))
        done = _gather(client, files, lambda path: client.submit(task, path, params, pure=False), slots,
                       timeout_s, progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    outcomes = [done[p] for p in files]
    rows = [r for o in outcomes for r in summary_rows(o)]
    cells = [c for o in outcomes for c in cells_of(o)]
    return BatchResult(outcomes, rows, time.perf_counter() - t0, where, len(info), cells=cells,
                       population=summarise(cells, params.conf))


def _gather(client: Any, files: list[str], submit: Callable[[str], Any], slots: int, timeout_s: float | None,
            progress: Callable[[dict[str, Any], int, int], None] | None) -> dict[str, dict[str, Any]]:
    """Run the files ``slots`` at a time (one per worker thread, so a task the scheduler shows on a
    worker is running, not queued behind another) and collect the outcomes by path.  A task
    running longer than ``timeout_s`` is cancelled, reported, and its worker restarted."""
    from dask.distributed import wait

    queue = list(files)
    running: dict[Any, str] = {}
    done: dict[str, dict[str, Any]] = {}
    started: dict[str, float] = {}

    def finish(fut: Any, outcome: dict[str, Any]) -> None:
        done[running.pop(fut)] = outcome
        if progress is not None:
            progress(outcome, len(done), len(files))

    while queue or running:
        while queue and len(running) < slots:
            path = queue.pop(0)
            running[submit(path)] = path
        try:
            finished, _ = wait(list(running), timeout=1.0, return_when="FIRST_COMPLETED")
        except TimeoutError:
            finished = set()
        for fut in finished:
            try:
                outcome = fut.result()
            except Exception as exc:  # the task itself died (worker killed, unpicklable error...): report it
                outcome = {"file": running[fut], "status": "failed", "error": str(exc) or repr(exc),
                           "error_type": type(exc).__name__}
            finish(fut, outcome)
        if timeout_s is None or not running:
            continue
        now = time.monotonic()
        on_worker = {key: w for w, keys in client.processing().items() for key in keys}
        for key in on_worker:
            started.setdefault(key, now)
        stuck = [f for f in running if f.key in started and now - started[f.key] > timeout_s]
        hung = sorted({on_worker[f.key] for f in stuck if f.key in on_worker})
        for fut in stuck:
            fut.cancel()
            finish(fut, {"file": running[fut], "status": "failed", "error_type": "Timeout",
                         "error": f"no result after {timeout_s:g} s: stopped (is the file damaged?)"})
        if hung:
            client.restart_workers(hung, raise_for_error=False)
    return done


def write_batch(result: BatchResult, out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``summary.csv`` and ``summary.json`` (rows, failures, run facts) and one JSON per file
    in ``files/``.  Returns the paths written."""
    import csv

    out = Path(out_dir)
    (out / "files").mkdir(parents=True, exist_ok=True)
    per_file = []
    used: set[str] = set()
    for o in result.outcomes:
        stem = Path(o["file"]).stem
        name, k = f"{stem}.json", 2
        while name in used:
            name, k = f"{stem}-{k}.json", k + 1
        used.add(name)
        (out / "files" / name).write_text(json.dumps(o, indent=2), encoding="utf-8")
        per_file.append({"file": o["file"], "status": o["status"], "json": str(out / "files" / name)})
    csv_path = out / "summary.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(ROW_FIELDS))
        w.writeheader()
        for r in result.rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    pop_path = out / "population.csv"
    pop_fields = list(result.population[0]) if result.population else ["condition"]
    with pop_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=pop_fields)
        w.writeheader()
        for r in result.population:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    figure = curves_figure(result.cells, result.population, out)
    json_path = out / "summary.json"
    doc = {"files": per_file, "rows": result.rows, "population": result.population,
           "cells": [c.as_dict() for c in result.cells],
           "failed": [{"file": o["file"], "error": o.get("error"), "error_type": o.get("error_type")}
                      for o in result.failed],
           "n_files": len(result.outcomes), "n_failed": len(result.failed), "elapsed_s": result.elapsed_s,
           "scheduler": result.scheduler, "n_workers": result.n_workers}
    json_path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    result.paths = {"csv": str(csv_path), "json": str(json_path), "files": str(out / "files"),
                    "population": str(pop_path), **({"figure": figure["png"], "figure_svg": figure["svg"]}
                                                    if figure else {})}
    return result.paths

