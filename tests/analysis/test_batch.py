"""Batch analysis on a local Dask cluster (2 worker processes): several small recordings,
one NWB file and one corrupt file; the corrupt one is reported and the others go on."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time

import pytest

from analysis.batch import (
    ROW_FIELDS,
    analyze_file,
    expand_inputs,
    run_batch,
    summary_rows,
    write_batch,
)
from analysis.nwb_export import export_nwb
from analysis.pipeline import AnalysisParams
from app.session import load_any_protocol, run_protocol
from daq.errors import ConfigError

DOSE_RESPONSE = """name: batch dose-response
plan: dose_response
params: {barrel: glu, currents_nA: [10, 30, 90], eject_s: 5, recovery_s: 5, baseline_s: 5}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    (d / "dr.yaml").write_text(DOSE_RESPONSE)
    lp = load_any_protocol(d / "dr.yaml")
    data = d / "data"
    for seed in (1, 2):
        assert run_protocol(lp.factory(), lp.info, data / f"cell{seed}.h5", speed=None, seed=seed).error is None
    export_nwb(data / "cell2.h5", data / "cell2-copy.nwb", metadata=None)
    good = (data / "cell1.h5").read_bytes()
    (data / "corrupt.h5").write_bytes(good[: len(good) // 3])  # a recording cut short by a full disk
    return d, data


def test_expand_inputs(files, tmp_path):
    _, data = files
    assert [p.name for p in expand_inputs([str(data)])] == ["cell1.h5", "cell2-copy.nwb", "cell2.h5", "corrupt.h5"]
    assert [p.name for p in expand_inputs([str(data / "cell*.h5"), str(data / "cell1.h5")])] == ["cell1.h5", "cell2.h5"]
    with pytest.raises(ConfigError, match="no such file, directory or matching pattern"):
        expand_inputs([str(tmp_path / "missing.h5")])
    with pytest.raises(ConfigError, match=r"matches no recording \(looked for .h5, .hdf5, .nwb files\)"):
        expand_inputs([str(tmp_path / "*.h5")])


@pytest.fixture(scope="module")
def cli_run(files):
    d, data = files
    out = d / "out"
    p = subprocess.run([sys.executable, "-m", "app.cli.main", "analyze-batch", str(data), "--workers", "2",
                        "--out", str(out), "--baseline-s", "4", "--response-s", "3", "--timeout-s", "30", "--json"],
                       capture_output=True, text=True, timeout=300)
    return p, out


def test_cli_batch_on_a_local_cluster_reports_the_corrupt_file_and_goes_on(cli_run):
    p, _ = cli_run
    assert p.returncode == 1, p.stderr  # one file failed
    doc = json.loads(p.stdout)
    assert doc["n_files"] == 4 and doc["n_failed"] == 1
    assert doc["scheduler"] == "local cluster (2 worker processes)"
    (failed,) = doc["failed"]
    assert failed["file"].endswith("corrupt.h5") and failed["error"]  # damaged, or hung and stopped
    assert "analysing" in p.stderr and "failed: " in p.stderr  # progress and the failure on stderr
    rows = {(r["file"].rsplit("/", 1)[1], r["status"]): r for r in doc["rows"]}
    assert set(rows) == {("cell1.h5", "ok"), ("cell2.h5", "ok"), ("cell2-copy.nwb", "ok"), ("corrupt.h5", "failed")}
    for name in ("cell1.h5", "cell2.h5", "cell2-copy.nwb"):
        r = rows[(name, "ok")]
        assert (r["channel"], r["barrel"], r["drug"], r["n_epochs"], r["dose_unit"]) == (
            "electrode", "glu", "glutamate", 3, "nA")
        assert r["n_spikes"] > 0 and r["fit_status"] in ("fitted", "at a search limit", "not determinable")
        # an EC50 the data do not determine is no number, and its reasons are in the row
        assert (r["ec50"] is None) == (r["fit_status"] == "not determinable")
        assert (r["fit_status"] == "fitted") == (r["fit_reasons"] == "")
        assert r["ci_level"] == 0.95 and r["points"].startswith("one per ejection")
    # the NWB export of cell2 gives cell2's result
    a, b = rows[("cell2-copy.nwb", "ok")], rows[("cell2.h5", "ok")]
    assert a["fit_status"] == b["fit_status"] and a["hill"] == pytest.approx(b["hill"], rel=1e-9)
    (pop,) = doc["population"]
    assert pop["condition"] == "glutamate" and pop["n_cells"] == 3 and pop["n_files"] == 3
    assert pop["n_responders"] + pop["n_non_responders"] + pop["n_unclassified"] == 3


def test_summary_files(cli_run):
    _, out = cli_run
    with (out / "summary.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(ROW_FIELDS) and len(table) == 4
    assert [r["status"] for r in table].count("failed") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_failed"] == 1 and len(summary["files"]) == 4
    per_file = json.loads((out / "files" / "cell1.json").read_text())
    assert per_file["status"] == "ok" and per_file["analyses"][0]["fits"]["glu:glutamate"]["status"]
    with (out / "population.csv").open() as fh:
        (pop,) = list(csv.DictReader(fh))
    assert pop["condition"] == "glutamate" and pop["n_cells"] == "3" and "F test" in pop["responder_criterion"]
    assert summary["population"][0]["n_cells"] == 3 and len(summary["cells"]) == 3
    for ext in ("png", "svg"):
        assert (out / f"population_curves.{ext}").stat().st_size > 5000


def hang_on_corrupt(path, params):
    """The per-file task, except that a damaged file hangs (as the HDF5 library can)."""
    if path.endswith("corrupt.h5"):
        time.sleep(300)
    return analyze_file(path, params)


def test_an_existing_cluster_by_address_and_a_file_that_hangs(files):
    from dask.distributed import LocalCluster

    _, data = files
    seen = []
    t0 = time.monotonic()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_batch([data / "corrupt.h5", data / "cell1.h5"], AnalysisParams(baseline_s=4, response_s=3),
                           # 30 s: a fresh worker compiles the detector's numba kernels on first use
                           scheduler=cluster.scheduler_address, timeout_s=30, task=hang_on_corrupt,
                           progress=lambda o, k, n: seen.append((k, n)))
    assert time.monotonic() - t0 < 150  # the hung file did not hold the batch
    assert result.scheduler == cluster.scheduler_address and result.n_workers == 2
    assert [o["status"] for o in result.outcomes] == ["failed", "ok"]  # in the order given
    assert result.outcomes[0]["error_type"] == "Timeout" and "no result after 30 s" in result.outcomes[0]["error"]
    assert sorted(seen) == [(1, 2), (2, 2)]


def test_an_unreachable_scheduler_is_a_clear_error(files):
    _, data = files
    with pytest.raises(ConfigError, match=re.escape("cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")):
        run_batch([data / "cell1.h5"], scheduler="tcp://127.0.0.1:9", connect_timeout_s=2)


def test_summary_rows_of_controls_fits_and_failures(tmp_path):
    outcome = {"file": "a.h5", "status": "ok", "analyses": [{
        "duration_s": 100.0, "rates": {"mean_rate_hz": 5.0}, "spikes": {"e0": {"count": 500}},
        "epochs": [
            {"barrel": "glu", "drug": "glutamate", "control": False, "percent_change": 50.0, "flags": []},
            {"barrel": "glu", "drug": "glutamate", "control": False, "percent_change": 90.0, "flags": ["gap"]},
            {"barrel": "nacl", "drug": "NaCl", "control": True, "percent_change": 2.0, "flags": []}],
        "fits": {"glu:glutamate": {"ec50": 12.0, "ec50_ci": [9.0, 16.0], "hill": 1.2, "top": 100.0,
                                   "bottom": 0.0, "dose_unit": "nA", "r_squared": 0.9, "n_points": 12}},
        "fit_errors": {}}]}
    glu, nacl = summary_rows(outcome)
    assert (glu["ec50"], glu["ec50_ci_low"], glu["ec50_ci_high"], glu["n_flagged"]) == (12.0, 9.0, 16.0, 1)
    assert glu["mean_percent_change"] == 50.0  # the flagged epoch is not used
    assert (nacl["role"], nacl["ec50"], nacl["mean_percent_change"]) == ("control", None, 2.0)
    (bad,) = summary_rows({"file": "b.h5", "status": "failed", "error": "boom", "error_type": "KilledWorker"})
    assert bad["error"] == "KilledWorker: boom" and bad["channel"] is None
    from analysis.batch import BatchResult

    paths = write_batch(BatchResult([outcome, outcome], [glu, nacl], 1.0, "test", 1), tmp_path)
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["a-2.json", "a.json"]
    assert paths["csv"].endswith("summary.csv")
