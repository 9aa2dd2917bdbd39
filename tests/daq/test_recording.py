"""Recorder ↔ reader round trip, and a crash (SIGKILL) of a recording process."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from daq.errors import NotARecordingError, RecordingError
from daq.recording import ProtocolInfo, Recorder, Recording
from daq.types import AIChannel, Block, ChannelKind, EventKind, LogEvent, StreamInfo


def stream():
    chans = (AIChannel("e", "x/ai0", ChannelKind.ELECTRODE, 5.0, gain=1000.0),
             AIChannel("I_glu", "x/ai1", ChannelKind.CURRENT_MONITOR, 10.0, units="nA", gain=0.05, barrel="glu"))
    return StreamInfo(1000.0, chans, np.dtype(np.int16), (5 / 32768, 10 / 32768), (0.0, 0.0))


def test_round_trip(tmp_path, pipette):
    path = tmp_path / "r.h5"
    rec = Recorder(path, pipette=pipette, rig={"name": "t"}, protocol=ProtocolInfo("text: 1", "p", "yaml", {"a": 1}))
    rec.start(stream())
    data = (np.arange(2000).reshape(1000, 2) % 3000).astype(np.int16)
    rec.on_block(Block(0, data[:500]))
    rec.on_events([LogEvent(123, EventKind.EJECT, "glu", -20.0, "x")])
    rec.on_block(Block(600, data[500:]))  # a gap of 100 samples
    rec.stop()
    with Recording(path) as r:
        assert r.closed_cleanly
        assert r.n_samples == 1000
        assert np.array_equal(r.raw(), data)
        assert r.gaps == [(500, 100)]
        assert r.row_to_index(np.array([0, 499, 500, 999])).tolist() == [0, 499, 600, 1099]
        assert r.index_to_row(np.array([550, 600])).tolist() == [500, 500]
        ev = r.events
        assert ev[0].kind == EventKind.EJECT and ev[0].sample_index == 123 and ev[0].current_nA == -20.0
        assert r.pipette == pipette
        assert r.protocol.params == {"a": 1}
        assert r.physical("e", 0, 10)[1] == pytest.approx(2 * 5 / 32768 / 1000)
        assert r.summary()["committed_samples"] == 1000
    with h5py.File(path, "r") as f:  # plain h5py opens it without special flags
        assert f["acquisition/samples"].shape == (1000, 2)


def test_not_a_recording(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["a"] = 1
    with pytest.raises(NotARecordingError, match="not an ionto recording"):
        Recording(p)
    t = tmp_path / "t.h5"
    t.write_text("hello")
    with pytest.raises(NotARecordingError, match="not an HDF5 file"):
        Recording(t)
    with pytest.raises(RecordingError, match="no such file"):
        Recording(tmp_path / "missing.h5")


WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from daq.recording import Recorder
    from daq.types import AIChannel, Block, StreamInfo, LogEvent, EventKind
    st = StreamInfo(1000.0, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1.0,), (0.0,))
    rec = Recorder(sys.argv[1], flush_interval_s=0.1)
    rec.start(st)
    i = 0
    while True:
        rec.on_block(Block(i, (np.arange(i, i + 50) % 30000).astype(np.int16)[:, None]))
        rec.on_events([LogEvent(i, EventKind.MARK, text=str(i))])
        i += 50
        print(i, flush=True)
        time.sleep(0.05)  # real time: 50 samples at 1 kHz
""")


@pytest.mark.parametrize("kill_after_s", [0.05, 0.33, 0.9])
def test_sigkill_leaves_a_readable_file(tmp_path, kill_after_s):
    path = tmp_path / "crash.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    proc.stdout.readline()  # the writer is running
    time.sleep(kill_after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = proc.stdout.read().split()
    written = int(lines[-1]) if lines else 0
    with Recording(path) as r:
        assert not r.closed_cleanly
        n = r.n_samples
        # at most the flush interval (0.1 s = 100 samples) plus one block in flight is lost
        assert written - n <= 100 + 2 * 50
        assert np.array_equal(r.raw()[:, 0], (np.arange(n) % 30000).astype(np.int16))
        assert all(e.kind == EventKind.MARK for e in r.events)
