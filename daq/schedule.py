"""The AO schedule: piecewise-constant barrel currents keyed by absolute sample index.

The engine renders AO samples from it for any sample range; protocol runners and manual
commands add changes at sample indices not yet written to the device.  The balance
barrel is never commanded: it is rendered as the negated sum of the others.

Limits are checked when a change is added (for every later change point, so a change
can never make a scheduled future state unsafe) and again on every render — so no sample
above a limit can reach the device.

Slew limit: when the pipette sets ``slew_limit_nA_per_ms`` and the schedule knows the sample
rate, each barrel's current ramps linearly from its present value to a new target at that
rate, starting at the change's sample (a current step never exceeds the limit per sample);
the ramps are limit-checked when a change is added as well as when rendered.

Thread: owned by the engine thread; not thread-safe.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from daq.errors import CurrentLimitError
from daq.pipette import Pipette


@dataclass(frozen=True)
class CurrentChange:
    """A barrel's current becomes ``current_nA`` at ``sample_index`` (inclusive)."""

    sample_index: int
    barrel: str
    current_nA: float
    source: str = ""


class AOSchedule:
    """Barrel currents over sample time.  Starts with every barrel at its safe current."""

    def __init__(self, pipette: Pipette, initial_nA: Mapping[str, float] | None = None,
                 rate_hz: float | None = None):
        self.pipette = pipette
        self.rate_hz = rate_hz
        # the largest current step per sample (nA), or None when no slew limit applies
        self.step_nA: float | None = (
            pipette.slew_limit_nA_per_ms * 1000.0 / rate_hz if pipette.slew_limit_nA_per_ms and rate_hz else None
        )
        n = len(pipette.barrels)
        self._bal = pipette.balance_index
        self._idx: list[list[int]] = [[] for _ in range(n)]
        self._val: list[list[float]] = [[] for _ in range(n)]
        self._src: list[list[str]] = [[] for _ in range(n)]
        base = pipette.safe_currents_nA()
        if initial_nA:
            for name, cur in initial_nA.items():
                base[pipette.index(name)] = cur
            base = pipette.with_balance(base)
        pipette.check(base)
        self._base = base  # currents before any change (targets)
        self._base_now = base.copy()  # where each current actually is before the first change (ramps)
        self._frozen_until = 0  # samples below this index were written to the device

    # --- queries ------------------------------------------------------------------------
    @property
    def frozen_until(self) -> int:
        """Samples below this index have been rendered to the device and cannot change."""
        return self._frozen_until

    def currents_at(self, sample_index: int) -> np.ndarray:
        """Signed currents of every barrel at a sample (balance included)."""
        out = self._base.copy()
        for i in range(len(out)):
            if i == self._bal:
                continue
            k = bisect.bisect_right(self._idx[i], sample_index) - 1
            if k >= 0:
                out[i] = self._val[i][k]
        return self.pipette.with_balance(out)

    def current_at(self, barrel: str, sample_index: int) -> float:
        return float(self.currents_at(sample_index)[self.pipette.index(barrel)])

    def last_change_index(self) -> int:
        """Index of the latest scheduled change (0 if none)."""
        return max((ix[-1] for ix in self._idx if ix), default=0)

    def final_currents(self) -> np.ndarray:
        """Currents after the last scheduled change."""
        return self.currents_at(self.last_change_index())

    def ends_safe(self) -> bool:
        """True when every barrel ends at its safe current."""
        return bool(np.allclose(self.final_currents(), self.pipette.safe_currents_nA(), atol=1e-6))

    def changes_in(self, start: int, stop: int) -> list[CurrentChange]:
        """Changes with ``start <= sample_index < stop`` that alter a barrel's current,
        sorted by sample index then barrel order."""
        out: list[CurrentChange] = []
        for i, b in enumerate(self.pipette.barrels):
            if i == self._bal:
                continue
            ix = self._idx[i]
            lo = bisect.bisect_left(ix, start)
            hi = bisect.bisect_left(ix, stop)
            for k in range(lo, hi):
                prev = self._val[i][k - 1] if k > 0 else self._base[i]
                if abs(self._val[i][k] - prev) > 1e-9:
                    out.append(CurrentChange(ix[k], b.name, self._val[i][k], self._src[i][k]))
        out.sort(key=lambda c: (c.sample_index, self.pipette.index(c.barrel)))
        return out

    # --- changes ------------------------------------------------------------------------
    def set_currents(self, currents_nA: Mapping[str, float], at_index: int, source: str = "") -> list[CurrentChange]:
        """Set several barrels at once from ``at_index`` on, replacing their later changes.

        Atomic: if the resulting schedule would exceed any limit at any later change
        point, nothing changes and ``CurrentLimitError`` is raised."""
        if at_index < self._frozen_until:
            raise ValueError(
                f"sample {at_index} was already written to the device (next writable sample: "
                f"{self._frozen_until})"
            )
        cols = {}
        for name, cur in currents_nA.items():
            i = self.pipette.index(name)
            if i == self._bal:
                raise CurrentLimitError(
                    f"barrel {name!r} is the balance barrel: its current is always the negated sum "
                    "of the others and cannot be set"
                )
            cols[i] = float(cur)
        # candidate state
        new_idx = [list(x) for x in self._idx]
        new_val = [list(x) for x in self._val]
        new_src = [list(x) for x in self._src]
        for i, cur in cols.items():
            k = bisect.bisect_left(new_idx[i], at_index)
            del new_idx[i][k:], new_val[i][k:], new_src[i][k:]
            new_idx[i].append(at_index)
            new_val[i].append(cur)
            new_src[i].append(source)
        points = sorted({at_index, *(p for ix in new_idx for p in ix if p >= at_index)})
        states = np.array([self._state(new_idx, new_val, p) for p in points])
        if self.step_nA is not None:  # and every ramp, checked where it bends
            bends = self._ramp_ends(new_idx, new_val, at_index)
            if bends:
                states = np.concatenate([states, *(self._render(new_idx, new_val, b, 1) for b in bends)])
        msgs = self.pipette.violations(states)
        if msgs:
            raise CurrentLimitError(
                f"refused at sample {at_index} ({source or 'command'}): " + "; ".join(msgs)
            )
        self._idx, self._val, self._src = new_idx, new_val, new_src
        return [CurrentChange(at_index, self.pipette.barrels[i].name, cur, source) for i, cur in cols.items()]

    def set_current(self, barrel: str, current_nA: float, at_index: int, source: str = "") -> CurrentChange:
        """Set one barrel's current from ``at_index`` on (replacing its later changes)."""
        return self.set_currents({barrel: current_nA}, at_index, source)[0]

    def safe_all(self, at_index: int, source: str = "safe") -> list[CurrentChange]:
        """Every barrel to its safe current (retain, or zero where configured) from ``at_index``;
        every later change is dropped."""
        safe = self.pipette.safe_currents_nA()
        currents = {b.name: float(safe[i]) for i, b in enumerate(self.pipette.barrels) if i != self._bal}
        return self.set_currents(currents, at_index, source)

    def _state(self, idx: list[list[int]], val: list[list[float]], point: int) -> np.ndarray:
        out = self._base.copy()
        for i in range(len(out)):
            if i == self._bal:
                continue
            k = bisect.bisect_right(idx[i], point) - 1
            if k >= 0:
                out[i] = val[i][k]
        return self.pipette.with_balance(out)

    # --- rendering ----------------------------------------------------------------------
    def render_nA(self, start: int, n: int) -> np.ndarray:
        """Currents for samples ``start .. start+n-1``, shape (n, n_barrels), balance included."""
        return self._render(self._idx, self._val, start, n)

    def _render(self, idx: list[list[int]], val: list[list[float]], start: int, n: int) -> np.ndarray:
        out = np.empty((n, len(self.pipette.barrels)), dtype=np.float64)
        stop = start + n
        for i in range(len(self.pipette.barrels)):
            if i == self._bal:
                continue
            ix, v = idx[i], val[i]
            if self.step_nA is not None:
                out[:, i] = self._ramped(i, ix, v, start, n)
                continue
            k = bisect.bisect_right(ix, start) - 1
            out[:, i] = v[k] if k >= 0 else self._base[i]
            k += 1
            while k < len(ix) and ix[k] < stop:
                out[ix[k] - start:, i] = v[k]
                k += 1
        return self.pipette.with_balance(out)

    def _ramped(self, col: int, ix: list[int], val: list[float], start: int, n: int) -> np.ndarray:
        """One barrel's slew-limited current for ``start .. start+n-1``: from each change on,
        it moves toward the new target by at most ``step_nA`` per sample."""
        step = self.step_nA
        assert step is not None
        out = np.full(n, self._base_now[col])
        t = np.arange(start, start + n, dtype=np.float64)
        v_from = self._base_now[col]
        for k, (at, target) in enumerate(zip(ix, val)):
            if k > 0:  # where the previous ramp had got to when this change began
                prev_at, prev_target = ix[k - 1], val[k - 1]
                v_from = _ramp_value(v_from, prev_target, (at - prev_at) * step)
            end = ix[k + 1] if k + 1 < len(ix) else start + n
            if end <= start or at >= start + n:
                continue
            lo, hi = max(at, start) - start, min(end, start + n) - start
            d = target - v_from
            moved = np.minimum(abs(d), (t[lo:hi] - at) * step)
            out[lo:hi] = v_from + np.sign(d) * moved
        return out

    def _ramp_ends(self, idx: list[list[int]], val: list[list[float]], from_index: int) -> list[int]:
        """Samples (at or after ``from_index``) where a slew-limited ramp reaches its target.

        Each barrel's current is continuous and piecewise linear in the sample index, bending
        only at change points and where a ramp arrives; so is the balance current, their
        negated sum.  Every limit is a linear bound on a current or on that sum, so checking
        the change points and these ramp ends checks every sample in between — exactly, and
        without rendering ramps sample by sample."""
        step = self.step_nA
        assert step is not None
        ends: set[int] = set()
        for i in range(len(self.pipette.barrels)):
            if i == self._bal:
                continue
            ix, v = idx[i], val[i]
            v_from = self._base_now[i]
            for k, (at, target) in enumerate(zip(ix, v)):
                if k > 0:
                    v_from = _ramp_value(v_from, v[k - 1], (at - ix[k - 1]) * step)
                end = at + int(np.ceil(abs(target - v_from) / step))
                nxt = ix[k + 1] if k + 1 < len(ix) else None
                if end >= from_index and (nxt is None or end < nxt):
                    ends.add(end)
        return sorted(ends)

    def render_volts(self, start: int, n: int) -> np.ndarray:
        """AO command volts for samples ``start .. start+n-1``, shape (n, n_ao).

        Checks every sample against the limits again (raising ``CurrentLimitError``), and
        freezes the range: later changes must start at or after ``start + n``."""
        currents = self.render_nA(start, n)
        volts = self.pipette.to_volts(currents)  # checks limits
        self._frozen_until = max(self._frozen_until, start + n)
        return volts

    def freeze(self, until_index: int) -> None:
        """Treat samples below ``until_index`` as written without rendering them (a dry
        run's fake clock): later changes must start at or after it."""
        self._frozen_until = max(self._frozen_until, until_index)

    def prune(self, before_index: int) -> None:
        """Forget changes that are superseded before ``before_index`` (memory stays flat)."""
        before_index = min(before_index, self._frozen_until)
        for i in range(len(self._idx)):
            k = bisect.bisect_right(self._idx[i], before_index) - 1
            if k > 0:
                if self.step_nA is not None:  # where the current is when change k begins
                    self._base_now[i] = self._trajectory_at_change(i, k)
                else:
                    self._base_now[i] = self._val[i][k - 1]
                self._base[i] = self._val[i][k - 1]
                del self._idx[i][: k], self._val[i][: k], self._src[i][: k]
                # keep the change at k so changes_in can still see it relative to base

    def _trajectory_at_change(self, col: int, k: int) -> float:
        """The slew-limited current of ``col`` at the sample where its change ``k`` begins."""
        assert self.step_nA is not None
        ix, val = self._idx[col], self._val[col]
        v = self._base_now[col]
        for j in range(1, k + 1):
            v = _ramp_value(v, val[j - 1], (ix[j] - ix[j - 1]) * self.step_nA)
        return v


def _ramp_value(v_from: float, target: float, max_move: float) -> float:
    """Where a ramp from ``v_from`` toward ``target`` is after moving at most ``max_move``."""
    d = target - v_from
    return target if abs(d) <= max_move else v_from + (max_move if d > 0 else -max_move)
