"""Command-line options for other systems' files read through Neo (``ionto analyze``, ``ionto
info``): where their ejection epochs come from when no sidecar file sits next to them.

``--ejections CSV`` (a sidecar CSV elsewhere), ``--monitor CHANNEL:BARREL[:DRUG]:V_PER_NA``
(a voltage channel that records a barrel's current), ``--monitor-threshold-nA`` (how far
from its resting level a monitored current must go to count as an ejection).  See
docs/other-systems.md.  Thread: the caller's.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from daq.errors import ConfigError

DESTS = ("ejections_csv", "monitors", "monitor_threshold_nA")  # not options of analyze-batch (per file)


def add_neo_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("other systems' files (read through Neo: .abf, .smr, .rhd, .nix, Open Ephys, ...)")
    g.add_argument("--ejections", dest="ejections_csv", metavar="CSV",
                   help="ejections CSV (barrel,drug,current_nA,start_s,end_s; default: FILE.ejections.csv beside it)")
    g.add_argument("--monitor", dest="monitors", action="append", metavar="CHANNEL:BARREL[:DRUG]:V_PER_NA",
                   help="a channel recording a barrel's current and its gain, e.g. ADC1:glu:glutamate:0.05 "
                   "(repeatable; default: FILE.monitors.csv beside it, and channels in current units)")
    g.add_argument("--monitor-threshold-nA", dest="monitor_threshold_nA", type=float, default=2.0, metavar="NA",
                   help="a monitored current this far from its resting level is an ejection (default 2 nA)")


def parse_monitor(text: str) -> tuple[str, tuple[str, str, float]]:
    """``CHANNEL:BARREL[:DRUG]:V_PER_NA`` → ``(channel, (barrel, drug, V_per_nA))``; one-line
    ``ConfigError`` naming the value and the accepted form otherwise."""
    parts = text.split(":")
    form = "CHANNEL:BARREL[:DRUG]:V_PER_NA, e.g. ADC1:glu:glutamate:0.05"
    if len(parts) not in (3, 4) or not all(parts[:-1]):
        raise ConfigError(f"--monitor {text!r}: expected {form}")
    try:
        gain = float(parts[-1])
    except ValueError:
        gain = math.nan
    if not (math.isfinite(gain) and gain != 0):
        raise ConfigError(f"--monitor {text!r}: V_PER_NA must be a finite, non-zero number ({form})")
    return parts[0], (parts[1], parts[2] if len(parts) == 4 else "", gain)


def neo_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``NeoSource`` keyword arguments from the parsed options."""
    threshold = getattr(args, "monitor_threshold_nA", 2.0)
    if not (math.isfinite(threshold) and threshold > 0):
        raise ConfigError(f"--monitor-threshold-nA {threshold}: must be a positive number of nA")
    kw: dict[str, Any] = {"stream": getattr(args, "series", None), "threshold_nA": threshold}
    if getattr(args, "monitors", None):
        kw["monitors"] = dict(parse_monitor(m) for m in args.monitors)
    if getattr(args, "ejections_csv", None):
        csv = Path(args.ejections_csv)
        if not csv.is_file():
            raise ConfigError(f"--ejections {csv}: no such file")
        kw["ejections_csv"] = csv
    return kw
