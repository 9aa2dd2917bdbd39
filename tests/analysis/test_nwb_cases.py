"""NWB files as other labs have them (issue 15): each case is analysed correctly or refused
with one line that names the file and what would be accepted.  Files are written by pynwb
and, for the layouts neuroconv has (Intan uint16 counts with an offset, an LFP series, an
AP + LFP pair), by neuroconv itself (``tests/analysis/nwb_cases.py``)."""

from __future__ import annotations

import h5py
import numpy as np
import nwb_cases as cases
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.detect import DetectionParams
from analysis.filters import BandError
from analysis.nwb_clock import JITTER_TOLERANCE_PERIODS, TimestampError, regular_clock
from analysis.nwb_source import NwbFormatError, NwbSource
from analysis.pipeline import AnalysisParams, analyze_recording
from app.cli.main import main

PARAMS = AnalysisParams(baseline_s=0.4, response_s=0.3)
SPIKE_AT = np.round((0.01 + np.arange(cases.N_SPIKES) * cases.SPIKE_EVERY_S) * cases.RATE_HZ).astype(np.int64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("nwbcases")
    return {
        "uint16": cases.uint16_with_offset(d / "intan.nwb"),
        "lfp": cases.lfp_only(d / "lfp.nwb"),
        "channels_first": cases.channels_first(d / "transposed.nwb"),
        "channels_first_ts": cases.channels_first(d / "transposed-ts.nwb", timestamps=True),
        "samples_first": cases.channels_first(d / "samples-first.nwb", transposed=False),
        "two": cases.two_series(d / "spikeglx.nwb"),
        "jittered": cases.jittered(d / "jittered.nwb", 0.2),
        "jittered_gap": cases.jittered(d / "jittered-gap.nwb", 0.2, gap_at_s=1.5),
        "too_jittered": cases.jittered(d / "too-jittered.nwb", 0.35),
    }


def found_the_spikes(spike_index: np.ndarray, first_index: int = 0) -> bool:
    """Every planted spike found (within 0.3 ms, its width), and nothing else."""
    idx = np.asarray(spike_index) - first_index
    return len(idx) == len(SPIKE_AT) and bool(np.all(np.abs(idx - SPIKE_AT) <= round(3e-4 * cases.RATE_HZ)))


def one_line_error(capsys, argv: list[str], path) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"ionto {argv[0]}: error: {path}"), err
    return err


def test_uint16_counts_with_an_offset_are_volts(files):
    with NwbSource(files["uint16"]) as src:
        assert src.stream.dtype == np.uint16
        expected = cases.volts()[:, 0]
        np.testing.assert_allclose(src.physical(0), expected, rtol=0, atol=cases.INTAN_STEP_UV * 1e-6 / 2 + 1e-12)
    res = analyze_recording(files["uint16"], PARAMS)
    assert found_the_spikes(res.spike_index)


def test_an_lfp_only_series_is_refused_not_analysed_with_a_cut_band(files, tmp_path, capsys):
    with pytest.raises(BandError, match=r"sampled at 1000 Hz, which holds frequencies up to 450 Hz; spike "
                       r"detection in 300–6000 Hz needs at least 13333 Hz"):
        analyze_recording(files["lfp"], PARAMS)
    err = one_line_error(capsys, ["analyze", str(files["lfp"]), "--out", str(tmp_path / "a"), "--no-progress"],
                         files["lfp"])
    assert "processing/ecephys/LFP/ElectricalSeriesLFP" in err
    assert not (tmp_path / "a").exists()  # no report claiming a band that was not used


def test_data_stored_channels_first_is_read_transposed_with_the_same_spikes(files, tmp_path, capsys):
    """(channels, samples) on disk: read as (samples, channels), the same samples, spikes and
    analysis as the file stored the NWB way; said once in ionto info and analysis.json."""
    with NwbSource(files["channels_first"]) as t, NwbSource(files["samples_first"]) as ref:
        assert (t.n_samples, len(t.channels)) == (ref.n_samples, len(ref.channels)) == (90000, 4)
        assert [c.name for c in t.channels] == [c.name for c in ref.channels]
        assert np.array_equal(t.raw(), ref.raw())
        assert np.array_equal(t.raw(1234, 56789, [2, 0]), ref.raw(1234, 56789, [2, 0]))
        assert t.read_notes == ("acquisition/ElectricalSeries: stored channels-first (4 channels × 90000 samples); "
                                "read transposed",) and ref.read_notes == ()
    got, want = analyze_recording(files["channels_first"], PARAMS), analyze_recording(files["samples_first"], PARAMS)
    assert found_the_spikes(got.spike_index)
    assert {n: sp.index.tolist() for n, sp in got.detection.spikes.items()} == {
        n: sp.index.tolist() for n, sp in want.detection.spikes.items()}
    with NwbSource(files["channels_first_ts"]) as t:  # on timestamps: their count names the sample axis
        assert t.n_samples == 90000 and t.read_notes
    out = tmp_path / "a"
    assert main(["analyze", str(files["channels_first"]), "--out", str(out), "--no-progress", "--baseline-s", "0.4",
                 "--response-s", "0.3"]) == 0
    capsys.readouterr()
    import json

    assert json.loads((out / "analysis.json").read_text())["recording"]["read_notes"] == list(t.read_notes)
    assert main(["info", str(files["channels_first"])]) == 0
    assert ("warning: acquisition/ElectricalSeries: stored channels-first (4 channels × 90000 samples); read "
            "transposed") in capsys.readouterr().out


def test_a_square_series_is_refused_as_ambiguous(tmp_path, capsys):
    path = cases.channels_first(tmp_path / "square.nwb", n_ch=4, seconds=4 / cases.RATE_HZ)
    with pytest.raises(NwbFormatError, match=r"holds 4×4 data for 4 electrodes: as many samples as channels, so "
                       "which axis is time cannot be told"):
        NwbSource(path)
    one_line_error(capsys, ["analyze", str(path), "--out", str(tmp_path / "a"), "--no-progress"], path)
    assert not (tmp_path / "a").exists()


def test_several_series_are_listed_and_series_chooses(files, tmp_path, capsys):
    path = files["two"]
    with pytest.raises(NwbFormatError, match=r"2 ElectricalSeries — acquisition/ElectricalSeriesAP \(30000 Hz, "
                       r"90000×2\); processing/ecephys/LFP/ElectricalSeriesLFP \(2500 Hz, 7500×2\); choose one "
                       r"with --series NAME"):
        NwbSource(path)
    for name in ("ElectricalSeriesAP", "acquisition/ElectricalSeriesAP"):
        with NwbSource(path, series=name) as src:
            assert src.series_name == "acquisition/ElectricalSeriesAP" and src.rate_hz == cases.RATE_HZ
    with NwbSource(path, series="ElectricalSeriesLFP") as src:
        assert src.n_samples == 7500
    assert found_the_spikes(analyze_recording(path, AnalysisParams(baseline_s=0.4, response_s=0.3,
                                                                   series="ElectricalSeriesAP")).spike_index)
    with pytest.raises(BandError, match="sampled at 2500 Hz"):
        analyze_recording(path, AnalysisParams(series="ElectricalSeriesLFP"))
    one_line_error(capsys, ["analyze", str(path), "--out", str(tmp_path / "a"), "--no-progress"], path)
    assert main(["analyze", str(path), "--series", "ElectricalSeriesAP", "--out", str(tmp_path / "b"),
                 "--no-progress", "--baseline-s", "0.4", "--response-s", "0.3"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("n_rows", [1, 3])
def test_an_electrodes_region_that_does_not_match_the_columns_is_refused(tmp_path, n_rows):
    path = cases.region_mismatch(tmp_path / "m.nwb", n_rows)
    with pytest.raises(NwbFormatError, match=rf"has 2 data column\(s\) but its electrodes region lists {n_rows} "
                       r"electrode\(s\); NWB needs exactly one electrode per column"):
        NwbSource(path)


def test_timestamps_with_sub_sample_jitter_are_one_regular_clock(files, tmp_path):
    regular = tmp_path / "regular.nwb"
    cases.write_regular(regular, start_s=12.5)
    with NwbSource(files["jittered"]) as src, NwbSource(regular) as ref:
        assert src.rate_hz == pytest.approx(cases.RATE_HZ, rel=1e-6)
        assert src.segments.tolist() == ref.segments.tolist() == [[0, 375000]]
        assert 0.15 < src.jitter_periods <= JITTER_TOLERANCE_PERIODS
    a, b = analyze_recording(files["jittered"], PARAMS), analyze_recording(regular, PARAMS)
    np.testing.assert_array_equal(a.spike_index, b.spike_index)
    assert found_the_spikes(a.spike_index, 375000)
    with NwbSource(files["jittered_gap"]) as src:  # 0.25 s lost at 1.5 s: a gap of 7500 samples
        assert src.gaps == [(375000 + 45000, 7500)]
        assert src.segments.tolist() == [[0, 375000], [45000, 427500]]


def test_timestamps_beyond_the_tolerance_are_refused_saying_so(files):
    with pytest.raises(NwbFormatError, match=r"timestamps are not one regular clock: .* they stray ±0.3\d* sample "
                       r"periods from the best 30000 Hz clock; ionto accepts jitter up to ±0.25 sample period "
                       r"\(8.33 µs\)"):
        NwbSource(files["too_jittered"])


@settings(deadline=None, max_examples=60)
@given(rate=st.sampled_from([1000.0, 20000.0, 30000.0, 48828.125]), n=st.integers(1000, 5000),
       jitter=st.floats(0.0, 0.2), drift_ppm=st.floats(-200, 200), t0_s=st.floats(0, 1e4),
       gaps=st.lists(st.tuples(st.floats(0.05, 0.95), st.integers(1, 10 ** 6)), max_size=3),
       seed=st.integers(0, 2 ** 31))
def test_regular_clock_keeps_every_sample_in_its_run_and_at_its_time(rate, n, jitter, drift_ppm, t0_s, gaps, seed):
    """Samples of a clock (drifting by up to ±200 ppm, starting anywhere in the first 3 h) with
    gaps of any length and jitter within ±0.2 periods: the runs are the gap-free runs, and
    every sample's time on the fitted clock is its true time to within half a period plus
    the tolerance."""
    true_rate = rate * (1 + drift_ppm * 1e-6)
    index = np.arange(n, dtype=np.int64) + round(t0_s * true_rate)
    for at, lost in sorted(gaps):
        index[int(at * n):] += lost
    rng = np.random.default_rng(seed)
    t = (index + rng.uniform(-jitter, jitter, n)) / true_rate
    clock = regular_clock(t, n)
    starts = np.flatnonzero(np.diff(index, prepend=-2) != 1)
    assert clock.segments[:, 0].tolist() == starts.tolist()
    rows = np.arange(n)
    run = np.searchsorted(clock.segments[:, 0], rows, side="right") - 1
    fitted_s = (clock.segments[run, 1] + rows - clock.segments[run, 0]) / clock.rate_hz
    assert np.abs(fitted_s - index / true_rate).max() <= (0.5 + JITTER_TOLERANCE_PERIODS) / true_rate
    assert clock.jitter_periods <= JITTER_TOLERANCE_PERIODS


def test_regular_clock_of_a_long_series_puts_every_sample_on_its_index():
    """Ten minutes at 30 kHz from a clock read with ±0.2-period jitter, 1 s lost twice: the exact
    sample indices come back (the fitted rate is good to a fraction of a sample over 10 min)."""
    rate, n = 30000.0, 18_000_000
    index = np.arange(n, dtype=np.int64) + 1_000_000
    index[4_000_000:] += 30_000
    index[9_000_000:] += 30_000
    t = (index + np.random.default_rng(1).uniform(-0.2, 0.2, n)) / rate
    clock = regular_clock(t, n)
    assert clock.segments.tolist() == [[0, 1_000_000], [4_000_000, 5_030_000], [9_000_000, 10_060_000]]


@settings(deadline=None, max_examples=30)
@given(jitter=st.floats(0.3, 0.45), seed=st.integers(0, 2 ** 31))
def test_regular_clock_refuses_jitter_beyond_the_tolerance(jitter, seed):
    n = 20000
    t = (np.arange(n) + np.random.default_rng(seed).uniform(-jitter, jitter, n)) / 30000.0
    t[0], t[-1] = -jitter / 30000.0, (n - 1 + jitter) / 30000.0  # the extremes are there
    with pytest.raises(TimestampError, match=r"ionto accepts jitter up to ±0.25 sample period"):
        regular_clock(t, n)


def test_no_electrodes_table_is_one_line(files, tmp_path, capsys):
    path = tmp_path / "no-electrodes.nwb"
    path.write_bytes(files["jittered"].read_bytes())
    with h5py.File(path, "a") as f:
        del f["general/extracellular_ephys/electrodes"]
    with pytest.raises(NwbFormatError, match=r"no electrodes table \(/general/extracellular_ephys/electrodes\), "
                       r"which its ElectricalSeries \['acquisition/ElectricalSeries'\] must refer to"):
        NwbSource(path)
    one_line_error(capsys, ["analyze", str(path), "--out", str(tmp_path / "a"), "--no-progress"], path)
    no_region = tmp_path / "no-region.nwb"
    no_region.write_bytes(files["jittered"].read_bytes())
    with h5py.File(no_region, "a") as f:
        del f["acquisition/ElectricalSeries/electrodes"]
    err = one_line_error(capsys, ["analyze", str(no_region), "--out", str(tmp_path / "b"), "--no-progress"],
                         no_region)
    assert "do not say which electrodes their columns are" in err and len(err) < 400


def test_a_band_that_fits_the_rate_is_analysed(files):
    """The refusal is about the band, not the file: a band below 0.45 × the rate is analysed."""
    res = analyze_recording(files["two"], AnalysisParams(series="ElectricalSeriesLFP",
                                                         detection=DetectionParams(band_hz=(300.0, 1000.0))))
    assert res.rate_hz == 2500.0 and res.params.detection.band_hz == (300.0, 1000.0)


def test_ionto_info_lists_the_series_and_says_what_would_be_analysed(files, capsys):
    import json

    assert main(["info", str(files["two"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(s["series"], s["rate_hz"], s["samples"]) for s in doc["electrical_series"]] == [
        ("acquisition/ElectricalSeriesAP", 30000.0, 90000), ("processing/ecephys/LFP/ElectricalSeriesLFP", 2500.0, 7500)]
    assert doc["analysed"] is None and "choose one with --series NAME" in doc["not_analysable"]
    assert main(["info", str(files["two"]), "--series", "ElectricalSeriesAP", "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["analysed"]
    assert (a["series"], a["rate_hz"], a["samples"], a["channels"]) == (
        "acquisition/ElectricalSeriesAP", 30000.0, 90000, ["0", "1"])
    assert main(["info", str(files["jittered_gap"])]) == 0
    out = capsys.readouterr().out
    assert "timestamps: within ±0.2 sample period of one regular clock" in out
    assert "7500 samples lost at sample 420000" in out
    assert main(["info", str(files["lfp"])]) == 0
    assert "ionto analyze refuses it unless given --band LOW HIGH with HIGH ≤ 450" in capsys.readouterr().out


def test_analyze_batch_series_chooses_among_several(files, tmp_path):
    """analyze-batch takes --series like analyze: without it a file with two series is a failed
    row that lists them; with it the chosen series is analysed."""
    from analysis.batch import analyze_file

    failed = analyze_file(str(files["two"]), AnalysisParams(baseline_s=0.4, response_s=0.3))
    assert failed["status"] == "failed" and "choose one with --series NAME" in failed["error"]
    ok = analyze_file(str(files["two"]), AnalysisParams(baseline_s=0.4, response_s=0.3,
                                                        series="ElectricalSeriesAP"))
    assert ok["status"] == "ok", ok
    assert main(["analyze-batch", str(files["two"]), "--series", "ElectricalSeriesAP", "--workers", "1",
                 "--out", str(tmp_path / "batch"), "--baseline-s", "0.4", "--response-s", "0.3"]) == 0
