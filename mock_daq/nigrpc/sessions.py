"""Named server sessions, as NI's gRPC Device Server keeps them.

Follows ``source/server/session_repository.cpp`` (``SessionRepository::add_session``) of
github.com/ni/grpc-device:

* a session lives on the server until ``ClearTask`` (or a server reset), whatever happens to
  the client that created it: a client that dies leaves its tasks — their reserved channels,
  a running AO holding its last value — on the server;
* ``initialization_behavior`` (``session.proto`` ``SessionInitializationBehavior``):
  UNSPECIFIED (nidaqmx's ``AUTO``) attaches to an existing session of that name or creates
  it; INITIALIZE_NEW fails with ``ALREADY_EXISTS`` "Cannot initialize '<name>' when a session
  already exists."; ATTACH_TO_EXISTING fails with ``FAILED_PRECONDITION`` "Cannot attach to
  '<name>' because a session has not been initialized."  These are gRPC statuses without an
  ``ni-error`` trailer (``NonDriverException``), so nidaqmx raises ``nidaqmx.errors.RpcError``;
* the response's ``new_session_initialized`` says whether the call created the session;
  nidaqmx keeps it as ``_close_on_exit`` (only the context manager's exit looks at it:
  ``Task.close()`` always sends ``ClearTask``, which removes the session whoever made it —
  ``NiDAQmxService::ClearTask`` in ``generated/nidaqmx/nidaqmx_service.cpp``);
* an empty session name is never looked up: it always creates a session, named
  ``ni:generated:<n>`` (``SessionRepository::next_id``), while DAQmx names the task
  ``_unnamedTask<k>``;
* one name space for every task kind: a watchdog task and an ordinary task share it.

Thread: not locked itself; ``Hardware`` calls it under its lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

AUTO = 0  # SESSION_INITIALIZATION_BEHAVIOR_UNSPECIFIED
INITIALIZE_NEW = 1  # SESSION_INITIALIZATION_BEHAVIOR_INITIALIZE_NEW
ATTACH_TO_EXISTING = 2  # SESSION_INITIALIZATION_BEHAVIOR_ATTACH_TO_EXISTING

T = TypeVar("T")


class SessionError(Exception):
    """A session-repository failure: ``status`` names the gRPC status code (no NI error code)."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class SessionRepository(Generic[T]):
    def __init__(self) -> None:
        self._sessions: dict[str, T] = {}
        self._ids = itertools.count(1)

    def add(self, name: str, behavior: int, init: Callable[[], T]) -> tuple[str, T, bool]:
        """(session name, object, new_session_initialized); ``init`` runs only for a new session
        and may raise (an NIError then reaches the client as the driver's error)."""
        found = self._sessions.get(name) if name else None
        if behavior == INITIALIZE_NEW and found is not None:
            raise SessionError("ALREADY_EXISTS", f"Cannot initialize '{name}' when a session already exists.")
        if behavior == ATTACH_TO_EXISTING and found is None:
            raise SessionError("FAILED_PRECONDITION",
                               f"Cannot attach to '{name}' because a session has not been initialized.")
        if found is not None:
            return name, found, False
        obj = init()
        session = name or f"ni:generated:{next(self._ids)}"
        self._sessions[session] = obj
        return session, obj, True

    def get(self, name: str) -> T | None:
        return self._sessions.get(name)

    def remove(self, name: str) -> None:
        self._sessions.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._sessions)
