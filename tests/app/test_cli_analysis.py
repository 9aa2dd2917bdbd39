"""``ionto analyze`` and ``ionto fit``: outputs, JSON keys, and clear errors."""

import json
import sys
from pathlib import Path

import pytest

from app.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from synth import Synth, dose_series, write

RYEGRASS = """rootl,conc
7.58,0\n8.0,0\n8.3285714,0\n7.25,0\n7.375,0\n7.9625,0\n8.3555556,0.94\n6.9142857,0.94\n7.75,0.94
6.8714286,1.88\n6.45,1.88\n5.9222222,1.88\n1.925,3.75\n2.8857143,3.75\n4.2333333,3.75\n1.1875,7.5
0.8571429,7.5\n1.0571429,7.5\n0.6875,15\n0.525,15\n0.825,15\n0.25,30\n0.22,30\n0.44,30
"""
FIT_KEYS = {"ec50", "ec50_ci", "hill", "top", "bottom", "dose_unit", "se", "ci", "r_squared", "aicc", "lack_of_fit",
            "n_points", "converged", "warnings"}


def run_json(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def test_fit_a_table(tmp_path, capsys):
    t = tmp_path / "ryegrass.csv"
    t.write_text(RYEGRASS)
    code, doc, _ = run_json(capsys, "fit", str(t), "--dose-unit", "mM", "--out", str(tmp_path / "o"))
    assert code == 0
    f = doc["fits"]["rootl"]
    assert FIT_KEYS <= set(f)
    assert f["ec50"] == pytest.approx(3.05795, rel=5e-5) and f["dose_unit"] == "mM"
    assert doc["dose_column"] == "conc" and doc["response_column"] == "rootl"
    assert (tmp_path / "o" / "fit.svg").exists() and (tmp_path / "o" / "fits.json").exists()


def test_fit_groups_are_compared(tmp_path, capsys):
    rows = ["dose;response;drug"]
    for g, e in (("alone", 10.0), ("antagonist", 40.0)):
        for k, d in enumerate([0, 1, 3, 10, 30, 100, 300]):
            for r in (-1, 0, 1):
                y = -90 * d**1.2 / (d**1.2 + e**1.2) + 3 * r + (k % 2)
                rows.append(f"{d};{y};{g}")
    rows.append("NA;3;alone")  # a missing dose is skipped, not an error
    t = tmp_path / "groups.csv"
    t.write_text("\n".join(rows) + "\n")
    code, doc, _ = run_json(capsys, "fit", str(t), "--group-col", "drug")
    assert code == 0 and set(doc["fits"]) == {"alone", "antagonist"} and doc["rows_skipped"] == 1
    (c,) = doc["comparisons"]
    assert c["label_a"] == "alone" and c["ec50_ratio"] == pytest.approx(4.0, rel=0.1) and c["p_shared_ec50"] < 1e-6


@pytest.mark.parametrize(("content", "args", "message"), [
    ("dose,response\n1,2\n2,abc\n", [], "line 3, column 'response': 'abc' is not a number"),
    ("dose,response\n1,2\n-2,3\n", [], "dose '-2' must be a number ≥ 0"),
    ("dose,response\n1,2\n", ["--response-col", "rate"], "no response column 'rate'; columns are ['dose', 'response']"),
    ("dose,response\n1,2\n2,3\n", [], "at least 4 distinct doses"),
])
def test_fit_errors_are_one_clear_line(tmp_path, capsys, content, args, message):
    t = tmp_path / "t.csv"
    t.write_text(content)
    code = main(["fit", str(t), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "rec.h5"
    write(path, Synth(duration_s=190, ejections=dose_series("glu", [10, 20, 40, 80], 12, 32, 32), seed=6, fs=15000.0))  # 0.45 × 15 kHz holds the default 300–6000 Hz band
    return path


def test_analyze_writes_tables_figures_and_report(recording, tmp_path, capsys):
    out = tmp_path / "out"
    code, doc, err = run_json(capsys, "analyze", str(recording), "--out", str(out), "--sort-units")
    assert code == 0, err
    assert {"epochs", "fits", "spikes", "rates"} <= set(doc)
    assert FIT_KEYS <= set(doc["fits"]["glu:glutamate"])
    sp = doc["spikes"]["electrode"]
    assert sp["count"] > 1000 and Path(sp["times_file"]).exists() and sp["units"][0]["label"] == "electrode:u0"
    assert len(doc["epochs"]) == 4 and all(e["used"] for e in doc["epochs"])
    for name in ("snippet", "raster", "ratemeter", "dose_response", "units"):
        for ext in ("png", "svg"):
            assert (out / f"{name}.{ext}").stat().st_size > 5000, (name, ext)
    html = (out / "report.html").read_text()
    assert "dose_response.png" in html and "EC50" in html and "glu:glutamate" in html
    for name in ("epochs.csv", "fits.csv", "rates.csv", "psth.csv", "units.csv", "analysis.json"):
        assert (out / name).exists(), name
    assert json.loads((out / "analysis.json").read_text())["fits"]["glu:glutamate"]["ec50"] == doc["fits"][
        "glu:glutamate"]["ec50"]
    # every separated unit: its quality metrics and cell type, in units.csv and in the report
    import csv
    with (out / "units.csv").open() as fh:
        units = list(csv.DictReader(fh))
    assert [u["unit"] for u in units] == [u["label"] for u in sp["units"]]
    for u in units:
        assert u["source"] == "separated" and u["cell_type"] in ("narrow", "broad")
        assert float(u["presence_ratio"]) > 0.5 and float(u["isi_violations_ratio"]) >= 0
    assert "presence ratio" in html and "electrode:u0" in html and "Siegle et al. 2021" in html


def test_analyze_errors_are_clear(tmp_path, recording, capsys):
    bad = tmp_path / "not.h5"
    bad.write_text("hello")
    assert main(["analyze", str(bad)]) == 1
    assert "not an HDF5 file" in capsys.readouterr().err
    assert main(["analyze", str(recording), "--out", str(tmp_path), "--response-s", "0"]) == 1
    assert "response_s must be > 0" in capsys.readouterr().err


def test_fit_labels_every_ci_with_the_level_asked_for(tmp_path, capsys):
    t = tmp_path / "ryegrass.csv"
    t.write_text(RYEGRASS)
    assert main(["fit", str(t), "--conf", "0.8"]) == 0
    text = capsys.readouterr().out
    assert "80 % CI" in text and "95 % CI" not in text
    _, doc, _ = run_json(capsys, "fit", str(t), "--conf", "0.8")
    assert doc["fits"]["rootl"]["ci_label"] == "80 % CI" and doc["fits"]["rootl"]["status"] == "fitted"


FLAT = "dose,response\n0,1\n0,-2\n1,3\n2,-1\n4,2\n8,-3\n16,1\n"


def test_a_flat_table_is_not_determinable_and_never_an_ec50_number(tmp_path, capsys):
    t = tmp_path / "flat.csv"
    t.write_text(FLAT)
    out = tmp_path / "o"
    assert main(["fit", str(t), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "EC50 not determinable" in text and "why: no dose dependence" in text
    _, doc, _ = run_json(capsys, "fit", str(t))
    f = doc["fits"]["response"]
    assert f["status"] == "not determinable" and f["ec50"] is None and f["ec50_ci"] == [None, None] and f["reasons"]
    svg = (out / "fit.svg").read_text()
    assert "EC50 not determinable" in svg and "EC50 " + "0" not in svg.replace("EC50 not", "")


def test_report_names_the_recording_and_prints_at_300_dpi(recording, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "out"
    code, doc, err = run_json(capsys, "analyze", str(recording), "--out", str(out))
    assert code == 0, err
    f = doc["fits"]["glu:glutamate"]
    assert f["status"] in ("fitted", "at a search limit", "not determinable") and f["ci_label"] == "95 % CI"
    assert f["points"].startswith("one per ejection") and f["n_points"] == 8
    assert doc["recording"]["analysed_with"] and "drugs" in doc["recording"]
    html = (out / "report.html").read_text()
    for words in ("recorded", "protocol", "pipette", "drugs", "analysed with ionto", "glutamate", "95 % CI",
                  "overview.png", "status"):
        assert words in html, words
    for name in ("dose_response", "ratemeter", "overview"):
        dpi = Image.open(out / f"{name}.png").info["dpi"]
        assert round(dpi[0]) == 300, (name, dpi)
    header = (out / "fits.csv").read_text().splitlines()[0].split(",")
    assert {"status", "reasons", "ci_level", "points"} <= set(header)
