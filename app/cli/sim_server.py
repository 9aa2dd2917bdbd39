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
    # (names restated here: importing the simulator would slow down every `ionto --help`)
    p.add_argument("--product", help="simulate an NI product instead of ionto's SimRig: "
                   "pcie-6363, usb-6343, pcie-6738, cdaq-9189 (NI 9205 + NI 9264), cdaq-9189-9263 (channels, ranges, rates, timebase, FIFOs as the product has "
                   "them; see docs/ni-hardware.md); the client then needs a rig file for it (--write-rig)")
    p.add_argument("--fault", action="append", default=[], metavar="CODE@SECONDS",
                   help="an NI-DAQmx error at that time of the acquisition, e.g. underflow@2.5 or --fault=-200621@2.5 "
                   "(names: overflow -200010, underflow -200621, fifo-underflow -200016, dac-underflow -200018, "
                   "usb -50405 on USB devices); repeatable")
    p.add_argument("--write-rig", metavar="PATH", help="write the rig with its channels on the simulated "
                   "devices (e.g. cDAQ1Mod1/ai0, cDAQ1Mod2/ao0) to PATH, for ionto run --rig PATH")
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
    from mock_daq.nigrpc.products import profile
    from mock_daq.nigrpc.spec import rig_on_spec
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
    if args.product:
        try:
            profile(args.product)
        except ValueError as exc:
            raise ConfigError(f"--product: {exc}") from None
        if args.chassis and not profile(args.product).chassis_product:
            raise ConfigError(f"--chassis {args.chassis}: {args.product} is not a cDAQ chassis profile")
    faults = [_fault(f) for f in args.fault]
    try:
        server = SimNIServer(rig, port=args.port, host=args.host, device=args.device, speed=args.speed,
                             seed=args.seed, chassis=args.chassis, preset=preset, interlock=interlock,
                             product=args.product)
    except ValueError as exc:
        raise ConfigError(f"--interlock {args.interlock}: {exc}") from None
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    for text, (code, at_s) in zip(args.fault, faults):
        try:
            server.hardware.schedule_fault(code, at_s)
        except ValueError as exc:
            server.stop()
            raise ConfigError(f"--fault {text}: {exc}") from None
    rig_path = ""
    if args.write_rig:
        rig_path = args.write_rig
        try:
            write_rig_file(rig_on_spec(rig, server.spec), rig_path)
        except OSError as exc:
            server.stop()
            raise ConfigError(f"--write-rig {rig_path}: {exc.strerror or exc}") from None
    server.start()
    url = server.url()
    doc = {"url": url, "port": server.port, "device": server.spec.name, "product": server.spec.product_type,
           "devices": list(server.spec.device_names), "rig_file": rig_path or None,
           "rig": rig.name, "speed": args.speed, "interlock": server.hardware.interlock_line()}
    if args.json:
        emit_json(doc)
    else:
        say(f"simulated NI-DAQmx device {server.spec.name} ({server.spec.product_type}) serving at {url}")
        hint = f" --rig {rig_path}" if rig_path else "" if preset and not args.product else \
            f" --rig {args.rig or 'RIG (see --write-rig)'}"
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


def _fault(text: str) -> tuple[int, float]:
    """``underflow@2.5`` / ``-200621@2.5`` → (NI error code, seconds)."""
    from mock_daq.nigrpc.hardware import FAULT_NAMES

    what, _, when = text.partition("@")
    try:
        code = FAULT_NAMES[what] if what in FAULT_NAMES else int(what)
        at_s = float(when)
    except ValueError:
        raise ConfigError(f"--fault {text!r}: write CODE@SECONDS, e.g. underflow@2.5 or --fault=-200621@2.5 "
                          f"(names: {', '.join(FAULT_NAMES)})") from None
    return code, at_s


def write_rig_file(rig, path: str) -> None:
    """The rig as YAML (what ``load_rig`` reads back)."""
    import yaml

    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(rig.model_dump(mode="json", exclude_none=True), fh, sort_keys=False)
