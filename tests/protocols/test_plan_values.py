"""Any value a plan yields is checked, with one line naming the plan file and line — the
issue's `Eject('glu', None)`, a string, a list, an array were internal errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daq.engine_api import Eject, Retain, SetCurrent

PLAN = '''from protocols import Eject, Wait
import numpy as np


def plan(kind: str = "none"):
    yield Wait(1)
    if kind == "none":
        yield Eject("glu", None)
    elif kind == "bool":
        yield Eject("glu", True)
    elif kind == "str":
        yield "eject glu"
    elif kind == "array":
        yield np.array([1.0, 2.0])
    elif kind == "list":
        yield [Eject("glu", 10)]
    yield Wait(1)
'''
LINES = {"none": 8, "bool": 10, "str": 12, "array": 14, "list": 16}


@pytest.mark.parametrize("kind", sorted(LINES))
def test_a_bad_value_yielded_by_a_plan_is_one_line_naming_the_file_and_line(tmp_path, kind):
    plan = tmp_path / "myplan.py"
    plan.write_text(PLAN)
    p = subprocess.run([sys.executable, "-m", "app.cli.main", "run", str(plan), "-p", f"kind={kind}",
                        "--out", str(tmp_path / "r.h5")], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    assert f"myplan.py line {LINES[kind]}" in p.stderr, p.stderr
    assert not (tmp_path / "r.h5").exists()  # refused by the check: no current flowed


@pytest.mark.parametrize("make", [
    lambda: Eject("glu", None), lambda: Eject("glu", True), lambda: Eject("glu", "50"),
    lambda: Eject("glu", float("nan")), lambda: Eject("glu", 10, polarity=2), lambda: Eject(None, 10),
    lambda: Retain("glu", float("inf")), lambda: SetCurrent("glu", [1.0]),
])
def test_current_commands_refuse_values_that_are_not_finite_numbers(make):
    with pytest.raises((TypeError, ValueError), match=r"current_nA|polarity|barrel"):
        make()
