"""The split pass after a group's sorter (analysis.sorting_split): two alike neurons kept as
one unit come apart; one neuron whose spike times a sorter placed with a bimodal sub-sample
error stays one."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.sorting_split import MIN_SPIKES, split_units

RATE_HZ = 30000.0
N = int(40 * RATE_HZ)


def _spike(t_ms: np.ndarray) -> np.ndarray:
    """A trough and a slower after-hyperpolarisation, peak −1 (in the noise σ's units)."""
    return -np.exp(-(t_ms / 0.12) ** 2) + 0.3 * np.exp(-((t_ms - 0.45) / 0.3) ** 2)


def _recording(units, seed: int):
    """Whitened-like noise (σ 1 on 4 channels) with each unit's spikes added: ``units`` is a list
    of (channel gains, spike frames, sub-sample offsets).  Returns the SpikeInterface recording."""
    from spikeinterface.core import NumpyRecording

    x = np.random.default_rng(seed).normal(0.0, 1.0, (N, 4)).astype(np.float32)
    t = np.arange(-30, 60)
    for gains, frames, offsets in units:
        for f, o in zip(frames, offsets):
            x[f + t] += (_spike((t - o) / RATE_HZ * 1e3)[:, None] * np.asarray(gains)[None, :]).astype(np.float32)
    return NumpyRecording([x], RATE_HZ)


def _frames(rng, count: int) -> np.ndarray:
    return np.sort(rng.choice(np.arange(100, N - 100, 200), count, replace=False))


def test_two_alike_neurons_sorted_as_one_unit_are_split_into_the_two():
    rng = np.random.default_rng(1)
    a, b = _frames(rng, 400), _frames(rng, 350)
    b = np.setdiff1d(b, a)
    gains_a, gains_b = [12.0, 9.0, 4.0, 2.0], [9.0, 12.0, 4.0, 2.0]  # alike: same shape, largest on a neighbour
    rec = _recording([(gains_a, a, rng.uniform(-0.5, 0.5, len(a))), (gains_b, b, rng.uniform(-0.5, 0.5, len(b)))], 2)
    parts = split_units(rec, [np.union1d(a, b)])
    assert len(parts) == 2
    for truth in (a, b):
        best = max(parts, key=lambda p: len(np.intersect1d(p, truth)))
        agreement = len(np.intersect1d(best, truth)) / len(np.union1d(best, truth))
        assert agreement > 0.95, agreement


@pytest.mark.parametrize("seed", [3, 4])
def test_one_neuron_with_bimodal_sub_sample_timing_stays_one_unit(seed):
    rng = np.random.default_rng(seed)
    frames = _frames(rng, 500)
    # a sorter's spike times a third of a sample early or half a sample late (as tridesclous2's were
    # on the tetrode ground truth, seed 8): the snippets differ along the time derivative only
    offsets = np.where(rng.random(len(frames)) < 0.7, -0.3, 0.5) + rng.normal(0, 0.05, len(frames))
    rec = _recording([([14.0, 10.0, 5.0, 2.0], frames, offsets)], seed)
    (part,) = split_units(rec, [frames])
    assert np.array_equal(part, frames)


def test_a_unit_too_small_to_split_is_kept_as_it_is():
    rng = np.random.default_rng(5)
    a, b = _frames(rng, MIN_SPIKES - 10), _frames(rng, MIN_SPIKES - 10)
    rec = _recording([([12.0, 9.0, 4.0, 2.0], a, np.zeros(len(a))), ([2.0, 4.0, 9.0, 12.0], b, np.zeros(len(b)))], 6)
    train = np.union1d(a, b)
    (part,) = split_units(rec, [train])
    assert np.array_equal(part, train)
