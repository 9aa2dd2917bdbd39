"""``ionto analyze FILE``: spikes, units, rates, epochs and dose–response fits of a recording,
written as tables (CSV, JSON), figures (PNG, SVG) and a one-page HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import emit_json, say
from app.cli.neo_options import add_neo_options
from daq.errors import IontoError

if TYPE_CHECKING:
    from analysis.pipeline import AnalysisParams

ORDER = 50


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``analyze`` (and usable by other verbs that run the analysis)."""
    p.add_argument("--series", metavar="NAME", help="NWB files: the ElectricalSeries to analyse (its name or path, "
                   "e.g. ElectricalSeriesAP or processing/ecephys/LFP/ElectricalSeriesLFP) when the file has several; "
                   "other systems' files (read through Neo): the signal stream, by name or number (see ionto info)")
    g = p.add_argument_group("spike detection")
    g.add_argument("--channel", action="append", dest="channels", metavar="NAME",
                   help="electrode channel to analyse (repeatable; default: every electrode channel)")
    g.add_argument("--k", type=float, default=5.0, help="threshold in MAD noise units (default 5)")
    g.add_argument("--polarity", choices=["neg", "pos", "both"], default="neg", help="spike polarity (default neg)")
    g.add_argument("--band", type=float, nargs=2, default=(300.0, 6000.0), metavar=("LOW", "HIGH"),
                   help="band-pass in Hz (default 300 6000)")
    g.add_argument("--dead-time-ms", type=float, default=1.0, help="dead time after a spike (default 1 ms)")
    g = p.add_argument_group("units")
    g.add_argument("--sort-units", action="store_true", help="sort units: each single channel by isosplit6 on its "
                   "spikes' waveform features, each --group jointly by a SpikeInterface sorter; with quality metrics "
                   "and cell type")
    g.add_argument("--max-units", type=int, default=4, help="at most this many units per single channel (default 4)")
    g.add_argument("--group", action="append", dest="groups", metavar="A,B,...",
                   help="channels sorted jointly (a tetrode, a shank; repeatable; default: the NWB file's "
                   "electrode groups, else each channel alone)")
    g.add_argument("--positions", metavar="FILE", help="contact positions of the grouped channels in µm, when the "
                   "file gives none (ionto recordings do not): a CSV with the header channel,x_um,y_um, or JSON/YAML "
                   "(a list of {channel, x_um, y_um} or a mapping channel: [x_um, y_um]); default: the NWB "
                   "electrodes table's rel_x/rel_y, else each group as one compact neighbourhood")
    g.add_argument("--sorter", choices=["tridesclous2", "spykingcircus2", "mountainsort5"], default="tridesclous2",
                   help="SpikeInterface sorter for channel groups (default tridesclous2; analysis/sorting.py)")
    g.add_argument("--sorted-spikes", metavar="FILE", help="import sorted spike times (CSV: time_s[,unit]; or NWB)")
    g.add_argument("--unit", help="spike train for rates and fits: CHANNEL, CHANNEL:uK (a separated unit) or an "
                   "imported unit's label (default: all spikes of the first channel)")
    g = p.add_argument_group("rates, epochs and fits")
    g.add_argument("--bin-s", type=float, default=1.0, help="ratemeter bin (default 1 s)")
    g.add_argument("--smooth-s", type=float, default=1.0, help="σ of the Gaussian rate kernel (default 1 s)")
    g.add_argument("--baseline-s", type=float, default=30.0, help="baseline window before each onset (default 30 s)")
    g.add_argument("--response-s", type=float, default=10.0, help="response = the last N s of an ejection (default 10)")
    g.add_argument("--recovery-s", type=float, default=10.0, help="recovery window before the next onset (default 10)")
    g.add_argument("--dose", choices=["current", "charge"], default="current", help="dose axis (nA or nC)")
    g.add_argument("--fit-on", choices=["bins", "epochs"], default="epochs",
                   help="points of the dose-response fit: one per ejection (default), or every bin of each response "
                   "window as replicates (pseudo-replicates: labelled so, CIs too narrow)")
    g.add_argument("--conf", type=float, default=0.95, help="confidence level of every CI (default 0.95)")


def params_from(args: argparse.Namespace) -> AnalysisParams:
    from analysis.detect import DetectionParams
    from analysis.pipeline import AnalysisParams
    from analysis.sorting_positions import read_positions

    try:
        positions = read_positions(args.positions) if getattr(args, "positions", None) else None
        det = DetectionParams(band_hz=tuple(args.band), k=args.k, polarity=args.polarity,
                              dead_time_ms=args.dead_time_ms)
        return AnalysisParams(detection=det, channels=tuple(args.channels) if args.channels else None,
                              unit=args.unit, sort_units=args.sort_units, max_units=args.max_units,
                              sorter=args.sorter, channel_groups=tuple(
                                  tuple(c.strip() for c in g.split(",") if c.strip()) for g in args.groups or ()) or None,
                              sorted_spikes=args.sorted_spikes, bin_s=args.bin_s, baseline_s=args.baseline_s,
                              response_s=args.response_s, recovery_s=args.recovery_s, dose=args.dose,
                              fit_on=args.fit_on, smooth_sigma_s=args.smooth_s, conf=getattr(args, "conf", 0.95),
                              series=getattr(args, "series", None), positions_um=positions)
    except ValueError as exc:
        raise IontoError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a recording: spikes, units, rates, epochs, dose–response",
                       description="Detect spikes (band-pass, MAD threshold), optionally separate units, compute "
                       "ratemeter, smoothed rate and PSTH, find the ejection epochs in the event log, fit the "
                       "dose–response of each drug barrel (4PL, profile-likelihood CI), compare curves with and "
                       "without a concurrent antagonist, and write tables (CSV, JSON), figures (PNG, SVG) and "
                       "report.html.")
    p.add_argument("file", help="an ionto HDF5 recording, an NWB file with an ElectricalSeries, or another system's "
                   "file or folder that Neo reads (.abf, .smr, .rhd, .pl2, .ns5, .nix, Open Ephys; docs/other-systems.md)")
    p.add_argument("--out", help="output directory (default: FILE-analysis next to the file)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_analysis_options(p)
    add_neo_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.html_report import write_report
    from analysis.report import epoch_table, fit_table
    from analysis.tables import result_json
    from daq.recording import refuse_special_file

    path = Path(args.file)
    refuse_special_file(path)  # a FIFO would block the first read forever
    if args.sorted_spikes:
        refuse_special_file(args.sorted_spikes, IontoError)
    if not path.exists():
        raise IontoError(f"{path}: no such file")
    params = params_from(args)
    out = Path(args.out) if args.out else path.parent / (path.stem + "-analysis")
    bar = tqdm(total=None, unit="samples", unit_scale=True, desc="detecting spikes", file=sys.stderr,
               disable=args.no_progress, mininterval=0.5)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        res = _analyze_path(path, params, progress, args)
    except ValueError as exc:
        raise IontoError(str(exc)) from None
    finally:
        bar.close()
    files = write_report(res, out)
    if args.json:
        emit_json(result_json(res, files))
        return 0
    say(f"{res.path}: {res.duration_s:.1f} s; spike train {res.unit}: {len(res.spike_index)} spikes")
    for name, sp in res.detection.spikes.items():
        say(f"  {name}: {len(sp)} spikes, threshold {sp.threshold * 1e6:.1f} µV = {params.detection.k:g} σ "
            f"(σ {sp.sigma * 1e6:.2f} µV)" + (f"; units {', '.join(u.label for u in res.units[name])}"
                                             if res.units.get(name) else ""))
    if res.epochs:
        say(epoch_table(res))
    say(fit_table(res))
    say(f"report: {files['html']}\ntables: {out}")
    return 0


def _analyze_path(path: Path, params: AnalysisParams, progress, args: argparse.Namespace):
    """``analyze_recording``; another system's file is opened with the Neo options given."""
    from analysis.neo_source import NeoSource, is_neo_path
    from analysis.pipeline import analyze, analyze_recording
    from app.cli.neo_options import neo_kwargs
    from app.sim_truth import model_truths

    if is_neo_path(path):
        with NeoSource(path, **neo_kwargs(args)) as src:
            return analyze(src, params, progress, truth_model=model_truths)
    return analyze_recording(path, params, progress, truth_model=model_truths)
