"""Drug × stimulus trials in the HTML reports: per cell or unit, the tuning figure (one curve
per drug condition with the fitted tuning curves and the gain model, ``analysis.gain_figures``),
the responses per condition (mean ± SEM, Fano factor, AUROC and modulation index against
control), the tuning fits and the gain models (``analysis.gain_tables``).

``ionto analyze``'s report gets the section when the recording holds trials
(``report_cells``); ``ionto gain --out DIR`` writes a page of its own (``write_gain_report``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.gain_figures import write_tuning_figure
from analysis.gain_report import GainAnalysis, NoTrialsError, analyze_gain
from analysis.gain_tables import Cell, fit_rows, gain_rows, tuning_rows
from analysis.html_parts import CSS, figure, table
from analysis.pipeline import AnalysisResult
from analysis.source import open_source
from analysis.tables import safe_name
from daq.types import EventKind

log = logging.getLogger(__name__)

GAIN_NOTE = ("gain model: drug response = g · control response + a, fitted to the trials with every control "
             "mean a parameter (weighted least squares); preferred: the simplest model an F-test against the "
             "full one does not reject at 1 % (analysis/gain.py); g and a with bootstrap 95 % CIs. AUROC: "
             "P(drug trial > control trial) (Mann–Whitney U / n₁n₂); modulation index: (drug − control) / "
             "(drug + control); Fano factor: variance / mean of the spike counts.")


def spike_trains(res: AnalysisResult) -> list[tuple[str, np.ndarray]]:
    """The analysed spike train, then every separated or imported unit (by label)."""
    trains = [(res.unit, np.asarray(res.spike_index))]
    for units in res.units.values():
        trains += [(u.label, np.asarray(u.index)) for u in units]
    trains += [(label, np.asarray(idx)) for label, idx in res.imported.items()]
    seen: set[str] = set()
    return [(n, x) for n, x in trains if not (n in seen or seen.add(n))]


def report_cells(res: AnalysisResult, n_boot: int = 200, seed: int = 0) -> tuple[list[Cell], list[str]]:
    """The trial analysis of each spike train of an ``ionto analyze`` result, when its
    recording holds trials (else nothing); and a line per train that could not be analysed."""
    cells: list[Cell] = []
    problems: list[str] = []
    with open_source(res.path, series=res.params.series) as rec:
        if not any(e.kind == EventKind.TRIAL_START for e in rec.events):
            return [], []
        for name, index in spike_trains(res):
            try:
                cells.append((name, analyze_gain(rec, index, n_boot=n_boot, seed=seed)))
            except (NoTrialsError, ValueError) as exc:
                problems.append(f"{name}: {exc}")
    return cells, problems


def write_cell_figures(cells: Sequence[Cell], out: Path) -> dict[str, dict[str, str]]:
    """Each cell's tuning figure (``tuning-<name>.png`` at 300 dpi and ``.svg``), by name."""
    return {name: write_tuning_figure(res, out, f"tuning-{safe_name(name)}", f"{Path(res.path).name}: {name}")
            for name, res in cells}


def _cell_part(name: str, res: GainAnalysis, figs: dict[str, dict[str, str]], out: Path) -> list[str]:
    valid = res.n_valid
    conditions = ", ".join(res.curves)
    parts = [f"<h3>{html.escape(name)}</h3>",
             f"<p class='meta'>{valid} valid trials of {len(res.trials)}; drug conditions: "
             f"{html.escape(conditions)}; stimulus: {html.escape(res.value_name)}</p>",
             figure(figs, name, f"{name}: response per {res.value_name} for each drug condition (mean ± SEM of "
                                "valid trials), tuning fits (solid) and the gain model g · control + a (dashed)",
                    out)]
    rows = [r[1:3] + r[4:] for r in tuning_rows([(name, res)])]
    parts.append(table(["condition", "current nA", res.value_name, "n", "mean Hz", "SEM Hz", "Fano", "AUROC vs off",
                        "MI vs off"], rows, left=2))
    fits = [r[1:] for r in fit_rows([(name, res)])]
    if fits:
        parts.append(table(["condition", "tuning", "parameters", "SE", "RMSE Hz", "n", "why no fit"], fits, left=4))
    gains = [r[1:] for r in gain_rows([(name, res)])]
    if gains:
        parts.append(table(["condition", "preferred model", "g", "g 95 % CI low", "high", "a Hz", "a 95 % CI low",
                            "high", "p multiplicative", "p additive", "p none", "control trials", "drug trials",
                            "why no fit"], gains, left=2))
    return parts


def trials_section(cells: Sequence[Cell], figs: dict[str, dict[str, str]], out: Path,
                   problems: Sequence[str] = ()) -> list[str]:
    """The report section: per cell its figure and tables; then what could not be analysed."""
    if not cells and not problems:
        return []
    parts = ["<h2>Trials: tuning per drug condition and the gain</h2>", f"<p class='meta'>{html.escape(GAIN_NOTE)}</p>"]
    for name, res in cells:
        parts += _cell_part(name, res, figs, out)
    parts += [f"<p class='warn'>{html.escape(p)}</p>" for p in problems]
    return parts


def write_gain_report(cells: Sequence[Cell], out: Path, files: dict[str, Any]) -> Path:
    """``out/report.html`` for ``ionto gain --out``: every cell's section and links to ``files``."""
    from analysis.gain_tables import write_gain_tables

    figs = write_cell_figures(cells, out)
    files.update(write_gain_tables(cells, out))
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>ionto gain</title>"
             f"<style>{CSS}</style></head><body><h1>ionto gain: {len(cells)} cell(s)</h1>"]
    parts += trials_section(cells, figs, out)
    links = [f"<a href='{Path(v).relative_to(out)}'>{html.escape(Path(v).name)}</a>" for v in files.values()
             if isinstance(v, str)]
    parts.append(f"<h2>Tables</h2><p>{' · '.join(links)}</p></body></html>")
    path = out / "report.html"
    path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    files["html"] = str(path)
    files["figures"] = figs
    return path
