"""A curation pass after a group's sorter: a unit that holds two neurons is split in two.

A sorter can keep two neurons whose templates are alike as one unit (tridesclous2 on
SpikeInterface ground truth, tetrode seeds 2, 4, 6, 8 of ``tests/analysis/sorting_seeds.py``:
units of SNR 11 and 13.5 at template similarity 0.82 stayed one cluster, accuracy 0.000 and
0.525).  ``split_units`` looks at each unit's spikes again on the sorter's own input
(filtered and whitened, so the noise σ is about 1 on every channel): snippets ``SNIPPET_MS``
around each spike on the unit's channels (where its mean waveform reaches ``CHANNEL_SHARE``
of its largest), with the time-shift direction taken out (the mean's time derivative:
sub-sample jitter is not a second neuron), their first ``N_FEATURES`` principal components,
and **isosplit6** (Magland & Barnett 2015, arXiv:1508.04841) on them.  Parts of
``MIN_SPIKES`` or more whose means are ``MIN_SEPARATION`` σ apart become units; a smaller or
closer part rejoins the nearest one (distances in the principal components: there the
error of a mean of 50 spikes is small).  This is the re-clustering of MountainSort 5
(``mountainsort5.core.isosplit6_subdivision_method``: PCA recomputed on each cluster's own
spikes and isosplit6 run again) and of Kilosort 2's ``splitAllClusters`` (a cluster split
when its spikes' own features are bimodal), here done once per unit: each part decided
once, nothing re-tested, so nothing chains.

**A burst is one neuron.**  A bursting cell's spikes 2..n are progressively smaller (CA1
complex spikes: 2-7 spikes 1.5-6 ms apart, each smaller than the last; Ranck 1973, Exp Neurol
41:461), so its spikes are bimodal in amplitude and the pass above cut such a cell in two or
three (SpikeInterface ground truth, tetrode, the SNR-16 unit bursting: 2-3 units on 8 of 10
seeds, accuracy 0.000 on 7; ``tests/analysis/test_sorting_bursts.py``).  So, as
clusters are merged for bursting cells in the field (Fee, Mitra & Kleinfeld 1996, J Neurosci
Methods 69:175: clusters whose joint train keeps a refractory period are one cell; phy /
SpikeInterface's ``compute_merge_unit_groups`` presets ``similarity_correlograms`` and
``x_contaminations``: alike templates plus a correlogram or cross-contamination check), a part
joins a larger one when all hold (``_burst_share``):

* its mean snippet is the larger part's up to a scale: cosine similarity ≥ ``BURST_COSINE``
  (SpikeInterface's ``compute_template_similarity`` default method; scale-free, unlike the L1
  difference of ``auto_merge``, because a burst's spikes differ in size, not shape);
* its spikes come after a larger-part spike in the same burst (consecutive spikes of the two
  parts < ``BURST_ISI_MS`` apart) for ≥ ``BURST_SHARE`` of them and ≥ ``BURST_OVER_CHANCE``
  times the share two independent trains at these rates would give — the asymmetric
  cross-correlogram of a burst, which two independent neurons do not have;
* the merged train keeps a refractory period: ≤ ``MAX_VIOLATIONS`` of its spikes less than
  ``REFRACTORY_MS`` after the one before.

Shape alone does not decide: the two alike neurons of tetrode seed 2 have mean snippets at
cosine 0.98, and stay split because neither follows the other.  Each part joins at most the
one larger part it follows most, so one part cannot tie two neurons together.

The split runs where the input is preprocessed the sorter's way (tridesclous2, ionto's
default: ``analysis.sorting_input.sorter_input``); other sorters get raw µV and curate
themselves.

Thread: the caller's (the sorting thread or process).
"""

from __future__ import annotations

import numpy as np

SNIPPET_MS = (0.5, 1.0)  # ms before / after the spike (before: tridesclous2's clustering_ms_before)
N_FEATURES = 8  # principal components of the unit's snippets given to isosplit6
CHANNEL_SHARE = 0.25  # a unit's channels: where its mean waveform's peak reaches this share of the largest
MAX_CHANNELS = 8
MIN_SPIKES = 50  # each part of a split holds at least this many spikes
MAX_FIT = 10000  # isosplit6 runs on at most this many spikes of a unit (seeded); the rest go to the nearest part
MIN_SEPARATION = 4.0  # parts whose means are closer than this (noise σ, i.e. d′) are one neuron
# a burst is not two neurons (see the module docstring): two parts stay one unit when the smaller
# part's mean is the larger's up to a scale and its spikes follow the larger part's within bursts
BURST_COSINE = 0.9  # cosine similarity of the parts' mean snippets (whitened, unit's channels) at least this
BURST_ISI_MS = 10.0  # spikes closer than this are one burst (CA1 complex spikes: 1.5-6 ms, Ranck 1973)
BURST_SHARE = 0.5  # at least this share of the smaller part's spikes come after a larger-part spike in a burst
BURST_OVER_CHANCE = 3.0  # ... and at least this many times the share two independent trains would give
REFRACTORY_MS = 1.5  # the merged train's ISIs below this are refractory violations
MAX_VIOLATIONS = 0.01  # ... of which at most this share of its spikes
CHUNK_S = 10.0  # at most this many seconds of the input in one read
READ_GAP_MS = 20.0  # spikes closer than this share one read


def split_units(recording, trains: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """The units ``trains`` (frame indices into ``recording``, the sorter's filtered and
    whitened input), each split in parts when it holds more than one neuron; order kept,
    the parts in place of the unit they came from."""
    rate = recording.get_sampling_frequency()
    before, after = (round(ms * 1e-3 * rate) for ms in SNIPPET_MS)
    out: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    for train in trains:
        train = np.sort(np.asarray(train, dtype=np.int64))
        fit = np.sort(rng.choice(len(train), MAX_FIT, replace=False)) if len(train) > MAX_FIT else np.arange(len(train))
        snippets, ok = _snippets(recording, train[fit], before, after) if len(train) >= 2 * MIN_SPIKES else (None, None)
        found = _split(snippets[ok]) if ok is not None and ok.sum() >= 2 * MIN_SPIKES else None
        if found is None:
            out.append(train)
            continue
        chans, centres = found
        labels = np.zeros(len(train), dtype=np.int64)
        for lo in range(0, len(train), MAX_FIT):  # every spike (the fitted ones too) to the nearest part's mean
            ids = np.arange(lo, min(lo + MAX_FIT, len(train)))
            snip, _ = _snippets(recording, train[ids], before, after)
            labels[ids] = _nearest(snip[:, :, chans], centres)
        out.extend(train[np.isin(labels, group)] for group in _burst_groups(train, labels, centres, rate))
    return out


def _burst_groups(train: np.ndarray, labels: np.ndarray, centres: np.ndarray, rate_hz: float) -> list[list[int]]:
    """The parts (indices into ``centres``) grouped into neurons.  Each part joins the larger
    part whose bursts it follows most (``_burst_share``), if any: one part cannot tie two
    neurons together, while a burst's first, second and third spikes found as three parts
    (third → second → first) become one neuron again."""
    peak = np.abs(centres).reshape(len(centres), -1).max(1)
    joins = list(range(len(centres)))
    for small in range(len(centres)):
        shares = [_burst_share(train, labels == big, labels == small, centres[big], centres[small], rate_hz)
                  if peak[big] > peak[small] else 0.0 for big in range(len(centres))]
        if max(shares) > 0.0:
            joins[small] = int(np.argmax(shares))
    groups: dict[int, list[int]] = {}
    for k in range(len(centres)):
        root = k
        while joins[root] != root:  # joins point to larger parts only: no cycles
            root = joins[root]
        groups.setdefault(root, []).append(k)
    return list(groups.values())


def _burst_share(train: np.ndarray, is_big: np.ndarray, is_small: np.ndarray, centre_big: np.ndarray,
                 centre_small: np.ndarray, rate_hz: float) -> float:
    """The share of the small part's spikes that come after a big-part spike in the same burst
    (spikes of the two parts < ``BURST_ISI_MS`` apart) when the parts ``is_big`` and ``is_small``
    of ``train`` (sorted frames) are one cell's bursts, else 0: the small part's mean snippet
    is the big part's up to a scale (cosine similarity ≥ ``BURST_COSINE``), the share is at
    least ``BURST_SHARE`` and ``BURST_OVER_CHANCE`` times what two independent trains at
    these rates would give, and the merged train keeps a refractory period (at most
    ``MAX_VIOLATIONS`` of its spikes < ``REFRACTORY_MS`` after the one before)."""
    a, b = centre_big.ravel(), centre_small.ravel()
    if a @ b < BURST_COSINE * np.sqrt((a @ a) * (b @ b)):
        return 0.0
    both = is_big | is_small
    frames, big = train[both], is_big[both]
    isi = np.diff(frames)
    if np.sum(isi < REFRACTORY_MS * 1e-3 * rate_hz) > MAX_VIOLATIONS * len(frames):
        return 0.0
    burst = np.concatenate([[0], np.cumsum(isi >= BURST_ISI_MS * 1e-3 * rate_hz)])  # burst index of each spike
    last_big_burst = np.maximum.accumulate(np.where(big, burst, -1))
    share = float(np.mean(last_big_burst[~big] == burst[~big]))
    span_s = max((frames[-1] - frames[0]) / rate_hz, BURST_ISI_MS * 1e-3)
    chance = 1.0 - np.exp(-big.sum() / span_s * BURST_ISI_MS * 1e-3)  # a big spike in the window before
    return share if share >= BURST_SHARE and share >= BURST_OVER_CHANCE * chance else 0.0


def _split(snippets: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The parts of ``snippets`` (spikes, samples, channels) as (the channels used, each
    part's mean snippet on them), or ``None`` when they are one neuron."""
    from isosplit6 import isosplit6

    mean = snippets.mean(0)
    peak = np.abs(mean).max(0)
    chans = np.argsort(-peak)[:MAX_CHANNELS]
    chans = chans[peak[chans] >= CHANNEL_SHARE * peak.max()]
    x = snippets[:, :, chans].reshape(len(snippets), -1).astype(np.float64)
    # a spike a fraction of a sample early or late differs from the mean by about the mean's
    # time derivative times the shift: that direction is taken out (sub-sample alignment to
    # first order), else a sorter's bimodal sub-sample timing splits one neuron in two
    # (SpikeInterface ground truth, tetrode seed 8: a unit split 288/113 along it)
    slope = np.gradient(mean[:, chans], axis=0).ravel()
    xc = x - x.mean(0)
    if slope @ slope > 0:
        xc -= np.outer(xc @ slope / (slope @ slope), slope)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    feats = xc @ vt[:N_FEATURES].T
    labels = np.asarray(isosplit6(np.ascontiguousarray(feats)), dtype=np.int64)
    labs, counts = np.unique(labels, return_counts=True)
    big = [int(k) for k, n in sorted(zip(labs, counts), key=lambda kn: -kn[1]) if n >= MIN_SPIKES]
    # from the largest down, a part is a neuron of its own when its mean is at least
    # MIN_SEPARATION σ from every part kept before it, measured in the principal components
    # (the whitened input's noise σ is 1 along any direction, so this distance is the parts'
    # d′; in N_FEATURES dimensions rather than samples × channels, the error of two means
    # of 50 spikes adds ~0.6 σ instead of ~4); each part is decided once, nothing re-tested
    kept: list[int] = []
    for k in big:
        if all(np.linalg.norm(feats[labels == k].mean(0) - feats[labels == j].mean(0)) >= MIN_SEPARATION for j in kept):
            kept.append(k)
    if len(kept) < 2:
        return None
    centres = np.stack([x[labels == k].mean(0) for k in kept])
    return chans, centres.reshape(len(kept), -1, len(chans))


def _nearest(snippets: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the centre (parts, samples, channels) nearest to each snippet (Euclidean)."""
    x = snippets.reshape(len(snippets), -1).astype(np.float64)
    c = centres.reshape(len(centres), -1)
    return np.argmin((x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None], axis=1)


def _snippets(recording, frames: np.ndarray, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """(spikes, before + after, channels) float32 snippets at ``frames`` (sorted); ``ok`` False
    for a spike too near either end (its snippet is zeros).  Spikes less than ``READ_GAP_MS``
    apart share one read of at most ``CHUNK_S``: an hour's file is not read whole for a few
    thousand spikes, nor one call per spike for a burst."""
    n, n_ch = recording.get_num_samples(), recording.get_num_channels()
    rate = recording.get_sampling_frequency()
    out = np.zeros((len(frames), before + after, n_ch), dtype=np.float32)
    ok = (frames >= before) & (frames + after <= n)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return out, ok
    f = frames[idx]
    chunk = max(int(CHUNK_S * rate), before + after + 1)
    cuts = np.flatnonzero((np.diff(f) > READ_GAP_MS * 1e-3 * rate) | (np.diff(f // chunk) != 0)) + 1
    for sel in np.split(idx, cuts):
        start, stop = int(frames[sel[0]]) - before, int(frames[sel[-1]]) + after
        traces = recording.get_traces(start_frame=start, end_frame=stop)
        rel = frames[sel] - start
        out[sel] = traces[rel[:, None] + np.arange(-before, after)[None, :]]
    return out, ok
