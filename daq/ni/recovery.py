"""Recovery after a crash: find the tasks a dead ionto left on the board, clear them, and put
every barrel at its safe (retain or zero) level — at every connection (``NIDevice.configure``)
and on demand (``ionto safe`` → ``make_safe``).

Why: NI analog outputs hold the last value written.  A local ``ni:`` task dies with its
process (the outputs still hold the last value); over an NI gRPC Device Server the tasks are
*named sessions* that outlive the client that made them, keep their channels reserved (the
next ``ionto run`` cannot even write retain: -200022) and keep generating until they run dry.

ionto names its tasks ``ionto:DEVICE:ROLE`` (``task_name``; DEVICE = the board or cDAQ
chassis).  ``clear_stale`` attaches (``ATTACH_TO_SERVER_SESSION``) to each of those names;
what exists is a task of an earlier ionto.  If its AI read position still moves, another
ionto is running on that board: refused (``ionto safe`` takes over on purpose).  Otherwise
each one is stopped and cleared on the server (``Task.close`` sends ``ClearTask``), an
expired watchdog is cleared (a cDAQ chassis is reset, as its manual requires), and the
caller writes the safe levels before anything else.

Thread: the caller's (the engine thread for ``NIDevice``; the main thread for ``ionto safe``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daq.errors import ConfigError, DeviceError
from daq.ni.connection import NIConnection
from daq.ni.errors import (
    NI_ERRORS,
    RESOURCE_RESERVED,
    WATCHDOG_EXPIRED,
    reserved_message,
    translate,
)

log = logging.getLogger(__name__)

ROLES = ("ai", "ao", "safe", "watchdog", "interlock", "interlock-watchdog", "di", "sync")  # di, sync: daq.ni.digital
LIVE_WINDOW_S = 0.3  # a running ionto reads every block (~50 ms): its read position moves within this


def task_name(device: str, role: str) -> str:
    """The deterministic name of ionto's task for ``role`` on ``device`` (board or cDAQ chassis)."""
    return f"ionto:{device}:{role}"


class BoardBusyError(DeviceError):
    """Another ionto is running on the board (its AI read position advances)."""


@dataclass
class Recovery:
    """What ``clear_stale`` found and did."""

    cleared: list[str] = field(default_factory=list)
    watchdog_expired: bool = False
    reset: str = ""  # the device reset to disarm an expired watchdog, if any
    took_over: bool = False  # a live ionto's tasks were cleared (``ionto safe`` only)


def read_position_moves(task: Any, window_s: float = LIVE_WINDOW_S) -> bool:
    """True when someone is reading this AI task: its read position advances within ``window_s``."""
    try:
        first = int(task.in_stream.curr_read_pos)
    except NI_ERRORS:
        return False
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        time.sleep(0.03)
        try:
            if int(task.in_stream.curr_read_pos) != first:
                return True
        except NI_ERRORS:
            return False
    return False


def _quiet(fn, what: str) -> None:
    try:
        fn()
    except NI_ERRORS as exc:
        log.debug("%s: %s", what, exc)


def clear_stale(conn: NIConnection, device: str, *, watchdog_devices: Sequence[str] = (), take_over: bool = False,
                where: str = "") -> Recovery:
    """Clear the tasks an earlier ionto left on ``device`` (board or chassis) over gRPC.

    ``watchdog_devices``: where ionto's watchdog tasks may live (the cDAQ chassis, or the X Series
    board for the interlock).  Refuses (``BoardBusyError``) when the stale AI task is still
    being read — another ionto is running — unless ``take_over``.  Locally: nothing to do."""
    rec = Recovery()
    if not conn.remote:
        return rec
    where = where or device
    found: dict[str, Any] = {}
    for role in ROLES:
        if role in ("watchdog", "interlock-watchdog"):
            for wd_dev in watchdog_devices:
                t = conn.attach(task_name(device, role), watchdog_device=wd_dev)
                if t is not None:
                    found[role] = t
                    break
        else:
            t = conn.attach(task_name(device, role))
            if t is not None:
                found[role] = t
    if not found:
        return rec
    ai = found.get("ai")
    if ai is not None and read_position_moves(ai):
        if not take_over:
            # the tasks are the other ionto's: dropping the attached objects only detaches
            raise BoardBusyError(
                f"{where}: another ionto is running on {device} (its task {task_name(device, 'ai')!r} is being "
                "read); stop it first, or take over with `ionto safe`")
        rec.took_over = True
    # outputs first (they hold the ejection level), then the rest; watchdogs last
    for role in ("ao", "safe", "ai", "interlock", "di", "sync"):
        t = found.get(role)
        if t is None:
            continue
        _quiet(t.stop, f"stopping {task_name(device, role)}")
        _quiet(t.close, f"clearing {task_name(device, role)}")
        rec.cleared.append(task_name(device, role))
    for role in ("watchdog", "interlock-watchdog"):
        t = found.get(role)
        if t is None:
            continue
        expired = False
        try:
            expired = bool(t.expired)
        except NI_ERRORS as exc:
            log.debug("%s: expired? %s", task_name(device, role), exc)
        if expired:
            rec.watchdog_expired = True
            if role == "watchdog":
                # cDAQ-9185/9189 user manual, "Watchdog Timer": after expiry the outputs stay at
                # their expiration states "until the watchdog timer is disarmed by a device reset"
                # and "the cDAQ chassis cannot perform any operation until the cDAQ chassis is reset".
                wd_dev = next(iter(watchdog_devices), device)
                _quiet(t.close, f"clearing {task_name(device, role)}")
                conn.reset_device(wd_dev)
                rec.reset = wd_dev
                rec.cleared.append(task_name(device, role))
                continue
            # X Series: the DIO lines stay at their expiration states and digital writes are
            # ignored until the watchdog is disarmed (clear expiration) — the interlock re-arms.
            _quiet(t.clear_expiration, f"clearing the expiration of {task_name(device, role)}")
        _quiet(t.close, f"clearing {task_name(device, role)}")
        rec.cleared.append(task_name(device, role))
    return rec


def write_levels(conn: NIConnection, name: str, channels: Sequence[tuple[str, float]], volts: Sequence[float], *,
                 where: str, url: str = "", rig: str = "", reset_device: str = "") -> None:
    """Hold ``volts`` on ``channels`` ((physical, ± range V), one per level) with an on-demand
    task named ``name``, cleared after the write (the outputs keep the level).

    A watchdog-expired refusal on a cDAQ chassis (``reset_device``) resets it and writes again;
    a reserved channel is one line naming what to do."""
    v = np.asarray(volts, dtype=np.float64).reshape(-1)
    if len(channels) != v.shape[0]:
        raise DeviceError(f"{where}: {v.shape[0]} levels for {len(channels)} output channels")
    if not channels:
        return
    for attempt in (1, 2):
        try:
            task = conn.task(name)
        except DeviceError as exc:
            if exc.code in RESOURCE_RESERVED:
                raise DeviceError(reserved_message(where, "writing the safe levels", exc.code, str(exc), url, rig),
                                  code=exc.code) from None
            raise
        try:
            for phys, rng in channels:
                task.ao_channels.add_ao_voltage_chan(phys, min_val=-rng, max_val=rng)
            task.write(v.tolist() if v.shape[0] > 1 else float(v[0]), auto_start=True, timeout=5.0)
            _quiet(task.stop, f"stopping {name}")
            return
        except NI_ERRORS as exc:
            code = getattr(exc, "error_code", None)
            if code in WATCHDOG_EXPIRED and reset_device and attempt == 1:
                log.warning("%s: the watchdog of %s has expired; resetting it (its outputs go to their power-up "
                            "states, then to the safe levels)", where, reset_device)
                _quiet(task.close, f"clearing {name}")
                task = None
                conn.reset_device(reset_device)
                continue
            if code in RESOURCE_RESERVED:
                raise DeviceError(reserved_message(where, "writing the safe levels", code, str(exc), url, rig),
                                  code=code) from None
            raise translate(exc, where, "writing the safe output levels") from None
        finally:
            if task is not None:
                _quiet(task.close, f"clearing {name}")


# --- ionto safe -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Level:
    """One output after ``make_safe``: the barrel (or the bare channel) and what it holds."""

    channel: str
    volts: float
    barrel: str = ""
    drug: str = ""
    current_nA: float | None = None
    kind: str = ""  # retain | zero | 0 V


@dataclass
class SafeReport:
    device: str
    levels: list[Level] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "cleared": list(self.cleared), "notes": list(self.notes),
                "levels": [vars(lv) for lv in self.levels]}


def make_safe(conn: NIConnection, device: str, rig: Any = None, *, url: str = "", rig_path: str = "",
              take_over: bool = True) -> SafeReport:
    """Put every barrel of ``rig`` (a ``RigConfig``) on ``device`` at its safe level, from any
    state: clear ionto's stale tasks (taking over a live ionto's, when ``take_over``), disarm an
    expired watchdog, then write the pipette's safe volts.  Without a rig: 0 V on every AO
    channel of the device.  Returns what it did, one ``Level`` per output."""
    from daq.ni.discovery import capabilities

    where = url or (f"ni+grpc://{conn.host}:{conn.port}/{device}" if conn.remote else f"ni:{device}")
    caps = capabilities(conn, device)
    term = caps.terminal_device
    report = SafeReport(where)
    wd_devs = [d for d in (caps.watchdog_device, device) if d]
    rec = clear_stale(conn, term, watchdog_devices=wd_devs, take_over=take_over, where=where)
    report.cleared = rec.cleared
    if rec.took_over:
        report.notes.append(f"took over from an ionto still running on {term}: its tasks were cleared")
    if rec.reset:
        report.notes.append(f"the watchdog of {rec.reset} had expired: {rec.reset} was reset")
    if rig is not None:
        from daq.ni.rigs import check_rig_devices

        check_rig_devices(rig, device, rig_path or "the rig")
        barrels = rig.pipette.ao_barrels()
        volts = [float(v) for v in rig.pipette.safe_volts()]
        chans = [(b.ao_channel, b.ao_range_V) for b in barrels]
        missing = [c for c, _ in chans if c not in caps.ao_channels]
        if missing:
            raise ConfigError(f"{where}: the rig's output channels {missing} are not on {device} "
                              f"(it has {', '.join(caps.ao_channels) or 'no analog outputs'})")
        levels = [Level(b.ao_channel, v, b.name, b.drug, v * b.command_gain_nA_per_V,
                        "balance" if b.role == "balance" else "retain" if abs(v) > 0 else "zero")
                  for b, v in zip(barrels, volts)]
    else:
        rng = caps.ao_ranges_V[-1] if caps.ao_ranges_V else 10.0
        chans = [(c, rng) for c in caps.ao_channels]
        volts = [0.0] * len(chans)
        levels = [Level(c, 0.0, kind="0 V") for c, _ in chans]
        if chans:
            report.notes.append(f"no rig given: 0 V on every analog output of {device} (pass --rig for retain "
                                "currents)")
    if not chans:
        report.notes.append(f"{device} has no analog outputs: nothing to make safe")
    write_levels(conn, task_name(term, "safe"), chans, volts, where=where, url=where,
                 rig=rig_path or "RIG", reset_device=caps.watchdog_device)
    report.levels = levels
    return report
