"""The long SIGKILL loop: 50 kills of a recording process at random moments (``make fault``).
The checks are those of ``tests/daq/test_recording_crash.py`` (whose short loop runs in CI);
the figures go to docs/reliability.md when ``IONTO_FIGURES`` names it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "soak"))
from soak import write_section

from tests.daq.test_recording_crash import ALLOWANCE_S, FLUSH_S, _kill_loop
from tests.daq.test_recording_crash import reference as reference

KILLS = 50


@pytest.mark.long
def test_sigkill_fifty_times(tmp_path, reference, request):
    if "long" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the long kill loop runs with -m long (make fault / make bench)")
    results = _kill_loop(KILLS, tmp_path, reference, seed=2)
    crashed = [r for r in results if not r["finished"]]
    assert len(crashed) >= KILLS - 5
    lost = sorted(r["unsaved_s"] for r in crashed)
    text = (f"{len(results)} SIGKILLs of `ionto run`-equivalent recording processes (`make fault`; "
            f"{len(crashed)} killed mid-run, {len(results) - len(crashed)} had finished): every file opened, "
            f"held exactly the samples of a complete run up to its last commit (bit-identical), every event "
            f"handed to the recorder more than {FLUSH_S} s + {ALLOWANCE_S} s before the kill, and `ionto info` / "
            f"`ionto analyze` ran on it.  Acquisition not yet committed at the kill (the data lost): median "
            f"{lost[len(lost) // 2]:.3f} s, worst {lost[-1]:.3f} s of acquisition (flush interval {FLUSH_S} s; "
            f"1-min load average {os.getloadavg()[0]:.1f}).")
    print("\n" + text)
    doc = os.environ.get("IONTO_FIGURES")
    if doc:
        write_section(Path(doc), "kill", text)
