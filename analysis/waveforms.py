"""Spike waveform snippets and their features, in bounded memory.

For each channel a ``WaveformStore`` receives the snippets of detected spikes as they
are found and keeps:

* features of *every* spike: the first ``n_pc`` principal components of its snippet
  (the basis is learned from the first ``n_basis`` spikes of the channel, then fixed) —
  a few floats per spike, so any recording length fits;
* a uniform random sample of at most ``n_keep`` whole snippets (reservoir sampling,
  seeded, so repeated runs keep the same sample) for figures and mean waveforms.

Snippets are aligned on the sub-sample position of their peak (``align_subsample``)
before they are stored, so sampling jitter does not blur mean waveforms or split units.

Thread: used by one thread at a time.
"""

from __future__ import annotations

import numpy as np


def align_subsample(snippets: np.ndarray, peak: int) -> np.ndarray:
    """Shift each snippet by the sub-sample offset of its extremum at column ``peak``
    (parabolic interpolation through the three samples around it; linear interpolation to
    shift), so that sampling jitter does not masquerade as a waveform difference."""
    s = np.asarray(snippets, dtype=np.float32)
    if s.shape[1] < 3 or not 0 < peak < s.shape[1] - 1:
        return s
    y0, y1, y2 = s[:, peak - 1], s[:, peak], s[:, peak + 1]
    den = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(np.abs(den) > 0, 0.5 * (y0 - y2) / den, 0.0)
    delta = np.clip(np.nan_to_num(delta), -0.5, 0.5)[:, None]
    # value at position i + delta: linear interpolation between neighbours
    fwd = np.concatenate([s[:, 1:], s[:, -1:]], axis=1)
    back = np.concatenate([s[:, :1], s[:, :-1]], axis=1)
    return np.where(delta >= 0, s + delta * (fwd - s), s - delta * (back - s)).astype(np.float32)


def top_components(cov: np.ndarray, k: int, iters: int = 100, tol: float = 1e-7) -> np.ndarray:
    """The ``k`` leading eigenvectors (columns) of a small symmetric matrix by orthogonal
    (subspace) iteration.  Plain matrix products: a LAPACK eigensolver on a busy machine
    with a multi-threaded BLAS can take 100× longer for these tiny matrices."""
    n = cov.shape[0]
    k = min(k, n)
    q = _orthonormal(np.random.default_rng(0).standard_normal((n, k)))
    for _ in range(iters):
        z = _orthonormal(cov @ q)
        if np.max(np.abs(np.abs(np.sum(z * q, axis=0)) - 1.0)) < tol:
            q = z
            break
        q = z
    order = np.argsort(-np.sum(q * (cov @ q), axis=0))
    return q[:, order]


def _orthonormal(a: np.ndarray) -> np.ndarray:
    """Modified Gram–Schmidt on the columns."""
    q = a.astype(np.float64).copy()
    for j in range(q.shape[1]):
        for i in range(j):
            q[:, j] -= (q[:, i] @ q[:, j]) * q[:, i]
        norm = np.linalg.norm(q[:, j])
        q[:, j] = q[:, j] / norm if norm > 0 else 0.0
    return q


class WaveformStore:
    def __init__(self, width: int, n_pc: int = 3, n_basis: int = 2000, n_keep: int = 1000, seed: int = 0):
        self.width = width
        self.n_pc = n_pc
        self.n_basis = max(n_basis, n_pc + 1)
        self.n_keep = n_keep
        self._rng = np.random.default_rng(seed)
        self.mean: np.ndarray | None = None
        self.basis: np.ndarray | None = None  # (n_pc, width)
        self._buf: list[np.ndarray] = []  # snippets waiting for the basis
        self._buf_ids: list[np.ndarray] = []
        self._buf_n = 0
        self._feat: list[np.ndarray] = []
        self._feat_ids: list[np.ndarray] = []
        self.sample = np.zeros((0, width), dtype=np.float32)
        self.sample_ids = np.zeros(0, dtype=np.int64)
        self._seen = 0

    def add(self, ids: np.ndarray, snippets: np.ndarray) -> None:
        """Snippets (m, width) of the spikes numbered ``ids`` (their order on the channel)."""
        if len(ids) == 0:
            return
        snippets = np.asarray(snippets, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        self._reservoir(ids, snippets)
        if self.basis is None:
            self._buf.append(snippets)
            self._buf_ids.append(ids)
            self._buf_n += len(ids)
            if self._buf_n >= self.n_basis:
                self._learn_basis()
            return
        self._project(ids, snippets)

    def _reservoir(self, ids: np.ndarray, snippets: np.ndarray) -> None:
        m = len(ids)
        i = self._seen + np.arange(m)
        self._seen += m
        fill = i < self.n_keep
        if fill.any():
            self.sample = np.concatenate([self.sample, snippets[fill]])
            self.sample_ids = np.concatenate([self.sample_ids, ids[fill]])
        rest = ~fill
        if rest.any():
            j = (self._rng.random(int(rest.sum())) * (i[rest] + 1)).astype(np.int64)
            hit = j < self.n_keep
            if hit.any():
                self.sample[j[hit]] = snippets[rest][hit]
                self.sample_ids[j[hit]] = ids[rest][hit]

    def _learn_basis(self) -> None:
        data = np.concatenate(self._buf)
        ids = np.concatenate(self._buf_ids)
        self._buf, self._buf_ids, self._buf_n = [], [], 0
        self.mean = data.mean(axis=0)
        k = min(self.n_pc, len(data), self.width)
        centred = (data - self.mean).astype(np.float64)
        self.basis = top_components(centred.T @ centred, k).T.astype(np.float32)
        self._project(ids, data)

    def _project(self, ids: np.ndarray, snippets: np.ndarray) -> None:
        assert self.basis is not None and self.mean is not None
        pcs = (snippets - self.mean) @ self.basis.T
        self._feat.append(pcs.astype(np.float32))
        self._feat_ids.append(ids)

    def finish(self) -> None:
        """Learn the basis from whatever was seen if fewer than ``n_basis`` spikes came."""
        if self.basis is None and self._buf_n >= 2:
            self._learn_basis()

    def features(self, n_spikes: int) -> np.ndarray:
        """(n_spikes, n_pc) principal-component scores in spike order (NaN where unknown)."""
        k = 0 if self.basis is None else self.basis.shape[0]
        out = np.full((n_spikes, k), np.nan, dtype=np.float32)
        if self._feat:
            ids = np.concatenate(self._feat_ids)
            feats = np.concatenate(self._feat)
            ok = ids < n_spikes
            out[ids[ok]] = feats[ok]
        return out

    def sample_sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept snippets and their spike numbers, in spike order."""
        order = np.argsort(self.sample_ids, kind="stable")
        return self.sample[order], self.sample_ids[order]


class SnippetCutter:
    """Cuts snippets ``[row − pre, row + post)`` out of a stream of filtered pieces.

    Pieces arrive in row order; only a short tail of the previous piece is kept, so the
    pieces themselves are never copied.  A spike whose window is not complete yet waits
    for the next piece; ``flush`` (end of a segment) pads missing samples with zeros."""

    def __init__(self, n_channels: int, pre: int, post: int):
        self.pre, self.post = pre, post
        self.n_channels = n_channels
        self.reset()

    @property
    def width(self) -> int:
        return self.pre + self.post

    def reset(self) -> None:
        self._tail = np.zeros((0, self.n_channels))
        self._tail_row = 0
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, row0: int, z: np.ndarray, rows: np.ndarray, chans: np.ndarray, ids: np.ndarray,
            keep_rows: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Append the piece starting at ``row0``; returns ready (chans, ids, snippets) groups.
        ``keep_rows``: how far back a spike reported later may lie (the peak rule's dead time)."""
        if len(self._tail) == 0:
            self._tail_row = row0
        if len(rows):
            self._pending.append((rows, chans, ids))
        out = self._cut(z, row0, pad=False)
        keep = self.pre + self.post + keep_rows
        if len(z) >= keep:
            self._tail, self._tail_row = np.array(z[len(z) - keep:]), row0 + len(z) - keep
        else:
            joined = np.concatenate([self._tail, z])
            self._tail, self._tail_row = joined[-keep:], row0 + len(z) - min(keep, len(joined))
        return out

    def add_spikes(self, rows: np.ndarray, chans: np.ndarray, ids: np.ndarray) -> None:
        """Spikes reported without new samples (closed at the end of a segment)."""
        if len(rows):
            self._pending.append((rows, chans, ids))

    def flush(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        out = self._cut(np.zeros((0, self.n_channels)), self._tail_row + len(self._tail), pad=True)
        self.reset()
        return out

    def _cut(self, z: np.ndarray, row0: int, pad: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if not self._pending:
            return []
        rows = np.concatenate([p[0] for p in self._pending])
        chans = np.concatenate([p[1] for p in self._pending])
        ids = np.concatenate([p[2] for p in self._pending])
        end = row0 + len(z)
        ready = np.ones(len(rows), bool) if pad else rows + self.post <= end
        self._pending = [] if ready.all() else [(rows[~ready], chans[~ready], ids[~ready])]
        if not ready.any():
            return []
        r, c, i = rows[ready], chans[ready], ids[ready]
        start = r - self.pre
        inside = start >= row0  # entirely within the new piece: index it directly
        snippets = np.empty((len(r), self.width), dtype=np.float32)
        if inside.any() and len(z):
            idx = np.minimum(start[inside] - row0, max(0, len(z) - self.width))[:, None] + np.arange(self.width)
            snippets[inside] = z[idx, c[inside][:, None]]
        if (~inside).any():  # reaches back into the kept tail (or past the end, when flushing)
            lo_pad = max(0, self._tail_row - int(start[~inside].min()))
            need = int(r[~inside].max()) + self.post - row0
            head = z[:max(0, min(len(z), need))]
            hi_pad = max(0, need - len(head))
            buf = np.concatenate([np.zeros((lo_pad, self.n_channels)), self._tail, head,
                                  np.zeros((hi_pad, self.n_channels))])
            base = self._tail_row - lo_pad
            idx = (start[~inside] - base)[:, None] + np.arange(self.width)
            snippets[~inside] = buf[idx, c[~inside][:, None]]
        return [(c, i, snippets)]
