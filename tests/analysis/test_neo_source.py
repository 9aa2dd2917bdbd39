"""Other systems' recordings through Neo: one ionto recording written again by real writers
(pyabf's ABF writer, an Open Ephys binary folder in its published layout, Neo's NixIO) gives
the same spikes and the same ejection epochs as the ionto HDF5 — each with its epochs from a
different place (sidecar CSV, current monitor, markers); ``ionto info``/``analyze`` read them;
odd files give one line.

Tolerance: none — the spike sample indices are identical.  The ABF and Open Ephys files hold
the very int16 counts of the HDF5 (pyabf stores int(value × 32768) for |value| < 1, exact for
value = counts / 32768; Open Ephys stores the counts with their µV per count), and the NIX file
the float64 volts ionto computes from them; the detector's MAD threshold is scale-invariant,
so the ABF's different units per count (pyabf picks its scale from powers of ten) change the
µV figures but not which samples cross.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import synth
from hypothesis import given
from hypothesis import strategies as st
from neo_writers import write_abf, write_nix, write_open_ephys

from analysis.neo_epochs import (
    EpochSourceError,
    MonitorEpochs,
    marker_ejections,
    parse_marker,
    read_sidecar,
)
from analysis.neo_source import NeoFormatError, NeoSource
from analysis.pipeline import AnalysisParams, analyze
from analysis.source import open_source
from app.cli.main import main
from daq.recording import Recording

PARAMS = AnalysisParams(baseline_s=10.0, response_s=5.0)
CURRENTS_NA = [10, 30, 90]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One ionto recording (glutamate at 10, 30, 90 nA) and the same samples by three writers."""
    d = tmp_path_factory.mktemp("neo")
    s = synth.Synth(duration_s=100, ejections=synth.dose_series("glu", CURRENTS_NA, eject_s=10, gap_s=15,
                                                                start_s=20))
    synth.write(d / "rec.h5", s)
    with Recording(d / "rec.h5") as rec:
        out = {"h5": d / "rec.h5", "abf": write_abf(rec, d / "rec.abf"),
               "open_ephys": write_open_ephys(rec, d / "oe", "glu"), "nix": write_nix(rec, d / "rec.nix")}
        ref = analyze(rec, PARAMS)
    return out, ref


def _epoch_key(e):
    return (e.barrel, e.drug, e.role, e.current_nA, e.onset, e.offset, tuple(e.flags))


@pytest.mark.parametrize(("fmt", "epochs_from"), [("abf", "sidecar"), ("open_ephys", "monitor ADC1"),
                                                  ("nix", "markers")])
def test_the_same_recording_from_another_writer_gives_the_same_spikes_and_epochs(files, fmt, epochs_from):
    paths, ref = files
    with open_source(paths[fmt]) as src:
        assert isinstance(src, NeoSource)
        assert src.epochs_source.startswith(epochs_from)
        res = analyze(src, PARAMS)
    assert len(ref.spike_index) > 500
    np.testing.assert_array_equal(res.spike_index, ref.spike_index)
    assert [e.current_nA for e in ref.epochs] == [-c for c in CURRENTS_NA]
    assert [_epoch_key(e) for e in res.epochs] == [_epoch_key(e) for e in ref.epochs]
    for a, b in zip(res.epochs, ref.epochs):
        assert a.percent_change == pytest.approx(b.percent_change)
    assert set(res.fits) == set(ref.fits) == {"glu:glutamate"}
    assert res.fits["glu:glutamate"].ec50 == pytest.approx(ref.fits["glu:glutamate"].ec50, rel=1e-9)


def test_a_recording_that_starts_later_on_the_board_clock_keeps_its_sample_numbers(files, tmp_path):
    """Open Ephys numbers samples from the board's count when recording began: spikes and epochs
    are on that clock (the monitor's ejections too), shifted by exactly the first sample number."""
    paths, ref = files
    first = 123_457
    with Recording(paths["h5"]) as rec:
        root = write_open_ephys(rec, tmp_path / "late", "glu", first_sample=first)
    with NeoSource(root) as src:
        assert src.first_index == first
        res = analyze(src, PARAMS)
    np.testing.assert_array_equal(res.spike_index, ref.spike_index + first)
    assert [(e.current_nA, e.onset, e.offset) for e in res.epochs] == [
        (e.current_nA, e.onset + first, e.offset + first) for e in ref.epochs]


def test_samples_are_read_in_chunks_equal_to_the_whole(files):
    paths, _ = files
    with NeoSource(paths["open_ephys"]) as src, Recording(paths["h5"]) as rec:
        whole = src.raw()
        np.testing.assert_array_equal(whole, rec.raw(channels=[0, rec.stream.index_of("glu_mon")]))
        parts = np.concatenate([b for _, b in src.iter_rows(7777)])
        np.testing.assert_array_equal(parts, whole)
        # the same counts × (µV per count × 1e-6) instead of × (V per count / gain): within 1 ulp
        np.testing.assert_allclose(src.physical(0), rec.physical(0), rtol=1e-15, atol=0)


def test_cli_info_says_what_was_found(files, capsys):
    paths, _ = files
    assert main(["info", str(paths["open_ephys"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "OpenEphysBinary"
    assert [len(s["channels"]) for s in doc["streams"]] == [1, 1]  # Neo splits the ADC channels off
    assert doc["analysed"]["epochs_source"] == "monitor ADC1"
    assert [(e["barrel"], e["current_nA"], e["start_s"]) for e in doc["analysed"]["ejections"]] == [
        ("glu", -10.0, 20.0), ("glu", -30.0, 45.0), ("glu", -90.0, 70.0)]
    assert main(["info", str(paths["nix"])]) == 0
    text = capsys.readouterr().out
    assert "event channel 'ejections' (epoch): 3 events" in text and "epochs from: markers" in text


def test_cli_analyze_reads_an_abf_with_its_sidecar(files, tmp_path, capsys):
    paths, _ = files
    assert main(["analyze", str(paths["abf"]), "--out", str(tmp_path), "--baseline-s", "10", "--response-s", "5",
                 "--json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["epochs"]) == 3 and "glu:glutamate" in doc["fits"]


def test_cli_options_say_where_the_epochs_are_when_no_sidecar_does(files, tmp_path, capsys):
    import shutil

    paths, ref = files
    oe = tmp_path / "oe"
    shutil.copytree(paths["open_ephys"], oe)
    (oe / "monitors.csv").unlink()
    assert main(["info", str(oe), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["analysed"]["epochs_source"] == "none"
    assert main(["analyze", str(oe), "--monitor", "ADC1:glu:glutamate:0.05", "--out", str(tmp_path / "a"),
                 "--baseline-s", "10", "--response-s", "5", "--json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(e["barrel"], e["drug"], e["current_nA"]) for e in doc["epochs"]] == [
        (e.barrel, e.drug, e.current_nA) for e in ref.epochs]
    assert main(["info", str(oe), "--ejections", f"{paths['abf']}.ejections.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["analysed"]["epochs_source"].startswith("sidecar ")
    assert main(["analyze", str(oe), "--monitor", "ADC1:glu:0", "--no-progress"]) == 1
    assert "--monitor 'ADC1:glu:0': V_PER_NA must be a finite, non-zero number" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # per-file options: a batch takes them from sidecar files
        main(["analyze-batch", str(oe), "--monitor", "ADC1:glu:glutamate:0.05"])


def test_a_batch_takes_an_open_ephys_folder_as_one_recording(files):
    from analysis.batch import analyze_file, expand_inputs

    paths, ref = files
    assert expand_inputs([str(paths["open_ephys"]), str(paths["abf"])]) == [paths["open_ephys"].resolve(),
                                                                           paths["abf"].resolve()]
    doc = analyze_file(str(paths["open_ephys"]), PARAMS)
    assert doc["status"] == "ok", doc
    assert doc["analyses"][0]["spikes"]["CH1"]["count"] == len(ref.spike_index)
    assert len(doc["analyses"]) == 1 and len(doc["analyses"][0]["epochs"]) == len(ref.epochs)


def test_stream_choice_and_ambiguous_streams(files):
    paths, _ = files
    with NeoSource(paths["open_ephys"], stream="1", monitors={}) as src:  # the ADC stream, read as voltage
        assert [c.name for c in src.channels] == ["ADC1"]
    with pytest.raises(NeoFormatError, match=r"no single stream 'nope'; the file has 0: .*choose one with --series"):
        NeoSource(paths["open_ephys"], stream="nope")


def test_odd_files_give_one_line(tmp_path, files, capsys):
    paths, _ = files
    (tmp_path / "notes.xyz").write_text("hello")
    with pytest.raises(NeoFormatError, match="not a format ionto reads"):
        NeoSource(tmp_path / "notes.xyz")
    (tmp_path / "rig.pl2").write_bytes(b"\0" * 64)  # Neo's reader would download and run a Windows DLL
    with pytest.raises(NeoFormatError, match=r"rig.pl2: Neo cannot read it \(Plexon2RawIO: .pl2 needs Plexon's "):
        NeoSource(tmp_path / "rig.pl2")
    bad = tmp_path / "broken.abf"
    bad.write_bytes(b"ABF " + b"\0" * 40)
    assert main(["analyze", str(bad), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.abf: Neo cannot read it (AxonRawIO:" in err[0]
    from pyabf.abfWriter import writeABF1

    writeABF1(np.zeros((1, 20000)), str(tmp_path / "clamp.abf"), 20000.0)  # pyabf's default units: pA
    with pytest.raises(NeoFormatError, match=r"clamp.abf: stream 'Signals' holds no voltage channel to analyse"):
        NeoSource(tmp_path / "clamp.abf")
    _two_segment_nix(tmp_path / "sweeps.nix")
    with pytest.raises(NeoFormatError, match=r"1 block\(s\) and \[2\] segment\(s\).*one continuous recording"):
        NeoSource(tmp_path / "sweeps.nix")
    abf = tmp_path / "copy.abf"
    abf.write_bytes(paths["abf"].read_bytes())
    (tmp_path / "copy.abf.ejections.csv").write_text("barrel,drug,current_nA,start_s,end_s\nglu,glutamate,-10,5,abc\n")
    with pytest.raises(EpochSourceError, match=r"copy.abf.ejections.csv: line 2: current_nA, start_s and end_s must be numbers"):
        with NeoSource(abf) as src:
            _ = src.ejections
    assert main(["info", str(abf)]) == 0
    text = capsys.readouterr().out  # the samples are fine: info lists them, and says what is wrong in one line
    assert "stream 0: 'Signals'  20000 Hz, 2000000 samples" in text
    assert "not analysable as it is: " in text and "line 2: current_nA, start_s and end_s must be numbers" in text
    (tmp_path / "copy.abf.ejections.csv").write_text("barrel,current_nA,start_s,end_s\nglu,-10,5,6\n")
    with pytest.raises(EpochSourceError, match=r"missing column\(s\) \['drug'\]"):
        NeoSource(abf).ejections  # noqa: B018


def _two_segment_nix(path):
    import quantities as pq
    from neo import AnalogSignal, Block, Segment
    from neo.io import NixIO

    blk = Block()
    for _ in range(2):
        seg = Segment()
        seg.analogsignals.append(AnalogSignal(np.zeros((100, 1)), units="V", sampling_rate=1000 * pq.Hz))
        blk.segments.append(seg)
    with NixIO(str(path), mode="ow") as io:
        io.write_block(blk)


@given(barrel=st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,7}", fullmatch=True),
       drug=st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,11}", fullmatch=True),
       current=st.floats(-500, 500, allow_nan=False).filter(lambda c: c != 0).map(lambda c: round(c, 1)))
def test_a_marker_label_reads_back(barrel, drug, current):
    assert parse_marker(f"{barrel}:{drug} {current:g} nA") == (barrel, drug, current)
    assert parse_marker(f"{barrel} off") == (barrel, "", 0.0)
    assert parse_marker(f"stimulus {barrel}") is None


@given(runs=st.lists(st.tuples(st.integers(0, 5000), st.integers(300, 2000), st.sampled_from([-40.0, 15.0, 90.0])),
                     max_size=5),
       block=st.integers(50, 3000))
def test_monitor_epochs_do_not_depend_on_the_block_size(runs, block):
    """Runs that straddle block edges are joined: the ejections found block by block equal those
    of the whole trace at once."""
    n = 8000
    cur = np.full(n, 10.0)  # the retain current: the resting level
    for a, ln, c in runs:
        cur[a:a + ln] = c
    whole, parts = MonitorEpochs("b", 1000.0), MonitorEpochs("b", 1000.0)
    whole.add_level(cur)
    whole.add_runs(0, cur)
    for s in range(0, n, block):
        parts.add_level(cur[s:s + block])
    for s in range(0, n, block):
        parts.add_runs(s, cur[s:s + block])
    assert whole.ejections(0.0) == parts.ejections(0.0)


def test_event_markers_pair_on_and_off_per_barrel():
    markers = [(10.0, None, "glu:glutamate -20 nA"), (12.0, None, "gaba:GABA 15 nA"), (15.0, None, "glu off"),
               (16.0, None, "stimulus on"), (18.0, None, "gaba 0 nA"), (20.0, None, "glu:glutamate -40 nA"),
               (25.0, None, "glu:glutamate -80 nA"), (28.0, None, "nacl:NaCl 30 nA")]
    got = [(e.barrel, e.drug, e.role, e.current_nA, e.start_s, e.stop_s) for e in marker_ejections(markers, 30.0)]
    assert got == [("glu", "glutamate", "drug", -20.0, 10.0, 15.0), ("gaba", "GABA", "drug", 15.0, 12.0, 18.0),
                   ("glu", "glutamate", "drug", -40.0, 20.0, 25.0), ("glu", "glutamate", "drug", -80.0, 25.0, 30.0),
                   ("nacl", "NaCl", "control", 30.0, 28.0, 30.0)]


def test_a_monitor_channel_in_nA_gives_the_epochs_without_any_sidecar(files, tmp_path):
    """Neo's NixIO writes the electrode and the glutamate monitor in nA; no markers, no CSV."""
    import quantities as pq
    from neo import AnalogSignal, Block, Segment
    from neo.io import NixIO

    paths, ref = files
    with Recording(paths["h5"]) as rec:
        seg = Segment()
        seg.analogsignals.append(AnalogSignal(np.column_stack([rec.physical(0)]), units="V",
                                              sampling_rate=rec.rate_hz * pq.Hz, name="electrode"))
        seg.analogsignals.append(AnalogSignal(rec.physical("glu_mon")[:, None], units="nA",
                                              sampling_rate=rec.rate_hz * pq.Hz, name="I_glu"))
    blk = Block()
    blk.segments.append(seg)
    with NixIO(str(tmp_path / "mon.nix"), mode="ow") as io:
        io.write_block(blk)
    with NeoSource(tmp_path / "mon.nix") as src:
        assert src.epochs_source == "monitor I_glu"
        res = analyze(src, PARAMS)
    np.testing.assert_array_equal(res.spike_index, ref.spike_index)
    assert [(e.barrel, e.current_nA, e.onset, e.offset) for e in res.epochs] == [
        (e.barrel, e.current_nA, e.onset, e.offset) for e in ref.epochs]


@given(st.text(max_size=300))
def test_any_sidecar_text_is_read_or_refused_in_one_line(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("csv") / "x.ejections.csv"
    p.write_text("barrel,drug,current_nA,start_s,end_s\n" + text, encoding="utf-8")
    try:
        rows = read_sidecar(p)
    except EpochSourceError as exc:
        assert "\n" not in str(exc) and str(p) in str(exc)
    else:
        assert all(r.stop_s > r.start_s and r.barrel for r in rows)


def test_a_noisy_monitor_gives_one_ejection_per_step():
    """A monitor with 0.7-nA noise around a +10 nA retain current and two ejections (−20 nA for
    2 s, −60 nA for 1 s) at 10 kHz: the noise crosses the 2-nA threshold now and then (dropped:
    shorter than 10 ms) and the steps are found to within a sample, with their currents."""
    rng = np.random.default_rng(3)
    fs = 10_000.0
    cur = np.full(int(10 * fs), 10.0)
    cur[int(2 * fs):int(4 * fs)] = -20.0
    cur[int(6 * fs):int(7 * fs)] = -60.0
    cur += rng.normal(0, 0.7, len(cur))
    m = MonitorEpochs("glu", fs)
    for pass_ in ("level", "runs"):
        for s in range(0, len(cur), 4096):
            m.add_level(cur[s:s + 4096]) if pass_ == "level" else m.add_runs(s, cur[s:s + 4096])
    got = m.ejections(0.0)
    assert [(e.current_nA, round(e.start_s * fs), round(e.stop_s * fs)) for e in got] == [
        (-20.0, 20000, 40000), (-60.0, 60000, 70000)]
