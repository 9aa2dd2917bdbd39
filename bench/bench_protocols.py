"""Protocols: how fast a protocol is checked before any current flows.

Ours: ``ionto protocol check``'s dry run — the runner and AO schedule on a fake clock that
jumps to the next sample where the plan has something to do.  Reference, measured in the
same run: the same plan stepped through the real engine with the null device at the
rig's block size (the foundation's dry run), which renders every AO sample.  Both give
the same timeline (tests/protocols/test_runner.py checks it against the simulated rig).
"""

from __future__ import annotations

from pathlib import Path

from bench.common import PeakMemory, Row, command, timed
from daq.engine import Engine
from daq.nulldevice import NullDevice
from daq.types import AcquisitionConfig, AIChannel, AOChannel
from mock_daq import load_preset
from protocols.dryrun import dry_run_rig
from protocols.library import dose_response, pulse_train
from protocols.loader import load
from protocols.runner import PlanRunner


def _engine_dry_run(plan, rig) -> int:
    """The reference: the real engine, the null device, the rig's block size."""
    pip = rig.pipette
    ao = tuple(AOChannel(b.name, b.ao_channel) for b in pip.barrels if b.ao_channel)
    config = AcquisitionConfig(rate_hz=rig.rate_hz, ai=(AIChannel("null", "null/ai0"),), ao=ao,
                               block_samples=max(1, round(rig.rate_hz * rig.block_s)))
    engine = Engine(NullDevice(), config, pip, ao_lead_s=rig.ao_lead_s, runner=PlanRunner(plan, "bench"),
                    stop_when_protocol_ends=True)
    engine.run()
    return engine.read_index


def _row(metric: str, make_plan, rig, target_s: float, notes: str, quick: bool) -> Row:
    with PeakMemory() as mem:
        ours_s, dr = timed(lambda: dry_run_rig(make_plan(), rig), repeat=1 if quick else 3)
    ref_s, samples = timed(lambda: _engine_dry_run(make_plan(), rig))
    assert dr.ok and samples == dr.samples, (dr.errors, samples, dr.samples)
    return Row("protocols", metric, ours_s, ref_s, "s", "engine + null device", command("bench_protocols", quick),
               higher_is_better=False, peak_MB=mem.peak_MB,
               target=f"< {target_s:g} s", met=ours_s < target_s,
               notes=f"{notes}; {dr.duration_s:.0f} s of protocol, {len(dr.events)} events",
               extra={"protocol_s": dr.duration_s, "events": len(dr.events)})


def run(quick: bool) -> list[Row]:
    rig = load_preset("cortex")
    demo = load(Path(__file__).resolve().parents[1] / "protocols" / "examples" / "dose_response.yaml")
    rows = [_row("dry run, demo dose-response (5.5 min)", demo.factory, rig, 0.1,
                 "protocols/examples/dose_response.yaml", quick)]
    if not quick:
        rows.append(_row(
            "dry run, 1-h Latin-square series with controls",
            lambda: dose_response("gaba", [5, 10, 20, 40], order="latin_square", repeats=8, eject_s=20,
                                  recovery_s=30, baseline_s=60, control_barrel="nacl", seed=1),
            rig, 0.5, "64 ejections", quick))
        rows.append(_row(
            "dry run, 4000 pulses (10 ms every 50 ms)",
            lambda: pulse_train("glu", 30, pulse_s=0.01, period_s=0.05, pulses=1000, trains=4, train_interval_s=10),
            rig, 2.0, "16000 commands", quick))
    return rows
