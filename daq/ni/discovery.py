"""Device discovery and capabilities: what ``ionto devices`` prints and what ``NIDevice``
checks a configuration against before anything starts.

Thread: any (each call opens its own interpreter session).
"""

from __future__ import annotations

from dataclasses import dataclass

import nidaqmx.system
from nidaqmx.constants import ProductCategory

from daq.errors import ConfigError, DeviceNotFoundError
from daq.ni.connection import NIConnection
from daq.ni.errors import NI_ERRORS, translate
from daq.types import DeviceDescription

ETHERNET_CHASSIS = ("cDAQ-9185", "cDAQ-9189")


@dataclass(frozen=True)
class Capabilities:
    """One NI device's limits, read from the driver."""

    name: str
    product: str
    category: str
    serial: str
    simulated: bool
    ai_channels: tuple[str, ...]
    ao_channels: tuple[str, ...]
    ai_max_single_rate_hz: float
    ai_max_multi_rate_hz: float
    ai_min_rate_hz: float
    ai_simultaneous: bool
    ao_max_rate_hz: float
    ao_min_rate_hz: float
    ai_ranges_V: tuple[float, ...]  # the ± half-ranges, ascending
    ao_ranges_V: tuple[float, ...]
    chassis: str = ""  # the cDAQ chassis holding this module, if any
    chassis_product: str = ""

    def max_ai_rate(self, n_channels: int) -> float:
        """The fastest per-channel rate for a task of ``n_channels`` inputs (NI's rule:
        multiplexed devices share the aggregate rate)."""
        if self.ai_simultaneous or n_channels <= 1:
            return self.ai_max_single_rate_hz
        return min(self.ai_max_single_rate_hz, self.ai_max_multi_rate_hz / n_channels)

    @property
    def watchdog_device(self) -> str:
        """The device whose watchdog can hold AO expiration states ('' if none): a cDAQ
        Ethernet chassis (NI: X Series watchdogs cover digital lines only)."""
        if self.chassis and self.chassis_product in ETHERNET_CHASSIS:
            return self.chassis
        if self.product in ETHERNET_CHASSIS:
            return self.name
        return ""

    @property
    def terminal_device(self) -> str:
        """The device that owns the timing terminals (``/cDAQ1/ai/SampleClock`` on a chassis)."""
        return self.chassis or self.name

    def describe(self) -> DeviceDescription:
        return DeviceDescription(
            name=self.name, product=self.product, ai_channels=self.ai_channels, ao_channels=self.ao_channels,
            max_ai_rate_hz=self.ai_max_single_rate_hz, max_ao_rate_hz=self.ao_max_rate_hz, serial=self.serial,
            simulated=self.simulated,
            extra={"category": self.category, "ai_max_multi_chan_rate_hz": self.ai_max_multi_rate_hz,
                   "ai_simultaneous_sampling": self.ai_simultaneous, "ai_ranges_V": list(self.ai_ranges_V),
                   "ao_ranges_V": list(self.ao_ranges_V), "chassis": self.chassis,
                   "watchdog_ao_expiration": bool(self.watchdog_device)},
        )


def _ranges(flat: list[float]) -> tuple[float, ...]:
    """NI lists ranges as [lo0, hi0, lo1, hi1, …]; keep the symmetric half-ranges."""
    pairs = zip(flat[0::2], flat[1::2])
    return tuple(sorted({round(max(abs(lo), abs(hi)), 9) for lo, hi in pairs}))


def _try(fn, default):
    try:
        return fn()
    except NI_ERRORS:
        return default


def device_names(conn: NIConnection) -> list[str]:
    system = conn.system()
    try:
        return [d.name for d in system.devices]
    except NI_ERRORS as exc:
        raise translate(exc, conn.where, "listing devices") from None


def capabilities(conn: NIConnection, name: str) -> Capabilities:
    """Read a device's capabilities; ``DeviceNotFoundError`` lists the devices that exist."""
    names = device_names(conn)
    if name not in names:
        raise DeviceNotFoundError(
            f"no NI device named {name!r} on the {conn.where}; devices there: {names or 'none'}"
        )
    dev = nidaqmx.system.Device(name, grpc_options=conn.options())
    try:
        category = _try(lambda: dev.product_category, ProductCategory.UNKNOWN)
        chassis = ""
        chassis_product = ""
        if category == ProductCategory.C_SERIES_MODULE:
            chassis = _try(lambda: dev.compact_daq_chassis_device.name, "")
            if chassis:
                chassis_product = _try(lambda: nidaqmx.system.Device(chassis, grpc_options=conn.options()).product_type, "")
        return Capabilities(
            name=name, product=dev.product_type, category=getattr(category, "name", str(category)),
            serial=_try(lambda: f"{dev.serial_num:X}", ""), simulated=_try(lambda: dev.is_simulated, False),
            ai_channels=tuple(c.name for c in dev.ai_physical_chans),
            ao_channels=tuple(c.name for c in dev.ao_physical_chans),
            ai_max_single_rate_hz=_try(lambda: dev.ai_max_single_chan_rate, 0.0),
            ai_max_multi_rate_hz=_try(lambda: dev.ai_max_multi_chan_rate, 0.0),
            ai_min_rate_hz=_try(lambda: dev.ai_min_rate, 0.0),
            ai_simultaneous=_try(lambda: dev.ai_simultaneous_sampling_supported, False),
            ao_max_rate_hz=_try(lambda: dev.ao_max_rate, 0.0),
            ao_min_rate_hz=_try(lambda: dev.ao_min_rate, 0.0),
            ai_ranges_V=_ranges(_try(lambda: dev.ai_voltage_rngs, [])),
            ao_ranges_V=_ranges(_try(lambda: dev.ao_voltage_rngs, [])),
            chassis=chassis, chassis_product=chassis_product,
        )
    except NI_ERRORS as exc:
        raise translate(exc, name, "reading the device's capabilities") from None


def describe_all(conn: NIConnection) -> list[DeviceDescription]:
    return [capabilities(conn, n).describe() for n in device_names(conn)]


def check_config_against(caps: Capabilities, ai: list[tuple[str, float]], ao: list[tuple[str, float]],
                         rate_hz: float) -> None:
    """Refuse, before anything starts, what the device cannot do; the message names its limits.

    ``ai``/``ao``: (physical channel, ± range in volts) on this device."""
    where = f"{caps.name} ({caps.product})"
    if ai and not caps.ai_channels:
        raise ConfigError(f"{where} has no analog inputs; the rig needs {len(ai)} (electrodes and current "
                          "monitors, and ionto clocks the outputs from the input sample clock): use a board or "
                          "module with analog inputs for them")
    if len(ao) > len(caps.ao_channels):
        raise ConfigError(f"the rig needs {len(ao)} analog outputs on {caps.name}; {where} has "
                          f"{len(caps.ao_channels)}{f' ({_span(caps.ao_channels)})' if caps.ao_channels else ''}: "
                          "use a board with more outputs (e.g. PCIe-6738: 32) or a cDAQ chassis with an AO "
                          "module (e.g. NI 9264: 16), or fewer barrels")
    problems: list[str] = []
    for phys, rng in ai:
        if phys not in caps.ai_channels:
            problems.append(f"no analog input {phys!r} (it has {_span(caps.ai_channels)})")
        elif caps.ai_ranges_V and rng > caps.ai_ranges_V[-1] + 1e-9:
            problems.append(f"input {phys}: range ±{rng:g} V exceeds the largest, ±{caps.ai_ranges_V[-1]:g} V "
                            f"(ranges: {', '.join(f'±{r:g}' for r in caps.ai_ranges_V)} V)")
    for phys, rng in ao:
        if phys not in caps.ao_channels:
            problems.append(f"no analog output {phys!r} (it has {_span(caps.ao_channels)})")
        elif caps.ao_ranges_V and rng > caps.ao_ranges_V[-1] + 1e-9:
            problems.append(f"output {phys}: range ±{rng:g} V exceeds the largest, ±{caps.ao_ranges_V[-1]:g} V")
    if ai:
        top = caps.max_ai_rate(len(ai))
        if top and rate_hz > top * (1 + 1e-9):
            how = "" if caps.ai_simultaneous else (
                f" (multiplexed: {caps.ai_max_multi_rate_hz:g} S/s aggregate over {len(ai)} channels)")
            problems.append(f"rate {rate_hz:g} Hz exceeds its maximum {top:g} Hz per channel{how}")
        if caps.ai_min_rate_hz and rate_hz < caps.ai_min_rate_hz:
            problems.append(f"rate {rate_hz:g} Hz is below its minimum {caps.ai_min_rate_hz:g} Hz")
    if ao and caps.ao_max_rate_hz and rate_hz > caps.ao_max_rate_hz * (1 + 1e-9):
        problems.append(f"AO rate {rate_hz:g} Hz exceeds its maximum {caps.ao_max_rate_hz:g} Hz")
    if problems:
        raise ConfigError(f"{caps.name} ({caps.product}): " + "; ".join(problems))


def _span(chans: tuple[str, ...]) -> str:
    if not chans:
        return "none"
    return f"{chans[0]} … {chans[-1]}" if len(chans) > 2 else ", ".join(chans)
