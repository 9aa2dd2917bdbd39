"""The 4PL fit recovers known parameters and its CI covers the truth."""

import numpy as np
import pytest

from analysis.fit import fit_ll4, ll4


def test_exact_data_gives_exact_parameters():
    x = np.array([1, 2, 5, 10, 20, 50, 100.0])
    y = ll4(x, b=-1.3, c=5.0, d=95.0, e=12.0)
    f = fit_ll4(x, y)
    assert f.ec50 == pytest.approx(12.0, rel=1e-5)
    assert f.hill == pytest.approx(1.3, rel=1e-5)
    assert f.bottom == pytest.approx(5.0, abs=1e-4)
    assert f.top == pytest.approx(95.0, abs=1e-4)


def test_inhibition_curve_and_zero_dose():
    x = np.array([0, 0, 2, 2, 5, 5, 10, 10, 20, 20, 50, 50.0])
    y = ll4(x, b=1.5, c=-90.0, d=0.0, e=8.0)  # falls from 0 % to -90 %
    f = fit_ll4(x, y)
    assert f.ec50 == pytest.approx(8.0, rel=1e-4)
    assert f.hill == pytest.approx(-1.5, rel=1e-4)


def test_ci_covers_the_truth_in_most_noisy_replicates():
    rng = np.random.default_rng(0)
    x = np.repeat([1, 3, 10, 30, 100.0], 8)
    hits = 0
    for _ in range(60):
        y = ll4(x, -1.0, 0.0, 100.0, 10.0) + rng.normal(0, 8, len(x))
        f = fit_ll4(x, y)
        hits += f.ec50_ci[0] <= 10.0 <= f.ec50_ci[1]
    assert hits >= 50  # nominal 95 %: ≥ 83 % of 60 allows for the Wald approximation


def test_too_few_doses_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3 distinct positive doses"):
        fit_ll4([1, 1, 2, 2], [1, 2, 3, 4])
