"""Unit separation on waveform features, and importing sorted spike times."""

import numpy as np
import pytest
from synth import match, waveform

from analysis.detect import detect_spikes
from analysis.units import load_sorted_spikes, separate_units, units_table

FS = 20000.0


def signal(units, seconds=60, seed=3):
    rng = np.random.default_rng(seed)
    n = int(FS * seconds)
    x = rng.standard_normal(n) * 10e-6
    truth = []
    for amp, width, rate in units:
        t = np.cumsum(rng.exponential(1 / rate, int(rate * seconds * 1.2)) + 0.003)
        t = (t[t < seconds - 0.01] * FS).astype(np.int64)
        w = waveform(FS, amp, width) * 1e-6
        for s in t:
            x[s:s + len(w)] += w
        truth.append(t + round(0.3e-3 * FS))
    return x, truth


def test_two_units_of_different_amplitude_are_separated():
    x, truth = signal([(150, 0.5, 8), (70, 0.3, 12)])
    sp = detect_spikes(x, FS)
    units = separate_units(sp)
    assert len(units) == 2
    big, small = units
    assert big.label == ":u0" and abs(big.amplitude) > abs(small.amplitude)
    for u, t in zip(units, truth):
        recall, precision = match(sp.index[u.spike_ids], t, 8)
        assert recall > 0.95 and precision > 0.95
    assert big.snr > 10 and big.isi_violation_percent < 1


def test_one_unit_stays_one_unit():
    x, _ = signal([(120, 0.5, 15)])
    units = separate_units(detect_spikes(x, FS))
    assert len(units) == 1


def test_sorted_csv_import_and_its_errors(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("time_s,unit\n1.5,a\n0.5,a\n2.0,b\n")
    assert {k: v.tolist() for k, v in load_sorted_spikes(p).items()} == {"a": [0.5, 1.5], "b": [2.0]}
    q = tmp_path / "idx.csv"
    q.write_text("sample_index\n20000\n")
    assert load_sorted_spikes(q, rate_hz=20000.0)["unit"].tolist() == [1.0]
    with pytest.raises(ValueError, match="need the sampling rate"):
        load_sorted_spikes(q)
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s\n1.0\nabc\n")
    with pytest.raises(ValueError, match="line 3: spike time 'abc' is not a number"):
        load_sorted_spikes(bad)
    cols = tmp_path / "cols.csv"
    cols.write_text("t,u\n1,2\n")
    with pytest.raises(ValueError, match="needs a 'time_s' or 'sample_index' column"):
        load_sorted_spikes(cols)
    with pytest.raises(ValueError, match="no such file"):
        load_sorted_spikes(tmp_path / "missing.csv")


def test_cell_type_from_trough_to_peak_width():
    from analysis.unit_quality import NARROW_MAX_MS, cell_type

    assert NARROW_MAX_MS == 0.4
    assert cell_type(0.25) == "narrow" and cell_type(0.4) == "narrow"
    assert cell_type(0.41) == "broad" and cell_type(float("nan")) == "unknown"


def test_a_narrow_and_a_broad_unit_get_their_cell_types_and_metrics():
    from analysis.detect_file import detect_recording
    from analysis.sorting import SortingParams, sort_units
    from analysis.source import ArrayRecording

    x, truth = signal([(150, 0.25, 8), (90, 0.8, 12)], seconds=90)
    rec = ArrayRecording(x, FS, ["e"])
    units = sort_units(rec, detect_recording(rec), SortingParams())["e"]
    assert [u.cell_type for u in units] == ["narrow", "broad"]
    for u, t in zip(units, truth):
        recall, precision = match(u.index, t, 8)
        assert recall > 0.95 and precision > 0.95
        q = u.quality
        assert q.presence_ratio == 1.0 and q.isi_violations_count == 0 and q.snr > 5
        assert 0 <= q.amplitude_cutoff < 0.1
    rows = units_table({"e": units}, FS)
    assert [r["label"] for r in rows] == ["e:u0", "e:u1"] and [r["cell_type"] for r in rows] == ["narrow", "broad"]
    assert rows[0]["trough_to_peak_ms"] == units[0].quality.trough_to_peak_ms and rows[1]["presence_ratio"] == 1.0


def test_channel_groups_are_checked_with_one_clear_line():
    from analysis.detect_file import detect_recording
    from analysis.sorting import SortingParams, sort_units
    from analysis.source import ArrayRecording

    with pytest.raises(ValueError, match="has one channel"):
        SortingParams(groups=(("a",),))
    with pytest.raises(ValueError, match="'b' is in two channel groups"):
        SortingParams(groups=(("a", "b"), ("b", "c")))
    with pytest.raises(ValueError, match="not one of"):
        SortingParams(sorter="kilosort4")
    x, _ = signal([(120, 0.5, 15)], seconds=5)
    rec = ArrayRecording(np.column_stack([x, x]), FS, ["e0", "e1"])
    with pytest.raises(ValueError, match=r"'e9' is not an analysed electrode channel; analysed channels are \['e0', 'e1'\]"):
        sort_units(rec, detect_recording(rec), SortingParams(groups=(("e0", "e9"),)))
