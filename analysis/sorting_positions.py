"""Contact positions of grouped channels from a small file (``ionto analyze --positions FILE``).

An ionto HDF5 recording stores no probe geometry, and a sorter's neighbourhoods are
distances between contacts (``analysis.sorting_input``), so a shank's layout is given in a
file, one row per channel, positions in µm:

* CSV with a header ``channel,x_um,y_um``;
* JSON or YAML: a list of ``{channel: NAME, x_um: X, y_um: Y}`` records, or a mapping
  ``NAME: [X, Y]``.

``read_positions(path)`` returns ``ContactPositions`` (channel → (x, y) µm, remembering the
file for messages) for ``SortingParams.positions_um``; ``analysis.sorting`` checks them
against the recording (a channel the recording does not have, a grouped channel without a
position, two channels at one place).  Anything else is one ``ValueError`` line naming the
file, the row or field, and what is accepted.

Thread: the caller's.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

ACCEPTED = ("a CSV with the header channel,x_um,y_um, or JSON/YAML: a list of {channel, x_um, y_um} records "
            "or a mapping channel: [x_um, y_um]")
FIELDS = ("channel", "x_um", "y_um")


class ContactPositions(dict):
    """channel name → (x, y) in µm; ``source``: where they came from (a file's path), for messages."""

    def __init__(self, items=(), source: str = ""):
        super().__init__(items)
        self.source = source


def read_positions(path: str | Path) -> ContactPositions:
    """The positions in ``path`` (CSV, JSON, YAML by suffix); ``ValueError`` in one line otherwise."""
    path = Path(path)
    if not path.is_file():  # a FIFO is refused here too, before any read could block
        what = "not a regular file" if path.exists() else "no such positions file"
        raise ValueError(f"{path}: {what} (expected {ACCEPTED})")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the positions file ({type(exc).__name__}); expected {ACCEPTED}") from None
    if suffix == ".csv":
        rows = _csv_rows(path, text)
    elif suffix in (".json", ".yaml", ".yml"):
        rows = _structured_rows(path, text, suffix)
    else:
        raise ValueError(f"{path}: positions file suffix {suffix or '(none)'!r} is not .csv, .json, .yaml or .yml "
                         f"(expected {ACCEPTED})")
    out = ContactPositions(source=str(path))
    for where, name, x, y in rows:
        name = str(name).strip() if name is not None else ""
        if not name:
            raise ValueError(f"{path}, {where}: 'channel' is empty; every row names a channel")
        if name in out:
            raise ValueError(f"{path}, {where}: channel {name!r} is given twice; one position per channel")
        out[name] = (_number(path, where, "x_um", x), _number(path, where, "y_um", y))
    if not out:
        raise ValueError(f"{path}: no positions (expected {ACCEPTED})")
    return out


def _csv_rows(path: Path, text: str) -> list[tuple[str, object, object, object]]:
    reader = csv.DictReader(text.splitlines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    missing = [f for f in FIELDS if f not in cols]
    if missing:
        raise ValueError(f"{path}: the header has no {', '.join(repr(m) for m in missing)} column; found {cols} "
                         f"(expected {ACCEPTED})")
    rows = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        rows.append((f"line {line}", row.get("channel"), row.get("x_um"), row.get("y_um")))
    return rows


def _structured_rows(path: Path, text: str, suffix: str) -> list[tuple[str, object, object, object]]:
    try:
        if suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not valid {suffix[1:].upper()} ({str(exc).splitlines()[0]}); "
                         f"expected {ACCEPTED}") from None
    except Exception as exc:  # yaml.YAMLError and its kin: the file's fault, said in one line
        raise ValueError(f"{path}: not valid YAML ({type(exc).__name__}); expected {ACCEPTED}") from None
    if isinstance(data, dict):
        rows = []
        for name, xy in data.items():
            if not isinstance(xy, (list, tuple)) or len(xy) != 2:
                raise ValueError(f"{path}, channel {name!r}: position {xy!r} is not a pair [x_um, y_um]")
            rows.append((f"channel {name!r}", name, xy[0], xy[1]))
        return rows
    if isinstance(data, list):
        rows = []
        for i, rec in enumerate(data):
            if not isinstance(rec, dict) or any(f not in rec for f in FIELDS):
                raise ValueError(f"{path}, record {i}: {rec!r} lacks one of {', '.join(FIELDS)} (expected {ACCEPTED})")
            rows.append((f"record {i}", rec["channel"], rec["x_um"], rec["y_um"]))
        return rows
    raise ValueError(f"{path}: holds a {type(data).__name__}, not a list or mapping of positions (expected {ACCEPTED})")


def _number(path: Path, where: str, field: str, value: object) -> float:
    """A finite position in µm, else the one-line error naming the row and field."""
    try:
        v = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not math.isfinite(v):
        raise ValueError(f"{path}, {where}: {field} {value!r} is not a finite number (µm)")
    return v
