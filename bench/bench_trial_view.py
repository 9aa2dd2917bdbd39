"""The live trial view's speed: updating the Trials dock for a realistic event log.

The log: 5 stimulus values (orientation 0, 45, 90, 135, 180°) × 200 trials each = 1000 trials
of 0.5 s, one a second, at 30 kHz; the first 500 with the drug barrel on retain (drug off),
then an ejection and 500 more (drug on); the simulated cell is tuned to 90° (a von Mises
curve, 5 Hz baseline, 40 Hz peak) and the drug scales its response by 0.6 (a gain change).
Spikes are Poisson, seed 0.  Measured in a fresh process (offscreen Qt), the median of
several updates:

* **redraw (GUI thread)**: ``TrialModel.accept(snapshot)`` -> ``TrialView`` redraws its raster,
  PSTHs and tuning curves (``app/gui/trial_view.py``), then the plots are rendered
  (``grab``); reference: pyqtgraph alone drawing the same raster lines, PSTH steps and tuning
  points with error bars into the same three plots, rendered the same way.
* **recompute (worker thread)**: ``TrialModel.job`` (``app/gui/models/trials.py``): trials and
  validity from the log (``daq.trials``), spike counts, condition statistics, rasters, PSTHs,
  tuning fits and the gain model (``analysis``), as ``ionto analyze`` computes them;
  reference: numpy alone computing the same rasters and PSTHs (``searchsorted`` and
  ``histogram`` per condition: no validity, statistics or fits).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from bench.common import Row, child_peak_rss_mb, command

RATE_HZ = 30000.0
VALUES_DEG = (0.0, 45.0, 90.0, 135.0, 180.0)
TRIALS_PER_VALUE = 200
STIM_S = 0.5
PERIOD_S = 1.0
DRUG = "ach"
BASELINE_HZ, PEAK_HZ, KAPPA, DRUG_GAIN = 5.0, 40.0, 2.0, 0.6
SIZE_PX = (700, 600)


def event_log(seed: int = 0):
    """The trial events, the drug barrel's current changes and the spike indices."""
    from daq.types import EventKind, LogEvent

    rng = np.random.default_rng(seed)
    n = len(VALUES_DEG) * TRIALS_PER_VALUE
    order = np.concatenate([rng.permutation(np.repeat(VALUES_DEG, TRIALS_PER_VALUE // 2)) for _ in range(2)])
    events = [LogEvent(0, EventKind.RETAIN, DRUG, 15.0)]
    spikes = []
    period, stim = round(PERIOD_S * RATE_HZ), round(STIM_S * RATE_HZ)
    total = (n + 1) * period
    base = np.sort(rng.integers(0, total, rng.poisson(BASELINE_HZ * total / RATE_HZ)))
    spikes.append(base)
    for k, v in enumerate(order):
        start = (k + 1) * period
        on = k >= n // 2
        if k == n // 2:
            events.append(LogEvent(start - period // 2, EventKind.EJECT, DRUG, 60.0))
        events += [LogEvent(start, EventKind.TRIAL_START, text=f"trial={k} code={VALUES_DEG.index(v) + 1} "
                            f"orientation_deg={v:g}"),
                   LogEvent(start + stim, EventKind.TRIAL_STOP, text=f"trial={k} code={VALUES_DEG.index(v) + 1}")]
        drive = (PEAK_HZ - BASELINE_HZ) * np.exp(KAPPA * (np.cos(np.deg2rad(2 * (v - 90.0))) - 1))
        extra = rng.poisson(drive * (DRUG_GAIN if on else 1.0) * STIM_S)
        spikes.append(start + rng.integers(0, stim, extra))
    return events, np.sort(np.concatenate(spikes)).astype(np.int64)


def numpy_rasters_psths(trials, spikes: np.ndarray, pre_s: float, post_s: float, bin_s: float) -> dict:
    """The reference: each condition's rasters and PSTH by numpy alone (no validity or fits)."""
    pre, post = round(pre_s * RATE_HZ), round(post_s * RATE_HZ)
    edges = np.arange(-pre_s, post_s + bin_s / 2, bin_s)
    out = {}
    keys = {(t.drug_state, t.stimulus.get("orientation_deg")) for t in trials}
    for key in keys:
        sel = [t for t in trials if (t.drug_state, t.stimulus.get("orientation_deg")) == key]
        onsets = np.array([t.start_index for t in sel], dtype=np.int64)
        lo = np.searchsorted(spikes, onsets - pre)
        hi = np.searchsorted(spikes, onsets + post)
        rows = [(spikes[a:b] - o) / RATE_HZ for a, b, o in zip(lo, hi, onsets, strict=True)]
        counts, _ = np.histogram(np.concatenate(rows) if rows else np.zeros(0), edges)
        out[key] = (rows, counts / (len(sel) * bin_s))
    return out


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def child(repeat: int) -> dict:
    """In a fresh process: the four timings (ms) and what was drawn."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication

    from app.gui.models.trials import BIN_S, POST_EXTRA_S, PRE_S, TrialModel
    from app.gui.trial_view import OFF_COLOUR, TrialView
    from daq.trials import trials_from_events

    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(background="w", foreground="k", antialias=False)
    events, spikes = event_log()
    model = TrialModel(None, RATE_HZ, drug_barrel=DRUG)
    for ev in events:
        model.on_event(ev)
    job = model.job(spikes, 0)
    snap = job()
    recompute_ms = _median_ms(job, max(3, repeat // 4))
    trials = [t for t in trials_from_events(events, RATE_HZ, drug_barrel=DRUG) if t.valid]
    post_s = STIM_S + POST_EXTRA_S
    numpy_ms = _median_ms(lambda: numpy_rasters_psths(trials, spikes, PRE_S, post_s, BIN_S), repeat)

    view = TrialView(model, "#e69f00")
    view.resize(*SIZE_PX)
    view.show()
    app.processEvents()
    model.accept(snap)  # the first: the stimulus values enter the combo box
    view.glw.grab()

    def redraw() -> None:
        model.accept(snap)
        view.glw.grab()

    redraw_ms = _median_ms(redraw, repeat)

    # the reference: pyqtgraph alone, the same items with the same data in the same three plots
    ref = numpy_rasters_psths(trials, spikes, PRE_S, post_s, BIN_S)
    v = view.shown_value
    glw = pg.GraphicsLayoutWidget()
    glw.resize(view.glw.size())
    glw.show()
    rp, pp = glw.addPlot(row=0, col=0), glw.addPlot(row=1, col=0)
    tp = glw.addPlot(row=0, col=1, rowspan=2)
    colours = {"off": OFF_COLOUR, "on": "#e69f00"}
    tuning = {s: np.array([[x, snap.stats[(s, x)].mean_rate_hz, snap.stats[(s, x)].sem_rate_hz]
                           for x in VALUES_DEG if (s, x) in snap.stats]) for s in ("off", "on")}
    edges = np.arange(-PRE_S, post_s + BIN_S / 2, BIN_S)

    def reference() -> None:
        for p in (rp, pp, tp):
            p.clear()
        row = 0
        for s in ("off", "on"):
            rows, rate = ref[(s, v)]
            x = np.concatenate([np.repeat(r, 2) for r in rows])
            y = np.concatenate([np.tile([row + k, row + k + 0.8], len(r)) for k, r in enumerate(rows)])
            rp.addItem(pg.PlotCurveItem(x, y, connect="pairs", pen=pg.mkPen(colours[s])))
            row += len(rows)
            pp.addItem(pg.PlotCurveItem(edges, rate, stepMode="center", pen=pg.mkPen(colours[s], width=2)))
            t = tuning[s]
            tp.addItem(pg.ErrorBarItem(x=t[:, 0], y=t[:, 1], height=2 * t[:, 2], pen=pg.mkPen(colours[s])))
            tp.plot(t[:, 0], t[:, 1], pen=None, symbol="o", symbolBrush=colours[s])
        rp.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine)))
        glw.grab()

    reference()
    pg_ms = _median_ms(reference, repeat)
    return {"recompute_ms": recompute_ms, "numpy_ms": numpy_ms, "redraw_ms": redraw_ms, "pyqtgraph_ms": pg_ms,
            "trials": len(snap.trials), "valid": snap.n_valid, "spikes": len(spikes),
            "shown_value": v, "pre_s": PRE_S, "post_s": post_s, "bin_s": BIN_S, "raster_rows": int(sum(len(ref[(s, v)][0]) for s in ("off", "on")))}


def run(quick: bool = False) -> list[Row]:
    repeat = 8 if quick else 30
    code = f"import json\nfrom bench.bench_trial_view import child\nprint(json.dumps(child({repeat})))"
    peak_MB, out = child_peak_rss_mb(code)
    r = json.loads(out.strip().splitlines()[-1])
    cmd = command("bench_trial_view", quick)
    setting = (f"{r['trials']} trials ({len(VALUES_DEG)} orientations × {TRIALS_PER_VALUE}, half drug off then "
               f"half drug on; {r['valid']} valid), {r['spikes']} spikes at {RATE_HZ / 1e3:g} kHz; raster of "
               f"{r['raster_rows']} rows at {r['shown_value']:g}°, PSTHs from {r['pre_s']:g} s before to {r['post_s']:g} s after onset in {1e3 * r['bin_s']:g}-ms bins, {SIZE_PX[0]}×{SIZE_PX[1]} "
               f"px offscreen; median of {repeat}; load average {os.getloadavg()[0]:.1f} on 2 cores at the end")
    return [
        Row("trial_view", "Trials dock redraw on the GUI thread (1000 trials: raster, PSTHs, tuning curves)",
            r["redraw_ms"], r["pyqtgraph_ms"], "ms", "pyqtgraph alone drawing the same items and points",
            cmd, False, notes=setting, extra=r, peak_MB=peak_MB),
        Row("trial_view", "Trials model recompute on its worker thread (same log: validity, statistics, "
            "rasters, PSTHs, tuning and gain fits)", r["recompute_ms"], r["numpy_ms"], "ms",
            "numpy alone: the same rasters and PSTHs, no validity, statistics or fits", cmd, False,
            notes="the recompute runs on a worker (app/gui/trial_view.refresh), about once a second; the GUI "
            "thread only takes its snapshot", extra=r, peak_MB=peak_MB),
    ]

if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
