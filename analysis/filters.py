"""Band-pass filtering for spike detection, in bounded memory, on any number of channels.

Two filters built from one Butterworth band-pass (second-order sections, float64):

* ``CausalFilter`` — the online filter: ``sosfilt`` semantics with its state carried from
  chunk to chunk, so the output does not depend on how the input is cut (bit-identical
  to one ``scipy.signal.sosfilt`` call over the whole signal with the same initial state).
* ``ZeroPhaseFilter`` — the offline filter: forward pass with carried state, then a
  backward pass over each chunk plus a ``margin`` of the following samples (the backward
  filter's start-up transient decays below ``1e-9`` of the signal within the margin), so
  the result equals forward–backward filtering of the whole signal (``sosfiltfilt``'s
  magnitude response |H|², zero phase) away from the segment ends, in one pass.

Both start from the filter's steady state for the first sample (as ``sosfilt_zi`` does),
so a DC offset does not ring at the start.  The kernels are compiled with numba
(channels innermost, so one pass filters 16 channels about as fast as 2; all sections in
one pass over the chunk, which with 16 channels and order 3 is 1.3× faster than one pass
per section).

The band rule (one, for every source: ionto recordings, NWB, Neo, arrays, the live
detector): the band's high edge must be at most ``BAND_LIMIT_OF_RATE`` × the sampling
rate.  ``Bandpass`` filters exactly the band it is given or raises ``BandError`` (one
line); nothing caps a band silently.  ``check_band`` words the refusal for a named file
with the ``--band`` that would fit; ``fitting_band`` is the band a live display or
detector uses instead, and says so.

Thread: a filter object is used by one thread at a time; the kernels release the GIL.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.signal import butter, sosfilt_zi

from daq.errors import IontoError

# The highest band edge the detection filter takes, × the sampling rate: below Nyquist
# (0.5) with room for the Butterworth's roll-off above the edge (at 0.5 × the rate the
# bilinear transform puts the response's zero, so an edge there is no band-pass at all).
BAND_LIMIT_OF_RATE = 0.45


class BandError(IontoError, ValueError):
    """A detection band that is not (low, high) with 0 < low < high ≤ 0.45 × the rate."""


def band_limit_hz(rate_hz: float) -> float:
    """The highest band edge a signal sampled at ``rate_hz`` holds (``BAND_LIMIT_OF_RATE`` × rate)."""
    return BAND_LIMIT_OF_RATE * float(rate_hz)


def _edge(top_hz: float) -> float:
    """``top_hz`` rounded down to a value that prints exactly with ``:g`` and is ≤ ``top_hz``."""
    for digits in (0, 1, 2, 3):
        v = math.floor(top_hz * 10 ** digits) / 10 ** digits
        if v > 0 and float(f"{v:g}") == v:
            return v
    return top_hz


def fitting_band(rate_hz: float, band_hz: tuple[float, float]) -> tuple[float, float] | None:
    """The band to use at ``rate_hz``: ``band_hz`` if it fits, else its high edge lowered to the
    rate's limit (rounded down to a printable value); None when not even that leaves a band."""
    lo, hi = float(band_hz[0]), float(band_hz[1])
    top = band_limit_hz(rate_hz)
    if hi <= top:
        return lo, hi
    edge = _edge(top)
    return (lo, edge) if lo < edge else None


def check_band(rate_hz: float, band_hz: tuple[float, float], what: str = "the signal",
               other: str = "") -> None:
    """Raise ``BandError``, one line naming ``what`` (the file, series or stream), its rate and
    the ``--band`` that would fit, unless ``band_hz`` is a valid band at ``rate_hz``.
    ``other`` is appended as a further way out (e.g. "choose another series with --series")."""
    lo, hi = band_hz
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise BandError(f"band {lo:g}–{hi:g} Hz: a band is (low, high) in Hz with 0 < low < high")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise BandError(f"{what}: sampling rate {rate_hz} Hz; a band-pass needs a positive, finite rate")
    top = band_limit_hz(rate_hz)
    if hi <= top:
        return
    fit = fitting_band(rate_hz, band_hz)
    way = (f"analyse it with --band {fit[0]:g} {fit[1]:g}" if fit is not None
           else f"no band from {lo:g} Hz fits at this rate")
    raise BandError(f"{what} is sampled at {rate_hz:g} Hz, which holds frequencies up to {top:g} Hz; spike "
                    f"detection in {lo:g}–{hi:g} Hz needs at least {hi / BAND_LIMIT_OF_RATE:.0f} Hz — {way}"
                    + (f", or {other}" if other else ""))


@numba.njit(cache=True, nogil=True, inline="always")
def _sections(v, sos, z0, z1):  # pragma: no cover - compiled
    """Run the row ``v`` (one value per channel) through every section in turn, in place,
    updating the section states ``z0``/``z1`` (ns, ch)."""
    for s in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        for c in range(v.shape[0]):
            x = v[c]
            y = b0 * x + z0[s, c]
            z0[s, c] = b1 * x - a1 * y + z1[s, c]
            z1[s, c] = b2 * x - a2 * y
            v[c] = y


@numba.njit(cache=True, nogil=True)
def _forward(x, gain, offset, sos, zi, out):  # pragma: no cover - compiled
    """out[t, c] = sosfilt(sos, x[:, c]*gain[c] + offset[c]) with state ``zi`` (ns, 2, ch),
    updated in place.  Row by row through all sections at once (the chunk is read and
    written once; the inner loops over channels vectorise); the arithmetic is sosfilt's,
    in its order, so the output is the same to the bit."""
    n, ch = x.shape
    z0 = zi[:, 0].copy()
    z1 = zi[:, 1].copy()
    v = np.empty(ch)
    for t in range(n):
        for c in range(ch):
            v[c] = x[t, c] * gain[c] + offset[c]
        _sections(v, sos, z0, z1)
        for c in range(ch):
            out[t, c] = v[c]
    zi[:, 0] = z0
    zi[:, 1] = z1


@numba.njit(cache=True, nogil=True)
def _backward_into(main, tail, sos, zi, out):  # pragma: no cover - compiled
    """Backward-filter the concatenation [main; tail] from state ``zi`` (at the end of
    ``tail``) and write the part that covers ``main`` into ``out`` — without concatenating."""
    n, ch = main.shape
    z0 = zi[:, 0].copy()
    z1 = zi[:, 1].copy()
    v = np.empty(ch)
    for t in range(tail.shape[0] - 1, -1, -1):
        for c in range(ch):
            v[c] = tail[t, c]
        _sections(v, sos, z0, z1)
    for t in range(n - 1, -1, -1):
        for c in range(ch):
            v[c] = main[t, c]
        _sections(v, sos, z0, z1)
        for c in range(ch):
            out[t, c] = v[c]


@numba.njit(cache=True, nogil=True)
def _clipped_blocks(x, lo, hi, block, out):  # pragma: no cover - compiled
    """out[k, c] = True where rows k*block … (k+1)*block − 1 of channel c hold a value at or
    beyond the converter's limits ``lo``/``hi``."""
    n, ch = x.shape
    for t in range(n):
        k = t // block
        for c in range(ch):
            v = x[t, c]
            if v <= lo[c] or v >= hi[c]:
                out[k, c] = True


class Bandpass:
    """A Butterworth band-pass as second-order sections.

    ``band_hz`` = (low, high), filtered exactly as given: a high edge above
    ``BAND_LIMIT_OF_RATE`` × ``rate_hz`` raises ``BandError`` (``check_band``), never a
    quietly narrower filter.  ``margin`` (samples) is how far the backward pass must start
    beyond a chunk for its start-up transient to decay below 1e-9."""

    def __init__(self, rate_hz: float, band_hz: tuple[float, float] = (300.0, 6000.0), order: int = 3):
        lo, hi = float(band_hz[0]), float(band_hz[1])
        if order < 1 or order > 8:
            raise ValueError(f"filter order must be 1–8, got {order}")
        check_band(rate_hz, (lo, hi), "a signal")
        self.rate_hz = float(rate_hz)
        self.band_hz = (float(lo), float(hi))
        self.order = order
        self.sos = np.ascontiguousarray(butter(order, [lo, hi], btype="bandpass", fs=rate_hz, output="sos"))
        self._zi_unit = sosfilt_zi(self.sos)  # (ns, 2): steady state for a unit step input
        poles = np.concatenate([np.roots(s[3:]) for s in self.sos])
        r = float(np.max(np.abs(poles)))
        self.margin = int(min(math.ceil(math.log(1e-9) / math.log(r)), 20 * self.rate_hz)) if r < 1 else int(self.rate_hz)

    def steady_state(self, x0: np.ndarray) -> np.ndarray:
        """Filter state (ns, 2, ch) for a signal that has been constant at ``x0`` (per channel)."""
        x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
        return np.ascontiguousarray(self._zi_unit[:, :, None] * x0[None, None, :])

    def group_delay_s(self, band_hz: tuple[float, float] | None = None) -> tuple[float, float]:
        """(min, max) group delay of the causal filter within ``band_hz`` (default: its band), in s."""
        from scipy.signal import group_delay, sos2tf

        lo, hi = band_hz or self.band_hz
        b, a = sos2tf(self.sos)
        w = np.linspace(lo, hi, 400)
        _, gd = group_delay((b, a), w=w, fs=self.rate_hz)
        return float(gd.min() / self.rate_hz), float(gd.max() / self.rate_hz)


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"samples must be 1-D or (samples, channels), got shape {x.shape}")
    return x


class CausalFilter:
    """The band-pass applied causally with carried state (the online filter).

    ``gain``/``offset`` convert raw samples to physical units per channel before filtering
    (``physical = raw·gain + offset``)."""

    def __init__(self, bandpass: Bandpass, gain: np.ndarray, offset: np.ndarray | None = None):
        self.bp = bandpass
        self.gain = np.ascontiguousarray(np.asarray(gain, dtype=np.float64).reshape(-1))
        self.offset = np.zeros_like(self.gain) if offset is None else np.ascontiguousarray(
            np.asarray(offset, dtype=np.float64).reshape(-1))
        self.zi: np.ndarray | None = None

    @property
    def n_channels(self) -> int:
        return len(self.gain)

    def reset(self) -> None:
        """Forget the state: the next sample starts a new contiguous segment."""
        self.zi = None

    def __call__(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Filter the next chunk; into ``out`` (float64, C-contiguous, raw's shape) if given."""
        raw = _as_2d(raw)
        if raw.shape[1] != self.n_channels:
            raise ValueError(f"expected {self.n_channels} channel(s), got {raw.shape[1]}")
        if out is None:
            out = np.empty(raw.shape, dtype=np.float64)
        elif out.shape != raw.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float64 array of shape {raw.shape}")
        if raw.shape[0] == 0:
            return out
        if self.zi is None:
            self.zi = self.bp.steady_state(raw[0].astype(np.float64) * self.gain + self.offset)
        _forward(raw, self.gain, self.offset, self.bp.sos, self.zi, out)
        return out


class ZeroPhaseFilter:
    """The band-pass applied forward and backward (zero phase) over a stream of chunks.

    ``push(raw)`` returns the finished part of the output so far as ``(first_row, z)``
    pieces — output lags input by at most one chunk; ``finish()`` returns the rest at the
    end of a contiguous segment.  Rows count from the first sample of the segment.

    With ``reuse_buffers`` the filter keeps its working arrays from call to call instead of
    allocating new ones (a fresh multi-megabyte array costs a page fault per 4 KiB on first
    touch, which took longer than the filtering itself): then a returned piece is valid
    only until the next ``push``/``finish`` — for callers that consume it at once."""

    def __init__(self, bandpass: Bandpass, gain: np.ndarray, offset: np.ndarray | None = None,
                 reuse_buffers: bool = False):
        self.bp = bandpass
        self.forward = CausalFilter(bandpass, gain, offset)
        self.reuse_buffers = reuse_buffers
        self._spare: list[np.ndarray] = []  # flat float64 buffers free for reuse
        self._z_buf: np.ndarray | None = None  # the buffer behind the last returned piece
        self._pending: np.ndarray | None = None  # forward output not yet backward-filtered
        self._pending_row = 0
        self._rows = 0

    def _array(self, shape: tuple[int, int]) -> np.ndarray:
        """A float64 array of ``shape``: a view of a spare buffer when reusing."""
        if not self.reuse_buffers:
            return np.empty(shape, dtype=np.float64)
        size = shape[0] * shape[1]
        for i, buf in enumerate(self._spare):
            if buf.size >= size:
                return self._spare.pop(i)[:size].reshape(shape)
        return np.empty(shape, dtype=np.float64)

    def _release(self, arr: np.ndarray | None) -> None:
        if self.reuse_buffers and arr is not None:
            base = arr.base if arr.base is not None else arr
            self._spare.append(base.reshape(-1))
            if len(self._spare) > 4:  # (short chunks joined for look-ahead leave odd sizes)
                del self._spare[min(range(len(self._spare)), key=lambda i: len(self._spare[i]))]

    def _output(self, shape: tuple[int, int]) -> np.ndarray:
        self._release(self._z_buf)  # the previous piece's consumer is done with it
        z = self._array(shape)
        self._z_buf = z if self.reuse_buffers else None
        return z

    def reset(self) -> None:
        self.forward.reset()
        self._pending = None
        self._pending_row = 0
        self._rows = 0

    def push(self, raw: np.ndarray) -> list[tuple[int, np.ndarray]]:
        raw2 = _as_2d(raw)
        f = self.forward(raw2, self._array(raw2.shape))
        row = self._rows
        self._rows += len(f)
        if self._pending is None:
            self._pending, self._pending_row = f, row
            return []
        m = self.bp.margin
        if len(f) < m:  # not enough look-ahead yet: keep accumulating
            joined = np.concatenate([self._pending, f])
            self._release(self._pending)
            self._release(f)
            self._pending = joined
            return []
        tail = f[:m]
        z = self._output(self._pending.shape)
        _backward_into(self._pending, tail, self.bp.sos, self.bp.steady_state(tail[-1]), z)
        out = [(self._pending_row, z)]
        self._release(self._pending)
        self._pending, self._pending_row = f, row
        return out

    def finish(self) -> list[tuple[int, np.ndarray]]:
        if self._pending is None or len(self._pending) == 0:
            self.reset()
            return []
        buf = self._pending
        z = self._output(buf.shape)
        _backward_into(buf, buf[:0], self.bp.sos, self.bp.steady_state(buf[-1]), z)
        out = [(self._pending_row, z)]
        self._release(buf)
        self.reset()
        return out


def zero_phase(x: np.ndarray, bandpass: Bandpass, chunk: int = 1 << 16) -> np.ndarray:
    """Zero-phase band-pass of an in-memory signal (1-D or (samples, channels)), float64."""
    x2 = _as_2d(x)
    zp = ZeroPhaseFilter(bandpass, np.ones(x2.shape[1]))
    out = np.empty(x2.shape, dtype=np.float64)
    for start in range(0, len(x2), chunk):
        for row, z in zp.push(x2[start:start + chunk]):
            out[row:row + len(z)] = z
    for row, z in zp.finish():
        out[row:row + len(z)] = z
    return out[:, 0] if np.asarray(x).ndim == 1 else out


def clipped_blocks(raw: np.ndarray, lo: np.ndarray, hi: np.ndarray, block: int) -> np.ndarray:
    """(ceil(n/block), ch) bool: which ``block``-row blocks of each channel touch the limits."""
    raw = _as_2d(raw)
    out = np.zeros(((len(raw) + block - 1) // block, raw.shape[1]), dtype=np.bool_)
    if len(raw):
        _clipped_blocks(raw, np.asarray(lo, dtype=raw.dtype), np.asarray(hi, dtype=raw.dtype), block, out)
    return out
