"""Each fault, run through the real Engine and Recorder, shows its documented symptom in the file."""

import numpy as np
import pytest
from simhelp import make_rig

from daq.engine import Engine
from daq.errors import ConfigError, InputOverflowError
from daq.recording import Recorder, Recording
from daq.schedule import AOSchedule
from daq.types import EventKind
from mock_daq import SimDevice

FS = 10_000


def record(tmp_path, faults, seconds=6.0, currents=(), sim=None, inject=()):
    """Record ``seconds`` on the test rig with ``faults``; ``currents``: (t_s, barrel, nA)."""
    rig = make_rig(sim)
    dev = SimDevice(rig, seed=2, faults=faults)
    for f in inject:
        dev.inject_fault(f)
    path = tmp_path / "faults.h5"
    rec = Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"))
    eng = Engine(dev, rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s, recorder=rec,
                 stop_after_samples=round(seconds * FS))
    for t, barrel, cur in currents:
        eng.schedule.set_current(barrel, cur, round(t * FS), "test")
    eng.run()  # on this thread
    return Recording(path), eng


def channel(rec, name):
    return rec.physical(name) * (1e6 if name == "electrode" else 1.0)


def test_overflow_is_a_gap_of_the_lost_samples(tmp_path):
    rec, eng = record(tmp_path, [{"kind": "overflow", "at_s": 2.0, "lost_s": 0.1}])
    with rec:
        assert eng.error is None
        [(at, lost)] = rec.gaps
        assert lost == 1000
        assert 2.0 * FS <= at < 2.0 * FS + 500  # at the first block read at or after 2 s
        notes = [e for e in rec.events if e.kind == EventKind.NOTE and "overflow" in e.text]
        assert len(notes) == 1 and "-200279" in notes[0].text and notes[0].sample_index == at
        assert any(e.kind == EventKind.GAP for e in rec.events)
        assert rec.end_index == 6 * FS and rec.n_samples == 6 * FS - 1000  # every sample returned
        # ground truth still covers the lost stretch: the preparation lived on
        assert rec.truth("truth_index")[-1] >= 6 * FS - 200


def test_overflow_can_be_reported_as_an_error_then_reads_resume_later():
    rig = make_rig()
    dev = SimDevice(rig, faults=[{"kind": "overflow", "at_s": 0.1, "lost_s": 0.05, "report": "error"}])
    dev.configure(rig.acquisition_config())
    dev.write_ao(0, AOSchedule(rig.pipette).render_volts(0, 5000))
    dev.start()
    assert dev.read(1000, 1.0).start_index == 0
    with pytest.raises(InputOverflowError) as err:
        dev.read(1000, 1.0)
    assert err.value.code == -200279 and err.value.lost_samples == 500
    assert dev.read(1000, 1.0).start_index == 1500


def test_disconnect_ends_the_recording_with_an_error(tmp_path):
    rec, eng = record(tmp_path, [{"kind": "disconnect", "at_s": 3.0}], currents=[(1.0, "glu", -40.0)])
    with rec:
        assert "disconnected" in eng.error and "-201003" in eng.error
        assert rec.end_index <= 3 * FS and rec.end_index > 3 * FS - 1000
        errors = [e for e in rec.events if e.kind == EventKind.ERROR]
        assert errors and "disconnected" in errors[0].text
        assert rec.closed_cleanly  # the file itself is intact


def test_clogged_barrel_clips_at_compliance_on_its_monitor(tmp_path):
    rec, eng = record(tmp_path, [{"kind": "clog", "at_s": 3.0, "barrel": "glu", "resistance_MOhm": 1000}],
                      currents=[(1.0, "glu", -150.0)], sim={"noise": {"artefact_uV_per_nA": 20}})
    with rec:
        assert eng.error is None
        i = channel(rec, "I_glu")
        assert np.median(i[int(1.5 * FS):3 * FS]) == pytest.approx(-150, abs=0.2)
        assert np.median(i[3 * FS + 10:]) == pytest.approx(-100, abs=0.2)  # 100 V / 1000 MΩ
        e = channel(rec, "electrode")
        # 50 nA no longer balanced: a 1-mV step artefact on the electrode
        assert np.median(e[3 * FS + 10:]) - np.median(e[int(1.5 * FS):3 * FS]) == pytest.approx(1000, rel=0.05)
        note = [ev for ev in rec.events if ev.kind == EventKind.NOTE and "clogged" in ev.text]
        assert note[0].sample_index == 3 * FS and note[0].barrel == "glu"
        delivered = rec.truth("delivered_nA")[:, 0]
        assert delivered[-1] == pytest.approx(-100.0, abs=1e-3)


def test_noise_burst_raises_the_electrode_noise(tmp_path):
    rec, _ = record(tmp_path, [{"kind": "noise_burst", "at_s": 2.0, "duration_s": 1.0, "rms_uV": 400}],
                    sim={"neurons": [{"baseline_hz": 0}]})
    with rec:
        e = channel(rec, "electrode")
        quiet = e[:2 * FS].std()
        burst = e[2 * FS:3 * FS].std()
        assert quiet == pytest.approx(np.hypot(10, 5), rel=0.3)  # thermal + flicker
        assert burst == pytest.approx(400, rel=0.05)
        assert e[int(3.05 * FS):].std() == pytest.approx(quiet, rel=0.3)


def test_neuron_lost_stops_its_spikes(tmp_path):
    rec, _ = record(tmp_path, [], seconds=8.0, sim={"neurons": [{"baseline_hz": 40}]},
                    inject=[{"kind": "neuron_lost", "at_s": 4.0}])
    with rec:
        spikes = rec.truth("spike_index/neuron0")
        assert np.count_nonzero(spikes < 4 * FS) > 100
        assert np.count_nonzero(spikes >= 4 * FS) == 0
        rate = rec.truth("expected_rate_hz")[:, 0]
        idx = rec.truth("truth_index")
        assert np.all(rate[idx >= 4 * FS] == 0) and np.all(rate[idx < 4 * FS] > 30)
        # in the recorded voltage: threshold crossings (−5 × robust sd) before, none after
        e = channel(rec, "electrode")
        sd = np.median(np.abs(e)) / 0.6745
        below = np.flatnonzero((e[1:] < -5 * sd) & (e[:-1] >= -5 * sd))
        assert np.count_nonzero(below < 4 * FS) > 100
        assert np.count_nonzero(below > 4 * FS + 20) == 0


def test_faults_are_validated_against_the_rig():
    rig = make_rig()
    with pytest.raises(ConfigError, match=r"barrel: no barrel 'glx'; barrels are \['glu'"):
        SimDevice(rig, faults=[{"kind": "clog", "at_s": 1, "barrel": "glx"}])
    with pytest.raises(ConfigError, match="kind one of"):
        SimDevice(rig).inject_fault({"kind": "meteor", "at_s": 1})
    with pytest.raises(ConfigError, match=r"at_s"):
        SimDevice(rig).inject_fault({"kind": "disconnect", "at_s": -1})
    with pytest.raises(ConfigError, match="outrun the AO"):
        SimDevice(rig).inject_fault({"kind": "overflow", "at_s": 1, "lost_s": 1.0})
