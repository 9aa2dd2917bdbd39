"""Faults on demand: when each one happens, and what it changes.

Faults come from the rig file (``simulation.faults``) or are added from code
(``SimDevice.inject_fault``).  Each has a time ``at_s`` (seconds of acquisition, i.e. sample
``round(at_s · rate_hz)``).  Their symptoms in the recorded data:

===============  =========================================================================
``overflow``     samples lost: the next block's ``start_index`` jumps by ``lost_s`` (a gap
                 in the recording), or with ``report: error`` that read raises
                 ``InputOverflowError`` (NI -200279) and the following block starts later
``disconnect``   ``read`` raises ``DeviceDisconnectedError`` (NI -201003); writes fail too:
                 the recording ends there with an error event
``clog``         the barrel's resistance jumps to ``resistance_MOhm``: its current monitor
                 shows the current clipped at compliance_V / R, the net tip current is no
                 longer zero (a step artefact on the electrode), less drug is released
``open``         the barrel carries no current (a broken lead, an empty barrel, an air
                 bubble): its monitor reads 0 whatever is commanded
``swap``         two barrels' command lines are swapped: each command drives the other
                 barrel's current source (each monitor still shows its own barrel)
``noise_burst``  broadband noise of ``rms_uV`` on the electrode(s) for ``duration_s``
                 (clipping at the ADC range if large enough)
``neuron_lost``  the neuron's rate drops to 0 (from the next model step): no more spikes
===============  =========================================================================

Each fault is also announced as a ``note`` event in the event log at its sample index.

Thread: whichever thread owns the simulation/device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq.types import EventKind, LogEvent
from mock_daq.model import (
    AnyFault,
    ClogFault,
    DisconnectFault,
    NeuronLostFault,
    NoiseBurstFault,
    OpenFault,
    OverflowFault,
    SwapFault,
)

OPEN_RESISTANCE_MOHM = 1e9
"""An open barrel: 1 PΩ, so even 1000 V of compliance drives 1 pA through it."""


@dataclass(frozen=True)
class Burst:
    start: int
    stop: int
    rms_uV: float
    electrode: int | None


class FaultTimeline:
    """The scheduled faults of one run, in sample indices."""

    def __init__(self, rate_hz: float, barrel_names: tuple[str, ...], faults: tuple[AnyFault, ...] = ()):
        self.fs = rate_hz
        self.barrels = barrel_names
        self.faults: list[AnyFault] = []
        self._fired_overflows: set[int] = set()
        self._announced = 0  # events announced up to this sample index
        for f in faults:
            self.add(f)

    def index(self, seconds: float) -> int:
        return round(seconds * self.fs)

    def add(self, fault: AnyFault) -> None:
        self.faults.append(fault)
        self.faults.sort(key=lambda f: f.at_s)

    # --- sample-level ------------------------------------------------------------------
    def _clogs(self) -> list[tuple[int, int, int, float]]:
        """(barrel column, start, stop, resistance) per clog or open barrel."""
        out = []
        for f in self.faults:
            if isinstance(f, ClogFault):
                a = self.index(f.at_s)
                b = self.index(f.at_s + f.duration_s) if f.duration_s is not None else 2**62
                out.append((self.barrels.index(f.barrel), a, b, f.resistance_MOhm))
            elif isinstance(f, OpenFault):
                out.append((self.barrels.index(f.barrel), self.index(f.at_s), 2**62, OPEN_RESISTANCE_MOHM))
        return out

    def rewire(self, start: int, commanded_nA: np.ndarray) -> np.ndarray:
        """The currents each barrel's source is asked for, channel-major (n_barrels, n), for
        samples from ``start``: with a swap, barrel a's source gets barrel b's command."""
        swaps = [f for f in self.faults if isinstance(f, SwapFault)]
        if not swaps:
            return commanded_nA
        out = commanded_nA.copy()
        stop = start + commanded_nA.shape[1]
        for f in swaps:
            a, b = (self.barrels.index(x) for x in f.barrels)
            k = min(max(self.index(f.at_s) - start, 0), stop - start)
            out[[a, b], k:] = out[[b, a], k:]
        return out

    def resistance(self, base_MOhm: np.ndarray, start: int, n: int) -> np.ndarray:
        """Barrel resistances for samples [start, start + n): (n_barrels,) when constant over
        the block, else (n_barrels, n)."""
        stop = start + n
        clogs = self._clogs()
        if not clogs:
            return base_MOhm
        inside = [c for c in clogs if c[1] < stop and c[2] > start]
        changes = any(start < c[1] < stop or start < c[2] < stop for c in inside)
        if not changes:
            r = base_MOhm.copy()
            for col, _a, _b, res in inside:
                r[col] = res
            return r
        r2 = np.repeat(base_MOhm[:, None], n, axis=1)
        for col, a, b, res in inside:
            r2[col, max(a, start) - start:min(b, stop) - start] = res
        return r2

    def bursts(self, start: int, n: int) -> list[Burst]:
        stop = start + n
        out = []
        for f in self.faults:
            if isinstance(f, NoiseBurstFault):
                a, b = self.index(f.at_s), self.index(f.at_s + f.duration_s)
                if a < stop and b > start:
                    out.append(Burst(a, b, f.rms_uV, f.electrode))
        return out

    def neuron_lost_at(self, neuron: int) -> int | None:
        """Sample index from which a neuron is lost, or None."""
        idx = [self.index(f.at_s) for f in self.faults if isinstance(f, NeuronLostFault) and f.neuron == neuron]
        return min(idx) if idx else None

    # --- device-level ------------------------------------------------------------------
    def overflow_due(self, read_index: int) -> OverflowFault | None:
        """The first overflow not yet fired whose time has come (marks it fired)."""
        for i, f in enumerate(self.faults):
            if isinstance(f, OverflowFault) and id(f) not in self._fired_overflows and self.index(f.at_s) <= read_index:
                self._fired_overflows.add(id(f))
                return self.faults[i]  # type: ignore[return-value]
        return None

    def disconnect_at(self) -> int | None:
        idx = [self.index(f.at_s) for f in self.faults if isinstance(f, DisconnectFault)]
        return min(idx) if idx else None

    # --- the event log -----------------------------------------------------------------
    def announcements(self, stop: int) -> list[LogEvent]:
        """Note events for simulation-level faults starting (or ending) before ``stop`` that
        were not announced yet."""
        out: list[LogEvent] = []
        lo = self._announced
        for f in self.faults:
            a = self.index(f.at_s)
            if isinstance(f, ClogFault):
                if lo <= a < stop:
                    out.append(LogEvent(a, EventKind.NOTE, f.barrel, 0.0,
                                        f"simulated fault: barrel {f.barrel!r} clogged "
                                        f"(resistance {f.resistance_MOhm:g} MΩ)"))
                if f.duration_s is not None and lo <= self.index(f.at_s + f.duration_s) < stop:
                    out.append(LogEvent(self.index(f.at_s + f.duration_s), EventKind.NOTE, f.barrel, 0.0,
                                        f"simulated fault ends: barrel {f.barrel!r} unclogged"))
            elif isinstance(f, OpenFault) and lo <= a < stop:
                out.append(LogEvent(a, EventKind.NOTE, f.barrel, 0.0, f"simulated fault: barrel {f.barrel!r} open "
                                                                       "(it carries no current)"))
            elif isinstance(f, SwapFault) and lo <= a < stop:
                out.append(LogEvent(a, EventKind.NOTE, "", 0.0, f"simulated fault: the command lines of barrels "
                                                                f"{f.barrels[0]!r} and {f.barrels[1]!r} are swapped"))
            elif isinstance(f, NoiseBurstFault) and lo <= a < stop:
                where = "every electrode" if f.electrode is None else f"electrode {f.electrode}"
                out.append(LogEvent(a, EventKind.NOTE, "", 0.0,
                                    f"simulated fault: noise burst of {f.rms_uV:g} µV rms for "
                                    f"{f.duration_s:g} s on {where}"))
            elif isinstance(f, NeuronLostFault) and lo <= a < stop:
                out.append(LogEvent(a, EventKind.NOTE, "", 0.0, f"simulated fault: neuron {f.neuron} lost"))
        self._announced = max(self._announced, stop)
        out.sort(key=lambda e: e.sample_index)
        return out

    def describe(self) -> list[dict]:
        return [{**f.model_dump(mode="json"), "sample_index": self.index(f.at_s)} for f in self.faults]
