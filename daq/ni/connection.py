"""Where NI-DAQmx lives: the local driver (``ni:Dev1``) or an NI gRPC Device Server
(``ni+grpc://HOST:PORT/Dev1``).  Makes tasks, watchdog tasks and the ``System`` for either.

Over gRPC every task is a *named session* on the server.  ionto creates its tasks with
``INITIALIZE_SERVER_SESSION`` (a name that exists already is an error, never a silent attach
to someone else's task, which ``AUTO`` would do) and finds the tasks a crashed ionto left
behind with ``ATTACH_TO_SERVER_SESSION`` (``attach``).  ``Task.close()`` is ``Task.clear()``
in nidaqmx-python and always sends ``ClearTask`` — for an attached session too (only the
context manager's exit merely detaches) — and the NI gRPC Device Server's close function for
NI-DAQmx is ``ClearTask`` (grpc-device ``source/codegen/metadata/nidaqmx/config.py``), so
closing an attached stale task really clears it on the server.

Thread: create on any thread; the tasks it makes belong to the engine thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import nidaqmx
import nidaqmx.errors
import nidaqmx.system
from nidaqmx.grpc_session_options import SessionInitializationBehavior
from nidaqmx.system.watchdog import WatchdogTask

from daq.errors import DeviceNotFoundError
from daq.ni.errors import NI_ERRORS, translate

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # reads of many channels exceed gRPC's 4 MB default
INVALID_TASK = -200088
# what a server answers when asked to attach to a session that does not exist
_NO_SESSION = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)


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

    def options(self, session: str = "", behavior: SessionInitializationBehavior | None = None) -> Any:
        """``GrpcSessionOptions`` for a task (session name = task name, as nidaqmx requires).
        A named session is created new (``INITIALIZE_SERVER_SESSION``) unless ``behavior`` says
        otherwise; unnamed ones use ``AUTO`` (always new)."""
        if not self.remote:
            return None
        if self._channel is None:
            self._channel = grpc.insecure_channel(
                f"{self.host}:{self.port}",
                options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                         ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
            )
        if behavior is None:
            behavior = (SessionInitializationBehavior.INITIALIZE_SERVER_SESSION if session
                        else SessionInitializationBehavior.AUTO)
        return nidaqmx.GrpcSessionOptions(self._channel, session, initialization_behavior=behavior)

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

    def attach(self, name: str, watchdog_device: str = "") -> Any:
        """The server's existing task named ``name`` (a ``WatchdogTask`` when ``watchdog_device``
        is given), or None when there is none — or when ionto talks to the local driver, where
        tasks die with the process that made them."""
        if not self.remote:
            return None
        opts = self.options(name, SessionInitializationBehavior.ATTACH_TO_SERVER_SESSION)
        try:
            if watchdog_device:
                task = WatchdogTask(watchdog_device, name, 10.0, grpc_options=opts)
            else:
                task = nidaqmx.Task(name, grpc_options=opts)
        except nidaqmx.errors.RpcError as exc:
            if exc.rpc_code in _NO_SESSION:
                return None
            raise translate(exc, self.where, f"looking for task {name!r}") from None
        except nidaqmx.errors.DaqError as exc:
            if exc.error_code == INVALID_TASK:
                return None
            raise translate(exc, self.where, f"looking for task {name!r}") from None
        # A server that ignores ATTACH makes a new session instead: nothing was there.
        if getattr(task, "_close_on_exit", False):
            try:
                task.close()
            except NI_ERRORS:
                pass
            return None
        return task

    def reset_device(self, device: str) -> None:
        """DAQmxResetDevice: aborts every task on the device (or cDAQ chassis), disarms an expired
        watchdog and sets outputs to their initialized states (AO 0 V on M, C and X Series)."""
        try:
            nidaqmx.system.Device(device, grpc_options=self.options()).reset_device()
        except NI_ERRORS as exc:
            raise translate(exc, self.where, f"resetting {device}") from None

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
