"""analysis.align / ionto align: two simulated clocks with a known offset and drift.

ionto's side is a real recording (daq.recording's Recorder) whose event log holds the sync
pulses (kind 'sync', random intervals) and ejections; the other system's side is an ABF file
written by pyabf's writer holding the same pulses on its own clock (offset 3.2 s, drift
20 ppm), with pulses missing, extra pulses, and a recording that ends early.  Done when
(issue 18): the offset and drift are recovered to within one sample of the other system
over an hour."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.align import fit_clock, match_pulses, other_pulses
from daq.errors import ConfigError
from daq.recording import Recorder
from daq.types import AIChannel, Block, EventKind, LogEvent, StreamInfo
from mock_daq import load_preset

IONTO_HZ = 2000.0
OTHER_HZ = 2000.0
OFFSET_S, DRIFT = 3.2, 20e-6
HOUR_S = 3600.0


def _pulses(rng, span_s):
    """ionto's pulse times: random intervals 0.5-1.5 s (on its sample clock, whole samples)."""
    t = np.cumsum(rng.uniform(0.5, 1.5, int(span_s)))
    t = t[t < span_s - 1]
    return np.round(t * IONTO_HZ) / IONTO_HZ


def _other_clock(t_ionto):
    return OFFSET_S + (1 + DRIFT) * t_ionto


@pytest.fixture(scope="module")
def hour(tmp_path_factory):
    from pyabf.abfWriter import writeABF1

    d = tmp_path_factory.mktemp("align")
    rng = np.random.default_rng(4)
    pulses = _pulses(rng, HOUR_S)
    # ionto's recording: an hour of samples (zeros), the pulses and two ejections in the event log
    pip = load_preset("cortex").pipette
    rec = Recorder(d / "ionto.h5", pipette=pip, rig={"name": "t"})
    rec.start(StreamInfo(IONTO_HZ, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1 / 32768,), (0.0,)))
    n = int(HOUR_S * IONTO_HZ)
    step = 200_000
    for a in range(0, n, step):
        rec.on_block(Block(a, np.zeros((min(step, n - a), 1), np.int16)))
    ejections = [("glu", -40.0, 600.0, 630.0), ("gaba", 20.0, 3000.0, 3045.5)]
    ev = [LogEvent(round(t * IONTO_HZ), EventKind.SYNC, text=f"pulse={k}") for k, t in enumerate(pulses)]
    for barrel, cur, on, off in ejections:
        ev += [LogEvent(round(on * IONTO_HZ), EventKind.EJECT, barrel, cur),
               LogEvent(round(off * IONTO_HZ), EventKind.RETAIN, barrel, float(-np.sign(cur) * 15))]
    rec.on_events(sorted(ev, key=lambda e: e.sample_index))
    rec.stop()
    # the other system: the same pulses on its clock, 10 ms high; 5 % lost, 40 extra, ends 60 s early
    keep = rng.random(pulses.size) > 0.05
    other_t = np.sort(np.concatenate([_other_clock(pulses[keep]), rng.uniform(0, HOUR_S, 40)]))
    m = int((HOUR_S - 60) * OTHER_HZ)
    x = np.zeros(m)
    for t in other_t:
        k0 = int(np.ceil(t * OTHER_HZ))
        x[k0:k0 + int(0.01 * OTHER_HZ)] = 0.5
    writeABF1(x[None, :], str(d / "other.abf"), OTHER_HZ, units="V")
    return d, pulses, ejections, keep


def test_an_hour_of_pulses_recovers_offset_and_drift_within_one_sample_of_the_other_system(hour):
    d, pulses, _, keep = hour
    b, fs, _ = other_pulses(d / "other.abf")
    assert fs == OTHER_HZ
    fit = fit_clock(pulses, b)
    t = np.array([0.0, HOUR_S])
    err_samples = (fit.to_other(t) - _other_clock(t)) * OTHER_HZ
    print(f"align over an hour: offset {fit.offset_s - OFFSET_S:+.2e} s, drift {(fit.drift - DRIFT) * 1e6:+.4f} ppm, "
          f"mapping error at 0 / 1 h: {err_samples[0]:+.4f} / {err_samples[1]:+.4f} samples at {OTHER_HZ:g} Hz; "
          f"{fit.n_matched} of {fit.n_ionto} matched, residual RMS {fit.residual_rms_s * 1e3:.3f} ms")
    assert np.all(np.abs(err_samples) < 1.0), err_samples
    assert abs(fit.drift - DRIFT) * 1e6 < 1.0
    # every pulse the other system kept (and recorded before it stopped) matched; no extra one did
    both = (keep & (_other_clock(pulses) < HOUR_S - 60 - 0.1)).sum()
    assert both - 3 <= fit.n_matched <= both  # (an extra pulse may hide a real one it overlaps)
    assert fit.residual_max_s < 1.0 / OTHER_HZ


def test_an_unrelated_pulse_train_is_refused_in_one_line():
    rng = np.random.default_rng(1)
    a = _pulses(rng, 200)
    b = _pulses(np.random.default_rng(2), 200)
    with pytest.raises(ConfigError, match="do not line up"):
        match_pulses(a, b)


def test_pulses_match_whatever_the_offset_and_with_the_first_ones_missing():
    rng = np.random.default_rng(3)
    a = _pulses(rng, 300)
    b = -1234.5 + a[7:] * (1 - 50e-6)
    ia, ib = match_pulses(a, b)
    assert np.array_equal(ia, np.arange(7, len(a))) and np.array_equal(ib, np.arange(len(b)))


def test_ionto_align_writes_the_epochs_on_the_other_clock_as_csv_and_nwb(hour, tmp_path, capsys):
    from pynwb import NWBHDF5IO

    from app.cli.main import main

    d, _, ejections, _ = hour
    assert main(["align", str(d / "other.abf"), str(d / "ionto.h5"), "--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert abs(doc["clock"]["offset_s"] - OFFSET_S) < 1 / OTHER_HZ and doc["epochs"] == 2
    with open(doc["csv"]) as f:
        rows = list(csv.DictReader(f))
    for row, (barrel, cur, on, off) in zip(rows, ejections):
        assert row["barrel"] == barrel and float(row["current_nA"]) == cur
        assert abs(float(row["start_s"]) - _other_clock(on)) < 1 / OTHER_HZ
        assert abs(float(row["stop_s"]) - _other_clock(off)) < 1 / OTHER_HZ
    with NWBHDF5IO(doc["nwb"], "r") as io:
        table = io.read().intervals["ejections"].to_dataframe()
    assert list(table["barrel"]) == [e[0] for e in ejections]
    assert np.allclose(table["start_time"], [_other_clock(e[2]) for e in ejections], atol=1 / OTHER_HZ)


def test_ionto_align_names_a_missing_channel_in_one_line(hour, capsys):
    from app.cli.main import main

    d, _, _, _ = hour
    assert main(["align", str(d / "other.abf"), str(d / "ionto.h5"), "--channel", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no channel 'nope'" in err[0], err


def test_pulses_from_an_event_channel_written_by_neos_nixio_align_like_an_analog_channel(tmp_path):
    import neo
    import quantities as pq
    from neo.io import NixIO

    rng = np.random.default_rng(6)
    pulses = _pulses(rng, 600)
    seg = neo.Segment()
    seg.analogsignals.append(neo.AnalogSignal(np.zeros((1000, 1)), units="V", sampling_rate=1 * pq.kHz, name="lfp"))
    seg.events.append(neo.Event(_other_clock(pulses[3:]) * pq.s, name="sync"))
    block = neo.Block()
    block.segments.append(seg)
    with NixIO(str(tmp_path / "other.nix"), mode="ow") as io:
        io.write_block(block)
    b, fs, what = other_pulses(tmp_path / "other.nix", channel="sync")
    assert fs == 0.0 and "sync" in what
    fit = fit_clock(pulses, b)
    assert fit.n_matched == len(pulses) - 3
    assert abs(fit.offset_s - OFFSET_S) < 1e-6 and abs(fit.drift - DRIFT) < 1e-8


def test_ionto_align_refuses_a_file_neo_does_not_read_and_a_recording_without_pulses_in_one_line(hour, tmp_path,
                                                                                                    capsys):
    from app.cli.main import main

    d, _, _, _ = hour
    junk = tmp_path / "notes.txt"
    junk.write_text("not a recording\n")
    assert main(["align", str(junk), str(d / "ionto.h5")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "notes.txt" in err[0] and "Neo" in err[0], err
    empty = tmp_path / "empty.h5"
    rec = Recorder(empty, pipette=load_preset("cortex").pipette, rig={"name": "t"})
    rec.start(StreamInfo(IONTO_HZ, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1 / 32768,), (0.0,)))
    rec.on_block(Block(0, np.zeros((100, 1), np.int16)))
    rec.stop()
    assert main(["align", str(d / "other.abf"), str(empty)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no sync pulses" in err[0], err


@settings(max_examples=30, deadline=None)
@given(offset=st.floats(-1e4, 1e4), drift_ppm=st.floats(-100, 100), lost=st.floats(0, 0.1),
       extra=st.integers(0, 10), seed=st.integers(0, 2**32 - 1))
def test_every_kept_pulse_is_matched_whatever_the_offset_drift_losses_and_extras(offset, drift_ppm, lost, extra, seed):
    rng = np.random.default_rng(seed)
    a = _pulses(rng, 400)
    keep = rng.random(a.size) >= lost
    keep[:2] = True
    real = offset + (1 + drift_ppm * 1e-6) * a[keep]
    noise = rng.uniform(real[0], real[-1], extra)
    noise = noise[np.min(np.abs(noise[:, None] - real[None, :]), axis=1) > 0.02]  # not on a real pulse
    b = np.sort(np.concatenate([real, noise]))
    ia, ib = match_pulses(a, b)
    assert np.array_equal(ia, np.flatnonzero(keep))
    assert np.allclose(b[ib], real)
