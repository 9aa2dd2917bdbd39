"""A file being recorded is never recorded, overwritten or opened for writing by a second
process (issue 13: two `ionto run --overwrite` on one file both "succeeded", the result said
protocol B and held A's samples).  Real processes (``lock_child.py``), synchronised on the
lines they print, never on sleeps."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from daq.errors import RecordingError
from daq.recording import Recorder, Recording
from daq.recording.paths import lock_path_for, writer_alive
from daq.types import AIChannel, StreamInfo

CHILD = Path(__file__).with_name("lock_child.py")
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120.0  # a busy 2-core machine: generous; every wait ends as soon as its line comes

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock locks are POSIX")


class Child:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, *args: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.p = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")  # end of output

    def expect(self, prefix: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line from the child in {TIMEOUT_S} s") from None
            if line.startswith(prefix):
                return line
            if line == "" and self.p.poll() is not None:
                raise AssertionError(f"the child ended (exit {self.p.returncode}) before {prefix!r}: "
                                     f"{self.p.stderr.read()[-2000:]}")

    def say(self, text: str) -> None:
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def finish(self) -> int:
        try:
            return self.p.wait(timeout=TIMEOUT_S)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()


def recorder_child(out: Path, value: int) -> Child:
    return Child(str(CHILD), str(out), str(value))


def _stream() -> StreamInfo:  # as lock_child.py's
    return StreamInfo(1000.0, (AIChannel("e", "x/ai0"), AIChannel("f", "x/ai1")), np.dtype(np.int16),
                      (1.0, 1.0), (0.0, 0.0))


def test_a_second_process_cannot_overwrite_a_file_being_recorded(tmp_path):
    out = tmp_path / "cell.h5"
    a = recorder_child(out, 1)
    try:
        assert a.expect("WROTE") == "WROTE 2000"
        # process B, as `ionto run --out cell.h5 --overwrite` did: refused, one line naming A's pid
        b = recorder_child(out, 2)
        line = b.expect("REFUSED")
        assert b.finish() == 3
        assert f"being recorded by another ionto process (pid {a.p.pid})" in line
        assert str(out) in line and "\n" not in line
        # and in this process too (a GUI recording to the same name)
        with pytest.raises(RecordingError, match=rf"being recorded by another ionto process \(pid {a.p.pid}\)"):
            Recorder(out, overwrite=True).start(_stream())
        # a reader with HDF5's own locking on (another program) still reads the live file
        with h5py.File(out, "r", swmr=True) as f:
            assert int(f["acquisition/committed_samples"][()]) == 2000
        a.say("stop")
        assert a.expect("DONE") == "DONE 4000"
        assert a.finish() == 0
    finally:
        if a.p.poll() is None:
            a.p.kill()
    with Recording(out) as rec:  # A's file, whole: A's protocol, A's samples, closed cleanly
        assert rec.status == "closed"
        assert rec.protocol.name == "proto 1"
        assert rec.n_samples == 4000
        assert np.all(rec.raw() == 1)
    assert not lock_path_for(out).exists()  # the sidecar goes with a clean close


def test_a_killed_writer_leaves_no_lock_that_blocks(tmp_path):
    out = tmp_path / "cell.h5"
    a = recorder_child(out, 1)
    a.expect("WROTE")
    assert writer_alive(out) is True
    a.p.send_signal(signal.SIGKILL)
    a.finish()
    assert lock_path_for(out).exists()  # stale: nobody holds it
    assert writer_alive(out) is False
    with Recording(out) as rec:
        assert rec.status == "crashed" and rec.n_samples == 2000
    b = recorder_child(out, 2)  # the kernel dropped A's locks with A
    assert b.expect("WROTE") == "WROTE 2000"
    b.say("stop")
    b.expect("DONE")
    assert b.finish() == 0
    with Recording(out) as rec:
        assert rec.status == "closed" and rec.protocol.name == "proto 2" and np.all(rec.raw() == 2)
    assert not lock_path_for(out).exists()


def test_a_file_another_program_holds_locked_is_not_overwritten(tmp_path):
    """A program with the file open under HDF5's own locking (h5py's default): the overwrite is
    refused, naming that process; once it lets go, the overwrite goes through."""
    out = tmp_path / "cell.h5"
    first = recorder_child(out, 1)
    first.expect("WROTE")
    first.say("stop")
    first.expect("DONE")
    first.finish()
    holder = Child("-c", "import sys, h5py; f = h5py.File(sys.argv[1], 'r'); print('OPEN', flush=True); "
                         "sys.stdin.readline()", str(out))
    holder.expect("OPEN")
    if not writer_alive(out):
        holder.say("")
        holder.finish()
        pytest.skip("this HDF5 takes no file lock (HDF5_USE_FILE_LOCKING=FALSE?)")
    with pytest.raises(RecordingError, match=rf"in use by another process \(pid {holder.p.pid}"):
        Recorder(out, overwrite=True).start(_stream())
    holder.say("")
    assert holder.finish() == 0
    second = recorder_child(out, 2)
    second.expect("WROTE")
    second.say("stop")
    second.expect("DONE")
    assert second.finish() == 0
    with Recording(out) as rec:
        assert rec.protocol.name == "proto 2" and np.all(rec.raw() == 2)


def test_a_stale_lock_file_of_a_dead_process_is_reused(tmp_path):
    out = tmp_path / "cell.h5"
    lock_path_for(out).write_text("999999999\n")  # left by a writer that was killed
    rec = Recorder(out)
    rec.start(_stream())
    assert lock_path_for(out).read_text().strip() == str(os.getpid())
    rec.stop()
    assert not lock_path_for(out).exists()
    with Recording(out) as r:
        assert r.status == "closed"


def test_without_overwrite_an_existing_file_is_kept(tmp_path):
    out = tmp_path / "cell.h5"
    out.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="file exists"):
        Recorder(out).start(_stream())
    assert out.read_bytes() == b"precious"
    assert not lock_path_for(out).exists()
