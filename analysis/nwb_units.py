"""Sorted units of an NWB file's Units table, for analysing chosen units.

Thread: the caller's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.nwb_file import NwbFormatError, open_nwb


@dataclass(frozen=True)
class NwbUnit:
    """One unit of an NWB Units table."""

    unit_id: int
    spike_times_s: np.ndarray
    electrodes: tuple[int, ...] = ()  # rows of the electrodes table
    channel: str | None = None  # channel_name (or label) of its first electrode, when the file has one
    properties: dict[str, Any] = field(default_factory=dict)  # the table's other scalar columns

    def spike_index(self, rate_hz: float) -> np.ndarray:
        """Spike times as sample indices at ``rate_hz`` (for the analysis)."""
        return np.rint(self.spike_times_s * rate_hz).astype(np.int64)


def read_nwb_units(path: str | os.PathLike[str], unit_ids: Sequence[int] | None = None) -> list[NwbUnit]:
    """The units of an NWB file's Units table (all, or those whose ids are in ``unit_ids``)."""
    p = Path(path)
    io, nwb = open_nwb(p)
    try:
        units = nwb.units
        if units is None or len(units) == 0:
            raise NwbFormatError(f"{p}: no Units table (or an empty one) in this NWB file")
        ids = [int(i) for i in units.id[:]]
        if unit_ids is not None:
            missing = sorted(set(unit_ids) - set(ids))
            if missing:
                raise NwbFormatError(f"{p}: no units with ids {missing}; the file has ids {ids}")
        skip = {"spike_times", "spike_times_index", "electrodes", "electrodes_index", "obs_intervals",
                "obs_intervals_index", "waveform_mean", "waveform_sd", "waveforms", "electrode_group"}
        rows_of: list[tuple[int, ...]] = [() for _ in ids]
        names: Any = None
        if "electrodes" in units.colnames:
            index = units["electrodes"]  # VectorIndex: ends into the region's electrode rows
            ends = np.asarray(index.data[:], dtype=np.int64)
            flat = np.asarray(index.target.data[:], dtype=np.int64)
            rows_of = [tuple(int(x) for x in flat[a:b]) for a, b in zip(np.append(0, ends[:-1]), ends)]
            table = index.target.table
            names = next((table[c].data[:] for c in ("channel_name", "label") if c in table.colnames), None)
        out = []
        for row, uid in enumerate(ids):
            if unit_ids is not None and uid not in unit_ids:
                continue
            elecs = rows_of[row]
            channel = str(names[elecs[0]]) if names is not None and elecs else None
            props = {}
            for c in units.colnames:
                if c in skip:
                    continue
                v = units[c][row]
                if isinstance(v, np.generic):
                    v = v.item()
                if isinstance(v, str | int | float | bool):
                    props[c] = v
            out.append(NwbUnit(uid, np.asarray(units.get_unit_spike_times(row), dtype=np.float64), elecs,
                               channel, props))
        return out
    finally:
        io.close()
