"""Bundled simulated rigs (``sim:PRESET``): YAML files in ``mock_daq/presets/``."""

from __future__ import annotations

from importlib import resources

from daq.config_file import parse_yaml
from daq.errors import ConfigError
from daq.rig import RigConfig, parse_rig

DEFAULT_PRESET = "cortex"


def list_presets() -> list[str]:
    files = resources.files("mock_daq") / "presets"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str = DEFAULT_PRESET) -> RigConfig:
    """The rig of a bundled preset, ``simulation:`` section included."""
    names = list_presets()
    if name not in names:
        raise ConfigError(f"no simulated rig preset {name!r}; presets are {names}")
    text = (resources.files("mock_daq") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")
    return parse_rig(parse_yaml(text, f"preset {name}"), f"preset {name}")
