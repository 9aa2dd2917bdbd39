"""Reading the small files people write by hand (rig files, protocols, NWB metadata), with
errors that name the file and say what is wrong — never a traceback.

Thread: any.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from daq.errors import ConfigError


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The file's text (UTF-8); ``what`` names it in the error ("the rig file")."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from None


def parse_yaml(text: str, source: str) -> Any:
    """YAML text → Python data; ``source`` names it in the error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from None


def load_config_file(path: str | os.PathLike[str], what: str) -> Any:
    """A YAML file, or JSON where the name ends in .json, as Python data."""
    p = Path(path)
    text = read_text(p, what)
    if p.suffix.lower() != ".json":
        return parse_yaml(text, str(p))
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{p}: not valid JSON: {exc}") from None
