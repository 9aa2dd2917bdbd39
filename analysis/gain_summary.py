"""The gain results of many cells: one row per cell, and a summary per cell type.

A cell is a ``GainAnalysis`` (``analysis.gain_report``) with a name and a cell type (e.g.
"narrow"/"broad" spiking from ``analysis.units``, or a label from histology).  Per type: the
number of cells, the median gain and offset with their interquartile ranges, how many cells
prefer each gain model, the median modulation index and AUROC at each cell's preferred
stimulus (its largest control response), and the median Fano factors with and without the
drug.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.gain import MODELS
from analysis.gain_report import GainAnalysis


@dataclass(frozen=True)
class CellGain:
    """One cell's row."""

    name: str
    cell_type: str
    gain: float
    offset_hz: float
    gain_ci: tuple[float, float]
    preferred_model: str
    modulation_index: float  # at the cell's preferred stimulus
    auroc: float  # at the cell's preferred stimulus
    fano_control: float  # median over stimulus conditions
    fano_drug: float
    n_valid_trials: int


def _median(values: Sequence[float]) -> float:
    v = [x for x in values if math.isfinite(x)]
    return float(np.median(v)) if v else math.nan


def cell_row(name: str, cell_type: str, res: GainAnalysis) -> CellGain:
    control = [s for s in res.stats.values() if s.drug_state == "off"]
    best = max(control, key=lambda s: s.mean_rate_hz).value if control else math.nan
    return CellGain(
        name, cell_type, res.gain.gain, res.gain.offset_hz, res.gain.gain_ci, res.gain.preferred_model,
        res.modulation_index.get(best, math.nan), res.auroc.get(best, math.nan),
        _median([s.fano for s in control]), _median([s.fano for s in res.stats.values() if s.drug_state == "on"]),
        res.n_valid)


@dataclass(frozen=True)
class TypeSummary:
    """The cells of one type."""

    cell_type: str
    n_cells: int
    gain_median: float
    gain_iqr: tuple[float, float]
    offset_median_hz: float
    offset_iqr_hz: tuple[float, float]
    preferred_models: dict[str, int]
    modulation_index_median: float
    auroc_median: float
    fano_control_median: float
    fano_drug_median: float


def _iqr(values: Sequence[float]) -> tuple[float, float]:
    v = [x for x in values if math.isfinite(x)]
    if not v:
        return (math.nan, math.nan)
    lo, hi = np.percentile(v, [25, 75])
    return (float(lo), float(hi))


def summarize(rows: Sequence[CellGain]) -> list[TypeSummary]:
    """One summary per cell type (in order of first appearance), then one of all cells ("all")."""
    types = list(dict.fromkeys(r.cell_type for r in rows))
    groups = [(t, [r for r in rows if r.cell_type == t]) for t in types]
    if len(types) != 1:
        groups.append(("all", list(rows)))
    out = []
    for t, rs in groups:
        models = {m: sum(r.preferred_model == m for r in rs) for m in MODELS}
        out.append(TypeSummary(
            t, len(rs), _median([r.gain for r in rs]), _iqr([r.gain for r in rs]),
            _median([r.offset_hz for r in rs]), _iqr([r.offset_hz for r in rs]), models,
            _median([r.modulation_index for r in rs]), _median([r.auroc for r in rs]),
            _median([r.fano_control for r in rs]), _median([r.fano_drug for r in rs])))
    return out


def write_csv(rows: Sequence[CellGain], path: str | os.PathLike[str]) -> str:
    """The cells' rows as CSV (one header line)."""
    names = ["name", "cell_type", "gain", "offset_hz", "gain_ci_low", "gain_ci_high", "preferred_model",
             "modulation_index", "auroc", "fano_control", "fano_drug", "n_valid_trials"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for r in rows:
            w.writerow([r.name, r.cell_type, r.gain, r.offset_hz, r.gain_ci[0], r.gain_ci[1], r.preferred_model,
                        r.modulation_index, r.auroc, r.fano_control, r.fano_drug, r.n_valid_trials])
    return str(path)
