"""The display ring the GUI pulls snapshots from: order, wrap-around, gaps."""

import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.ring import DisplaySink, RingBuffer
from daq.types import AIChannel, Block, EventKind, LogEvent, StreamInfo
from tests.waiting import wait_until


@settings(max_examples=50, deadline=None)
@given(st.integers(5, 200), st.lists(st.tuples(st.integers(1, 150), st.integers(0, 30)), min_size=1, max_size=20))
def test_snapshot_is_the_newest_samples_in_order(capacity, pushes):
    ring = RingBuffer(capacity, 1)
    index, expected = 0, []
    for n, gap in pushes:
        if gap and expected:
            expected += [0] * gap
            index += gap
        data = (np.arange(index, index + n) % 30000 + 1).astype(np.int16)[:, None]
        ring.push(Block(index, data))
        expected += list(data[:, 0])
        index += n
    start, snap = ring.snapshot()
    want = expected[-capacity:]
    assert start == index - len(want)
    assert snap[:, 0].tolist() == want
    # gaps inside the window are reported, those scrolled out are forgotten
    for i, lost in ring.gaps():
        assert i + lost > start and np.all(snap[max(0, i - start):i - start + lost, 0] == 0)


@settings(max_examples=50, deadline=None)
@given(st.integers(5, 200), st.lists(st.integers(1, 150), min_size=1, max_size=20), st.integers(0, 300),
       st.integers(0, 2))
def test_a_one_channel_snapshot_is_that_channel_of_the_full_snapshot(capacity, pushes, n, channel):
    """Wherever the ring's write position is (wrapped or not), a snapshot of one channel holds
    the same samples as that column of a snapshot of all, and starts at the same index."""
    ring = RingBuffer(capacity, 3)
    index = 0
    for k in pushes:
        data = (np.arange(index * 3, (index + k) * 3) % 30000).astype(np.int16).reshape(k, 3)
        ring.push(Block(index, data))
        index += k
    start_all, snap_all = ring.snapshot(n)
    start_one, snap_one = ring.snapshot(n, channel=channel)
    assert start_one == start_all and snap_one.ndim == 1
    assert snap_one.tolist() == snap_all[:, channel].tolist()


def test_gaps_are_reported_not_hidden():
    ring = RingBuffer(1000, 2)
    ring.push(Block(0, np.ones((100, 2), np.int16)))
    ring.push(Block(150, np.ones((100, 2), np.int16)))
    assert ring.gaps() == [(100, 50)]
    assert ring.gaps(since_index=200) == []
    ring.push(Block(250, np.ones((1000, 2), np.int16)))  # the gap scrolls out
    assert ring.gaps() == []


def test_display_sink_snapshots_from_another_thread():
    sink = DisplaySink(seconds=1.0)
    stream = StreamInfo(1000.0, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1.0,), (0.0,))
    sink.start(stream)
    done = threading.Event()
    seen = []

    def reader():
        while not done.is_set():
            start, snap = sink.ring.snapshot(500)
            if len(snap):
                # every snapshot is contiguous data: value == index % 30000
                assert np.array_equal(snap[:, 0], (np.arange(start, start + len(snap)) % 30000).astype(np.int16))
                seen.append(start)

    t = threading.Thread(target=reader)
    t.start()
    for k in range(0, 50000, 50):
        sink.on_block(Block(k, (np.arange(k, k + 50) % 30000).astype(np.int16)[:, None]))
    sink.on_events([LogEvent(10, EventKind.MARK, text="x")])
    wait_until(lambda: seen, 60, what="the reader thread to take a snapshot")  # a busy machine may delay it
    done.set()
    t.join()
    assert sink.recent_events(5)[0].text == "x"
