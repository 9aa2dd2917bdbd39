"""``python -m bench`` works end to end on its cheapest benchmark (the figures themselves are
timing-dependent: CI runs no benchmark, only this smoke test of the harness)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_protocols_bench_writes_its_table(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "bench_protocols", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((tmp_path / "results-protocols.json").read_text())
    assert doc["meta"]["mode"] == "quick" and doc["meta"]["failed"] == []
    (row,) = doc["rows"]
    assert row["bench"] == "protocols" and row["ours"] > 0 and row["reference"] > 0 and row["met"] is not None
    assert row["command"] == ".venv/bin/python -m bench --only bench_protocols --quick"
    assert row["peak_MB"] > 0
    md = (tmp_path / "results-protocols.md").read_text()
    assert "| bench | metric | ours | reference | ratio |" in md and "dry run, demo dose-response" in md


def test_an_unknown_bench_is_a_clear_error(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bench", "--only", "bench_nosuch", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "no benchmark bench_nosuch" in p.stderr and "bench_sim" in p.stderr
