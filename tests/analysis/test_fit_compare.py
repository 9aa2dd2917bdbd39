"""Comparing two curves: extra sum-of-squares F tests and the EC50 ratio."""

import numpy as np
import pytest

from analysis.fit_compare import compare_fits
from analysis.ll4 import ll4

X = np.repeat([0, 1, 3, 10, 30, 100, 300.0], 4)


def curve(ec50, seed, hill=1.2):
    rng = np.random.default_rng(seed)
    return ll4(X, hill, -90.0, 0.0, ec50) + rng.normal(0, 6, len(X))


def test_a_four_fold_shift_is_detected_and_measured():
    comp, fa, fb = compare_fits(X, curve(10, 1), X, curve(40, 2), "GABA", "GABA + bicuculline")
    assert comp.p_shared_ec50 < 1e-6 and comp.p_same_curve < 1e-6
    assert comp.ec50_ratio == pytest.approx(fb.ec50 / fa.ec50)
    assert comp.ec50_ratio_ci[0] < 4.0 < comp.ec50_ratio_ci[1]
    assert comp.aicc_separate < comp.aicc_shared_ec50  # the shifted model is preferred
    assert comp.df_shared_ec50 == (1, 2 * len(X) - 8)


def test_the_same_curve_twice_is_not_called_different():
    ps = []
    for seed in range(20):
        comp, _, _ = compare_fits(X, curve(10, 2 * seed), X, curve(10, 2 * seed + 1))
        ps.append(comp.p_shared_ec50)
        assert comp.ec50_ratio_ci[0] < 1.0 < comp.ec50_ratio_ci[1] or comp.p_shared_ec50 < 0.05
    assert np.mean(np.array(ps) < 0.05) <= 0.2  # about 5 % false positives expected


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 distinct doses"):
        compare_fits([1, 2, 3], [1, 2, 3], X, curve(10, 0))


@pytest.mark.parametrize(("sx", "sy"), [(1e-12, 1.0), (1.0, 1e-12), (1e12, 1e12), (1e-8, 1e-8)])
def test_scaling_doses_or_responses_gives_the_same_comparison(sx, sy):
    ya, yb = curve(10, 1), curve(40, 2)
    ref, _, _ = compare_fits(X, ya, X, yb)
    c, _, _ = compare_fits(X * sx, ya * sy, X * sx, yb * sy)
    for name in ("ec50_ratio", "f_shared_ec50", "f_same_curve", "aicc_separate", "aicc_shared_ec50"):
        a, b = getattr(c, name), getattr(ref, name)
        if name.startswith("aicc"):  # AICc shifts by 2n·ln(sy) when the n responses are scaled
            b += 2 * (2 * len(X)) * np.log(sy)
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9 * abs(b)), name
    assert c.ec50_ratio_ci == pytest.approx(ref.ec50_ratio_ci, rel=1e-6)
