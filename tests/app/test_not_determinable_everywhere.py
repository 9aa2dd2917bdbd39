"""GABA under bicuculline (protocols/examples/antagonist_series.yaml on sim:cortex, its waits
shortened): the antagonist abolishes the GABA response, and every place that shows the fit —
the text output, fits.csv, analysis.json, report.html, the dose-response figure, the batch
summary and the rig window's live panel — says "not determinable" with its reasons, never
an EC50 number."""

import csv
import json
import re

import numpy as np
import pytest

from analysis.batch import analyze_file, summary_rows
from analysis.fit import fit_ll4
from analysis.pipeline import AnalysisParams
from app.cli.demo import example_protocol
from app.cli.main import main
from app.session import load_any_protocol, run_protocol

KEY = "gaba:GABA + bicuculline 40 nA"
SHORTER = {"recovery_s": 30, "antagonist_baseline_s": 40, "washout_s": 30, "recovery_series": False}


@pytest.fixture(scope="module")
def gaba_bic(tmp_path_factory):
    d = tmp_path_factory.mktemp("gabic")
    lp = load_any_protocol(example_protocol("antagonist_series.yaml"), SHORTER)
    h5 = d / "gabic.h5"
    assert run_protocol(lp.factory(), lp.info, h5, device_url="sim:cortex", speed=None, seed=1).error is None
    return d, h5


def test_analyze_says_not_determinable_in_text_tables_report_and_figure(gaba_bic, capsys):
    d, h5 = gaba_bic
    out = d / "out"
    assert main(["analyze", str(h5), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith(KEY))
    assert "EC50 not determinable" in line and re.search(r"EC50 [0-9]", line) is None
    assert "why:" in text
    doc = json.loads((out / "analysis.json").read_text())
    fit = doc["fits"][KEY]
    assert fit["status"] == "not determinable" and fit["ec50"] is None and fit["ec50_ci"] == [None, None]
    assert fit["reasons"] and fit["i50"] is None
    with (out / "fits.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if r["curve"] == KEY)
    assert row["status"] == "not determinable" and row["ec50"] == row["ec50_lo"] == row["ec50_hi"] == ""
    assert row["reasons"]
    html = (out / "report.html").read_text()
    cells = re.search(re.escape(KEY) + r"</td>(.*?)</tr>", html).group(1)
    assert "not determinable" in cells and ("open" in cells or "flat line" in cells)
    svg = (out / "dose_response.svg").read_text()
    assert "EC50 not determinable" in svg
    (comp,) = doc["comparisons"]
    assert comp["ec50_ratio"] is None and "not determinable" in comp["note"]


def test_the_batch_summary_has_its_status_and_reasons(gaba_bic):
    _, h5 = gaba_bic
    outcome = analyze_file(str(h5), AnalysisParams())
    row = next(r for r in summary_rows(outcome) if r["condition"] == "GABA + bicuculline 40 nA")
    assert row["fit_status"] == "not determinable" and row["ec50"] is None and row["fit_reasons"]
    assert row["responder"] is False


def test_the_live_panel_shows_no_number_for_it(qtbot):
    from app.gui.live_fit import LiveFits
    from app.gui.recording_panel import DoseResponseView

    x = np.array([0, 0, 0, 10, 20, 40, 10, 20, 40.0])
    y = np.array([2.0, -3.0, 1.0, -1.0, 4.0, -3.0, 2.0, -5.0, 1.0])
    fit = fit_ll4(x, y, "nA")
    assert fit.status == "not determinable"
    view = DoseResponseView()
    qtbot.addWidget(view)
    view.show_fits(LiveFits(points={KEY: (x, y)}, fits={KEY: fit}, barrels={KEY: "gaba"}))
    label = view.fit_label.text()
    assert "EC50 not determinable" in label and re.search(r"EC50 [0-9]", label) is None and "why:" in label
