"""What a recording stores besides samples and events: the protocol, software versions, time."""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import h5py


@dataclass(frozen=True)
class ProtocolInfo:
    """What the recording stores about the protocol that ran."""

    text: str = ""
    name: str = ""
    format: str = ""  # "yaml", "python", "manual"
    params: Mapping[str, Any] = field(default_factory=dict)  # the resolved parameters
    source: str = ""  # the plan's Python source


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    return tuple(_collect_versions().items())


def software_versions() -> dict[str, str]:
    """ionto, Python, the platform and the libraries that shape the data (looked up once)."""
    return dict(_versions())


def _collect_versions() -> dict[str, str]:
    import daq

    versions = {"ionto": daq.__version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for dist in ("numpy", "scipy", "h5py", "nidaqmx", "pydantic"):
        try:  # from the installed metadata: importing nidaqmx just for its version is slow
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["hdf5"] = h5py.version.hdf5_version
    return versions


def now_with_timezone() -> tuple[str, str, float]:
    """(ISO 8601 local time with UTC offset, time-zone name, Unix time) of this moment."""
    now = _dt.datetime.now().astimezone()
    return now.isoformat(), now.tzname() or "", now.timestamp()
