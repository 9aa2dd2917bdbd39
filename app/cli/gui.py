"""``ionto gui``: the rig window."""

from __future__ import annotations

import argparse

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the rig window", description="Live traces, ratemeter, barrels, protocols.")
    p.add_argument("--device", default="sim", help="device URL (default: sim)")
    p.add_argument("--rig", help="rig file (YAML)")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.gui.main_window import run_gui  # Qt is imported only here

    return run_gui(device_url=args.device, rig_path=args.rig, seed=args.seed)
