"""NWB import: the analysis of an exported file equals the original's; files from other rigs
(float data, timestamps with gaps, epochs tables) are read; sorted Units; clear errors."""

from __future__ import annotations

import datetime as dt
import json

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries
from pynwb.file import Subject

from analysis.detect import DetectionParams
from analysis.filters import BandError
from analysis.nwb import NWBRecording, read_units
from analysis.nwb_export import export_nwb
from analysis.nwb_source import NwbFormatError, NwbSource
from analysis.nwb_units import read_nwb_units
from analysis.pipeline import AnalysisParams
from analysis.pipeline import analyze_recording as analyze_path
from analysis.source import open_source
from app.cli.main import main
from app.session import load_any_protocol, run_protocol
from daq.errors import NotARecordingError
from daq.recording import Recording

DOSE_RESPONSE = """name: short dose-response
plan: dose_response
params: {barrel: glu, currents_nA: [10, 30, 90], eject_s: 5, recovery_s: 5, baseline_s: 5}
"""
PARAMS = AnalysisParams(baseline_s=4.0, response_s=3.0)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A simulated dose–response recording and its NWB export."""
    d = tmp_path_factory.mktemp("nwbsrc")
    (d / "dr.yaml").write_text(DOSE_RESPONSE)
    lp = load_any_protocol(d / "dr.yaml")
    assert run_protocol(lp.factory(), lp.info, d / "dr.h5", speed=None, seed=2).error is None
    export_nwb(d / "dr.h5", d / "dr.nwb")
    return d / "dr.h5", d / "dr.nwb"


def test_the_analysis_of_the_export_equals_the_original(pair):
    h5, nwb = pair
    a, b = analyze_path(h5, PARAMS), analyze_path(nwb, PARAMS)
    np.testing.assert_array_equal(a.spike_index, b.spike_index)
    assert len(a.epochs) == len(b.epochs) == 3
    for x, y in zip(a.epochs, b.epochs):
        assert (x.barrel, x.drug, x.role, x.current_nA, x.onset, x.offset, x.flags) == (
            y.barrel, y.drug, y.role, y.current_nA, y.onset, y.offset, y.flags)
        assert x.charge_nC == pytest.approx(y.charge_nC)
        assert x.percent_change == pytest.approx(y.percent_change)
    assert set(a.fits) == set(b.fits) == {"glu:glutamate"}
    assert b.fits["glu:glutamate"].ec50 == pytest.approx(a.fits["glu:glutamate"].ec50, rel=1e-9)


def test_nwb_source_has_the_recording_surface(pair):
    h5, nwb = pair
    with Recording(h5) as rec, open_source(nwb) as src:
        assert isinstance(src, NwbSource) and NWBRecording is NwbSource
        assert (src.rate_hz, src.n_samples, src.first_index, src.end_index) == (
            rec.rate_hz, rec.n_samples, rec.first_index, rec.end_index)
        # the electrode, then the monitored currents (from the stimulus series) in nA
        assert [c.name for c in src.channels] == ["electrode", "I_bal", "I_bic", "I_gaba", "I_glu", "I_nacl"]
        assert src.channel_indices("current_monitor") == [1, 2, 3, 4, 5]
        np.testing.assert_allclose(src.physical("electrode", 500, 900), rec.physical("electrode", 500, 900))
        np.testing.assert_allclose(src.physical("I_glu", 500, 90000), rec.physical("I_glu", 500, 90000))
        assert src.raw(10, 13, [4, 0]).shape == (3, 2)
        assert src.gaps == [] and src.duration_s == rec.duration_s
        assert src.pipette.barrel("glu").polarity == -1 and src.pipette.barrel("glu").concentration_mM == 200
        assert [e.kind for e in src.events].count("eject") == 3
        assert src.metadata["subject"]["subject_id"] == "sim-cortex"  # the simulated rig's subject


def test_cli_analyze_accepts_nwb(pair, tmp_path, capsys):
    assert main(["analyze", str(pair[1]), "--out", str(tmp_path), "--baseline-s", "4", "--response-s", "3",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fits"]["glu:glutamate"]["dose_unit"] == "nA"
    assert len(doc["epochs"]) == 3 and any(tmp_path.rglob("*.png"))  # the report's figures


def _foreign(path, *, timestamps=True, tables=("epochs",), units=False):
    """An NWB file as another rig might write it: float32 µV, 2 channels with labels,
    timestamps with one gap, drug applications in an epochs table (tags) or a drug table."""
    rate = 10000.0
    n = 30000
    nwb = NWBFile(session_description="other rig", identifier="x", session_id="cell7",
                  session_start_time=dt.datetime(2025, 5, 1, 10, 0, tzinfo=dt.UTC),
                  subject=Subject(subject_id="M9", species="Mus musculus", sex="F", age="P90D"))
    dev = nwb.create_device(name="amp")
    grp = nwb.create_electrode_group("tetrode", description="t", location="CA1", device=dev)
    nwb.add_electrode_column("label", "channel label")
    for k, lab in enumerate(("ch-a", "ch-b")):
        nwb.add_electrode(group=grp, location="CA1", label=lab, id=100 + k)  # ids are not rows
    rng = np.random.default_rng(3)
    data = rng.normal(0, 10, size=(n, 2)).astype(np.float32)  # µV
    data[100::400, 0] -= 200  # spikes on ch-a every 40 ms
    region = nwb.create_electrode_table_region([0, 1], "both")
    t = np.arange(n) / rate
    t[20000:] += 0.5  # half a second lost
    timing = {"timestamps": t} if timestamps else {"rate": rate, "starting_time": 0.0}
    nwb.add_acquisition(ElectricalSeries(name="raw", data=data, electrodes=region, conversion=1e-6, **timing))
    nwb.add_acquisition(TimeSeries(name="temperature", data=np.ones(10), unit="degC", rate=1.0))
    if "epochs" in tables:
        nwb.add_epoch(0.5, 1.0, tags=["GABA"])
        nwb.add_epoch(1.5, 2.0, tags=["GABA"])
    if "drug" in tables:
        from pynwb.epoch import TimeIntervals

        ti = TimeIntervals(name="drug_application", description="ejections")
        ti.add_column("drug", "drug")
        ti.add_column("current_nA", "current")
        ti.add_interval(0.2, 0.7, drug="NMDA", current_nA=-25.0)
        ti.add_interval(1.2, 1.7, drug="NMDA", current_nA=-50.0)
        nwb.add_time_intervals(ti)
    if units:
        nwb.add_unit_column("quality", "sorter label")
        nwb.add_unit(spike_times=[0.1, 0.2, 0.35], electrodes=[1], quality="good", id=11)
        nwb.add_unit(spike_times=[0.15, 0.5], electrodes=[0, 1], quality="mua", id=12)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_a_file_from_another_rig(tmp_path):
    path = _foreign(tmp_path / "other.nwb")
    with NwbSource(path) as src:
        assert [c.name for c in src.channels] == ["ch-a", "ch-b"]
        assert src.rate_hz == pytest.approx(10000.0)
        assert src.gaps == [(20000, 5000)]  # the timestamps jump by 0.5 s
        assert src.segments.tolist() == [[0, 0], [20000, 25000]]
        np.testing.assert_allclose(src.physical("ch-b", 0, 5), src.raw(0, 5)[:, 1].astype(np.float64) * 1e-6, rtol=1e-12)
        assert [e.barrel for e in src.ejections] == ["GABA", "GABA"]
        assert np.isnan(src.ejections[0].current_nA)  # the epochs table gives no current
        assert src.metadata["subject"]["subject_id"] == "M9"
    # sampled at 10 kHz: the default 300–6000 Hz band does not fit, a 300–4000 Hz band does
    with pytest.raises(BandError, match=r"sampled at 10000 Hz, which holds frequencies up to 4500 Hz"):
        analyze_path(path, AnalysisParams(baseline_s=0.4, response_s=0.3))
    res = analyze_path(path, AnalysisParams(baseline_s=0.4, response_s=0.3,
                                            detection=DetectionParams(band_hz=(300.0, 4000.0))))
    assert res.channel == "ch-a" and len(res.spike_index) == pytest.approx(75, abs=2)
    assert [ep.barrel for ep in res.epochs] == ["GABA", "GABA"]
    assert "GABA:GABA" in res.fit_errors  # no doses to fit: reported, not invented


def test_a_drug_table_wins_over_epochs_and_tables_can_be_chosen(tmp_path):
    path = _foreign(tmp_path / "drug.nwb", timestamps=False, tables=("epochs", "drug"))
    with NwbSource(path) as src:
        assert src.gaps == []
        assert [(e.barrel, e.current_nA) for e in src.ejections] == [("NMDA", -25.0), ("NMDA", -50.0)]
        assert src.pipette.barrel("NMDA").polarity == -1
        assert [(e.sample_index, e.kind) for e in src.events][:2] == [(2000, "eject"), (7000, "off")]
    with NwbSource(path, intervals="epochs") as src:
        assert {e.barrel for e in src.ejections} == {"GABA"}
    with pytest.raises(NwbFormatError, match=r"no intervals table 'trials'; the file has \['drug_application', 'epochs'\]"):
        NwbSource(path, intervals="trials").ejections  # noqa: B018
    with pytest.raises(NwbFormatError, match=r"no ElectricalSeries named 'lfp'; the file has acquisition/raw "
                       r"\(10000 Hz, 30000×2\)"):
        NwbSource(path, series="lfp")


def test_files_without_what_the_analysis_needs(tmp_path):
    nwb = NWBFile(session_description="x", identifier="y", session_start_time=dt.datetime.now(dt.UTC))
    nwb.add_acquisition(TimeSeries(name="position", data=np.zeros(5), unit="m", rate=1.0))
    with NWBHDF5IO(str(tmp_path / "behaviour.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(NwbFormatError, match=r"no ElectricalSeries in this NWB file \(acquisition holds \['position'\]\)"):
        NwbSource(tmp_path / "behaviour.nwb")
    assert main(["analyze", str(tmp_path / "behaviour.nwb")]) == 1
    with h5py.File(tmp_path / "plain.nwb", "w") as f:
        f["x"] = 1
    with pytest.raises(NotARecordingError, match="not an NWB file"):
        open_source(tmp_path / "plain.nwb")
    (tmp_path / "text.nwb").write_text("hello")
    with pytest.raises(NotARecordingError, match="not an HDF5 file"):
        open_source(tmp_path / "text.nwb")
    with pytest.raises(NwbFormatError, match="no Units table"):
        read_nwb_units(tmp_path / "behaviour.nwb")


def test_timestamps_that_go_backwards_are_refused(tmp_path):
    path = _foreign(tmp_path / "bad.nwb")
    with h5py.File(path, "a") as f:
        ts = f["acquisition/raw/timestamps"]
        ts[200] = ts[100]
    with pytest.raises(NwbFormatError, match="timestamps do not increase at sample 200"):
        NwbSource(path)


def test_read_sorted_units(tmp_path, pair):
    path = _foreign(tmp_path / "units.nwb", units=True)
    units = read_nwb_units(path)
    assert [u.unit_id for u in units] == [11, 12]
    assert units[0].electrodes == (1,) and units[0].channel == "ch-b"
    assert units[1].electrodes == (0, 1) and units[1].channel == "ch-a"
    assert units[0].properties == {"quality": "good"}
    np.testing.assert_allclose(units[0].spike_times_s, [0.1, 0.2, 0.35])
    np.testing.assert_array_equal(units[0].spike_index(10000.0), [1000, 2000, 3500])
    assert [u.unit_id for u in read_nwb_units(path, unit_ids=[12])] == [12]
    trains = read_units(path)  # what the analysis imports as sorted spike trains
    assert list(trains) == ["unit11", "unit12"]
    np.testing.assert_allclose(trains["unit12"], [0.15, 0.5])
    with pytest.raises(NwbFormatError, match=r"no units with ids \[3\]; the file has ids \[11, 12\]"):
        read_nwb_units(path, unit_ids=[3])
    # our own export's threshold crossings come back with their detection facts
    (u,) = read_nwb_units(pair[1])
    assert u.channel == "electrode" and u.properties["threshold_V"] > 0
    assert len(u.spike_times_s) == len(analyze_path(pair[0], PARAMS).spike_index)
