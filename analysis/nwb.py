"""The NWB module's public names, as the rest of the analysis imports them.

* ``NWBRecording(path)``: an NWB file's ElectricalSeries read like an ionto recording
  (``analysis.nwb_source.NwbSource``);
* ``read_units(path)``: sorted units of an NWB Units table as ``{label: spike times (s)}``,
  labels ``unit<ID>`` (``read_nwb_units`` gives ids, electrodes and the table's properties);
* ``export_nwb``: an ionto recording as an NWB file (``analysis.nwb_export``).
"""

from __future__ import annotations

import os

import numpy as np

from analysis.nwb_export import ExportOptions, ExportSummary, NwbExportError, export_nwb
from analysis.nwb_file import NwbFormatError
from analysis.nwb_source import NwbSource
from analysis.nwb_units import NwbUnit, read_nwb_units

NWBRecording = NwbSource


def read_units(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Spike times (s) of each unit of the file's Units table, by label ``unit<ID>``."""
    return {f"unit{u.unit_id}": u.spike_times_s for u in read_nwb_units(path)}


__all__ = ["ExportOptions", "ExportSummary", "NWBRecording", "NwbExportError", "NwbFormatError", "NwbSource",
           "NwbUnit", "export_nwb", "read_nwb_units", "read_units"]
