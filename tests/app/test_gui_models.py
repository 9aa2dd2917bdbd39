"""The GUI's plain-Python models, headless (no Qt imported here)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hs
from waiting import wait_until

from app.gui.live_fit import live_fits
from app.gui.models.barrels import BarrelModel
from app.gui.models.protocol import ProtocolModel, load
from app.gui.models.raster import EjectionBar, RateModel, fitting_labels, spike_waveforms
from app.gui.models.recording import DoseResponseModel, render_template
from app.gui.models.traces import TraceModel, column_size
from app.live import LiveSession
from daq.engine import Eject, Retain, SetCurrent
from daq.errors import CurrentLimitError, RecordingError
from daq.types import AIChannel, ChannelKind, EventKind, LogEvent, StreamInfo
from mock_daq import load_preset

EXAMPLES = Path(__file__).resolve().parents[2] / "protocols" / "examples"


def _stream(n_ch: int = 2, rate: float = 10000.0) -> StreamInfo:
    chans = tuple(AIChannel(f"e{i}", f"x/ai{i}", ChannelKind.ELECTRODE, 5.0, "default", "V", 1000.0)
                  for i in range(n_ch))
    return StreamInfo(rate, chans, np.dtype(np.int16), tuple([5.0 / 32768] * n_ch), tuple([0.0] * n_ch))


def test_the_models_do_not_import_qt():
    import app.gui.models.traces as t

    src = Path(t.__file__).parent
    for f in [*src.glob("*.py"), Path(__file__).resolve().parents[2] / "app" / "live.py"]:
        text = f.read_text()
        assert "PyQt6" not in text and "pyqtgraph" not in text, f


# --- traces ------------------------------------------------------------------------------------
def test_column_size_uses_a_1_2_5_ladder():
    assert column_size(300000, 1000) == 200
    assert column_size(300000, 1100) == 200  # a resize by a few pixels keeps the columns
    assert column_size(100, 1000) == 1


def test_incremental_columns_equal_batch_minmax_and_keep_peaks():
    st = _stream(1)
    m = TraceModel(st, window_s=1.0, n_columns=100, history_s=10.0)
    m.channels[0].filtered = False
    m._filt_cols = []
    rng = np.random.default_rng(0)
    raw = rng.integers(-2000, 2000, size=(20000, 1)).astype(np.int16)
    raw[12345, 0] = -30000
    pos = 0
    for n in rng.integers(1, 3000, size=100):  # arbitrary frame sizes
        if pos >= len(raw):
            break
        m.ingest(pos, raw[pos:pos + n])
        pos += n
    spc = m.samples_per_column
    assert spc == 100
    cs, lo, hi = m._cstart[m._first:m._first + m._count], m._lo[m._first:m._first + m._count], \
        m._hi[m._first:m._first + m._count]
    phys = raw[:, 0].astype(np.float64) * st.scale_V[0] / 1000 * 1e6
    k = len(cs)
    np.testing.assert_allclose(lo[:, 0], phys[:k * spc].reshape(k, spc).min(axis=1), rtol=1e-5)
    np.testing.assert_allclose(hi[:, 0], phys[:k * spc].reshape(k, spc).max(axis=1), rtol=1e-5)
    _, t_y = m.curves()[0][1:], m.curves()[0][2]
    assert t_y.min() == pytest.approx(phys.min(), rel=1e-5)  # the single deep spike survives
    assert m.end_index == k * spc


def test_history_is_bounded_and_freeze_scrolls_back():
    st = _stream(2, rate=1000.0)
    m = TraceModel(st, window_s=1.0, n_columns=100, history_s=5.0)
    for i in range(0, 20000, 500):
        m.ingest(i, np.zeros((500, 2), dtype=np.int16))
    assert m._count <= m._cap
    assert m.end_index == 20000
    m.freeze(True)
    m.ingest(20000, np.zeros((2000, 2), dtype=np.int16))
    assert m.view_range() == (19000, 20000)
    m.scroll_to(1e9)  # clamped to the history held
    lo, hi = m.view_range()
    assert lo >= 22000 - 5000 - 10 and hi - lo == 1000
    m.freeze(False)
    assert m.view_range()[1] == 22000


def test_a_gap_restarts_the_columns_cleanly():
    m = TraceModel(_stream(1, 1000.0), window_s=1.0, n_columns=100)
    m.ingest(0, np.zeros((105, 1), dtype=np.int16))
    m.ingest(500, np.ones((100, 1), dtype=np.int16))
    cs = m._cstart[m._first:m._first + m._count]
    assert list(cs[:10]) == list(range(0, 100, 10)) and cs[10] == 500


def test_memory_is_bounded_at_the_shortest_window():
    m = TraceModel(_stream(16, 30000.0), window_s=0.05, n_columns=2000, history_s=120.0)
    assert m.samples_per_column == 1
    assert m._lo.nbytes + m._hi.nbytes <= 2 * 2 * 200_000 * 16 * 4
    assert m.needs_history_s == pytest.approx(200_000 / 30000.0)


def test_window_change_rebuilds_and_gain_zooms():
    m = TraceModel(_stream(1), window_s=5.0, n_columns=1000)
    assert not m.set_window(5.0, 990)  # a few pixels narrower: same columns
    assert m.set_window(0.5, 1000)
    m.set_gain(0, 2.0)
    assert m.channels[0].y_range == (-125.0, 125.0)
    with pytest.raises(ValueError, match="gain"):
        m.set_gain(0, 0)


# --- ratemeter -------------------------------------------------------------------------------------
def test_ratemeter_bins_and_ejection_bars():
    rig = load_preset("cortex")
    m = RateModel(rig.pipette, 1000.0, bin_s=1.0, span_s=100)
    spikes = np.array([100, 200, 1500, 1600, 1700, 2999])
    edges, rate = m.histogram(spikes, 3500)
    assert list(edges) == [0, 1, 2, 3] and list(rate) == [2, 3, 1]
    m.on_event(LogEvent(1000, EventKind.EJECT, "glu", -40.0))
    assert m.bars[0].offset_index is None and m.bars[0].label == "glu · glutamate -40 nA"
    m.on_event(LogEvent(3000, EventKind.RETAIN, "glu", 15.0))
    assert m.bars[0].offset_index == 3000
    m.on_event(LogEvent(4000, EventKind.EJECT, "nacl", 20.0))
    (_bar, t0, t1), = [v for v in m.visible_bars(6000) if v[0].barrel == "nacl"]
    assert (t0, t1) == (4.0, 6.0)
    with pytest.raises(ValueError, match="bin"):
        m.set_bin(0)


def test_waveforms_are_cut_around_spikes():
    rate = 20000.0
    x = np.zeros(4000)
    for s in (1000, 2000, 3000):
        x[s - 5:s + 5] = -100.0
    t, w = spike_waveforms(x, 50_000, np.array([51_000, 52_000, 53_000, 60_000]), rate)
    assert w.shape == (3, len(t)) and np.all(w.min(axis=1) < -20)


# --- barrels --------------------------------------------------------------------------------------
def test_barrel_commands_follow_the_setpoints(pipette):
    m = BarrelModel(pipette, 1000.0)
    assert m.eject_command("glu") == Eject("glu", 20.0)
    assert m.set_eject("glu", 35.0) is None  # retaining: only the setpoint changes
    assert m.toggle_command("glu") == Eject("glu", 35.0)
    m.on_event(LogEvent(100, EventKind.EJECT, "glu", -35.0))
    assert m.row("glu").ejecting and m.toggle_command("glu") == Retain("glu")
    assert m.set_eject("glu", 50.0) == Eject("glu", 50.0)  # ejecting: applied now
    assert m.set_retain("gaba", 5.0) == SetCurrent("gaba", -5.0)  # GABA is a cation: retains with −
    assert m.set_polarity("nacl", -1) is None
    assert m.eject_command("nacl") == Eject("nacl", 20.0, -1)
    assert m.balance_commanded_nA() == pytest.approx(-(-35.0 - 10.0))
    with pytest.raises(ValueError, match="balance"):
        m.eject_command("bal")


@settings(max_examples=60, deadline=None)
@given(hs.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
@example(0.0)  # the accepting branches run on every run, not only when hypothesis happens to draw them
@example(25.0)
@example(40.0)
@example(150.0)
@example(150.001)
@example(-0.001)
def test_no_setpoint_beyond_a_barrels_limits_is_accepted(value):
    from daq.pipette import Barrel, Pipette

    pip = Pipette(barrels=(Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=15, max_eject_nA=150,
                                  max_retain_nA=40, ao_channel="x/ao0"),))
    m = BarrelModel(pip, 1000.0)
    if 0 <= value <= 150:
        m.set_eject("glu", value)
        assert m.row("glu").eject_nA == value
    else:
        with pytest.raises(CurrentLimitError):
            m.set_eject("glu", value)
    if not 0 <= value <= 40:
        with pytest.raises(CurrentLimitError):
            m.set_retain("glu", value)
    else:
        m.set_retain("glu", value)
        assert m.row("glu").retain_nA == value


def test_charge_and_compliance_alarm(pipette):
    m = BarrelModel(pipette, 1000.0, alarm_hold_s=0.5)
    m.on_event(LogEvent(1000, EventKind.EJECT, "glu", -40.0))
    assert m.charge_now_nC("glu", 3000) == pytest.approx(80.0)  # 40 nA × 2 s
    m.on_event(LogEvent(3000, EventKind.RETAIN, "glu", 15.0))
    assert m.charge_now_nC("glu", 9000) == pytest.approx(80.0)  # retaining adds no ejected charge
    m.on_event(LogEvent(10000, EventKind.EJECT, "gaba", 60.0))
    assert m.update_monitors({"gaba": 59.0}, 11000) == []
    assert m.update_monitors({"gaba": 12.0}, 11000) == []  # not yet held long enough
    assert m.update_monitors({"gaba": 12.0}, 11600) == ["gaba"]
    assert "compliance" in m.row("gaba").alarm
    assert m.update_monitors({"gaba": 60.0}, 11700) == [] and m.row("gaba").alarm == ""


# --- protocol -------------------------------------------------------------------------------------
def test_loading_the_example_gives_a_timeline_and_charges():
    rig = load_preset("cortex")
    res = load(EXAMPLES / "dose_response.yaml", rig.pipette)
    assert res.ok, res.messages
    assert [round(b.current_nA) for b in res.blocks] == [-5, -10, -20, -40, -80]
    assert res.blocks[0].start_s == pytest.approx(30.0, abs=0.01)
    assert res.duration_s == pytest.approx(330.0, abs=0.5)
    assert "OK" in res.messages[-1] and "glu" in res.messages[-1]


def test_bad_protocols_say_what_is_wrong(tmp_path):
    rig = load_preset("cortex")
    missing = load(tmp_path / "nope.yaml", rig.pipette)
    assert not missing.ok and "no such protocol file" in missing.messages[0]
    over = tmp_path / "over.yaml"
    over.write_text("plan: dose_response\nparams: {barrel: glu, currents_nA: [10, 500]}\n")
    res = load(over, rig.pipette)
    assert not res.ok and any("500" in m for m in res.messages) and res.plan is None
    typo = tmp_path / "typo.yaml"
    typo.write_text("plan: dose_response\nparams: {barrel: glx, currents_nA: [10]}\n")
    res = load(typo, rig.pipette)
    assert not res.ok and any("glx" in m for m in res.messages)


def test_progress_follows_steps_and_excludes_pauses():
    rig = load_preset("cortex")
    m = ProtocolModel(1000.0)
    m.set_loaded(load(EXAMPLES / "dose_response.yaml", rig.pipette))
    assert m.can_run and m.progress(0).remaining_s == pytest.approx(330, abs=1)
    m.on_event(LogEvent(5000, EventKind.PROTOCOL_START))
    m.on_event(LogEvent(5000, EventKind.STEP, text="baseline"))
    p = m.progress(15000)
    assert p.state == "running" and p.elapsed_s == pytest.approx(10) and p.remaining_s == pytest.approx(320, abs=1)
    m.on_event(LogEvent(15000, EventKind.PAUSE))
    assert m.progress(25000).elapsed_s == pytest.approx(10)
    m.on_event(LogEvent(25000, EventKind.RESUME))
    assert m.progress(26000).elapsed_s == pytest.approx(11)
    m.on_event(LogEvent(27000, EventKind.PROTOCOL_END, text="aborted"))
    assert m.progress(40000).state == "aborted" and m.progress(40000).remaining_s == 0


# --- recording ------------------------------------------------------------------------------------
def test_file_name_template(tmp_path):
    now = dt.datetime(2026, 3, 4, 5, 6, 7)
    p = render_template("{date}_{time}_{protocol}.h5", tmp_path, protocol="glu dose/resp", now=now)
    assert p == tmp_path / "20260304_050607_glu_dose_resp.h5"
    (tmp_path / "cell_1.h5").touch()
    assert render_template("cell_{n}", tmp_path).name == "cell_2.h5"
    with pytest.raises(ValueError, match="unknown field"):
        render_template("{cell}.h5", tmp_path)


def test_dose_response_fills_in_and_fits():
    rig = load_preset("cortex")
    rate = 1000.0
    m = DoseResponseModel(rig.pipette, rate, baseline_s=10, response_s=5)
    rng = np.random.default_rng(1)
    spikes, t = [], 0
    events = [LogEvent(0, EventKind.RETAIN, "glu", 15.0)]
    currents = [5, 10, 20, 40, 80]
    for k, cur in enumerate(currents):
        on = (30 + 40 * k) * 1000
        events += [LogEvent(on, EventKind.EJECT, "glu", -cur), LogEvent(on + 20000, EventKind.RETAIN, "glu", 15.0)]
    for e in events:
        m.on_event(e)

    def rate_at(i: int) -> float:
        for k, cur in enumerate(currents):
            on = (30 + 40 * k) * 1000
            if on <= i < on + 20000:
                return 5 + 40 * cur**1.5 / (cur**1.5 + 20**1.5)
        return 5.0

    while t < 240000:
        t += int(rng.exponential(1000.0 / rate_at(t))) + 1
        spikes.append(t)
    sp = np.array(spikes)
    assert not m.update(sp, 30000 + 10000)  # the first epoch has not finished
    assert m.update(sp, 30000 + 20001) and len(m.points) == 1
    m.update(sp, 180000)  # four currents done
    assert len(m.points) == 4
    m.update(sp, 240000)
    assert [p.current_nA for p in m.points] == currents
    assert m.points[-1].percent_change > 300
    live = live_fits(m, sp, 0, 240000)  # the fit: ionto analyze's rule on the model's events
    assert live.groups == ["glu:glutamate"] and live.errors == {}
    fit = live.fits["glu:glutamate"]
    assert 5 < fit.ec50 < 80 and fit.hill > 0 and fit.status == "fitted"


def test_live_session_reads_only_new_samples_and_records(tmp_path):
    s = LiveSession("sim", seed=2, speed=None, recordings_dir=tmp_path)
    s.connect()
    try:
        wait_until(lambda: s.end_index >= 20000, 60, what="20000 samples acquired")
        start, raw = s.read_since(0, 5000)  # only the newest 5000 samples
        assert len(raw) == 5000 and start >= 15000
        nxt = start + len(raw)
        start2, raw2 = s.read_since(nxt, 10**9)  # then exactly the samples after them
        assert start2 == nxt and raw2.shape[1] == raw.shape[1]
        path = s.start_recording(tmp_path / "a.h5", notes="cell 1")
        with pytest.raises(RecordingError, match=rf"already recording to {re.escape(str(path))}; stop it first"):
            s.start_recording(tmp_path / "b.h5")
        assert s.stop_recording() == path
        with pytest.raises(RecordingError, match=r"b\.txt: a recording file name must end in \.h5"):
            s.start_recording(tmp_path / "b.txt")
        assert not (tmp_path / "b.h5").exists() and not (tmp_path / "b.txt").exists()  # nothing was created
        assert s.monitor_currents()["glu"] == pytest.approx(15.0, abs=2.0)
        st = s.status()
        assert st.state == "running" and st.read_index > 0 and st.ao_lead_fill > 0.5
        assert path.parent == tmp_path
    finally:
        s.close()
    assert not s.running


def test_ejection_bar_labels_shorten_rather_than_overlap():
    """A label runs no further than the next bar of its lane: full, else the current alone,
    else none; bars of other lanes do not count (they are drawn in their own row)."""
    def bar(lane, cur, t0):
        return EjectionBar("glu" if lane == 0 else "gaba", "glutamate" if lane == 0 else "GABA", cur, 0, 0, lane), t0, t0 + 20

    def width(text):  # 7 px a character
        return 7.0 * len(text)

    bars = [bar(0, -5, 0.0), bar(1, 20, 10.0), bar(0, -10, 60.0), bar(0, -20, 61.0), bar(0, -40, 120.0)]
    labels = fitting_labels(bars, px_per_s=2.0, text_px=width)
    # glu -5 nA: 120 px to its next glu bar → "glu · glutamate -5 nA" (147 px) does not fit, "-5 nA" does
    assert labels == ["-5 nA", "gaba · GABA +20 nA", "", "-20 nA", "glu · glutamate -40 nA"]
    wide = fitting_labels(bars, px_per_s=100.0, text_px=width)  # zoomed in: only the 1-s neighbours are tight
    assert wide == ["glu · glutamate -5 nA", "gaba · GABA +20 nA", "-10 nA", "glu · glutamate -20 nA",
                    "glu · glutamate -40 nA"]
    # the last one stops at the view's right edge (130 s: 20 px): the current alone does not fit either
    assert fitting_labels(bars, px_per_s=2.0, text_px=width, view_end_s=130.0)[-1] == ""
    assert fitting_labels(bars, px_per_s=2.0, text_px=width, view_end_s=150.0)[-1] == "-40 nA"
