"""What the simulated NI device is: its name, product, channels, rates and ranges, and how
its physical channels map onto the simulated rig's.

The rig's channels are matched by their last path element: the rig's ``sim/ai3`` (or
``Dev1/ai3``) is the simulated device's ``Dev1/ai3``.  Physical channels the rig does not
wire read 0 V (an unconnected, grounded input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from daq.rig import RigConfig
from mock_daq.nigrpc import constants as K

# X Series-like figures: ±0.1 … ±10 V input ranges, ±10 V / ±5 V outputs.
AI_RANGES_V = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
AO_RANGES_V = (5.0, 10.0)
ETHERNET_CHASSIS = ("cDAQ-9185", "cDAQ-9189")


PRODUCT = "ionto SimRig"


def product_name(preset: str | None, rig_name: str) -> str:
    """The simulated device's product type; it says which rig it simulates, so a client
    without a rig file can use the same preset (``preset_of``)."""
    return f"{PRODUCT} (preset {preset})" if preset else f"{PRODUCT} (rig {rig_name})"


def preset_of(product: str) -> str | None:
    """The preset an ionto simulated device runs (None for rig files and real boards)."""
    m = re.fullmatch(re.escape(PRODUCT) + r" \(preset ([\w.-]+)\)", product.strip())
    return m.group(1) if m else None


def is_simulated_rig(product: str) -> bool:
    return product.startswith(PRODUCT)


class NIError(Exception):
    """An NI-DAQmx error: ``code`` goes to the client in the ``ni-error`` trailer."""

    def __init__(self, code: int, detail: str = "", *, samps_read: int | None = None,
                 samps_written: int | None = None):
        text = K.MESSAGES.get(code, "NI-DAQmx error")
        super().__init__(f"{text}\n{detail}".strip() if detail else text)
        self.code = code
        self.detail = detail
        self.samps_read = samps_read
        self.samps_written = samps_written


def suffix(physical: str) -> str:
    """``'Dev1/ai3'`` → ``'ai3'``; ``'/Dev1/ai/SampleClock'`` → ``'ai/SampleClock'``."""
    return physical.strip().lstrip("/").split("/", 1)[-1].lower()


def device_of(physical: str) -> str:
    return physical.strip().lstrip("/").split("/", 1)[0]


def expand_channels(spec: str) -> list[str]:
    """NI channel lists: ``'Dev1/ai0:2, Dev1/ai5'`` → ``['Dev1/ai0', 'Dev1/ai1', 'Dev1/ai2', 'Dev1/ai5']``."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        m = re.fullmatch(r"(.*?)(\d+):(\d+)", part)
        if m:
            prefix, a, b = m.group(1), int(m.group(2)), int(m.group(3))
            step = 1 if b >= a else -1
            out.extend(f"{prefix}{i}" for i in range(a, b + step, step))
        else:
            out.append(part)
    return out


@dataclass(frozen=True)
class DeviceSpec:
    """The simulated board.  ``chassis`` names a simulated cDAQ Ethernet chassis holding it
    (which then offers a watchdog with AO expiration states), or is empty."""

    name: str = "Dev1"
    product_type: str = PRODUCT
    serial: int = 0x1070
    n_ai: int = 16
    n_ao: int = 8
    ai_max_single_rate_hz: float = 2.0e6
    ai_max_multi_rate_hz: float = 1.0e6  # aggregate, divided among the channels of a task
    ai_min_rate_hz: float = 0.1
    ao_max_rate_hz: float = 1.0e6
    ao_min_rate_hz: float = 0.1
    ai_ranges_V: tuple[float, ...] = AI_RANGES_V
    ao_ranges_V: tuple[float, ...] = AO_RANGES_V
    n_do_lines: int = 8  # port0/line0..7 (X Series; none on the C Series AO module of a chassis)
    chassis: str = ""
    chassis_product: str = "cDAQ-9189"
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_rig(cls, rig: RigConfig, name: str = "Dev1", chassis: str = "", preset: str | None = None,
                **kw) -> DeviceSpec:
        """A device with enough channels for the rig (at least 16 AI and 8 AO)."""
        n_ai = max([16, *(_number(p) + 1 for p in rig_ai(rig))])
        n_ao = max([8, *(_number(p) + 1 for p in rig_ao(rig))])
        return cls(name=name, product_type=product_name(preset, rig.name), n_ai=n_ai, n_ao=n_ao,
                   chassis=chassis, **kw)

    @property
    def ai_channels(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/ai{i}" for i in range(self.n_ai))

    @property
    def ao_channels(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/ao{i}" for i in range(self.n_ao))

    @property
    def do_lines(self) -> tuple[str, ...]:
        return () if self.chassis else tuple(f"{self.name}/port0/line{i}" for i in range(self.n_do_lines))

    @property
    def device_names(self) -> tuple[str, ...]:
        return (self.chassis, self.name) if self.chassis else (self.name,)

    def check_device(self, name: str) -> None:
        if name not in self.device_names:
            raise NIError(K.INVALID_DEVICE_ID, f"Device Specified: {name}\nDevices present: {', '.join(self.device_names)}")

    def check_channel(self, physical: str, kind: str) -> str:
        """Validate ``Dev1/aiN`` / ``Dev1/aoN``; return its suffix."""
        self.check_device(device_of(physical))
        s = suffix(physical)
        names = self.ai_channels if kind == "ai" else self.ao_channels
        if f"{self.name}/{s}" not in names:
            other = self.ao_channels if kind == "ai" else self.ai_channels
            code = K.INVALID_PHYS_CHAN_TYPE if f"{self.name}/{s}" in other else K.PHYSICAL_CHAN_DOES_NOT_EXIST
            raise NIError(code, f"Physical Channel Name: {s}\nDevice: {self.name}\n"
                          f"Available: {names[0]} … {names[-1]}")
        return s

    def check_lines(self, physical: str) -> list[int]:
        """``Dev1/port0/line0:7`` (or ``Dev1/port0``, the whole port) → line numbers."""
        lines: list[int] = []
        for p in expand_channels(physical):
            self.check_device(device_of(p))
            s = suffix(p)
            m = re.fullmatch(r"port0(?:/line(\d+))?", s)
            if m and self.do_lines and (m.group(1) is None or int(m.group(1)) < self.n_do_lines):
                lines.extend(range(self.n_do_lines) if m.group(1) is None else [int(m.group(1))])
                continue
            code = K.INVALID_PHYS_CHAN_TYPE if f"{self.name}/{s}" in self.ai_channels + self.ao_channels \
                else K.PHYSICAL_CHAN_DOES_NOT_EXIST
            avail = f"{self.do_lines[0]} … {self.do_lines[-1]}" if self.do_lines else "no digital lines"
            raise NIError(code, f"Physical Channel Name: {s}\nDevice: {self.name}\nAvailable: {avail}")
        return lines

    def coerce_range(self, lo: float, hi: float, kind: str) -> float:
        """The smallest supported ±range containing [lo, hi] (NI coerces the same way)."""
        if not lo < hi:
            raise NIError(K.MIN_NOT_LESS_THAN_MAX, f"Minimum: {lo}\nMaximum: {hi}")
        ranges = self.ai_ranges_V if kind == "ai" else self.ao_ranges_V
        need = max(abs(lo), abs(hi))
        for r in ranges:
            if need <= r + 1e-12:
                return r
        raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                      f"Property: {'AI' if kind == 'ai' else 'AO'}.Max\nRequested Value: {need:g}\n"
                      f"Maximum Value: {ranges[-1]:g}")

    def max_ai_rate(self, n_channels: int) -> float:
        return min(self.ai_max_single_rate_hz, self.ai_max_multi_rate_hz / max(1, n_channels))


def _number(physical: str) -> int:
    m = re.search(r"(\d+)$", physical)
    return int(m.group(1)) if m else 0


def rig_ai(rig: RigConfig) -> list[str]:
    """The rig's AI physical channels: electrodes, then current monitors (its AI order)."""
    return [c.physical for c in rig.acquisition_config().ai]


def rig_ao(rig: RigConfig) -> list[str]:
    return [c.physical for c in rig.acquisition_config().ao]
