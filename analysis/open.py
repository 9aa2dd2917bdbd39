"""Open any file the analysis reads: an ionto HDF5 recording or an NWB file.

``open_source(path)`` returns a ``daq.recording.Recording`` or an
``analysis.nwb_source.NwbSource`` (same reading surface); ``analyze_path(path, params)``
is ``analysis.pipeline.analyze`` on it — what ``ionto analyze`` and ``ionto analyze-batch`` call.
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.nwb_source import NwbSource, is_nwb_file
from analysis.pipeline import AnalysisParams, AnalysisResult, analyze
from daq.recording import Recording

NWB_SUFFIXES = (".nwb",)


def open_source(path: str | os.PathLike[str]) -> Recording | NwbSource:
    """An NWB file (by its ``.nwb`` name or its content) or an ionto recording.  The caller
    closes it (both are context managers)."""
    p = Path(path)
    if p.suffix.lower() in NWB_SUFFIXES or (p.exists() and is_nwb_file(p)):
        return NwbSource(p)
    return Recording(p)


def analyze_path(path: str | os.PathLike[str], params: AnalysisParams | None = None) -> AnalysisResult:
    """Analyse an ionto recording or an NWB file."""
    with open_source(path) as src:
        return analyze(src, params or AnalysisParams())
