"""Drive ``read_worker.py`` (a reader in a child process) from a test: one path in, one JSON
answer out, under a timeout per answer — a hang or a crash inside HDF5 cannot be caught in
the test's own process.  The child is started once and reused for many cases."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("read_worker.py")


class Damaged(NamedTuple):
    """A damaged copy of a file, shown (in hypothesis' reports) by how it was damaged."""

    desc: str
    data: bytes

    def __repr__(self) -> str:
        return self.desc


class ReaderFailed(AssertionError):
    """The reader child hung or died on a file."""


class ReaderWorker:
    def __init__(self, nwb: bool = False, timeout_s: float = 30.0):
        self.nwb = nwb
        self.timeout_s = timeout_s
        self._p: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, str(WORKER), *(["--nwb"] if self.nwb else [])], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        ready = self._line(p, 120.0, "start")
        assert json.loads(ready) == {"ready": True}, ready
        return p

    def _line(self, p: subprocess.Popen, timeout_s: float, what: str) -> str:
        r, _, _ = select.select([p.stdout], [], [], timeout_s)
        if not r:
            self.close(p)
            raise ReaderFailed(f"the reader hung (> {timeout_s:g} s) on {what}")
        line = p.stdout.readline()
        if not line:
            code = p.wait()
            self._p = None
            raise ReaderFailed(f"the reader died (exit {code}) on {what}")
        return line

    def read(self, path: Path, what: str = "") -> dict:
        """The child's answer for ``path`` (``result``: opened / error / other); raises
        ``ReaderFailed`` if it hangs or dies (and starts a fresh child next time)."""
        if self._p is None:
            self._p = self._start()
        self._p.stdin.write(f"{path}\n")
        self._p.stdin.flush()
        return json.loads(self._line(self._p, self.timeout_s, what or str(path)))

    def close(self, p: subprocess.Popen | None = None) -> None:
        p = p or self._p
        self._p = None
        if p is not None:
            p.kill()
            p.wait()
