"""Unit separation on waveform features, and importing sorted spike times."""

import numpy as np
import pytest
from synth import match, waveform

from analysis.detect import detect_spikes
from analysis.units import load_sorted_spikes, separate_units

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
