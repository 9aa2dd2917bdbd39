"""The demo's ground truth comes from the simulator's model (receptor EC50 at the diffusion
steady state), not from the analysis' own fit: it agrees with the simulator's stored expected
rate once an ejection is long enough to reach steady state, and it shifts with an antagonist."""

import math

import numpy as np
import pytest

from analysis.pipeline import AnalysisParams, analyze_recording
from app.session import load_any_protocol, run_protocol
from app.sim_truth import SteadyState, curve_truth, model_truths
from mock_daq import load_preset
from mock_daq.model import SimConfig

LONG = """name: long ejections
plan: dose_response
params: {barrel: glu, currents_nA: [10, 40], eject_s: 60, recovery_s: 40, baseline_s: 30}
"""


@pytest.fixture(scope="module")
def cortex():
    return SimConfig.model_validate(load_preset("cortex").simulation)


def test_the_true_ec50_is_half_way_to_the_model_plateau(cortex):
    ss = SteadyState(cortex, block=False)
    t = curve_truth(ss, "glutamate", {}, np.array([5.0, 80.0]))
    plateau = t.predict(np.array([1e6 * t.dose[-1]]))  # clamps at the curve's last dose
    half = float(np.interp(math.log(t.ec50), np.log(t.dose), t.response))
    big = curve_truth(ss, "glutamate", {}, np.array([5.0, 1e7]))
    assert half == pytest.approx(big.response[-1] / 2, rel=1e-3) and plateau[0] < big.response[-1]
    # at the receptor's EC50 the drive is half-maximal; refractoriness puts the rate's half-way point a little lower
    assert t.receptor_ec50_dose == pytest.approx(130.0 / t.concentration_uM_per_nA - 0.8, rel=1e-12)
    assert 0.85 * t.receptor_ec50_dose < t.ec50 < t.receptor_ec50_dose


def test_a_competitive_antagonist_shifts_the_true_ec50(cortex):
    ss = SteadyState(cortex, block=False)
    alone = curve_truth(ss, "GABA", {}, np.array([10.0, 40.0]))
    with_bic = curve_truth(ss, "GABA", {"bicuculline": 40.0}, np.array([10.0, 40.0]))
    c_bic = ss.uM_per_nA[ss.index("bicuculline")] * (40.0 + 0.5)  # leak_nA of bicuculline in the preset
    assert with_bic.receptor_ec50_uM == pytest.approx(100.0 * (1 + c_bic / 20.0), rel=1e-9)
    assert with_bic.ec50 > 5 * alone.ec50


def test_model_truth_matches_the_simulators_expected_rate_at_steady_state(tmp_path):
    (tmp_path / "long.yaml").write_text(LONG)
    lp = load_any_protocol(tmp_path / "long.yaml")
    h5 = tmp_path / "long.h5"
    assert run_protocol(lp.factory(), lp.info, h5, device_url="sim:cortex", speed=None, seed=3).error is None
    res = analyze_recording(h5, AnalysisParams(response_s=10.0), truth_model=model_truths)
    truth = res.truth["glu:glutamate"]
    assert truth.source.startswith("the simulator's model")
    for ep, tr in zip(res.epochs, res.truth_epochs):
        # after 50 s of ejection the simulator's noiseless rate has settled on the model's steady state
        assert tr.percent_change == pytest.approx(float(truth.predict(abs(ep.current_nA))), rel=0.05)
    # a recording that is not simulated has no model truth
    assert model_truths(object(), res.epochs, {}, "current") == {}
