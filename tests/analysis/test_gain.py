"""The gain analysis: the gain model and its model comparison, tuning fits, Fano factor, AUROC,
modulation index, spike counts, rasters and PSTHs per trial."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.gain import fit_gain
from analysis.trials import auroc, fano_factor, modulation_index, psth, raster, spike_counts
from analysis.tuning import fit_tuning, naka_rushton, von_mises
from daq.trials import Trial

ORIENT = np.arange(0, 180, 22.5)


def poisson_trials(gain, offset, n=20, seed=0, duration_s=1.0):
    """Trials of an orientation-tuned cell: Poisson counts, control and drug."""
    rng = np.random.default_rng(seed)
    ctrl = von_mises(ORIENT, 5.0, 40.0, 2.0, 90.0)
    values, on, rates = [], [], []
    for state, mean in ((False, ctrl), (True, gain * ctrl + offset)):
        for v, m in zip(ORIENT, mean):
            counts = rng.poisson(max(m, 0) * duration_s, n)
            values += [v] * n
            on += [state] * n
            rates += list(counts / duration_s)
    return values, on, rates


@pytest.mark.parametrize("gain,offset,model", [(0.6, 0.0, "multiplicative"), (1.0, 8.0, "additive"),
                                               (0.6, 8.0, "both"), (1.0, 0.0, "none")])
def test_the_preferred_model_is_the_one_that_made_the_data_in_most_cells(gain, offset, model):
    picks = [fit_gain(*poisson_trials(gain, offset, seed=s), n_boot=0).preferred_model for s in range(20)]
    assert picks.count(model) >= 18, picks  # the F-test rejects a true simpler model 1 % of the time


def test_g_and_a_are_recovered_and_the_bootstrap_interval_covers_them():
    fit = fit_gain(*poisson_trials(0.6, 8.0, n=40, seed=1), n_boot=200, seed=1)
    assert fit.preferred_model == "both"
    assert fit.gain == pytest.approx(0.6, abs=0.05) and fit.offset_hz == pytest.approx(8.0, abs=1.5)
    assert fit.gain_ci[0] < 0.6 < fit.gain_ci[1] and fit.offset_ci[0] < 8.0 < fit.offset_ci[1]
    assert fit.gain_ci[1] - fit.gain_ci[0] < 0.2
    assert 0 < fit.gain_se < 0.1


def test_the_gain_is_not_biased_towards_one_by_noisy_control_means():
    # regressing drug means on control means (errors in x) shrinks the slope; the joint fit does not
    # (measured here: 0.45 for that regression, 0.48 when weighting by the trials' own cell means)
    gains = [fit_gain(*poisson_trials(0.5, 0.0, n=5, seed=s, duration_s=0.2), n_boot=0).models["multiplicative"].gain
             for s in range(30)]
    assert np.mean(gains) == pytest.approx(0.5, abs=0.015)


def test_gain_needs_two_stimulus_values_with_both_drug_conditions():
    with pytest.raises(ValueError, match="at least 2 stimulus values"):
        fit_gain([0, 0, 45], [False, True, False], [1.0, 2.0, 3.0])


def test_von_mises_fit_recovers_preferred_orientation_and_width():
    rng = np.random.default_rng(3)
    x = np.repeat(ORIENT, 10)
    y = von_mises(x, 4.0, 30.0, 2.5, 60.0) + rng.normal(0, 1.0, x.size)
    f = fit_tuning("orientation", x, y)
    assert not f.error
    assert f.params["preferred_deg"] == pytest.approx(60.0, abs=2.0)
    assert f.params["kappa"] == pytest.approx(2.5, rel=0.15)
    assert f.params["amplitude_hz"] == pytest.approx(30.0, rel=0.1)


def test_naka_rushton_fit_recovers_c50_and_rmax():
    rng = np.random.default_rng(4)
    x = np.repeat([0.0, 0.03, 0.06, 0.12, 0.25, 0.5, 1.0], 10)
    y = naka_rushton(x, 2.0, 40.0, 0.15, 2.0) + rng.normal(0, 1.0, x.size)
    f = fit_tuning("contrast", x, y)
    assert not f.error
    assert f.params["c50"] == pytest.approx(0.15, rel=0.15)
    assert f.params["rmax_hz"] == pytest.approx(40.0, rel=0.1)


def test_a_tuning_fit_with_too_few_values_says_why():
    f = fit_tuning("orientation", [0, 90, 0, 90], [1, 5, 1, 5])
    assert "needs at least 4" in f.error and math.isnan(f.params["kappa"])


@settings(deadline=None)  # a busy 2-core machine: no per-example time limit
@given(st.lists(st.integers(0, 5), min_size=1, max_size=15), st.lists(st.integers(0, 5), min_size=1, max_size=15))
def test_auroc_is_the_probability_that_a_drug_trial_beats_a_control_trial(drug, control):
    want = np.mean([(d > c) + 0.5 * (d == c) for d in drug for c in control])
    assert auroc(drug, control) == pytest.approx(want)


def test_fano_factor_of_poisson_counts_is_about_one_and_of_constant_counts_zero():
    assert fano_factor(np.random.default_rng(5).poisson(10, 5000)) == pytest.approx(1.0, abs=0.06)
    assert fano_factor(np.full(10, 7)) == 0.0
    assert math.isnan(fano_factor(np.zeros(10)))


def test_modulation_index():
    assert modulation_index(30.0, 10.0) == pytest.approx(0.5)
    assert modulation_index(10.0, 30.0) == pytest.approx(-0.5)
    assert math.isnan(modulation_index(0.0, 0.0))


def test_spike_counts_rasters_and_psth_use_each_trials_own_window():
    fs = 1000.0
    trials = [Trial(0, 1000, 1500, 1), Trial(1, 3000, 3500, 1)]
    spikes = np.array([900, 1000, 1049, 1050, 1100, 1549, 1550, 3060, 3600])
    counts, dur = spike_counts(trials, spikes, fs, start_s=0.05)
    assert counts.tolist() == [3, 1] and dur.tolist() == [0.5, 0.5]  # [1050, 1550), [3050, 3550)
    r = raster(trials, spikes, fs, pre_s=0.2, post_s=0.7)
    assert r[0].tolist() == [-0.1, 0.0, 0.049, 0.05, 0.1, 0.549, 0.55] and r[1].tolist() == [0.06, 0.6]
    edges, rate = psth(trials, spikes, fs, pre_s=0.0, post_s=0.1, bin_s=0.05)
    assert edges.tolist() == pytest.approx([0.0, 0.05, 0.1]) and rate.tolist() == pytest.approx([20.0, 20.0])


def synthetic_recording(kind, values, gain, offset_hz, tuning, seed=0, reps=15):
    """An event log of drug blocks and trials (0.5 s on, 0.5 s off) and Poisson spikes whose
    rate in each trial is the tuning curve (× g + a with the drug)."""
    from analysis.source import ArrayRecording
    from daq.trials import DrugBlock, StimulusRequest

    fs, name = 1000.0, {"orientation": "orientation_deg", "contrast": "contrast"}[kind]
    rng = np.random.default_rng(seed)
    events, spikes, t, k = [], [], 0, 0
    for b, state in enumerate(("off", "on")):
        events.append(DrugBlock(b, t, state, "ach", 60.0 if state == "on" else 0.0, 0.0, 2).event())
        for _ in range(reps):  # the first 2 trials of each block are discarded
            for v in rng.permutation(values):
                rate = tuning(v) * (gain if state == "on" else 1.0) + (offset_hz if state == "on" else 0.0)
                req = StimulusRequest(k, t, t + 500, list(values).index(v) + 1, ((name, float(v)),))
                events += [req.start_event(), req.stop_event()]
                spikes += list(t + np.sort(rng.uniform(0, 500, rng.poisson(rate * 0.5))).astype(int))
                t, k = t + 1000, k + 1
    return ArrayRecording(np.zeros((t, 1)), fs, events=events), np.array(spikes)


def test_a_recordings_trials_give_tuning_per_condition_and_the_gain():
    from analysis.gain_report import analyze_gain, gain_doc

    rec, spikes = synthetic_recording("orientation", ORIENT, 0.5, 0.0, lambda v: von_mises(v, 4.0, 40.0, 2.0, 90.0),
                                      reps=30)  # g's standard error about 0.02
    res = analyze_gain(rec, spikes, window_start_s=0.0, n_boot=50)
    doc = gain_doc(res)
    assert doc["preferred_model"] == "multiplicative" and doc["fit"]["gain"] == pytest.approx(0.5, abs=0.05)
    assert doc["trials"] == {"total": 2 * 30 * 8, "valid": 2 * (30 * 8 - 2), "invalid_by_reason": {"discarded": 4}}
    for state in ("off", "on"):
        assert doc["tuning"][state]["params"]["preferred_deg"] == pytest.approx(90.0, abs=5.0)
    assert doc["tuning"]["on"]["params"]["amplitude_hz"] == pytest.approx(20.0, rel=0.2)
    assert len(doc["conditions"]) == 16 and sum(c["n"] for c in doc["conditions"]) == 2 * (30 * 8 - 2)
    assert {c["n"] for c in doc["conditions"]} <= {28, 29, 30}
    at90 = {a["orientation_deg"]: a["auroc"] for a in doc["auroc"]}[90.0]
    assert at90 < 0.1  # the drug halves the response: drug trials rarely beat control trials
    mi = {m["orientation_deg"]: m["mi"] for m in doc["modulation_index"]}
    assert mi[90.0] == pytest.approx(-1 / 3, abs=0.08)  # (0.5 r - r) / (0.5 r + r)
    assert set(res.psth) == set(res.stats)


def test_contrast_trials_get_a_naka_rushton_fit_and_an_additive_effect_is_seen_as_additive():
    from analysis.gain_report import analyze_gain

    contrasts = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 0.8])
    rec, spikes = synthetic_recording("contrast", contrasts, 1.0, 10.0, lambda c: naka_rushton(c, 3.0, 40.0, 0.15, 2.0))
    res = analyze_gain(rec, spikes, window_start_s=0.0, n_boot=0)
    assert res.kind == "contrast" and res.gain.preferred_model == "additive"
    assert res.gain.offset_hz == pytest.approx(10.0, abs=2.0)
    assert res.tuning["off"].params["c50"] == pytest.approx(0.15, rel=0.3)


def test_cells_are_summarised_by_type_with_their_preferred_models(tmp_path):
    from analysis.gain_report import analyze_gain
    from analysis.gain_summary import cell_row, summarize, write_csv

    rows = []
    for k, (g, a, kind) in enumerate([(0.5, 0.0, "narrow"), (0.6, 0.0, "narrow"), (1.0, 10.0, "broad"),
                                      (1.0, 12.0, "broad"), (1.0, 8.0, "broad")]):
        rec, spikes = synthetic_recording("orientation", ORIENT, g, a, lambda v: von_mises(v, 4.0, 40.0, 2.0, 90.0),
                                          seed=k, reps=20)
        rows.append(cell_row(f"cell{k}", kind, analyze_gain(rec, spikes, window_start_s=0.0, n_boot=0)))
    by_type = {s.cell_type: s for s in summarize(rows)}
    assert set(by_type) == {"narrow", "broad", "all"}
    assert by_type["narrow"].n_cells == 2 and by_type["narrow"].preferred_models["multiplicative"] == 2
    assert by_type["broad"].preferred_models["additive"] == 3
    assert by_type["narrow"].gain_median == pytest.approx(0.55, abs=0.06)
    assert by_type["broad"].offset_median_hz == pytest.approx(10.0, abs=2.5)
    assert by_type["narrow"].modulation_index_median < 0 < by_type["broad"].modulation_index_median
    assert by_type["all"].n_cells == 5
    text = open(write_csv(rows, tmp_path / "cells.csv")).read().splitlines()
    assert text[0].startswith("name,cell_type,gain,offset_hz") and len(text) == 6
