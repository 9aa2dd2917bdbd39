"""The live trial view (issue 17, item 5) on the simulated rig ``sim:gain``: the simulated task
reports trials (orientations, ``mock_daq.stimulus``), the operator ejects ACh by hand, and the
window's Trials dock fills in — raster and PSTH per condition, the tuning curve drug off and
drug on — with the numbers ``ionto analyze`` computes from the same recording."""
# ruff: noqa: F811  (make_window, a fixture from gui_helpers, is each test's argument)

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")

from gui_helpers import TIMEOUT_MS, make_window  # noqa: F401 (make_window is a fixture)

from daq.engine import Eject
from daq.types import EventKind

VALUES = (0.0, 22.5, 45.0, 67.5, 90.0, 112.5, 135.0, 157.5)  # the preset's orientations


def _valid(snap, state: str) -> int:
    return sum(t.valid and t.drug_state == state for t in snap.trials)


def _per_value(snap, state: str, n: int) -> bool:
    return all(snap.stats.get((state, v)) is not None and snap.stats[(state, v)].n >= n for v in VALUES)


def test_trials_fill_the_dock_drug_off_then_on_as_ionto_analyze_counts_them(qtbot, make_window, tmp_path):
    from analysis.gain_report import analyze_gain
    from daq.recording import Recording

    out = tmp_path / "gain.h5"
    win = make_window("sim:gain", speed=8.0, connect=False)
    win.autostart_record = str(out)
    win.connect_device()
    qtbot.waitUntil(lambda: win.trial_dock.isVisible(), timeout=TIMEOUT_MS)  # the first trial showed it
    view = win.trial_view  # the connection's view, constructed with its model
    assert view.model is win.trial_model and win.trial_dock.widget() is view
    qtbot.waitUntil(lambda: win.session.recording, timeout=TIMEOUT_MS)
    # two repetitions of every orientation, drug off
    qtbot.waitUntil(lambda: win.trial_model.snapshot is not None and _per_value(win.trial_model.snapshot, "off", 2),
                    timeout=TIMEOUT_MS)
    snap = win.trial_model.snapshot
    assert _valid(snap, "on") == 0
    off_fit = snap.tuning["off"]
    assert off_fit.error == "" and abs(off_fit.params["preferred_deg"] - 90.0) < 15  # the simulated cell's 90°
    # the raster and PSTH follow the preferred orientation; the tuning plot has the control series
    assert view.shown_value in (67.5, 90.0, 112.5)
    assert "need" in snap.gain_message  # no drug trials yet: the gain model says what it needs

    win.submit(Eject("ach", 60.0))  # the drug on, by hand: the drug blocks come from its current
    qtbot.waitUntil(lambda: _per_value(win.trial_model.snapshot, "on", 2), timeout=TIMEOUT_MS)
    snap = win.trial_model.snapshot
    assert snap.gain is not None and snap.tuning["on"].error == ""
    # drawn: a raster row per valid trial of the shown value (off rows, then on rows), a PSTH
    # and a tuning series (points, error bars, fit) per drug state in its colour
    v = view.shown_value
    n_rows = snap.stats[("off", v)].n + snap.stats[("on", v)].n
    raster_curves = [i for i in view.raster_plot.items if hasattr(i, "yData") and i.yData is not None]
    ys = np.concatenate([c.yData for c in raster_curves])
    assert len(raster_curves) == 2 and set(np.floor(ys).astype(int)) <= set(range(n_rows))
    psth_pens = sorted(i.opts["pen"].color().name() for i in view.psth_plot.items if hasattr(i, "opts")
                       and "pen" in i.opts)
    assert psth_pens == sorted([view.colours["off"], view.colours["on"]])
    legend = [label.text for _sample, label in view.tuning_plot.legend.items]
    assert legend == ["drug off", "drug on"]
    assert "drug on" in view.summary.text() and "gain g =" in view.summary.text()
    # picking a value shows its raster
    view.value_box.setCurrentIndex(view.value_box.findData(0.0))
    assert view.shown_value == 0.0 and "orientation_deg = 0" in view.raster_plot.titleLabel.text

    # the same numbers as ionto analyze's, on the recorded file with the same spikes
    spikes = win.session.spike_indices(0)
    win.stop_recording()
    qtbot.waitUntil(lambda: not win.session.recording, timeout=TIMEOUT_MS)
    with Recording(out) as rec:
        offline = analyze_gain(rec, spike_index=spikes, drug_barrel="ach", n_boot=0)
    last_stop = max(t.stop_index for t in offline.trials if t.stop_index is not None)
    # (the file's last events may still be on their way to the window: wait for them, not a time)
    qtbot.waitUntil(lambda: any(e.kind == EventKind.TRIAL_STOP and e.sample_index >= last_stop
                                for e in win.trial_model.events), timeout=TIMEOUT_MS)
    snap = win.trial_model.update(spikes, 0)  # the live model with the same spikes
    live = {t.start_index: (t.drug_state, t.valid, int(c)) for t, c in zip(snap.trials, snap.counts, strict=True)}
    # every trial the file holds whole (its stop recorded) is counted alike, valid alike, in the same drug state
    both = [(t.start_index, (t.drug_state, t.valid, int(c))) for t, c in zip(offline.trials, offline.counts,
                                                                               strict=True) if t.stop_index is not None]
    assert [i for i, _ in both if i not in live] == []
    assert len(both) >= 30
    assert [(i, live[i], rec_) for i, rec_ in both if live[i] != rec_] == []


def test_a_rig_without_trials_keeps_the_trials_dock_hidden(qtbot, make_window):
    win = make_window("sim", speed=8.0)
    qtbot.waitUntil(lambda: win.session.end_index > 5 * win.session.stream.rate_hz, timeout=TIMEOUT_MS)
    assert win.trial_model is not None and not win.trial_model.has_trials
    assert not win.trial_dock.isVisible()


def test_the_view_shows_a_snapshot_drawn_from_analysis_functions(qtbot):
    """The model on hand-made trial events: rasters, PSTH and condition means are
    ``analysis.trials``'s for the same trials and spikes."""
    from analysis.trials import condition_stats, psth, spike_counts
    from app.gui.models.trials import PRE_S, TrialModel
    from app.gui.trial_view import TrialView
    from daq.trials import trials_from_events
    from daq.types import LogEvent

    rate = 1000.0
    events, spikes = [], []
    rng = np.random.default_rng(2)
    for k in range(12):
        v = (0.0, 90.0, 45.0)[k % 3]
        start = 1000 + k * 1500
        events += [LogEvent(start, EventKind.TRIAL_START, text=f"trial={k} code={k % 3 + 1} orientation_deg={v:g}"),
                   LogEvent(start + 1000, EventKind.TRIAL_STOP, text=f"trial={k} code={k % 3 + 1}")]
        n = {0.0: 3, 45.0: 10, 90.0: 30}[v]
        spikes += list(start + 60 + rng.integers(0, 900, n))
    spikes = np.sort(np.array(spikes))
    m = TrialModel(None, rate)
    first: list[bool] = []
    m.first_trial.connect(lambda: first.append(True))
    for e in events:
        m.on_event(e)
    assert first == [True]
    view = TrialView(m, "#e69f00")
    qtbot.addWidget(view)
    snap = m.update(spikes, 0)
    trials = trials_from_events(events, rate)
    counts, dur = spike_counts(trials, spikes, rate, 0.05, None)
    want = condition_stats(trials, counts, dur, "orientation_deg")
    assert {k: s.mean_rate_hz for k, s in snap.stats.items()} == {k: s.mean_rate_hz for k, s in want.items()}
    assert view.shown_value == 90.0  # the preferred: the largest control response
    sel = [t for t in trials if t.stimulus["orientation_deg"] == 90.0]
    _edges, r = psth(sel, spikes, rate, PRE_S, float(np.median(dur)) + 0.3, 0.05)
    np.testing.assert_array_equal(snap.psths[("off", 90.0)][1], r)
    assert sum(len(x) for x in snap.rasters[("off", 90.0)]) == 4 * 30
    assert "3 stimulus values; a orientation curve needs at least 4" in view.summary.text()
