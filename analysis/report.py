"""Figures (matplotlib, no screen needed) and text tables for an analysis result."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analysis.fit import ll4
from analysis.pipeline import AnalysisResult

DRUG_COLOURS = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown"]


def summary_figure(res: AnalysisResult, path: str | Path) -> Path:
    """Ratemeter with ejection bars (top) and dose–response with its fit (bottom)."""
    path = Path(path)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8), gridspec_kw={"height_ratios": [1, 1.1]})
    edges, rate = res.ratemeter
    ax1.step(edges, rate, where="post", color="k", lw=0.8)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel(f"rate (Hz, {res.params.bin_s:g}-s bins)")
    top = float(rate.max()) if len(rate) else 1.0
    barrels = sorted({ep.barrel for ep in res.epochs})
    colour = {b: DRUG_COLOURS[i % len(DRUG_COLOURS)] for i, b in enumerate(barrels)}
    for ep in res.epochs:
        t0, t1 = ep.onset / res.rate_hz, ep.offset / res.rate_hz
        ax1.axvspan(t0, t1, ymin=0.92, ymax=0.99, color=colour[ep.barrel], alpha=0.9)
        ax1.text(t0, top * 1.1, f"{ep.drug} {ep.current_nA:+g} nA", fontsize=7, color=colour[ep.barrel])
    ax1.set_ylim(0, top * 1.2 + 1)
    ax1.set_title(f"{Path(res.path).name}: ratemeter ({res.channel})")
    for key, (xs, ys) in res.fit_points.items():
        barrel = key.split(":")[0]
        c = colour.get(barrel, "k")
        if len(xs):
            doses = np.unique(xs)
            means = [ys[xs == d].mean() for d in doses]
            sems = [ys[xs == d].std(ddof=1) / np.sqrt((xs == d).sum()) if (xs == d).sum() > 1 else 0 for d in doses]
            ax2.errorbar(doses, means, yerr=sems, fmt="o", color=c, label=f"{key} (mean ± SEM)")
        f = res.fits.get(key)
        if f is not None and len(xs):
            xx = np.logspace(np.log10(max(xs[xs > 0].min() / 2, 1e-3)), np.log10(xs.max() * 2), 200)
            ax2.plot(xx, ll4(xx, -f.hill, f.bottom, f.top, f.ec50), color=c,
                     label=f"4PL fit: EC50 {f.ec50:.3g} {f.dose_unit} "
                           f"[{f.ec50_ci[0]:.3g}, {f.ec50_ci[1]:.3g}], Hill {f.hill:.2f}")
            ax2.axvline(f.ec50, color=c, ls=":", lw=0.8)
        t = res.truth_fits.get(key)
        if t is not None and len(xs):
            xx = np.logspace(np.log10(max(xs[xs > 0].min() / 2, 1e-3)), np.log10(xs.max() * 2), 200)
            ax2.plot(xx, ll4(xx, -t.hill, t.bottom, t.top, t.ec50), color="0.5", ls="--",
                     label=f"ground truth: EC50 {t.ec50:.3g} {t.dose_unit}")
    ax2.set_xscale("log")
    ax2.set_xlabel(f"dose ({'current, nA' if res.params.dose == 'current' else 'charge, nC'})")
    ax2.set_ylabel("response (% change from baseline)")
    ax2.axhline(0, color="0.7", lw=0.5)
    ax2.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def epoch_table(res: AnalysisResult) -> str:
    """The per-epoch table as aligned text."""
    head = f"{'barrel':<7}{'drug':<13}{'current nA':>11}{'charge nC':>11}{'baseline Hz':>13}{'response Hz':>13}{'% change':>10}"
    if res.truth_epochs is not None:
        head += f"{'truth %':>10}"
    lines = [head, "-" * len(head)]
    for i, ep in enumerate(res.epochs):
        row = (f"{ep.barrel:<7}{ep.drug:<13}{ep.current_nA:>11.1f}{ep.charge_nC:>11.1f}"
               f"{ep.baseline_rate_hz:>13.2f}{ep.response_rate_hz:>13.2f}{ep.percent_change:>10.1f}")
        if res.truth_epochs is not None:
            row += f"{res.truth_epochs[i].percent_change:>10.1f}"
        if ep.is_control:
            row += "  (control)"
        if ep.flags:
            row += "  [" + "; ".join(ep.flags) + "]"
        lines.append(row)
    return "\n".join(lines)


def fit_table(res: AnalysisResult) -> str:
    lines = []
    for key, f in res.fits.items():
        lines.append(
            f"{key}: EC50 {f.ec50:.3g} {f.dose_unit} (95% CI {f.ec50_ci[0]:.3g}–{f.ec50_ci[1]:.3g}), "
            f"Hill slope {f.hill:.2f}, top {f.top:.1f} %, bottom {f.bottom:.1f} %, R² {f.r_squared:.3f}, "
            f"n = {f.n_points}"
        )
        t = res.truth_fits.get(key)
        if t is not None:
            err = 100 * (f.ec50 - t.ec50) / t.ec50
            lines.append(f"{' ' * len(key)}  ground truth EC50 {t.ec50:.3g} {t.dose_unit} (fit off by {err:+.1f} %)")
    for key, msg in res.fit_errors.items():
        lines.append(f"{key}: no fit ({msg})")
    return "\n".join(lines)
