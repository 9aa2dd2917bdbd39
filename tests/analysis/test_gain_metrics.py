"""The per-condition measures of the trial analysis against hand-computed cases and a
reference implementation: AUROC (scikit-learn's roc_auc_score), Fano factor and modulation
index (numpy by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from analysis.trials import auroc, fano_factor, modulation_index

rates = st.lists(st.floats(0, 200, allow_nan=False).map(lambda x: round(x, 1)), min_size=1, max_size=30)


def test_auroc_of_a_hand_computed_case():
    # drug 3 vs control 1: win, 3 vs 3: tie (½), 5 vs 1: win, 5 vs 3: win → 3.5 of 4 pairs
    assert auroc([3, 5], [1, 3]) == pytest.approx(0.875)
    assert auroc([1, 2], [3, 4]) == 0.0 and auroc([3, 4], [1, 2]) == 1.0


@settings(deadline=None)  # a busy 2-core machine: no per-example time limit
@given(rates, rates)
def test_auroc_equals_scikit_learns_roc_auc_score_with_drug_as_the_positive_class(drug, control):
    labels = np.r_[np.ones(len(drug)), np.zeros(len(control))]
    want = roc_auc_score(labels, np.r_[drug, control])
    assert auroc(drug, control) == pytest.approx(want, abs=1e-12)


def test_auroc_without_trials_on_one_side_is_undefined():
    assert math.isnan(auroc([], [1.0])) and math.isnan(auroc([1.0], []))


def test_fano_factor_of_a_hand_computed_case():
    # counts 2, 4, 6: mean 4, sample variance ((−2)² + 0 + 2²) / 2 = 4 → 1
    assert fano_factor(np.array([2, 4, 6])) == pytest.approx(1.0)
    assert fano_factor(np.array([1, 1, 4])) == pytest.approx(3.0 / 2.0)  # mean 2, variance (1 + 1 + 4) / 2 = 3


@settings(deadline=None)  # a busy 2-core machine: no per-example time limit
@given(st.floats(0, 500), st.floats(0, 500))
def test_modulation_index_is_the_normalised_difference_and_antisymmetric(drug, control):
    mi = modulation_index(drug, control)
    if drug + control == 0:
        assert math.isnan(mi)
    else:
        assert mi == pytest.approx((drug - control) / (drug + control))
        assert modulation_index(control, drug) == pytest.approx(-mi)
        assert -1 <= mi <= 1
