"""Start-up cost of the command line: building ``ionto``'s parser (what ``ionto --help`` and
every verb do first) imports no heavy library; each verb imports what it uses when it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("scipy", "matplotlib", "pynwb", "hdmf", "spikeinterface", "dask", "distributed", "numba", "h5py", "pydantic",
         "PyQt6", "pyqtgraph", "nidaqmx", "grpc")

PROBE = """
import json, sys
import app.cli.main as m
parser = m.build_parser()
verbs = sorted(parser._subparsers._group_actions[0].choices)
print(json.dumps({"loaded": sorted(k for k in sys.modules if k.split('.')[0] in HEAVY), "verbs": verbs}))
"""


def test_building_the_parser_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"], capture_output=True, text=True,
                         timeout=120, check=True)
    doc = json.loads(out.stdout)
    assert {"analyze", "export-nwb", "gui", "run", "sim-server", "fit", "demo"} <= set(doc["verbs"])
    assert doc["loaded"] == []


def test_a_verb_still_imports_what_it_uses_when_it_runs(tmp_path):
    """The lazy imports are real imports: ``ionto fit`` runs a fit (scipy) after the cheap start."""
    table = tmp_path / "t.csv"
    table.write_text("dose,response\n" + "".join(f"{d},{100 * d / (d + 10):.3f}\n"
                                                 for d in (1, 2, 5, 10, 20, 50, 100, 200)))
    out = subprocess.run([sys.executable, "-m", "app.cli.main", "fit", str(table), "--json"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert abs(json.loads(out.stdout)["fits"]["response"]["ec50"] - 10) < 1


def test_export_nwb_offers_the_compressions_the_exporter_knows():
    from analysis.nwb_export import COMPRESSIONS
    from app.cli import export_nwb

    assert export_nwb.COMPRESSIONS == COMPRESSIONS


def test_the_rig_windows_modules_load_no_analysis_or_simulator_before_the_window_opens():
    """What ``ionto gui`` imports before its first paint: Qt, pyqtgraph, the models and the
    session — the detector (scipy, numba), the simulator and the analysis load on connect."""
    probe = ("import json, sys\nimport app.gui.main_window\n"
             "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
             "('scipy', 'numba', 'mock_daq', 'matplotlib', 'pynwb', 'spikeinterface', 'dask'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert json.loads(out.stdout) == []


def test_the_preset_list_without_the_simulator_is_the_simulators():
    from app.live import sim_presets
    from mock_daq import list_presets

    assert sim_presets() == list_presets() and "cortex" in sim_presets()
