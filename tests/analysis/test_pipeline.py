"""The whole analysis on synthetic recordings with known answers (written by the real Recorder)."""

import csv
import os

import numpy as np
import pytest
from synth import Neuron, Synth, dose_series, match, write

from analysis.pipeline import AnalysisParams, analyze, analyze_recording
from analysis.source import RecordingLike
from daq.recording import Recording

CURRENTS = [5, 10, 20, 40, 80]


@pytest.fixture(scope="module")
def gaba_bic(tmp_path_factory):
    """GABA alone (EC50 15 nA), then with bicuculline 20 nA throughout (EC50 × 4 = 60 nA)."""
    path = tmp_path_factory.mktemp("gb") / "gaba_bic.h5"
    ej = dose_series("gaba", CURRENTS, 15, 35, 35)
    bic_on = 35 + 250
    ej += [("bic", 20, bic_on, 10000), *dose_series("gaba", [*CURRENTS, 160], 15, 35, bic_on + 35)]
    s = Synth(duration_s=bic_on + 35 + 300 + 20, ejections=ej, seed=1)
    write(path, s)
    return path, s, analyze_recording(path)


def test_inhibition_curves_recover_the_true_ec50s_and_their_shift(gaba_bic):
    _, s, res = gaba_bic
    alone = res.fits["gaba:GABA"]
    with_bic = res.fits["gaba:GABA + bicuculline 20 nA"]
    assert alone.ec50_ci[0] < 15.0 < alone.ec50_ci[1]
    assert with_bic.ec50_ci[0] < 60.0 < with_bic.ec50_ci[1]
    assert alone.hill < 0 and alone.top == pytest.approx(0, abs=15) and alone.bottom >= -100.0
    assert alone.dose_unit == "nA"
    (comp,) = res.comparisons
    assert comp.label_a == "gaba:GABA" and comp.ec50_ratio > 1.5
    assert comp.ec50_ratio_ci[0] < 4.0 < comp.ec50_ratio_ci[1]
    # one point per ejection (and one per baseline at dose 0): 2 × 5 points, not hundreds of bins
    assert comp.p_same_curve < 0.01
    assert alone.status == with_bic.status == "fitted"
    assert alone.n_points == 2 * len(CURRENTS) and alone.points.startswith("one per ejection")
    # each epoch's % change is close to what the synthetic neuron was told to do
    gaba = [ep for ep in res.epochs if ep.barrel == "gaba"]
    assert len(gaba) == len(CURRENTS) + len(CURRENTS) + 1  # alone, then with bicuculline up to 160 nA
    assert sum(bool(ep.concurrent) for ep in gaba) == len(CURRENTS) + 1
    for ep in gaba:
        bic = 20.0 if ep.concurrent else 0.0
        assert ep.percent_change == pytest.approx(s.expected_percent("gaba", ep.current_nA, bic), abs=20)


def test_bins_as_replicates_only_when_asked_and_labelled_so(gaba_bic):
    path, _, res = gaba_bic
    binned = analyze_recording(path, AnalysisParams(fit_on="bins"))
    f, f1 = binned.fits["gaba:GABA"], res.fits["gaba:GABA"]
    assert f.n_points > 10 * f1.n_points  # 1-s bins of every 10-s response and 30-s baseline
    assert "pseudo-replicates" in f.points and "pseudo-replicates" not in f1.points


def test_the_confidence_level_reaches_every_ci(gaba_bic):
    path, _, _ = gaba_bic
    res = analyze_recording(path, AnalysisParams(conf=0.8))
    assert all(f.ci_label == "80 % CI" for f in res.fits.values())
    assert all(c.ci_label == "80 % CI" for c in res.comparisons)
    with pytest.raises(ValueError, match="between 0 and 1"):
        AnalysisParams(conf=95)


def test_background_antagonist_is_a_flagged_epoch_not_a_curve(gaba_bic):
    _, _, res = gaba_bic
    bic = [ep for ep in res.epochs if ep.barrel == "bic"]
    assert len(bic) == 1 and not bic[0].usable and "overlaps 6 ejection(s) of GABA" in bic[0].flags[0]
    assert "bic:bicuculline" in res.fit_errors


def test_psth_and_rates_cover_the_record(gaba_bic):
    _, _, res = gaba_bic
    edges, rate = res.ratemeter
    assert len(edges) == int(res.duration_s) and rate.sum() == pytest.approx(len(res.spike_index), rel=0.01)
    p = res.psths["gaba:GABA @ 80 nA"]
    assert p.n_trials == 1
    before, during = p.rate_hz[p.t_s < 0].mean(), p.rate_hz[(p.t_s >= 2) & (p.t_s < 12)].mean()
    assert during < 0.3 * before


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """Glutamate series with a gap in the 3rd response window, clipping in the 4th baseline,
    and an NaCl current control."""
    path = tmp_path_factory.mktemp("faults") / "faults.h5"
    ej = [*dose_series("glu", CURRENTS, 15, 35, 35), ("nacl", 40, 300, 15)]
    s = Synth(duration_s=340, ejections=ej, gaps=[(35 + 2 * 50 + 10, 1.0)], clip=[(35 + 3 * 50 - 20, 35 + 3 * 50 - 19)],
              seed=2)
    truth = write(path, s)
    return path, s, truth


def test_gaps_and_clipping_flag_epochs_which_the_fit_leaves_out(faulty):
    path, _, truth = faulty
    res = analyze_recording(path)
    glu = [ep for ep in res.epochs if ep.barrel == "glu"]
    assert [ep.usable for ep in glu] == [True, True, False, False, True]
    assert "response window contains a gap of 20000 samples" in glu[2].flags
    assert any("clipped electrode samples" in f for f in glu[3].flags)
    ctrl = [ep for ep in res.epochs if ep.barrel == "nacl"]
    assert len(ctrl) == 1 and ctrl[0].is_control and ctrl[0].current_nA == 40
    assert "nacl:NaCl" not in res.fits  # controls are reported, never fitted
    f = res.fits["glu:glutamate"]
    assert set(np.unique(res.fit_points["glu:glutamate"][0])) == {0.0, 5.0, 10.0, 80.0}
    assert f.hill > 0  # excitation
    # monitored current (the glu barrel has a monitor): delivered as commanded
    assert glu[0].measured_current_nA == pytest.approx(-5.0, abs=0.1)
    # no spurious spikes at the gap and recall/precision stay high across it
    recall, precision = match(res.spike_index, truth["spikes"][0] + 6, 8)
    assert recall > 0.98 and precision > 0.98
    clipped = res.detection.clipped["electrode"]
    assert len(clipped) == 1 and clipped[0][1] - clipped[0][0] >= 20000


def test_a_blocked_barrel_is_flagged_from_its_current_monitor(tmp_path):
    path = tmp_path / "blocked.h5"
    s = Synth(duration_s=160, ejections=dose_series("glu", [20, 40], 15, 35, 35), delivered_fraction={"glu": 0.5})
    write(path, s)
    res = analyze_recording(path)
    # both ejections were found, at the commanded currents (glutamate ejects with -)
    assert [(ep.barrel, ep.current_nA) for ep in res.epochs] == [("glu", -20.0), ("glu", -40.0)]
    for ep in res.epochs:
        assert not ep.usable
        assert any("differs from the commanded" in f for f in ep.flags), ep.flags
        assert ep.measured_current_nA == pytest.approx(0.5 * ep.current_nA, abs=0.2)
    # with every epoch flagged there is nothing to fit
    assert "glu:glutamate" not in res.fits


class Surface:
    """Exposes only the attributes listed in ``RecordingLike`` (what an NWB reader provides)."""

    NAMES = {n for n in dir(RecordingLike) if not n.startswith("_")} | set(RecordingLike.__annotations__)

    def __init__(self, rec):
        self._rec = rec

    def __getattr__(self, name):
        if name not in Surface.NAMES:
            raise AttributeError(f"analysis used {name!r}, which is not part of RecordingLike")
        return getattr(self._rec, name)


def test_analyze_needs_only_the_recording_like_surface(faulty):
    path, _, _ = faulty
    with Recording(path) as rec:
        full = analyze(rec)
        surface = Surface(rec)
        assert isinstance(surface, RecordingLike)
        res = analyze(surface)
    assert np.array_equal(res.spike_index, full.spike_index)
    assert res.fits["glu:glutamate"].ec50 == pytest.approx(full.fits["glu:glutamate"].ec50)


@pytest.fixture(scope="module")
def two_units(tmp_path_factory):
    """A large unit excited by glutamate and a small one that ignores it, on one electrode."""
    path = tmp_path_factory.mktemp("units") / "units.h5"
    neurons = [Neuron(baseline_hz=6, amplitude_uV=150, glu_max=4.0),
               Neuron(baseline_hz=8, amplitude_uV=60, width_ms=0.3, glu_max=0.0)]
    s = Synth(duration_s=200, ejections=dose_series("glu", [10, 40, 80, 160], 12, 32, 32), neurons=neurons, seed=4)
    truth = write(path, s)
    return path, s, truth


def test_the_user_can_analyse_a_separated_unit(two_units):
    path, _, truth = two_units
    big = analyze_recording(path, AnalysisParams(unit="electrode:u0"))
    small = analyze_recording(path, AnalysisParams(unit="electrode:u1"))
    assert [u.label for u in big.units["electrode"]] == ["electrode:u0", "electrode:u1"]
    r0, p0 = match(big.spike_index, truth["spikes"][0] + 6, 8)
    r1, p1 = match(small.spike_index, truth["spikes"][1] + 6, 8)
    assert min(r0, p0, r1, p1) > 0.95
    strongest = max(big.epochs, key=lambda ep: abs(ep.current_nA))
    assert strongest.percent_change > 200
    assert abs(max(small.epochs, key=lambda ep: abs(ep.current_nA)).percent_change) < 40


def test_imported_sorted_spikes_can_be_analysed(two_units, tmp_path):
    path, s, truth = two_units
    csv_path = tmp_path / "sorted.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time_s", "unit"])
        for k, name in enumerate(["pyr", "int"]):
            w.writerows([[t / s.fs, name] for t in truth["spikes"][k]])
    res = analyze_recording(path, AnalysisParams(sorted_spikes=str(csv_path), unit="pyr"))
    assert res.unit == "pyr" and len(res.spike_index) == len(truth["spikes"][0])
    with pytest.raises(ValueError, match="no spike train 'nope'; choose one of"):
        analyze_recording(path, AnalysisParams(sorted_spikes=str(csv_path), unit="nope"))


def test_figures_rendered_in_two_processes_equal_those_rendered_in_one(gaba_bic, tmp_path):
    from analysis.report import FIGURES, write_figures

    res = gaba_bic[2]
    one = write_figures(res, tmp_path / "one", parallel=False)
    two = write_figures(res, tmp_path / "two", parallel=True)
    assert list(one) == list(two) and set(one) <= set(FIGURES) and "dose_response" in one
    for name in one:
        for ext in ("png", "svg"):
            assert os.path.getsize(two[name][ext]) > 0
            assert os.path.basename(two[name][ext]) == os.path.basename(one[name][ext])
