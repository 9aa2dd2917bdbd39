"""A clogged barrel: its resistance jumps, the current source hits its compliance voltage, and
the delivered current is clipped — visible on the barrel's current monitor in the file and
flagged by the analysis on every ejection it spoiled."""

from __future__ import annotations

import pytest
from harness import check_ends_safe, ejection_plan, run_under_fault

from analysis.pipeline import analyze_recording
from daq.recording import Recording


def test_clogged_barrel_is_clipped_on_the_monitor_and_flagged_by_the_analysis(tmp_path):
    # 4 GΩ at the 100 V compliance: at most 25 nA gets through
    run = run_under_fault(tmp_path, faults=[{"kind": "clog", "at_s": 0.0, "barrel": "glu", "resistance_MOhm": 4000}],
                          plan=ejection_plan((10, 40, 80)))
    check_ends_safe(run)
    with Recording(run.path) as rec:
        glu = rec.physical(rec.monitor_channel("glu"))
        fs = rec.rate_hz
        assert glu[int(0.2 * fs):int(0.45 * fs)].mean() == pytest.approx(15.0, abs=0.5)  # retain: passes
        assert glu[int(3.2 * fs):int(3.45 * fs)].mean() == pytest.approx(-25.0, abs=0.5)  # 40 nA asked, clipped
        assert glu[int(5.2 * fs):int(5.45 * fs)].mean() == pytest.approx(-25.0, abs=0.5)  # 80 nA asked, clipped
    res = analyze_recording(run.path)
    flagged = {ep.current_nA: any("differs from the commanded" in f for f in ep.flags) for ep in res.epochs}
    assert flagged == {-10.0: False, -40.0: True, -80.0: True}
