"""A FIFO, a device or a socket given as a recording is refused at once, in one line, by every
verb that reads or writes one (issue 13: `ionto info FIFO` hung forever).  The verbs run in
processes of their own with a timeout, so that a hang fails the test instead of stopping it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from daq.errors import RecordingError
from daq.recording import Recorder, Recording, refuse_special_file
from daq.recording.paths import recording_holder, refuse_recording_target
from daq.types import AIChannel, Block, StreamInfo

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120.0
STEPS = ROOT / "protocols" / "examples" / "steps.yaml"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def _ionto(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=str(ROOT), timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


def _stream() -> StreamInfo:
    return StreamInfo(1000.0, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1.0,), (0.0,))


@pytest.fixture()
def fifo(tmp_path) -> Path:
    p = tmp_path / "pipe.h5"
    os.mkfifo(p)
    return p


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("good") / "good.h5"
    rec = Recorder(p)
    rec.start(_stream())
    rec.on_block(Block(0, np.zeros((500, 1), np.int16)))
    rec.stop()
    return p


def _one_line_refusal(p: subprocess.CompletedProcess, path: Path, kind: str = "a FIFO") -> None:
    assert p.returncode == 1, (p.stdout, p.stderr)
    err = p.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert f"{path}: not a regular file but {kind}" in err


@pytest.mark.parametrize("verb", [
    ["info", "{fifo}"],
    ["info", "{fifo}", "--json"],
    ["analyze", "{fifo}", "--out", "{tmp}/a"],
    ["analyze", "{fifo_nwb}", "--out", "{tmp}/a"],
    ["export-nwb", "{fifo}", "{tmp}/out.nwb"],
    ["export-nwb", "{good}", "{fifo_nwb}"],
    ["analyze-batch", "{fifo}", "--out", "{tmp}/b", "--workers", "1"],
], ids=lambda v: " ".join(v).replace("{", "").replace("}", ""))
def test_every_verb_refuses_a_fifo_at_once(verb, fifo, good, tmp_path):
    fifo_nwb = tmp_path / "pipe.nwb"
    os.mkfifo(fifo_nwb)
    args = [a.format(fifo=fifo, fifo_nwb=fifo_nwb, good=good, tmp=tmp_path) for a in verb]
    p = _ionto(*args)
    _one_line_refusal(p, fifo_nwb if "{fifo_nwb}" in verb else fifo)


def test_run_out_fifo_ends_with_the_refusal(fifo):
    """`ionto run --out FIFO --overwrite` hung forever in HDF5's create."""
    p = _ionto("run", str(STEPS), "--out", str(fifo), "--overwrite", "--json", "--speed", "max")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert f"{fifo}: not a regular file but a FIFO" in p.stdout + p.stderr


def test_devices_and_sockets_are_refused(tmp_path):
    p = _ionto("info", "/dev/null")
    _one_line_refusal(p, Path("/dev/null"), "a character device")
    sock_path = tmp_path / "s.h5"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock_path))
        _one_line_refusal(_ionto("info", str(sock_path)), sock_path, "a socket")
    finally:
        s.close()


def _within(fn, seconds: float = 60.0):
    """``fn()`` on a daemon thread: its exception or result, or a failure if it hangs."""
    out: dict = {}

    def call() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} hung"
    if "error" in out:
        raise out["error"]
    return out.get("result")


def test_the_reader_and_the_recorder_refuse_special_files(fifo):
    with pytest.raises(RecordingError, match="not a regular file but a FIFO"):
        _within(lambda: Recording(fifo))
    for overwrite in (False, True):
        with pytest.raises(RecordingError, match="not a regular file but a FIFO"):
            _within(lambda overwrite=overwrite: Recorder(fifo, overwrite=overwrite).start(_stream()))
    with pytest.raises(RecordingError, match="not a regular file but a character device"):
        _within(lambda: Recorder("/dev/null", overwrite=True).start(_stream()))
    with pytest.raises(RecordingError, match="not a regular file but a FIFO"):
        refuse_special_file(fifo)
    refuse_special_file(fifo.parent / "missing.h5")  # missing: the caller's own open says so


def test_the_check_before_a_run(fifo, tmp_path):
    """``refuse_recording_target`` (for `ionto run --out` before the device starts)."""
    with pytest.raises(RecordingError, match="not a regular file"):
        refuse_recording_target(fifo)
    with pytest.raises(RecordingError, match="a folder"):
        refuse_recording_target(tmp_path)
    out = tmp_path / "r.h5"
    refuse_recording_target(out)  # nothing there: fine
    rec = Recorder(out)
    rec.start(_stream())
    try:
        assert recording_holder(out) == os.getpid()
        with pytest.raises(RecordingError, match=rf"being recorded by another ionto process \(pid {os.getpid()}"):
            refuse_recording_target(out)
    finally:
        rec.stop()
    assert recording_holder(out) is None
    refuse_recording_target(out)
