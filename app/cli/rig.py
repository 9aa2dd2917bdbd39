"""``ionto rig new`` and ``ionto rig check``: write a rig file from a newcomer's answers, and
check the wiring, gains and barrels before the first cell.

``rig new`` asks for the board, the current source (a preset from
``daq/current_sources.yaml``), the barrels, their drugs and concentrations — on the terminal,
or all as options for scripts — then writes the rig file and validates it by reading it back.
It never overwrites a file without ``--force``.  It ends with a commented ``subject:``
section: the animal, which the NWB export needs for DANDI (``analysis.nwb_metadata``); uncomment
it and fill it in per animal.

``rig check`` passes a small test current through each barrel in its retain direction (after
the operator confirms, or ``--yes``), reads the current monitors back and says per barrel OK /
gain mismatch / sign reversed / open / clogged / swapped (``daq.rig_check``).  The currents go
through the engine, so every way the check ends — its end, Ctrl-C, SIGTERM, an error — leaves
every barrel on retain.  The report is saved beside the rig file (``RIG.rig-check.json``) and
the next recordings made with that rig file store it.  Exit 0 when every barrel is OK, 1 when
one is not (or the check could not finish), 128+N after signal N.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.common import emit_json, say
from daq.errors import ConfigError

ORDER = 27

# The commented subject section: every field analysis.nwb_metadata.SubjectMeta takes (the test
# checks it is every one), an example value and what it must be.  The export refuses a file
# without subject_id, species, sex and age or date_of_birth (DANDI's required fields).
SUBJECT_EXAMPLE = (
    ("subject_id", "R17", "required; no '/'"),
    ("species", "Rattus norvegicus", "required; Latin binomial (or rat, mouse, ...)"),
    ("sex", "M", "required; M, F, O or U"),
    ("age", "P60D", "required (or date_of_birth); ISO 8601 duration, a range P8W/P10W, or P60D/"),
    ("date_of_birth", "'2026-01-31'", "instead of age; ISO 8601 date, quoted"),
    ("strain", "Wistar", "optional"),
    ("genotype", "wild type", "optional"),
    ("weight", "0.31 kg", "optional; number and unit"),
    ("description", "anaesthetised, urethane", "optional"),
)


def subject_section() -> str:
    """The commented ``subject:`` section ``rig new`` ends the rig file with."""
    width = max(len(k) + len(v) for k, v, _ in SUBJECT_EXAMPLE) + 4
    lines = ["# The animal: ionto export-nwb needs subject_id, species, sex and age (or date_of_birth) for",
             "# DANDI. Uncomment and fill in (or give them with export-nwb --subject-id/--species/--sex/--age).",
             "# subject:"]
    lines += [f"#   {f'{k}: {v}':<{width}}# {why}" for k, v, why in SUBJECT_EXAMPLE]
    return "\n".join(lines) + "\n"

DRUG_POLARITY = {
    "glutamate": -1, "l-glutamate": -1, "nmda": -1, "kainate": -1, "quisqualate": -1, "ampa": -1,
    "gaba": 1, "acetylcholine": 1, "ach": 1, "bicuculline": 1, "bicuculline methiodide": 1, "dopamine": 1,
    "5-ht": 1, "serotonin": 1, "noradrenaline": 1, "norepinephrine": 1, "glycine": 1, "sulpiride": 1,
}
"""Eject polarity of common barrel drugs (docs: /work/shared/reference/iontophoresis-parameters.md,
"Drugs"); for others ``rig new`` asks (or takes ``,+`` / ``,-`` after the concentration)."""
CONTROL_DRUGS = ("nacl", "saline")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rig", help="write a rig file (rig new); check wiring, gains and barrels (rig check)",
                       description="Rig files say what is wired where.  'ionto rig new' writes one from your "
                       "answers; 'ionto rig check' tests each barrel before the first cell.  See docs/rig-check.md.")
    verbs = p.add_subparsers(dest="rig_verb", metavar="new|check")
    verbs.required = True
    n = verbs.add_parser("new", help="write a rig file from answers (asked on the terminal, or given as options)",
                         description="Write a rig file: board, current source, barrels, drugs, concentrations.  "
                         "What is not given as an option is asked on the terminal.  The file is validated by "
                         "reading it back.  Example: ionto rig new my-rig.yaml --board Dev1 --source npi-mvcs "
                         "--command-gain 100 --monitor-gain 0.01 --barrel glu,glutamate,200 --barrel gaba,GABA,500 "
                         "--barrel nacl,NaCl,165")
    n.add_argument("out", help="the rig file to write (.yaml)")
    n.add_argument("--board", help="the NI device the channels are on (default Dev1; sim for the simulator)")
    n.add_argument("--source", help="current source preset, a name from daq/current_sources.yaml (e.g. npi-mvcs; "
                   "without it the presets are listed and asked for)")  # (listing them here cost --help 0.1 s)
    n.add_argument("--barrel", action="append", default=None, metavar="NAME,DRUG,CONC_mM[,+|-]",
                   help="one drug (or NaCl control) barrel, repeatable, in AO order; the polarity of drugs ionto "
                        "does not know as a 4th item")
    n.add_argument("--no-balance", action="store_true", help="the pipette has no balance barrel")
    n.add_argument("--command-gain", type=float, help="the source's command gain, nA/V (default: the preset's)")
    n.add_argument("--monitor-gain", type=float, help="the source's current monitor gain, V/nA (default: the preset's)")
    n.add_argument("--no-monitors", action="store_true", help="the monitors are not wired to the board")
    n.add_argument("--voltage-gain", type=float, metavar="V_PER_V",
                   help="the source has a barrel-voltage output per barrel, wired to the next AIs, with this scale "
                        "(board V per barrel V, e.g. 0.1): rig check then measures each barrel's resistance")
    n.add_argument("--retain-nA", type=float, default=15.0, help="retaining current of drug barrels (default 15)")
    n.add_argument("--max-eject-nA", type=float, default=200.0, help="ejection limit of every barrel (default 200)")
    n.add_argument("--rate-hz", type=float, default=20000.0, help="sample rate (default 20000)")
    n.add_argument("--name", help="the rig's name (default: the file's)")
    n.add_argument("--force", action="store_true", help="replace OUT if it exists")
    n.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    n.set_defaults(func=run_new)
    c = verbs.add_parser("check", help="test each barrel: gain, sign, open, clogged, swapped (before the first cell)",
                         description="Per barrel, a small test current in its retain direction; the current "
                         "monitor is read back and compared with the rig file.  Every barrel ends on retain.  "
                         "Exit 0 when all are OK, 1 otherwise.")
    c.add_argument("--device", required=True, help="device URL: sim, sim:PRESET, ni:DEV, ni+grpc://HOST:PORT/DEV")
    c.add_argument("--rig", help="rig file (required for NI devices; its check is saved beside it)")
    c.add_argument("--test-nA", type=float, default=None, help="test current, nA (default 20; capped by each barrel's "
                   "retain limit)")
    c.add_argument("--yes", action="store_true", help="pass the test currents without asking (scripts)")
    c.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    c.set_defaults(func=run_check)


def _source_names() -> list[str]:
    from daq.current_sources import source_names

    return source_names()


# --- rig new ----------------------------------------------------------------------------------
def _ask(prompt: str, default: str | None = None) -> str:
    """One answer from the terminal (prompts on stderr)."""
    hint = f" [{default}]" if default else ""
    print(f"{prompt}{hint}: ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise ConfigError(f"no answer to {prompt!r} (stdin closed); give it as an option (ionto rig new --help)")
    return line.strip() or (default or "")


def _interactive() -> bool:
    return sys.stdin.isatty()


def _need(value: Any, option: str, prompt: str, default: str | None = None) -> str:
    if value not in (None, ""):
        return str(value)
    if not _interactive():
        if default is not None:
            return default
        raise ConfigError(f"rig new: give {option} (or run it on a terminal to be asked)")
    return _ask(prompt, default)


def _parse_barrel(text: str, k: int) -> dict[str, Any]:
    """``NAME,DRUG,CONC_mM[,+|-]`` → a barrel mapping (channels are added later)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise ConfigError(f"--barrel {text!r}: give NAME,DRUG,CONC_mM (e.g. glu,glutamate,200), and the polarity "
                          "(+ or -) as a 4th item for a drug ionto does not know")
    name, drug, conc = parts[:3]
    try:
        conc_mM = float(conc)
    except ValueError:
        raise ConfigError(f"--barrel {text!r}: the concentration {conc!r} is not a number of mM") from None
    barrel: dict[str, Any] = {"name": name, "drug": drug, "concentration_mM": conc_mM}
    if drug.lower() in CONTROL_DRUGS:
        barrel["role"] = "control"
        return barrel
    pol = parts[3] if len(parts) == 4 else DRUG_POLARITY.get(drug.lower())
    if pol is None:
        if not _interactive():
            raise ConfigError(f"--barrel {text!r}: ionto does not know the polarity of {drug!r}: add ,+ (cation) or "
                              ",- (anion)")
        pol = _ask(f"barrel {k + 1} ({drug}): eject polarity, + (cation) or - (anion)")
    barrel["polarity"] = pol
    return barrel


def _ask_barrels() -> list[str]:
    count = int(_ask("how many drug and NaCl-control barrels (not counting the balance barrel)", "3"))
    out = []
    for k in range(count):
        name = _ask(f"barrel {k + 1}: short name used in protocols (e.g. glu)")
        drug = _ask(f"barrel {k + 1} ({name}): drug or solution (e.g. glutamate, GABA, NaCl)")
        conc = _ask(f"barrel {k + 1} ({name}): concentration, mM", "165" if drug.lower() in CONTROL_DRUGS else None)
        out.append(f"{name},{drug},{conc}")
    return out


def build_rig(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The rig mapping from the answers, and comment lines for the values to confirm."""
    from daq.current_sources import get_source

    board = _need(args.board, "--board", "the NI device the channels are on (e.g. Dev1; sim for the simulator)",
                  "Dev1").strip("/")
    src = get_source(_need(args.source, "--source", "current source (" + ", ".join(_source_names()) + ")"))
    specs = args.barrel if args.barrel else (_ask_barrels() if _interactive() else None)
    if not specs:
        raise ConfigError("rig new: give the barrels with --barrel NAME,DRUG,CONC_mM (repeatable), in AO order")
    barrels = [_parse_barrel(s, k) for k, s in enumerate(specs)]
    monitors = not args.no_monitors
    cmd_gain = args.command_gain
    if cmd_gain is None and src.command_gain_nA_per_V is None:
        cmd_gain = float(_need(None, "--command-gain", f"{src.name}: command gain, nA/V (on the unit)"))
    mon_gain = args.monitor_gain
    if monitors and mon_gain is None and src.monitor_gain_V_per_nA is None:
        mon_gain = float(_need(None, "--monitor-gain", f"{src.name}: current monitor gain, V/nA (on the unit)"))
    if not args.no_balance:
        barrels.append({"name": "bal", "drug": "NaCl", "role": "balance", "concentration_mM": 165.0})
    ai = 1
    for k, b in enumerate(barrels):
        b.setdefault("role", "drug")
        if b["role"] == "drug":
            b["retain_nA"] = args.retain_nA
        b["max_eject_nA"] = args.max_eject_nA * (len(barrels) if b["role"] == "balance" else 1)
        if cmd_gain is not None:
            b["command_gain_nA_per_V"] = cmd_gain
        if not (b["role"] == "balance" and src.balance_in_hardware):
            b["ao_channel"] = f"{board}/ao{k}"
        if monitors:
            if mon_gain is not None:
                b["monitor_gain_V_per_nA"] = mon_gain
            b["monitor_channel"] = f"{board}/ai{ai}"
            ai += 1
    for b in barrels:
        if args.voltage_gain is not None:
            b["voltage_monitor_channel"], b["voltage_monitor_gain_V_per_V"] = f"{board}/ai{ai}", args.voltage_gain
            ai += 1
    name = args.name or Path(args.out).stem
    total = args.max_eject_nA * max(1, len(barrels) - 1)
    rig = {"name": name, "rate_hz": args.rate_hz,
           "electrodes": [{"name": "electrode", "physical": f"{board}/ai0", "gain": 1000, "range_V": 5}],
           "pipette": {"source": src.key, "max_total_nA": total, "barrels": barrels}}
    notes = [f"current source: {src.name} ({src.maker}) — preset '{src.key}' in daq/current_sources.yaml"]
    for f in src.to_confirm():
        notes.append(f"to confirm: {f}: {src.basis[f]}")
    if src.notes:
        notes.append(src.notes)
    return rig, notes


def run_new(args: argparse.Namespace) -> int:
    import yaml

    from daq.rig import load_rig, parse_rig

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; choose another file, or pass --force to replace it")
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"{out}: a rig file ends in .yaml")
    rig, notes = build_rig(args)
    parse_rig(rig, str(out))  # refuse before writing anything
    text = "".join(f"# {line}\n" for note in notes for line in _wrap(note))
    text += "# written by 'ionto rig new'; check it with 'ionto rig check --device URL --rig " + out.name + "'\n"
    text += yaml.safe_dump(rig, sort_keys=False, allow_unicode=True, width=110)
    if "subject" not in rig:
        text += subject_section()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the rig file ({exc.strerror or exc})") from None
    checked = load_rig(out)  # read back: the file says what was meant
    if args.json:
        emit_json({"rig": str(out), "name": checked.name, "barrels": list(checked.pipette.names),
                   "source": rig["pipette"]["source"], "to_confirm": [n for n in notes if n.startswith("to confirm")]})
    else:
        say(f"wrote {out}: {len(checked.pipette.barrels)} barrels ({', '.join(checked.pipette.names)}) on "
            f"{rig['electrodes'][0]['physical'].split('/')[0]}")
        for n in notes:
            if n.startswith("to confirm"):
                say(f"  {n}")
        say(f"next: ionto rig check --device URL --rig {out}")
    return 0


def _wrap(text: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


# --- rig check --------------------------------------------------------------------------------
def run_check(args: argparse.Namespace) -> int:
    from app.session import open_device, parse_device_url, resolve_rig
    from daq.rig import trial_source
    from daq.rig_check import DEFAULT_TEST_nA, RigCheck

    url = args.device.strip()
    spec = parse_device_url(url)
    if spec.scheme == "replay":
        raise ConfigError(f"{url}: a replay has no current sources to check; give a sim: or NI device")
    test_nA = DEFAULT_TEST_nA if args.test_nA is None else args.test_nA
    rig = resolve_rig(url, args.rig)
    plan = RigCheck(rig.pipette, rig.rate_hz, test_nA=test_nA)
    for b in rig.pipette.barrels:
        t = plan.test[b.name]
        if t:
            print(f"rig check: {b.name} ({b.drug}): 0, {t / 2:+g}, {t:+g} nA (retain direction), then back to retain",
                  file=sys.stderr)
    print(f"rig check: {plan.duration_s:.1f} s on {url}; every other barrel stays on retain", file=sys.stderr)
    listens = trial_source(rig.trial_input)
    print(f"rig check: a run will take trial events from: {listens}", file=sys.stderr)
    _confirm(args)
    device, rig = open_device(url, args.rig, speed=None if spec.scheme == "sim" else 1.0)
    check = RigCheck(rig.pipette, rig.rate_hz, test_nA=test_nA)
    outcome = _run_engine(device, rig, check)
    report = check.report(device=url, rig_path=args.rig, compliance_V=_compliance(rig))
    if outcome["error"]:  # what ended the run says more than "not every barrel was measured"
        report.completed, report.stopped_because = False, outcome["error"]
    saved = None
    if args.rig and report.completed and not outcome["signal"]:
        from daq.rig_check import save_report

        saved = save_report(report, args.rig)
    doc = {**report.as_dict(), "trial_input": listens, "saved_to": str(saved) if saved else None, "error": outcome["error"],
           "interrupted_by": outcome["signal"] or None, "safe_levels_confirmed": outcome["safe"]}
    if args.json:
        emit_json(doc)
    else:
        for r in report.barrels:
            say(f"{r.barrel} ({r.drug}): {r.message}")
        say(_summary(report) + (f"; saved to {saved}" if saved else "; not saved (no rig file: give --rig to keep "
                                                                   "it for the recordings)" if not args.rig else ""))
    if outcome["signal"]:
        if outcome["safe"]:
            print(f"ionto rig check: stopped by {outcome['signal']}: every barrel on retain", file=sys.stderr)
        return outcome["status"] or 1
    return 0 if report.ok and outcome["safe"] else 1


def _summary(report: Any) -> str:
    """The last line: OK, or what is not."""
    if not report.completed:
        return f"NOT OK: the check did not finish: {report.stopped_because}"
    unchecked = [r.barrel for r in report.barrels if r.status == "not_checked"]
    if not report.checked:
        return "NOT OK: no barrel could be checked (no current monitors or no analog outputs)"
    bad = [f"{r.barrel} {r.status.replace('_', ' ')}" for r in report.barrels if not r.ok]
    text = "NOT OK: " + ", ".join(bad) if bad else ("every barrel OK" if not unchecked else "every checked barrel OK")
    return text + (f"; not checked: {', '.join(unchecked)}" if unchecked else "")


def _confirm(args: argparse.Namespace) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError("rig check passes test currents through every barrel: confirm on a terminal, or pass --yes")
    if _ask("pass these test currents? (y/N)", "n").lower() not in ("y", "yes"):
        raise ConfigError("rig check: not confirmed; nothing was done")


def _compliance(rig: Any) -> dict[str, float]:
    """Each barrel's source compliance voltage, where its preset knows it."""
    from daq.current_sources import get_source

    out = {}
    for b in rig.pipette.barrels:
        if b.source and (v := get_source(b.source).compliance_V):
            out[b.name] = v
    return out


def _run_engine(device: Any, rig: Any, check: Any) -> dict[str, Any]:
    """Run the check on the engine thread; signals stop it safely (app.stopping)."""
    from app.stopping import CHECK_BY_HAND, StopSignals, wait_for_stop
    from daq.engine import Engine

    # the check compares the monitors with the commands itself (and stops beyond a limit):
    # the engine's monitor watchdog would stop at the first wrong gain, before it is measured
    engine = Engine(device, rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s, sinks=[check.sink],
                    runner=check, stop_when_protocol_ends=True, monitor=None)
    with StopSignals(engine.request_stop) as signals:
        engine.start()
        try:
            confirmed = wait_for_stop(engine.stopped, signals)
        except BaseException:
            engine.request_stop("the waiting thread failed")
            engine.wait_stopped(15.0)
            raise
    if not confirmed:
        print(CHECK_BY_HAND, file=sys.stderr, flush=True)
    return {"error": engine.error, "signal": signals.first_name, "status": signals.exit_status,
            "safe": confirmed and engine.safe_levels_written}
