"""The runner on the sample clock: exact placement, dry run == real run, pause/resume/abort,
prompts, failures.  Real runs use the engine and the simulated rig."""

from __future__ import annotations

import pytest

from daq.engine import Abort, Pause, Resume
from daq.types import EventKind
from mock_daq import load_preset
from protocols.commands import (
    Checkpoint,
    Eject,
    EndProtocol,
    Mark,
    MeasureRate,
    Prompt,
    PromptReply,
    Retain,
    SetCurrent,
    Wait,
    WaitUntil,
)
from protocols.dryrun import dry_run, dry_run_rig
from protocols.library import current_controls, current_sequence, dose_response, pulse_train
from protocols.runner import PlanRunner
from tests.protocols.helpers import CURRENT_KINDS, currents_at, key, run_on_sim

RIG = load_preset("cortex")
RATE = int(RIG.rate_hz)
LEAD = round(RIG.ao_lead_s * RATE)


def test_ejections_land_exactly_on_the_scheduled_samples():
    def plan():
        yield Wait(0.777)
        yield Eject("glu", 30)
        yield Wait(1.2345)
        yield Retain("glu")
        yield Eject("gaba", 10)
        for _ in range(3):
            yield Wait(1 / 3)  # adds up to exactly 1 s on the sample clock
        yield Retain("gaba")

    run = run_on_sim(plan(), RIG)
    changes = [(e.sample_index, e.barrel, e.current_nA) for e in run.of(*CURRENT_KINDS) if e.text != "initial"]
    t1 = round(0.777 * RATE)
    t2 = t1 + round(1.2345 * RATE)
    assert changes[:4] == [(t1, "glu", -30.0), (t2, "glu", 15.0), (t2, "gaba", 10.0), (t2 + RATE, "gaba", -15.0)]


def _mixed_plan():
    """Library plans and stubs, shortened: every kind of open-loop command."""
    yield Checkpoint("start")
    yield from dose_response("glu", [20, 5, 10], order="randomised", eject_s=0.7, recovery_s=0.4, baseline_s=0.5,
                             control_barrel="nacl", seed=3)
    yield from current_controls("nacl", [10], match="gaba", eject_s=0.3, recovery_s=0.2, baseline_s=0.1)
    yield from pulse_train("gaba", 40, pulse_s=0.013, period_s=0.1, pulses=4, baseline_s=0.2, recovery_s=0.3)
    yield SetCurrent("nacl", -12.5)
    yield Mark("done")
    yield Wait(0.25)


def test_dry_run_timeline_equals_the_real_run_sample_for_sample():
    dr = dry_run_rig(_mixed_plan(), RIG, "test")
    assert dr.ok, dr.errors
    run = run_on_sim(_mixed_plan(), RIG)
    assert key(run.events) == key(dr.events)
    assert run.engine.read_index == dr.samples
    # the NaCl controls of the dose-response copy glutamate's polarity (-)
    nacl = [e.current_nA for e in run.of(EventKind.EJECT, barrel="nacl")]
    order = current_sequence([20, 5, 10], "randomised", 1, 3)[0]
    assert nacl == [-c for c in order] + [10.0, -12.5]  # then matched to GABA (+), then set by hand
    assert [-e.current_nA for e in run.of(EventKind.EJECT, barrel="glu")] == order


def _closed_loop_timing_plan(replies: list):
    yield Wait(2.5)  # the online detector calibrates over the first 2 s
    replies.append((yield MeasureRate(1.0)))
    yield Eject("glu", 20)
    replies.append((yield WaitUntil(lambda ctx: ctx.elapsed_s >= 1.2, timeout_s=5, poll_s=0.5, description="t")))
    yield Retain("glu")
    replies.append((yield Prompt("check the cell")))
    replies.append((yield WaitUntil(lambda ctx: False, timeout_s=0.75, poll_s=0.5)))
    yield Eject("gaba", 5)
    yield Wait(0.1)


def test_closed_loop_decisions_take_effect_one_lead_after_their_data_in_both_runs():
    dry_replies: list = []
    real_replies: list = []
    dr = dry_run_rig(_closed_loop_timing_plan(dry_replies), RIG, "test")
    runner = PlanRunner(_closed_loop_timing_plan(real_replies), "test", prompts="auto")
    run = run_on_sim(runner, RIG)
    assert key(run.events) == key(dr.events)
    ej = run.of(EventKind.EJECT)
    measured_at = round(2.5 * RATE)
    assert ej[0].sample_index == measured_at + LEAD  # decided on data up to 2.5 s
    met_at = ej[0].sample_index + round(1.5 * RATE)  # grid 0, 0.5, 1.0, 1.5 s: first with elapsed >= 1.2
    assert run.of(EventKind.RETAIN, barrel="glu")[1].sample_index == met_at + LEAD
    timeout_at = met_at + LEAD + round(0.75 * RATE)  # the prompt was acknowledged at once (auto)
    assert ej[1].sample_index == timeout_at + LEAD
    assert dry_replies[0] is None and real_replies[0] > 0  # the dry run has no online rate
    assert dry_replies[1:] == real_replies[1:] == [True, PromptReply(True, "", 0.0), False]
    assert dr.closed_loop and dr.prompts == 1


def test_block_size_does_not_move_a_closed_loop_timeline(pipette):
    a = dry_run(_closed_loop_timing_plan([]), pipette, 30000.0, block_s=0.01)
    b = dry_run(_closed_loop_timing_plan([]), pipette, 30000.0, block_s=0.1)
    assert key(a.events) == key(b.events)


def _pause_plan():
    yield Wait(1)
    yield Eject("glu", 20)
    yield Wait(2)
    yield Retain("glu")
    yield Wait(1)
    yield Eject("gaba", 10)
    yield Wait(1)


def _at(commands: dict[float, object]):
    """An ``on_block`` that submits each command once the read position passes its time."""
    todo = sorted(commands.items())

    def on_block(read_index: int, engine) -> None:
        while todo and read_index >= todo[0][0] * RATE:
            engine.submit(todo.pop(0)[1])

    return on_block


def test_pause_retains_every_barrel_and_resume_continues_without_replaying():
    run = run_on_sim(_pause_plan(), RIG, on_block=_at({1.5: Pause(), 2.5: Resume()}))
    (pause,), (resume,) = run.of(EventKind.PAUSE), run.of(EventKind.RESUME)
    p, r = pause.sample_index, resume.sample_index
    assert RATE < p < 3 * RATE and p < r
    # at the pause sample every barrel is on its safe current
    safe = {b.name: b.safe_current_nA for b in RIG.pipette.commanded}
    assert currents_at(run.events, p) == safe
    assert [e.sample_index for e in run.of(EventKind.RETAIN, barrel="glu") if e.text == "pause"] == [p]
    # nothing ejects while paused; glutamate was ejected once and is not replayed
    assert not [e for e in run.of(EventKind.EJECT) if p <= e.sample_index < r]
    assert [e.sample_index for e in run.of(EventKind.EJECT, barrel="glu")] == [RATE]
    # resume: the rest of the 2-s wait is dropped; next commands are Retain (no change), Wait(1), GABA
    assert [e.sample_index for e in run.of(EventKind.EJECT, barrel="gaba")] == [r + RATE]
    end = run.of(EventKind.PROTOCOL_END)[0]
    assert end.sample_index == r + 2 * RATE and end.text == "completed"
    assert currents_at(run.events, end.sample_index) == safe


def test_pause_during_the_wait_before_an_ejection_defers_it_to_the_resume():
    run = run_on_sim(_pause_plan(), RIG, on_block=_at({0.3: Pause(), 1.4: Resume()}))
    r = run.of(EventKind.RESUME)[0].sample_index
    assert [e.sample_index for e in run.of(EventKind.EJECT, barrel="glu")] == [r]


def test_abort_puts_every_barrel_on_retain_and_ends_the_plan():
    run = run_on_sim(_pause_plan(), RIG, on_block=_at({1.6: Abort()}))
    a = run.of(EventKind.ABORT)[0].sample_index
    end = run.of(EventKind.PROTOCOL_END)[0]
    assert end.sample_index == a and end.text == "aborted"
    safe = {b.name: b.safe_current_nA for b in RIG.pipette.commanded}
    assert currents_at(run.events, a) == safe
    assert not [e for e in run.of(*CURRENT_KINDS) if e.sample_index > a]
    assert run.runner.status.aborted and run.runner.finished


def test_abort_while_paused_and_a_closed_plan_does_not_run_its_finally_yields():
    def plan():
        try:
            yield Eject("glu", 20)
            yield Wait(5)
        finally:
            yield Eject("gaba", 99)  # a plan must not yield while closing: it is not run

    run = run_on_sim(plan(), RIG, on_block=_at({0.5: Pause(), 0.8: Abort()}))
    assert not run.of(EventKind.EJECT, barrel="gaba")
    assert run.of(EventKind.PROTOCOL_END)[0].text == "aborted"


def test_a_plan_that_raises_ends_safely_with_the_reason():
    def plan():
        yield Eject("glu", 20)
        yield Wait(0.5)
        raise RuntimeError("bad luck")

    run = run_on_sim(plan(), RIG)
    end = run.of(EventKind.PROTOCOL_END)[0]
    assert "failed" in end.text and "RuntimeError: bad luck" in end.text
    assert currents_at(run.events, end.sample_index)["glu"] == 15.0
    assert "bad luck" in run.runner.status.error


def test_a_refused_current_ends_a_real_run_but_a_dry_run_lists_every_refusal(pipette):
    def plan():
        yield Wait(1)
        yield Eject("gaba", 500)
        yield Wait(1)
        yield Eject("nacl", 5)  # a control barrel needs a polarity
        yield Eject("nope", 5)
        yield Wait(1)

    dr = dry_run(plan(), pipette, 1000.0)
    assert not dr.ok and len(dr.errors) == 3
    assert "eject gaba 500 nA at 1.000 s" in dr.errors[0] and "exceeds its limit" in dr.errors[0]
    assert "polarity" in dr.errors[1] and "no barrel named 'nope'" in dr.errors[2]
    assert dr.duration_s == pytest.approx(3.0, abs=0.01)  # it went on to the end
    run = run_on_sim(PlanRunner(plan(), "t"), RIG)
    end = run.of(EventKind.PROTOCOL_END)[0]
    assert end.sample_index < 1.5 * RATE and "failed" in end.text and "gaba" in end.text


def test_a_plan_that_never_lets_time_pass_is_stopped(pipette):
    def plan():
        while True:
            yield Mark("again")

    dr = dry_run(plan(), pipette, 1000.0)
    assert not dr.ok and "without letting sample time pass" in dr.errors[0]


def test_a_plan_can_end_the_protocol_on_purpose(pipette):
    def plan():
        yield Eject("glu", 10)
        yield Wait(1)
        raise EndProtocol("enough")

    dr = dry_run(plan(), pipette, 1000.0)
    assert dr.ok
    end = next(e for e in dr.events if e.kind == EventKind.PROTOCOL_END)
    assert end.text == "ended by the plan: enough" and end.sample_index == 1000


def test_a_blocking_prompt_holds_the_plan_until_the_operator_acknowledges():
    replies: list = []

    def plan():
        yield Eject("gaba", 10)
        replies.append((yield Prompt("is the cell still there?")))
        yield Retain("gaba")
        replies.append((yield Prompt("again, briefly", timeout_s=0.5)))
        yield Eject("glu", 5)
        yield Wait(0.1)

    runner = PlanRunner(plan(), "t")
    seen: list = []
    runner.on_prompt = lambda text, pid: seen.append((text, pid))

    def on_block(read_index: int, engine) -> None:
        if read_index >= 1.0 * RATE and runner.status.prompt_id == 1 and runner.status.prompt:
            runner.acknowledge("yes", prompt_id=2)  # a stale id is ignored
            runner.acknowledge("yes", prompt_id=1)

    run = run_on_sim(runner, RIG, on_block=on_block)
    assert seen == [("is the cell still there?", 1), ("again, briefly", 2)]
    assert replies[0].acknowledged and replies[0].response == "yes" and replies[0].waited_s >= 0.9
    ret = run.of(EventKind.RETAIN, barrel="gaba")[1].sample_index
    assert RATE <= ret <= RATE + LEAD + RIG.acquisition_config().block
    assert replies[1] == PromptReply(False, "", pytest.approx(0.5 + LEAD / RATE))
    assert run.of(EventKind.EJECT, barrel="glu")[0].sample_index == ret + round(0.5 * RATE) + LEAD
