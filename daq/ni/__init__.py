"""The NI-DAQmx backend: the only package that imports ``nidaqmx``.

``NIDevice`` implements ``daq.device.Device`` (plus ``EventSource``, ``Restartable`` and
``AOStatus``) on a board reached through the local driver or an NI gRPC Device Server.
"""

from daq.ni.connection import NIConnection
from daq.ni.device import NIDevice
from daq.ni.discovery import Capabilities, capabilities, describe_all, device_names

__all__ = ["Capabilities", "NIConnection", "NIDevice", "capabilities", "describe_all", "device_names"]
