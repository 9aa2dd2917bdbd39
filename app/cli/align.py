"""``ionto align OTHER_FILE IONTO_FILE``: ionto's ejection epochs on another system's clock
(analysis/align.py; docs/align.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import emit_json, say
from daq.errors import ConfigError

ORDER = 57


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="put ionto's ejection epochs on another recording's clock (sync pulses)",
                       description="Finds ionto's sync pulses (its event log) in another system's recording "
                       "(any format Neo reads: an analog channel's rising threshold crossings, or an event "
                       "channel), matches them, fits the clock offset and drift, and writes the ejection "
                       "epochs on the other system's time base as CSV and NWB.")
    p.add_argument("other", help="the other system's recording (a file or folder Neo reads)")
    p.add_argument("ionto_file", help="ionto's recording (.h5) with the sync pulses in its event log")
    p.add_argument("--channel", help="the other recording's channel with the pulses (a signal or event "
                   "channel, by name or id; default: the only event channel, else the first signal channel)")
    p.add_argument("--threshold", type=float, help="pulse threshold in the channel's units (default: "
                   "halfway between its minimum and maximum)")
    p.add_argument("--out", help="output folder (default: next to IONTO_FILE)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from analysis.align import (
        aligned_epochs,
        fit_clock,
        ionto_pulses,
        other_pulses,
        write_csv,
        write_nwb,
    )
    from daq.recording import Recording

    ionto_path = Path(args.ionto_file)
    if not ionto_path.is_file():
        raise ConfigError(f"{ionto_path}: no such file")
    with Recording(ionto_path) as rec:
        a = ionto_pulses(rec.events, rec.rate_hz)
    if len(a) == 0:
        raise ConfigError(f"{ionto_path}: no sync pulses in its event log (kind 'sync'); was the sync train out on?")
    b, fs, what = other_pulses(args.other, args.channel, args.threshold)
    fit = fit_clock(a, b)
    epochs = aligned_epochs(ionto_path, fit)
    out = Path(args.out) if args.out else ionto_path.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{ionto_path.stem}_on_{Path(args.other).stem}"
    csv_path, nwb_path = out / f"{stem}.csv", out / f"{stem}.nwb"
    write_csv(epochs, csv_path)
    write_nwb(epochs, fit, nwb_path, Path(args.other).name)
    doc = {"clock": fit.as_dict(), "other": {"file": str(args.other), "pulses_from": what, "rate_hz": fs or None},
           "epochs": len(epochs), "csv": str(csv_path), "nwb": str(nwb_path)}
    if args.json:
        emit_json(doc)
    else:
        say(f"{fit.n_matched} of {fit.n_ionto} sync pulses matched ({fit.n_other} in {args.other}, {what}): "
            f"t_other = {fit.offset_s:.6f} s + (1 {fit.drift * 1e6:+.3f} ppm) · t_ionto, residuals RMS "
            f"{fit.residual_rms_s * 1e3:.3f} ms, max {fit.residual_max_s * 1e3:.3f} ms")
        say(f"{len(epochs)} ejection epochs → {csv_path}, {nwb_path}")
    return 0
