"""A recording played back as a device: the same samples, gaps and events come out."""

import numpy as np
import pytest

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
