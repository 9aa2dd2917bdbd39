"""``ionto devices [--device URL]``: the devices ionto can use, their channels and limits."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from app.cli.common import emit_json, say
from daq.errors import ConfigError, DeviceError

if TYPE_CHECKING:
    from daq.types import DeviceDescription

ORDER = 80


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list devices: names, products, channels, maximum rates",
                       description="Without --device: the simulated presets and the boards of the local "
                       "NI-DAQmx driver.  With --device ni+grpc://HOST:PORT[/DEV], ni:DEV or sim:PRESET: that "
                       "device (or every device of that server).")
    p.add_argument("--device", help="device URL, or ni+grpc://HOST:PORT for every device of a server")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=run)


def _as_dict(d: DeviceDescription, url: str) -> dict[str, Any]:
    return {"url": url, "name": d.name, "product": d.product, "serial": d.serial, "simulated": d.simulated,
            "ai_channels": list(d.ai_channels), "ao_channels": list(d.ao_channels),
            "max_ai_rate_hz": d.max_ai_rate_hz, "max_ao_rate_hz": d.max_ao_rate_hz, **d.extra}


def _sim(preset: str) -> dict[str, Any]:
    from mock_daq import SimDevice, load_preset

    return _as_dict(SimDevice(load_preset(preset), name=f"sim:{preset}").describe(), f"sim:{preset}")


def _ni(host: str, port: int, device: str | None) -> list[dict[str, Any]]:
    from daq.ni import NIConnection, capabilities, device_names

    conn = NIConnection(host, port)
    try:
        conn.wait_ready()
        names = [device] if device else device_names(conn)
        base = f"ni+grpc://{host}:{port}/" if host else "ni:"
        return [_as_dict(capabilities(conn, n).describe(), base + n) for n in names]
    finally:
        conn.close()


def run(args: argparse.Namespace) -> int:
    from mock_daq import list_presets

    notes: list[str] = []
    url = (args.device or "").strip()
    if not url:
        found = [_sim(p) for p in list_presets()]
        try:
            found += _ni("", 0, None)
        except DeviceError as exc:
            notes.append(str(exc))
    elif url.startswith("sim"):
        found = [_sim(url[4:] or "cortex")]
    elif m := re.fullmatch(r"ni\+grpc://([^:/]+):(\d+)(?:/([^/]*))?", url):
        found = _ni(m.group(1), int(m.group(2)), m.group(3) or None)
    elif url.startswith("ni:") and len(url) > 3:
        found = _ni("", 0, url[3:])
    else:
        raise ConfigError(f"--device {url!r}: use sim:PRESET, ni:DEV or ni+grpc://HOST:PORT[/DEV]")
    if args.json:
        emit_json({"devices": found, "notes": notes})
        return 0
    for d in found:
        sim = " (simulated)" if d["simulated"] else ""
        say(f"{d['url']}: {d['product']}{sim}")
        say(f"  AI: {_span(d['ai_channels'])}  max {d['max_ai_rate_hz']:g} S/s"
            + (f" (multiplexed: {d['ai_max_multi_chan_rate_hz']:g} S/s aggregate)"
               if d.get("ai_max_multi_chan_rate_hz") and not d.get("ai_simultaneous_sampling") else ""))
        say(f"  AO: {_span(d['ao_channels'])}  max {d['max_ao_rate_hz']:g} S/s")
        if d.get("ai_ranges_V"):
            say(f"  AI ranges ±V: {', '.join(f'{r:g}' for r in d['ai_ranges_V'])}; "
                f"AO ranges ±V: {', '.join(f'{r:g}' for r in d.get('ao_ranges_V', []))}")
        if d.get("watchdog_ao_expiration"):
            say(f"  watchdog with AO expiration states: yes (chassis {d.get('chassis') or d['name']})")
    for n in notes:
        say(n)
    return 0


def _span(chans: list[str]) -> str:
    if not chans:
        return "none"
    return f"{chans[0]} … {chans[-1]} ({len(chans)})" if len(chans) > 3 else ", ".join(chans)
