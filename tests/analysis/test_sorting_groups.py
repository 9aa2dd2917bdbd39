"""Which channels are sorted jointly: named groups, else the NWB electrodes table's groups."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ecephys import ElectricalSeries
from pynwb.file import Subject

from analysis.sorting import SortingParams, channel_groups, nwb_groups
from analysis.source import ArrayRecording, open_source


def _nwb_with_groups(path):
    """Six electrodes: t0–t3 in ElectrodeGroup "tetrode", a and b each in a group of its own."""
    nwb = NWBFile(session_description="groups", identifier="g", session_start_time=dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
                  subject=Subject(subject_id="M1", species="Mus musculus", sex="F", age="P90D"))
    dev = nwb.create_device(name="amp")
    nwb.add_electrode_column("label", "channel label")
    groups = {g: nwb.create_electrode_group(g, description=g, location="CA1", device=dev)
              for g in ("tetrode", "single-a", "single-b")}
    for lab, g in [("t0", "tetrode"), ("a", "single-a"), ("t1", "tetrode"), ("t2", "tetrode"), ("b", "single-b"),
                   ("t3", "tetrode")]:
        nwb.add_electrode(group=groups[g], location="CA1", label=lab)
    data = np.random.default_rng(0).normal(0, 10, (30000, 6)).astype(np.float32)
    region = nwb.create_electrode_table_region(list(range(6)), "all")
    nwb.add_acquisition(ElectricalSeries(name="raw", data=data, electrodes=region, conversion=1e-6, rate=30000.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_an_nwb_files_electrode_groups_are_sorted_jointly(tmp_path):
    path = _nwb_with_groups(tmp_path / "g.nwb")
    with open_source(path) as rec:
        names = [c.name for c in rec.channels]
        assert names == ["t0", "a", "t1", "t2", "b", "t3"]
        assert sorted(nwb_groups(rec)) == [("a",), ("b",), ("t0", "t1", "t2", "t3")]
        assert channel_groups(rec, names, SortingParams()) == [("t0", "t1", "t2", "t3"), ("a",), ("b",)]
        # analysing part of the tetrode sorts that part jointly; named groups win over the file's
        assert channel_groups(rec, ["t0", "t1", "a"], SortingParams()) == [("t0", "t1"), ("a",)]
        assert channel_groups(rec, names, SortingParams(groups=(("a", "b"),))) == [
            ("a", "b"), ("t0",), ("t1",), ("t2",), ("t3",)]


def test_without_groups_every_channel_is_sorted_alone():
    rec = ArrayRecording(np.zeros((100, 3)), 30000.0, ["x", "y", "z"])
    assert nwb_groups(rec) == []
    assert channel_groups(rec, ["x", "y", "z"], SortingParams()) == [("x",), ("y",), ("z",)]
