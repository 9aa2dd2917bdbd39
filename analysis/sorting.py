"""Spike sorting of a recording: single channels by isosplit6, channel groups by a SpikeInterface sorter.

``sort_units(rec, det, params)`` returns the units of every analysed channel:

* a channel alone (the usual single electrode of a microiontophoresis pipette) is separated
  on the waveform features of the spikes the detector already found
  (``analysis.units.separate_units``: isosplit6, no chained merges);
* a group of channels that see the same neurons (a tetrode, a shank) is sorted jointly by
  a SpikeInterface sorter run on the group's raw samples (``DEFAULT_SORTER``:
  SpikeInterface's own ``tridesclous2`` — peaks, SVD features, iterative splits,
  template matching; installs from PyPI with ``hdbscan``, runs on CPU); a unit that holds
  two alike neurons is split (``analysis.sorting_split``: isosplit6 on the unit's own
  whitened snippets), then a unit found twice (sharing > 80 % of its spikes with another)
  is kept once (SpikeInterface's ``remove_redundant_units``).
  The group is sorted at its contacts' positions (``group_positions``: the caller's
  ``positions_um``, e.g. from ``analysis.sorting_positions.read_positions``, else the NWB
  electrodes table's ``rel_x``/``rel_y``), else as one compact neighbourhood
  (``analysis.sorting_input.default_positions``), and preprocessed with a seeded whitening
  so that a group sorts the same every run (``sorting_input.sorter_input``).

Groups come, in this order, from ``SortingParams.groups`` (the CLI's ``--group A,B,C,D``),
from the NWB electrodes table's ``group_name`` (electrodes of one ElectrodeGroup are one
group), else each channel is its own group.  Each unit is labelled ``CHANNEL:uK`` by the
channel where its mean waveform is largest (K numbered by decreasing amplitude), so
``--unit CHANNEL:uK`` chooses it whatever way it was sorted.  Every unit gets
SpikeInterface's quality metrics and a cell type (``analysis.unit_quality``).

Thread: the caller's (the analysis thread or process); SpikeInterface runs with one job.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from analysis.detect import Spikes
from analysis.detect_file import Detection
from analysis.source import RecordingLike
from analysis.units import Unit, describe_unit, separate_units

DEFAULT_SORTER = "tridesclous2"
SORTERS = ("tridesclous2", "spykingcircus2", "mountainsort5")
DUPLICATE_SHARE = 0.8  # two units sharing more than this share of spikes (±0.4 ms) are one (SpikeInterface's default)


@dataclass(frozen=True)
class SortingParams:
    """How units are sorted.  ``groups``: channel names sorted jointly (each a tuple of two or
    more names); ``sorter``: the SpikeInterface sorter for groups; ``max_units``: at most this
    many units per single channel; ``quality``: compute SpikeInterface's quality metrics;
    ``seed``: every random choice of the sorter and the metrics; ``positions_um``: each
    grouped channel's contact position ``(x, y)`` in µm (the probe's geometry), when the file
    does not give it (see ``group_positions``)."""

    groups: tuple[tuple[str, ...], ...] | None = None
    sorter: str = DEFAULT_SORTER
    max_units: int = 8
    quality: bool = True
    seed: int = 0
    positions_um: Mapping[str, tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if self.sorter not in SORTERS:
            raise ValueError(f"sorter {self.sorter!r} is not one of {', '.join(SORTERS)}")
        if not self.max_units >= 1:
            raise ValueError(f"max_units must be ≥ 1, got {self.max_units}")
        seen: set[str] = set()
        for g in self.groups or ():
            if len(g) < 2:
                raise ValueError(f"channel group {','.join(g)!r} has one channel; a group needs two or more")
            twice = seen.intersection(g)
            if twice:
                raise ValueError(f"channel {sorted(twice)[0]!r} is in two channel groups")
            seen.update(g)
        for name, xy in (self.positions_um or {}).items():
            if len(xy) != 2 or not all(np.isfinite(float(v)) for v in xy):
                raise ValueError(f"position of channel {name!r} must be two finite numbers (x, y) in µm, got {xy!r}")


def parse_group(text: str) -> tuple[str, ...]:
    """``"e0,e1,e2,e3"`` → ``("e0", "e1", "e2", "e3")`` (the CLI's ``--group``)."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def nwb_groups(rec: RecordingLike) -> list[tuple[str, ...]]:
    """Channel groups from an NWB file's electrodes table (``group_name``, else ``group``):
    the columns of its ElectricalSeries whose electrodes share an ElectrodeGroup.  Empty for
    an ionto recording, or when the table says nothing."""
    es = getattr(rec, "_es", None)  # analysis.nwb_source.NwbSource's ElectricalSeries
    if es is None or getattr(es, "electrodes", None) is None:
        return []
    try:
        table, rows = es.electrodes.table, np.asarray(es.electrodes.data[:], dtype=np.int64)
        if "group_name" in table.colnames:
            names = [str(table["group_name"][int(r)]) for r in rows]
        elif "group" in table.colnames:
            names = [getattr(table["group"][int(r)], "name", "") for r in rows]
        else:
            return []
    except (KeyError, IndexError, ValueError, TypeError):
        return []
    if len(names) != len(rec.channels):
        return []
    by: dict[str, list[str]] = {}
    for ch, g in zip(rec.channels, names):
        by.setdefault(g, []).append(ch.name)
    return [tuple(v) for v in by.values()]


def channel_groups(rec: RecordingLike, analysed: Sequence[str], params: SortingParams) -> list[tuple[str, ...]]:
    """The analysed channels partitioned into groups (one-channel groups are single channels).
    A named group must hold analysed channels only: ``ValueError`` names the one that is not."""
    analysed = list(analysed)
    if params.groups:
        for g in params.groups:
            for name in g:
                if name not in analysed:
                    raise ValueError(f"{rec.path}: channel group {','.join(g)!r}: {name!r} is not an analysed "
                                     f"electrode channel; analysed channels are {analysed}")
        groups = [tuple(g) for g in params.groups]
    else:
        groups = [tuple(n for n in g if n in analysed) for g in nwb_groups(rec)]
        groups = [g for g in groups if len(g) > 1]
    grouped = {n for g in groups for n in g}
    return groups + [(n,) for n in analysed if n not in grouped]


def sort_units(rec: RecordingLike, det: Detection, params: SortingParams = SortingParams(),
               only: Sequence[str] | None = None) -> dict[str, list[Unit]]:
    """Units per channel (``channel → [Unit]``, u0 the largest).  ``only``: sort just the
    groups holding these channels (choosing one unit need not sort the whole probe)."""
    groups = channel_groups(rec, list(det.spikes), params)
    _check_positions(rec, params)
    if only is not None:
        groups = [g for g in groups if set(g) & set(only)]
    out: dict[str, list[Unit]] = {}
    singles = [g[0] for g in groups if len(g) == 1]
    for ch in singles:
        out[ch] = separate_units(det.spikes[ch], params.max_units, params.seed)
    if params.quality and any(out.values()):  # one pass over the single channels for all their units
        flat = [u for ch in singles for u in out[ch]]
        amps = [det.spikes[u.channel].amplitude[u.spike_ids] * 1e6 for u in flat]  # the detector's peaks (µV)
        quality = _quality(rec, tuple(singles), [u.index for u in flat], params, amps)
        by_label = {u.label: q for u, q in zip(flat, quality)}
        out = {ch: [replace(u, quality=by_label[u.label]) for u in us] for ch, us in out.items()}
    for g in groups:
        if len(g) > 1:
            for ch, units in _sort_group(rec, det, g, params).items():
                out.setdefault(ch, []).extend(units)
    return out


def _quality(rec: RecordingLike, group: tuple[str, ...], trains: list[np.ndarray], params: SortingParams,
             amplitudes_uV: list[np.ndarray] | None = None) -> list:
    """SpikeInterface's metrics of each spike train (sample indices) on the group's channels
    (``amplitudes_uV``: each train's spike amplitudes, when known)."""
    import spikeinterface.core as sc

    from analysis.sorting_input import IontoRecording
    from analysis.unit_quality import unit_quality

    cols = [rec.stream.index_of(n) for n in group]
    si_rec = IontoRecording(rec, cols)
    rows = [np.asarray(rec.index_to_row(np.asarray(t, dtype=np.int64)), dtype=np.int64) for t in trains]
    labels = [np.full(len(r), i, dtype=np.int64) for i, r in enumerate(rows)]
    allrows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    order = np.argsort(allrows, kind="stable")
    sorting = sc.NumpySorting.from_samples_and_labels([allrows[order]], [np.concatenate(labels)[order]],
                                                       rec.rate_hz, unit_ids=np.arange(len(trains)))
    amps = None if amplitudes_uV is None else dict(enumerate(amplitudes_uV))
    q = unit_quality(si_rec, sorting, seed=params.seed, amplitudes_uV=amps)
    return [q.get(i) for i in range(len(trains))]


def nwb_positions(rec: RecordingLike) -> dict[str, tuple[float, float]]:
    """Contact positions (µm) from an NWB file's electrodes table: ``rel_x``/``rel_y`` (the
    position on the probe, NWB's electrodes columns), else ``x``/``y`` when finite.  Empty for
    an ionto recording or when the table holds no positions."""
    es = getattr(rec, "_es", None)  # analysis.nwb_source.NwbSource's ElectricalSeries
    if es is None or getattr(es, "electrodes", None) is None:
        return {}
    try:
        table, rows = es.electrodes.table, np.asarray(es.electrodes.data[:], dtype=np.int64)
        for cx, cy in (("rel_x", "rel_y"), ("x", "y")):
            if cx in table.colnames and cy in table.colnames:
                xy = np.array([[float(table[cx][int(r)]), float(table[cy][int(r)])] for r in rows])
                if len(xy) == len(rec.channels) and np.all(np.isfinite(xy)):
                    return {ch.name: (float(x), float(y)) for ch, (x, y) in zip(rec.channels, xy)}
    except (KeyError, IndexError, ValueError, TypeError):
        return {}
    return {}


def _positions_source(params: SortingParams) -> str:
    return getattr(params.positions_um, "source", "") or "the positions given"


def _check_positions(rec: RecordingLike, params: SortingParams) -> None:
    """A position for a channel the recording does not have is a typo or the wrong file: refused
    in one line naming the channel, the positions' file and the recording's channels."""
    names = [ch.name for ch in rec.channels]
    unknown = [n for n in (params.positions_um or {}) if n not in names]
    if unknown:
        raise ValueError(f"{_positions_source(params)}: channel {unknown[0]!r} is not a channel of {rec.path}; "
                         f"its channels are {names}")


def group_positions(rec: RecordingLike, group: tuple[str, ...], params: SortingParams) -> np.ndarray | None:
    """The group's contact positions, (channels, 2) in µm, from ``params.positions_um`` or the
    NWB electrodes table; ``None`` when neither gives every channel of the group a position (then
    ``analysis.sorting_input`` lays the group out as a tetrode).  Two channels at one position
    are refused (``ValueError`` naming them): a sorter's neighbourhoods need distinct contacts."""
    given = dict(params.positions_um or {}) or nwb_positions(rec)
    if not all(n in given for n in group):
        missing = [n for n in group if n not in given]
        if params.positions_um:
            raise ValueError(f"{_positions_source(params)}: no position for {missing} of channel group "
                             f"{','.join(group)!r} of {rec.path}; give every channel of the group a position "
                             f"(x_um, y_um)")
        return None
    xy = np.array([given[n] for n in group], dtype=np.float64)
    for i in range(len(group)):
        for j in range(i):
            if np.allclose(xy[i], xy[j]):
                where = f"{_positions_source(params)} (for {rec.path})" if params.positions_um else rec.path
                raise ValueError(f"{where}: channels {group[j]!r} and {group[i]!r} are at the same position "
                                 f"{tuple(xy[i])} µm; each contact needs its own position")
    return xy


def _sort_group(rec: RecordingLike, det: Detection, group: tuple[str, ...],
                params: SortingParams) -> dict[str, list[Unit]]:
    """Sort one group with the SpikeInterface sorter; units keyed by their largest channel."""
    import spikeinterface.sorters as ss

    from analysis.sorting_input import IontoRecording, sorter_input
    from analysis.sorting_split import split_units

    cols = [rec.stream.index_of(n) for n in group]
    tmp = Path(tempfile.mkdtemp(prefix="ionto-sort-"))
    try:
        si_rec = IontoRecording(rec, cols, group_positions(rec, group, params))
        binary, preprocessed = sorter_input(si_rec, params.sorter, params.seed, tmp / "group")
        sorting = ss.run_sorter(params.sorter, binary, folder=tmp / "sorter", remove_existing_folder=True,
                                verbose=False, raise_error=True,
                                **sorter_params(params.sorter, params.seed, preprocessed))
        trains_rows = [np.asarray(sorting.get_unit_spike_train(u), dtype=np.int64) for u in sorting.unit_ids]
        if preprocessed:  # a sorter may keep two alike neurons as one unit: split them on its whitened input
            trains_rows = split_units(binary, trains_rows, params.seed)
        # a sorter may return one neuron twice (tridesclous2 on 16 channels laid out in the wrong
        # geometry did: pairs of units sharing > 95 % of their spikes); SpikeInterface's curation
        # keeps the one with more spikes
        trains_rows = _without_duplicates(trains_rows, rec.rate_hz)
    except (RuntimeError, ValueError, OSError) as exc:  # a sorter's failure is one line naming the group, not a traceback
        raise ValueError(f"{rec.path}: sorting channel group {','.join(group)} with {params.sorter} failed: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    trains = [np.asarray(rec.row_to_index(r), dtype=np.int64) for r in trains_rows if len(r)]
    quality = _quality(rec, group, trains, params) if params.quality and trains else [None] * len(trains)
    by_channel: dict[str, list[tuple[np.ndarray, object]]] = {}
    for train, q in zip(trains, quality):
        best = q.best_channel if q is not None else _largest_channel(det, group, train)
        by_channel.setdefault(best, []).append((train, q))
    out: dict[str, list[Unit]] = {}
    for ch, items in by_channel.items():
        sp = det.spikes[ch]
        units = [describe_unit(sp, _matching_spikes(sp, train, det.params.dead_samples(det.rate_hz)), "", train,
                               group, q) for train, q in items]
        units.sort(key=lambda u: -abs(u.quality.template_uV.min() if u.quality is not None else u.amplitude))
        out[ch] = [replace(u, label=f"{ch}:u{k}") for k, u in enumerate(units)]
    return out


def _without_duplicates(trains_rows: list[np.ndarray], rate_hz: float) -> list[np.ndarray]:
    """The trains with a unit found twice kept once (SpikeInterface's ``remove_redundant_units``:
    two units sharing more than ``DUPLICATE_SHARE`` of their spikes; the one with more spikes stays)."""
    import spikeinterface.core as sc
    from spikeinterface.curation import remove_redundant_units

    trains_rows = [t for t in trains_rows if len(t)]
    if len(trains_rows) < 2:
        return trains_rows
    sorting = sc.NumpySorting.from_unit_dict([dict(enumerate(trains_rows))], rate_hz)
    sorting = remove_redundant_units(sorting, align=False, duplicate_threshold=DUPLICATE_SHARE,
                                     remove_strategy="max_spikes")
    return [np.asarray(sorting.get_unit_spike_train(u), dtype=np.int64) for u in sorting.unit_ids]


def sorter_params(sorter: str, seed: int = 0, preprocessed: bool = False) -> dict:
    """The parameters ionto gives a sorter: one job, no progress bars, a fixed seed where it
    takes one; ``preprocessed``: the input is already filtered and whitened the sorter's way
    (``analysis.sorting_input.sorter_input``), so the sorter must not do it again; everything
    else at the sorter's defaults."""
    if sorter in ("tridesclous2", "spykingcircus2"):
        out = {"job_kwargs": {"n_jobs": 1, "progress_bar": False}, "seed": seed}
        if preprocessed:
            out["apply_preprocessing"] = False
        return out
    return {"n_jobs": 1, "whitening_seed": seed}


def _matching_spikes(sp: Spikes, train: np.ndarray, tol: int) -> np.ndarray:
    """Positions in ``sp`` of its detected spikes within ``tol`` samples of a spike of ``train``."""
    if not len(sp.index) or not len(train):
        return np.zeros(0, dtype=np.int64)
    i = np.clip(np.searchsorted(sp.index, train), 1, len(sp.index) - 1)
    left, right = i - 1, i
    pick = np.where(np.abs(sp.index[left] - train) <= np.abs(sp.index[right] - train), left, right)
    return np.unique(pick[np.abs(sp.index[pick] - train) <= tol])


def _largest_channel(det: Detection, group: tuple[str, ...], train: np.ndarray) -> str:
    """Without metrics: the group channel whose detected spikes match the train most often."""
    tol = det.params.dead_samples(det.rate_hz)
    return max(group, key=lambda ch: len(_matching_spikes(det.spikes[ch], train, tol)))
