"""A recording played back as a device: the same samples, gaps and events come out."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from app.session import open_device, resolve_rig
from daq.engine import Engine, EngineState
from daq.errors import ConfigError
from daq.recording import Recorder, Recording
from daq.replay import ReplayDevice
from daq.types import Block, EventKind, LogEvent, StreamInfo
from mock_daq import load_preset


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """2 s of random samples on the cortex rig's channels, a 1000-sample gap, events."""
    rig = load_preset("cortex")
    cfg = rig.acquisition_config()
    n_ch = len(cfg.ai)
    stream = StreamInfo(cfg.rate_hz, cfg.ai, np.dtype(np.int16), (1e-4,) * n_ch, (0.0,) * n_ch)
    path = tmp_path_factory.mktemp("replay") / "orig.h5"
    rec = Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"))
    rec.start(stream)
    rng = np.random.default_rng(3)
    data = rng.integers(-3000, 3000, size=(40000, n_ch), dtype=np.int16)
    start = 5000  # the recording began mid-run
    for k in range(0, 20000, 1000):
        rec.on_block(Block(start + k, data[k:k + 1000]))
    for k in range(20000, 40000, 1000):
        rec.on_block(Block(start + 1000 + k, data[k:k + 1000]))  # 1000 samples lost at row 20000
    rec.on_events([LogEvent(start, EventKind.RECORDING_START),
                   LogEvent(start + 4000, EventKind.EJECT, "glu", -40.0, "step"),
                   LogEvent(start + 30000, EventKind.RETAIN, "glu", 15.0, "step"),
                   LogEvent(start + 31000, EventKind.MARK, text="wash")])
    rec.stop()
    return path, data


def test_replay_through_the_engine_reproduces_the_recording(original, tmp_path):
    path, data = original
    device, rig = open_device(f"replay:{path}", speed=None)
    assert isinstance(device, ReplayDevice) and rig.name == "sim-cortex"
    out = tmp_path / "again.h5"
    eng = Engine(device, rig.acquisition_config(), rig.pipette, recorder=Recorder(out, pipette=rig.pipette))
    eng.run()
    assert eng.state == EngineState.STOPPED and eng.error is None
    with Recording(out) as r:
        assert np.array_equal(r.raw(), data)
        assert r.gaps == [(20000, 1000)]  # the same gap, rebased to the replay's index 0
        ev = {(e.sample_index, str(e.kind), e.text) for e in r.events}
        assert (4000, "eject", "replay: step") in ev and (31000, "mark", "replay: wash") in ev
        assert not any(e.text.startswith("replay") and e.kind == EventKind.RECORDING_START for e in r.events)


def test_replay_loops_without_a_gap_and_paces_to_real_time(original):
    path, data = original
    dev = ReplayDevice(path, speed=None, loop=True)
    rig = resolve_rig(f"replay:{path}")
    cfg = rig.acquisition_config()
    dev.configure(cfg)
    dev.write_ao(0, np.zeros((100000, len(cfg.ao))))
    dev.start()
    got, idx = [], []
    while dev.loops == 0 or len(got) < 45:
        b = dev.read(1000, 1.0)
        got.append(b.data)
        idx.append(b.start_index)
    assert np.array_equal(np.concatenate(got)[:40000], data)
    assert np.array_equal(np.concatenate(got)[40000:45000], data[:5000])  # again from the start
    assert idx[40] == idx[39] + 1000  # no gap at the loop
    assert any(e.text == "replay: loop 1" for e in dev.drain_events())
    dev.close()
    import time

    real = ReplayDevice(path, speed=4.0)
    real.configure(cfg)
    real.write_ao(0, np.zeros((100000, len(cfg.ao))))
    real.start()
    t0 = time.monotonic()
    for _ in range(4):
        real.read(1000, 1.0)  # 4 x 50 ms of recording at 4x = 50 ms
    assert time.monotonic() - t0 >= 0.045
    real.close()


def test_replay_errors_are_clear(tmp_path, original):
    with pytest.raises(ConfigError, match="no such recording"):
        open_device(f"replay:{tmp_path / 'nope.h5'}")
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(ConfigError, match="not an HDF5 file"):
        open_device(f"replay:{tmp_path / 'x.h5'}")
    path, _ = original
    with pytest.raises(ConfigError, match="only options"):
        open_device(f"replay:{path}?fast")
    quiet, _ = open_device(f"replay:{path}?loop&noevents")
    assert quiet.loop and not quiet.replay_events
    quiet.close()
    dev = ReplayDevice(path)
    rig = resolve_rig(f"replay:{path}")
    with pytest.raises(ConfigError, match="made at 20000 Hz; got 10000"):
        dev.configure(rig.acquisition_config().__class__(10000.0, rig.acquisition_config().ai))
    dev.close()


# --- seek, speed, pause (the rig window's replay controls) ------------------------------------------
def _input_only(path, **kw) -> ReplayDevice:
    from dataclasses import replace

    dev = ReplayDevice(path, **kw)
    dev.configure(replace(resolve_rig(f"replay:{path}").acquisition_config(), ao=()))
    dev.start()
    return dev


def test_a_seek_forward_is_a_gap_at_the_recordings_own_index(original):
    path, data = original
    dev = _input_only(path, speed=None)
    first = dev.read(1000, 1.0)
    dev.drain_events()
    dev.seek(33000)  # rebased index 33000 = row 32000 (after the 1000-sample gap at row 20000)
    b = dev.read(1000, 1.0)
    assert b.start_index == 33000 > first.end_index  # a jump forward: the engine logs a gap
    assert np.array_equal(b.data, data[32000:33000])
    assert dev.recording_index(b.start_index) == 33000 and dev.position_s == pytest.approx(34000 / 20000)
    ev = dev.drain_events()
    assert ev[0] == LogEvent(33000, EventKind.NOTE, text="replay: seek to 1.6 s")
    # the barrel's current at that point of the recording is re-reported at the seek
    assert [(e.sample_index, e.kind, e.barrel, e.current_nA) for e in ev[1:]] == [(33000, EventKind.RETAIN, "glu", 15.0)]
    dev.close()


def test_a_seek_back_keeps_the_device_index_monotonic(original):
    path, data = original
    dev = _input_only(path, speed=None)
    blocks = [dev.read(1000, 1.0) for _ in range(10)]
    dev.drain_events()
    dev.seek(2000)  # back to 0.1 s, where glu had not been ejected yet
    b = dev.read(1000, 1.0)
    assert b.start_index == blocks[-1].end_index + 1  # one sample after the last: a gap, never backwards
    assert np.array_equal(b.data, data[2000:3000])
    assert dev.recording_index(b.start_index) == 2000 and dev.recording_index(blocks[3].start_index) == 3000
    nxt = [dev.read(1000, 1.0) for _ in range(3)]
    assert [x.start_index for x in nxt] == [b.end_index + 1000 * k for k in range(3)]
    ejected = [e for e in dev.drain_events() if e.kind == EventKind.EJECT]
    assert [e.sample_index for e in ejected] == [b.start_index + 2000]  # the ejection at 4000, shifted
    dev.close()


def test_seeks_into_a_gap_and_past_the_end_are_clamped(original):
    path, data = original
    dev = _input_only(path, speed=None)
    dev.read(1000, 1.0)
    dev.seek(20500)  # inside the recording's gap (20000..21000): the next recorded sample
    b = dev.read(500, 1.0)
    assert b.start_index == 21000 and np.array_equal(b.data, data[20000:20500])
    dev.seek(10**9)
    b = dev.read(1000, 1.0)
    assert np.array_equal(b.data, data[-1:])
    with pytest.raises(Exception, match="end of the recording"):
        dev.read(1000, 1.0)
    dev.close()


def test_pause_delivers_nothing_and_resumes_where_it_stopped(original):
    path, data = original
    dev = _input_only(path, speed=1.0)
    a = dev.read(1000, 1.0)
    dev.set_paused(True)
    for _ in range(3):
        b = dev.read(1000, 1.0)
        assert b.start_index == a.end_index and b.data.shape == (0, data.shape[1])
    dev.set_paused(False)
    c = dev.read(1000, 1.0)  # paced on from here: no timeout, no burst
    assert c.start_index == a.end_index and np.array_equal(c.data, data[1000:2000])
    dev.close()


def test_a_new_speed_paces_from_the_current_position(original):
    path, _ = original
    dev = _input_only(path, speed=1.0)
    dev.read(1000, 1.0)
    dev.set_speed(None)
    for _ in range(20):  # 1 s of recording, read as fast as possible: none waits the read timeout
        dev.read(1000, 0.2)
    dev.set_speed(1000.0)
    dev.read(1000, 0.2)
    with pytest.raises(ConfigError, match="replay speed must be > 0"):
        dev.set_speed(0.0)
    dev.close()

_OPS = hs.lists(hs.one_of(hs.tuples(hs.just("read"), hs.integers(1, 3000)),
                          hs.tuples(hs.just("seek"), hs.integers(-100, 45000))), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS)
def test_any_seeks_keep_indices_increasing_and_deliver_the_recordings_samples(original, ops):
    """Whatever the seeks, the device index only grows, and each block holds the recording's
    samples at ``recording_index`` of its start (the fixture: rebased index i is row i below
    20000, row i - 1000 from 21000; 20000..21000 is the recording's gap)."""
    from daq.errors import EndOfDataError

    path, data = original
    dev = _input_only(path, speed=None)
    prev_end = 0
    try:
        for op, arg in ops:
            if op == "seek":
                dev.seek(arg)
                continue
            try:
                b = dev.read(arg, 1.0)
            except EndOfDataError:
                break
            assert b.start_index >= prev_end and 0 < len(b.data) <= arg
            prev_end = b.end_index
            i = dev.recording_index(b.start_index)
            row = i if i < 20000 else i - 1000
            assert not 20000 <= i < 21000 and np.array_equal(b.data, data[row:row + len(b.data)])
    finally:
        dev.close()
