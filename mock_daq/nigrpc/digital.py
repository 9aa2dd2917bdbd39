"""Port 0 of the simulated X Series board and the current source's STANDBY/ENABLE input.

X Series boards have no analog-output watchdog; a hardware interlock is a digital line wired
to the current source's enable input, held at the enable level by ionto and dropped to
standby by the board's DIO watchdog when ionto stops resetting it (see DESIGN.md §7).

Line levels: ``True`` high, ``False`` low, ``None`` tristate (high impedance).  X Series DIO
lines power up, and return after a device reset, as high-impedance inputs with weak
pull-down resistors (X Series User Manual, "Digital I/O" / "Power-up states"), so a
tristated line reads low here.

The interlock: the simulated rig's current source delivers 0 nA on every barrel while its
enable input is not at the enable level.  Until something drives the interlock line (a DO
task or a DIO watchdog's expiration state) the input counts as *unwired* and the source
is enabled — rigs and tests that never use the interlock keep working unchanged.  Once
driven, the line's level decides, including after a device reset (tristate → pulled low →
standby when the enable level is high).

Thread: not locked itself; ``Hardware`` calls it under its lock.
"""

from __future__ import annotations

import re

from daq.rig import RigConfig
from mock_daq.stimulus import TrialLines

DEFAULT_INTERLOCK = "port0/line0"


def line_number(line: str) -> int:
    """``'port0/line3'``, ``'Dev1/port0/line3'`` or ``'line3'`` → 3 (port 0 only)."""
    m = re.fullmatch(r"(?:/?(?!port\d)[^/]+/)?(?:port0/)?line(\d+)", line.strip().lower())
    if not m:
        raise ValueError(f"not a port0 line: {line!r} (expected e.g. port0/line0)")
    return int(m.group(1))


class DigitalPort:
    """The levels of port 0's lines and the interlock line read from them."""

    def __init__(self, n_lines: int = 8, interlock: int | None = 0, enable_high: bool = True):
        if interlock is not None and not 0 <= interlock < n_lines:
            raise ValueError(f"interlock line {interlock}: port0 has lines 0..{n_lines - 1}")
        self.n_lines = n_lines
        self.levels: list[bool | None] = [None] * n_lines
        self.interlock = interlock
        self.enable_high = enable_high
        self.driven: set[int] = set()  # lines something has driven since the server started

    def level(self, line: int) -> bool | None:
        return self.levels[line]

    def set(self, line: int, level: bool | None) -> None:
        self.levels[line] = level
        self.driven.add(line)

    def reset(self) -> None:
        """Device reset: every line back to its power-up state (tristate, pulled low)."""
        self.levels = [None] * self.n_lines

    def interlock_enabled(self) -> bool:
        if self.interlock is None or self.interlock not in self.driven:
            return True  # no interlock, or its input never driven: unwired counts as enabled
        high = bool(self.levels[self.interlock])  # tristate reads low (pull-down)
        return high == self.enable_high


def trial_lines_of(rig: RigConfig, strobe_s: float = 0.001) -> TrialLines | None:
    """The simulated task computer's trial, code and strobe outputs, wired to the port 0 lines
    the rig's ``trial_input`` reads (a 1 ms strobe pulse), or None when it has none."""
    ti = rig.trial_input
    if ti is None or not ti.digital:  # a network trial input: the task computer drives no lines
        return None
    trial, codes, strobe = ti.line_numbers()
    return TrialLines(trial, codes, strobe, max(1, round(strobe_s * rig.rate_hz)))
