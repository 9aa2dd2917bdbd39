"""``ionto sim-server``: a simulated NI-DAQmx device behind NI's gRPC interface.

``ionto run … --device ni+grpc://127.0.0.1:PORT/Dev1`` (and ``ionto gui``, ``ionto devices``)
then drive it through the real NI-DAQmx backend — the same code path as a board behind an
NI gRPC Device Server.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from app.cli.common import emit_json, say
from daq.errors import ConfigError

ORDER = 90
DEFAULT_PORT = 31763  # the NI gRPC Device Server's default port


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim-server", help="serve a simulated NI-DAQmx device over gRPC",
                       description="Serve a simulated NI-DAQmx board (the simulated rig behind NI's gRPC "
                       "interface) until interrupted.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--rig", help="rig file (YAML) with a simulation: section")
    src.add_argument("--preset", help="simulated rig preset (default: the simulator's default preset; 'ionto devices' lists them)")
    p.add_argument("--device", default="Dev1", help="the simulated device's name (default Dev1)")
    p.add_argument("--speed", type=float, default=1.0, help="clock speed: 1 = real time (default), 10 = 10x")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--chassis", default="", help="put the device in a simulated cDAQ-9189 Ethernet chassis of "
                   "this name (which offers a watchdog with AO expiration states), e.g. cDAQ1")
    p.add_argument("--interlock", default="default", metavar="LINE",
                   help="the port0 line wired to the simulated current source's STANDBY/ENABLE input, e.g. "
                   "port0/line0 (default: the rig's interlock line, else port0/line0; 'none': no enable input). "
                   "While ionto drives it to standby (or a DIO watchdog expires to standby) every barrel gets "
                   "0 nA; a line never driven counts as enabled")
    p.add_argument("--json", action="store_true", help="print one JSON document (the URL) once serving")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from daq.rig import load_rig
    from mock_daq import load_preset
    from mock_daq.nigrpc import SimNIServer
    from mock_daq.presets import DEFAULT_PRESET

    if not args.speed > 0:
        raise ConfigError(f"--speed {args.speed}: must be > 0")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: must be 0..65535")
    preset = None
    if args.rig:
        rig = load_rig(args.rig)
    else:
        preset = args.preset or DEFAULT_PRESET
        rig = load_preset(preset)
    interlock = None if args.interlock.lower() == "none" else args.interlock
    try:
        server = SimNIServer(rig, port=args.port, host=args.host, device=args.device, speed=args.speed,
                             seed=args.seed, chassis=args.chassis, preset=preset, interlock=interlock)
    except ValueError as exc:
        raise ConfigError(f"--interlock {args.interlock}: {exc}") from None
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    server.start()
    url = server.url()
    doc = {"url": url, "port": server.port, "device": args.device, "product": server.spec.product_type,
           "rig": rig.name, "speed": args.speed, "interlock": server.hardware.interlock_line()}
    if args.json:
        emit_json(doc)
    else:
        say(f"simulated NI-DAQmx device {args.device} ({server.spec.product_type}) serving at {url}")
        hint = "" if preset else f" --rig {args.rig}"
        say(f"  try: ionto run protocols/examples/dose_response.yaml --device {url}{hint}")
        if doc["interlock"]:
            say(f"  current source STANDBY/ENABLE input on {doc['interlock']} (enabled until first driven)")
        say("  stop with Ctrl-C")
    sys.stdout.flush()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    server.stop()
    print("sim-server: stopped", file=sys.stderr)
    return 0
