"""``ionto run PROTOCOL``: run a YAML protocol or a Python plan file, recording to HDF5.

It checks and dry-runs the protocol on the rig first: nothing runs (and no current
flows) unless the dry run passes.  Operator prompts are answered on the terminal
(``--prompts terminal``, the default when stdin is a terminal) or acknowledged at once
(``--prompts auto``, the default otherwise, e.g. in scripts and CI).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import EngineProgress, emit_json, say
from daq.errors import IontoError

if TYPE_CHECKING:
    from protocols.runner import PlanRunner

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a protocol (YAML or Python plan) and record it",
                       description="Run a protocol on a device and record everything to one HDF5 file.  "
                       "The protocol is checked and dry-run on the rig first.")
    p.add_argument("protocol", help="protocol file (.yaml) or Python plan file (.py)")
    p.add_argument("--device", default=None,
                   help="device URL (default: the protocol's 'rig', else sim)")
    p.add_argument("--rig", help="rig file (YAML): channels, pipette (and simulation)")
    p.add_argument("--out", help="recording file (default: recordings/<protocol>-<time>.h5)")
    p.add_argument("--speed", default=None,
                   help="realtime, max or a factor (default: realtime on hardware, max on the simulator)")
    p.add_argument("--seed", type=int, help="simulator seed (reproducible runs)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a plan parameter (value read as YAML), repeatable")
    p.add_argument("--prompts", choices=("terminal", "auto"), default=None,
                   help="answer operator prompts on the terminal, or acknowledge them at once "
                        "(default: terminal if stdin is a terminal, else auto)")
    p.add_argument("--trials-from", metavar="lsl:STREAM", default=None,
                   help="trial events from task software: an LSL marker stream, aligned to the sample clock "
                        "(docs/trials.md, 'Network input'); needs --speed realtime; overrides the rig file's "
                        "trial_input")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.session import (
        check_recording_target,
        default_recording_path,
        parse_speed,
        resolve_rig,
        run_protocol,
    )
    from daq.rig import trial_source
    from protocols.check import check_protocol
    from protocols.loader import load, parse_overrides
    from protocols.runner import PlanRunner

    proto = load(args.protocol, parse_overrides(args.param))
    device = args.device or proto.rig_hint or "sim"
    # check and dry-run first: limits and duration are known before any current flows
    rig = resolve_rig(device, args.rig)
    network, where = _network_source(args, rig, replay=device.startswith("replay:"))
    speed = parse_speed(args.speed or ("max" if device.startswith("sim") and not network else "realtime"))
    report = check_protocol(proto, rig, device)
    if not report.ok:
        raise IontoError(f"{args.protocol}: the protocol cannot run on this rig:\n  " + "\n  ".join(report.problems))
    assert report.dry is not None
    planned_s = report.dry.duration_s
    out = Path(args.out) if args.out else default_recording_path(proto.name)
    check_recording_target(out, args.overwrite)
    mode = args.prompts or ("terminal" if sys.stdin.isatty() else "auto")
    inst = proto.instantiate()
    runner = PlanRunner(inst.plan, proto.name, prompts="auto" if mode == "auto" else "operator", locate=inst.locate)
    if mode == "terminal":
        runner.on_prompt = _TerminalPrompts(runner)
    bound = " at most" if report.dry.closed_loop else ""
    say(f"running {proto.name!r} on {device} ({planned_s:.0f} s{bound} of protocol) → {out}")
    trial_input, wrap = _trial_input(network, where, speed)
    if trial_input is not None:
        say(f"trial events from: {trial_source(rig.trial_input, args.trials_from)}")
    progress = EngineProgress(planned_s, rig.rate_hz, desc=proto.name[:30])
    try:
        res = run_protocol(inst.plan, proto.info, out, device_url=device, rig_path=args.rig, speed=speed,
                           seed=args.seed, overwrite=args.overwrite, on_event=progress, runner=runner,
                           wrap_device=wrap)
    finally:
        progress.close()
    status = runner.status
    error = res.error or status.error
    warnings = _current_warnings(res.path)
    doc = {"recording": str(res.path), "duration_s": res.duration_s, "samples": res.samples,
           "gaps": res.gaps, "lost_samples": res.lost_samples, "events": res.events, "error": error,
           "warnings": warnings, "interrupted_by": res.interrupted_by or None,
           "safe_levels_confirmed": res.safe_confirmed,
           "protocol": {"name": proto.name, "ended": status.step, "planned_duration_s": planned_s,
                        "planned_duration_is_upper_bound": report.dry.closed_loop},
           "trial_input": trial_input.summary() if trial_input is not None else None}
    for w in warnings:
        print(f"ionto run: warning: {w}", file=sys.stderr)
    if args.json:
        emit_json(doc)
    elif not res.interrupted_by:
        say(f"recorded {res.duration_s:.1f} s ({res.samples} samples, {res.gaps} gaps) to {res.path}")
        if trial_input is not None:
            t = trial_input.summary()
            say(f"{t['source']}: {t['messages_aligned']} trial messages aligned to the sample clock (fit within "
                f"{t['max_fit_error_bound_ms']:.3f} ms; LSL clock correction {t['lsl_clock_correction_ms']:.3f} ms)")
        if error:
            say(f"the run stopped with an error: {error}")
    if res.interrupted_by:
        if res.safe_confirmed:
            print(f"ionto run: stopped by {res.interrupted_by} after {res.duration_s:.1f} s: every barrel on retain, "
                  f"{res.path} closed", file=sys.stderr)
        return res.exit_status or 1
    return 1 if error or not res.safe_confirmed else 0


def _network_source(args: argparse.Namespace, rig, replay: bool = False) -> tuple[str | None, str]:
    """The network trial input of the run and where it was given: ``--trials-from`` wins over
    the rig file's ``trial_input: {network: ...}`` (and over its digital lines, whose trial
    events the wrapper then drops; docs/trials.md).  A replay plays the recorded trials: the
    stored rig's network input is not listened to again."""
    if args.trials_from is not None:
        return args.trials_from, "--trials-from"
    ti = rig.trial_input
    if ti is not None and ti.network is not None and not replay:
        return ti.network, f"{args.rig or 'the rig'}: trial_input.network"
    return None, ""


def _trial_input(spec: str | None, where: str, speed: float | None):
    """The network trial input ``spec`` names, and the device wrapper that feeds it."""
    if spec is None:
        return None, None
    if speed != 1.0:
        raise IontoError(f"{where} {spec}: a network trial input aligns the task's clock to the sample clock as "
                         "it runs: it needs --speed realtime")
    from daq.network_input import open_trial_input, with_trial_input

    trial_input = open_trial_input(spec, where=where)
    return trial_input, lambda device: with_trial_input(device, trial_input)


def _current_warnings(path: Path) -> list[str]:
    """Ejections whose delivered (monitored) current was not the commanded one: a clogged
    barrel or a source at its compliance voltage — worth telling whoever ran the script."""
    from analysis.pipeline import delivered_current_problems
    from daq.recording import Recording

    if not path.exists():  # the run failed before its file was made: that error says it
        return []
    try:
        with Recording(path) as rec:
            return delivered_current_problems(rec)
    except IontoError as exc:
        return [f"the delivered currents could not be checked: {exc}"]


class _TerminalPrompts:
    """Shows a blocking prompt on stderr and acknowledges it with the line typed on stdin.

    Called on the engine thread; the reading happens on a daemon thread of its own."""

    def __init__(self, runner: PlanRunner):
        self.runner = runner

    def __call__(self, text: str, prompt_id: int) -> None:
        threading.Thread(target=self._ask, args=(text, prompt_id), name="ionto-prompt", daemon=True).start()

    def _ask(self, text: str, prompt_id: int) -> None:
        print(f"\n[ionto] {text}\n[ionto] press Enter to continue (you may type a note first): ",
              end="", file=sys.stderr, flush=True)
        try:
            line = sys.stdin.readline()
        except (OSError, ValueError):
            line = ""
        self.runner.acknowledge(line.strip() if line else "(stdin closed)", prompt_id)
