"""``ionto demo``: the whole job on the simulated rig — protocol, recording, analysis, figure."""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

from app.cli import demo_gain
from app.cli.common import EngineProgress, emit_json, say
from daq.errors import IontoError

DEMO_DEVICE = "sim:cortex"


def example_protocol(name: str = "dose_response.yaml") -> Path:
    return Path(str(resources.files("protocols") / "examples" / name))


ORDER = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the example dose–response on the simulated rig and analyse it",
                       description="Runs the bundled glutamate dose–response protocol on the simulated "
                       "cortical neuron faster than real time, records it to HDF5, analyses it, prints the "
                       "epoch table and the fitted dose–response next to the simulator's ground truth (computed "
                       "from its model: receptor EC50 and diffusion steady state), and writes a figure: the "
                       "ratemeter with ejection bars above the dose–response.")
    p.add_argument("--out", default="demo-out", help="output directory (default: ./demo-out)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    demo_gain.add_options(p)  # ionto demo gain (app/cli/demo_gain.py)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "what", None) == "gain":
        return demo_gain.run(args)
    from analysis.epochs import current_text
    from analysis.html_report import write_report
    from analysis.pipeline import AnalysisParams, analyze_recording
    from analysis.report import epoch_table, fit_table
    from analysis.tables import clean, fit_doc, result_json
    from app.session import load_any_protocol, resolve_rig, run_protocol
    from app.sim_truth import model_truths
    from protocols.dryrun import dry_run

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    h5 = out / "demo.h5"
    loaded = load_any_protocol(example_protocol())
    rig = resolve_rig(DEMO_DEVICE)
    dr = dry_run(loaded.factory(), rig.pipette, rig.rate_hz, loaded.info.name)
    if not dr.ok:
        raise IontoError("the demo protocol does not pass its dry run: " + "; ".join(dr.errors))
    say(f"ionto demo: {loaded.info.name} on the simulated rig ({DEMO_DEVICE}), {dr.duration_s:.0f} s of protocol")
    progress = EngineProgress(dr.duration_s, rig.rate_hz, desc="simulating")
    try:
        res = run_protocol(loaded.factory(), loaded.info, h5, device_url=DEMO_DEVICE, speed=None,
                           seed=args.seed, overwrite=True, on_event=progress)
    finally:
        progress.close()
    if res.error:
        raise IontoError(f"the demo run failed: {res.error}")
    ana = analyze_recording(h5, AnalysisParams(), truth_model=model_truths)
    files = write_report(ana, out / "analysis")
    fig = out / "demo.png"  # the ratemeter with ejection bars above the dose–response, under a stable name
    shutil.copyfile(files["figures"]["overview"]["png"], fig)
    doc = result_json(ana, files)
    key = next(iter(ana.fits), None)
    if key is None:
        raise IontoError(f"the demo recording gave no dose–response fit: {ana.fit_errors}")
    fit = ana.fits[key]
    truth = ana.truth.get(key)
    error = 100 * (fit.ec50 - truth.ec50) / truth.ec50 if truth is not None and fit.determinable else None
    demo_doc = {
        "recording": str(h5),
        "figure": str(fig),
        "report": files["html"],
        "outputs": files,
        "protocol": loaded.info.name,
        "device": DEMO_DEVICE,
        "duration_s": res.duration_s,
        "epochs": doc["epochs"],
        "fit": fit_doc(ana, key),
        "ground_truth": None if truth is None else {
            **truth.as_dict(),
            "epochs": [{"current_nA": ep.current_nA, "expected_baseline_rate_hz": t.baseline_rate_hz,
                        "expected_response_rate_hz": t.response_rate_hz, "expected_percent_change": t.percent_change}
                       for ep, t in zip(ana.epochs, ana.truth_epochs or [])],
        },
        "ec50_error_percent": error,
        "spikes": doc["spikes"],
    }
    if args.json:
        emit_json(clean(demo_doc))
        return 0
    say("")
    say(epoch_table(ana))
    say("")
    say("dose–response (4-parameter logistic on log current):")
    say(fit_table(ana))
    if ana.truth_epochs:
        say("")
        say("per epoch, the simulator's noiseless expected rate in the same windows:")
        for ep, t in zip(ana.epochs, ana.truth_epochs):
            say(f"  {ep.drug} {current_text(ep.current_nA):>7}: baseline {t.baseline_rate_hz:6.2f} Hz, "
                f"response {t.response_rate_hz:6.2f} Hz, {t.percent_change:+7.1f} %")
    if truth is not None:
        say(f"ground truth EC50 from the simulator's model: {truth.ec50:.3g} {truth.dose_unit} (the current whose "
            f"steady-state response is half-maximal; the receptor's {truth.receptor_ec50_uM:g} µM EC50 is reached at "
            f"{truth.receptor_ec50_dose:.3g} {truth.dose_unit}); measured {fit.ec50_text()}"
            + (f" ({error:+.1f} %)" if error is not None else ""))
    say("")
    say(f"recording: {h5}\nfigure:    {fig}\nreport:    {files['html']}")
    return 0
