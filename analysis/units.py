"""Units: separating the spikes of one channel into units, or importing sorted spike times.

``separate_units(spikes)`` clusters the spikes of one channel on their waveform features
(the principal-component scores kept by the detector): a Gaussian mixture with full
covariances fitted by EM (k-means++ start, several restarts), the number of units chosen
by BIC between 1 and ``max_units``.  Units are numbered by decreasing spike amplitude
(u0 = the largest).  This is the simple separation of clearly different units that a
rig analysis needs, not a replacement for a full spike sorter: for overlapping clusters,
sort elsewhere and import the spike times.

``load_sorted_spikes(path)`` imports sorted spike times: a CSV with a ``time_s`` (or
``sample_index``) column and an optional ``unit`` column; an NWB file's Units table is
read by ``analysis.nwb.read_units`` (the NWB module).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2

from analysis.detect import Spikes

SortedUnits = dict[str, np.ndarray]  # unit label → spike times (s), sorted


@dataclass(frozen=True)
class Unit:
    label: str  # e.g. "electrode:u0"
    channel: str
    spike_ids: np.ndarray  # positions in the channel's spikes
    mean_waveform: np.ndarray  # V, from the kept snippet sample (NaN if none)
    amplitude: float  # mean signed peak of the filtered signal (V)
    snr: float  # |mean peak| / noise σ
    isi_violation_percent: float  # ISIs shorter than 2 ms, in % of all ISIs

    def as_dict(self, rate_hz: float, index: np.ndarray) -> dict:
        return {"label": self.label, "channel": self.channel, "count": len(self.spike_ids),
                "amplitude_uV": self.amplitude * 1e6, "snr": self.snr,
                "isi_violation_percent": self.isi_violation_percent,
                "mean_rate_hz": len(self.spike_ids) / max((index[-1] - index[0]) / rate_hz, 1e-9)
                if len(index) > 1 else 0.0}


def _gmm(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 200) -> tuple[float, np.ndarray]:
    """EM for a full-covariance Gaussian mixture; returns (log-likelihood, labels)."""
    n, d = x.shape
    if k == 1:
        labels = np.zeros(n, dtype=np.int64)
    else:
        _, labels = kmeans2(x, k, minit="++", seed=rng)
    resp = np.eye(k)[labels]
    ll_old = -math.inf
    reg = 1e-6 * np.eye(d)
    for _ in range(iters):
        nk = resp.sum(0) + 1e-12
        w = nk / n
        mu = (resp.T @ x) / nk[:, None]
        logp = np.empty((n, k))
        for j in range(k):
            xc = x - mu[j]
            cov = (resp[:, j, None] * xc).T @ xc / nk[j] + reg
            try:
                chol = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                chol = np.linalg.cholesky(cov + 1e-3 * np.eye(d))
            sol = np.linalg.solve(chol, xc.T)
            logp[:, j] = (np.log(w[j]) - 0.5 * np.sum(sol**2, 0) - np.sum(np.log(np.diag(chol)))
                          - 0.5 * d * math.log(2 * math.pi))
        mx = logp.max(1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(logp - mx).sum(1))
        ll = float(lse.sum())
        resp = np.exp(logp - lse[:, None])
        if ll - ll_old < 1e-6 * abs(ll):
            break
        ll_old = ll
    return ll, resp.argmax(1)


def _separation(a: np.ndarray, b: np.ndarray) -> float:
    """d′ of two clusters along the line joining their means: |Δmean| / pooled s.d."""
    u = b.mean(0) - a.mean(0)
    norm = float(np.linalg.norm(u))
    if norm == 0:
        return 0.0
    pa, pb = a @ (u / norm), b @ (u / norm)
    sd = math.sqrt(0.5 * (pa.var() + pb.var()))
    return abs(pb.mean() - pa.mean()) / sd if sd > 0 else math.inf


def _merge_close(x: np.ndarray, labels: np.ndarray, min_separation: float) -> np.ndarray:
    """Merge clusters (closest first) whose d′ is below ``min_separation``: a mixture fitted
    to one unit's non-Gaussian cloud (e.g. spread by sampling jitter) splits it; real units
    that a threshold detector can tell apart are far better separated."""
    labels = labels.copy()
    while True:
        labs = np.unique(labels)
        if len(labs) < 2:
            return np.searchsorted(labs, labels)
        pairs = [(_separation(x[labels == i], x[labels == j]), i, j)
                 for k, i in enumerate(labs) for j in labs[k + 1:]]
        sep, i, j = min(pairs)
        if sep >= min_separation:
            return np.searchsorted(labs, labels)
        labels[labels == j] = i


def _absorb_small(x: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Clusters smaller than ``min_size`` (overlapping spikes, artefacts) join the cluster
    with the nearest mean."""
    labels = labels.copy()
    while True:
        labs, counts = np.unique(labels, return_counts=True)
        if len(labs) < 2 or counts.min() >= min_size:
            return np.searchsorted(labs, labels)
        small = labs[np.argmin(counts)]
        others = labs[labs != small]
        centre = x[labels == small].mean(0)
        dist = [np.linalg.norm(x[labels == o].mean(0) - centre) for o in others]
        labels[labels == small] = others[int(np.argmin(dist))]


def cluster_features(features: np.ndarray, max_units: int = 4, max_fit: int = 20000, seed: int = 0,
                     restarts: int = 3, min_separation: float = 4.0) -> np.ndarray:
    """Cluster labels (0…K−1) for each row of ``features``: a Gaussian mixture with K chosen
    by BIC, then clusters closer than ``min_separation`` (d′) merged (NaN rows → −1)."""
    feats = np.asarray(features, dtype=np.float64)
    labels = np.full(len(feats), -1, dtype=np.int64)
    ok = np.all(np.isfinite(feats), axis=1) if feats.ndim == 2 and feats.shape[1] else np.zeros(len(feats), bool)
    if ok.sum() < 10:
        labels[ok] = 0
        return labels
    x = feats[ok]
    mu, sd = x.mean(0), x.std(0)
    x = (x - mu) / np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(seed)
    fit = x if len(x) <= max_fit else x[rng.choice(len(x), max_fit, replace=False)]
    n, d = fit.shape
    best_bic, best_k, best_labels = math.inf, 1, np.zeros(n, dtype=np.int64)
    for k in range(1, max(1, max_units) + 1):
        if k > 1 and n < 20 * k:
            break
        ll, lab = max((_gmm(fit, k, rng) for _ in range(1 if k == 1 else restarts)), key=lambda r: r[0])
        n_par = k * (d + d * (d + 1) / 2) + (k - 1)
        bic = -2 * ll + n_par * math.log(n)
        if bic < best_bic:
            best_bic, best_k, best_labels = bic, k, lab
    best_labels = _merge_close(fit, best_labels, min_separation)
    best_labels = _absorb_small(fit, best_labels, max(20, int(0.01 * len(fit))))
    best_k = len(np.unique(best_labels))
    if best_k == 1:
        labels[ok] = 0
        return labels
    # assign every spike to the nearest cluster centre in the Mahalanobis sense of its cluster
    centres, precs, logdets = [], [], []
    for j in range(best_k):
        m = fit[best_labels == j]
        cov = np.cov(m.T) + 1e-6 * np.eye(d) if len(m) > d else np.eye(d)
        centres.append(m.mean(0) if len(m) else np.zeros(d))
        precs.append(np.linalg.inv(cov))
        logdets.append(np.linalg.slogdet(cov)[1])
    score = np.stack([np.einsum("ij,jk,ik->i", x - c, p, x - c) + ld for c, p, ld in zip(centres, precs, logdets)], 1)
    labels[ok] = score.argmin(1)
    return labels


def separate_units(spikes: Spikes, max_units: int = 4, seed: int = 0) -> list[Unit]:
    """Units of one channel, numbered by decreasing |amplitude| (u0 largest)."""
    labels = cluster_features(spikes.features, max_units=max_units, seed=seed)
    units = []
    for lab in sorted(set(labels.tolist()) - {-1}):
        ids = np.flatnonzero(labels == lab)
        units.append(ids)
    units.sort(key=lambda ids: -abs(float(np.mean(spikes.amplitude[ids]))))
    out = []
    for u, ids in enumerate(units):
        out.append(describe_unit(spikes, ids, f"{spikes.channel}:u{u}"))
    return out


def describe_unit(spikes: Spikes, ids: np.ndarray, label: str) -> Unit:
    in_sample = np.isin(spikes.snippet_ids, ids)
    wave = spikes.snippets[in_sample].mean(0) if in_sample.any() else np.full(spikes.snippets.shape[1:], np.nan)
    amp = float(np.mean(spikes.amplitude[ids])) if len(ids) else float("nan")
    isi = np.diff(spikes.index[ids]) / spikes.rate_hz if len(ids) > 1 else np.zeros(0)
    viol = 100.0 * float(np.mean(isi < 2e-3)) if len(isi) else 0.0
    return Unit(label, spikes.channel, ids, wave, amp, abs(amp) / spikes.sigma if spikes.sigma else float("nan"), viol)


def load_sorted_spikes(path: str | Path, rate_hz: float | None = None) -> SortedUnits:
    """Sorted spike times from a CSV (``time_s`` or ``sample_index`` [+ ``unit``]) or an NWB
    file's Units table.  Raises ``ValueError`` naming the file, column or row at fault."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.suffix.lower() == ".nwb":
        try:
            from analysis.nwb import read_units  # the NWB module (analysis/nwb*.py)
        except ImportError as exc:
            raise ValueError(f"{path}: reading NWB Units needs analysis.nwb.read_units ({exc})") from None
        return {str(k): np.sort(np.asarray(v, dtype=np.float64)) for k, v in read_units(path).items()}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if "time_s" not in cols and "sample_index" not in cols:
            raise ValueError(f"{path}: needs a 'time_s' or 'sample_index' column; found {cols}")
        if "time_s" not in cols and not rate_hz:
            raise ValueError(f"{path}: spike times given as 'sample_index' need the sampling rate")
        out: dict[str, list[float]] = {}
        for i, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            try:
                t = float(row["time_s"]) if "time_s" in cols else float(row["sample_index"]) / float(rate_hz)
            except ValueError:
                raise ValueError(f"{path}, line {i}: spike time {row.get('time_s', row.get('sample_index'))!r} "
                                 "is not a number") from None
            out.setdefault(row.get("unit", "") or "unit", []).append(t)
    if not out:
        raise ValueError(f"{path}: no spike times")
    return {k: np.sort(np.asarray(v)) for k, v in out.items()}
