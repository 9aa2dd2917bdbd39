"""Reading the small files people write by hand (rig files, protocols, NWB metadata), with
errors that name the file and say what is wrong — never a traceback.

Every YAML document ionto reads goes through :func:`parse_yaml`: a safe loader that
refuses a key repeated in one mapping (plain YAML silently keeps the last one) and whose
errors are one line, ``FILE: not valid YAML at line N, column M: what is wrong``.

Thread: any.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from daq.errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NamedText(io.StringIO):
    """YAML text whose marks (and so whose errors) name ``name`` rather than ``<unicode string>``."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.name = name


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (merge keys ``<<``
    may still be overridden, as YAML intends)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=False)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: the base constructor says so
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None,
                        f"duplicate key {key!r} (first at line {first.start_mark.line + 1}); "
                        "give each key once in a mapping",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 1e-9 and 2e4 as text; YAML 1.2 and every reader of these files
# reads them as numbers, so do we.
UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def yaml_error_line(exc: yaml.YAMLError, source: str) -> str:
    """One line for a YAML error: ``source: not valid YAML at line N, column M: problem``."""
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid"
        context = ""
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f" ({exc.context} from line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        return f"{source}: not valid YAML{_at(exc.problem_mark or exc.context_mark)}: {problem}{context}"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return (f"{source}: not valid YAML: the control character U+{char:04X} (at character {exc.position}) "
                "cannot appear in a YAML file")
    return f"{source}: not valid YAML: " + " ".join(str(exc).split())


def parse_yaml(text: str, source: str) -> Any:
    """YAML text → Python data; ``source`` names it in the error."""
    loader: UniqueKeyLoader | None = None
    try:
        loader = UniqueKeyLoader(_NamedText(text, source))  # reads (and checks) the first characters
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_line(exc, source)) from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The file's text (UTF-8); ``what`` names it in the error ("the rig file")."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not {what}")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from None


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
