"""What the simulated NI device is: its name, product, channels, rates and ranges, and how
its physical channels map onto the simulated rig's.

The rig's channels are matched by their last path element: the rig's ``sim/ai3`` (or
``Dev1/ai3``) is the simulated device's ``Dev1/ai3``.  Physical channels the rig does not
wire read 0 V (an unconnected, grounded input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from daq.rig import RigConfig
from mock_daq.nigrpc import constants as K
from mock_daq.nigrpc.products import SIMRIG, Product, profile

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
class Module:
    """One device of the simulated system: a board, or a C Series module in a chassis."""

    name: str
    product: Product
    product_type: str  # what DAQmx reports (the product's, or ionto's SimRig name)
    serial: int

    @property
    def ai_channels(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/ai{i}" for i in range(self.product.n_ai))

    @property
    def ao_channels(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/ao{i}" for i in range(self.product.n_ao))

    @property
    def internal_ai(self) -> tuple[str, ...]:
        """X Series internal channels that measure each AO output against AO GND (NI-DAQmx
        Help, "Internal Channels"): ``Dev1/_ao0_vs_aognd`` reads back what ao0 outputs."""
        if not self.product.n_ai:
            return ()
        # and the board's temperature sensor (X Series: _boardTempSensor_vs_aignd)
        return tuple(f"{self.name}/_ao{i}_vs_aognd" for i in range(self.product.n_ao)) + \
            (() if self.product.category != K.CATEGORY_X_SERIES else (f"{self.name}/_boardtempsensor_vs_aignd",))

    @property
    def do_lines(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/port0/line{i}" for i in range(self.product.n_do_lines))


@dataclass(frozen=True)
class DeviceSpec:
    """The simulated system: one board, or a cDAQ chassis (``chassis``) holding modules.
    ``name`` is the board, or the first module; a chassis's watchdog can hold AO expiration
    states (cDAQ-9185/9189)."""

    name: str = "Dev1"
    product_type: str = PRODUCT
    serial: int = 0x1070
    modules: tuple[Module, ...] = ()
    chassis: str = ""
    chassis_product: str = "cDAQ-9189"
    product_key: str = ""  # the --product profile ('' = ionto's SimRig)

    def __post_init__(self) -> None:
        if not self.modules:
            object.__setattr__(self, "modules", (Module(self.name, SIMRIG, self.product_type, self.serial),))

    @classmethod
    def for_rig(cls, rig: RigConfig, name: str = "Dev1", chassis: str = "", preset: str | None = None,
                product: str | None = None) -> DeviceSpec:
        """A product profile (``product``: see ``products.PROFILES``), or ionto's SimRig with
        enough channels for the rig (at least 16 AI and 8 AO)."""
        if product:
            prof = profile(product)
            if prof.chassis_product:
                chassis = chassis or "cDAQ1"
                mods = tuple(Module(f"{chassis}Mod{i + 1}", p, p.product_type, 0x1A00 + i)
                             for i, p in enumerate(prof.modules))
                return cls(name=mods[0].name, product_type=mods[0].product_type, serial=mods[0].serial,
                           modules=mods, chassis=chassis, chassis_product=prof.chassis_product, product_key=prof.key)
            p = prof.modules[0]
            mod = Module(name, p, p.product_type, 0x1A00)
            return cls(name=name, product_type=p.product_type, serial=mod.serial, modules=(mod,),
                       product_key=prof.key)
        n_ai = max([16, *(_number(p) + 1 for p in rig_ai(rig))])
        n_ao = max([8, *(_number(p) + 1 for p in rig_ao(rig))])
        ptype = product_name(preset, rig.name)
        board = replace(SIMRIG, n_ai=n_ai, n_ao=n_ao)
        return cls(name=name, product_type=ptype, modules=(Module(name, board, ptype, 0x1070),), chassis=chassis)

    # --- what the system holds ------------------------------------------------------------
    @property
    def product(self) -> Product:
        """The first module's product (the board's)."""
        return self.modules[0].product

    def module(self, device: str) -> Module:
        """A board or module by name (-200220 for anything else, the chassis included)."""
        for m in self.modules:
            if m.name == device:
                return m
        self.check_device(device)
        raise NIError(K.INVALID_DEVICE_ID, f"Device Specified: {device}\n{device} is a chassis, not a module")

    def module_of(self, physical: str) -> Module:
        return self.module(device_of(physical))

    @property
    def ai_channels(self) -> tuple[str, ...]:
        return tuple(c for m in self.modules for c in m.ai_channels)

    @property
    def ao_channels(self) -> tuple[str, ...]:
        return tuple(c for m in self.modules for c in m.ao_channels)

    @property
    def n_ai(self) -> int:
        return len(self.ai_channels)

    @property
    def n_ao(self) -> int:
        return len(self.ao_channels)

    @property
    def n_do_lines(self) -> int:
        """Port 0 lines of the board (none on a chassis's C Series analog modules)."""
        return 0 if self.chassis else self.product.n_do_lines

    @property
    def do_lines(self) -> tuple[str, ...]:
        return () if self.chassis else self.modules[0].do_lines

    @property
    def device_names(self) -> tuple[str, ...]:
        mods = tuple(m.name for m in self.modules)
        return (self.chassis, *mods) if self.chassis else mods

    @property
    def ai_max_single_rate_hz(self) -> float:
        return max(m.product.ai_max_single_rate_hz for m in self.modules)

    @property
    def ai_max_multi_rate_hz(self) -> float:
        return max(m.product.ai_max_multi_rate_hz for m in self.modules)

    def check_device(self, name: str) -> None:
        if name not in self.device_names:
            raise NIError(K.INVALID_DEVICE_ID, f"Device Specified: {name}\nDevices present: {', '.join(self.device_names)}")

    def check_channel(self, physical: str, kind: str) -> str:
        """Validate ``Dev1/aiN`` / ``Dev1/aoN`` (or an internal ``Dev1/_aoN_vs_aognd`` for
        "ai"); return its suffix."""
        dev = device_of(physical)
        self.check_device(dev)
        mod = self.module(dev) if dev != self.chassis else self.modules[0]
        s = suffix(physical)
        full = f"{mod.name}/{s}"
        names = mod.ai_channels + mod.internal_ai if kind == "ai" else mod.ao_channels
        if full.lower() not in {n.lower() for n in names}:
            other = mod.ao_channels if kind == "ai" else mod.ai_channels + mod.internal_ai
            code = K.INVALID_PHYS_CHAN_TYPE if full in other else K.PHYSICAL_CHAN_DOES_NOT_EXIST
            avail = f"{names[0]} … {names[-1]}" if names else "none"
            raise NIError(code, f"Physical Channel Name: {s}\nDevice: {mod.name} ({mod.product_type})\n"
                          f"Available: {avail}")
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

    def check_terminal(self, physical: str, terminal: int) -> int:
        """The terminal configuration a channel gets (DEFAULT → RSE for a single-ended
        internal channel, DIFF otherwise where the product has it, as DAQmx does); refuses
        configurations the product lacks and DIFF on the negative input of a pair
        (X Series User Manual, "Analog Input Ground-Reference Settings")."""
        mod = self.module_of(physical) if device_of(physical) != self.chassis else self.modules[0]
        p = mod.product
        s = suffix(physical)
        if s.startswith("_"):
            if terminal not in (K.TERM_DEFAULT, K.TERM_RSE):
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: AI.TermCfg\nRequested Value: {terminal}\n"
                              f"Channel Name: {physical}\nAn internal channel is RSE only.")
            return K.TERM_RSE
        want = terminal
        if terminal == K.TERM_DEFAULT:
            want = K.TERM_DIFF if K.TERM_DIFF in p.ai_terminals and p.diff_partner(_number(s)) is not None \
                else K.TERM_RSE
        if want not in p.ai_terminals:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: AI.TermCfg\nRequested Value: {terminal}\n"
                          f"Channel Name: {physical}\nPossible Values: {', '.join(map(str, p.ai_terminals))}")
        if want == K.TERM_DIFF and p.diff_partner(_number(s)) is None:
            pos = _number(s) - p.diff_pair_offset
            raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                          f"Property: AI.TermCfg\nRequested Value: Differential\nChannel Name: {physical}\n"
                          f"{s} is the negative input of ai{pos} in differential mode; "
                          f"use ai{pos} as DIFF, or {s} as RSE/NRSE.")
        return want

    def coerce_range(self, lo: float, hi: float, kind: str, physical: str = "") -> float:
        """The smallest supported ±range containing [lo, hi] (NI coerces the same way:
        AI.Rng.High/Low read back the range the device chose)."""
        if not lo < hi:
            raise NIError(K.MIN_NOT_LESS_THAN_MAX, f"Minimum: {lo}\nMaximum: {hi}")
        mod = self.modules[0]
        if physical and device_of(physical) != self.chassis:
            mod = self.module_of(physical)
        ranges = mod.product.ai_ranges_V if kind == "ai" else mod.product.ao_ranges_V
        need = max(abs(lo), abs(hi))
        for r in ranges:
            if need <= r + 1e-12:
                return r
        top = ranges[-1] if ranges else 0.0
        raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                      f"Property: {'AI' if kind == 'ai' else 'AO'}.Max\nRequested Value: {need:g}\n"
                      f"Maximum Value: {top:g}")

    def max_ai_rate(self, n_channels: int, module: Module | None = None) -> float:
        p = (module or self.modules[0]).product
        if p.ai_simultaneous:
            return p.ai_max_single_rate_hz
        return min(p.ai_max_single_rate_hz, p.ai_max_multi_rate_hz / max(1, n_channels))

    def coerce_rate(self, rate_hz: float, module: Module | None = None) -> float:
        """The sample clock the timebase can make: ``timebase / divisor`` with the integer
        divisor ``floor(timebase / rate)``, i.e. the requested rate or the next faster one
        (X Series User Manual, "Timing"; 100 MHz on X Series, 80 MHz on a cDAQ chassis):
        30000 Hz on a 100 MHz timebase is 100e6 / 3333 = 30003.0003 Hz."""
        tb = (module or self.modules[0]).product.timebase_hz
        divisor = max(1, int(tb / rate_hz + 1e-9))
        return tb / divisor


def _number(physical: str) -> int:
    m = re.search(r"(\d+)$", physical)
    return int(m.group(1)) if m else 0


def rig_ai(rig: RigConfig) -> list[str]:
    """The rig's AI physical channels: electrodes, then current monitors (its AI order)."""
    return [c.physical for c in rig.acquisition_config().ai]


def rig_ao(rig: RigConfig) -> list[str]:
    return [c.physical for c in rig.acquisition_config().ao]


def rig_on_spec(rig: RigConfig, spec: DeviceSpec) -> RigConfig:
    """The rig with its channels moved onto the simulated system's devices: inputs onto the
    first module (or board) that has analog inputs, outputs onto the first that has analog
    outputs, keeping their numbers (``sim/ai3`` → ``cDAQ1Mod1/ai3``, ``sim/ao0`` →
    ``cDAQ1Mod2/ao0``) — what a rig file for that hardware says."""
    from daq.ni.rigs import rig_on_device

    ai_dev = next((m.name for m in spec.modules if m.product.n_ai), spec.name)
    ao_dev = next((m.name for m in spec.modules if m.product.n_ao), spec.name)
    moved = rig_on_device(rig, ai_dev, ao_device=ao_dev, line_device=spec.name)
    return moved if moved.interlock is None or spec.do_lines else moved.model_copy(update={"interlock": None})
