"""Replay with seek (issue 16, item 5): the overview of a whole recording and its jump
targets, and seek / speed / pause through the live session and the engine."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from waiting import wait_until

from analysis.detect import DetectionParams
from analysis.filters import CausalFilter
from app.gui.models.replay import ReplayOverview
from app.live import REPLAY_SPEEDS, LiveSession
from daq.engine import BlockDone, EngineError, EngineWarning, EventLogged
from daq.errors import ConfigError
from daq.recording import Recorder
from daq.types import Block, ChannelKind, EventKind, LogEvent, StreamInfo
from mock_daq import load_preset

RATE = 20000.0
SECONDS = 12


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """12 s on the cortex rig's channels: noise with a burst of large spikes at 7 s, two glu
    ejections (2-3 s, 6-8 s), a mark at 4.5 s, and a 0.5-s gap at 10 s."""
    rig = load_preset("cortex")
    cfg = rig.acquisition_config()
    n_ch = len(cfg.ai)
    stream = StreamInfo(cfg.rate_hz, cfg.ai, np.dtype(np.int16), (1e-4,) * n_ch, (0.0,) * n_ch)
    assert cfg.rate_hz == RATE
    path = tmp_path_factory.mktemp("replayctl") / "cell.h5"
    rng = np.random.default_rng(5)
    n = int(SECONDS * RATE)
    data = rng.integers(-200, 200, size=(n, n_ch), dtype=np.int16)
    elec = next(i for i, c in enumerate(cfg.ai) if c.kind == ChannelKind.ELECTRODE)
    for s in range(int(7 * RATE), int(7.5 * RATE), 400):
        data[s:s + 10, elec] -= 3000
    rec = Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"))
    rec.start(stream)
    gap = int(0.5 * RATE)
    for k in range(0, n, 2000):
        rec.on_block(Block(k + (gap if k >= 10 * RATE else 0), data[k:k + 2000]))
    rec.on_events([LogEvent(int(2 * RATE), EventKind.EJECT, "glu", -40.0, "step 1"),
                   LogEvent(int(3 * RATE), EventKind.RETAIN, "glu", 15.0),
                   LogEvent(int(4.5 * RATE), EventKind.MARK, text="drug wash"),
                   LogEvent(int(6 * RATE), EventKind.EJECT, "glu", -80.0, "step 2"),
                   LogEvent(int(8 * RATE), EventKind.RETAIN, "glu", 15.0)])
    rec.stop()
    return path, data, elec


# --- the overview -------------------------------------------------------------------------------
def test_the_overview_has_every_ejection_and_mark_and_the_jump_targets(recording):
    path, _, _ = recording
    ov = ReplayOverview.from_recording(path, n_bins=500)
    assert ov.duration_s == pytest.approx(SECONDS + 0.5)
    assert [(m.kind, m.t_s, m.end_s, m.label) for m in ov.landmarks] == [
        ("ejection", 2.0, 3.0, "glu -40 nA"), ("mark", 4.5, 4.5, "drug wash"), ("ejection", 6.0, 8.0, "glu -80 nA")]
    assert ov.next_landmark(0.0).t_s == 2.0 and ov.next_landmark(2.0).t_s == 4.5
    assert ov.next_landmark(6.0) is None and ov.next_landmark(0.0, "mark").label == "drug wash"
    assert ov.previous_landmark(9.0).t_s == 6.0
    assert ov.previous_landmark(6.2).t_s == 4.5  # just after a jump: "previous" goes further back
    assert ov.previous_landmark(2.0) is None


def test_the_overview_envelope_is_the_detectors_filtered_signal_binned(recording):
    path, data, elec = recording
    ov = ReplayOverview.from_recording(path, n_bins=500, chunk_rows=7777)  # chunks cut across bins and the gap
    assert len(ov.t_s) == len(ov.lo) == len(ov.hi) == 500
    rig = load_preset("cortex")
    c = rig.acquisition_config().ai[elec]
    f = CausalFilter(DetectionParams().bandpass(RATE), np.array([1e-4 / c.gain * 1e6]))
    cut = int(10 * RATE)  # the filter restarts at the gap, as the detector's does
    y = np.concatenate([f(data[:cut, elec])[:, 0], (f.reset(), f(data[cut:, elec]))[1][:, 0]])
    edges = np.linspace(0, len(data), 501).astype(int)
    np.testing.assert_allclose(ov.lo, [y[a:b].min() for a, b in itertools.pairwise(edges)], rtol=1e-9)
    np.testing.assert_allclose(ov.hi, [y[a:b].max() for a, b in itertools.pairwise(edges)], rtol=1e-9)
    burst = (ov.t_s >= 7.0) & (ov.t_s < 7.45)
    quiet = (ov.t_s < 6.9) | (ov.t_s > 7.6)
    assert ov.lo[burst].max() < 3 * ov.lo[quiet].min()  # every bin of the burst stands out in the envelope
    assert ov.t_s[-1] > 12.0  # times are the recording's, its gap included


def test_overview_position_events_are_clamped(recording):
    ov = ReplayOverview.from_recording(recording[0], n_bins=50)
    got: list[float] = []
    ov.position_changed.connect(got.append)
    ov.set_position(3.0)
    ov.set_position(3.0)
    ov.set_position(99.0)
    assert got == [3.0, ov.duration_s]


# --- seek, speed and pause through the engine ------------------------------------------------------
class _Events:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logged: list[LogEvent] = []
        self.errors: list[str] = []
        self.turns = 0
        self.warnings: list[str] = []

    def __call__(self, ev) -> None:  # engine thread
        with self.lock:
            if isinstance(ev, EventLogged):
                self.logged.append(ev.event)
            elif isinstance(ev, EngineError):
                self.errors.append(ev.message)
            elif isinstance(ev, BlockDone):
                self.turns += 1
            elif isinstance(ev, EngineWarning):
                self.warnings.append(ev.message)

    def notes(self) -> list[str]:
        with self.lock:
            return [e.text for e in self.logged if e.kind == EventKind.NOTE]


def test_seek_pause_and_speed_on_a_running_replay(recording, tmp_path):
    path, _, _ = recording
    # looping: a starved test thread never finds the replay ended (the loop is no gap)
    s = LiveSession(f"replay:{path}?loop", speed=1.0, recordings_dir=tmp_path)
    events = _Events()
    s.subscribe(events)
    s.connect()
    try:
        assert s.is_replay and s.replay_device is not None
        wait_until(lambda: s.end_index > 2000, 60, what="the replay running")
        s.replay_seek_s(7.0)  # forward, past an ejection and the mark
        wait_until(lambda: "replay: seek to 7.0 s" in events.notes(), 60, what="the seek")
        assert s.replay_position_s >= 7.0
        # the barrel panel learns that glu was ejecting at 7 s (re-reported at the seek)
        at_seek = [e for e in events.logged if e.kind == EventKind.EJECT and "current at the seek" in e.text]
        assert [(e.barrel, e.current_nA) for e in at_seek] == [("glu", -80.0)]

        s.pause_replay(True)
        assert s.replay_paused
        turns = events.turns
        wait_until(lambda: events.turns >= turns + 2, 60, what="the pause applied (two engine turns)")
        held, position = s.end_index, s.replay_position_s
        turns = events.turns
        # the engine keeps turning (its commands still run) but no sample arrives
        wait_until(lambda: events.turns >= turns + 5, 60, what="five more engine turns")
        assert s.end_index == held and s.replay_position_s == position and s.running

        s.pause_replay(False)
        wait_until(lambda: s.end_index > held, 60, what="samples again after the pause")
        assert s.replay_slower() == 0.5 and s.replay_faster() == 1.0 and s.replay_faster() == 2.0
        position = s.replay_position_s
        s.replay_seek_s(1.0)  # back: the device index goes on, the recording restarts at 1 s
        wait_until(lambda: "replay: seek to 1.0 s" in events.notes(), 60, what="the seek back")
        wait_until(lambda: s.replay_position_s is not None and s.replay_position_s < position, 60)
        wait_until(lambda: s.end_index > held + 4000, 60, what="samples after the seek back")
        assert s.running and events.errors == []  # the engine never saw its sample index go back
        assert s.status().gaps >= 2  # each seek is a gap in the engine's log ...
        gaps = [e for e in events.logged if e.kind == EventKind.GAP]
        assert len(gaps) >= 2
        # ... but not a "samples lost" warning: it was asked for (the only warnings there may be
        # are for the recording's own 10000-sample gap, if the replay got there)
        assert all("10000 samples" in w for w in events.warnings), events.warnings
        s.replay_seek_s(9.9)  # the recording's own gap (0.5 s at 10 s) still warns, as lost samples do
        wait_until(lambda: any("10000 samples" in w and "recorded as a gap" in w for w in events.warnings), 60,
                   what="the warning for the recording's own gap")
        assert all("10000 samples" in w for w in events.warnings), events.warnings
    finally:
        s.close()
    assert not s.running


def test_replay_controls_on_a_live_device_say_so(tmp_path):
    s = LiveSession("sim", seed=1, speed=None, recordings_dir=tmp_path)
    s.connect()
    try:
        with pytest.raises(ConfigError, match=r"not a replay; seek, speed and pause are for replay:FILE\.h5"):
            s.replay_seek_s(3.0)
        assert s.replay_position_s is None and not s.replay_paused
    finally:
        s.close()


def test_speed_steps_are_ordered():
    assert list(REPLAY_SPEEDS) == sorted(REPLAY_SPEEDS) and 1.0 in REPLAY_SPEEDS


def test_a_paused_replay_being_recorded_leaves_no_gap_in_the_file(recording, tmp_path):
    """Empty blocks while paused reach the recorder, the detector and the display: the new
    file holds the replayed samples without a gap or a repeated sample."""
    from daq.recording import Recording

    path, data, _ = recording
    s = LiveSession(f"replay:{path}", speed=1.0, recordings_dir=tmp_path)  # (10 s before the file's own gap)
    events = _Events()
    s.subscribe(events)
    s.connect()
    try:
        wait_until(lambda: s.end_index > 4000, 60, what="the replay running")
        out = s.start_recording(tmp_path / "again.h5")
        wait_until(lambda: s.recording, 60, what="the recording started")
        s.pause_replay(True)
        turns = events.turns
        wait_until(lambda: events.turns >= turns + 5, 60, what="five paused engine turns")
        s.pause_replay(False)
        held = s.end_index
        wait_until(lambda: s.end_index > held + 8000, 60, what="samples after the pause")
        s.stop_recording()
        wait_until(lambda: not s.recording, 60, what="the file closed")
    finally:
        s.close()
    assert events.errors == []
    with Recording(out) as r:
        assert r.gaps == [] and r.n_samples > 8000
        first = r.first_index
        assert np.array_equal(r.raw(), data[first:first + r.n_samples])


class _FakeReplay:
    """The session's replay calls, recorded (what ReplayControl asks for), and a position the
    test moves as the device would once a seek is carried out."""

    def __init__(self) -> None:
        self.speed: float | None = 1.0
        self.seeks: list[float] = []
        self.replay_paused = False
        self.replay_position_s: float | None = 0.0

    def replay_seek_s(self, t_s: float) -> None:
        self.seeks.append(t_s)

    def replay_faster(self) -> float:
        self.speed = 2.0
        return 2.0

    def replay_slower(self) -> float:
        self.speed = 0.5
        return 0.5

    def pause_replay(self, paused: bool) -> None:
        self.replay_paused = paused


def test_replay_control_jumps_landmark_by_landmark_with_a_pre_roll(recording):
    from app.gui.models.replay import ReplayControl

    ov = ReplayOverview.from_recording(recording[0], n_bins=100)
    fake = _FakeReplay()
    ctl = ReplayControl(fake, ov, pre_roll_s=1.0)
    jumped: list[float] = []
    ctl.jumped.connect(lambda m: jumped.append(m.t_s))
    assert ctl.next().t_s == 2.0 and fake.seeks == [1.0]
    assert ctl.next().t_s == 4.5 and fake.seeks[-1] == 3.5  # twice before the replay moved: on to the mark
    fake.replay_position_s = 3.6  # the replay carried it out and plays the pre-roll
    assert ctl.next().t_s == 6.0 and fake.seeks[-1] == 5.0  # next counts from the mark, not from 3.6
    fake.replay_position_s = 5.2
    assert ctl.previous().t_s == 4.5 and fake.seeks[-1] == 3.5
    fake.replay_position_s = 9.0  # played on past the last ejection
    assert ctl.next() is None and fake.seeks[-1] == 3.5  # nothing left: no seek
    assert ctl.previous("ejection").t_s == 6.0
    assert jumped == [2.0, 4.5, 6.0, 4.5, 6.0]
    ctl.seek(99.0)
    assert fake.seeks[-1] == ov.duration_s
    speeds, pauses, positions = [], [], []
    ctl.speed_changed.connect(speeds.append)
    ctl.paused_changed.connect(pauses.append)
    ov.position_changed.connect(positions.append)
    ctl.faster(), ctl.slower(), ctl.toggle_pause(), ctl.toggle_pause()
    assert speeds == [2.0, 0.5] and pauses == [True, False] and not fake.replay_paused
    fake.replay_position_s = 7.25
    ctl.refresh()
    assert positions == [7.25] and ov.position_s == 7.25


def test_replay_control_drives_a_real_replay(recording, tmp_path):
    from app.gui.models.replay import ReplayControl

    path = recording[0]
    s = LiveSession(f"replay:{path}?loop", speed=1.0, recordings_dir=tmp_path)
    s.connect()
    try:
        wait_until(lambda: s.end_index > 2000, 60, what="the replay running")
        ctl = ReplayControl(s, ReplayOverview.from_recording(path, n_bins=100), pre_roll_s=0.5)
        assert ctl.next("mark").label == "drug wash"
        wait_until(lambda: 4.0 <= (s.replay_position_s or 0) < 4.5 + 5, 60, what="the replay at the mark's pre-roll")
        assert ctl.previous().t_s == 2.0
        wait_until(lambda: 1.5 <= (s.replay_position_s or 0) < 2.0 + 5, 60, what="the replay back before 2 s")
        assert s.running
    finally:
        s.close()
