"""``ionto``: the command line.  ``ionto --help`` lists the verbs; ``ionto VERB --help`` each one.

Errors ionto raises on purpose (bad files, fields, values, devices) print one clear line
(and, with ``--json``, an ``{"error": ...}`` document) and exit 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from daq.errors import IontoError

# Every module of app/cli with a ``register(subparsers)`` function is a verb; ``ORDER``
# (default 100) sets its place in ``ionto --help``.  Adding a verb = adding a module.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ionto",
        description="ionto — rig software for laboratory microiontophoresis: eject drugs from a "
        "multi-barrel pipette, record the neuron's firing to HDF5, and fit the dose–response.",
        epilog="Device URLs: sim (default), sim:PRESET, ni:Dev1, ni+grpc://HOST:PORT/Dev1, replay:FILE.h5",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for module in verb_modules():
        module.register(sub)
    return parser


def verb_modules() -> list:
    import importlib
    import pkgutil

    import app.cli as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in ("main", "common") or info.name.startswith("_"):
            continue
        m = importlib.import_module(f"app.cli.{info.name}")
        if hasattr(m, "register"):
            mods.append(m)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports every verb: seconds on a cold start
    except KeyboardInterrupt:  # Ctrl-C before anything ran: nothing to make safe
        print("ionto: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    json_mode = bool(getattr(args, "json", False))
    from app.cli.common import emit_json, set_json_mode

    set_json_mode(json_mode)
    try:
        return int(args.func(args) or 0)
    except IontoError as exc:
        print(f"ionto {args.verb}: error: {exc}", file=sys.stderr)
        if json_mode:
            emit_json({"error": str(exc), "error_type": type(exc).__name__})
        return 1
    except KeyboardInterrupt:
        print(f"ionto {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (e.g. `ionto info F | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"ionto {args.verb}: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        if json_mode:
            emit_json({"error": f"{type(exc).__name__}: {exc}", "error_type": "internal"})
        return 3


if __name__ == "__main__":
    sys.exit(main())
