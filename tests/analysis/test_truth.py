"""Matching detected spikes to ground truth one-to-one."""

import numpy as np

from analysis.truth import match_spikes


def test_each_detection_matches_at_most_one_true_spike():
    truth = np.array([100, 104, 300])
    detected = np.array([102, 299, 500])
    hits, recall, precision = match_spikes(detected, truth, tol=5)
    assert hits == 2  # 102 serves 100 only; 104 stays unmatched
    assert recall == 2 / 3 and precision == 2 / 3
    assert match_spikes(np.zeros(0), truth, 5) == (0, 0.0, 0.0)
