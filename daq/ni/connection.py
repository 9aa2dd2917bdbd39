"""Where NI-DAQmx lives: the local driver (``ni:Dev1``) or an NI gRPC Device Server
(``ni+grpc://HOST:PORT/Dev1``).  Makes tasks, watchdog tasks and the ``System`` for either.

Thread: create on any thread; the tasks it makes belong to the engine thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import nidaqmx
import nidaqmx.system
from nidaqmx.system.watchdog import WatchdogTask

from daq.errors import DeviceNotFoundError
from daq.ni.errors import NI_ERRORS, translate

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # reads of many channels exceed gRPC's 4 MB default


@dataclass
class NIConnection:
    """``host``/``port`` empty/0 = the local driver."""

    host: str = ""
    port: int = 0
    _channel: grpc.Channel | None = field(default=None, repr=False)
    _opts: Any = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return bool(self.host)

    @property
    def where(self) -> str:
        return f"NI gRPC Device Server {self.host}:{self.port}" if self.remote else "local NI-DAQmx driver"

    def options(self, session: str = "") -> Any:
        """``GrpcSessionOptions`` for a task (session name = task name, as nidaqmx requires)."""
        if not self.remote:
            return None
        if self._channel is None:
            self._channel = grpc.insecure_channel(
                f"{self.host}:{self.port}",
                options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                         ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
            )
        return nidaqmx.GrpcSessionOptions(self._channel, session)

    def wait_ready(self, timeout_s: float = 5.0) -> None:
        """Fail fast, with the address in the message, when no server answers."""
        if not self.remote:
            return
        self.options()
        assert self._channel is not None
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            raise DeviceNotFoundError(
                f"no NI-DAQmx gRPC server answers at {self.host}:{self.port} (waited {timeout_s:g} s); "
                "is the NI gRPC Device Server (or 'ionto sim-server') running there?"
            ) from None

    def task(self, name: str) -> nidaqmx.Task:
        try:
            return nidaqmx.Task(name, grpc_options=self.options(name))
        except NI_ERRORS as exc:
            raise translate(exc, self.where, f"creating task {name!r}") from None

    def watchdog(self, device: str, name: str, timeout_s: float) -> WatchdogTask:
        return WatchdogTask(device, name, timeout_s, grpc_options=self.options(name))

    def system(self) -> nidaqmx.system.System:
        try:
            if self.remote:
                return nidaqmx.system.System.remote(self.options())
            return nidaqmx.system.System.local()
        except NI_ERRORS as exc:
            raise translate(exc, self.where, "opening the NI-DAQmx system") from None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
