"""``ionto analyze --sort-units --positions FILE``: the contact positions of grouped channels
when the file gives none (analysis.sorting_positions), through the CLI, and its refusals."""

from __future__ import annotations

import csv
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.sorting_positions import read_positions
from app.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from nwb_cases import nwbfile, region, write
from si_truth import ground_truth

CHANNELS = ["ch0", "ch1", "ch2", "ch3"]


@pytest.fixture(scope="module")
def tetrode(tmp_path_factory):
    """A tetrode (one ElectrodeGroup, no positions in the electrodes table) with five
    SpikeInterface ground-truth units at peak SNR 6–16, the generator's contact positions,
    and the ground truth's spike counts."""
    from pynwb.ecephys import ElectricalSeries

    rec, truth, snr = ground_truth(4, 5, duration_s=30.0, seed=0)
    nwb = nwbfile(4)
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=rec.get_traces().astype(np.float32),
                                         electrodes=region(nwb, [0, 1, 2, 3]), conversion=1e-6, rate=30000.0))
    path = write(nwb, tmp_path_factory.mktemp("tetrode") / "tetrode.nwb")
    xy = rec.get_channel_locations()
    counts = [len(truth.get_unit_spike_train(u)) for u, s in zip(truth.unit_ids, snr) if s >= 8]
    return path, {ch: (float(x), float(y)) for ch, (x, y) in zip(CHANNELS, xy)}, counts


def _csv(path: Path, rows) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["channel", "x_um", "y_um"])
        w.writerows(rows)
    return path


def test_a_positions_file_places_the_tetrode_and_its_units_are_found(tetrode, tmp_path, capsys):
    path, xy, counts = tetrode
    pos = _csv(tmp_path / "probe.csv", [(ch, x, y) for ch, (x, y) in xy.items()])
    out = tmp_path / "out"
    code = main(["analyze", str(path), "--sort-units", "--positions", str(pos), "--out", str(out), "--json",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    with (out / "units.csv").open() as fh:
        units = list(csv.DictReader(fh))
    assert units and all(u["channels"] == "+".join(CHANNELS) for u in units)  # sorted as one group
    # every ground-truth unit of SNR >= 8 has a sorted unit of about its spike count
    found = sorted(int(u["count"]) for u in units)
    for n in counts:
        assert min(abs(f - n) for f in found) <= 0.1 * n, (counts, found)


@pytest.mark.parametrize(("content", "suffix", "message"), [
    ("channel,x_um,y_um\nch0,0,0\nch1,abc,0\nch2,0,20\nch3,20,20\n", ".csv", "line 3: x_um 'abc' is not a finite number"),
    ("chan,x,y\nch0,0,0\n", ".csv", "the header has no 'channel', 'x_um', 'y_um' column"),
    ('{"ch0": [0, 0], "ch1": [0]}', ".json", "channel 'ch1': position [0] is not a pair [x_um, y_um]"),
    ("- {channel: ch0, x_um: 0}\n", ".yaml", "record 0"),
    ("channel,x_um,y_um\nch0,0,0\n", ".txt", "suffix '.txt' is not .csv, .json, .yaml or .yml"),
    # a channel the recording does not have, and a grouped channel without a position
    ("channel,x_um,y_um\nch0,0,0\nch1,0,20\nch2,20,0\nch3,20,20\nch9,40,0\n", ".csv",
     "channel 'ch9' is not a channel of"),
    ("channel,x_um,y_um\nch0,0,0\nch1,0,20\nch2,20,0\n", ".csv", "no position for ['ch3'] of channel group"),
    ("channel,x_um,y_um\nch0,0,0\nch1,0,0\nch2,20,0\nch3,20,20\n", ".csv", "at the same position"),
])
def test_a_bad_positions_file_is_refused_in_one_line_naming_it(tetrode, tmp_path, capsys, content, suffix, message):
    path = tetrode[0]
    pos = tmp_path / f"probe{suffix}"
    pos.write_text(content)
    code = main(["analyze", str(path), "--sort-units", "--positions", str(pos), "--out", str(tmp_path / "o"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert message in err and str(pos) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_analyze_batch_takes_positions_too(tmp_path):
    from app.cli.main import build_parser

    pos = _csv(tmp_path / "p.csv", [("a", 0, 0), ("b", 0, 20)])
    args = build_parser().parse_args(["analyze-batch", "x.h5", "--positions", str(pos)])
    from app.cli.analyze import params_from

    params = params_from(args)
    assert dict(params.positions_um) == {"a": (0.0, 0.0), "b": (0.0, 20.0)}
    # the batch's workers get the parameters pickled: the positions and their file survive it
    again = pickle.loads(pickle.dumps(params))
    assert dict(again.positions_um) == dict(params.positions_um) and again.positions_um.source == str(pos)


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-:.", min_size=1, max_size=12)
UM = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(NAMES, st.tuples(UM, UM), min_size=1, max_size=16), st.sampled_from([".csv", ".json", ".yaml"]))
def test_positions_read_back_as_written_in_every_format(tmp_path, positions, suffix):
    import yaml

    path = tmp_path / f"p{suffix}"
    if suffix == ".csv":
        _csv(path, [(ch, repr(x), repr(y)) for ch, (x, y) in positions.items()])
    elif suffix == ".json":
        path.write_text(json.dumps([{"channel": ch, "x_um": x, "y_um": y} for ch, (x, y) in positions.items()]))
    else:
        path.write_text(yaml.safe_dump({ch: [x, y] for ch, (x, y) in positions.items()}))
    got = read_positions(path)
    assert dict(got) == positions and got.source == str(path)
