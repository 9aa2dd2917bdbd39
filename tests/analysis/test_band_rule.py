"""One detection-band rule for every source: the band asked for is the band filtered, or the
file is refused in one line naming it, its rate and the --band that would fit (issue 15).

Sources: an ionto HDF5 recording, another system's file through Neo (NIX), an NWB file, an
in-memory array; the live detector lowers the band to the rate and says so."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import nwb_cases as cases
import pytest
import synth
from hypothesis import given, settings
from hypothesis import strategies as st
from neo_writers import write_nix

from analysis.detect import DetectionParams, StreamingDetector
from analysis.detect_file import detect_recording
from analysis.filters import BAND_LIMIT_OF_RATE, BandError, Bandpass, check_band, fitting_band
from analysis.source import ArrayRecording
from app.cli.main import main
from daq.recording import Recording
from daq.types import AIChannel, Block, ChannelKind, StreamInfo

REFUSAL = (r"is sampled at {rate} Hz, which holds frequencies up to {top} Hz; spike detection in 300–6000 Hz "
           r"needs at least 13333 Hz — analyse it with --band 300 {top}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An ionto recording at 10 kHz, the same glutamate series at 1 kHz written as NIX (read
    through Neo), and an NWB LFP series at 1 kHz."""
    d = tmp_path_factory.mktemp("band")
    ej = synth.dose_series("glu", [30, 90], eject_s=5, gap_s=10, start_s=10)
    synth.write(d / "rec10k.h5", synth.Synth(duration_s=40, ejections=ej, fs=10000.0))
    synth.write(d / "rec1k.h5", synth.Synth(duration_s=40, ejections=ej, fs=1000.0))
    with Recording(d / "rec1k.h5") as rec:
        nix = write_nix(rec, d / "rec1k.nix")
    return {"h5_10k": d / "rec10k.h5", "nix_1k": nix, "nwb_1k": cases.lfp_only(d / "lfp.nwb")}


def _one_line(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("name", "rate", "top"), [("h5_10k", "10000", "4500"), ("nix_1k", "1000", "450"),
                                                     ("nwb_1k", "1000", "450")])
def test_ionto_analyze_refuses_a_band_above_the_rate_in_the_same_line_for_every_source(files, tmp_path, capsys,
                                                                                       name, rate, top):
    path = files[name]
    err = _one_line(capsys, ["analyze", str(path), "--out", str(tmp_path / "a"), "--no-progress"])
    assert err.startswith(f"ionto analyze: error: {path}"), err
    assert re.search(REFUSAL.format(rate=rate, top=top), err), err
    assert not (tmp_path / "a").exists()  # no report claiming a band that was not used


def test_the_band_that_the_refusal_names_is_analysed_and_reported_as_given(files, tmp_path, capsys):
    """With --band 300 4000 the 10-kHz recording is analysed, and the report, the JSON and the
    filter all say 300–4000 Hz."""
    out = tmp_path / "b"
    assert main(["analyze", str(files["h5_10k"]), "--band", "300", "4000", "--out", str(out), "--no-progress",
                 "--baseline-s", "5", "--response-s", "4", "--recovery-s", "4"]) == 0
    capsys.readouterr()
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["rate_hz"] == 10000.0
    assert [sp["band_hz"] for sp in doc["spikes"].values()] == [[300.0, 4000.0]]
    assert "detection 300–4000 Hz band-pass" in (out / "report.html").read_text()
    with Recording(files["h5_10k"]) as rec:
        det = detect_recording(rec, DetectionParams(band_hz=(300.0, 4000.0)))
    assert det.params.bandpass(det.rate_hz).band_hz == (300.0, 4000.0)
    assert doc["spikes"]["electrode"]["count"] == len(det.spikes["electrode"])


def test_an_in_memory_array_follows_the_same_rule():
    x = np.zeros((20000, 1))
    rec = ArrayRecording(x, 10000.0)
    with pytest.raises(BandError, match=REFUSAL.format(rate="10000", top="4500")):
        detect_recording(rec)


rates = st.floats(1.0, 1e6, allow_nan=False)
edges = st.floats(1e-3, 1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(rates, edges, edges)
def test_the_filter_band_is_exactly_the_band_asked_or_a_one_line_refusal(rate_hz, lo, hi):
    try:
        bp = Bandpass(rate_hz, (lo, hi), order=1)
    except BandError as exc:
        msg = str(exc)
        assert "\n" not in msg
        assert not (0 < lo < hi <= BAND_LIMIT_OF_RATE * rate_hz)  # refused only what does not fit
        m = re.search(r"--band (\S+) (\S+)$", msg)
        if m:  # the band it names fits: the filter takes it exactly
            fit = (float(m.group(1)), float(m.group(2)))
            assert Bandpass(rate_hz, fit, order=1).band_hz == fit
        return
    assert bp.band_hz == (lo, hi)
    assert 0 < lo < hi <= BAND_LIMIT_OF_RATE * rate_hz
    assert np.all(np.isfinite(bp.sos))


@settings(max_examples=200, deadline=None)
@given(rates, edges, edges)
def test_fitting_band_is_the_asked_band_when_it_fits_else_the_highest_edge_the_rate_holds(rate_hz, lo, hi):
    if not lo < hi:
        return
    fit = fitting_band(rate_hz, (lo, hi))
    top = BAND_LIMIT_OF_RATE * rate_hz
    if hi <= top:
        assert fit == (lo, hi)
    elif fit is not None:
        assert fit[0] == lo and fit[1] <= top and top - fit[1] <= max(1.0, 1e-6 * top)
        check_band(rate_hz, fit)  # accepted
    else:
        assert lo >= math.floor(top) or lo >= top - 1.0


def test_the_live_detector_on_a_10_khz_rig_lowers_the_band_says_so_and_detects():
    fs = 10000.0
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 10e-6, size=int(6 * fs))
    w = synth.waveform(fs, 150.0) * 1e-6
    at = np.arange(int(2.5 * fs), len(x) - 100, int(0.1 * fs))
    for a in at:
        x[a:a + len(w)] += w
    det = StreamingDetector(calibrate_s=2.0)
    det.start(StreamInfo(fs, (AIChannel("e", "x/ai0", ChannelKind.ELECTRODE),), np.dtype(np.float64), (1.0,),
                         (0.0,)))
    assert det.params.band_hz == (300.0, 4500.0) and det.asked.band_hz == (300.0, 6000.0)
    assert det.band_note == ("spike band 300–4500 Hz, not 300–6000 Hz: a signal sampled at 10000 Hz holds "
                             "frequencies up to 4500 Hz")
    for s in range(0, len(x), 1000):
        det.on_block(Block(s, x[s:s + 1000, None]))
    found = det.recent_spikes()
    hits = sum(bool(np.any(np.abs(found - (a + 3)) <= 10)) for a in at)
    assert hits >= 0.95 * len(at) and len(found) <= 1.05 * len(at)
    assert StreamingDetector().asked.for_rate(30000.0) == (DetectionParams(), "")  # fits: unchanged, no note
