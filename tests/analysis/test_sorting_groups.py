"""Which channels are sorted jointly: named groups, else the NWB electrodes table's groups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ecephys import ElectricalSeries
from pynwb.file import Subject

from analysis.sorting import SortingParams, channel_groups, group_positions, nwb_groups
from analysis.source import ArrayRecording, open_source


def _nwb_with_groups(path, positions: bool = False):
    """Six electrodes: t0–t3 in ElectrodeGroup "tetrode", a and b each in a group of its own
    (``positions``: with ``rel_x``/``rel_y``, electrode k at (10 k, 20 k) µm)."""
    nwb = NWBFile(session_description="groups", identifier="g", session_start_time=dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
                  subject=Subject(subject_id="M1", species="Mus musculus", sex="F", age="P90D"))
    dev = nwb.create_device(name="amp")
    nwb.add_electrode_column("label", "channel label")
    groups = {g: nwb.create_electrode_group(g, description=g, location="CA1", device=dev)
              for g in ("tetrode", "single-a", "single-b")}
    for k, (lab, g) in enumerate([("t0", "tetrode"), ("a", "single-a"), ("t1", "tetrode"), ("t2", "tetrode"),
                                  ("b", "single-b"), ("t3", "tetrode")]):
        xy = {"rel_x": 10.0 * k, "rel_y": 20.0 * k} if positions else {}
        nwb.add_electrode(group=groups[g], location="CA1", label=lab, **xy)
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


def test_sorting_a_group_twice_gives_the_same_units():
    """tridesclous2 whitens with a matrix from unseeded random chunks; ionto whitens with a
    seeded one (``analysis.sorting_input.sorter_input``), so a group sorts the same every run."""
    from si_truth import ground_truth

    from analysis.detect_file import detect_recording
    from analysis.sorting import sort_units

    rec, _, _ = ground_truth(4, 4, duration_s=10.0, seed=5)
    names = [f"t{i}" for i in range(4)]
    arr = ArrayRecording(rec.get_traces().astype(np.float64) * 1e-6, rec.get_sampling_frequency(), names)
    det = detect_recording(arr)
    params = SortingParams(groups=(tuple(names),), quality=False,
                           positions_um=dict(zip(names, map(tuple, rec.get_channel_locations().tolist()))))
    first, second = (sort_units(arr, det, params) for _ in range(2))
    trains = [{u.label: u.index.tolist() for us in run.values() for u in us} for run in (first, second)]
    assert trains[0] and trains[0] == trains[1]


def test_a_groups_contact_positions_come_from_the_user_else_the_nwb_electrodes_table(tmp_path):
    with open_source(_nwb_with_groups(tmp_path / "p.nwb", positions=True)) as rec:
        group = ("t0", "t1", "t2", "t3")
        assert group_positions(rec, group, SortingParams()).tolist() == [[0, 0], [20, 40], [30, 60], [50, 100]]
        mine = {n: (float(i), 0.0) for i, n in enumerate(group)}
        assert group_positions(rec, group, SortingParams(positions_um=mine)).tolist() == [[0, 0], [1, 0], [2, 0],
                                                                                          [3, 0]]
    with open_source(_nwb_with_groups(tmp_path / "g.nwb")) as rec:  # no positions: the default layout
        assert group_positions(rec, ("t0", "t1", "t2", "t3"), SortingParams()) is None


def test_positions_missing_a_channel_or_shared_by_two_are_refused_naming_them():
    rec = ArrayRecording(np.zeros((100, 3)), 30000.0, ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"no position for \['z'\]"):
        group_positions(rec, ("x", "y", "z"), SortingParams(positions_um={"x": (0, 0), "y": (0, 20)}))
    with pytest.raises(ValueError, match="'x' and 'z' are at the same position"):
        group_positions(rec, ("x", "y", "z"), SortingParams(positions_um={"x": (0, 0), "y": (0, 20), "z": (0, 0)}))
    with pytest.raises(ValueError, match="position of channel 'y' must be two finite numbers"):
        SortingParams(positions_um={"y": (0, float("nan"))})


def test_a_group_without_positions_is_one_neighbourhood_of_distinct_contacts():
    from spikeinterface.sorters import Tridesclous2Sorter

    from analysis.sorting_input import DEFAULT_SPAN_UM, default_positions

    smallest_radius_um = min(v for k, v in Tridesclous2Sorter.default_params().items() if k.endswith("radius_um"))
    assert DEFAULT_SPAN_UM < smallest_radius_um
    for n in (2, 4, 16, 32):
        xy = default_positions(n)
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        off = d[~np.eye(n, dtype=bool)]
        assert off.max() <= DEFAULT_SPAN_UM + 1e-9 and off.min() > 0
