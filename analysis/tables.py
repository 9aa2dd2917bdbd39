"""Tables of an analysis: the JSON document of ``ionto analyze --json`` and the CSV files.

``write_tables(res, out_dir)`` writes::

    analysis.json            the whole result (same document as --json, plus file names)
    epochs.csv               one row per ejection epoch (windows, rates, % change, z, flags)
    fits.csv                 one row per fitted curve (EC50 and CI, Hill, top, bottom, SE, R², AICc, …)
    comparisons.csv          curve comparisons (EC50 ratio and CI, F tests)
    units.csv                separated / imported units (count, amplitude, SNR, quality metrics, cell type)
    spikes-<channel>.csv     every spike: time, sample index, amplitude, unit
    rates.csv                ratemeter of the analysed spike train (and the smoothed rate)
    psth.csv                 PSTH per condition and current
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from analysis.pipeline import AnalysisResult, group_key
from analysis.units import UNIT_TABLE_COLUMNS, units_table


def clean(o: Any) -> Any:
    """JSON-ready: NaN/inf → None, numpy scalars/arrays → Python."""
    if isinstance(o, float | np.floating):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.ndarray):
        return clean(o.tolist())
    if isinstance(o, dict):
        return {str(k): clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [clean(v) for v in o]
    return o


def fit_doc(res: AnalysisResult, key: str) -> dict[str, Any]:
    f = res.fits[key]
    eps = [ep for ep in res.epochs if not ep.is_control and group_key(ep) == key]
    d = {"barrel": eps[0].barrel if eps else key.split(":")[0], "drug": eps[0].drug if eps else "",
         "condition": eps[0].condition if eps else key, **f.as_dict()}
    # I50: dose for 50 % inhibition of the firing rate (I·T50 in nC when the dose is charge);
    # none from a curve whose EC50 the data do not determine
    d["i50"] = f.dose_at(-50.0) if min(f.top, f.bottom) < -50 and f.determinable else float("nan")
    d["n_epochs"] = sum(ep.usable for ep in eps)
    d["n_epochs_excluded"] = sum(not ep.usable for ep in eps)
    return d


def result_json(res: AnalysisResult, files: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``--json`` document of ``ionto analyze`` (and the body of ``ionto demo --json``)."""
    files = files or {}
    epochs = []
    for i, ep in enumerate(res.epochs):
        d = ep.as_dict()
        if res.truth_epochs is not None:
            t = res.truth_epochs[i]
            d["truth"] = {"baseline_rate_hz": t.baseline_rate_hz, "response_rate_hz": t.response_rate_hz,
                          "percent_change": t.percent_change}
        epochs.append(d)
    spikes: dict[str, Any] = {}
    for name, sp in res.detection.spikes.items():
        spikes[name] = {
            "count": len(sp), "threshold_uV": sp.threshold * 1e6, "noise_sigma_uV": sp.sigma * 1e6,
            "k": res.params.detection.k, "polarity": res.params.detection.polarity,
            "band_hz": list(res.detection.params.band_hz),  # the band-pass the detector used
            "clipped_s": sum(b - a for a, b in res.detection.clipped.get(name, [])) / res.rate_hz,
            "times_file": files.get("spikes", {}).get(name),
            "units": [u.as_dict(res.rate_hz, sp.index[u.spike_ids]) for u in res.units.get(name, [])],
        }
    for label, idx in res.imported.items():
        spikes[label] = {"count": len(idx), "imported": True}
    doc: dict[str, Any] = {
        "file": res.path,
        "duration_s": res.duration_s,
        "rate_hz": res.rate_hz,
        "unit": res.unit,
        "dose": res.params.dose,
        "epochs": epochs,
        "fits": {key: fit_doc(res, key) for key in res.fits},
        "fit_errors": res.fit_errors,
        "comparisons": [c.as_dict() for c in res.comparisons],
        "spikes": spikes,
        "rates": {
            "unit": res.unit, "bin_s": res.params.bin_s, "smooth_sigma_s": res.params.smooth_sigma_s,
            "mean_rate_hz": len(res.spike_index) / res.duration_s if res.duration_s else 0.0,
            "file": files.get("rates"),
            "psth": {k: {"n_trials": p.n_trials, "bin_s": p.bin_s} for k, p in res.psths.items()},
        },
    }
    if res.truth:
        doc["ground_truth"] = {k: t.as_dict() for k, t in res.truth.items()}
    doc["recording"] = res.meta
    if files:
        doc["outputs"] = files
    return clean(doc)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if (isinstance(v, float) and not math.isfinite(v)) else v for v in r])
    return path


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "channel"


def write_tables(res: AnalysisResult, out: Path) -> dict[str, Any]:
    """Write the CSV tables; returns their paths (for ``result_json(files=…)``)."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {"spikes": {}}
    ep_keys = ["barrel", "drug", "condition", "control", "current_nA", "measured_current_nA", "duration_s",
               "charge_nC", "onset_s", "offset_s", "baseline_rate_hz", "baseline_sd_hz", "response_rate_hz",
               "recovery_rate_hz", "percent_change", "z_score", "recovery_percent", "t50_s", "it50_nC", "used"]
    rows = [[ep.as_dict()[k] for k in ep_keys] + ["; ".join(ep.flags + ep.notes)] for ep in res.epochs]
    files["epochs"] = str(_write_csv(out / "epochs.csv", [*ep_keys, "flags"], rows))
    fit_keys = ["status", "ec50", "ec50_lo", "ec50_hi", "ci_level", "ec50_wald_lo", "ec50_wald_hi", "hill", "hill_se",
                "top", "top_se", "bottom", "bottom_se", "dose_unit", "i50", "r_squared", "aicc", "lack_of_fit_p",
                "n_points", "points", "df", "converged", "reasons", "warnings"]
    rows = []
    for key in res.fits:
        d = fit_doc(res, key)
        lof = d["lack_of_fit"] or {}
        # a not-determinable EC50 is the word in the status column and empty cells, never a number
        rows.append([key, d["status"], d["ec50"], *d["ec50_ci"], d["conf"], *d["ec50_ci_wald"], d["hill"],
                     d["se"]["hill"], d["top"], d["se"]["top"], d["bottom"], d["se"]["bottom"], d["dose_unit"],
                     d["i50"], d["r_squared"], d["aicc"], lof.get("p", float("nan")), d["n_points"], d["points"],
                     d["df"], d["converged"], "; ".join(d["reasons"]), "; ".join(d["warnings"])])
    files["fits"] = str(_write_csv(out / "fits.csv", ["curve", *fit_keys], rows))
    rows = [[c.label_a, c.label_b, c.ec50_ratio, *c.ec50_ratio_ci, c.conf, c.f_shared_ec50, c.p_shared_ec50,
             c.f_same_curve, c.p_same_curve, c.aicc_separate, c.aicc_shared_ec50, c.note] for c in res.comparisons]
    files["comparisons"] = str(_write_csv(out / "comparisons.csv",
                                          ["curve_a", "curve_b", "ec50_ratio_b_over_a", "ratio_lo", "ratio_hi",
                                           "ci_level", "F_shared_ec50", "p_shared_ec50", "F_same_curve",
                                           "p_same_curve", "aicc_separate", "aicc_shared_ec50", "note"], rows))
    for name, sp in res.detection.spikes.items():
        unit_of = np.full(len(sp), "", dtype=object)
        for u in res.units.get(name, []):
            unit_of[u.spike_ids] = u.label
        path = out / f"spikes-{safe_name(name)}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["time_s", "sample_index", "amplitude_uV", "unit"])
            w.writerows(zip(np.round(sp.index / res.rate_hz, 7).tolist(), sp.index.tolist(),
                            np.round(sp.amplitude * 1e6, 3).tolist(), unit_of.tolist()))
        files["spikes"][name] = str(path)
    # one row per unit: counts, ionto's amplitude and SNR, SpikeInterface's quality metrics and the
    # cell type (analysis.units.units_table); units imported from a file have counts only
    cols = ("unit", *UNIT_TABLE_COLUMNS[1:], "source")
    rows = [[r["label"], *(r[k] for k in UNIT_TABLE_COLUMNS[1:]), "separated"]
            for r in units_table(res.units, res.rate_hz)]
    for label, idx in res.imported.items():
        known = {"unit": label, "count": len(idx), "mean_rate_hz": len(idx) / res.duration_s,
                 "cell_type": "unknown", "source": "imported"}
        rows.append([known.get(c, "" if c in ("channel", "channels") else float("nan")) for c in cols])
    files["units"] = str(_write_csv(out / "units.csv", list(cols), rows))
    edges, rate = res.ratemeter
    ts, sm = res.smoothed
    smooth_at = np.interp(edges + res.params.bin_s / 2, ts, sm) if len(ts) else np.full(len(edges), np.nan)
    files["rates"] = str(_write_csv(out / "rates.csv", ["bin_start_s", "rate_hz", "smoothed_rate_hz"],
                                    [[float(a), float(b), float(c)] for a, b, c in zip(edges, rate, smooth_at)]))
    rows = [[key, float(t), float(r), float(s), p.n_trials] for key, p in res.psths.items()
            for t, r, s in zip(p.t_s, p.rate_hz, p.sem_hz)]
    files["psth"] = str(_write_csv(out / "psth.csv", ["condition", "t_from_onset_s", "rate_hz", "sem_hz",
                                                       "n_trials"], rows))
    return files


def write_json(res: AnalysisResult, out: Path, files: dict[str, Any]) -> Path:
    path = out / "analysis.json"
    files = {**files, "json": str(path)}
    path.write_text(json.dumps(result_json(res, files), indent=2), encoding="utf-8")
    return path
