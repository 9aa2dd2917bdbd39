"""NI-DAQmx errors → ionto exceptions with readable messages (device, code, NI's text, a hint).

Thread: any.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import nidaqmx
import nidaqmx.errors

from daq.errors import (
    ConfigError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceNotFoundError,
    InputOverflowError,
    OutputUnderflowError,
)

log = logging.getLogger(__name__)

INPUT_OVERFLOW = (-200279, -200010)
OUTPUT_UNDERFLOW = (-200290, -200621, -200016, -200018)
TIMEOUT = (-200284,)
DEVICE_NOT_FOUND = (-200220, -201003)
BAD_CHANNEL = (-200170, -200430, -201237)
BAD_CONFIG = (-200077, -200082, -200332, -200081, -200489, -200579, -200580, -200577, -200578)
WATCHDOG_EXPIRED = (-200678, -201478, -201434, -200712, -200681)
# Resource reserved (a task of another program, or of an ionto that did not stop, holds the
# channel).  NI's texts: -50103 "The specified resource is reserved. The operation could not be
# completed as specified." (DAQmxErrorPALResourceReserved); -200022 "Resource requested by this
# task has already been reserved by a different task." (RESOURCE_ALREADY_RESERVED); -201105
# RESOURCE_RESERVED_WITH_CONFLICTING_SETTINGS (nidaqmx.error_codes.DAQmxErrors).
RESOURCE_RESERVED = (-50103, -200022, -201105)
DISCONNECTED = (-201003, -88709, -88705, -50405)

_HINTS = {
    -200279: "the engine did not read fast enough; samples were lost (a gap)",
    -200290: "the analog output ran out of samples (the AO lead was not kept); outputs held their last value",
    -200621: "the analog output ran out of samples (onboard memory underflow)",
    -200284: "no samples arrived in time: is the device running and its sample clock connected?",
    -200678: "the watchdog expired: the outputs were set to their safe expiration levels",
}


def first_line(text: str) -> str:
    return next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")


def translate(exc: Exception, device: str, action: str) -> Exception:
    """The ionto exception for an ``nidaqmx`` error raised while doing ``action`` on ``device``."""
    if isinstance(exc, nidaqmx.errors.RpcError):
        return DeviceDisconnectedError(
            f"{device}: {action}: the NI-DAQmx gRPC server did not answer "
            f"({getattr(exc.rpc_code, 'name', exc.rpc_code)}): {exc.description}"
        )
    if isinstance(exc, nidaqmx.errors.DaqNotFoundError):
        return DeviceNotFoundError(
            f"{device}: {action}: the NI-DAQmx driver is not installed on this computer "
            f"({first_line(str(exc))}); install NI-DAQmx, or use an NI gRPC Device Server "
            "with a device URL ni+grpc://HOST:PORT/DEV"
        )
    code = getattr(exc, "error_code", None)
    text = str(exc).split("\nStatus Code")[0].strip()
    if code in RESOURCE_RESERVED:
        return DeviceError(reserved_message(device, action, code, text), code=code)
    detail = " ".join(ln.strip() for ln in text.splitlines() if ln.strip())
    msg = f"{device}: {action} failed: {detail} (NI-DAQmx error {code})"
    if code in _HINTS:
        msg += f" — {_HINTS[code]}"
    if code in INPUT_OVERFLOW:
        return InputOverflowError(msg, code=code)
    if code in OUTPUT_UNDERFLOW:
        return OutputUnderflowError(msg, code=code)
    if code in DEVICE_NOT_FOUND:
        return DeviceNotFoundError(msg, code=code)
    if code in DISCONNECTED:
        return DeviceDisconnectedError(msg, code=code)
    if code in BAD_CHANNEL or code in BAD_CONFIG:
        return ConfigError(msg)
    return DeviceError(msg, code=code)


def reserved_message(device: str, action: str, code: int | None, text: str = "",
                     url: str = "", rig: str = "") -> str:
    """One line for -50103/-200022/-201105: who may hold the channel and what to do."""
    chan = ""
    for ln in str(text).splitlines():
        key, _, val = ln.partition(":")
        if key.strip() in ("Resource", "Channel Name", "Physical Channel", "Device") and val.strip():
            chan = val.strip()
            break
    holder = ""
    for ln in str(text).splitlines():
        key, _, val = ln.partition(":")
        if key.strip() == "Task" and val.strip():
            holder = f" (task {val.strip()!r})"
            break
    target = url or (device if "://" in device or device.startswith("ni:") else "URL")
    return (f"{device}: {action}: a task of another program or of an ionto that did not stop holds "
            f"{chan or 'the channel'}{holder} (NI-DAQmx error {code}): run `ionto safe --device {target} "
            f"--rig {rig or 'RIG'}`, or close that program")


NI_ERRORS = (nidaqmx.errors.DaqError, nidaqmx.errors.RpcError, nidaqmx.errors.DaqNotFoundError)


def close_tasks(tasks: Iterable[object | None], where: str, what: str = "a task") -> None:
    """Close each task (None skipped); an NI error only goes to the log: closing is what a
    stop does whatever state the task is in (an errored task still needs closing)."""
    for t in tasks:
        if t is None:
            continue
        try:
            t.close()  # type: ignore[attr-defined]
        except NI_ERRORS as exc:
            log.info("%s: closing %s: %s", where, what, exc)
