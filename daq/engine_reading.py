"""Reading blocks for the engine: gaps, lost samples and the restart policy.

* A block whose ``start_index`` jumps past the previous block's end is a gap: logged as a
  GAP event (the recorder starts a new segment), published as a warning once.
* ``InputOverflowError`` (unread samples overwritten): on a device that reads on (the
  simulator's overflow fault) it is a warning and the next block's jump is the gap; more
  than ``max_overflows_in_row`` in a row stop the run.
* ``InputOverflowError``/``OutputUnderflowError`` on a ``Restartable`` device (NI stops on
  lost samples): safe levels, re-arm, AO from the resume index, start again — at most
  ``max_restarts`` times in a row.
* ``EndOfDataError`` (a replay reached the end of its file) ends the run normally.

Thread: the engine thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from daq.device import Restartable
from daq.engine_api import EngineWarning
from daq.errors import EndOfDataError, InputOverflowError, IontoError, OutputUnderflowError
from daq.types import Block, EventKind, LogEvent

if TYPE_CHECKING:
    from daq.engine import Engine

log = logging.getLogger("daq.engine")


class BlockReader:
    def __init__(self, engine: Engine, *, max_overflows_in_row: int, max_restarts: int):
        self._e = engine
        self.max_overflows_in_row = max_overflows_in_row
        self.max_restarts = max_restarts
        self.gaps = 0
        self.lost_samples = 0
        self.overflows = 0
        self._overflows_in_row = 0
        self._restarts_in_a_row = 0
        self._loss_reported = False  # an overflow/restart warning covers the next gap

    def read(self, n: int, timeout_s: float) -> Block | None:
        """The next block, or None when this turn has none (lost samples handled, or the
        end of a replay: then the engine's stop is set)."""
        e = self._e
        try:
            block = e.device.read(n, timeout_s)
        except (InputOverflowError, OutputUnderflowError) as exc:
            if isinstance(e.device, Restartable):
                self.restart_after(exc)
            elif isinstance(exc, InputOverflowError):
                self._on_overflow(exc)
            else:
                raise
            return None
        except EndOfDataError as exc:
            e.pending.append(LogEvent(e.read_index, EventKind.NOTE, text=f"end of data: {exc}"))
            e.control.request_stop()
            return None
        self._overflows_in_row = 0
        self._restarts_in_a_row = 0
        return block

    def gap_before(self, block: Block) -> list[LogEvent]:
        """The GAP event for samples lost before ``block`` (empty if none)."""
        e = self._e
        if block.start_index < e.read_index:
            raise IontoError(
                f"{getattr(e.device, 'name', 'device')}: block starts at sample {block.start_index}, before the "
                f"read position {e.read_index}: the device's sample count went backwards"
            )
        events: list[LogEvent] = []
        if block.start_index > e.read_index:
            lost = block.start_index - e.read_index
            self.gaps += 1
            self.lost_samples += lost
            events.append(LogEvent(e.read_index, EventKind.GAP, current_nA=0.0, text=f"lost {lost} samples"))
            if not self._loss_reported:  # else an overflow or restart warning said so already
                e.publish(EngineWarning(
                    f"{lost} samples ({lost / e.config.rate_hz:.3f} s) lost at sample {e.read_index}: "
                    "recorded as a gap", "device"))
        self._loss_reported = False
        return events

    def _on_overflow(self, exc: InputOverflowError) -> None:
        """Unread input was overwritten: warn, read on (the next block's index jump is the gap)."""
        e = self._e
        self.overflows += 1
        self._overflows_in_row += 1
        lost = f" ({exc.lost_samples} samples lost)" if exc.lost_samples else ""
        if self._overflows_in_row > self.max_overflows_in_row:
            raise InputOverflowError(
                f"input overflow {self._overflows_in_row} times in a row{lost}: the computer cannot keep up with "
                f"the device; the run was stopped ({exc})", exc.code, exc.lost_samples,
            )
        msg = f"input overflow{lost}: reading on; the lost samples are recorded as a gap ({exc})"
        self._loss_reported = True
        e.pending.append(LogEvent(e.read_index, EventKind.WARNING, text=msg))
        e.publish(EngineWarning(msg, "device"))
        if exc.lost_samples:  # the read position moved on by that much: keep AO ahead of it
            e.top_up_ao(extra=exc.lost_samples)

    def restart_after(self, exc: InputOverflowError | OutputUnderflowError) -> None:
        """Samples were lost: on a ``Restartable`` device write the safe levels, re-arm, write
        AO from the resume index and start again (the next block's jump is logged as a gap);
        otherwise, or after ``max_restarts`` in a row, the error ends the run."""
        e = self._e
        if not isinstance(e.device, Restartable) or self._restarts_in_a_row >= self.max_restarts:
            raise exc
        self._restarts_in_a_row += 1
        msg = f"{exc}; barrels put on safe levels and acquisition restarted (the lost samples are a gap)"
        self._loss_reported = True
        log.warning("%s", msg)
        e.pending.append(LogEvent(e.read_index, EventKind.WARNING, text=msg))
        e.publish(EngineWarning(msg, "device"))
        if e.config.ao:
            e.device.write_safe(e.pipette.safe_volts().tolist())
            safe = e.pipette.safe_currents_nA()
            e.pending.extend(
                LogEvent(e.read_index, EventKind(b.classify(safe[i])), b.name, float(safe[i]),
                         "safe levels while restarting")
                for i, b in enumerate(e.pipette.barrels) if b.role != "balance")
        resume = e.device.rearm(exc)
        e.pending.extend(e.state_events(resume, "after the gap"))
        if e.config.ao:
            e.device.write_ao(resume, e.schedule.render_volts(resume, e.ao_lead))
        e.device.start()
