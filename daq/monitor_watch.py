"""The monitor watchdog: each barrel's monitored current against what was commanded.

A current source whose gain is not the rig file's (a range switch at 100 nA/V while the
file says 20 nA/V) delivers 5x every current — ejection and retain alike — while the board
writes exactly what the schedule asks.  Only the current monitor can see it.  Each block,
the engine hands this watchdog the block and the commanded currents of its samples; when a
barrel's monitored current

* exceeds the barrel's limit, or
* exceeds the commanded magnitude, or has the opposite sign,

by more than the tolerance, for longer than ``hold_s`` in a row, ``check`` returns one line
naming the barrel, measured vs commanded current and the likely cause.  The engine then
stops the run with every output at 0 V (not at retain: with a wrong gain the retain levels
are wrong too).

A monitored current *below* the command is what a clogged barrel or a source at its
compliance voltage gives; that is not dangerous to the preparation and is reported as a
delivered-current warning after the run (``analysis.pipeline.delivered_current_problems``),
not stopped here.

Thread: the engine thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq.errors import IontoError
from daq.pipette import Pipette
from daq.types import Block, ChannelKind, StreamInfo


@dataclass(frozen=True)
class MonitorLimits:
    """How far a monitored current may stray, and for how long, before the run is stopped."""

    tolerance_nA: float = 10.0
    tolerance_fraction: float = 0.25  # of the commanded magnitude, added to ``tolerance_nA``
    hold_s: float = 0.5


class MonitorTripped(IontoError):
    """Raised by the engine when ``MonitorWatchdog.check`` finds a barrel out of bounds."""


@dataclass
class _Watched:
    channel: int  # column in the block
    barrel: int  # column in the commanded currents
    name: str
    limit_nA: float
    gain_nA_per_V: float
    since: int | None = None  # first sample of the current run of bad blocks


class MonitorWatchdog:
    """Compares monitored with commanded currents block by block (see the module docstring)."""

    def __init__(self, stream: StreamInfo, pipette: Pipette, limits: MonitorLimits | None = None):
        self.limits = limits or MonitorLimits()
        self.stream = stream
        self._hold = max(1, round(self.limits.hold_s * stream.rate_hz))
        names = pipette.names
        self._watched: list[_Watched] = []
        for i, ch in enumerate(stream.channels):
            if ch.kind != ChannelKind.CURRENT_MONITOR or ch.barrel not in names:
                continue
            b = pipette.barrel(ch.barrel)
            self._watched.append(_Watched(i, names.index(ch.barrel), b.name, b.max_abs_nA, b.command_gain_nA_per_V))

    @property
    def active(self) -> bool:
        return bool(self._watched)

    def check(self, block: Block, commanded_nA: np.ndarray) -> str | None:
        """``commanded_nA``: (n, n_barrels) for the block's samples.  A message when a barrel
        has been out of bounds for ``hold_s``, else None."""
        lim = self.limits
        for w in self._watched:
            measured = float(np.median(self.stream.to_physical(block.data[:, w.channel], w.channel)))
            cmd = commanded_nA[:, w.barrel]
            commanded = float(cmd[np.argmax(np.abs(cmd))]) if cmd.size else 0.0  # the largest in the block
            tol = lim.tolerance_nA + lim.tolerance_fraction * abs(commanded)
            why = ""
            if abs(measured) > w.limit_nA + tol:
                why = f"beyond its limit of {w.limit_nA:g} nA"
            elif abs(measured) > abs(commanded) + tol:
                why = "more than commanded"
            elif abs(commanded) > tol and abs(measured) > tol and measured * commanded < 0:
                why = "with the opposite sign"
            if not why:
                w.since = None
                continue
            if w.since is None:
                w.since = block.start_index
            if block.end_index - w.since >= self._hold:
                return self._message(w, measured, commanded, why)
        return None

    def _message(self, w: _Watched, measured: float, commanded: float, why: str) -> str:
        held = self.limits.hold_s
        text = (f"barrel {w.name!r}: the monitor measured {measured:+.1f} nA while {commanded:+.1f} nA was "
                f"commanded ({why}) for {held:g} s")
        if abs(commanded) > self.limits.tolerance_nA and measured * commanded > 0:
            actual = w.gain_nA_per_V * measured / commanded
            text += (f": the current source behaves like {abs(actual):.3g} nA/V, the rig file says "
                     f"{abs(w.gain_nA_per_V):g} nA/V (command_gain_nA_per_V) — check the source's range "
                     "switch and the rig file")
        elif measured * commanded < 0:
            text += ": the command or monitor polarity is swapped (rig file polarity, source wiring)"
        else:
            text += ": check the rig file's command and monitor gains and the source's range"
        return text + "; the run was stopped with every output at 0 V"
