"""A drug × stimulus recording analysed: trials, responses per condition, tuning curves per
drug condition, the gain model, Fano factors, AUROC and modulation indices, a figure and a
JSON-ready summary.  The pieces: ``analysis.trials``, ``analysis.tuning``, ``analysis.gain``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.detect_file import detect_recording
from analysis.gain import GainFit, fit_gain
from analysis.source import RecordingLike
from analysis.trials import (
    OFF,
    Condition,
    ConditionStats,
    auroc,
    condition_label,
    condition_order,
    condition_stats,
    modulation_index,
    psth,
    recording_trials,
    spike_counts,
    stimulus_value,
)
from analysis.tuning import TuningFit, fit_tuning
from daq.errors import IontoError
from daq.trials import Trial

VALUE_KINDS = {"orientation_deg": "orientation", "contrast": "contrast"}


class NoTrialsError(IontoError):
    """The recording holds no trials that can be analysed."""


@dataclass
class ConditionCurve:
    """One drug condition's tuning curve (``off``, or on at one current: ``60 nA``): the
    valid trials' responses per stimulus value, the fitted tuning curve, and — for a drug
    condition — the gain model against control (``analysis.gain``), AUROC and modulation
    index against control per value."""

    label: str
    current_nA: float  # 0 when off
    points: list[ConditionStats]  # one per stimulus value, by value
    tuning: TuningFit | None = None
    gain: GainFit | None = None  # drug conditions only
    gain_error: str = ""  # why a drug condition has no gain fit
    auroc: dict[float, float] = field(default_factory=dict)
    modulation_index: dict[float, float] = field(default_factory=dict)


@dataclass
class GainAnalysis:
    """Everything ``analyze_gain`` found (drug states "off" = control, "on" = drug)."""

    path: str
    value_name: str
    kind: str | None  # "orientation" / "contrast" (a tuning curve is fitted), or None
    trials: list[Trial]
    counts: np.ndarray
    durations_s: np.ndarray
    stats: dict[Condition, ConditionStats]
    tuning: dict[str, TuningFit]
    gain: GainFit
    auroc: dict[float, float]
    modulation_index: dict[float, float]
    psth: dict[Condition, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    curves: dict[str, ConditionCurve] = field(default_factory=dict)  # per drug condition, off first, by current

    @property
    def n_valid(self) -> int:
        return sum(t.valid for t in self.trials)


def _value_name(trials: list[Trial]) -> str:
    for t in trials:
        for k in t.stimulus:
            return k
    return "code"


def detected_spikes(rec: RecordingLike, channel: str | None = None) -> np.ndarray:
    """Spike sample indices on one electrode channel (the first, by default)."""
    det = detect_recording(rec, channels=[channel] if channel else None)
    first = channel or next(iter(det.spikes))
    return det.spikes[first].index


def analyze_gain(rec: RecordingLike, spike_index: np.ndarray | None = None, *, window_start_s: float = 0.05,
                 window_stop_s: float | None = None, drug_barrel: str | None = None, settle_s: float = 0.0,
                 discard: int = 0, n_boot: int = 200, seed: int = 0, psth_bin_s: float = 0.05) -> GainAnalysis:
    """Analyse the trials of a recording.  ``spike_index``: the spikes to use (detected on
    the first electrode if not given); ``drug_barrel``, ``settle_s``, ``discard``: drug
    blocks from that barrel's currents when the log has no drug_block events."""
    trials = recording_trials(rec, drug_barrel=drug_barrel, settle_s=settle_s, discard=discard)
    valid = [t for t in trials if t.valid]
    if not valid:
        raise NoTrialsError(f"{rec.path}: no valid trials in the event log ({len(trials)} trial events; "
                            "trials come from trial_start/trial_stop events, see docs/trials.md)")
    if spike_index is None:
        spike_index = detected_spikes(rec)
    name = _value_name(valid)
    counts, dur = spike_counts(trials, spike_index, rec.rate_hz, window_start_s, window_stop_s)
    cstats = condition_stats(trials, counts, dur, name if name != "code" else None)
    ok = [i for i, t in enumerate(trials) if t.valid and dur[i] > 0]
    values = np.array([stimulus_value(trials[i], name if name != "code" else None) for i in ok])
    on = np.array([trials[i].drug_state == "on" for i in ok])
    rates = counts[ok] / dur[ok]
    gain = fit_gain(values, on, rates, n_boot=n_boot, seed=seed)
    kind = VALUE_KINDS.get(name)
    tuning = {}
    if kind is not None:
        for state in ("off", "on"):
            sel = on == (state == "on")
            if sel.any():
                tuning[state] = fit_tuning(kind, values[sel], rates[sel])
    aur, mi = {}, {}
    for v in sorted(set(values.tolist())):
        c, d = cstats.get(("off", v)), cstats.get(("on", v))
        if c is not None and d is not None:
            aur[v] = auroc(d.rates_hz, c.rates_hz)
            mi[v] = modulation_index(d.mean_rate_hz, c.mean_rate_hz)
    ps = {}
    post_s = float(np.median(dur[ok])) + 0.3  # the stimulus and its offset response
    for key in cstats:
        sel = [trials[i] for i in ok if (trials[i].drug_state, stimulus_value(trials[i], name if name != "code" else None)) == key]
        ps[key] = psth(sel, spike_index, rec.rate_hz, post_s=post_s, bin_s=psth_bin_s)
    curves = condition_curves(trials, counts, dur, ok, name if name != "code" else None, kind, gain, n_boot, seed)
    return GainAnalysis(str(rec.path), name, kind, trials, counts, dur, cstats, tuning, gain, aur, mi, ps, curves)


def condition_curves(trials: list[Trial], counts: np.ndarray, dur: np.ndarray, ok: list[int], value_name: str | None,
                     kind: str | None, pooled: GainFit, n_boot: int, seed: int) -> dict[str, ConditionCurve]:
    """The tuning curve of each drug condition (each current apart); with one drug current its
    gain is the pooled fit ``pooled`` (the same trials), with several each is fitted against
    control on its own."""
    labels = condition_order(condition_label(trials[i]) for i in ok)
    stats = condition_stats(trials, counts, dur, value_name, by_current=True)
    control = {k[1]: s for k, s in stats.items() if k[0] == OFF}
    drugs = [lb for lb in labels if lb != OFF]
    curves: dict[str, ConditionCurve] = {}
    for label in labels:
        sel = [i for i in ok if condition_label(trials[i]) == label]
        values = np.array([stimulus_value(trials[i], value_name) for i in sel])
        rates = counts[sel] / dur[sel]
        cur = 0.0 if label == OFF else trials[sel[0]].condition_nA
        c = ConditionCurve(label, cur, [s for k, s in stats.items() if k[0] == label])
        if kind is not None:
            c.tuning = fit_tuning(kind, values, rates)
        if label != OFF and control:
            if len(drugs) == 1:
                c.gain = pooled
            else:
                both = [i for i in ok if condition_label(trials[i]) in (OFF, label)]
                try:
                    c.gain = fit_gain(np.array([stimulus_value(trials[i], value_name) for i in both]),
                                      np.array([trials[i].drug_state == "on" for i in both]),
                                      counts[both] / dur[both], n_boot=n_boot, seed=seed)
                except ValueError as exc:  # too few stimulus values with both control and drug trials
                    c.gain_error = str(exc)
            for p in c.points:
                if p.value in control:
                    c.auroc[p.value] = auroc(p.rates_hz, control[p.value].rates_hz)
                    c.modulation_index[p.value] = modulation_index(p.mean_rate_hz, control[p.value].mean_rate_hz)
        curves[label] = c
    return curves


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def gain_doc(res: GainAnalysis) -> dict[str, Any]:
    """A JSON-ready summary (``fit.gain``, ``fit.offset``, ``preferred_model``, …): the pooled
    drug trials against control, and ``curves``: each drug condition (each current) apart."""
    g = res.gain
    reasons: dict[str, int] = {}
    for t in res.trials:
        if not t.valid:
            reasons[t.reason] = reasons.get(t.reason, 0) + 1
    return {
        "trials": {"total": len(res.trials), "valid": res.n_valid, "invalid_by_reason": reasons},
        "value_name": res.value_name,
        "fit": {"gain": g.gain, "offset": g.offset_hz, "gain_ci95": list(g.gain_ci), "offset_ci95": list(g.offset_ci),
                "gain_se": _num(g.gain_se), "offset_se": _num(g.offset_se), "n_control": g.n_control,
                "n_drug": g.n_drug, "bootstrap_resamples": g.n_boot},
        "preferred_model": g.preferred_model,
        "models": {m.name: {"gain": m.gain, "offset": m.offset_hz, "rss": m.rss, "k": m.k, "aic": m.aic,
                            "f_test_p": _num(m.f_p_value) if m.f_p_value is not None else None}
                   for m in g.models.values()},
        "tuning": {state: _fit_doc(f) for state, f in res.tuning.items()},
        "conditions": [{"drug_state": s.drug_state, res.value_name: s.value, "n": s.n, "mean_rate_hz": s.mean_rate_hz,
                        "sem_rate_hz": _num(s.sem_rate_hz), "fano": _num(s.fano)} for s in res.stats.values()],
        "auroc": [{res.value_name: v, "auroc": _num(a)} for v, a in res.auroc.items()],
        "modulation_index": [{res.value_name: v, "mi": _num(m)} for v, m in res.modulation_index.items()],
        "curves": {label: _curve_doc(c, res.value_name) for label, c in res.curves.items()},
    }


def _fit_doc(f: TuningFit | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"kind": f.kind, "params": {k: _num(v) for k, v in f.params.items()},
            "stderr": {k: _num(v) for k, v in f.stderr.items()}, "rmse_hz": _num(f.rmse_hz), "error": f.error or None}


def _curve_doc(c: ConditionCurve, value_name: str) -> dict[str, Any]:
    """One drug condition's curve: points, tuning fit, gain against control, AUROC and MI."""
    g = c.gain
    return {
        "current_nA": c.current_nA,
        "points": [{value_name: p.value, "n": p.n, "mean_rate_hz": p.mean_rate_hz, "sem_rate_hz": _num(p.sem_rate_hz),
                    "fano": _num(p.fano), "auroc": _num(c.auroc.get(p.value, math.nan)),
                    "mi": _num(c.modulation_index.get(p.value, math.nan))} for p in c.points],
        "tuning": _fit_doc(c.tuning),
        "gain": None if g is None else {"gain": g.gain, "offset": g.offset_hz, "gain_ci95": list(g.gain_ci),
                                        "offset_ci95": list(g.offset_ci), "preferred_model": g.preferred_model},
        "gain_error": c.gain_error or None,
    }


def gain_figure(res: GainAnalysis, path: str | os.PathLike[str]) -> str:
    """Tuning curves per drug condition (means ± SEM, fitted curves), drug vs control
    responses with the fitted gain line, and the PSTHs at the stimulus with the largest
    control response; written as PNG (300 dpi, like every report figure)."""
    from analysis.report import PRINT_DPI, plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    colours = {"off": "k", "on": "tab:red"}
    for state in ("off", "on"):
        pts = [s for s in res.stats.values() if s.drug_state == state]
        if not pts:
            continue
        ax1.errorbar([s.value for s in pts], [s.mean_rate_hz for s in pts], [s.sem_rate_hz for s in pts],
                     fmt="o", color=colours[state], label="control" if state == "off" else "drug")
        f = res.tuning.get(state)
        if f is not None and not f.error:
            xs = np.linspace(min(s.value for s in pts), max(s.value for s in pts), 200)
            ax1.plot(xs, f(xs), color=colours[state])
    ax1.set_xlabel(res.value_name)
    ax1.set_ylabel("response (Hz)")
    ax1.legend(frameon=False)
    pairs = [(res.stats[("off", v)].mean_rate_hz, res.stats[("on", v)].mean_rate_hz) for v in res.auroc]
    if pairs:
        x, y = np.array(pairs).T
        ax2.plot(x, y, "o", color="tab:red")
        lim = np.array([0, max(x.max(), y.max()) * 1.1])
        ax2.plot(lim, lim, ":", color="0.5")
        ax2.plot(lim, res.gain.gain * lim + res.gain.offset_hz, color="tab:red",
                 label=f"g = {res.gain.gain:.2f}, a = {res.gain.offset_hz:+.1f} Hz ({res.gain.preferred_model})")
        ax2.legend(frameon=False)
    ax2.set_xlabel("control response (Hz)")
    ax2.set_ylabel("drug response (Hz)")
    control = [s for s in res.stats.values() if s.drug_state == "off"]
    if control:
        best = max(control, key=lambda s: s.mean_rate_hz).value
        for state in ("off", "on"):
            ps = res.psth.get((state, best))
            if ps is not None:
                edges, rate = ps
                ax3.step(edges[:-1], rate, where="post", color=colours[state],
                         label="control" if state == "off" else "drug")
        ax3.set_title(f"PSTH at {res.value_name} = {best:g}")
        ax3.set_xlabel("time from stimulus onset (s)")
        ax3.set_ylabel("rate (Hz)")
        ax3.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=PRINT_DPI)
    plt.close(fig)
    return str(path)
