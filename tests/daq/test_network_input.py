"""daq.network_input: trial messages from task software over LSL, aligned to the sample clock.

The end-to-end test runs the simulated rig at real time with the simulated task's trials
sent over a real LSL stream (mock_daq.task_sender) and compares each logged trial event's
sample index with the simulated stimulus' true onset (issue 17: every |error| < 1 ms)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.clock_fit import SampleClockFit
from daq.engine import Engine
from daq.engine_api import EventLogged
from daq.errors import ConfigError
from daq.network_input import LslTrialInput, parse_message, with_trial_input
from daq.types import EventKind
from mock_daq import SimDevice, load_preset
from mock_daq.model import parse_sim
from mock_daq.task_sender import TaskSender
from tests.waiting import wait_until

_names = itertools.count()


def _stream_name() -> str:
    return f"ionto-test-{os.getpid()}-{next(_names)}"


@settings(max_examples=40, deadline=None)
@given(t0=st.floats(-1e4, 1e4), drift_ppm=st.floats(-100, 100), seed=st.integers(0, 2**32 - 1))
def test_the_fit_recovers_the_sample_clock_from_late_block_arrivals_and_acquisition_counts(t0, drift_ppm, seed):
    rate = 20_000.0
    rng = np.random.default_rng(seed)
    fit = SampleClockFit(rate)
    ends = np.arange(1, 1201) * 1000  # 50 ms blocks, 60 s
    # latency: 0.05-0.3 ms usually, and one block in ten held up 1-40 ms (a busy machine)
    late = rng.uniform(5e-5, 3e-4, ends.size) + (rng.random(ends.size) < 0.1) * rng.uniform(1e-3, 4e-2, ends.size)
    asked = rng.uniform(0, 5e-3, ends.size)  # the count is asked up to 5 ms after the block came
    answer = rng.uniform(2e-5, 1e-4, ends.size) + (rng.random(ends.size) < 0.1) * rng.uniform(1e-3, 2e-2, ends.size)

    def host(i):
        return t0 + i / rate * (1 + drift_ppm * 1e-6)

    for e, lat, a, w in zip(ends, late, asked, answer):
        t_ask = host(e) + lat + a
        acquired = int(np.floor((t_ask + w / 2 - t0) * rate / (1 + drift_ppm * 1e-6))) + 1
        fit.add_count(acquired, t_ask, t_ask + w)
        fit.add_block(int(e), host(e - 1) + lat)
    truth = np.array([123_456.0, 600_000.0, 1_100_000.0])
    got = np.array([fit.sample_at(host(i)) for i in truth])
    assert np.all(np.abs(got - truth) < 0.001 * rate), got - truth  # under 1 ms
    assert np.all(np.abs(got - truth) <= fit.error_bound_s * rate + 1), (got - truth, fit.error_bound_s)


def test_a_message_that_is_no_trial_event_names_what_is_accepted():
    assert parse_message("trial_start trial=3 code=5 orientation_deg=45", "lsl:x") == (
        EventKind.TRIAL_START, "trial=3 code=5 orientation_deg=45")
    with pytest.raises(ConfigError, match=r"lsl:x: message 'hello' does not start with one of \['trial_start', "):
        parse_message("hello", "lsl:x")


def test_a_missing_stream_is_one_line_naming_it():
    with pytest.raises(ConfigError) as err:
        LslTrialInput("no-such-stream-ionto", resolve_timeout_s=0.5)
    assert "lsl:no-such-stream-ionto" in str(err.value) and "\n" not in str(err.value)


def _task_rig():
    rig = load_preset("gain")
    sim = dict(rig.simulation)
    # a trial every 0.5 s: about 20 trials in 10 s
    sim["stimulus"] = {**sim["stimulus"], "first_trial_s": 0.3, "stimulus_s": 0.3, "iti_s": 0.2, "mode": "task"}
    return rig.model_copy(update={"simulation": sim})


def _network_run(seed: int, seconds: float, start_sender, make_sender=None):
    """A realtime run of the simulated task whose trials come over LSL: the sender is made
    (before the input looks for its stream) and started with the device's start time on this
    host's clock.  Returns the trial events' errors (ms) against the true onsets, the logged
    events, the input and the stream name."""
    rig = _task_rig()
    n = round(seconds * rig.rate_hz)
    model = parse_sim(rig.simulation, rig=rig).stimulus
    name = _stream_name()
    sender = make_sender(name, model, rig.rate_hz, seed, n)
    inp = LslTrialInput(name)
    dev = SimDevice(rig, seed=seed, speed=1.0)
    device = with_trial_input(dev, inp)
    eng = Engine(device, rig.acquisition_config(), rig.pipette, stop_after_samples=n)
    logged = []
    eng.subscribe(lambda ev: logged.append(ev.event) if isinstance(ev, EventLogged) else None)
    try:
        eng.start()
        wait_until(lambda: dev._running, 30.0, what="the simulated device started")
        start_sender(sender, dev._t0, n)
        assert eng.wait_stopped(seconds * 10 + 30), "the run did not stop"
    finally:
        sender.close()
        device.close()
    assert eng.error is None, eng.error
    trials = [e for e in logged if e.kind in (EventKind.TRIAL_START, EventKind.TRIAL_STOP)]
    # what the simulated stimulus really did (the same generator, model and seed)
    true_index = {text: index for index, text in TaskSender(_stream_name(), model, rig.rate_hz, seed).trials_until(n)}
    expected = [t for t, i in true_index.items() if i < n - rig.rate_hz * 0.1]  # sent before the run's end
    got = {f"{e.kind.value} {e.text}": e.sample_index for e in trials}
    assert len(expected) >= 30 and set(expected) <= set(got), sorted(set(expected) - set(got))
    assert len(trials) == len(got)  # one event per message: the device's own trial events were not logged too
    err_ms = np.array([(got[t] - true_index[t]) / rig.rate_hz * 1e3 for t in expected])
    notes = [e for e in logged if e.kind == EventKind.NOTE and f"lsl:{name}" in e.text]
    assert len(notes) == len(trials) and all("sample clock fit within" in e.text for e in notes)
    assert inp.summary()["messages_aligned"] == len(trials)
    return err_ms, inp


def _in_process(name, model, rate_hz, seed, n):
    return TaskSender(name, model, rate_hz, seed)


def test_a_realtime_run_places_every_network_trial_within_1_ms_of_the_true_onset():
    err_ms, inp = _network_run(5, 10.0, lambda sender, t0, n: sender.start(t0, n), _in_process)
    print(f"network trial alignment over {len(err_ms)} events: max |error| {np.abs(err_ms).max():.3f} ms, "
          f"mean {err_ms.mean():.3f} ms; reported bound {inp.summary()['max_fit_error_bound_ms']:.3f} ms")
    assert np.all(np.abs(err_ms) < 1.0), err_ms


CLOCK_OFFSET_S = 7  # whole seconds: what unshare --monotonic takes


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--time", "--fork", "--monotonic", "1", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class _SenderProcess:
    """mock_daq.task_sender as a program in a time namespace whose monotonic clock (LSL's
    clock) is CLOCK_OFFSET_S ahead of ours: a task computer with a clock of its own."""

    def __init__(self, name, model, rate_hz, seed, n):
        self.proc = subprocess.Popen(
            ["unshare", "--user", "--time", "--fork", "--monotonic", str(CLOCK_OFFSET_S), sys.executable, "-m",
             "mock_daq.task_sender", name, "--stimulus", json.dumps(model.model_dump(mode="json")),
             "--rate-hz", str(rate_hz), "--seed", str(seed), "--until", str(n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, t0_host_s: float, n: int) -> None:
        # the sender's task runs on its own clock: sample 0 is at t0 + the offset there
        self.proc.stdin.write(json.dumps({"t0_s": t0_host_s + CLOCK_OFFSET_S}) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.skipif(not _unshare_works(), reason="needs unprivileged Linux time namespaces (unshare --time)")
def test_a_sender_whose_clock_is_7_s_ahead_still_places_every_trial_within_1_ms():
    err_ms, inp = _network_run(6, 10.0, lambda sender, t0, n: sender.start(t0, n), _SenderProcess)
    correction_ms = inp.summary()["lsl_clock_correction_ms"]
    print(f"sender clock {CLOCK_OFFSET_S} s ahead: LSL correction {correction_ms:.3f} ms; max |error| "
          f"{np.abs(err_ms).max():.3f} ms over {len(err_ms)} events")
    assert abs(correction_ms + CLOCK_OFFSET_S * 1e3) < 1.0, correction_ms
    assert np.all(np.abs(err_ms) < 1.0), err_ms


def test_ionto_run_with_a_missing_trial_stream_says_so_in_one_line_before_any_current(tmp_path, capsys):
    from app.cli.main import main

    out = tmp_path / "r.h5"
    code = main(["run", "protocols/examples/drug_trials.yaml", "--speed", "realtime", "--out", str(out),
                 "--trials-from", "lsl:no-such-task-ionto"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not out.exists()
    assert len(err) == 1 and "lsl:no-such-task-ionto" in err[0] and "no Lab Streaming Layer stream" in err[0], err


@pytest.mark.parametrize("spec, speed, words", [
    ("zmq:task", "realtime", "expected lsl:STREAMNAME"),
    ("lsl:task", "max", "needs --speed realtime"),
])
def test_ionto_run_refuses_a_trial_input_it_cannot_use_in_one_line(tmp_path, capsys, spec, speed, words):
    from app.cli.main import main

    code = main(["run", "protocols/examples/drug_trials.yaml", "--speed", speed, "--out", str(tmp_path / "r.h5"),
                 "--trials-from", spec])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and words in err[0], err


@contextmanager
def task_sending_when_the_run_starts(monkeypatch, name: str, model, rate_hz: float, seed: int, seconds: float):
    """The simulated task software for a whole ``ionto run``: its LSL sender starts on the
    device's own clock once the run has wrapped the device in the trial input and started it,
    and is closed when the block ends."""
    import threading

    import daq.network_input as network_input

    sender = TaskSender(name, model, rate_hz, seed)
    wrapped = []
    real = network_input.with_trial_input

    def spy(device, trial_input, clock=None):
        wrapped.append(device)
        return real(device, trial_input, clock)

    monkeypatch.setattr(network_input, "with_trial_input", spy)

    def start_sender():
        dev = wait_until(lambda: wrapped and wrapped[0]._running and wrapped[0], 60.0, what="the device started")
        sender.start(dev._t0, round(seconds * rate_hz))

    t = threading.Thread(target=start_sender, daemon=True)
    t.start()
    try:
        yield
    finally:
        t.join(timeout=60)
        sender.close()


def assert_every_trial_within_1_ms(out, model, rate_hz: float, seed: int, doc: dict, at_least: int) -> None:
    """Every trial event the recording ``out`` logged sits within 1 ms of the simulated task's
    true sample, and the run's summary counted each as aligned."""
    from daq.recording import Recording

    with Recording(out) as rec:
        trials = [e for e in rec.events if e.kind in (EventKind.TRIAL_START, EventKind.TRIAL_STOP)]
        end = rec.end_index
    truth = dict((text, i) for i, text in TaskSender(_stream_name(), model, rate_hz, seed).trials_until(end))
    assert len(trials) >= at_least and doc["trial_input"]["messages_aligned"] == len(trials)
    for e in trials:
        assert abs(e.sample_index - truth[f"{e.kind.value} {e.text}"]) < 0.001 * rate_hz, e


def test_ionto_run_trials_from_lsl_logs_the_tasks_trials_and_reports_the_alignment(tmp_path, capsys, monkeypatch):
    """The whole CLI path: ``ionto run --trials-from lsl:NAME`` on the simulated task (sim:gain),
    the sender started when the device has started."""
    from app.cli.main import main

    rig = load_preset("gain")
    model = parse_sim(rig.simulation, rig=rig).stimulus
    name, seed, seconds = _stream_name(), 3, 8.0
    proto = tmp_path / "p.yaml"
    proto.write_text(f"name: network trials\nrig: sim:gain\nsteps:\n  - wait: {seconds}\n")
    out = tmp_path / "r.h5"
    with task_sending_when_the_run_starts(monkeypatch, name, model, rig.rate_hz, seed, seconds):
        code = main(["run", str(proto), "--speed", "realtime", "--seed", str(seed), "--out", str(out),
                     "--trials-from", f"lsl:{name}", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert_every_trial_within_1_ms(out, model, rig.rate_hz, seed, doc, at_least=6)
