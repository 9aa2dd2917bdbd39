"""What every verb shares: JSON output, progress bars, error reporting."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daq.engine import EngineEvent


def emit_json(doc: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(_clean(doc), indent=2, default=str) + "\n")
    sys.stdout.flush()


def _clean(o: Any) -> Any:
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    return o


def say(*parts: Any) -> None:
    """Human output: stdout normally, stderr when --json owns stdout."""
    print(*parts, file=_human_stream)


_human_stream = sys.stdout


def set_json_mode(on: bool) -> None:
    global _human_stream
    _human_stream = sys.stderr if on else sys.stdout


class EngineProgress:
    """A tqdm bar on stderr driven by the engine's ``BlockDone`` events (engine thread)."""

    def __init__(self, total_s: float | None, rate_hz: float, desc: str = "acquiring", disable: bool = False):
        from tqdm import tqdm

        self.rate_hz = rate_hz
        self.bar = tqdm(total=round(total_s, 1) if total_s else None, unit="s", desc=desc, file=sys.stderr,
                        disable=disable, bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s simulated [{elapsed}<{remaining}]")
        self._last = 0.0

    def __call__(self, ev: EngineEvent) -> None:
        from daq.engine import BlockDone

        if isinstance(ev, BlockDone):
            t = ev.read_index / self.rate_hz
            if t - self._last >= 0.5:
                self.bar.update(t - self._last)
                self._last = t

    def close(self) -> None:
        self.bar.close()
