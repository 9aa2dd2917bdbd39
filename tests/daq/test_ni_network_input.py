"""The network trial input over ``ni+grpc``: the simulated NI board runs the task (its stimulus),
``mock_daq.task_sender`` sends the same task's trials over a real LSL stream, and the NI backend's
live acquisition count (``NIDevice.samples_acquired``: NI-DAQmx "Total Samples Acquired Per
Channel", which the simulated board answers from its running clock) brackets the sample clock:
every trial lands within 1 ms of its true onset (issue 17)."""

from __future__ import annotations

import itertools
import os

import numpy as np

from daq.engine import Engine, EngineState
from daq.engine_api import EventLogged
from daq.network_input import LslTrialInput, with_trial_input
from daq.ni.rigs import rig_on_device
from daq.types import EventKind
from mock_daq import load_preset
from mock_daq.model import parse_sim
from mock_daq.nigrpc import SimNIServer
from mock_daq.task_sender import TaskSender
from tests.daq.conftest import make_device
from tests.waiting import wait_until

_names = itertools.count()
SEED = 11


def _task_rig():
    """The gain preset with a trial every 0.5 s, run as a task (the sender's trials are its own)."""
    rig = load_preset("gain")
    sim = dict(rig.simulation)
    sim["stimulus"] = {**sim["stimulus"], "first_trial_s": 0.3, "stimulus_s": 0.3, "iti_s": 0.2, "mode": "task"}
    return rig.model_copy(update={"simulation": sim})


def test_a_realtime_ni_grpc_run_places_every_network_trial_within_1_ms_using_the_acquisition_count():
    rig = _task_rig()
    seconds = 10.0
    n = round(seconds * rig.rate_hz)
    model = parse_sim(rig.simulation, rig=rig).stimulus
    name = f"ionto-ni-test-{os.getpid()}-{next(_names)}"
    sender = TaskSender(name, model, rig.rate_hz, SEED)
    inp = LslTrialInput(name)
    logged = []
    with SimNIServer(rig, port=0, speed=1.0, seed=SEED, preset="gain") as server:
        on_dev = rig_on_device(rig, "Dev1")
        device = with_trial_input(make_device(server, on_dev), inp)
        eng = Engine(device, on_dev.acquisition_config(), on_dev.pipette, ao_lead_s=1.0, stop_after_samples=n)
        eng.subscribe(lambda ev: logged.append(ev.event) if isinstance(ev, EventLogged) else None)
        hw = server.hardware
        try:
            eng.start()
            wait_until(lambda: hw._t0 > 0, 60.0, what="the simulated board's AI clock started")
            # the board's count reaches i + 1 at _t0 + (i + 1) / rate: that is when it took sample i
            sender.start(hw._t0 + 1.0 / rig.rate_hz, n)
            assert eng.wait_stopped(seconds * 10 + 30), "the run did not stop"
        finally:
            sender.close()
            device.close()
        assert eng.state == EngineState.STOPPED and eng.error is None, eng.error
        truth = [(e.sample_index, f"{e.kind.value} {e.text}") for e in hw.trial_truth]
    # the sender's trials are the board's: same task model and seed
    assert sender.sent and set(sender.sent) <= set(truth), sorted(set(sender.sent) - set(truth))[:3]
    expected = [(i, t) for i, t in sender.sent if i < n - rig.rate_hz * 0.1]
    got = {f"{e.kind.value} {e.text}": e.sample_index for e in logged
           if e.kind in (EventKind.TRIAL_START, EventKind.TRIAL_STOP)}
    assert len(expected) >= 30 and {t for _, t in expected} <= set(got)
    err_ms = np.array([(got[t] - i) / rig.rate_hz * 1e3 for i, t in expected])
    s, fit = inp.summary(), device.fit
    print(f"ni+grpc network trials: max |error| {np.abs(err_ms).max():.3f} ms, mean {err_ms.mean():.3f} ms over "
          f"{len(err_ms)} events; fit bound {s['max_fit_error_bound_ms']:.3f} ms; {fit.counts} acquisition-count "
          f"brackets over {fit.blocks} blocks, round trip mean {fit.count_width_s_sum / max(fit.counts, 1) * 1e3:.3f} "
          f"ms, max {fit.count_width_s_max * 1e3:.3f} ms")
    assert np.all(np.abs(err_ms) < 1.0), err_ms
    # the fit took the board's live count (one bracket per block read), not the arrivals alone
    assert s["count_brackets"] >= device.fit.blocks * 0.9 and device.fit.blocks >= 150, s
