"""``ionto export-nwb FILE OUT.nwb``: a recording as an NWB file (pynwb; DANDI-clean: the subject's
id, species, sex and age are required, from the options, a metadata file or the rig file)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from app.cli.common import emit_json, say
from daq.errors import IontoError

if TYPE_CHECKING:
    from analysis.nwb_metadata import NwbMetadata

ORDER = 55
COMPRESSIONS = ("gzip", "lzf", "none")  # analysis.nwb_export.COMPRESSIONS (tested equal): not imported for --help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-nwb", help="export a recording to NWB (ElectricalSeries, ejections, currents, units)",
        description="Write an ionto recording as an NWB 2 file: the electrode channels as an ElectricalSeries, "
        "the ejections as the TimeIntervals table 'iontophoresis', the commanded and monitored barrel currents "
        "as stimulus, threshold crossings as Units, and subject/session metadata.  The subject's id, species, sex "
        "and age are required (DANDI refuses a file without them): give them here, in --metadata FILE, or in "
        "the 'subject:' section of the rig file the recording was made with.",
        epilog="Metadata file (YAML or JSON): 'subject:' with subject_id, species, sex, age or date_of_birth, "
        "strain, genotype, weight, description; 'session:' with session_description, session_id, experimenter, "
        "lab, institution, experiment_description, keywords, related_publications, electrode_location.")
    p.add_argument("file", help="an ionto HDF5 recording, or another system's file or folder that Neo reads "
                   "(docs/other-systems.md)")
    p.add_argument("out", help="the NWB file to write (.nwb)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--metadata", metavar="FILE", help="subject/session metadata (YAML or JSON)")
    g = p.add_argument_group("subject (required: id, species, sex, age; these override the metadata file and "
                             "the recording's rig file)")
    g.add_argument("--subject-id", help="the animal's id (no '/')")
    g.add_argument("--species", help="Latin binomial, e.g. 'Rattus norvegicus' (rat, mouse, cat, ... are "
                   "translated)")
    g.add_argument("--sex", help="M, F, O or U (unknown)")
    g.add_argument("--age", help="ISO 8601 duration, e.g. P60D, P8W, or a range P8W/P10W; P8W/ = 8 weeks or older")
    g.add_argument("--date-of-birth", help="ISO 8601 date, e.g. 2026-01-31 (instead of --age)")
    g.add_argument("--strain")
    g.add_argument("--weight", help="e.g. '0.31 kg'")
    s = p.add_argument_group("session")
    s.add_argument("--session-description")
    s.add_argument("--session-id")
    s.add_argument("--experimenter", action="append", help="repeat for several (e.g. 'Curtis, D.R.')")
    s.add_argument("--lab")
    s.add_argument("--institution")
    s.add_argument("--electrode-location", help="brain area of the recording electrode")
    p.add_argument("--no-units", action="store_true", help="skip spike detection (no Units table)")
    p.add_argument("--k", type=float, default=5.0, help="detection threshold in MAD noise units (default 5)")
    p.add_argument("--band", type=float, nargs=2, default=(300.0, 6000.0), metavar=("LOW", "HIGH"),
                   help="detection band-pass in Hz (default 300 6000; HIGH at most 0.45 × the sampling rate)")
    p.add_argument("--compression", choices=COMPRESSIONS, default="gzip",
                   help="sample compression: gzip (default, readable everywhere), lzf (faster; h5py only), none")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def metadata_from_args(args: argparse.Namespace) -> NwbMetadata:
    """Command-line fields over the metadata file's."""
    from analysis.nwb_metadata import NwbMetadata, load_metadata_file, parse_metadata

    base = load_metadata_file(args.metadata) if args.metadata else NwbMetadata()
    subject = {k: getattr(args, k) for k in ("subject_id", "species", "sex", "age", "date_of_birth", "strain",
                                             "weight")
               if getattr(args, k) is not None}
    session = {k: getattr(args, k) for k in ("session_description", "session_id", "experimenter", "lab",
                                             "institution", "electrode_location") if getattr(args, k) is not None}
    return parse_metadata({"subject": subject, "session": session}, "command line").merged_over(base)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.detect import DetectionParams
    from analysis.nwb_export import ExportOptions, export_nwb
    from daq.recording import refuse_special_file

    refuse_special_file(args.file)  # a FIFO would block the first read (or write) forever
    refuse_special_file(args.out, IontoError)
    if args.metadata:
        refuse_special_file(args.metadata, IontoError)
    meta = metadata_from_args(args)
    try:
        detection = DetectionParams(k=args.k, band_hz=tuple(args.band))
    except ValueError as exc:
        raise IontoError(str(exc)) from None
    options = ExportOptions(units=not args.no_units, detection=detection,
                            compression=args.compression, overwrite=args.overwrite)
    bar: tqdm | None = None
    phases = ["detecting spikes", "writing"] if options.units else ["writing"]

    def progress(done: int, total: int) -> None:  # one bar per phase: detection (with units), writing
        nonlocal bar
        if bar is None or (bar.n >= total and len(phases) > 0):
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, unit="samples", unit_scale=True, desc=phases.pop(0) if phases else "writing",
                       file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    try:
        summary = export_nwb(args.file, args.out, metadata=meta, options=options, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if "session_start_time" in summary.placeholders:
        print("ionto export-nwb: the recording's creation time is unreadable; session_start_time is the file's "
              "modification time", file=sys.stderr)
    if args.json:
        emit_json(summary.as_dict())
        return 0
    units = ", ".join(f"{ch}: {n} spikes" for ch, n in summary.units.items()) or "none"
    say(f"{summary.path}: {summary.duration_s:.1f} s, {len(summary.electrodes)} electrode channel(s), "
        f"{len(summary.monitors)} current monitor(s), {summary.ejections} ejection(s), {summary.trials} trial(s), units: {units}; "
        f"{summary.size_bytes / 1e6:.1f} MB in {summary.elapsed_s:.1f} s")
    return 0
