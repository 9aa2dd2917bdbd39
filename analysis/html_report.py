"""The one-page HTML report: what was recorded (date, protocol, pipette, drugs, software),
figures (PNG at 300 dpi, linking to the SVG), fits with their status, epochs, units, flags;
for a recording with trials, the tuning per drug condition and the gain (``analysis.gain_html``).

A not-determinable EC50 is the words "not determinable" and its reasons, never a number;
every CI is named with its level; an ejection's current is written as ``current_text``.

Self-contained apart from the figure files next to it; no JavaScript.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from analysis.epochs import current_text
from analysis.html_parts import CSS
from analysis.html_parts import figure as _figure
from analysis.html_parts import fmt as _f
from analysis.html_parts import table as _table
from analysis.pipeline import AnalysisResult
from analysis.tables import fit_doc
from analysis.unit_quality import NARROW_MAX_MS
from analysis.units import units_table


def _date(iso: str) -> str:
    """``2026-12-06 12:52:11 +00:00`` from an ISO 8601 time (as stored), or it as it is."""
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso or "—"
    zone = t.strftime("%z")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f" {zone[:3]}:{zone[3:]}" if zone else "")


def _recording_block(res: AnalysisResult) -> str:
    """Date, protocol, pipette, drugs and software versions of the recording."""
    m = res.meta or {}
    drugs = "; ".join(
        f"{d['drug']} ({d['barrel']}{', ' + format(d['concentration_mM'], 'g') + ' mM' if d.get('concentration_mM') else ''}"
        f"{', current control' if d.get('role') == 'control' else ''})" for d in m.get("drugs", [])) or "—"
    rows = [["recorded", _date(m.get("date") or "")], ["protocol", m.get("protocol") or "—"],
            ["pipette", m.get("pipette") or "—"], ["drugs", drugs],
            ["software", f"recorded with ionto {m.get('recorded_with') or '?'}; analysed with ionto "
                         f"{m.get('analysed_with') or '?'}"]]
    return _table(["recording", ""], rows, left=2)


def _fit_rows(res: AnalysisResult) -> str:
    rows = []
    for key in res.fits:
        f = res.fits[key]
        d = fit_doc(res, key)
        lof = d["lack_of_fit"] or {}
        ec50 = f.ec50_text() if f.determinable else "not determinable"
        ci = f"{_f(d['ec50_ci'][0])}–{_f(d['ec50_ci'][1])}" if f.determinable else "—"
        rows.append([key, d["status"], ec50, f"{ci} ({f.ci_label})" if f.determinable else ci,
                     f"{_f(d['hill'])} ± {_f(d['se']['hill'], 2)}", f"{_f(d['top'])} ± {_f(d['se']['top'], 2)}",
                     f"{_f(d['bottom'])} ± {_f(d['se']['bottom'], 2)}", d["i50"], d["r_squared"], d["aicc"],
                     lof.get("p"), d["n_points"], "; ".join(d["reasons"]) or "—", "; ".join(d["warnings"]) or "—"])
    points = {f.points for f in res.fits.values() if f.points}
    note = f"<p class='meta'>points: {html.escape(points.pop())}</p>" if len(points) == 1 else ""
    return _table(["curve", "status", "EC50", "CI (profile likelihood)", "Hill ± SE", "top ± SE (%)",
                   "bottom ± SE (%)", "I50", "R²", "AICc", "lack-of-fit p", "n", "why (status)", "warnings"],
                  rows, bad=[not f.determinable for f in res.fits.values()], left=4) + note


def _truth_rows(res: AnalysisResult) -> str:
    if not res.truth:
        return ""
    rows = []
    for key, t in res.truth.items():
        f = res.fits.get(key)
        err = (100 * (f.ec50 - t.ec50) / t.ec50) if f is not None and f.determinable else None
        rows.append([key, f"{t.ec50:.3g} {t.dose_unit}", f.ec50_text() if f is not None else "—",
                     "—" if err is None else f"{err:+.1f} %", t.receptor_ec50_uM])
    return ("<p class='meta'>ground truth: " + html.escape(next(iter(res.truth.values())).source) + "</p>"
            + _table(["curve", "true EC50", "measured EC50", "error", "receptor EC50 µM"], rows))


def units_section(res: AnalysisResult, figs: dict[str, dict[str, str]], out: Path) -> list[str]:
    """Spikes and units: the electrode snippet, the units' features, one row per channel, and one
    row per separated unit with its quality metrics and cell type."""
    parts = ["<h2>Spikes and units</h2>",
             _figure(figs, "snippet", "electrode signal, threshold and detected spikes; waveforms", out),
             _figure(figs, "units", "waveform features of the separated units", out)]
    rows = []
    for name, sp in res.detection.spikes.items():
        clipped = sum(b - a for a, b in res.detection.clipped.get(name, [])) / res.rate_hz
        rows.append([name, len(sp), sp.threshold * 1e6, sp.sigma * 1e6, clipped,
                     ", ".join(u.label for u in res.units.get(name, [])) or "—"])
    parts.append(_table(["channel", "spikes", "threshold µV", "noise σ µV", "clipped s", "units"], rows))
    urows = units_table(res.units, res.rate_hz)
    if urows:
        parts.append(_table(["unit", "channels", "spikes", "rate Hz", "amplitude µV", "SNR", "ISI viol. ratio",
                             "presence ratio", "amplitude cutoff", "trough-to-peak ms", "cell type"],
                            [[r["label"], r["channels"], r["count"], r["mean_rate_hz"], r["amplitude_uV"],
                              r["si_snr"], r["isi_violations_ratio"], r["presence_ratio"], r["amplitude_cutoff"],
                              r["trough_to_peak_ms"], r["cell_type"]] for r in urows]))
        parts.append(f"<p class='meta'>quality metrics: SpikeInterface (SNR, ISI violations ratio, presence "
                     f"ratio, amplitude cutoff; blank where the recording is too short to compute one). Cell "
                     f"type from the trough-to-peak width: narrow ≤ {NARROW_MAX_MS} ms (putative fast-spiking), "
                     f"broad above (Siegle et al. 2021, Nature 592:86).</p>")
    return parts


def write_html(res: AnalysisResult, out: Path, figs: dict[str, dict[str, str]], files: dict[str, Any],
               trials: list[str] | None = None) -> Path:
    """The page; ``trials``: the trials section (``analysis.gain_html.trials_section``), if any."""
    p = res.params
    det = p.detection
    conf = f"{100 * p.conf:g} %"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>ionto analysis: "
             f"{html.escape(Path(res.path).name)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(Path(res.path).name)}</h1>", _recording_block(res),
             f"<p class='meta'>{res.duration_s:.1f} s at {res.rate_hz:g} Hz · spike train analysed: "
             f"<b>{html.escape(res.unit)}</b> ({len(res.spike_index)} spikes) · detection {det.band_hz[0]:g}–"
             f"{det.band_hz[1]:g} Hz band-pass (order {det.order}, zero phase), threshold {det.k:g} σ "
             f"({det.polarity}), dead time {det.dead_time_ms:g} ms · baseline {p.baseline_s:g} s, response: last "
             f"{p.response_s:g} s of each ejection, recovery {p.recovery_s:g} s · dose as "
             f"{'current (nA)' if p.dose == 'current' else 'charge (nC)'} · confidence level {conf}</p>"]
    parts.append("<h2>Dose–response</h2>")
    parts.append(_figure(figs, "overview", "ratemeter with ejection bars, and the dose–response", out))
    parts.append(_figure(figs, "dose_response", f"responses, 4PL fit with its {conf} confidence band over the tested "
                         f"doses, EC50 with its profile-likelihood {conf} CI", out))
    if res.fits:
        parts.append(_fit_rows(res))
    parts.append(_truth_rows(res))
    for key, msg in res.fit_errors.items():
        parts.append(f"<p class='warn'>{html.escape(key)}: no fit — {html.escape(msg)}</p>")
    if res.comparisons:
        rows = [[f"{c.label_b} vs {c.label_a}", c.note or c.ec50_ratio,
                 "—" if c.note else f"{_f(c.ec50_ratio_ci[0])}–{_f(c.ec50_ratio_ci[1])} ({c.ci_label})",
                 c.f_shared_ec50, c.p_shared_ec50, c.f_same_curve, c.p_same_curve] for c in res.comparisons]
        parts.append(_table(["comparison", "EC50 ratio", "CI", "F (same EC50)", "p", "F (same curve)", "p"], rows))
    parts.append("<h2>Firing rate</h2>")
    parts.append(_figure(figs, "ratemeter", "ratemeter with ejection bars (hatched: current controls)", out))
    parts.append(_figure(figs, "raster", "spikes aligned to each ejection onset, and the PSTH per current", out))
    parts += trials or []
    parts.append("<h2>Epochs</h2>")
    rows = [[ep.barrel, ep.condition, current_text(ep.current_nA), ep.measured_current_nA, ep.duration_s,
             ep.charge_nC, ep.baseline_rate_hz, ep.response_rate_hz, ep.percent_change, ep.z_score,
             ep.recovery_percent, ep.it50_nC, "current control" if ep.is_control else "",
             "; ".join(ep.flags + ep.notes) or "—"] for ep in res.epochs]
    parts.append(_table(["barrel", "condition", "current", "measured nA", "s", "charge nC", "baseline Hz",
                         "response Hz", "% change", "z", "recovery %", "I·T50 nC", "", "flags (grey: not used)"],
                        rows, bad=[not ep.usable for ep in res.epochs], left=3))
    parts += units_section(res, figs, out)
    links = [f"<a href='{Path(v).relative_to(out)}'>{html.escape(Path(v).name)}</a>"
             for k, v in files.items() if isinstance(v, str) and k != "html"]
    links += [f"<a href='{Path(v).relative_to(out)}'>{html.escape(Path(v).name)}</a>"
              for v in files.get("spikes", {}).values()]
    parts.append(f"<h2>Tables</h2><p>{' · '.join(links)}</p></body></html>")
    path = out / "report.html"
    path.write_text("\n".join(x for x in parts if x), encoding="utf-8")
    return path


def write_report(res: AnalysisResult, out: Path) -> dict[str, Any]:
    """Tables (CSV, JSON), figures (PNG, SVG) and the HTML page; returns the file map.  A
    recording with trials also gets the tuning per drug condition and the gain of each spike
    train (``analysis.gain_html``): a figure each, ``tuning.csv``, ``tuning_fits.csv``, ``gain.csv``."""
    from analysis.gain_html import report_cells, trials_section, write_cell_figures
    from analysis.gain_tables import write_gain_tables
    from analysis.report import write_figures
    from analysis.tables import write_json, write_tables

    out = Path(out)
    files = write_tables(res, out)
    figs = write_figures(res, out)
    cells, problems = report_cells(res)
    trial_figs = write_cell_figures(cells, out) if cells else {}
    if cells:
        files.update(write_gain_tables(cells, out))
        files["tuning_figures"] = trial_figs
    files["figures"] = figs
    files["html"] = str(out / "report.html")
    files["json"] = str(out / "analysis.json")
    write_html(res, out, figs, files, trials_section(cells, trial_figs, out, problems))
    write_json(res, out, files)
    return files
