"""Rig files: the acquisition side of a rig (rate, electrodes, pipette) in YAML.

A rig file describes what is wired where; the same file serves a real NI rig and the
simulated one (whose model lives in an extra ``simulation:`` section that only
``mock_daq`` reads)::

    name: cortex-rig
    rate_hz: 20000
    electrodes:
      - {name: electrode, physical: Dev1/ai0, gain: 1000, range_V: 5}
    pipette:
      max_total_nA: 400
      barrels:
        - {name: glu, drug: glutamate, polarity: -1, concentration_mM: 200, retain_nA: 15,
           max_eject_nA: 150, command_gain_nA_per_V: 100, monitor_gain_V_per_nA: 0.01,
           ao_channel: Dev1/ao0, monitor_channel: Dev1/ai1}
        - {name: bal, drug: NaCl, role: balance, concentration_mM: 165, max_eject_nA: 400,
           command_gain_nA_per_V: 100, ao_channel: Dev1/ao1}
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from daq.config_file import load_config_file
from daq.errors import ConfigError
from daq.network_input import network_stream_name
from daq.pipette import FileModel, Pipette, format_validation_error
from daq.types import TERMINAL_CONFIGS, AcquisitionConfig, AIChannel, AOChannel, ChannelKind


class ElectrodeConfig(FileModel):
    """One recorded voltage channel."""

    name: str = Field(min_length=1)
    physical: str = Field(min_length=1, description="device channel, e.g. Dev1/ai0")
    gain: float = Field(default=1000.0, gt=0, description="amplifier gain (V at ADC per V at electrode)")
    range_V: float = Field(default=5.0, gt=0, description="ADC input range, +/- volts")
    terminal: str = Field(default="default", description=f"one of {TERMINAL_CONFIGS}")

    @model_validator(mode="after")
    def _check(self) -> ElectrodeConfig:
        if self.terminal not in TERMINAL_CONFIGS:
            raise ValueError(f"terminal {self.terminal!r} is not one of {TERMINAL_CONFIGS}")
        return self


class MarkerConfig(FileModel):
    """An optional digital marker line (e.g. the iontophoresis unit's eject TTL) read as an AI voltage."""

    name: str = Field(default="marker", min_length=1)
    physical: str = Field(min_length=1, description="device channel, e.g. Dev1/ai7")
    range_V: float = Field(default=10.0, gt=0, description="ADC input range, +/- volts")


class InterlockConfig(FileModel):
    """A digital line wired to the current source's standby/enable input (X-series boards, which
    have no analog-output watchdog): ionto holds it at the enable level while it runs and
    keeps it alive; the DIO watchdog (or a missed heartbeat) drops it to standby, so a dead
    ionto cannot leave a barrel ejecting.  See docs/ni-hardware.md."""

    line: str = Field(min_length=1, description="digital output line, e.g. Dev1/port0/line0")
    enable_high: bool = Field(default=True, description="the source is enabled while the line is high")
    timeout_s: float = Field(default=0.5, gt=0, le=10.0,
                             description="the line drops to standby this long after ionto stops refreshing it")


_PORT0_LINE = re.compile(r"(?:/?(?P<dev>[^/]+)/)?port0/line(?P<line>\d+)", re.IGNORECASE)


def port0_line(line: str, field: str = "line") -> tuple[str, int]:
    """``'Dev1/port0/line3'`` → ``('Dev1', 3)``; anything else is refused naming ``field``.
    Sample-clocked (buffered) digital I/O on X Series boards is on port 0 only (X Series User
    Manual, "Digital I/O"; check your board's manual)."""
    m = _PORT0_LINE.fullmatch(str(line).strip())
    if not m:
        raise ValueError(f"{field}: {line!r} is not a port 0 line (write e.g. Dev1/port0/line1)")
    return m.group("dev") or "", int(m.group("line"))


class TrialInputConfig(FileModel):
    """Where a run's trial events come from (docs/trials.md): digital lines *or* the network,
    never both (a run has one trial source; the file is refused in one line).

    Digital: port 0 lines sampled on the AI sample clock: a rising edge on ``trial_line``
    starts a trial, a falling edge ends it; the word on ``code_lines`` (bit 0 first), latched
    at the rising edge of ``strobe_line`` (or read at the trial's start without one), is its
    condition code; ``conditions`` says what each code shows (``{3: {orientation_deg: 45}}``).
    Decoded by ``daq.trials.DigitalTrialDecoder``.

    Network: ``network: lsl:STREAM``, the task software's LSL marker stream, aligned to the
    sample clock (``daq.network_input``); ``ionto run --trials-from`` overrides it."""

    trial_line: str | None = Field(default=None, min_length=1, description="e.g. Dev1/port0/line0")
    code_lines: tuple[str, ...] = Field(default=(), max_length=16, description="bit 0 first")
    strobe_line: str | None = None
    conditions: dict[int, dict[str, float]] = Field(default_factory=dict,
                                                    description="code -> {name: value} of what it shows")
    network: str | None = Field(default=None, description="lsl:STREAM, a task's LSL marker stream")

    @field_validator("network")
    @classmethod
    def _network_form(cls, value: str | None) -> str | None:
        if value is not None:
            network_stream_name(value)  # ValueError: one line naming the value and the form accepted
        return value

    @model_validator(mode="after")
    def _check(self) -> TrialInputConfig:
        if self.network is not None:
            digital = [f for f in ("trial_line", "code_lines", "strobe_line", "conditions") if getattr(self, f)]
            if digital:
                raise ValueError(f"network {self.network!r} and digital lines ({', '.join(digital)}) both given: a run "
                                 "takes its trials from one source; keep network or the lines")
            return self
        if self.trial_line is None:
            raise ValueError("give trial_line (digital lines) or network (lsl:STREAM)")
        lines = [port0_line(self.trial_line, "trial_line")]
        lines += [port0_line(c, f"code_lines[{i}]") for i, c in enumerate(self.code_lines)]
        if self.strobe_line is not None:
            lines.append(port0_line(self.strobe_line, "strobe_line"))
        if len({d for d, _ in lines}) > 1:
            raise ValueError(f"trial input lines are on several devices {sorted({d for d, _ in lines})}; "
                             "use lines of one board's port 0")
        nums = [n for _, n in lines]
        if len(set(nums)) != len(nums):
            raise ValueError(f"trial input lines used twice: port0 lines {nums}")
        top = 1 << len(self.code_lines)
        bad = [c for c in self.conditions if not 0 <= c < top]
        if bad:
            raise ValueError(f"conditions: codes {bad} do not fit {len(self.code_lines)} code line(s) (0..{top - 1})")
        return self

    @property
    def digital(self) -> bool:
        """Trial events from digital lines (else from the network)."""
        return self.trial_line is not None

    @property
    def device(self) -> str:
        return port0_line(self.trial_line or "")[0]

    def line_numbers(self) -> tuple[int, tuple[int, ...], int | None]:
        """(trial line, code lines, strobe line) as port 0 line numbers (= bit numbers of a port word)."""
        return (port0_line(self.trial_line or "")[1], tuple(port0_line(c)[1] for c in self.code_lines),
                None if self.strobe_line is None else port0_line(self.strobe_line)[1])

    @property
    def lines(self) -> tuple[str, ...]:
        """The digital lines (none for a network input)."""
        if self.trial_line is None:
            return ()
        return (self.trial_line, *self.code_lines, *((self.strobe_line,) if self.strobe_line else ()))


def trial_source(ti: TrialInputConfig | None, trials_from: str | None = None) -> str:
    """What a run listens to for trial events, in one line (``ionto run``, ``rig check``,
    ``protocol check``): ``trials_from`` (``--trials-from``) wins over the rig file's
    ``trial_input``."""
    aligned = "aligned to the sample clock; needs --speed realtime"
    if trials_from:
        over = "; overrides the rig file's trial_input" if ti is not None else ""
        return f"LSL marker stream {network_stream_name(trials_from)!r} (--trials-from {trials_from}{over}), {aligned}"
    if ti is None:
        return "none in the rig file (a simulated rig's own task still logs its trials)"
    if ti.network is not None:
        return f"LSL marker stream {network_stream_name(ti.network)!r} (rig trial_input.network), {aligned}"
    code = f", code lines {', '.join(ti.code_lines)}" if ti.code_lines else ""
    strobe = f", strobe {ti.strobe_line}" if ti.strobe_line else ""
    return f"digital lines on the AI sample clock: trial line {ti.trial_line}{code}{strobe}"


class SyncOutConfig(FileModel):
    """A sync pulse train out on a port 0 line so other acquisition systems can be aligned
    offline (``ionto align``; docs/trials.md "Sync pulses out").  Intervals between rising
    edges are pseudo-random, ``period_s × (1 ± jitter/2)`` (``daq.sync``): a few consecutive
    intervals identify a pulse, which a regular train cannot."""

    line: str = Field(min_length=1, description="e.g. Dev1/port0/line7")
    period_s: float = Field(default=1.0, ge=0.01, le=60.0, description="mean interval between rising edges")
    width_s: float = Field(default=0.01, gt=0, le=1.0, description="how long each pulse stays high")
    jitter: float = Field(default=0.5, ge=0, le=1.0, description="interval spread, a fraction of period_s")
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> SyncOutConfig:
        port0_line(self.line, "line")
        shortest = self.period_s * (1 - self.jitter / 2)
        if self.width_s >= shortest:
            raise ValueError(f"width_s {self.width_s:g} s must be shorter than the shortest interval "
                             f"{shortest:g} s (period_s x (1 - jitter/2))")
        return self


class RigConfig(FileModel):
    """A rig: sample rate, electrodes, pipette; ``simulation`` is read by the simulator only."""

    name: str = "rig"
    rate_hz: float = Field(default=20000.0, gt=0, le=1e6)
    electrodes: tuple[ElectrodeConfig, ...] = Field(min_length=1)
    monitor_range_V: float = Field(default=10.0, gt=0, description="AI range of the current monitors")
    pipette: Pipette
    marker: MarkerConfig | None = None
    interlock: InterlockConfig | None = None
    trial_input: TrialInputConfig | None = Field(default=None, description="trial events in: digital lines or network")
    sync_out: SyncOutConfig | None = Field(default=None, description="a sync pulse train out on a digital line")
    ao_lead_s: float = Field(default=0.25, gt=0, le=5.0, description="how far AO is written ahead")
    block_s: float = Field(default=0.05, gt=0, le=1.0, description="engine block length")
    subject: dict[str, str] | None = Field(
        default=None, description="the animal recorded (subject_id, species, sex, age, ...): stored in each "
        "recording and used by ionto export-nwb (analysis.nwb_metadata validates it)")
    simulation: dict[str, Any] | None = None
    rig_check: dict[str, Any] | None = Field(
        default=None, description="written by ionto into recordings: the last 'ionto rig check' of this rig file "
        "(daq/rig_check.py); not for hand-written rig files")

    @field_validator("simulation")
    @classmethod
    def _finite_simulation(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The simulator validates its section; here only that no number in it is .nan or .inf."""
        for path, x in _numbers(value, ()):
            if not math.isfinite(x):
                where = ".".join(str(p) for p in path).replace("{", "{{").replace("}", "}}")
                raise PydanticCustomError("finite_number", f"{where}: must be a finite number (got {x!r})")
        return value

    @model_validator(mode="after")
    def _check(self) -> RigConfig:
        phys = [e.physical for e in self.electrodes]
        phys += [b.monitor_channel for b in self.pipette.barrels if b.monitor_channel]
        phys += [b.voltage_monitor_channel for b in self.pipette.barrels if b.voltage_monitor_channel]
        if self.marker is not None:
            phys.append(self.marker.physical)
        dup = sorted({p for p in phys if phys.count(p) > 1})
        if dup:
            raise ValueError(f"AI channels used twice: {dup}")
        names = [e.name for e in self.electrodes]
        if self.marker is not None:
            names.append(self.marker.name)
        if len(set(names)) != len(names):
            raise ValueError(f"electrode (and marker) names must be unique, got {names}")
        dio = [*(self.trial_input.lines if self.trial_input else ()), *((self.sync_out.line,) if self.sync_out else ()),
               *((self.interlock.line,) if self.interlock else ())]
        nums = [port0_line(x)[1] for x in dio if _PORT0_LINE.fullmatch(x.strip())]
        if len(set(nums)) != len(nums):
            raise ValueError(f"digital lines used twice (trial_input, sync_out, interlock): {list(dio)}")
        broken = self.pipette.violations(self.pipette.safe_currents_nA())
        if broken:  # no schedule could even start
            raise ValueError("pipette: the safe currents (every drug barrel retaining) already exceed a limit: "
                             + "; ".join(broken))
        return self

    def acquisition_config(self) -> AcquisitionConfig:
        """AI channels (electrodes, one monitor per barrel that has one, the barrel-voltage
        outputs (``V_<barrel>``, kind OTHER) of sources that have them, then the marker line if
        any) and AO channels."""
        ai = [
            AIChannel(e.name, e.physical, ChannelKind.ELECTRODE, e.range_V, e.terminal, "V", e.gain)
            for e in self.electrodes
        ]
        for b in self.pipette.barrels:
            if b.monitor_channel:
                ai.append(
                    AIChannel(
                        f"I_{b.name}", b.monitor_channel, ChannelKind.CURRENT_MONITOR, self.monitor_range_V,
                        "default", "nA", b.monitor_gain_V_per_nA or 1.0, b.name,
                    )
                )
        for b in self.pipette.barrels:
            if b.voltage_monitor_channel and b.voltage_monitor_gain_V_per_V:
                ai.append(AIChannel(f"V_{b.name}", b.voltage_monitor_channel, ChannelKind.OTHER, self.monitor_range_V,
                                    "default", "V", b.voltage_monitor_gain_V_per_V, b.name))
        if self.marker is not None:
            ai.append(AIChannel(self.marker.name, self.marker.physical, ChannelKind.MARKER, self.marker.range_V))
        ao = [AOChannel(b.name, b.ao_channel, b.ao_range_V) for b in self.pipette.barrels if b.ao_channel]
        return AcquisitionConfig(
            rate_hz=self.rate_hz, ai=tuple(ai), ao=tuple(ao), block_samples=max(1, round(self.rate_hz * self.block_s))
        )


def _numbers(node: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], float]]:
    """Every float in a nested mapping/list, with its path."""
    if isinstance(node, float):
        return [(path, node)]
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _numbers(v, (*path, k))]
    if isinstance(node, list | tuple):
        return [x for i, v in enumerate(node) for x in _numbers(v, (*path, i))]
    return []


def parse_rig(data: Any, source: str = "rig") -> RigConfig:
    """Validate a parsed YAML mapping; ``ConfigError`` names ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a rig file must be a YAML mapping (name, rate_hz, electrodes, pipette)")
    try:
        return RigConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_rig(path: str | os.PathLike[str]) -> RigConfig:
    """Read and validate a rig YAML file."""
    return parse_rig(load_config_file(path, "the rig file"), str(Path(path)))
