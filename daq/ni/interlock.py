"""The interlock line: a digital output wired to the current source's standby/enable input
(rig ``interlock:``), for boards whose analog outputs have no watchdog (X Series).

ionto sets the line to the enable level when it connects and keeps it alive from every read:

* ``watchdog`` mode (preferred): an NI-DAQmx watchdog task on the line's device with the line's
  expiration state = the standby level (``cfg_watchdog_do_expir_states``), timeout
  ``timeout_s``.  If ionto stops resetting it (crash, hang, lost network), the *board* drops the
  line to standby.  X Series manual ("Watchdog Timer"): after expiry the lines stay at their
  expiration states and digital writes are ignored until the watchdog is disarmed.
* ``chassis`` mode: on a cDAQ chassis whose watchdog ionto already runs for the analog outputs,
  the line's expiration state is added to that watchdog.
* ``heartbeat`` mode (the device has no watchdog, -200662): the line toggles at every read;
  it needs an external retriggerable monostable that holds "enable" while edges arrive.

At a clean stop the safe (retain) levels are written first, then ``release(standby=False)``
disarms the watchdog and leaves the line enabled, so retain currents keep flowing between runs
(retain *is* the safe state; the between-runs state is the one ionto just wrote and checked).
In heartbeat mode the line cannot be held without ionto, so a stop puts it to standby.  On a
crash nothing disarms the watchdog: it expires and the line goes to standby.

Thread: the engine thread (and ``NIDevice``'s setup keep-alive thread before ``start``).
"""

from __future__ import annotations

import logging
from typing import Any

from nidaqmx.constants import Level
from nidaqmx.system.watchdog import DOExpirationState

from daq.errors import DeviceError
from daq.ni.connection import NIConnection
from daq.ni.errors import NI_ERRORS, close_tasks, translate
from daq.ni.recovery import task_name

log = logging.getLogger(__name__)

WATCHDOG_NOT_SUPPORTED = (-200662,)


def _device_of(physical: str) -> str:
    return physical.strip().lstrip("/").split("/", 1)[0]


class Interlock:
    """``config``: a ``daq.rig.InterlockConfig`` (line, enable_high, timeout_s); ``owner``: the
    board or chassis ionto's task names use; ``where``: the device URL for messages."""

    def __init__(self, conn: NIConnection, config: Any, owner: str, where: str):
        self.conn = conn
        self.line = config.line
        self.enable_high = bool(config.enable_high)
        self.timeout_s = float(config.timeout_s)
        self.owner = owner
        self.where = where
        self.mode = ""  # watchdog | chassis | heartbeat
        self._wd: Any = None
        self._do: Any = None
        self._level = False  # the level last written

    @property
    def device(self) -> str:
        return _device_of(self.line)

    @property
    def standby_level(self) -> Level:
        return Level.LOW if self.enable_high else Level.HIGH

    def expiration_state(self) -> DOExpirationState:
        return DOExpirationState(physical_channel=self.line, expiration_state=self.standby_level)

    @property
    def armed(self) -> bool:
        return self._do is not None

    def arm(self, chassis_watchdog: bool = False) -> None:
        """Start the line's watchdog (unless ``chassis_watchdog``: its expiration state is on the
        chassis watchdog already), then drive the line to the enable level."""
        if chassis_watchdog:
            self.mode = "chassis"
        else:
            name = task_name(self.owner, "interlock-watchdog")
            wd = None
            try:
                wd = self.conn.watchdog(self.device, name, self.timeout_s)
                wd.cfg_watchdog_do_expir_states([self.expiration_state()])
                wd.start()
                self._wd, self.mode = wd, "watchdog"
            except NI_ERRORS as exc:
                close_tasks([wd], self.where, "a watchdog that did not start")
                if getattr(exc, "error_code", None) not in WATCHDOG_NOT_SUPPORTED:
                    raise translate(exc, self.where, f"starting the interlock watchdog on {self.device}") from None
                self.mode = "heartbeat"
                log.warning("%s: %s has no watchdog: the interlock line %s toggles at every block (a heartbeat); "
                            "it needs an external retriggerable monostable to hold the source enabled",
                            self.where, self.device, self.line)
        try:
            self._do = self.conn.task(task_name(self.owner, "interlock"))
            self._do.do_channels.add_do_chan(self.line)
            self._do.start()
        except (*NI_ERRORS, DeviceError) as exc:
            self.release(standby=True)
            if isinstance(exc, DeviceError):
                raise
            raise translate(exc, self.where, f"driving the interlock line {self.line}") from None
        self._write(self.enable_high)

    def _write(self, level: bool) -> None:
        try:
            self._do.write(bool(level), timeout=2.0)
        except NI_ERRORS as exc:
            raise translate(exc, self.where, f"writing the interlock line {self.line}") from None
        self._level = bool(level)

    def keepalive(self) -> None:
        """Called at every read: reset the watchdog, or toggle the heartbeat."""
        if self.mode == "watchdog" and self._wd is not None:
            try:
                self._wd.reset_timer()
            except NI_ERRORS as exc:
                raise translate(exc, self.where, "resetting the interlock watchdog") from None
        elif self.mode == "heartbeat" and self._do is not None:
            self._write(not self._level)

    def release(self, standby: bool) -> None:
        """End of a run: ``standby=False`` (a clean stop, safe levels written) disarms the watchdog
        and leaves the line enabled; ``standby=True`` drives it to standby first.  Heartbeat
        mode always ends in standby."""
        standby = standby or self.mode == "heartbeat"
        if self._do is not None and standby:
            try:
                self._write(not self.enable_high)
            except DeviceError as exc:
                log.warning("%s", exc)
        close_tasks((self._wd, self._do), self.where, "an interlock task")
        self._wd = self._do = None
