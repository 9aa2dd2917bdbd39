"""Layout constants of the ionto HDF5 recording (schema version 1).

::

    /                              attrs: ionto_format, schema_version, created (ISO 8601, tz),
                                          software (JSON), closed_cleanly, notes
    /acquisition/samples           int16 (or float32) (rows, channels), chunked, growable
    /acquisition/committed_samples int64 scalar: rows a reader may trust
    /acquisition/segments          int64 (k, 2): [row, sample_index] where a contiguous run starts
    /acquisition/channels          compound: per-channel name, physical, kind, units, gain,
                                   scale_V, offset_V, range_V, barrel
                                   attrs of /acquisition: rate_hz
    /events/table                  compound: sample_index, kind, barrel, current_nA, text
    /events/committed              int64 scalar: events a reader may trust
    /pipette                       attrs: json (the Pipette model)
    /rig                           attrs: json (the rig configuration)
    /protocol                      attrs: text, name, format, params (JSON), source
    /ground_truth/<name>           simulator ground truth (when recorded from the simulated rig);
                                   attrs of /ground_truth: json (model parameters)
"""

from __future__ import annotations

import h5py
import numpy as np

FORMAT_NAME = "ionto-recording"
SCHEMA_VERSION = 1

STR = h5py.string_dtype("utf-8")

EVENT_DTYPE = np.dtype(
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
