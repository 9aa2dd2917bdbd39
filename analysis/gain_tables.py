"""The tables of drug × stimulus trials in a report, one row per (cell or unit, drug condition,
stimulus value) and per (cell or unit, drug condition): the responses with SEM, Fano factor,
AUROC and modulation index against control; the tuning fits; the gain models.  The HTML
report (``analysis.gain_html``) and the CSV files show the same rows."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.gain_report import GainAnalysis

Cell = tuple[str, GainAnalysis]
"""(the name of a cell or unit, its analysis)."""

TUNING_COLUMNS = ["unit", "condition", "current_nA", "value_name", "value", "n_valid", "mean_rate_hz", "sem_rate_hz",
                  "fano", "auroc_vs_control", "modulation_index"]
FIT_COLUMNS = ["unit", "condition", "kind", "params", "stderr", "rmse_hz", "n", "error"]
GAIN_COLUMNS = ["unit", "condition", "preferred_model", "gain", "gain_ci_low", "gain_ci_high", "offset_hz",
                "offset_ci_low", "offset_ci_high", "p_multiplicative", "p_additive", "p_none", "n_control", "n_drug",
                "error"]


def tuning_rows(cells: Sequence[Cell]) -> list[list[Any]]:
    """One row per cell, drug condition and stimulus value (``TUNING_COLUMNS``)."""
    rows = []
    for name, res in cells:
        for c in res.curves.values():
            for p in c.points:
                rows.append([name, c.label, c.current_nA, res.value_name, p.value, p.n, p.mean_rate_hz, p.sem_rate_hz,
                             p.fano, c.auroc.get(p.value, math.nan), c.modulation_index.get(p.value, math.nan)])
    return rows


def fit_rows(cells: Sequence[Cell]) -> list[list[Any]]:
    """One row per cell and drug condition with a tuning fit (``FIT_COLUMNS``)."""
    rows = []
    for name, res in cells:
        for c in res.curves.values():
            f = c.tuning
            if f is None:
                continue
            rows.append([name, c.label, f.kind, "; ".join(f"{k} {v:.4g}" for k, v in f.params.items()),
                         "; ".join(f"{k} {v:.2g}" for k, v in f.stderr.items()), f.rmse_hz, f.n, f.error])
    return rows


def gain_rows(cells: Sequence[Cell]) -> list[list[Any]]:
    """One row per cell and drug condition: its gain model against control (``GAIN_COLUMNS``)."""
    rows = []
    for name, res in cells:
        for c in res.curves.values():
            g = c.gain
            if g is None:
                if c.gain_error:
                    rows.append([name, c.label, *[math.nan] * 12, c.gain_error])
                continue
            p = {m: g.models[m].f_p_value for m in ("multiplicative", "additive", "none")}
            rows.append([name, c.label, g.preferred_model, g.gain, *g.gain_ci, g.offset_hz, *g.offset_ci,
                         p["multiplicative"], p["additive"], p["none"], g.n_control, g.n_drug, ""])
    return rows


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in r])
    return str(path)


def write_gain_tables(cells: Sequence[Cell], out: Path) -> dict[str, str]:
    """``tuning.csv``, ``tuning_fits.csv`` and ``gain.csv`` in ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    return {"tuning": _write(out / "tuning.csv", TUNING_COLUMNS, tuning_rows(cells)),
            "tuning_fits": _write(out / "tuning_fits.csv", FIT_COLUMNS, fit_rows(cells)),
            "gain": _write(out / "gain.csv", GAIN_COLUMNS, gain_rows(cells))}
