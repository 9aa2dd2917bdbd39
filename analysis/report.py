"""Report figures (matplotlib, no screen needed), each saved as SVG and as PNG at print
resolution (300 dpi); legends sit outside the axes so they never cover data.

* ``snippet`` — half a second of the electrode: broadband and band-passed signal, the
  threshold, the detected spikes; waveform snippets and each unit's mean waveform;
* ``raster`` — spikes aligned to each ejection onset (one row per epoch, grouped by
  condition and current) with the PSTH of each current below;
* ``ratemeter`` — the ratemeter and kernel-smoothed rate with ejection bars coloured by
  drug and labelled with the current;
* ``dose_response`` — responses (mean ± SEM per dose, single points faint), the 4PL fit
  and its confidence band drawn over the tested doses only, the EC50 and its CI (none when
  the EC50 is not determinable: the legend says why), dose 0 left of a marked axis break,
  and the simulator's model curve when simulated;
* ``overview`` — the ratemeter with ejection bars above the dose–response (``ionto demo``'s
  figure);
* ``units`` — principal-component scores coloured by unit (when units were separated).

An ejection's current is written one way everywhere: its magnitude with the unit
(``current_text``: ``20 nA``), the direction being the drug's ejecting polarity.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analysis.epochs import current_text
from analysis.fit import FitResult
from analysis.forked import ForkedCall, ForkedCallError
from analysis.pipeline import AnalysisResult, group_key
from analysis.truth import CurveTruth

log = logging.getLogger(__name__)

COLOURS = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive"]
UNIT_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]


PRINT_DPI = 300
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable in a drawing program


def _save(fig, out: Path, name: str) -> dict[str, str]:
    """SVG, and PNG at print resolution; the bounding box grows to hold outside legends."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in ("png", "svg"):
        p = out / f"{name}.{ext}"
        fig.savefig(p, dpi=PRINT_DPI, bbox_inches="tight")
        paths[ext] = str(p)
    plt.close(fig)
    return paths


def _legend_outside(ax, ncol: int = 1, **kw) -> None:
    """The legend to the right of the axes: it never covers data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, ncol=ncol,
                  fontsize=7, **kw)


def drug_colours(res: AnalysisResult) -> dict[str, str]:
    drugs = sorted({ep.drug for ep in res.epochs})
    return {d: COLOURS[i % len(COLOURS)] for i, d in enumerate(drugs)}


def snippet_figure(res: AnalysisResult, out: Path) -> dict[str, str] | None:
    tr, sp = res.trace, res.spikes
    if tr is None or sp is None:
        return None
    fig, (ax, axw) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    t_ms = np.arange(len(tr.raw)) / tr.rate_hz * 1e3
    ax.plot(t_ms, (tr.raw - np.median(tr.raw)) * 1e6, color="0.75", lw=0.5, label="broadband (median removed)",
            rasterized=True)
    ax.plot(t_ms, tr.filtered * 1e6, color="k", lw=0.6, label=f"band-passed {res.params.detection.band_hz[0]:g}–"
            f"{res.params.detection.band_hz[1]:g} Hz", rasterized=True)
    thr = sp.threshold * 1e6
    pol = res.params.detection.polarity
    for level in ([-thr] if pol == "neg" else [thr] if pol == "pos" else [-thr, thr]):
        ax.axhline(level, color="tab:red", ls="--", lw=0.8)
    ax.text(t_ms[-1], -thr if pol != "pos" else thr, f" {res.params.detection.k:g}σ", color="tab:red",
            va="center", fontsize=8)
    sel = (sp.index >= tr.start_index) & (sp.index < tr.start_index + len(tr.raw))
    pos = sp.index[sel] - tr.start_index
    ax.plot(pos / tr.rate_hz * 1e3, tr.filtered[pos] * 1e6, "v", color="tab:red", ms=6,
            label=f"detected spikes ({int(sel.sum())})")
    ax.set_xlabel(f"time from {tr.start_index / tr.rate_hz:.2f} s (ms)")
    ax.set_ylabel("µV")
    ax.set_title(f"{res.channel}: threshold {thr:.1f} µV = {res.params.detection.k:g} × σ ({sp.sigma * 1e6:.2f} µV, MAD)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, frameon=False)
    if len(sp.snippets):
        axw.plot(sp.snippet_t_ms, sp.snippets[:150].T * 1e6, color="0.7", lw=0.3, rasterized=True)
        units = res.units.get(res.channel, [])
        for i, u in enumerate(units):
            axw.plot(sp.snippet_t_ms, u.mean_waveform * 1e6, color=UNIT_COLOURS[i % len(UNIT_COLOURS)], lw=2,
                     label=f"{u.label} (n={len(u.spike_ids)})")
        if not units:
            axw.plot(sp.snippet_t_ms, sp.snippets.mean(0) * 1e6, color="k", lw=2, label="mean")
        axw.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    axw.set_xlabel("ms from peak")
    axw.set_title("waveforms")
    fig.tight_layout()
    return _save(fig, out, "snippet")


def raster_figure(res: AnalysisResult, out: Path) -> dict[str, str] | None:
    if not res.epochs:
        return None
    colours = drug_colours(res)
    eps = sorted(res.epochs, key=lambda ep: (group_key(ep), abs(ep.current_nA), ep.onset))
    fig, (ax, axp) = plt.subplots(2, 1, figsize=(10, 8), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    before = res.params.baseline_s
    for row, ep in enumerate(eps):
        after = ep.duration_s + res.params.recovery_s
        lo, hi = np.searchsorted(res.spike_index, [ep.onset - before * res.rate_hz, ep.onset + after * res.rate_hz])
        t = (res.spike_index[lo:hi] - ep.onset) / res.rate_hz
        ax.fill_between([0, ep.duration_s], row, row + 1, color=colours[ep.drug], alpha=0.12, lw=0)
        ax.vlines(t, row + 0.1, row + 0.9, color="k", lw=0.4, rasterized=True)
    ax.set_yticks(np.arange(len(eps)) + 0.5)
    ax.set_yticklabels([f"{ep.condition} {current_text(ep.current_nA)}" + (" ✗" if not ep.usable else "")
                        for ep in eps], fontsize=7)
    ax.set_ylim(len(eps), 0)
    ax.set_title(f"{res.unit}: spikes aligned to ejection onset (✗ = flagged, not used)")
    for i, (key, p) in enumerate(res.psths.items()):
        axp.step(p.t_s, p.rate_hz, where="post", lw=1, color=plt.cm.viridis(i / max(1, len(res.psths) - 1)),
                 label=f"{key} (n={p.n_trials})")
    axp.axvline(0, color="0.5", lw=0.5)
    axp.set_xlabel("time from onset (s)")
    axp.set_ylabel(f"rate (Hz, {res.params.bin_s:g}-s bins)")
    _legend_outside(axp)
    fig.tight_layout()
    return _save(fig, out, "raster")


def draw_ratemeter(ax, res: AnalysisResult) -> None:
    """Ratemeter, smoothed rate and one lane of ejection bars per barrel, each bar labelled
    with its current."""
    colours = drug_colours(res)
    edges, rate = res.ratemeter
    ax.stairs(rate, np.append(edges, edges[-1] + res.params.bin_s) if len(edges) else [0.0], fill=True,
              color="0.6", lw=0, label=f"ratemeter ({res.params.bin_s:g}-s bins)")
    ts, sm = res.smoothed
    ax.plot(ts, sm, color="k", lw=1, label=f"Gaussian kernel σ = {res.params.smooth_sigma_s:g} s")
    top = max(float(rate.max()) if len(rate) else 1.0, float(sm.max()) if len(sm) else 1.0, 1.0)
    barrels = sorted({ep.barrel for ep in res.epochs})
    lane = {b: i for i, b in enumerate(barrels)}
    seen = set()
    for ep in res.epochs:
        y = top * (1.08 + 0.12 * lane[ep.barrel])
        t0, t1 = ep.onset / res.rate_hz, ep.offset / res.rate_hz
        lab = None if ep.drug in seen else f"{ep.drug} ({ep.barrel})" + (" — current control" if ep.is_control else "")
        seen.add(ep.drug)
        ax.fill_between([t0, t1], y, y + 0.06 * top, color=colours[ep.drug], hatch="//" if ep.is_control else None,
                        alpha=0.9 if ep.usable else 0.35, lw=0, label=lab)
        ax.text(t0, y + 0.065 * top, current_text(ep.current_nA), fontsize=6, color=colours[ep.drug])
    ax.set_ylim(0, top * (1.22 + 0.12 * len(barrels)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("firing rate (Hz)")
    _legend_outside(ax)


def ratemeter_figure(res: AnalysisResult, out: Path) -> dict[str, str]:
    fig, ax = plt.subplots(figsize=(12, 4.5))
    draw_ratemeter(ax, res)
    ax.set_title(f"{Path(res.path).name}: {res.unit} — ejection bars labelled with the current")
    fig.tight_layout()
    return _save(fig, out, "ratemeter")


def _axis_break(ax, x_break: float) -> None:
    """Two short diagonal strokes across the x axis at ``x_break`` (data x, axes y): the log
    axis is broken between dose 0 and the lowest dose."""
    kw = {"transform": ax.get_xaxis_transform(), "color": "k", "lw": 0.9, "clip_on": False}
    for dx in (0.96, 1.04):
        ax.plot([x_break * dx / 1.04, x_break * dx * 1.04], [-0.015, 0.015], **kw)
    ax.plot([x_break / 1.04 ** 2, x_break * 1.04 ** 2], [0, 0], color="white", lw=2.5,
            transform=ax.get_xaxis_transform(), clip_on=False, zorder=3)


def fit_legend(f: FitResult, dose_unit: str) -> str:
    """The fit's legend entry: EC50 with its labelled CI and the Hill slope, or why the EC50 is
    not determinable — never a number for it."""
    if not f.determinable:
        return f"4PL: EC50 not determinable ({'; '.join(f.reasons)})"
    lo, hi = f.ec50_ci
    status = "" if f.status == "fitted" else f" — {f.status}"
    return (f"4PL: EC50 {f.ec50:.3g} {dose_unit} [{lo:.3g}, {'∞' if hi == np.inf else f'{hi:.3g}'}] "
            f"({f.ci_label}), Hill {f.hill:.2f}{status}")


def draw_fits(ax, curves: dict[str, tuple[np.ndarray, np.ndarray, FitResult | None]], dose_unit: str,
              ylabel: str = "response (% change from baseline)", truth: dict[str, CurveTruth] | None = None,
              xlabel: str | None = None) -> bool:
    """Data (single points faint, mean ± SEM per dose), fits and confidence bands over the
    tested doses, EC50 with its CI; dose 0 left of a marked break of the log axis.  False
    when there is no positive dose to draw."""
    import textwrap

    allx = np.concatenate([c[0] for c in curves.values()] or [np.zeros(0)])
    pos = allx[allx > 0]
    if not len(pos):
        return False
    x_zero = pos.min() / 4
    conf = None
    for i, (key, (x, y, f)) in enumerate(curves.items()):
        c = COLOURS[i % len(COLOURS)]
        if not len(x):  # a group with no usable epoch: nothing to draw
            continue
        xd = np.where(x > 0, x, x_zero)
        ax.plot(xd * np.exp(np.random.default_rng(i).normal(0, 0.03, len(xd))), y, ".", color=c, alpha=0.25, ms=3)
        doses = np.unique(x)
        means = np.array([y[x == d].mean() for d in doses])
        sems = np.array([y[x == d].std(ddof=1) / np.sqrt((x == d).sum()) if (x == d).sum() > 1 else 0 for d in doses])
        ax.errorbar(np.where(doses > 0, doses, x_zero), means, yerr=sems, fmt="o", color=c, capsize=3,
                    label=f"{key}: mean ± SEM")
        if f is not None:
            tested = x[x > 0]
            xx = np.geomspace(tested.min(), tested.max(), 200)  # the fit only where doses were tested
            label = "\n".join(textwrap.wrap(fit_legend(f, dose_unit), 60))
            if f.determinable:
                conf = f.ci_label
                lo, hi = f.band(xx)
                ax.fill_between(xx, lo, hi, color=c, alpha=0.15, lw=0)
                ax.plot(xx, f.predict(xx), color=c, lw=1.5, label=label)
                if tested.min() <= f.ec50 <= tested.max():
                    y50 = float(f.predict(np.array([f.ec50]))[0])
                    ci = np.clip(np.array(f.ec50_ci, dtype=float), xx[0], xx[-1])
                    ax.errorbar([f.ec50], [y50], xerr=[[max(f.ec50 - ci[0], 0)], [max(ci[1] - f.ec50, 0)]],
                                fmt="s", color=c, ms=5, capsize=4)
            else:  # no curve: an undetermined fit would be drawn as if it meant something
                ax.plot([], [], color=c, lw=1.5, ls=":", label=label)
        t = (truth or {}).get(key)
        if t is not None:
            xt = np.geomspace(pos.min(), pos.max(), 200)
            ax.plot(xt, t.predict(xt), color=c, ls="--", lw=0.9,
                    label=f"ground truth (simulator's model): EC50 {t.ec50:.3g} {t.dose_unit}")
    ax.set_xscale("log")
    ax.set_xlim(x_zero / 1.6, pos.max() * 1.6)
    levels = np.unique(pos)
    ticks = [x_zero, *(levels if len(levels) <= 8 else
                       [v for v in ax.get_xticks() if pos.min() / 1.5 <= v <= pos.max() * 1.5])]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0"] + [f"{v:g}" for v in ticks[1:]])
    ax.minorticks_off()
    _axis_break(ax, np.sqrt(x_zero * pos.min()))
    band = f"; shaded: {conf} band of the fit" if conf else ""
    ax.set_xlabel(f"{xlabel or 'dose (' + dose_unit + ')'}{band}")
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="0.7", lw=0.5)
    _legend_outside(ax)
    return True


def plot_fits(curves: dict[str, tuple[np.ndarray, np.ndarray, FitResult | None]], dose_unit: str,
              out: Path, name: str = "dose_response", title: str = "dose–response",
              ylabel: str = "response (% change from baseline)",
              truth: dict[str, CurveTruth] | None = None, xlabel: str | None = None) -> dict[str, str] | None:
    """The dose–response figure of ``draw_fits`` as PNG (300 dpi) and SVG."""
    fig, ax = plt.subplots(figsize=(10, 5.5))
    if not draw_fits(ax, curves, dose_unit, ylabel, truth, xlabel):
        plt.close(fig)
        return None
    points = {f.points for _, _, f in curves.values() if f is not None and f.points}
    ax.set_title(title + (f"\npoints: {points.pop()}" if len(points) == 1 else ""), fontsize=9)
    fig.tight_layout()
    return _save(fig, out, name)


def _dose_label(res: AnalysisResult) -> str:
    return "dose (current, nA)" if res.params.dose == "current" else "dose (charge, nC)"


def dose_response_figure(res: AnalysisResult, out: Path) -> dict[str, str] | None:
    curves = {key: (x, y, res.fits.get(key)) for key, (x, y) in res.fit_points.items()}
    return plot_fits(curves, res.params.dose_unit, out, title=f"dose–response ({res.unit})", truth=res.truth,
                     xlabel=_dose_label(res))


def overview_figure(res: AnalysisResult, out: Path) -> dict[str, str] | None:
    """The ratemeter with ejection bars above the dose–response: the one-look summary."""
    curves = {key: (x, y, res.fits.get(key)) for key, (x, y) in res.fit_points.items()}
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [1, 1.2]})
    draw_ratemeter(ax, res)
    ax.set_title(f"{Path(res.path).name}: {res.unit}", fontsize=10)
    if not draw_fits(axd, curves, res.params.dose_unit, truth=res.truth, xlabel=_dose_label(res)):
        axd.set_axis_off()
        axd.text(0.5, 0.5, "no dose–response: no ejection at a positive dose", ha="center", transform=axd.transAxes)
    fig.tight_layout()
    return _save(fig, out, "overview")


def units_figure(res: AnalysisResult, out: Path) -> dict[str, str] | None:
    chans = [c for c, us in res.units.items() if us]
    if not chans:
        return None
    fig, axes = plt.subplots(1, len(chans), figsize=(5 * len(chans), 4.5), squeeze=False)
    for ax, ch in zip(axes[0], chans):
        sp = res.detection.spikes[ch]
        for i, u in enumerate(res.units[ch]):
            f = sp.features[u.spike_ids]
            if f.shape[1] >= 2:
                ax.plot(f[:5000, 0] * 1e6, f[:5000, 1] * 1e6, ".", ms=2, alpha=0.4, rasterized=True,
                        color=UNIT_COLOURS[i % len(UNIT_COLOURS)], label=f"{u.label} (n={len(u.spike_ids)}, SNR {u.snr:.1f})")
        ax.set_xlabel("PC1 (µV)")
        ax.set_ylabel("PC2 (µV)")
        ax.set_title(ch)
        ax.legend(fontsize=7, markerscale=4, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    fig.tight_layout()
    return _save(fig, out, "units")


FIGURES = {"snippet": snippet_figure, "raster": raster_figure, "ratemeter": ratemeter_figure,
           "dose_response": dose_response_figure, "overview": overview_figure, "units": units_figure}
# rendered in a forked child while this process renders the others (matplotlib holds the
# GIL): about the same share of the work each
CHILD_FIGURES = ("snippet", "dose_response", "overview")


def _render(res: AnalysisResult, out: Path, names: list[str]) -> dict[str, dict[str, str] | None]:
    return {name: FIGURES[name](res, out) for name in names}


def write_figures(res: AnalysisResult, out: Path, parallel: bool = True) -> dict[str, dict[str, str]]:
    """Every figure as PNG (300 dpi) and SVG; with ``parallel`` (Linux) two processes share them."""
    out.mkdir(parents=True, exist_ok=True)
    child = ForkedCall.start(_render, res, out, list(CHILD_FIGURES)) if parallel else None
    done = _render(res, out, [n for n in FIGURES if child is None or n not in CHILD_FIGURES])
    if child is not None:
        try:
            done.update(child.result())
        except ForkedCallError as exc:  # render them here; say why once
            log.warning("rendering figures in a second process failed (%s); rendering them here", exc)
            done.update(_render(res, out, [n for n in CHILD_FIGURES if n not in done]))
    return {name: done[name] for name in FIGURES if done.get(name)}


def epoch_table(res: AnalysisResult) -> str:
    """The per-epoch table as aligned text."""
    head = (f"{'barrel':<7}{'condition':<30}{'current':>9}{'charge nC':>10}{'base Hz':>9}{'resp Hz':>9}"
            f"{'% change':>10}{'z':>7}")
    if res.truth_epochs is not None:
        head += f"{'truth %':>9}"
    lines = [head, "-" * len(head)]
    for i, ep in enumerate(res.epochs):
        row = (f"{ep.barrel:<7}{ep.condition[:29]:<30}{current_text(ep.current_nA):>9}{ep.charge_nC:>10.1f}"
               f"{ep.baseline_rate_hz:>9.2f}{ep.response_rate_hz:>9.2f}{ep.percent_change:>10.1f}{ep.z_score:>7.1f}")
        if res.truth_epochs is not None:
            row += f"{res.truth_epochs[i].percent_change:>9.1f}"
        if ep.is_control:
            row += "  (current control)"
        if ep.flags:
            row += "  [not used: " + "; ".join(ep.flags) + "]"
        lines.append(row)
    return "\n".join(lines)


def fit_line(key: str, f: FitResult) -> list[str]:
    """A fit in words: EC50 with its labelled CI (or "not determinable" and why), the other
    parameters, what a point is, and its warnings."""
    pad = " " * len(key)
    lof = f.lack_of_fit
    if f.determinable:
        head = f"{key}: EC50 {f.ec50_text()} ({f.ec50_ci_text()}, profile likelihood) [{f.status}]"
    else:
        head = f"{key}: EC50 not determinable"
    se = f"{f.se['hill']:.2f}" if np.isfinite(f.se["hill"]) else "— (no SE)"
    lines = [head + f", Hill {f.hill:.2f} ± {se}, top {f.top:.1f} %, bottom {f.bottom:.1f} %, "
                    f"R² {f.r_squared:.3f}, n = {f.n_points}"
             + (f", lack of fit p = {lof['p']:.2g}" if lof else "")]
    lines += [f"{pad}  why: {r}" for r in f.reasons]
    if f.points:
        lines.append(f"{pad}  points: {f.points}")
    lines += [f"{pad}  warning: {w}" for w in f.warnings]
    return lines


def fit_table(res: AnalysisResult) -> str:
    lines = []
    for key, f in res.fits.items():
        lines += fit_line(key, f)
        t = res.truth.get(key)
        if t is not None:
            pad = " " * len(key)
            err = f" (measured {100 * (f.ec50 - t.ec50) / t.ec50:+.1f} %)" if f.determinable else ""
            lines.append(f"{pad}  ground truth EC50 {t.ec50:.3g} {t.dose_unit} from the simulator's model{err}")
    for key, msg in res.fit_errors.items():
        lines.append(f"{key}: no fit ({msg})")
    for c in res.comparisons:
        if c.note:
            lines.append(f"{c.label_b} vs {c.label_a}: {c.note}; same curve: F = {c.f_same_curve:.2f}, "
                         f"p = {c.p_same_curve:.3g}")
        else:
            lines.append(f"{c.label_b} vs {c.label_a}: EC50 ratio {c.ec50_ratio:.3g} ({c.ci_label} "
                         f"{c.ec50_ratio_ci[0]:.3g}–{c.ec50_ratio_ci[1]:.3g}); same EC50: F = {c.f_shared_ec50:.2f}, "
                         f"p = {c.p_shared_ec50:.3g}")
    return "\n".join(lines)
