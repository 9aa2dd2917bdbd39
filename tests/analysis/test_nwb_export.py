"""NWB export: what is written where, that it is exact, and that pynwb, nwbinspector and
SpikeInterface accept it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from analysis.nwb_export import ExportOptions, NwbExportError, export_nwb
from analysis.nwb_metadata import NwbMetadata, SessionMeta, SubjectMeta
from analysis.pipeline import analyze_recording as analyze_path
from app.cli.main import main
from app.session import load_any_protocol, run_protocol
from daq.errors import ConfigError
from daq.pipette import Barrel, Pipette
from daq.recording import Recorder, Recording
from daq.types import AIChannel, Block, ChannelKind, EventKind, LogEvent, StreamInfo

PROTOCOL = """name: nwb test
steps:
  - wait: 4
  - eject: {barrel: glu, current_nA: 20}
  - wait: 4
  - retain: glu
  - wait: 3
  - eject: {barrel: glu, current_nA: 60}
  - wait: 3
  - retain: glu
  - wait: 2
  - eject: {barrel: nacl, current_nA: 30, polarity: 1}
  - wait: 2
  - retain: nacl
  - wait: 2
"""


@pytest.fixture(scope="module")
def sim_recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("nwbrec")
    (d / "p.yaml").write_text(PROTOCOL)
    lp = load_any_protocol(d / "p.yaml")
    res = run_protocol(lp.factory(), lp.info, d / "rec.h5", speed=None, seed=5)
    assert res.error is None
    return d / "rec.h5"


@pytest.fixture(scope="module")
def exported(sim_recording, tmp_path_factory):
    out = tmp_path_factory.mktemp("nwbout") / "rec.nwb"
    summary = export_nwb(sim_recording, out)
    return out, summary


# a recording made without a rig file (the Recorder alone) has no subject: tests give one
SUBJECT = NwbMetadata(subject=SubjectMeta(subject_id="syn1", species="Rattus norvegicus", sex="F", age="P60D"))


def inspect(path):
    """The NWB Inspector's messages with DANDI's configuration (``nwbinspector --config dandi``),
    and those above a suggestion (what ``dandi validate`` refuses, and best-practice violations)."""
    from nwbinspector import Importance, inspect_nwbfile, load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msgs = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    serious = [m for m in msgs if m.importance.value > Importance.BEST_PRACTICE_SUGGESTION.value]
    return msgs, serious


def test_nwbinspector_with_dandis_config_finds_only_suggestions(exported):
    msgs, serious = inspect(exported[0])
    assert serious == [], [(m.check_function_name, m.message) for m in serious]
    # what ionto cannot know is a suggestion, and only that
    assert {m.check_function_name for m in msgs} <= {"check_experimenter_exists", "check_institution"}


def test_electrical_series_is_the_recording_exactly(sim_recording, exported):
    with Recording(sim_recording) as rec, NWBHDF5IO(str(exported[0]), "r") as io:
        nwb = io.read()
        es = nwb.acquisition["ElectricalSeries"]
        assert es.data.dtype == np.int16  # stored as recorded, not converted
        assert es.rate == rec.rate_hz and es.starting_time == 0.0
        assert es.data.shape == (rec.n_samples, 1)
        volts = es.data[:, 0] * es.conversion + es.offset
        np.testing.assert_allclose(volts, rec.physical("electrode"), rtol=1e-12, atol=0)
        electrodes = nwb.electrodes.to_dataframe()
        assert list(electrodes["channel_name"]) == ["electrode"]
        assert electrodes["amplifier_gain"].iloc[0] == 1000.0
        assert nwb.devices["sim-cortex"] is not None


def test_iontophoresis_table_matches_the_event_log(sim_recording, exported):
    with Recording(sim_recording) as rec, NWBHDF5IO(str(exported[0]), "r") as io:
        table = io.read().intervals["iontophoresis"].to_dataframe()
        assert len(table) == 3 == exported[1].ejections
        assert [e.sample_index / rec.rate_hz for e in rec.events if e.kind == "eject"] == [4.0, 11.0, 16.0]
        assert list(table["barrel"]) == ["glu", "glu", "nacl"]
        assert list(table["role"]) == ["drug", "drug", "control"]
        assert list(table["current_nA"]) == [-20.0, -60.0, 30.0]  # glutamate is an anion
        np.testing.assert_allclose(table["start_time"], [4.0, 11.0, 16.0])
        np.testing.assert_allclose(table["stop_time"], [8.0, 14.0, 18.0])
        np.testing.assert_allclose(table["charge_nC"], [80.0, 180.0, 60.0])
        assert list(table["concentration_mM"]) == [200.0, 200.0, 165.0]
        assert list(table["flags"]) == ["", "", ""]


def test_commanded_and_monitored_currents_are_stimulus(sim_recording, exported):
    with Recording(sim_recording) as rec, NWBHDF5IO(str(exported[0]), "r") as io:
        stim = io.read().stimulus
        glu = stim["commanded_current_glu"]
        assert glu.unit == "A" and glu.conversion == 1e-9 and glu.continuity == "step"
        np.testing.assert_allclose(glu.timestamps[:], [0.0, 4.0, 8.0, 11.0, 14.0])
        np.testing.assert_allclose(glu.data[:], [15.0, -20.0, 15.0, -60.0, 15.0])
        # the balance barrel carries the negated sum of the others at every change
        bal = stim["commanded_current_bal"]
        t = bal.timestamps[:]
        i = int(np.searchsorted(t, 16.0))
        assert t[i] == 16.0 and bal.data[i] == pytest.approx(-(15.0 - 15.0 - 10.0 + 30.0))
        mon = stim["monitored_current_glu"]
        assert mon.data.dtype == np.int16 and mon.unit == "A"
        amps = mon.data[:] * mon.conversion + mon.offset
        np.testing.assert_allclose(amps, rec.physical("I_glu") * 1e-9, rtol=1e-12)
        # the delivered current follows the command (monitor noise ~0.05 nA)
        k = round(6.0 * rec.rate_hz)
        assert amps[k - 2000:k + 2000].mean() == pytest.approx(-20e-9, abs=1e-9)


def test_units_are_the_detected_spikes(sim_recording, exported):
    with Recording(sim_recording) as rec, NWBHDF5IO(str(exported[0]), "r") as io:
        units = io.read().units
        assert len(units) == 1 and units["channel"][0] == "electrode"
        res = analyze_path(sim_recording)  # the units are the spikes ionto analyze finds
        np.testing.assert_allclose(units.get_unit_spike_times(0), res.spike_index / rec.rate_hz)
        assert units["threshold_V"][0] == pytest.approx(res.spikes.threshold)
        np.testing.assert_allclose(units["obs_intervals"][0], [[0.0, rec.n_samples / rec.rate_hz]])
        assert exported[1].units == {"electrode": len(res.spike_index)}


def test_the_subject_comes_from_the_rig_file_and_metadata_overrides_it(sim_recording, exported, tmp_path):
    with NWBHDF5IO(str(exported[0]), "r") as io:  # the simulated rig's preset names its simulated animal
        s = io.read().subject
        assert (s.subject_id, s.species, s.sex, s.age) == ("sim-cortex", "Rattus norvegicus", "U", "P8W/")
        assert "no animal was used" in s.description
    out = tmp_path / "m.nwb"
    meta = NwbMetadata(subject=SubjectMeta(subject_id="R17", sex="male", age="P60D"),
                       session=SessionMeta(experimenter=("Curtis, D.R.",), lab="Pharmacology",
                                           electrode_location="CA1"))
    summary = export_nwb(sim_recording, out, metadata=meta)
    assert summary.placeholders == []
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert (nwb.subject.subject_id, nwb.subject.sex, nwb.subject.age) == ("R17", "M", "P60D")
        assert nwb.subject.species == "Rattus norvegicus"  # still the rig file's
        assert list(nwb.experimenter) == ["Curtis, D.R."] and nwb.lab == "Pharmacology"
        assert nwb.electrodes["location"][0] == "CA1"
        assert "glutamate 200 mM" in nwb.pharmacology
        assert "eject: {barrel: glu, current_nA: 20}" in nwb.protocol
        assert "glutamate" in nwb.experiment_description
    assert inspect(out)[1] == []


def test_an_export_without_the_subject_is_refused_before_anything_is_written(tmp_path, capsys):
    src = _synthetic(tmp_path / "s.h5")  # no rig file, so no subject
    with pytest.raises(ConfigError, match=r"s.h5: the NWB export needs the subject's subject_id, species, sex, age"):
        export_nwb(src, tmp_path / "s.nwb")
    assert main(["export-nwb", str(src), str(tmp_path / "s.nwb"), "--species", "rat", "--sex", "F"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ionto export-nwb: error: {src}: the NWB export needs the subject's subject_id, age ")
    assert len(err.splitlines()) == 1 and "--subject-id ID" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]  # nothing written, no partial file
    assert main(["export-nwb", str(src), str(tmp_path / "s.nwb"), "--species", "rat", "--sex", "F",
                 "--subject-id", "S1", "--date-of-birth", "2026-01-31", "--json"]) == 0
    capsys.readouterr()
    assert inspect(tmp_path / "s.nwb")[1] == []


def test_spikeinterface_reads_the_export(sim_recording, exported):
    si = pytest.importorskip("spikeinterface.extractors")
    path = str(exported[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = si.read_nwb_recording(path, electrical_series_path="acquisition/ElectricalSeries")
        s = si.read_nwb_sorting(path, electrical_series_path="acquisition/ElectricalSeries")
    with Recording(sim_recording) as rec:
        assert r.get_sampling_frequency() == rec.rate_hz and r.get_num_samples() == rec.n_samples
        uv = r.get_traces(start_frame=1000, end_frame=3000, return_in_uV=True)[:, 0]
        np.testing.assert_allclose(uv, rec.physical("electrode", 1000, 3000) * 1e6, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(s.get_unit_spike_train(s.unit_ids[0]), analyze_path(sim_recording).spike_index)


def _synthetic(path, *, gaps=False, offsets=(0.0, 0.0), rate=20000.0, seconds=3.0, spikes=True):
    """A two-electrode recording written with the Recorder: optional gaps, per-channel offsets;
    with ``spikes``, e0 has a -3000-count spike every 50 ms."""
    chans = (AIChannel("e0", "x/ai0", ChannelKind.ELECTRODE, 5.0, gain=1000.0),
             AIChannel("e1", "x/ai1", ChannelKind.ELECTRODE, 5.0, gain=500.0),
             AIChannel("I_glu", "x/ai2", ChannelKind.CURRENT_MONITOR, 10.0, units="nA", gain=0.05, barrel="glu"))
    stream = StreamInfo(rate, chans, np.dtype(np.int16), (5 / 32768, 5 / 32768, 10 / 32768), (*offsets, 0.0))
    pip = Pipette(barrels=(Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=10, concentration_mM=100),
                           Barrel(name="bal", drug="NaCl", role="balance")))
    rng = np.random.default_rng(1)
    rec = Recorder(path, pipette=pip)
    rec.start(stream)
    block = int(rate * 0.1)
    index = 0
    for k in range(int(seconds / 0.1)):
        if gaps and k in (7, 19):
            index += 1234  # samples lost
        data = rng.normal(0, 300, size=(block, 3)).astype(np.int16)
        if spikes:
            data[int(rate * 0.025)::int(rate * 0.05), 0] = -3000  # every 50 ms
        rec.on_block(Block(index, data))
        if k == 5:
            rec.on_events([LogEvent(index, EventKind.EJECT, "glu", -30.0)])
        if k == 25:
            rec.on_events([LogEvent(index, EventKind.RETAIN, "glu", 10.0)])
        index += block
    rec.stop()
    return path


def test_gaps_become_timestamps_and_observation_intervals(tmp_path):
    src = _synthetic(tmp_path / "g.h5", gaps=True)
    summary = export_nwb(src, tmp_path / "g.nwb", metadata=SUBJECT,
                         options=ExportOptions(units=True, buffer_s=0.5, chunk_s=0.25))
    assert summary.gaps == 2
    with Recording(src) as rec, NWBHDF5IO(str(tmp_path / "g.nwb"), "r") as io:
        nwb = io.read()
        es = nwb.acquisition["ElectricalSeries"]
        assert es.rate is None
        np.testing.assert_allclose(es.timestamps[:], rec.row_to_index(np.arange(rec.n_samples)) / rec.rate_hz)
        mon = nwb.stimulus["monitored_current_glu"]
        assert mon.timestamps is not None and len(mon.timestamps) == rec.n_samples  # linked to the series'
        assert len(nwb.units) == 1 and nwb.units["channel"][0] == "e0"  # e1 has no spikes: no unit
        assert summary.units == {"e0": 60, "e1": 0}
        obs = nwb.units["obs_intervals"][0]
        assert len(obs) == 3
        np.testing.assert_allclose(obs[1][0], (rec.segments[1, 1]) / rec.rate_hz)
        table = nwb.intervals["iontophoresis"].to_dataframe()
        assert table["flags"].iloc[0] == "2468 samples lost during the ejection"  # both gaps
        # two gains: one conversion per channel
        np.testing.assert_allclose(es.channel_conversion[:], [5 / 32768 / 1000, 5 / 32768 / 500], rtol=1e-6)
        volts = es.data[:, 1] * es.conversion * es.channel_conversion[1]
        np.testing.assert_allclose(volts, rec.physical("e1"), rtol=1e-6)
    assert inspect(tmp_path / "g.nwb")[1] == []


def test_channels_with_different_offsets_are_stored_as_float32_volts(tmp_path):
    src = _synthetic(tmp_path / "o.h5", offsets=(0.01, -0.02), spikes=False)
    summary = export_nwb(src, tmp_path / "o.nwb", metadata=SUBJECT, options=ExportOptions(compression="lzf"))
    assert summary.units == {"e0": 0, "e1": 0}
    assert inspect(tmp_path / "o.nwb")[1] == []
    with Recording(src) as rec, NWBHDF5IO(str(tmp_path / "o.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.units is None  # no spikes anywhere: no Units table
        es = nwb.acquisition["ElectricalSeries"]
        assert es.data.dtype == np.float32 and es.conversion == 1.0 and es.offset == 0.0
        np.testing.assert_allclose(es.data[:, 0], rec.physical("e0"), rtol=1e-6)
        np.testing.assert_allclose(es.data[:, 1], rec.physical("e1"), rtol=1e-6)


def test_export_refuses_what_it_cannot_do(sim_recording, exported, tmp_path):
    with pytest.raises(NwbExportError, match=r"exists; .* --overwrite"):
        export_nwb(sim_recording, exported[0])
    with pytest.raises(NwbExportError, match=r"must end in \.nwb"):
        export_nwb(sim_recording, tmp_path / "x.h5")
    empty = tmp_path / "empty.h5"
    r = Recorder(empty)
    r.start(StreamInfo(1000.0, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1e-3,), (0.0,)))
    r.stop()
    with pytest.raises(NwbExportError, match="no committed samples"):
        export_nwb(empty, tmp_path / "e.nwb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.h5"]  # no partial output left behind


def test_cli_export_json_and_metadata_errors(sim_recording, tmp_path, capsys):
    meta = tmp_path / "meta.yaml"
    meta.write_text("subject: {subject_id: R3, species: Rattus norvegicus, sex: F, age: P8W/P10W}\n"
                    "session: {lab: Iontophoresis}\n")
    out = tmp_path / "c.nwb"
    rc = main(["export-nwb", str(sim_recording), str(out), "--metadata", str(meta), "--subject-id", "R4",
               "--no-units", "--compression", "none", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] == str(out) and doc["units"] == {} and doc["placeholders"] == []
    assert doc["monitors"] == ["I_glu", "I_gaba", "I_bic", "I_nacl", "I_bal"]
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "R4" and nwb.subject.age == "P8W/P10W" and nwb.lab == "Iontophoresis"
        assert nwb.units is None
    meta.write_text("subject: {sex: Q}\n")  # invalid: refused naming the file and field
    assert main(["export-nwb", str(sim_recording), str(tmp_path / "d.nwb"), "--metadata", str(meta)]) == 1
    err = capsys.readouterr().err
    assert str(meta) in err and "subject.sex" in err and "'Q'" in err
    assert main(["export-nwb", str(sim_recording), str(tmp_path / "d.nwb"), "--age", "9 weeks"]) == 1
    assert "ISO 8601" in capsys.readouterr().err


def test_column_runs_are_copied_exactly_whatever_the_slice():
    from analysis.nwb_chunks import _copy_columns

    block = np.arange(60 * 18, dtype=np.int16).reshape(60, 18)
    for a, z in ((0, 16), (2, 18), (3, 7), (0, 18), (5, 6)):
        for rows in (block, block[7:41]):
            out = _copy_columns(rows, rows[:, a:z])
            assert out.flags.c_contiguous and np.array_equal(out, rows[:, a:z])
