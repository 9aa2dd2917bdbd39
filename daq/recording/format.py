"""Layout constants of the ionto HDF5 recording (schema version 2; docs/file-format.md).

::

    /                                attrs: ionto_format, schema_version, created (ISO 8601 with
                                            the UTC offset), timezone, created_unix, software (JSON),
                                            notes, closed_cleanly, stopped (ISO 8601, at a clean close)
    /acquisition                     attrs: rate_hz, sample_dtype ("int16" | "float32")
    /acquisition/samples             int16 or float32 (rows, channels), chunked, growable
    /acquisition/channels            compound: name, physical, kind, units, gain, scale_V,
                                     offset_V, range_V, barrel, terminal (one row per channel)
    /acquisition/segments            int64 (k, 2): [row, sample_index] where a contiguous run starts
    /acquisition/committed_samples   int64 scalar: rows a reader may trust
    /acquisition/heartbeat_unix      float64 scalar: wall-clock time of the writer's last commit
    /events/table                    compound: sample_index, kind, barrel, current_nA,
                                     text (a preview), text_offset, text_nbytes
    /events/text                     uint8: the events' full UTF-8 texts, back to back
    /events/committed                int64 scalar: events a reader may trust
    /currents/commanded_index        int64 (k,): sample index from which a row of currents holds
    /currents/commanded_nA           float64 (k, barrels): every barrel's commanded current (balance
                                     included); attrs: barrels (JSON list of names),
                                     monitor_channels (JSON {barrel: AI channel name})
    /currents/committed              int64 scalar: rows a reader may trust
    /pipette                         attrs: json (the Pipette model)
    /rig                             attrs: json (the rig configuration)
    /protocol                        attrs: text, name, format, params (JSON), source
    /ground_truth/<name>             simulator ground truth; attrs of /ground_truth: json
    /ground_truth_committed          compound (name, rows): rows of each truth dataset a reader may trust

The writer keeps the file in HDF5 SWMR mode while it records (``libver=('v110', 'v110')``):
every append is made of fixed-size data, so another process can read the file live, and a
file left by a killed writer opens (read-only, ``swmr=True``) with everything up to its last
commit.  A clean close leaves an ordinary HDF5 file.
"""

from __future__ import annotations

import h5py
import numpy as np

FORMAT_NAME = "ionto-recording"
SCHEMA_VERSION = 2
LIBVER = ("v110", "v110")  # SWMR needs >= v110; "latest" would be v200 with HDF5 2.0

STR = h5py.string_dtype("utf-8")

KIND_BYTES = 16
BARREL_BYTES = 64
TEXT_PREVIEW_BYTES = 120
TRUTH_NAME_BYTES = 128

# Fixed-size fields only: variable-length data cannot be appended under SWMR.
EVENT_DTYPE = np.dtype(
    [
        ("sample_index", "<i8"),
        ("kind", f"S{KIND_BYTES}"),
        ("barrel", f"S{BARREL_BYTES}"),
        ("current_nA", "<f8"),
        ("text", f"S{TEXT_PREVIEW_BYTES}"),
        ("text_offset", "<i8"),
        ("text_nbytes", "<i8"),
    ]
)

# Schema version 1 stored events with variable-length strings (still read).
EVENT_DTYPE_V1 = np.dtype(
    [("sample_index", "<i8"), ("kind", "S16"), ("barrel", STR), ("current_nA", "<f8"), ("text", STR)]
)

CHANNEL_DTYPE = np.dtype(
    [
        ("name", STR),
        ("physical", STR),
        ("kind", STR),
        ("units", STR),
        ("gain", "<f8"),
        ("scale_V", "<f8"),
        ("offset_V", "<f8"),
        ("range_V", "<f8"),
        ("barrel", STR),
        ("terminal", STR),
    ]
)

TRUTH_COMMITTED_DTYPE = np.dtype([("name", f"S{TRUTH_NAME_BYTES}"), ("rows", "<i8")])


def utf8_prefix(text: str, max_bytes: int) -> bytes:
    """``text`` as UTF-8, cut to at most ``max_bytes`` without splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return raw
    return raw[:max_bytes].decode("utf-8", "ignore").encode("utf-8")
