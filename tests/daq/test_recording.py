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
from waiting import wait_until

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
        print(i, rec.committed_samples, flush=True)  # handed to the writer; vouched for by a commit
        time.sleep(0.05)  # real time: 50 samples at 1 kHz
""")


@pytest.mark.parametrize("kill_after_blocks", [1, 7, 18])
def test_sigkill_leaves_a_readable_file(tmp_path, kill_after_blocks):
    """Killed at any moment, the file opens and holds at least every sample a commit had
    vouched for (how many that is after a given wall time depends on the machine's load, so
    the kill is placed by the blocks written, and the bound is the writer's own count)."""
    path = tmp_path / "crash.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        seen = [proc.stdout.readline().split() for _ in range(kill_after_blocks)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert all(len(line) == 2 for line in seen), seen
    lines = [line.split() for line in proc.stdout.read().splitlines() if len(line.split()) == 2]
    written = int((lines or seen)[-1][0])  # handed to the writer before the kill
    committed = int(seen[-1][1])  # vouched for by a commit before the kill
    with Recording(path) as r:
        assert not r.closed_cleanly
        n = r.n_samples
        assert committed <= n <= written
        assert np.array_equal(r.raw()[:, 0], (np.arange(n) % 30000).astype(np.int16))
        assert all(e.kind == EventKind.MARK for e in r.events)
        assert [int(e.text) for e in r.events] == list(range(0, 50 * len(r.events), 50))  # in order, none skipped


def test_commits_keep_up_with_a_running_writer(tmp_path):
    """While a recording runs, commits keep coming (the crash test's bound is only useful if
    they do): the child's committed count catches up with what it handed over."""
    path = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        first_handed = None
        for line in proc.stdout:  # bounded: the loop ends when a commit covers the first 500 samples
            handed, committed = map(int, line.split())
            first_handed = first_handed or handed
            if committed >= 500:
                break
            assert handed < 60 * 1000, "no commit of the first 500 samples in a minute of recording"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert first_handed is not None and committed >= 500


# --- the writer thread, the queue, the disk, live reading ------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from daq.recording import h5file as h5file_mod  # noqa: E402


def test_metadata_currents_long_texts_and_notes(tmp_path, pipette):
    path = tmp_path / "m.h5"
    rec = Recorder(path, pipette=pipette, rig={"name": "t"}, notes="cell 3, layer V")
    rec.start(stream())
    long_text = "ä" * 500 + " end"
    rec.on_block(Block(0, np.zeros((100, 2), np.int16)))
    rec.on_events([LogEvent(0, EventKind.RETAIN, "glu", 15.0, "initial"),
                   LogEvent(10, EventKind.EJECT, "glu", -40.0, "manual"),
                   LogEvent(10, EventKind.EJECT, "gaba", 20.0, "manual"),
                   LogEvent(50, EventKind.MARK, text=long_text)])
    rec.add_note("drifted at 2 min")
    rec.on_block(Block(100, np.zeros((100, 2), np.int16)))
    rec.stop()
    with Recording(path) as r:
        assert r.status == "closed" and r.schema_version == 2
        assert "+" in r.created or "Z" in r.created or r.created.endswith("00:00")  # with its UTC offset
        assert r.notes == "cell 3, layer V\ndrifted at 2 min"
        assert any(e.kind == EventKind.NOTE and e.text == "drifted at 2 min" for e in r.events)
        assert [e.text for e in r.events if e.kind == EventKind.MARK] == [long_text]
        idx, cur, names = r.commanded_currents()
        assert names == pipette.names
        assert idx.tolist() == [0, 10]  # two changes at sample 10 make one row
        g, a, b = names.index("glu"), names.index("gaba"), names.index("bal")
        assert cur[1, g] == -40.0 and cur[1, a] == 20.0
        assert cur[1, b] == pytest.approx(-cur[1, :b].sum() - cur[1, b + 1:].sum())
        assert r.monitor_channel("glu") == 1 and r.monitor_channel("gaba") is None
        s = r.summary()
        assert s["status"] == "closed" and s["software"]["h5py"] == h5py.__version__


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 300), st.integers(0, 50)), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 5000), st.text(max_size=200)), max_size=8))
def test_any_blocks_gaps_and_events_round_trip(tmp_path_factory, blocks, events):
    """Whatever the block sizes, gaps and event texts, the file gives back exactly that."""
    path = tmp_path_factory.mktemp("h") / "h.h5"
    rec = Recorder(path, flush_interval_s=0.05)
    rec.start(stream())
    rng = np.random.default_rng(0)
    index, chunks, expected_gaps = 0, [], []
    for n, gap in blocks:
        if gap and chunks:
            expected_gaps.append((index, gap))
        index += gap if chunks else 0
        data = rng.integers(-32768, 32767, size=(n, 2), dtype=np.int16)
        rec.on_block(Block(index, data))
        chunks.append(data)
        index += n
    logged = [LogEvent(i, EventKind.MARK, text=t) for i, t in events]
    rec.on_events(logged)
    rec.stop()
    with Recording(path) as r:
        assert np.array_equal(r.raw(), np.concatenate(chunks))
        assert r.gaps == expected_gaps
        assert r.end_index == index
        assert sorted((e.sample_index, e.text) for e in r.events) == sorted(events)


def test_commits_within_the_flush_interval_while_running(tmp_path):
    rec = Recorder(tmp_path / "f.h5", flush_interval_s=0.2)
    rec.start(stream())
    rec.on_block(Block(0, np.ones((500, 2), np.int16)))
    rec.on_events([LogEvent(3, EventKind.MARK, text="m")])
    # committed by the writer thread on its own (no stop, no explicit flush); how soon is not
    # measured here: a loaded machine only makes it later
    wait_until(lambda: rec.committed_samples >= 500 and rec.committed_events >= 1, 60, what="the first commit")
    assert rec.committed_samples == 500 and rec.committed_events == 1
    with Recording(tmp_path / "f.h5") as r:  # a second reader sees it while it is written
        assert r.status == "live" and r.n_samples == 500 and r.events[0].text == "m"
        assert not r.closed_cleanly
        rec.on_block(Block(500, np.ones((300, 2), np.int16)))

        def refreshed_samples() -> int:
            r.refresh()
            return r.n_samples if r.n_samples >= 800 else 0

        wait_until(refreshed_samples, 60, interval_s=0.02, what="the reader to see the second commit")
        assert r.n_samples == 800
    rec.stop()
    with h5py.File(tmp_path / "f.h5", "r") as f:  # an ordinary HDF5 file once closed
        assert f.attrs["closed_cleanly"]


def test_full_queue_stops_loudly_instead_of_dropping(tmp_path, monkeypatch):
    gate = __import__("threading").Event()
    real = h5file_mod.RecordingFile.append_samples

    def stuck(self, start, data):
        gate.wait(10)  # the disk hangs
        real(self, start, data)

    monkeypatch.setattr(h5file_mod.RecordingFile, "append_samples", stuck)
    rec = Recorder(tmp_path / "q.h5", queue_s=0.0, queue_min_bytes=40_000)
    rec.start(stream())
    block = np.zeros((1000, 2), np.int16)  # 4000 bytes
    with pytest.raises(RecordingError, match=r"queue is full.*rather than dropping"):
        for i in range(100):
            rec.on_block(Block(i * 1000, block))
    handed = i  # blocks accepted before the refusal
    gate.set()
    rec.stop()
    with Recording(tmp_path / "q.h5") as r:
        assert r.n_samples == handed * 1000  # every accepted block is in the file


def test_writer_failure_reaches_the_engine_thread(tmp_path, monkeypatch):
    def broken(self, start, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5file_mod.RecordingFile, "append_samples", broken)
    rec = Recorder(tmp_path / "e.h5", flush_interval_s=0.05)
    rec.start(stream())
    rec.on_block(Block(0, np.zeros((10, 2), np.int16)))
    deadline = time.monotonic() + 60  # a bound against hanging: the error comes at the writer's next batch
    with pytest.raises(RecordingError, match="No space left"):
        while time.monotonic() < deadline:
            rec.on_block(Block(10, np.zeros((10, 2), np.int16)))
            time.sleep(0.01)
    with pytest.raises(RecordingError, match="No space left"):
        rec.stop()
    with Recording(tmp_path / "e.h5") as r:  # still a readable (crashed) file
        assert r.status == "crashed" and r.n_samples == 0


def test_disk_space_checked_before_and_while_recording(tmp_path, monkeypatch):
    with pytest.raises(RecordingError, match="MiB free; at least"):
        Recorder(tmp_path / "a.h5", min_free_bytes=2**62).start(stream())
    assert not (tmp_path / "a.h5").exists()
    rec = Recorder(tmp_path / "b.h5", low_disk_bytes=2**62, disk_check_s=0.05)
    rec.start(stream())
    assert "low disk space" in rec.drain_warnings()[0]
    free = {"bytes": 10 * 2**30}
    monkeypatch.setattr("daq.recording.writer.free_bytes", lambda p: free["bytes"])
    free["bytes"] = 100 * 2**20  # below the 200 MiB minimum: stop before the disk fills
    deadline = time.monotonic() + 60  # a bound against hanging: the stop comes at the writer's next check
    with pytest.raises(RecordingError, match="disk almost full"):
        while time.monotonic() < deadline:
            rec.on_block(Block(0, np.zeros((10, 2), np.int16)))
            time.sleep(0.02)
    with pytest.raises(RecordingError, match="disk almost full"):
        rec.stop()
    with Recording(tmp_path / "b.h5") as r:
        assert r.status == "closed"  # closed cleanly before the disk filled


def test_ground_truth_that_appears_mid_recording(tmp_path):
    rec = Recorder(tmp_path / "t.h5", truth_metadata={"model": "x"}, flush_interval_s=0.05)
    rec.start(stream())
    rec.on_block(Block(0, np.zeros((100, 2), np.int16)))
    rec.on_truth({"rate": np.arange(5.0)})
    rec.on_truth({"rate": np.arange(5.0, 8.0), "spike_index/neuron0": np.array([3, 9])})
    rec.on_block(Block(100, np.zeros((100, 2), np.int16)))
    rec.stop()
    with Recording(tmp_path / "t.h5") as r:
        assert r.has_ground_truth and r.truth_metadata == {"model": "x"}
        assert sorted(r.truth_names()) == ["rate", "spike_index/neuron0"]
        assert r.truth("rate").tolist() == list(np.arange(8.0))
        assert r.truth("spike_index/neuron0").tolist() == [3, 9]
        assert r.n_samples == 200


def test_damaged_and_empty_files_give_clear_errors(tmp_path):
    from daq.errors import DamagedRecordingError

    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(NotARecordingError, match="empty"):
        Recording(empty)
    path = tmp_path / "ok.h5"
    rec = Recorder(path)
    rec.start(stream())
    rec.on_block(Block(0, np.zeros((100, 2), np.int16)))
    rec.stop()
    raw = bytearray(path.read_bytes())
    raw[200:2200] = b"\xff" * 2000  # object headers overwritten
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(raw))
    with pytest.raises((DamagedRecordingError, NotARecordingError)):
        with Recording(bad) as r:
            r.raw()
    with h5py.File(tmp_path / "noacq.h5", "w") as f:
        f.attrs["ionto_format"] = "ionto-recording"
        f.attrs["schema_version"] = 2
    with pytest.raises(DamagedRecordingError, match="acquisition group"):
        Recording(tmp_path / "noacq.h5")


def test_schema_1_recordings_are_still_read():
    """A file written by the foundation's recorder (schema 1: plain HDF5, variable-length texts)."""
    from pathlib import Path

    with Recording(Path(__file__).parents[1] / "data" / "recording_v1.h5") as r:
        assert r.schema_version == 1 and r.status == "closed"
        assert r.n_samples == 2000 and r.gaps == [(1000, 100)]
        assert [(e.sample_index, str(e.kind), e.text) for e in r.events][-1] == (800, "mark", "héllo")
        idx, cur, names = r.commanded_currents()  # rebuilt from the event log
        assert idx.tolist() == [0, 300, 700] and cur[1, names.index("glu")] == -40.0
        assert r.truth("rate").tolist() == list(np.arange(10.0))
        assert r.summary()["protocol"]["params"] == {"a": 1}


def test_large_appends_spanning_whole_chunks(tmp_path):
    """Whole chunks go straight to the file; partial ones the usual way: same data back."""
    rec = Recorder(tmp_path / "big.h5", flush_interval_s=0.05)
    rec.start(stream())
    rng = np.random.default_rng(5)
    data = rng.integers(-32768, 32767, size=(1_700_000, 2), dtype=np.int16)  # > 3 chunks of 2 MiB
    for k, n in enumerate((123_457, 900_000, 1, 676_542)):
        start = sum((123_457, 900_000, 1, 676_542)[:k])
        rec.on_block(Block(start, data[start:start + n]))
    rec.stop()
    with h5py.File(tmp_path / "big.h5", "r") as f:
        assert f["acquisition/samples"].chunks[0] * 3 < len(data)
    with Recording(tmp_path / "big.h5") as r:
        assert np.array_equal(r.raw(), data)


def test_the_last_batch_is_written_as_far_as_it_fits():
    """Where a batch would cross the disk or file-size limit, the recorder keeps its first
    whole rows that fit, what was queued before the cut, and the events up to the end of
    the samples kept."""
    from daq.recording.writer import _STOP, _fit_batch

    a = np.ones((100, 4), dtype=np.int16)  # 8 bytes a row
    b = np.full((100, 4), 2, dtype=np.int16)
    batch = [(("block", 0, a), a.nbytes), (("events", [LogEvent(50, EventKind.EJECT, "glu", -20.0)]), 200),
             (("block", 100, b), b.nbytes),
             (("events", [LogEvent(120, EventKind.RETAIN, "glu", 15.0), LogEvent(180, EventKind.NOTE, text="x")]), 400),
             (("truth", {"spikes": np.array([170])}), 8), _STOP]
    out = _fit_batch(batch, 8 * 130 + 5, written_end=0)  # 130 rows and a bit
    assert [e[0][0] for e in out] == ["block", "events", "block", "events"]  # no truth after the cut, no end marker
    assert out[2][0][1] == 100 and out[2][0][2].shape == (30, 4) and out[2][1] == 240
    assert [e.sample_index for e in out[3][0][1]] == [120]  # the event at 180 has no samples
    assert _fit_batch(batch, 0, written_end=0) == []  # no room: not even the events of unwritten rows
    whole = _fit_batch(batch, 10**9, written_end=0)
    assert [e[0][0] for e in whole] == ["block", "events", "block", "events", "truth"]
    assert [e.sample_index for e in whole[3][0][1]] == [120, 180]
    ahead = [(("events", [LogEvent(200, EventKind.STEP, text="next"), LogEvent(201, EventKind.STEP)]), 200)]
    assert [e.sample_index for e in _fit_batch(ahead, 10**9, written_end=200)[0][0][1]] == [200]
