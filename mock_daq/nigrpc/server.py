"""Run the simulated NI-DAQmx device as a gRPC server (what ``ionto sim-server`` starts).

    with SimNIServer(load_preset("cortex"), port=0, speed=10) as server:
        url = server.url("Dev1")          # ni+grpc://127.0.0.1:PORT/Dev1

Thread: ``start``/``stop`` from any thread; RPCs run on the server's worker pool; a small
housekeeping thread expires the watchdog even when no client calls in (a crashed client).
"""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from nidaqmx._stubs import nidaqmx_pb2_grpc as pb_grpc

from daq.rig import RigConfig
from mock_daq.nigrpc.hardware import Hardware
from mock_daq.nigrpc.servicer import SimNiDAQmxServicer
from mock_daq.nigrpc.spec import DeviceSpec

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class SimNIServer:
    """A simulated NI board behind an NI-DAQmx gRPC interface on ``host:port`` (0 = any free port)."""

    def __init__(self, rig: RigConfig, *, port: int = 0, host: str = "127.0.0.1", device: str = "Dev1",
                 speed: float = 1.0, seed: int | None = None, chassis: str = "", preset: str | None = None,
                 workers: int = 8, interlock: str | None = "default", interlock_enable_high: bool | None = None,
                 product: str | None = None):
        """``interlock``: the port0 line wired to the simulated current source's enable input
        (``"default"``: the rig's ``interlock.line``, else ``port0/line0``; None: none) — see
        ``mock_daq/nigrpc/digital.py``.  ``product``: an NI product profile
        (``products.PROFILES``: pcie-6363, usb-6343, pcie-6738, cdaq-9189 …) instead of ionto's
        SimRig; its channels are the product's, and the rig's channels are wired to them by
        number (the rig's ``ai3`` is the product's ``ai3``, on the module that has inputs)."""
        self.spec = DeviceSpec.for_rig(rig, name=device, chassis=chassis, preset=preset, product=product)
        self.hardware = Hardware(rig, self.spec, speed=speed, seed=seed, interlock=interlock,
                                 interlock_enable_high=interlock_enable_high)
        self.servicer = SimNiDAQmxServicer(self.hardware)
        self.host = host
        # SO_REUSEPORT off: gRPC turns it on by default, and a second server on a port in use
        # would then start and share the port with the first instead of failing.
        opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0)]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=opts)
        pb_grpc.add_NiDAQmxServicer_to_server(self.servicer, self._server)
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:  # newer grpcio raises where older ones return 0
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot listen on {host}:{port} (is the port in use?)")
        self._stop = threading.Event()
        self._house = threading.Thread(target=self._housekeeping, name="sim-ni-housekeeping", daemon=True)

    def url(self, device: str | None = None) -> str:
        return f"ni+grpc://{self.host}:{self.port}/{device or self.spec.name}"

    def start(self) -> SimNIServer:
        self._server.start()
        self._house.start()
        return self

    def stop(self, grace_s: float = 0.5) -> None:
        self._stop.set()
        self._server.stop(grace_s).wait()

    def wait(self) -> None:
        self._server.wait_for_termination()

    def __enter__(self) -> SimNIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _housekeeping(self) -> None:
        while not self._stop.wait(0.02):
            self.hardware.poll()
