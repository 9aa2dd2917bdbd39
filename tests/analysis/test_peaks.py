"""The peak rule: identical spikes however the signal is cut; dead time; largest peak wins."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.peaks import PeakFinder

RNG = np.random.default_rng(3)
Z = RNG.standard_normal((40000, 2))


def run(z, cuts, dead=20, polarity="neg", thr=3.0):
    pf = PeakFinder(z.shape[1], dead, polarity)
    edges = sorted({0, len(z), *[c % len(z) for c in cuts]})
    out = [pf.find(z[a:b], a, np.full(z.shape[1], thr)) for a, b in itertools.pairwise(edges)]
    out.append(pf.flush())
    rows = np.concatenate([o[0] for o in out])
    chans = np.concatenate([o[1] for o in out])
    return [np.sort(rows[chans == c]) for c in range(z.shape[1])]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=20), st.sampled_from(["neg", "pos", "both"]))
def test_chunking_never_changes_the_spikes(cuts, polarity):
    whole = run(Z, [], polarity=polarity)
    cut = run(Z, cuts, polarity=polarity)
    assert len(whole) == len(cut) == Z.shape[1] and all(len(s) > 10 for s in whole)  # there are spikes to compare
    for a, b in zip(whole, cut):
        assert np.array_equal(a, b)


def test_dead_time_and_largest_peak_of_each_event():
    dead = 20
    spikes = run(Z, [], dead=dead)
    assert len(spikes) == Z.shape[1] and all(len(s) > 10 for s in spikes)
    for c, s in enumerate(spikes):
        assert np.all(np.diff(s) >= dead)
        for r in s:  # the peak is the largest −z of its supra-threshold stretch (within the dead time)
            lo = r
            while lo > 0 and -Z[lo - 1, c] > 3.0 and r - lo < dead:
                lo -= 1
            assert -Z[r, c] >= np.max(-Z[lo:r + 1, c])


def test_polarity_selects_the_sign():
    z = np.zeros((200, 1))
    z[50, 0] = -5
    z[120, 0] = 5
    assert run(z, [], polarity="neg")[0].tolist() == [50]
    assert run(z, [], polarity="pos")[0].tolist() == [120]
    assert run(z, [], polarity="both")[0].tolist() == [50, 120]


def test_a_segment_cannot_start_with_a_crossing_and_reset_forgets_state():
    z = np.full((10, 1), -5.0)  # already beyond threshold at the first sample: not a crossing
    pf = PeakFinder(1, 3)
    assert len(pf.find(z, 0, np.array([3.0]))[0]) == 0
