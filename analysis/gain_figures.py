"""The report's tuning figure of a drug × stimulus recording (one cell or unit): the response
to each stimulus value per drug condition (off, and on at each current apart) as mean ± SEM
over the valid trials, the fitted tuning curve of each condition (von Mises or Naka–Rushton,
``analysis.tuning``), and the fitted gain model overlaid — each drug condition's response
predicted from control as g · control + a (``analysis.gain``, its preferred model:
multiplicative, additive, both or none); beside it, drug against control responses with the
gain lines.  Saved like every report figure: PNG at 300 dpi and SVG (``analysis.report``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.gain_report import ConditionCurve, GainAnalysis
from analysis.report import _legend_outside, _save, plt
from analysis.trials import OFF

DRUG_COLOURS = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown"]


def condition_colours(res: GainAnalysis) -> dict[str, str]:
    """Control black, each drug condition (by current) its own colour."""
    drugs = [lb for lb in res.curves if lb != OFF]
    return {OFF: "k", **{lb: DRUG_COLOURS[i % len(DRUG_COLOURS)] for i, lb in enumerate(drugs)}}


def _gain_text(c: ConditionCurve) -> str:
    g = c.gain
    assert g is not None
    return f"{c.label}: g·control + a, g = {g.gain:.2f}, a = {g.offset_hz:+.1f} Hz ({g.preferred_model})"


def _control_prediction(res: GainAnalysis, xs: np.ndarray) -> np.ndarray | None:
    """The control response at ``xs``: its tuning fit, else (no fit) None."""
    off = res.curves.get(OFF)
    if off is None or off.tuning is None or off.tuning.error:
        return None
    return off.tuning(xs)


def tuning_figure(res: GainAnalysis, title: str = ""):
    """The figure (matplotlib ``Figure``): each condition's points are one errorbar container
    labelled with the condition (``gid`` ``tuning:<label>``, so the SVG names them too)."""
    colours = condition_colours(res)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    values = sorted({p.value for c in res.curves.values() for p in c.points})
    xs = np.linspace(min(values), max(values), 200) if values else np.array([])
    control = _control_prediction(res, xs) if values else None
    off_means = {p.value: p.mean_rate_hz for p in res.curves[OFF].points} if OFF in res.curves else {}
    for label, c in res.curves.items():
        col = colours[label]
        x = [p.value for p in c.points]
        n = sum(p.n for p in c.points)
        eb = ax.errorbar(x, [p.mean_rate_hz for p in c.points], [p.sem_rate_hz for p in c.points], fmt="o",
                         color=col, capsize=3, ms=5, label=f"{'control (off)' if label == OFF else label} "
                                                           f"(n = {n} valid trials)")
        eb.lines[0].set_gid(f"tuning:{label}")
        if c.tuning is not None and not c.tuning.error and xs.size:
            ax.plot(xs, c.tuning(xs), color=col, lw=1.2, label=f"{label}: {c.tuning.kind} fit")
        if c.gain is None:
            continue
        g, a = c.gain.gain, c.gain.offset_hz
        if control is not None:
            ax.plot(xs, g * control + a, ls="--", color=col, lw=1.2, label=_gain_text(c))
        else:
            shared = [v for v in x if v in off_means]
            ax.plot(shared, [g * off_means[v] + a for v in shared], ls="--", marker="x", color=col,
                    label=_gain_text(c))
        pairs = [(off_means[p.value], p.mean_rate_hz) for p in c.points if p.value in off_means]
        if pairs:
            cx, dy = np.array(pairs).T
            ax2.plot(cx, dy, "o", color=col, label=label)
            lim = np.array([0.0, max(cx.max(), dy.max()) * 1.1])
            ax2.plot(lim, g * lim + a, color=col, lw=1)
    if off_means:
        top = max(off_means.values()) * 1.1 or 1.0
        ax2.plot([0, top], [0, top], ":", color="0.5", label="no effect")
    ax.set_xlabel(res.value_name)
    ax.set_ylabel("response (Hz, mean ± SEM of valid trials)")
    if title:
        ax.set_title(title, fontsize=9)
    ax2.set_xlabel("control response (Hz)")
    ax2.set_ylabel("drug response (Hz)")
    _legend_outside(ax2)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def write_tuning_figure(res: GainAnalysis, out: Path, name: str, title: str = "") -> dict[str, str]:
    """The tuning figure as ``out/name.png`` (300 dpi) and ``.svg``; returns their paths."""
    return _save(tuning_figure(res, title), Path(out), name)
