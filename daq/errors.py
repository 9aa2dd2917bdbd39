"""Exceptions raised by the device layer, the current model and the recording format.

Every message names the thing that was wrong (device, channel, barrel, file, field)
and what would have been accepted, so the CLI and GUI can show it verbatim.
"""

from __future__ import annotations


class IontoError(Exception):
    """Base of every error ionto raises on purpose; its message is meant for the user."""


class ConfigError(IontoError):
    """A rig, pipette or acquisition configuration is invalid."""


class CurrentLimitError(IontoError):
    """A commanded current would exceed a barrel's (or the pipette's) limit; nothing was written."""


class DeviceError(IontoError):
    """The device failed or refused a request.  ``code`` carries the driver's error code if any."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class DeviceNotFoundError(DeviceError):
    """The named device or device URL does not exist."""


class DeviceDisconnectedError(DeviceError):
    """The device went away during a run."""


class InputOverflowError(DeviceError):
    """Unread input samples were overwritten by the device (samples are lost; a gap)."""

    def __init__(self, message: str, code: int | None = None, lost_samples: int | None = None):
        super().__init__(message, code)
        self.lost_samples = lost_samples


class EndOfDataError(DeviceError):
    """The device has no more samples to give (a replayed recording reached its end).
    The engine ends the run normally."""


class OutputUnderflowError(DeviceError):
    """The analog output ran out of samples (the AO lead was not kept)."""


class SinkError(IontoError):
    """A sink (the online detector, the display, a user's sink) raised on the engine thread:
    the run is stopped safely.  The message names the sink; ``__cause__`` is the original."""


class RecordingError(IontoError):
    """A recording cannot be written or read."""


class NotARecordingError(RecordingError):
    """The file exists but is not an ionto recording."""


class DamagedRecordingError(RecordingError):
    """The file is an ionto recording damaged beyond what the reader can repair."""
