"""``ionto align``: ionto's ejection epochs on another acquisition system's clock.

ionto sends a sync pulse train out (random inter-pulse intervals) and logs each rising edge
as ``EventKind.SYNC`` (text ``pulse=N``) at its sample index; the other system records the
same pulses on an analog channel or as events.  Here:

1. **the other system's pulses** (``other_pulses``), read through Neo's raw IO (any format
   Neo reads): the rising threshold crossings of an analog channel, read in chunks (bounded
   memory) and placed between samples by linear interpolation (for a clean step, the middle
   of the sample interval in which it rose: no half-sample bias); or an event channel's times;
2. **the match** (``match_pulses``): the offset is unknown and either side may have missing or
   extra pulses.  Ten ionto pulses spread over the record are each tried against every other
   pulse as an anchor; the offset that lines up the most of the 30 pulses after its anchor
   wins (the random intervals make a wrong one line up almost none; at least half must).
   Then the matched stretch grows outwards from the anchor, doubling, each stretch predicted
   from a line fitted to the matches so far (this follows the drift);
3. **the clock model** (``fit_clock``): ``t_other = offset_s + (1 + drift) · t_ionto``, least
   squares over the matched pairs, with the residuals reported (RMS and largest);
4. **the epochs** (``analysis.epochs.find_epochs``) mapped through it, written as CSV and as a
   minimal NWB file with a ``TimeIntervals`` table (pynwb).

Thread: any (plain functions).
"""

from __future__ import annotations

import csv
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daq.errors import ConfigError
from daq.types import EventKind

MATCH_TOLERANCE_S = 0.005  # a pulse matches its prediction within this (the prediction's drift is refitted)
ANCHORS = 10  # ionto pulses tried as anchors (spread over the record)
ANCHOR_SPAN = 30  # pulses after an anchor scored for its offset


@dataclass(frozen=True)
class ClockFit:
    """``t_other = offset_s + (1 + drift) · t_ionto`` from ``n_matched`` pulse pairs."""

    offset_s: float
    drift: float
    n_matched: int
    n_ionto: int
    n_other: int
    residual_rms_s: float
    residual_max_s: float

    def to_other(self, t_ionto_s: np.ndarray | float) -> np.ndarray | float:
        return self.offset_s + (1.0 + self.drift) * np.asarray(t_ionto_s, dtype=np.float64)

    def as_dict(self) -> dict:
        return {"offset_s": self.offset_s, "drift_ppm": self.drift * 1e6, "matched_pulses": self.n_matched,
                "ionto_pulses": self.n_ionto, "other_pulses": self.n_other,
                "residual_rms_ms": self.residual_rms_s * 1e3, "residual_max_ms": self.residual_max_s * 1e3}


# --- the other system's pulses ----------------------------------------------------------
def _rawio(path: Path):
    import neo.rawio

    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    try:
        cls = neo.rawio.get_rawio(path)
    except Exception as exc:  # Neo's guess can fail in many ways on odd input: one line
        raise ConfigError(f"{path}: Neo cannot tell which format this is ({exc})") from None
    if cls is None:
        raise ConfigError(f"{path}: not a format Neo reads (Spike2, Axon, Open Ephys, Intan, Plexon, NIX, ...)")
    key = "dirname" if path.is_dir() else "filename"
    try:
        reader = cls(**{key: str(path)})
        reader.parse_header()
    except Exception as exc:  # a damaged or unsupported variant: one line naming the reader
        raise ConfigError(f"{path}: {cls.__name__} cannot read it ({type(exc).__name__}: {exc})") from None
    return reader


def other_pulses(path: str | Path, channel: str | None = None, threshold: float | None = None,
                 chunk_s: float = 60.0) -> tuple[np.ndarray, float, str]:
    """Rising pulse times (s, the other system's clock) in ``path``, its sampling rate (Hz; 0
    for an event channel) and what was read.  ``channel``: a signal or event channel name or
    id (default: the only event channel, else the first signal channel); ``threshold``: in
    the channel's units (default: halfway between its minimum and maximum)."""
    path = Path(path)
    r = _rawio(path)
    sig = r.header["signal_channels"]
    evc = r.header["event_channels"]
    ev_names = [str(n) for n in evc["name"]] + [str(i) for i in evc["id"]]
    named_event = channel is not None and channel in ev_names
    only_events = channel is None and len(evc) == 1 and len(sig) == 0
    if named_event or only_events:
        k = ev_names.index(channel) % len(evc) if channel is not None else 0
        times = [r.rescale_event_timestamp(r.get_event_timestamps(0, s, k)[0], dtype="float64", event_channel_index=k)
                 for s in range(r.segment_count(0))]
        return np.sort(np.concatenate(times)), 0.0, f"event channel {evc['name'][k]!r}"
    if len(sig) == 0:
        raise ConfigError(f"{path}: no analog channel and no single event channel; name one with --channel "
                          f"(event channels: {list(evc['name'])})")
    names = [str(n) for n in sig["name"]]
    ids = [str(i) for i in sig["id"]]
    if channel is None:
        i = 0
    elif channel in names:
        i = names.index(channel)
    elif channel in ids:
        i = ids.index(channel)
    else:
        raise ConfigError(f"{path}: no channel {channel!r}; signal channels: {names}, event channels: "
                          f"{list(evc['name'])}")
    stream_id = sig["stream_id"][i]
    stream = int(np.flatnonzero(r.header["signal_streams"]["id"] == stream_id)[0])
    in_stream = int(np.flatnonzero(sig["stream_id"][:i + 1] == stream_id).size - 1)
    fs = float(r.get_signal_sampling_rate(stream))
    step = max(2, int(chunk_s * fs))

    def chunks(seg: int):
        n = r.get_signal_size(0, seg, stream)
        for a in range(0, n, step):
            raw = r.get_analogsignal_chunk(0, seg, a, min(n, a + step), stream_index=stream, channel_indexes=[in_stream])
            yield a, r.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=stream,
                                                   channel_indexes=[in_stream])[:, 0]

    segs = range(r.segment_count(0))
    if threshold is None:
        lo, hi = np.inf, -np.inf
        for s in segs:
            for _, x in chunks(s):
                lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        if not hi > lo:
            raise ConfigError(f"{path}: channel {names[i]!r} is flat ({lo:g}): no pulses on it")
        threshold = 0.5 * (lo + hi)
    out = []
    for s in segs:
        t0 = r.get_signal_t_start(0, s, stream)
        prev = None
        for a, x in chunks(s):
            y = x if prev is None else np.concatenate([[prev], x])
            base = a if prev is None else a - 1
            j = np.flatnonzero((y[:-1] < threshold) & (y[1:] >= threshold))
            frac = (threshold - y[j]) / (y[j + 1] - y[j])  # where between the two samples it crossed
            out.append(t0 + (base + j + frac) / fs)
            prev = x[-1]
    return np.concatenate(out) if out else np.zeros(0), fs, f"channel {names[i]!r} above {threshold:g}"


def ionto_pulses(events, rate_hz: float) -> np.ndarray:
    """ionto's sync pulse times (s, its sample clock) from the event log."""
    idx = sorted(e.sample_index for e in events if e.kind == EventKind.SYNC)
    return np.asarray(idx, dtype=np.float64) / rate_hz


# --- matching and the clock model ---------------------------------------------------------
def _matches(a: np.ndarray, b: np.ndarray, predict, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j): each ``a[i]`` with the nearest ``b[j]`` to ``predict(a[i])`` within ``tol``."""
    p = predict(a)
    j = np.clip(np.searchsorted(b, p), 1, max(len(b) - 1, 1))
    j = np.where(np.abs(b[j - 1] - p) <= np.abs(b[np.minimum(j, len(b) - 1)] - p), j - 1, j)
    ok = np.abs(b[j] - p) <= tol
    return np.flatnonzero(ok), j[ok]


def match_pulses(a: np.ndarray, b: np.ndarray, tol_s: float = MATCH_TOLERANCE_S) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of the matched pulses of ionto (``a``) and the other system (``b``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or len(b) < 3:
        raise ConfigError(f"too few sync pulses to align: {len(a)} in ionto's file, {len(b)} in the other")
    # anchors spread over ionto's pulses: the other recording may cover only part of them
    anchors = np.unique(np.linspace(0, max(len(a) - ANCHOR_SPAN, 0), ANCHORS).astype(int))
    best = (0, 0.0, 0)
    for i in anchors:
        window = a[i:i + ANCHOR_SPAN]
        for off in b - a[i]:
            n = len(_matches(window, b, lambda t, off=off: t + off, tol_s)[0])
            if n > best[0]:
                best = (n, float(off), int(i))
    span = min(ANCHOR_SPAN, len(a))
    if best[0] < max(3, span // 2):
        raise ConfigError(f"the sync pulses do not line up: at best {best[0]} of {span} consecutive pulses match "
                          "at one offset; is it the same pulse train on --channel?")
    # outwards from the anchor: each wider stretch predicted from a line through the matches so far
    offset, slope = best[1], 1.0
    lo, hi = best[2], min(len(a), best[2] + ANCHOR_SPAN)
    while True:
        ia, ib = _matches(a[lo:hi], b, lambda t, o=offset, k=slope: o + k * t, tol_s)
        if len(ia) >= 3:
            slope, offset = np.polyfit(a[lo:hi][ia], b[ib], 1)
        if lo == 0 and hi == len(a):
            break
        w = hi - lo
        lo, hi = max(0, lo - w), min(len(a), hi + w)
    ia, ib = _matches(a, b, lambda t: offset + slope * t, tol_s)
    _, first = np.unique(ib, return_index=True)  # one other pulse per ionto pulse
    return ia[first], ib[first]


def fit_clock(a: np.ndarray, b: np.ndarray) -> ClockFit:
    """Match ionto's pulse times ``a`` with the other system's ``b`` and fit the clock model."""
    ia, ib = match_pulses(a, b)
    x, y = a[ia], b[ib]
    # centred for conditioning: an hour of seconds against 1 + 20 ppm
    xm = x.mean()
    slope, icpt = np.polyfit(x - xm, y, 1)
    resid = y - (icpt + slope * (x - xm))
    return ClockFit(float(icpt - slope * xm), float(slope - 1.0), len(ia), len(a), len(b),
                    float(np.sqrt(np.mean(resid**2))), float(np.max(np.abs(resid))))


# --- the epochs on the other clock ----------------------------------------------------------
@dataclass(frozen=True)
class AlignedEpoch:
    barrel: str
    drug: str
    current_nA: float
    start_s: float  # on the other system's clock
    stop_s: float
    charge_nC: float


def aligned_epochs(ionto_file: str | Path, fit: ClockFit) -> list[AlignedEpoch]:
    from analysis.epochs import find_epochs
    from daq.recording import Recording

    with Recording(ionto_file) as rec:
        events, pip, fs = rec.events, rec.pipette, rec.rate_hz
        first, end = rec.first_index, rec.end_index
    if pip is None:
        raise ConfigError(f"{ionto_file}: the recording holds no pipette: its ejections cannot be told apart")
    out = []
    for ep in find_epochs(events, pip, fs, first, end):
        a, z = fit.to_other(ep.onset / fs), fit.to_other(ep.offset / fs)
        out.append(AlignedEpoch(ep.barrel, ep.drug, ep.current_nA, float(a), float(z),
                                ep.current_nA * (ep.offset - ep.onset) / fs))
    return out


def write_csv(epochs: list[AlignedEpoch], path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["barrel", "drug", "current_nA", "start_s", "stop_s", "charge_nC"])
        for e in epochs:
            w.writerow([e.barrel, e.drug, f"{e.current_nA:g}", f"{e.start_s:.6f}", f"{e.stop_s:.6f}",
                        f"{e.charge_nC:.6g}"])


def write_nwb(epochs: list[AlignedEpoch], fit: ClockFit, path: str | Path, other: str) -> None:
    """A minimal NWB file: an ``ejections`` TimeIntervals table on the other system's clock."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    nwb = NWBFile(session_description=f"ionto's ejection epochs on the clock of {other}",
                  identifier=f"ionto-align-{Path(path).stem}",
                  session_start_time=_dt.datetime.now(_dt.UTC),
                  notes=(f"t_other = {fit.offset_s:.9f} s + (1 + {fit.drift * 1e6:.4f} ppm) * t_ionto; "
                         f"{fit.n_matched} sync pulses matched, residual RMS {fit.residual_rms_s * 1e3:.4f} ms"))
    table = TimeIntervals(name="ejections", description="iontophoretic ejections (ionto), times on the other "
                          "system's clock")
    for col, desc in (("barrel", "barrel name"), ("drug", "drug"), ("current_nA", "ejecting current (nA), signed"),
                      ("charge_nC", "charge (nC)")):
        table.add_column(col, desc)
    for e in epochs:
        table.add_interval(start_time=e.start_s, stop_time=e.stop_s, barrel=e.barrel, drug=e.drug,
                           current_nA=e.current_nA, charge_nC=e.charge_nC)
    nwb.add_time_intervals(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
