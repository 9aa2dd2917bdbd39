"""The reports of drug × stimulus recordings show the tuning curves per drug condition: a
recording made on the simulated gain rig with an interleaved design (off, 30 nA, 60 nA ×
four orientations) through ``ionto gain --out`` and ``ionto analyze``: one figure per spike
train at 300 dpi whose SVG holds, per drug condition, one point per stimulus value; the fitted
tuning curves and the gain model; the tables with n, mean, SEM, Fano, AUROC and MI."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from app.cli.main import main
from tests.protocols.test_interleaved_trials import VALUES, record_interleaved

CONDITIONS = ["off", "30 nA", "60 nA"]
TRIALS_PER_CONDITION = 3


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return record_interleaved(tmp_path_factory.mktemp("interleaved"), seed=5,
                              trials_per_condition=TRIALS_PER_CONDITION)


def svg_points(svg: Path) -> dict[str, int]:
    """The markers drawn in each ``tuning:<condition>`` group of a tuning figure's SVG."""
    out = {}
    for g in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}g"):
        gid = g.get("id") or ""
        if gid.startswith("tuning:"):
            out[gid.removeprefix("tuning:")] = sum(1 for _ in g.iter("{http://www.w3.org/2000/svg}use"))
    return out


def check_tuning_report(out: Path, figure_png: Path, name: str) -> None:
    html = (out / "report.html").read_text()
    assert "<h2>Trials: tuning per drug condition and the gain</h2>" in html
    assert f"<img src='{figure_png.name}'" in html
    assert Image.open(figure_png).info["dpi"] == pytest.approx((300, 300), abs=0.5)
    # one curve per drug condition, a point per stimulus value
    assert svg_points(figure_png.with_suffix(".svg")) == dict.fromkeys(CONDITIONS, len(VALUES))
    with open(out / "tuning.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["unit"] == name]
    assert [(r["condition"], float(r["value"])) for r in rows] == [(c, v) for c in CONDITIONS for v in VALUES]
    assert {int(r["n_valid"]) for r in rows} == {TRIALS_PER_CONDITION}  # every trial valid, every cell full
    for r in rows:
        assert float(r["sem_rate_hz"]) >= 0 and r["fano"] != ""
        drug = r["condition"] != "off"
        assert (r["auroc_vs_control"] != "") == drug and (r["modulation_index"] != "") == drug
        if drug:
            assert 0 <= float(r["auroc_vs_control"]) <= 1 and -1 <= float(r["modulation_index"]) <= 1
    with open(out / "gain.csv", newline="") as fh:
        gains = [r for r in csv.DictReader(fh) if r["unit"] == name]
    assert [g["condition"] for g in gains] == ["30 nA", "60 nA"]  # each current against control on its own
    assert {g["preferred_model"] for g in gains} <= {"both", "multiplicative", "additive", "none"}
    with open(out / "tuning_fits.csv", newline="") as fh:
        fits = [r for r in csv.DictReader(fh) if r["unit"] == name]
    assert [(f["condition"], f["kind"]) for f in fits] == [(c, "orientation") for c in CONDITIONS]


def test_ionto_gain_writes_a_report_with_the_tuning_curve_of_every_drug_condition(recording, tmp_path, capsys):
    out = tmp_path / "gain"
    assert main(["gain", str(recording), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["report"] == str(out / "report.html")
    curves = doc["cells"][0]["curves"]
    assert list(curves) == CONDITIONS and curves["off"]["gain"] is None
    assert all(len(c["points"]) == len(VALUES) for c in curves.values())
    assert [curves[c]["current_nA"] for c in CONDITIONS] == [0, 30, 60]
    figure = Path(doc["cells"][0]["tuning_figure"]["png"])
    check_tuning_report(out, figure, "r")


def test_ionto_analyze_reports_the_tuning_per_drug_condition_of_a_recording_with_trials(recording, tmp_path,
                                                                                          capsys):
    out = tmp_path / "analysis"
    assert main(["analyze", str(recording), "--out", str(out)]) == 0
    check_tuning_report(out, out / "tuning-electrode.png", "electrode")


def test_the_tuning_figure_draws_each_conditions_fit_and_each_drug_conditions_gain_model(recording):
    from analysis.gain_figures import tuning_figure
    from analysis.gain_report import analyze_gain
    from daq.recording import Recording

    with Recording(recording) as rec:
        res = analyze_gain(rec, n_boot=20)
    fig = tuning_figure(res)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    for c in CONDITIONS:
        assert f"{c}: orientation fit" in labels
    for c in CONDITIONS[1:]:
        g = res.curves[c].gain
        assert f"{c}: g·control + a, g = {g.gain:.2f}, a = {g.offset_hz:+.1f} Hz ({g.preferred_model})" in labels
