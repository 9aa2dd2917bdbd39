"""Running a function in a forked child process while the caller goes on, for CPU work that
holds the GIL (matplotlib's rendering) and whose inputs are large (an analysis result):
with ``fork`` the child inherits them instead of receiving a pickled copy.

``ForkedCall.start(fn, *args)`` forks (Linux only; elsewhere, or inside a daemonic worker,
it returns None and the caller does the work itself); ``result()`` waits and returns
``fn``'s return value, which must be picklable and small, or raises ``ForkedCallError``
when the child failed or died.

Thread: the caller's; call ``result()`` from the thread that called ``start``.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import traceback
from collections.abc import Callable
from typing import Any


class ForkedCallError(RuntimeError):
    """The forked child raised (its message and traceback text) or died."""


def _child(fn: Callable[..., Any], args: tuple[Any, ...], send: Any) -> None:
    try:
        send.send(("ok", fn(*args)))
    except BaseException as exc:  # reported to the parent, which raises it there
        send.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        send.close()


class ForkedCall:
    def __init__(self, proc: Any, recv: Any):
        self._proc = proc
        self._recv = recv

    @classmethod
    def start(cls, fn: Callable[..., Any], *args: Any) -> ForkedCall | None:
        if not sys.platform.startswith("linux") or mp.current_process().daemon:
            return None
        ctx = mp.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        try:
            proc = ctx.Process(target=_child, args=(fn, args, send), daemon=True)
            proc.start()  # fork: the child runs fn on this process's memory, nothing is pickled
        except OSError:
            recv.close()
            send.close()
            return None
        send.close()
        return cls(proc, recv)

    def result(self) -> Any:
        try:
            status, value = self._recv.recv()
        except EOFError:
            self._proc.join()
            raise ForkedCallError(f"the child process died (exit status {self._proc.exitcode})") from None
        finally:
            self._recv.close()
        self._proc.join()
        if status != "ok":
            raise ForkedCallError(value)
        return value
