"""``ionto demo gain``: the drug × stimulus demo on the simulated rig.

Runs a bundled ``drug_trials`` protocol on the ``sim:gain`` preset — by default
protocols/examples/drug_trials_driven.yaml, in which ionto shows the stimuli itself (the
simulated stimulus in driven mode); with ``--task``, protocols/examples/drug_trials.yaml,
in which the simulated task runs its own trials and the protocol counts them (closed loop) — a V1 neuron tuned for orientation whose rate ACh scales by a known
gain g and shifts by a known offset a (``mock_daq.stimulus``) — faster than real time,
records it, detects the spikes, and prints the recovered tuning and gain next to the
simulator's ground truth.  ``--gain`` and ``--offset`` set the ground truth.

Not a verb module of its own (no ``register``): ``app.cli.demo`` hands ``ionto demo gain``
here.
"""

from __future__ import annotations

import argparse
import math
from importlib import resources
from pathlib import Path
from typing import Any

from app.cli.common import EngineProgress, emit_json, say
from daq.errors import ConfigError, IontoError

DEVICE = "sim:gain"
PRESET = "gain"


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of ``ionto demo gain`` (on the ``demo`` parser)."""
    p.add_argument("what", nargs="?", choices=["gain"],
                   help="gain: the drug x stimulus demo (tuning and gain recovered vs the simulator's truth)")
    p.add_argument("--gain", type=float, default=None,
                   help="demo gain: the drug's multiplicative gain g in the simulator (default: the preset's, 0.6)")
    p.add_argument("--offset", type=float, default=None,
                   help="demo gain: the drug's additive offset a in Hz (default: the preset's, 0)")
    p.add_argument("--task", action="store_true",
                   help="demo gain: the simulated task runs its own trials and the protocol counts them, "
                        "instead of ionto showing the stimuli")


def protocol_path(task: bool = False) -> Path:
    name = "drug_trials.yaml" if task else "drug_trials_driven.yaml"
    return Path(str(resources.files("protocols") / "examples" / name))


def demo_rig(out: Path, gain: float | None, offset_hz: float | None, seed: int, task: bool = False) -> Path:
    """The ``sim:gain`` preset with the ground truth asked for, written as a rig file."""
    import yaml

    from mock_daq.presets import load_preset

    rig = load_preset(PRESET)
    doc = rig.model_dump(mode="json", exclude_none=True)
    sim = doc["simulation"]
    mod = sim["stimulus"]["modulation"]
    for key, value in (("gain", gain), ("offset_hz", offset_hz)):
        if value is not None:
            if not math.isfinite(value):
                raise ConfigError(f"--{key.removesuffix('_hz')}: {value} is not a finite number")
            mod[key] = value
    sim["seed"] = seed
    sim["stimulus"]["mode"] = "task" if task else "driven"
    path = out / "gain-rig.yaml"
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, allow_unicode=True)
    return path


def ground_truth(rec: Any, res: Any) -> dict[str, Any]:
    """The simulator's gain and offset, and the effective ones over the valid drug trials
    (the drug's fraction f of its full effect there: g_eff = 1 + (g − 1)·f, a_eff = a·f).
    ``rec``: the demo's ``Recording``; ``res``: its ``GainAnalysis``."""
    import numpy as np

    meta = rec.truth_metadata
    stim = meta.get("stimulus") or {}
    g, a = float(stim.get("gain", 1.0)), float(stim.get("offset_hz", 0.0))
    f_mean = math.nan
    if "drug_fraction" in rec.truth_names():
        idx, frac = rec.truth("truth_index"), rec.truth("drug_fraction")[:, 0]
        on = [t for t in res.trials if t.valid and t.drug_state == "on" and t.stop_index is not None]
        parts = [frac[(idx >= t.start_index) & (idx < t.stop_index)] for t in on]  # type: ignore[operator]
        if parts:
            f_mean = float(np.concatenate(parts).mean())
    sim_stim = (meta.get("simulation") or {}).get("stimulus") or {}
    return {"gain": g, "offset": a, "drug_fraction_in_drug_trials": f_mean,
            "effective_gain": 1 + (g - 1) * f_mean, "effective_offset": a * f_mean,
            "tuning": {k: sim_stim.get(k) for k in ("kind", "preferred_deg", "kappa", "amplitude_hz", "offset_hz",
                                                    "rmax_hz", "c50", "exponent") if k in sim_stim},
            "neuron_baseline_hz": ((meta.get("neurons") or [{}])[0]).get("baseline_hz")}


def run(args: argparse.Namespace) -> int:
    from analysis.gain_report import analyze_gain, gain_doc, gain_figure
    from app.session import load_any_protocol, run_protocol
    from daq.recording import Recording
    from daq.rig import load_rig
    from mock_daq.model import parse_sim
    from protocols.dryrun import dry_run

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    h5 = out / "gain.h5"
    task = bool(getattr(args, "task", False))
    rig_path = demo_rig(out, args.gain, args.offset, args.seed, task)
    loaded = load_any_protocol(protocol_path(task))
    rig = load_rig(rig_path)
    parse_sim(rig.simulation, f"{rig_path}: simulation", rig)  # --gain/--offset out of range: say so before running
    dr = dry_run(loaded.factory(), rig.pipette, rig.rate_hz, loaded.info.name)
    if not dr.ok:
        raise IontoError("the gain demo protocol does not pass its dry run: " + "; ".join(dr.errors))
    say(f"ionto demo gain: {loaded.info.name} on the simulated rig ({DEVICE}), about {dr.duration_s:.0f} s "
        "of protocol")
    progress = EngineProgress(dr.duration_s, rig.rate_hz, desc="simulating")
    try:
        res = run_protocol(loaded.factory(), loaded.info, h5, device_url=DEVICE, rig_path=rig_path, speed=None,
                           seed=args.seed, overwrite=True, on_event=progress)
    finally:
        progress.close()
    if res.error:
        raise IontoError(f"the gain demo run failed: {res.error}")
    with Recording(h5) as rec:
        ana = analyze_gain(rec, seed=args.seed)
        truth = ground_truth(rec, ana)
    fig = gain_figure(ana, out / "gain.png")
    doc = {"recording": str(h5), "figure": fig, "rig": str(rig_path), "protocol": loaded.info.name,
           "device": DEVICE, "duration_s": res.duration_s, **gain_doc(ana), "ground_truth": truth}
    doc["gain_error_percent"] = 100 * (ana.gain.gain - truth["gain"]) / truth["gain"] if truth["gain"] else None
    if args.json:
        emit_json(doc)
        return 0
    _print(doc)
    return 0


def _print(doc: dict[str, Any]) -> None:
    fit, truth = doc["fit"], doc["ground_truth"]
    say("")
    say(f"trials: {doc['trials']['valid']} valid of {doc['trials']['total']} "
        f"(not valid: {doc['trials']['invalid_by_reason'] or 'none'})")
    say(f"{'':24s}{'recovered':>22s}{'ground truth':>16s}")
    say(f"{'gain g':24s}{fit['gain']:10.3f} [{fit['gain_ci95'][0]:.3f}, {fit['gain_ci95'][1]:.3f}]"
        f"{truth['gain']:16.3f}")
    say(f"{'offset a (Hz)':24s}{fit['offset']:10.2f} [{fit['offset_ci95'][0]:.2f}, {fit['offset_ci95'][1]:.2f}]"
        f"{truth['offset']:16.2f}")
    say(f"preferred model: {doc['preferred_model']}  (F-test p vs the full model: "
        + ", ".join(f"{m} {v['f_test_p']:.3g}" for m, v in doc["models"].items() if v["f_test_p"] is not None) + ")")
    for state, t in doc["tuning"].items():
        label = "control" if state == "off" else "drug"
        if t["error"]:
            say(f"tuning ({label}): {t['error']}")
        else:
            say(f"tuning ({label}): " + ", ".join(f"{k} {v:.3g}" for k, v in t["params"].items() if v is not None))
    if truth["tuning"]:
        say("simulated tuning (drive above the neuron's baseline "
            f"{truth['neuron_baseline_hz']} Hz): " + ", ".join(f"{k} {v}" for k, v in truth["tuning"].items()))
    say(f"\nrecording: {doc['recording']}\nfigure:    {doc['figure']}")
