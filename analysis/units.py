"""Units: the spikes of one channel separated into units, the unit record, and importing
sorted spike times.

``separate_units(spikes)`` clusters the spikes of one channel on their waveform features
(the principal-component scores of the sub-sample-aligned snippets the detector keeps)
with **isosplit6** (Magland & Barnett 2015, arXiv:1508.04841; the clustering of
MountainSort 5): clusters are split while a unimodality test along the line between two
cluster centres says they are two, and each pair is decided on its own — no merged cluster
is re-tested against a third, so merges never chain.  The number of units is found, not
chosen in advance (``max_units`` only caps it).  Units are numbered by decreasing spike
amplitude (u0 = the largest).  Groups of channels (tetrodes, shanks) are sorted jointly by
``analysis.sorting``; quality metrics and cell type come from ``analysis.unit_quality``.

``load_sorted_spikes(path)`` imports sorted spike times: a CSV with a ``time_s`` (or
``sample_index``) column and an optional ``unit`` column; an NWB file's Units table is
read by ``analysis.nwb.read_units`` (the NWB module).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.detect import Spikes

SortedUnits = dict[str, np.ndarray]  # unit label → spike times (s), sorted
MIN_SPIKES_TO_SPLIT = 20  # fewer spikes than this on a channel: one unit
REFRACTORY_MS = 1.5  # ISI shorter than this counts as a violation (SpikeInterface's isi_violation default)


@dataclass(frozen=True)
class Unit:
    """One unit: its spikes, where it is largest, and how good it is.

    ``index``: the sample indices of its spikes (the source of truth for its spike train).
    ``channel``: the channel where its mean waveform is largest (the unit's label starts
    with it); ``channels``: the group it was sorted in.  ``spike_ids``: the positions in
    ``channel``'s detected spikes (``Spikes``) of its spikes — every spike for a unit
    separated on one channel; for a unit sorted on a group, the detected spikes within the
    detector's dead time of one of its spikes (figures and per-spike tables use them).
    ``quality``: SpikeInterface's metrics and the cell type (``analysis.unit_quality``), when
    computed."""

    label: str  # e.g. "electrode:u0"
    channel: str
    spike_ids: np.ndarray
    mean_waveform: np.ndarray  # V, on ``channel``, at the detector's snippet times (NaN if none)
    amplitude: float  # mean signed peak of the filtered signal on ``channel`` (V)
    snr: float  # |mean peak| / noise σ of ``channel`` (the detector's MAD σ)
    isi_violation_percent: float  # ISIs shorter than REFRACTORY_MS, in % of all ISIs
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    channels: tuple[str, ...] = ()
    quality: object | None = None  # analysis.unit_quality.UnitQuality

    @property
    def count(self) -> int:
        return len(self.index)

    @property
    def cell_type(self) -> str:
        return self.quality.cell_type if self.quality is not None else "unknown"

    def as_dict(self, rate_hz: float, index: np.ndarray | None = None) -> dict:
        """The unit as a table row.  ``index`` is accepted for older callers and ignored: the
        unit's own spike train is used."""
        idx = self.index
        d = {"label": self.label, "channel": self.channel, "channels": list(self.channels) or [self.channel],
             "count": len(idx), "amplitude_uV": self.amplitude * 1e6, "snr": self.snr,
             "isi_violation_percent": self.isi_violation_percent,
             "mean_rate_hz": float(len(idx) / max((idx[-1] - idx[0]) / rate_hz, 1e-9)) if len(idx) > 1 else 0.0}
        if self.quality is not None:
            d.update({f"si_{k}" if k == "snr" else k: v for k, v in self.quality.as_dict().items()})
        else:
            d["cell_type"] = "unknown"
        return d


UNIT_TABLE_COLUMNS = ("label", "channel", "channels", "count", "mean_rate_hz", "amplitude_uV", "snr",
                      "isi_violation_percent", "si_snr", "isi_violations_ratio", "isi_violations_count",
                      "presence_ratio", "amplitude_cutoff", "trough_to_peak_ms", "cell_type")


def units_table(units: dict[str, list[Unit]], rate_hz: float) -> list[dict]:
    """One row per unit (all channels), keys ``UNIT_TABLE_COLUMNS``: the counts and ionto's
    amplitude/SNR, SpikeInterface's quality metrics (NaN when not computed), the
    trough-to-peak width and the cell type (``"unknown"`` when not computed).  For the
    units table and report; ``channels`` is the group joined by ``+``."""
    rows = []
    for us in units.values():
        for u in us:
            d = u.as_dict(rate_hz)
            d["channels"] = "+".join(d["channels"])
            rows.append({k: d.get(k, float("nan")) for k in UNIT_TABLE_COLUMNS})
    return rows


def cluster_features(features: np.ndarray, max_units: int = 8, max_fit: int = 50000, seed: int = 0) -> np.ndarray:
    """Cluster labels (0…K−1) for each row of ``features`` by isosplit6 (NaN rows → −1).

    Features are standardised per column first.  Beyond ``max_fit`` rows, isosplit6 runs on
    a seeded random subset and every row joins the cluster whose centre is nearest in the
    Mahalanobis sense of that cluster.  More than ``max_units`` clusters: the smallest join
    their nearest centre, each decided once (no re-test, no chain)."""
    from isosplit6 import isosplit6

    feats = np.asarray(features, dtype=np.float64)
    labels = np.full(len(feats), -1, dtype=np.int64)
    ok = np.all(np.isfinite(feats), axis=1) if feats.ndim == 2 and feats.shape[1] else np.zeros(len(feats), bool)
    if ok.sum() < MIN_SPIKES_TO_SPLIT:
        labels[ok] = 0
        return labels
    x = feats[ok]
    mu, sd = x.mean(0), x.std(0)
    x = (x - mu) / np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(len(x), max_fit, replace=False)) if len(x) > max_fit else np.arange(len(x))
    fit_labels = np.asarray(isosplit6(np.ascontiguousarray(x[subset])), dtype=np.int64)
    labs, counts = np.unique(fit_labels, return_counts=True)
    keep = labs[np.argsort(-counts)][:max(1, max_units)]
    centres = np.stack([x[subset][fit_labels == k].mean(0) for k in keep])
    if len(keep) < len(labs):  # the smallest clusters join their nearest kept centre
        for k in labs[~np.isin(labs, keep)]:
            c = x[subset][fit_labels == k].mean(0)
            fit_labels[fit_labels == k] = keep[int(np.argmin(np.linalg.norm(centres - c, axis=1)))]
    if len(keep) == 1:
        labels[ok] = 0
        return labels
    out = np.empty(len(x), dtype=np.int64)
    out[subset] = np.searchsorted(np.sort(keep), fit_labels)
    rest = np.setdiff1d(np.arange(len(x)), subset)
    if len(rest):
        keep_sorted = np.sort(keep)
        d = x.shape[1]
        score = []
        for k in keep_sorted:
            m = x[subset][fit_labels == k]
            cov = np.cov(m.T) + 1e-6 * np.eye(d) if len(m) > d else np.eye(d)
            prec = np.linalg.inv(cov)
            xc = x[rest] - m.mean(0)
            score.append(np.einsum("ij,jk,ik->i", xc, prec, xc) + np.linalg.slogdet(cov)[1])
        out[rest] = np.argmin(np.stack(score, 1), axis=1)
    labels[ok] = out
    return labels


def separate_units(spikes: Spikes, max_units: int = 8, seed: int = 0) -> list[Unit]:
    """Units of one channel, numbered by decreasing |amplitude| (u0 largest)."""
    labels = cluster_features(spikes.features, max_units=max_units, seed=seed)
    units = [np.flatnonzero(labels == lab) for lab in sorted(set(labels.tolist()) - {-1})]
    units.sort(key=lambda ids: -abs(float(np.mean(spikes.amplitude[ids]))))
    return [describe_unit(spikes, ids, f"{spikes.channel}:u{u}") for u, ids in enumerate(units)]


def isi_violation_percent(index: np.ndarray, rate_hz: float) -> float:
    """ISIs shorter than ``REFRACTORY_MS``, in % of all ISIs."""
    isi = np.diff(np.sort(index)) / rate_hz if len(index) > 1 and rate_hz else np.zeros(0)
    return 100.0 * float(np.mean(isi < REFRACTORY_MS * 1e-3)) if len(isi) else 0.0


def describe_unit(spikes: Spikes, ids: np.ndarray, label: str, index: np.ndarray | None = None,
                  channels: tuple[str, ...] = (), quality: object | None = None) -> Unit:
    """A unit on ``spikes``' channel: ``ids`` are its detected spikes there; ``index`` its own
    spike train when it is not exactly those (a unit sorted on a group)."""
    ids = np.asarray(ids, dtype=np.int64)
    in_sample = np.isin(spikes.snippet_ids, ids)
    wave = spikes.snippets[in_sample].mean(0) if in_sample.any() else np.full(spikes.snippets.shape[1:], np.nan)
    amp = float(np.mean(spikes.amplitude[ids])) if len(ids) else float("nan")
    idx = spikes.index[ids] if index is None else np.sort(np.asarray(index, dtype=np.int64))
    return Unit(label, spikes.channel, ids, wave, amp, abs(amp) / spikes.sigma if spikes.sigma else float("nan"),
                isi_violation_percent(idx, spikes.rate_hz), idx, channels or (spikes.channel,), quality)


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
