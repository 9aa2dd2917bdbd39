"""A simulated NI-DAQmx device behind NI's gRPC interface (``nidaqmx_grpc.NiDAQmx``).

The unmodified ``nidaqmx`` package, given ``GrpcSessionOptions``, drives it exactly as it
drives an NI gRPC Device Server in front of a real board; the samples come from the same
simulated rig as ``mock_daq.SimDevice``.  Only this subpackage imports NI's generated stubs.
"""

from mock_daq.nigrpc.hardware import Hardware
from mock_daq.nigrpc.server import SimNIServer
from mock_daq.nigrpc.spec import DeviceSpec

__all__ = ["DeviceSpec", "Hardware", "SimNIServer"]
