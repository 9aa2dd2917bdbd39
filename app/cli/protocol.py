"""``ionto protocol check|schema|list``: validate and dry-run protocols, print their schema,
list the plan library."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import emit_json, say
from daq.errors import ConfigError

if TYPE_CHECKING:
    from protocols.check import CheckReport
    from protocols.dryrun import DryRunResult

ORDER = 25
TIMELINE_LINES = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocol", help="check a protocol against a rig, print the schema, list plans",
                       description="Protocols: YAML files (a registered plan with params, or a list of steps) "
                       "and Python plan files.  See docs/protocols.md.")
    verbs = p.add_subparsers(dest="protocol_verb", metavar="check|schema|list")
    verbs.required = True
    c = verbs.add_parser("check", help="validate and dry-run a protocol: timeline, duration, charge, limits",
                         description="Validates FILE and dry-runs it on the rig's sample clock.  Exit 0 when it "
                         "can run on the rig, 1 with messages naming the step and field otherwise.")
    c.add_argument("file", help="protocol (.yaml) or Python plan file (.py)")
    c.add_argument("--device", help="device URL whose rig to check against (default: the protocol's 'rig', "
                                    "else sim)")
    c.add_argument("--rig", help="rig file (YAML) to check against")
    c.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a plan parameter (value read as YAML), repeatable")
    c.add_argument("--full-timeline", action="store_true", help="print every timeline entry")
    c.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    c.set_defaults(func=run_check)
    s = verbs.add_parser("schema", help="print the JSON Schema of protocol files",
                         description="The JSON Schema of protocol files, for editors (e.g. yaml-language-server).")
    s.add_argument("--out", help="write it to this file instead of stdout")
    s.set_defaults(func=run_schema)
    ls = verbs.add_parser("list", help="list the registered plans and their parameters")
    ls.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    ls.set_defaults(func=run_list)


def run_check(args: argparse.Namespace) -> int:
    from app.session import resolve_rig
    from daq.rig import trial_source
    from protocols.check import check_protocol
    from protocols.loader import load, parse_overrides

    proto = load(args.file, parse_overrides(args.param))
    device = args.device or proto.rig_hint or "sim"
    rig = resolve_rig(device, args.rig)
    report = check_protocol(proto, rig, device if not args.rig else f"{device} with {args.rig}")
    listens = trial_source(rig.trial_input)  # what a run will listen to for trial events (daq.rig)
    if args.json:
        emit_json({**report.to_json(), "trial_input": listens})
    else:
        _print_report(report, args.full_timeline)
        say(f"trial events from: {listens}")
    return 0 if report.ok else 1


def _print_report(r: CheckReport, full: bool) -> None:
    p = r.protocol
    say(f"{p.name}  ({p.path}, {p.format})  on {r.device} (rig {r.rig_name})")
    d = r.dry
    if d is not None:
        say(f"duration {_hms(d.duration_s)}{' at most' if d.closed_loop else ''} "
            f"({d.samples} samples at {d.rate_hz:g} Hz), {len(d.epochs)} ejection(s)")
        _print_timeline(d, full)
        say("")
        say("charge per barrel (nC):      ejecting    total      max |I| (nA)")
        for name in d.charge_nC:
            say(f"  {name:<24} {d.eject_charge_nC[name]:10.1f} {d.charge_nC[name]:10.1f}   {d.max_current_nA[name]:8.1f}")
        for w in d.warnings:
            say(f"note: {w}")
    if r.ok:
        say("OK: runnable on this rig")
    else:
        say(f"NOT RUNNABLE: {len(r.problems)} problem(s):")
        for prob in r.problems:
            say(f"  {prob}")


def _print_timeline(d: DryRunResult, full: bool) -> None:
    rows = [e for e in d.timeline() if e["text"] != "initial"]
    say("")
    say("     t        event")
    shown = rows if full else rows[:TIMELINE_LINES]
    for e in shown:
        if e["barrel"]:
            what = f"{e['kind']:<8} {e['barrel']} {e['current_nA']:+g} nA"
        else:
            what = f"{e['kind']:<8} {e['text']}"
        say(f"  {_hms(e['t_s']):>10}  {what}")
    if len(rows) > len(shown):
        say(f"  ... {len(rows) - len(shown)} more (--full-timeline shows all)")


def _hms(t_s: float) -> str:
    m, s = divmod(t_s, 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:06.3f}" if h else f"{m}:{s:06.3f}"


def run_schema(args: argparse.Namespace) -> int:
    from protocols.yaml_format import json_schema

    text = json.dumps(json_schema(), indent=2)
    if args.out:
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{args.out}: cannot write the schema ({exc.strerror or exc})") from None
        say(f"wrote the protocol JSON Schema to {args.out}")
    else:
        print(text)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from protocols.registry import get_plan, plan_names

    plans = []
    for name in plan_names():
        spec = get_plan(name)
        params = []
        for field_name, f in spec.model.model_fields.items():
            params.append({"name": field_name, "required": f.is_required(),
                           "default": None if f.is_required() else f.default, "description": f.description or ""})
        plans.append({"name": name, "summary": spec.summary, "params": params})
    if args.json:
        emit_json({"plans": plans})
        return 0
    for plan in plans:
        say(f"{plan['name']}: {plan['summary']}")
        for prm in plan["params"]:
            default = "required" if prm["required"] else f"default {prm['default']!r}"
            say(f"    {prm['name']:<24} {default:<22} {prm['description']}")
        say("")
    return 0
