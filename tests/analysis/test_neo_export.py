"""``ionto export-nwb`` of another system's file: the ABF, Open Ephys folder and NIX file that
real writers made from one ionto recording export to NWB, and the NWB reads back to the same
spikes and the same ejection epochs as the ionto recording itself."""

from __future__ import annotations

import numpy as np
import pytest
import synth
from neo_writers import write_abf, write_nix, write_open_ephys

from analysis.pipeline import AnalysisParams, analyze
from analysis.source import open_source
from app.cli.main import main
from daq.recording import Recording

PARAMS = AnalysisParams(baseline_s=10.0, response_s=5.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("neo_export")
    s = synth.Synth(duration_s=80, ejections=synth.dose_series("glu", [10, 30, 90], eject_s=10, gap_s=12,
                                                                start_s=15))
    synth.write(d / "rec.h5", s)
    with Recording(d / "rec.h5") as rec:
        out = {"abf": write_abf(rec, d / "rec.abf"), "open_ephys": write_open_ephys(rec, d / "oe", "glu"),
               "nix": write_nix(rec, d / "rec.nix")}
        ref = analyze(rec, PARAMS)
    return out, ref


@pytest.mark.parametrize("fmt", ["abf", "open_ephys", "nix"])
def test_another_systems_file_exports_to_nwb_with_the_same_spikes_and_epochs(files, fmt, tmp_path):
    paths, ref = files
    out = tmp_path / f"{fmt}.nwb"
    assert main(["export-nwb", str(paths[fmt]), str(out), "--no-units", "--species", "Rattus norvegicus",
                 "--sex", "M", "--age", "P90D", "--subject-id", "r1"]) == 0
    with open_source(out) as src:
        res = analyze(src, PARAMS)
    np.testing.assert_array_equal(res.spike_index, ref.spike_index)
    assert [(e.barrel, e.current_nA, e.onset, e.offset) for e in res.epochs] == \
        [(e.barrel, e.current_nA, e.onset, e.offset) for e in ref.epochs]


def test_an_nwb_file_is_not_exported_again(files, tmp_path, capsys):
    paths, _ = files
    out = tmp_path / "a.nwb"
    assert main(["export-nwb", str(paths["abf"]), str(out), "--no-units", "--species", "Rattus norvegicus",
                 "--sex", "M", "--age", "P90D", "--subject-id", "r1"]) == 0
    capsys.readouterr()
    assert main(["export-nwb", str(out), str(tmp_path / "b.nwb")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already an NWB file" in err[0]
