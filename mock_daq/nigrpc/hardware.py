"""The simulated NI board's hardware: tasks, one sample clock, AI buffer, AO buffer, held
output levels and a watchdog — backed by ``mock_daq.SimDevice`` through its Device interface.

Behaviour follows NI-DAQmx where our backend depends on it:

* the AI task's sample clock runs from ``StartTask`` at ``rate × speed`` samples per wall
  second; samples are generated lazily when read;
* AI never overwrites unread samples: when the unread backlog exceeds the input buffer the
  acquisition stops and the next read fails with -200279;
* a buffered AO task clocked by ``/DevN/ai/SampleClock`` and triggered by
  ``/DevN/ai/StartTrigger`` generates sample *i* with AI sample *i*; with regeneration off,
  running out of written samples stops generation (-200290) and the output holds its last
  value; writing more than the buffer holds waits for space, then fails (-200292);
* an on-demand AO task (no timing) sets static output levels, which the outputs hold;
* tasks are named server sessions (``sessions.py``) that outlive the client: a dead client's
  tasks keep their channels reserved and a running AO holds its last value;
* a task reserves its channels when it starts (or is reserved/committed with TaskControl) and
  releases them when it stops: another task's start on a reserved channel fails with -50103
  (see ``_reserve``);
* ResetDevice aborts every task on the device (the sessions stay), sets AO to 0 V and the
  digital lines to their power-up state, and clears an expired watchdog;
* on a simulated cDAQ Ethernet chassis a watchdog task, unless reset within its timeout,
  puts the AO channels at their expiration states and stops buffered generation; the chassis
  then refuses every start and write (-201478) until it is reset; the watchdog may not start
  while another task on the chassis is reserved or running (-201477);
* on an X Series board (no chassis) the watchdog is a DIO watchdog: it drives port 0 lines
  to their expiration states; writes to those lines fail (-200678) until the expiration is
  cleared; one port 0 line can be the current source's enable input (``digital.py``).

Thread-safety: gRPC handlers call in from a thread pool; one lock guards all state and
waits happen outside it.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from daq.errors import IontoError
from daq.rig import RigConfig
from daq.types import EventKind, StreamInfo
from mock_daq.device import SimDevice
from mock_daq.model import SimConfig, parse_sim
from mock_daq.nigrpc import constants as K
from mock_daq.nigrpc import detached
from mock_daq.nigrpc.digital import DEFAULT_INTERLOCK, DigitalPort, line_number, trial_lines_of
from mock_daq.nigrpc.sessions import SessionRepository
from mock_daq.nigrpc.spec import DeviceSpec, NIError, device_of, rig_ai, rig_ao, suffix

log = logging.getLogger(__name__)
_DO_LEVELS = {K.LEVEL_HIGH: True, K.LEVEL_LOW: False, K.LEVEL_TRISTATE: None}


@dataclass
class Channel:
    name: str
    physical: str
    kind: str  # "ai" | "ao" | "do" | "di"
    lo: float
    hi: float
    terminal: int = K.TERM_DEFAULT
    rig_col: int | None = None  # column in the rig's AI / AO order; None = not wired
    lines: tuple[int, ...] = ()  # "do": its port0 lines
    range_V: float = 10.0  # the ± range the device chose (AI.Rng.High / AO.DAC.Rng.High)
    readback_ao: int | None = None  # an internal _aoN_vs_aognd channel: the rig AO column it reads
    meas_type: int = K.VOLTAGE  # AI.MeasType (``measurements.py`` for the others)

    @property
    def resources(self) -> list[str]:
        """What the channel reserves: its physical channel, or each of its lines."""
        if self.kind in ("do", "di"):
            return [f"port0/line{i}" for i in self.lines]
        return [self.physical]


@dataclass
class Task:
    """One NI-DAQmx task on the simulated device."""

    id: int
    name: str  # the DAQmx task name
    session: str = ""  # the gRPC session name (the task name, or ni:generated:N)
    channels: list[Channel] = field(default_factory=list)
    timing: str = "on_demand"  # "on_demand" | "sample_clock"
    rate_hz: float = 0.0
    rate_asked_hz: float = 0.0  # SampClk.Rate as last set (a divisor set overrides it until reset)
    samp_mode: int = K.CONT_SAMPS
    samps_per_chan: int = 0
    clock_source: str = ""
    trigger_source: str = ""
    state: str = "idle"  # idle | armed | running | stopped | aborted (by a device reset)
    reserved: bool = False  # reserved/committed with TaskControl: holds its channels while not running
    error: int | None = None
    # AI
    read_pos: int = 0
    buf_size: int = 0
    detached: bool = False  # an AI task the preparation does not drive (``detached.py``)
    t_start: float = 0.0
    # AO
    queue: deque = field(default_factory=deque)  # arrays (n, n_ch) not yet generated
    written: int = 0
    generated: int = 0
    halted_at: int | None = None  # AO stopped generating at this sample (underflow, watchdog)
    last: np.ndarray | None = None  # the last AO sample generated
    # watchdog
    watchdog_device: str = ""
    watchdog_timeout_s: float = 10.0
    expir_states: dict[str, float] = field(default_factory=dict)
    do_expir_states: dict[int, int] = field(default_factory=dict)  # port0 line -> K.LEVEL_*
    expired: bool = False
    last_reset: float = 0.0
    reset_arrived: float = 0.0  # when the latest reset request reached the server
    resets_waiting: int = 0  # reset requests that reached the server and still wait for its lock

    @property
    def kind(self) -> str:
        if self.watchdog_device:
            return "watchdog"
        return self.channels[0].kind if self.channels else ""


@dataclass
class ScheduledFault:
    """An NI-DAQmx error that happens ``at_s`` seconds into an acquisition (once per server):
    input codes stop the AI task at that sample, output codes stop the buffered AO task."""

    code: int
    at_s: float
    fired: bool = False

    @property
    def on_input(self) -> bool:
        return self.code in INPUT_FAULTS


# What NI-DAQmx raises when the bus cannot keep up (NI-DAQmx error list, nidaqmx.error_codes):
# -200010 onboard input FIFO overflow, -200361 input FIFO overflow (USB), -200279 unread
# samples overwritten, -50405 "No transfer is in progress because the transfer was aborted by
# the client" (USB transfer error: the device dropped off the bus); -200016 / -200621 onboard
# output FIFO underflow, -200018 DAC conversion underflow, -200290 regeneration prevented.
INPUT_FAULTS = {K.INPUT_FIFO_OVERFLOW: "input FIFO overflow", K.INPUT_FIFO_OVERFLOW_USB: "input FIFO overflow (USB)",
                K.SAMPLES_NO_LONGER_AVAILABLE: "samples no longer available",
                K.PAL_TRANSFER_ABORTED: "USB transfer aborted"}
OUTPUT_FAULTS = {K.OUTPUT_FIFO_UNDERFLOW: "output FIFO underflow", K.OUTPUT_FIFO_UNDERFLOW_2: "output FIFO underflow",
                 K.DAC_UNDERFLOW: "DAC underflow", K.GEN_STOPPED_TO_PREVENT_REGEN: "generation stopped"}
FAULT_NAMES = {"overflow": K.INPUT_FIFO_OVERFLOW, "underflow": K.OUTPUT_FIFO_UNDERFLOW_2,
               "fifo-underflow": K.OUTPUT_FIFO_UNDERFLOW, "dac-underflow": K.DAC_UNDERFLOW,
               "usb": K.PAL_TRANSFER_ABORTED}


class Hardware:
    """The board: its tasks and the one sample clock they share."""

    def __init__(self, rig: RigConfig, spec: DeviceSpec | None = None, *, speed: float = 1.0,
                 seed: int | None = None, sim: SimConfig | None = None, interlock: str | None = "default",
                 interlock_enable_high: bool | None = None):
        """``interlock``: the port0 line wired to the current source's enable input ("default":
        the rig's ``interlock.line``, else port0/line0; None: no enable input), active high
        unless ``interlock_enable_high`` (default: the rig's ``enable_high``) says otherwise."""
        self.rig = rig
        self.spec = spec or DeviceSpec.for_rig(rig)
        self.speed = float(speed)
        self.seed = seed
        self.sim_config = sim if sim is not None else parse_sim(rig.simulation, f"{rig.name}: simulation")
        self._ai_map = {suffix(p): i for i, p in enumerate(rig_ai(rig))}
        self._ao_map = {suffix(p): i for i, p in enumerate(rig_ao(rig))}
        self.n_rig_ao = len(self._ao_map)
        self.static_V = np.zeros(self.n_rig_ao)  # what each rig AO output holds when not generating
        self.lock = threading.RLock()
        self.tasks: dict[int, Task] = {}
        self.sessions: SessionRepository[Task] = SessionRepository()
        self._ids = itertools.count(1)
        self._names = itertools.count(0)
        ilock = rig.interlock
        if interlock == "default":
            interlock = ilock.line if ilock is not None else DEFAULT_INTERLOCK
        high = interlock_enable_high if interlock_enable_high is not None else (ilock.enable_high if ilock else True)
        if self.spec.chassis:  # the chassis's C Series AO module has no digital lines
            interlock = None
        self.port = DigitalPort(self.spec.n_do_lines, None if interlock is None else line_number(interlock), high)
        self.chassis_expired = False  # a cDAQ chassis whose watchdog expired (until it is reset)
        self._enabled_at_gen = True  # interlock state at the simulation's next sample
        self._enable_changes: deque[tuple[int, bool]] = deque()  # (sample index, enabled) not yet generated
        # the running acquisition
        self._ai: Task | None = None
        self._ao: Task | None = None
        self._t0 = 0.0
        self._sim: SimDevice | None = None
        self._stream: StreamInfo | None = None
        self._sim_index = 0
        self._halted_at: int | None = None  # AI stopped (overflow) at this sample
        self._volts = np.zeros((0, 0))  # generated, not yet read: (n_rig_ai, n)
        self._aov = np.zeros((0, 0))  # the AO volts generated with those samples: (n_rig_ao, n)
        self._volts_start = 0
        # hardware-timed port 0 I/O on the AI clock (``dio.py``)
        self._dio: list[Task] = []  # armed or running DI / DO tasks
        self._words = np.zeros(0, dtype=np.uint32)  # port words generated, not yet read by a DI task
        self._words_start = 0
        self._lines_word: int | None = None  # the last port word generated
        self.trial_lines = trial_lines_of(rig)  # the simulated task computer's outputs, if wired
        self.trial_truth: list = []  # every trial event the simulated stimulus showed (this server)
        self.line_rises: dict[int, list[int]] = {}  # port0 line -> samples where it rose (the last AI run)
        self.runs = 0
        self.faults: list[ScheduledFault] = []
        self.log: list[tuple[str, int]] = []  # (what happened, sample index): overflow, underflow, expiry

    # --- tasks ------------------------------------------------------------------------------
    def create_task(self, name: str, behavior: int = 0) -> tuple[Task, bool]:
        """DAQmxCreateTask behind the session repository: (task, new_session_initialized)."""
        with self.lock:
            session, t, new = self.sessions.add(name, behavior, lambda: self._new_task(name))
            if new:
                t.session = session
                self.tasks[t.id] = t
            return t, new

    def _new_task(self, name: str) -> Task:
        return Task(next(self._ids), name or f"_unnamedTask<{next(self._names)}>")

    def task(self, session: str) -> Task:
        """The task of a session; an unknown session is a null task handle to DAQmx: -200088."""
        with self.lock:
            t = self.sessions.get(session)
            if t is None:
                raise NIError(K.INVALID_TASK, f"Task Name: {session}")
            return t

    def add_channels(self, task: Task, physical: list[str], kind: str, lo: float, hi: float,
                     terminal: int = K.TERM_DEFAULT, names: list[str] | None = None,
                     meas_type: int = K.VOLTAGE) -> None:
        """DAQmxCreateAI/AOVoltageChan: the range is coerced to the smallest of the product's
        ranges that holds [lo, hi]; DEFAULT terminal configuration becomes what DAQmx picks
        (DIFF where the input can be DIFF, else RSE); DIFF on the negative input of a pair,
        or a channel that is the negative input of a DIFF channel of the task, is refused."""
        with self.lock:
            self._check_configurable(task, kind)
            new: list[Channel] = []
            for i, p in enumerate(physical):
                s = self.spec.check_channel(p, kind)
                dev = device_of(p)
                mod = self.spec.module(dev) if dev != self.spec.chassis else self.spec.modules[0]
                full = f"{mod.name}/{s}"
                if any(c.physical.lower() == full.lower() for c in task.channels + new):
                    raise NIError(K.CHAN_ALREADY_IN_TASK, f"Channel Name: {p}")
                if meas_type == K.VOLTAGE:
                    rng = self.spec.coerce_range(lo, hi, kind, full)
                else:  # min/max in the channel's units (°C, A, Ω): the ADC uses its widest range
                    if not lo < hi:
                        raise NIError(K.MIN_NOT_LESS_THAN_MAX, f"Minimum: {lo}\nMaximum: {hi}")
                    rng = max(self.spec.module_of(full).product.ai_ranges_V or (10.0,))
                term = self.spec.check_terminal(full, terminal) if kind == "ai" else K.TERM_DEFAULT
                readback = None
                if s.startswith("_ao"):
                    readback = self._ao_map.get(s[1:].split("_", 1)[0])
                col = None if readback is not None else (self._ai_map if kind == "ai" else self._ao_map).get(s)
                if names and len(names) == 1 and len(physical) > 1 and names[0]:
                    name = f"{names[0]}{i}"  # one name for several channels: DAQmx numbers them
                else:
                    name = names[i] if names and i < len(names) and names[i] else full
                if meas_type != K.VOLTAGE:
                    col = None  # the preparation drives voltage channels only
                new.append(Channel(name, full, kind, lo, hi, term, col, range_V=rng, readback_ao=readback,
                                   meas_type=meas_type))
            self._check_diff_pairs(task.channels + new)
            task.channels.extend(new)

    def _check_diff_pairs(self, chans: list[Channel]) -> None:
        """In DIFF mode AI <i+8> is AI <i>'s negative input (X Series, NI 9205): it cannot be
        measured in the same task (NI-DAQmx refuses the task; -200077 here)."""
        used = {c.physical.lower(): c for c in chans if c.kind == "ai"}
        for c in chans:
            if c.kind != "ai" or c.terminal != K.TERM_DIFF:
                continue
            mod = self.spec.module_of(c.physical) if device_of(c.physical) != self.spec.chassis \
                else self.spec.modules[0]
            m = re.search(r"ai(\d+)$", c.physical)
            partner = mod.product.diff_partner(int(m.group(1))) if m else None
            if partner is not None and f"{mod.name}/ai{partner}".lower() in used:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: AI.TermCfg\nChannel Name: {c.physical}\n"
                              f"{mod.name}/ai{partner} is the negative input of {c.physical} (DIFF) and cannot "
                              "be measured in the same task.")

    def add_do_channels(self, task: Task, lines_spec: str, name: str, grouping: int, kind: str = "do") -> None:
        """DAQmxCreateDOChan / DAQmxCreateDIChan (``kind`` "di"): one channel per line, or one for
        all the lines."""
        with self.lock:
            self._check_configurable(task, kind)
            lines = self.spec.check_lines(lines_spec)
            have = {i for c in task.channels for i in c.lines}
            dup = sorted(have.intersection(lines))
            if dup or len(set(lines)) != len(lines):
                raise NIError(K.CHAN_ALREADY_IN_TASK, f"Channel Name: {self.spec.name}/port0/line{(dup or lines)[0]}")
            names = [n.strip() for n in name.split(",")] if name else []
            if grouping == K.CHAN_FOR_ALL_LINES:
                # unnamed, it takes its first line's name (a range like 'line1:7' would read, to
                # nidaqmx's channel-name parser, as seven channels)
                first = f"{self.spec.name}/port0/line{lines[0]}"
                task.channels.append(Channel(names[0] if names else first, lines_spec.strip(), kind,
                                             0.0, 1.0, lines=tuple(lines)))
            else:
                for k, i in enumerate(lines):
                    phys = f"{self.spec.name}/port0/line{i}"
                    task.channels.append(Channel(names[k] if k < len(names) and names[k] else phys, phys, kind,
                                                 0.0, 1.0, lines=(i,)))

    def _check_configurable(self, task: Task, kind: str) -> None:
        if task.state == "running":
            raise NIError(K.CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING)
        if task.kind == "watchdog":
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, "A watchdog timer task holds no channels.")
        if task.kind and task.kind != kind:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, "This simulated device keeps AI, AO and DO in separate tasks.")

    # --- reservation ----------------------------------------------------------------------------
    @staticmethod
    def _holds(t: Task) -> bool:
        """A task that holds its resources: running (or armed), or reserved/committed."""
        return t.state in ("running", "armed") or t.reserved

    def _reserve(self, task: Task) -> None:
        """Reserve ``task``'s resources (DAQmx's Verified → Reserved transition, implicit in
        Start and in a write with auto start).

        NI's code for a physical channel, or a timing engine, that another task has reserved
        is -50103 "The specified resource is reserved." (NI KB kA00Z000000P8kmSAC "Error -50103
        in NI-DAQmx", cases 3, 5 and 6: the same physical channel in several tasks, more AI or
        AO tasks than the device runs at once, hardware-timed AO tasks not sharing a sample
        clock).  Reservation happens at start/commit, never at channel creation: creating a
        task on a channel that a running task uses succeeds (NI-DAQmx Key Concepts, "Task
        State Model": resources are acquired in the Verified → Reserved transition).
        A cDAQ chassis whose watchdog expired refuses everything until it is reset (-201478).
        """
        self._check_chassis()
        if task.kind == "watchdog":
            return
        mine = {r for c in task.channels for r in c.resources}
        for other in self.tasks.values():
            if other is task or not self._holds(other) or other.kind == "watchdog":
                continue
            shared = sorted(mine.intersection(r for c in other.channels for r in c.resources))
            engine = task.kind in ("ai", "ao") and task.kind == other.kind and \
                task.timing == other.timing == "sample_clock"
            if shared or engine:
                what = (f"{self.spec.name}/{shared[0]}" if shared[0].startswith("port") else shared[0]) if shared \
                    else f"{self._terminal_device()}/{task.kind}/SampleClock"
                raise NIError(K.PAL_RESOURCE_RESERVED,
                              f"Resource: {what}\nReserved by task: {other.name}\nTask Name: {task.name}")

    def _check_chassis(self) -> None:
        if self.chassis_expired:
            raise NIError(K.CHASSIS_WATCHDOG_TIMER_EXPIRED, f"Device: {self.spec.chassis}")

    def control(self, task: Task, action: int, attrs: dict[int, object]) -> None:
        """DAQmxTaskControl."""
        with self.lock:
            if action == K.TASK_CONTROL_START:
                self.start(task, attrs)
            elif action == K.TASK_CONTROL_STOP:
                self.stop(task)
            elif action == K.TASK_CONTROL_ABORT:
                self.stop(task)
                task.reserved = False
            elif action in (K.TASK_CONTROL_RESERVE, K.TASK_CONTROL_COMMIT):
                if not self._holds(task):
                    if task.kind == "watchdog":
                        self._check_watchdog_start(task)
                    else:
                        self._reserve(task)
                    task.reserved = True
            elif action == K.TASK_CONTROL_UNRESERVE:
                if task.state in ("running", "armed"):
                    raise NIError(K.CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING)
                task.reserved = False

    def channel(self, task: Task, name: str) -> Channel:
        for c in task.channels:
            if name in (c.name, c.physical):
                return c
        for c in task.channels:  # physical channel names are not case-sensitive in DAQmx
            if name.lower() == c.physical.lower():
                return c
        raise NIError(K.PHYSICAL_CHAN_DOES_NOT_EXIST, f"Channel Name: {name}")

    def cfg_sample_clock(self, task: Task, source: str, rate_hz: float, mode: int, samps: int,
                         from_divisor: bool = False) -> None:
        """DAQmxCfgSampClkTiming: the rate is checked against the product's limits (AI: the
        aggregate rate of a multiplexed board shared by the task's channels; AO: the update
        rate for that many channels) and coerced to what its timebase can divide to
        (``DeviceSpec.coerce_rate``); ``SampClk.Rate`` reads back the coerced rate."""
        with self.lock:
            if not task.channels:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Create channels before configuring timing.")
            kind = task.kind
            if kind in ("di", "do"):
                self._cfg_dio_clock(task, source, rate_hz, mode, samps)
                return
            if kind not in ("ai", "ao"):
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "This simulated device clocks AI and AO only.")
            mod = self._module(task.channels[0])
            if kind == "ai":
                top = self.spec.max_ai_rate(len(task.channels), mod)
                lo = mod.product.ai_min_rate_hz
            else:
                top = mod.product.ao_max_rate(len(task.channels), [int(m.group(1)) for c in task.channels
                                                                   if (m := re.search(r"/ao(\d+)$", c.physical))])
                lo = mod.product.timebase_hz / 2 ** 32
            if rate_hz > top * (1 + 1e-9):
                raise NIError(K.SAMP_RATE_TOO_HIGH, f"Requested Value: {rate_hz:g}\nMaximum Value: {top:g}\n"
                              f"Channels in task: {len(task.channels)}\nDevice: {mod.name} ({mod.product_type})")
            if rate_hz < lo:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: SampClk.Rate\nRequested Value: {rate_hz:g}\n"
                              f"Minimum Value: {lo:g}")
            src = source.strip()
            if kind == "ao" and src and suffix(src) != "ai/sampleclock":
                raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                              f"Property: SampClk.Src\nRequested Value: {src}\n"
                              f"This simulated device clocks buffered AO from /{self._terminal_device()}/ai/SampleClock "
                              "or its own clock only.")
            if src and "/" in src.strip("/"):  # '/Dev1/PFI0'; a bare 'PFI0' is a terminal of this device
                self.spec.check_device(device_of(src))
            task.timing, task.samp_mode, task.samps_per_chan = "sample_clock", mode, samps
            task.rate_hz = min(self.spec.coerce_rate(rate_hz, mod), top)
            if not from_divisor:
                task.rate_asked_hz = rate_hz
            task.clock_source = src

    def _cfg_dio_clock(self, task: Task, source: str, rate_hz: float, mode: int, samps: int) -> None:
        """Hardware-timed port 0 I/O (X Series: port 0 only, on another subsystem's sample clock
        or its own; here on the AI sample clock only, which is what correlated DIO on a rig
        needs: X Series User Manual, "Digital Input/Output Timing Signals")."""
        src = source.strip()
        if suffix(src) != "ai/sampleclock":
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: SampClk.Src\nRequested Value: {src}\n"
                          f"This simulated device clocks digital I/O from /{self._terminal_device()}/ai/SampleClock "
                          "only.")
        if "/" in src.strip("/"):
            self.spec.check_device(device_of(src))
        task.timing, task.samp_mode, task.samps_per_chan = "sample_clock", mode, samps
        task.rate_hz = task.rate_asked_hz = rate_hz
        task.clock_source = src

    def _module(self, c: Channel):
        return self.spec.module_of(c.physical)

    def _terminal_device(self) -> str:
        return self.spec.chassis or self.spec.name

    def terminal_device(self) -> str:
        """The device owning the timing terminals (``/cDAQ1/ai/SampleClock`` on a chassis)."""
        return self._terminal_device()

    def cfg_start_trigger(self, task: Task, source: str) -> None:
        with self.lock:
            self.spec.check_device(device_of(source))
            if suffix(source) not in ("ai/starttrigger",):
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: StartTrig.DigEdge.Src\nRequested Value: {source}")
            task.trigger_source = source

    # --- start / stop -------------------------------------------------------------------------
    def start(self, task: Task, attrs: dict[int, object]) -> None:
        """``attrs``: the task's settable attributes (buffer sizes, regeneration, overwrite)."""
        with self.lock:
            self._poll()
            if task.state == "running":
                return
            if task.kind == "watchdog":
                if not task.reserved:
                    self._check_watchdog_start(task)
                task.state, task.last_reset, task.expired = "running", time.monotonic(), False
                return
            if not task.channels:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "The task has no channels.")
            if not self._holds(task):
                self._reserve(task)
            task.error = None
            if task.kind == "ai":
                self._start_ai(task, attrs)
            elif task.kind in ("di", "do") and task.timing == "sample_clock":
                self._arm_dio(task, attrs)
            elif task.timing == "sample_clock":
                if self._ai is not None:  # started after the clock: it would join at the current sample
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                                  "Start the AO task before the AI task that triggers it.")
                task.state = "armed"
                task.generated, task.halted_at = 0, None
                self._ao = task
            else:
                task.state = "running"

    def _check_watchdog_start(self, wd: Task) -> None:
        """cDAQ-9185/9189 User Manual, "Watchdog Timer": "No other operations may be running on the
        cDAQ chassis while the watchdog timer task is being started; this includes all DAQmx
        tasks, ..."; NI-DAQmx's error for it is -201477 (DAQmxErrorCantReserveWatchdogTaskWhile-
        OtherTasksReserved).  Restarting the watchdog on an X Series board clears its expiration
        (the text of -200678)."""
        self._check_chassis()
        if wd.watchdog_device and wd.watchdog_device == self.spec.chassis:
            busy = [t.name for t in self.tasks.values() if t is not wd and t.kind != "watchdog" and self._holds(t)]
            if busy:
                raise NIError(K.CANT_RESERVE_WATCHDOG_TASK_WHILE_OTHER_TASKS_RESERVED,
                              f"Device: {wd.watchdog_device}\nTasks reserved or running: {', '.join(busy)}\n"
                              f"Task Name: {wd.name}")

    def _start_ai(self, task: Task, attrs: dict[int, object]) -> None:
        """The preparation drives a continuous sample-clocked task at a rate it can run;
        any other AI task reads NI's simulated-device signal (``detached.py``)."""
        task.detached = False
        if task.timing != "sample_clock" or task.samp_mode != K.CONT_SAMPS or self._ai is not None:
            detached.start(task)
            return
        rig = self.rig.model_copy(update={"rate_hz": task.rate_hz})
        seed = None if self.seed is None else self.seed + self.runs
        try:
            sim = SimDevice(rig, self.sim_config, seed=seed, speed=None, name=f"{self.spec.name} (simulated)")
            self._stream = sim.configure(rig.acquisition_config())
        except IontoError as exc:
            log.warning("%s: the simulated preparation cannot run this task (%s); it reads NI's simulated "
                        "sine instead", task.name, str(exc).splitlines()[0])
            detached.start(task)
            return
        default_buf = 1000 if task.rate_hz <= 100 else 10_000 if task.rate_hz <= 10_000 else 100_000
        task.buf_size = int(attrs.get(K.BUF_INPUT_SIZE) or max(default_buf, task.samps_per_chan))
        task.read_pos = 0
        self._sim, self._sim_index, self._halted_at = sim, 0, None
        self._enabled_at_gen, self._enable_changes = self.port.interlock_enabled(), deque()
        self._volts, self._volts_start = np.zeros((self._stream.n_channels, 0)), 0
        self._aov = np.zeros((self.n_rig_ao, 0))
        sim.start()
        self._ai, task.state = task, "running"
        if self._ao is not None and self._ao.state == "armed":
            self._ao.state = "running"
        for t in self._dio:
            t.state, t.read_pos = "running", 0
        self._words, self._words_start, self._lines_word = np.zeros(0, dtype=np.uint32), 0, None
        self.line_rises = {}
        self.runs += 1
        # Generate the first samples now, before the clock starts (the samples, and the AO
        # they consume, are the same as if generated at the first read): the first
        # generation loads the simulator's compiled kernels (~0.2 s; seconds on a fresh
        # install), which inside the first read held the client back past its AO lead.
        first = max(1, int(0.05 * task.rate_hz))
        if self._ao is not None:
            first = min(first, self._ao.written)  # only samples whose AO is already written
        if first > 0:
            self._generate(first)
        self._t0 = time.monotonic()

    def stop(self, task: Task, final: str = "stopped") -> None:
        with self.lock:
            self._poll()
            if task.state not in ("running", "armed"):
                if final == "stopped" and task.state != "idle":
                    task.state = "stopped"
                return
            if task is self._ao or (task is self._ai and self._ao is not None):
                self._hold_ao(self._acquired() if self._ai is not None else 0)
            if task is self._ai:
                self._ai = None
                if self._sim is not None:
                    self._sim.stop()
                    self._sim.close()
                self._sim = None
            if task is self._ao:
                self._ao = None
            if task in self._dio:
                self._dio.remove(task)
            task.state = final

    def clear(self, task: Task) -> None:
        """DAQmxClearTask: abort, release, forget (the session goes first, as in grpc-device)."""
        with self.lock:
            self.sessions.remove(task.session)
            self.stop(task)
            task.reserved = False
            self.tasks.pop(task.id, None)

    def reset_device(self, device: str) -> None:
        """DAQmxResetDevice: "Immediately aborts all active tasks associated with a device,
        disconnects any routes, and returns the device to an initialized state. ... Aborting a
        task puts the task into an unstable but recoverable state. To recover the task, use DAQmx
        Start to restart the task or use DAQmx Stop to reset the task without starting it."
        (NI-DAQmx C Reference, DAQmxResetDevice; nidaqmx ``Device.reset_device``).  So every
        task on the device is aborted and unreserved but its session stays; AO goes to 0 V
        (M, C and X Series); the digital lines go to their power-up state (tristate); a
        watchdog on the device is disarmed and its expiration cleared.  Resetting the chassis
        resets its modules; resetting a module leaves an expired chassis expired (cDAQ-9185/9189
        User Manual: "the cDAQ chassis cannot perform any operation until the cDAQ chassis is
        reset")."""
        with self.lock:
            self.spec.check_device(device)
            whole = device == self.spec.chassis or not self.spec.chassis
            for t in list(self.tasks.values()):
                if t.kind == "watchdog" and not whole:
                    continue
                self.stop(t, final="aborted")
                t.reserved, t.expired = False, False
            self.static_V[:] = 0.0
            self.port.reset()
            self._note_enable()
            if whole:
                self.chassis_expired = False
            self.log.append(("reset", self._acquired()))

    # --- the clock ------------------------------------------------------------------------------
    def schedule_fault(self, code: int, at_s: float) -> ScheduledFault:
        """An NI error ``at_s`` seconds into the next acquisition (see ``INPUT_FAULTS`` /
        ``OUTPUT_FAULTS``); a USB transfer error only on a USB product."""
        if code not in INPUT_FAULTS and code not in OUTPUT_FAULTS:
            raise ValueError(f"NI error {code} cannot be scheduled; one of "
                             f"{', '.join(map(str, sorted({**INPUT_FAULTS, **OUTPUT_FAULTS})))}")
        if code == K.PAL_TRANSFER_ABORTED and not self.spec.product.usb:
            raise ValueError(f"a USB transfer error needs a USB device; {self.spec.product_type} is not one")
        if not at_s >= 0:
            raise ValueError(f"fault time {at_s}: must be >= 0 s")
        f = ScheduledFault(code, float(at_s))
        with self.lock:
            self.faults.append(f)
        return f

    def _fire_faults(self, ai: Task, n: int) -> None:
        for f in self.faults:
            at = round(f.at_s * ai.rate_hz)
            if f.fired or n < at:
                continue
            f.fired = True
            if f.on_input:
                if self._halted_at is None:
                    self._halted_at, ai.error = max(at, ai.read_pos), f.code
                    self.log.append(("fault", self._halted_at))
            else:
                ao = self._ao
                if ao is not None and ao.state == "running" and ao.halted_at is None:
                    ao.halted_at, ao.error = min(at, ao.written), f.code
                    self.log.append(("fault", ao.halted_at))
                    self._hold_ao(ao.halted_at)

    def _acquired(self) -> int:
        """Samples the AI clock has produced so far (stops at an overflow)."""
        ai = self._ai
        if ai is None:
            return 0
        n = int((time.monotonic() - self._t0) * ai.rate_hz * self.speed)
        if self.faults and self._halted_at is None:
            self._fire_faults(ai, n)
        if self._halted_at is not None:
            return self._halted_at
        if n - ai.read_pos > ai.buf_size:
            self._halted_at = ai.read_pos + ai.buf_size
            ai.error = K.SAMPLES_NO_LONGER_AVAILABLE
            self.log.append(("overflow", self._halted_at))
            return self._halted_at
        return n

    def _poll(self) -> None:
        """Bring AO underflow and watchdog expiry up to date with the clock (lock held)."""
        now_index = self._acquired()
        ao = self._ao
        if ao is not None and ao.state == "running" and ao.halted_at is None and now_index > ao.written:
            ao.halted_at, ao.error = ao.written, K.GEN_STOPPED_TO_PREVENT_REGEN
            self.log.append(("underflow", ao.written))
            self._hold_ao(ao.written)  # the outputs hold the last sample generated
        for t in self._dio:  # a buffered DO task that ran out (regeneration off)
            if t.kind == "do" and t.state == "running" and t.halted_at is None and now_index > t.written:
                t.halted_at, t.error = t.written, K.GEN_STOPPED_TO_PREVENT_REGEN
                self.log.append(("do underflow", t.written))
        for t in self.tasks.values():
            if t.kind == "watchdog" and t.state == "running" and not t.expired and t.watchdog_timeout_s >= 0:
                now = time.monotonic()
                if t.last_reset < t.reset_arrived <= t.last_reset + t.watchdog_timeout_s:
                    # A reset that reached the server in time counts, even while it waits for the
                    # lock: the simulated server, not the client, is slow then (it holds the lock
                    # building a simulation, which a busy machine can stretch to seconds).  A real
                    # chassis resets its timer in hardware when the request arrives and answers at
                    # once, so the client's next reset follows; here the client waits for the
                    # answer, so the reset still waiting holds the timer until it is served.
                    t.last_reset = now if t.resets_waiting else t.reset_arrived
                if now - t.last_reset > t.watchdog_timeout_s:
                    self._expire(t, now_index)

    def poll(self) -> None:
        with self.lock:
            self._poll()

    def _expire(self, wd: Task, now_index: int) -> None:
        """The watchdog expired: outputs to their expiration states.  On a cDAQ chassis buffered
        AO stops (its outputs hold the last sample generated, except where an expiration state
        is set) and the chassis refuses further work until it is reset."""
        wd.expired = True
        self.log.append(("watchdog", now_index))
        if wd.watchdog_device == self.spec.chassis and self.spec.chassis:
            self.chassis_expired = True
            ao = self._ao
            if ao is not None and ao.state == "running" and ao.halted_at is None:
                ao.halted_at, ao.error = min(ao.written, now_index), K.CHASSIS_WATCHDOG_TIMER_EXPIRED
                self._hold_ao(now_index)
            for phys, volts in wd.expir_states.items():
                col = self._ao_map.get(suffix(phys))
                if col is not None:
                    self.static_V[col] = volts
        for line, state in wd.do_expir_states.items():
            if state in _DO_LEVELS:
                self.port.set(line, _DO_LEVELS[state])
        self._note_enable()

    def _note_enable(self) -> None:
        """The interlock may have changed: from the current sample on, the simulation sees it."""
        enabled = self.port.interlock_enabled()
        if self._ai is None:
            self._enabled_at_gen = enabled
            self._enable_changes.clear()
            return
        last = self._enable_changes[-1][1] if self._enable_changes else self._enabled_at_gen
        if enabled != last:
            self._enable_changes.append((self._acquired(), enabled))

    def _enable_mask(self, start: int, n: int) -> np.ndarray:
        """Whether the current source is enabled at samples ``start .. start+n-1``."""
        mask = np.empty(n, dtype=bool)
        pos, cur = 0, self._enabled_at_gen
        while self._enable_changes and self._enable_changes[0][0] < start + n:
            at, enabled = self._enable_changes.popleft()
            j = min(n, max(pos, at - start))
            mask[pos:j] = cur
            pos, cur = j, enabled
        mask[pos:] = cur
        self._enabled_at_gen = cur
        return mask

    def _hold_ao(self, at_index: int) -> None:
        """Buffered AO stops at ``at_index``: each output holds the last sample generated."""
        ao = self._ao
        if ao is None:
            return
        last = self._ao_value_at(ao, min(at_index, ao.halted_at if ao.halted_at is not None else at_index) - 1)
        for c, v in zip(ao.channels, last):
            if c.rig_col is not None and v is not None:
                self.static_V[c.rig_col] = v

    def _ao_value_at(self, ao: Task, index: int) -> list[float | None]:
        """The AO task's sample at ``index`` (None where never written)."""
        pos = ao.generated
        for chunk in ao.queue:
            if index < pos + chunk.shape[0] and index >= pos:
                return list(chunk[index - pos])
            pos += chunk.shape[0]
        if ao.last is not None and index >= 0:
            return list(ao.last)
        return [None] * len(ao.channels)

    # --- AI ---------------------------------------------------------------------------------
    def read(self, task: Task, n: int, timeout_s: float) -> np.ndarray:
        """Read ``n`` samples per channel (``-1``: all available); returns (n_ch, n) volts.
        A task that is not running starts for the read (DAQmx Read's implicit start)."""
        deadline = time.monotonic() + (timeout_s if timeout_s >= 0 else 1e9)
        with self.lock:
            implicit = task.kind == "ai" and task.state != "running" and task.error is None and \
                (task.timing != "sample_clock" or task.samp_mode == K.FINITE_SAMPS)
            if implicit:
                self.start(task, {})  # never a continuous acquisition (the preparation's)
        if task.detached:
            try:
                return self._read_detached(task, n, deadline)
            finally:
                # a task the read started stops when it is done (DAQmx: back to its state before)
                if implicit and detached.done(task, self.speed):
                    self.stop(task)
        while True:
            with self.lock:
                if task.kind != "ai":
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Not an input task.")
                if task.state != "running":
                    raise NIError(K.CANNOT_WRITE_NOT_RUNNING, "The task is not running.")
            with self.lock:
                self._poll()
                if task.error is not None:  # the acquisition stopped: reads fail, nothing is read
                    raise NIError(task.error, f"Task Name: {task.name}", samps_read=0)
                avail = self._acquired() - task.read_pos
                want = avail if n < 0 else n
                if avail >= want:
                    return self._take(task, want)
                missing = want - avail
                wait = missing / (task.rate_hz * self.speed)
            if time.monotonic() + wait > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                # a read that times out reads what was there and reports the count with the
                # error (DAQmx Read: "samples per channel read" is valid on a timeout); over
                # gRPC only the count reaches the client (ni-samps-per-chan-read)
                with self.lock:
                    got = 0
                    if task.state == "running" and task.error is None:
                        got = max(0, min(want, self._acquired() - task.read_pos))
                        if got:
                            self._take(task, got)
                raise NIError(K.SAMPLES_NOT_YET_AVAILABLE, f"Attempted to read samples: {want}\n"
                              f"Samples read: {got}\nTask Name: {task.name}", samps_read=got)
            time.sleep(max(wait, 0.0005))

    def _read_detached(self, task: Task, n: int, deadline: float) -> np.ndarray:
        """A read of a task on NI's simulated signal: on demand, ``n`` samples (all available:
        one) at once; clocked, wait for them (a finite task that is done has no more)."""
        while True:
            with self.lock:
                if task.state != "running":
                    raise NIError(K.CANNOT_WRITE_NOT_RUNNING, "The task is not running.")
                if task.timing != "sample_clock":
                    want = max(1, n)
                    out = detached.signal(task, task.read_pos, want, self.static_V)
                    task.read_pos += want
                    return out
                avail = detached.acquired(task, self.speed) - task.read_pos
                want = avail if n < 0 else n
                if n < 0 and task.samp_mode == K.FINITE_SAMPS:  # all of a finite acquisition: wait for it
                    want = task.samps_per_chan - task.read_pos
                if detached.done(task, self.speed):  # a finite task that is done: what is left
                    want = min(want, avail)
                if avail >= want:
                    out = detached.signal(task, task.read_pos, want, self.static_V)
                    task.read_pos += want
                    return out
                finished = detached.done(task, self.speed)
                wait = (want - avail) / (task.rate_hz * self.speed)
            if finished or time.monotonic() + wait > deadline:
                time.sleep(0 if finished else max(0.0, deadline - time.monotonic()))
                raise NIError(K.SAMPLES_NOT_YET_AVAILABLE, f"Attempted to read samples: {want}\n"
                              f"Available samples: {avail}\nTask Name: {task.name}", samps_read=0)
            time.sleep(max(wait, 0.0005))

    def default_read_count(self, task: Task) -> int:
        """DAQmx_Read_DefaultNumberOfSamplesToRead (what "read all available" reads): a finite
        acquisition's remaining samples, else the samples available."""
        with self.lock:
            if task.timing == "sample_clock" and task.samp_mode == K.FINITE_SAMPS:
                return max(0, task.samps_per_chan - task.read_pos)
        return self.available(task)

    def task_done(self, task: Task) -> bool:
        """DAQmxIsTaskDone."""
        with self.lock:
            if task.detached or task.state != "running":
                return detached.done(task, self.speed)
            return False

    def _take(self, task: Task, n: int) -> np.ndarray:
        assert self._sim is not None and self._stream is not None
        start = task.read_pos
        if self._sim_index < start + n:
            self._generate(start + n - self._sim_index)
        k = start - self._volts_start
        buf = self._volts[:, k:k + n]
        aov = self._aov[:, k:k + n]
        task.read_pos += n
        out = np.zeros((len(task.channels), n))
        for i, c in enumerate(task.channels):
            # the ADC saturates at the range the device chose
            if c.rig_col is not None:
                np.clip(buf[c.rig_col], -c.range_V, c.range_V, out=out[i])
            elif c.readback_ao is not None:  # _aoN_vs_aognd: what the output generated
                np.clip(aov[c.readback_ao], -c.range_V, c.range_V, out=out[i])
        # forget what was read
        drop = task.read_pos - self._volts_start
        if drop > 0:
            self._volts = self._volts[:, drop:]
            self._aov = self._aov[:, drop:]
            self._volts_start += drop
        return out

    def _generate(self, n: int) -> None:
        """Run the simulation ``n`` samples on, feeding it the AO that is generated meanwhile."""
        assert self._sim is not None and self._stream is not None
        start = self._sim_index
        ao_V = np.tile(self.static_V, (n, 1))
        ao = self._ao
        if ao is not None and ao.state == "running":
            k = 0
            stop = n if ao.halted_at is None else max(0, min(n, ao.halted_at - start))
            cols = [(i, c.rig_col) for i, c in enumerate(ao.channels) if c.rig_col is not None]
            while k < stop and ao.queue:
                chunk = ao.queue[0]
                m = min(chunk.shape[0], stop - k)
                for i, col in cols:
                    ao_V[k:k + m, col] = chunk[:m, i]
                ao.last = chunk[m - 1].copy()
                if m == chunk.shape[0]:
                    ao.queue.popleft()
                else:
                    ao.queue[0] = chunk[m:]
                ao.generated += m
                k += m
            if k < n:  # underflow or halt inside this stretch: outputs hold their last value
                if ao.halted_at is None:  # (a halt noted earlier set the held levels then)
                    ao.halted_at, ao.error = start + k, K.GEN_STOPPED_TO_PREVENT_REGEN
                    self.log.append(("underflow", start + k))
                    if ao.last is not None:
                        for i, col in cols:
                            self.static_V[col] = ao.last[i]
                ao_V[k:] = self.static_V
        # The current source in standby (interlock line not at its enable level): 0 nA on every
        # barrel whatever the command — the simulation sees 0 V on its command inputs.
        ao_V[~self._enable_mask(start, n)] = 0.0
        self._sim.write_ao(start, ao_V)
        raw = self._sim.read(n, 1.0).data
        self._generate_lines(start, n)
        s = self._stream
        volts = raw.astype(np.float64) * np.asarray(s.scale_V) + np.asarray(s.offset_V)
        self._volts = np.concatenate([self._volts, volts.T], axis=1)
        self._aov = np.concatenate([self._aov, ao_V.T], axis=1)
        self._sim_index += n

    # --- hardware-timed port 0 I/O on the AI clock ---------------------------------------------
    def _arm_dio(self, task: Task, attrs: dict[int, object]) -> None:
        """A sample-clocked DI or DO task waits for the AI clock: sample *i* is AI sample *i*.
        DO generates the samples written (regeneration off: written before the start, then
        kept ahead; running out stops it with -200290 and the lines hold their last level)."""
        if self._ai is not None:  # started after the clock: it would join at the current sample
            raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                          "Start the digital task before the AI task whose sample clock it uses.")
        if task.kind == "do":
            if not task.queue:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Write the digital output samples before starting "
                              f"the task.\nTask Name: {task.name}")
            if attrs.get(K.WRITE_REGEN_MODE) != K.REGEN_DONT_ALLOW:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "This simulated device generates buffered digital "
                              "output with regeneration off only (Write.RegenMode DontAllowRegen).")
            task.generated, task.halted_at, task.error = 0, None, None
        task.state, task.read_pos = "armed", 0
        self._dio.append(task)

    def write_do_buffered(self, task: Task, words: np.ndarray) -> None:
        """Port words into a sample-clocked DO task's buffer (the buffer's size is not enforced)."""
        with self.lock:
            self._poll()
            if task.error is not None:
                raise NIError(task.error, f"Task Name: {task.name}", samps_written=0)
            task.queue.append(np.asarray(words, dtype=np.uint32).copy())
            task.written += len(words)

    def _generate_lines(self, start: int, n: int) -> None:
        """Port 0 at samples ``start .. start+n-1``: the levels held by on-demand writes, the
        simulated task computer's trial lines, the sample-clocked DO tasks' patterns; each line's
        rising edges are noted (``line_rises``) and a DI task's words kept until it reads them."""
        assert self._sim is not None
        events = [e for e in self._sim.drain_events() if e.kind in (EventKind.TRIAL_START, EventKind.TRIAL_STOP)]
        self.trial_truth.extend(events)
        if not self._dio:
            return  # nothing samples the lines
        base = sum(1 << i for i, level in enumerate(self.port.levels) if level)
        words = np.full(n, base, dtype=np.uint32)
        if self.trial_lines is not None:
            words |= self.trial_lines.words(start, n, events)
        for t in self._dio:
            if t.kind == "do":
                mask = np.uint32(sum(1 << i for c in t.channels for i in c.lines))
                words = (words & ~mask) | (self._take_do(t, start, n) & mask)
        prev = np.concatenate([[np.uint32(self._lines_word or 0)], words[:-1]])
        rising = words & ~prev
        if rising.any():
            for line in range(max(self.spec.n_do_lines, 1)):
                at = np.flatnonzero(rising & np.uint32(1 << line))
                if at.size:
                    self.line_rises.setdefault(line, []).extend((start + at).tolist())
        self._lines_word = int(words[-1])
        if any(t.kind == "di" for t in self._dio):
            self._words = np.concatenate([self._words, words])

    def _take_do(self, task: Task, start: int, n: int) -> np.ndarray:
        """A buffered DO task's words for samples ``start .. start+n-1`` (consumed); past the
        written samples it stops (-200290) and holds its last word."""
        out = np.empty(n, dtype=np.uint32)
        k = 0
        while k < n and task.queue and (task.halted_at is None or start + k < task.halted_at):
            chunk = task.queue[0]
            m = min(chunk.shape[0], n - k, (task.halted_at or start + n) - start - k)
            out[k:k + m] = chunk[:m]
            task.last = chunk[m - 1:m].copy()
            if m == chunk.shape[0]:
                task.queue.popleft()
            else:
                task.queue[0] = chunk[m:]
            task.generated += m
            k += m
        if k < n:
            if task.halted_at is None:
                task.halted_at, task.error = start + k, K.GEN_STOPPED_TO_PREVENT_REGEN
                self.log.append(("do underflow", start + k))
            out[k:] = 0 if task.last is None else task.last[0]
        return out

    def read_di(self, task: Task, n: int, timeout_s: float) -> np.ndarray:
        """Port words of a sample-clocked DI task (``n`` samples, -1: all available)."""
        deadline = time.monotonic() + (timeout_s if timeout_s >= 0 else 1e9)
        while True:
            with self.lock:
                if task.kind != "di" or task.state != "running" or self._ai is None:
                    raise NIError(K.CANNOT_WRITE_NOT_RUNNING, f"The task is not running.\nTask Name: {task.name}")
                self._poll()
                if self._ai.error is not None:  # the clock stopped (overflow): the DI task stops with it
                    raise NIError(self._ai.error, f"Task Name: {task.name}", samps_read=0)
                avail = self._acquired() - task.read_pos
                want = avail if n < 0 else n
                if avail >= want:
                    if self._sim_index < task.read_pos + want:
                        self._generate(task.read_pos + want - self._sim_index)
                    k = task.read_pos - self._words_start
                    out = self._words[k:k + want].copy()
                    task.read_pos += want
                    drop = task.read_pos - self._words_start
                    self._words, self._words_start = self._words[drop:], self._words_start + drop
                    return out
                wait = (want - avail) / (task.rate_hz * self.speed)
            if time.monotonic() + wait > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                raise NIError(K.SAMPLES_NOT_YET_AVAILABLE, f"Attempted to read samples: {want}\n"
                              f"Task Name: {task.name}", samps_read=0)
            time.sleep(max(wait, 0.0005))

    # --- AO ---------------------------------------------------------------------------------
    def write(self, task: Task, data: np.ndarray, auto_start: bool, timeout_s: float, attrs: dict[int, object]) -> int:
        """``data``: (n_ch, n) volts.  Returns samples per channel written."""
        n = data.shape[1]
        with self.lock:
            if task.kind != "ao":
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Not an output task.")
            for i, c in enumerate(task.channels):
                rng = c.range_V
                if data.size and np.max(np.abs(data[i])) > rng + 1e-9:
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Requested Value: {np.max(np.abs(data[i])):g}\n"
                                  f"Channel Name: {c.name}\nMaximum Value: {rng:g}", samps_written=0)
            if self.chassis_expired:
                raise NIError(K.CHASSIS_WATCHDOG_TIMER_EXPIRED, f"Device: {self.spec.chassis}", samps_written=0)
            if task.timing == "on_demand":
                self._on_demand_write(task, auto_start)
                for i, c in enumerate(task.channels):
                    if c.rig_col is not None and n:
                        self.static_V[c.rig_col] = data[i, -1]
                return n
            self._poll()
            if task.error is not None:
                raise NIError(task.error, f"Task Name: {task.name}", samps_written=0)
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            with self.lock:
                self._poll()
                if task.error is not None:
                    raise NIError(task.error, f"Task Name: {task.name}", samps_written=0)
                size = int(attrs.get(K.BUF_OUTPUT_SIZE) or 0)
                pending = task.written - max(task.generated, self._acquired() if task.state == "running" else 0)
                if not size and task.state != "running":
                    size = pending + n  # the first writes size the buffer
                space = (size or 0) - pending
                if n <= space or (not attrs.get(K.BUF_OUTPUT_SIZE) and task.state != "running"):
                    task.queue.append(np.ascontiguousarray(data.T))
                    task.written += n
                    return n
                if task.state != "running":
                    raise NIError(K.NO_MORE_SPACE, f"Buffer Size: {size}\nSamples to write: {n}", samps_written=0)
                wait = (n - space) / (task.rate_hz * self.speed)
                if time.monotonic() + wait > deadline:
                    # DAQmx writes what fits and reports the count with the error
                    part = max(0, min(n, space))
                    if part:
                        task.queue.append(np.ascontiguousarray(data[:, :part].T))
                        task.written += part
                    raise NIError(K.SAMPLES_CAN_NOT_YET_BE_WRITTEN, f"Task Name: {task.name}\n"
                                  f"Samples written: {part} of {n}", samps_written=part)
            time.sleep(max(wait, 0.0005))

    def _on_demand_write(self, task: Task, auto_start: bool) -> None:
        """A software-timed write: to a running task, or with auto start, which reserves the
        task for the write (and fails on a channel another task holds) and leaves it as it was."""
        if task.state != "running":
            if not auto_start:
                raise NIError(K.CANNOT_WRITE_NOT_RUNNING, samps_written=0)
            if not self._holds(task):
                try:
                    self._reserve(task)
                except NIError as err:
                    raise NIError(err.code, err.detail, samps_written=0) from None

    def write_do(self, task: Task, values: list[list[bool]], auto_start: bool) -> None:
        """Software-timed digital write: ``values[i]`` = the levels of channel i's lines."""
        with self.lock:
            if task.kind != "do":
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Not a digital output task.", samps_written=0)
            self._poll()
            if self.chassis_expired:
                raise NIError(K.CHASSIS_WATCHDOG_TIMER_EXPIRED, f"Device: {self.spec.chassis}", samps_written=0)
            lines = {i for c in task.channels for i in c.lines}
            for wd in self.tasks.values():
                if wd.kind == "watchdog" and wd.expired and lines.intersection(wd.do_expir_states):
                    raise NIError(K.WRITE_FAILED_BECAUSE_WATCHDOG_EXPIRED, f"Task Name: {task.name}\n"
                                  f"Watchdog Task: {wd.name}", samps_written=0)
            self._on_demand_write(task, auto_start)
            for c, levels in zip(task.channels, values):
                for line, level in zip(c.lines, levels):
                    self.port.set(line, bool(level))
            self._note_enable()

    def ao_status(self, task: Task) -> tuple[int, int]:
        """(total generated, space available) of a buffered AO task."""
        with self.lock:
            self._poll()
            gen = min(task.written, self._acquired()) if task.state == "running" else task.generated
            if task.halted_at is not None:
                gen = min(gen, task.halted_at)
            size = int(task.written - gen)
            return gen, size

    def available(self, task: Task) -> int:
        with self.lock:
            if task.state != "running":
                return 0
            if task.detached:
                return max(0, detached.acquired(task, self.speed) - task.read_pos)
            self._poll()
            return max(0, self._acquired() - task.read_pos)

    def acquired(self, task: Task) -> int:
        with self.lock:
            if task.detached and task.state == "running":
                return detached.acquired(task, self.speed)
            return self._acquired() if task is self._ai else task.read_pos

    # --- watchdog -----------------------------------------------------------------------------
    def create_watchdog(self, device: str, name: str, timeout_s: float, behavior: int = 0) -> tuple[Task, bool]:
        """DAQmxCreateWatchdogTimerTaskEx: on a cDAQ-9185/9189 chassis (AO, DO expiration
        states) or on an X Series board (a DIO watchdog: DO expiration states only).  On a C
        Series module NI asks for the chassis name: -200662."""
        with self.lock:
            def init() -> Task:
                self.spec.check_device(device)
                chassis_ok = bool(self.spec.chassis) and device == self.spec.chassis and \
                    self.spec.chassis_product in ("cDAQ-9185", "cDAQ-9189")
                x_series = not self.spec.chassis and device == self.spec.name and \
                    self.spec.product.watchdog == "dio"
                if not (chassis_ok or x_series):
                    raise NIError(K.WATCHDOG_TIMER_NOT_SUPPORTED, f"Device: {device}")
                t = self._new_task(name)
                t.watchdog_device, t.watchdog_timeout_s = device, timeout_s
                return t

            session, t, new = self.sessions.add(name, behavior, init)
            if new:
                t.session = session
                self.tasks[t.id] = t
            return t, new

    def _watchdog(self, task: Task) -> Task:
        if task.kind != "watchdog":
            raise NIError(K.ACTION_NOT_SUPPORTED_TASK_NOT_WATCHDOG, f"Task Name: {task.name}")
        return task

    def watchdog_states(self, task: Task, channels: list[str], states: list[float], types: list[int]) -> None:
        """CfgWatchdogAOExpirStates: AO expiration states, on a cDAQ chassis's AO modules only
        (X Series watchdogs cover digital lines only: NI-DAQmx Help, "Watchdog Timers")."""
        with self.lock:
            self._watchdog(task)
            if not self.spec.chassis:
                raise NIError(K.ATTR_NOT_SUPPORTED, "X Series watchdog timers set digital lines only; "
                              "use DAQmxCfgWatchdogDOExpirStates.")
            for p, v, ty in zip(channels, states, types):
                self.spec.check_channel(p, "ao")
                if ty == K.WATCHDOG_AO_VOLTAGE:
                    task.expir_states[p] = float(v)

    def watchdog_do_states(self, task: Task, channels: str, states: list[int]) -> None:
        """CfgWatchdogDOExpirStates: each port0 line's state (High, Low, Tristate, No Change)."""
        with self.lock:
            self._watchdog(task)
            lines = self.spec.check_lines(channels)
            if len(states) not in (1, len(lines)):
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"{len(states)} expiration states for {len(lines)} lines")
            for i, line in enumerate(lines):
                state = int(states[0] if len(states) == 1 else states[i])
                if state not in (*_DO_LEVELS, K.LEVEL_NO_CHANGE):
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Expiration State: {state}")
                if state == K.LEVEL_NO_CHANGE:
                    task.do_expir_states.pop(line, None)
                else:
                    task.do_expir_states[line] = state

    def set_watchdog_timeout(self, task: Task, timeout_s: float) -> None:
        with self.lock:
            self._poll()
            task.watchdog_timeout_s, task.last_reset = timeout_s, time.monotonic()

    def watchdog_control(self, session: str, action: int) -> None:
        """DAQmxControlWatchdogTask on the task of ``session`` (a gRPC server thread).

        Reset timer: the request's arrival is stamped BEFORE waiting for the lock (the session is
        looked up without it: one dict read), so a reset sent in time keeps the watchdog alive
        while the server is busy (see ``_poll``).  Clear expiration: X Series boards then accept
        writes to the watched lines again, which keep their expiration states until written (X
        Series User Manual, "Watchdog Timer"); a cDAQ-9185/9189 chassis stays expired "until the
        cDAQ chassis is reset" (its User Manual), so there it fails with -201478, whose text says
        so."""
        waiting = self.sessions.get(session) if action == K.WATCHDOG_RESET_TIMER else None
        if waiting is not None:
            waiting.reset_arrived = time.monotonic()
            waiting.resets_waiting += 1
        try:
            with self.lock:
                task = self._watchdog(self.task(session))
                self._poll()
                if waiting is not None:
                    waiting.resets_waiting -= 1
                    waiting = None
                if action == K.WATCHDOG_RESET_TIMER:
                    if task.expired:
                        raise NIError(K.CANT_RESET_EXPIRED_WATCHDOG, f"Task Name: {task.name}")
                    task.last_reset = time.monotonic()
                elif action == K.WATCHDOG_CLEAR_EXPIRATION:
                    if task.expired and task.watchdog_device == self.spec.chassis and self.spec.chassis:
                        raise NIError(K.CHASSIS_WATCHDOG_TIMER_EXPIRED, f"Device: {self.spec.chassis}")
                    task.expired = False
                    task.last_reset = time.monotonic()
        finally:
            if waiting is not None:  # refused before it was served (not a watchdog task)
                waiting.resets_waiting -= 1

    # --- what a test can look at -------------------------------------------------------------
    def output_levels(self) -> np.ndarray:
        """Volts on each rig AO output now (buffered sample being generated, or the held level)."""
        with self.lock:
            self._poll()
            out = self.static_V.copy()
            ao = self._ao
            if ao is not None and ao.state == "running" and ao.halted_at is None:
                now = self._acquired()
                vals = self._ao_value_at(ao, now)
                for c, v in zip(ao.channels, vals):
                    if c.rig_col is not None and v is not None:
                        out[c.rig_col] = v
            return out

    def session_names(self) -> list[str]:
        """The server's sessions (tasks and watchdog tasks), stale ones included."""
        with self.lock:
            return self.sessions.names()

    def line_level(self, line: str) -> bool | None:
        """A port0 line (``'port0/line0'``, ``'Dev1/port0/line0'``): True high, False low, None tristate."""
        with self.lock:
            return self.port.level(line_number(line))

    def interlock_line(self) -> str | None:
        """The line wired to the current source's enable input (``'Dev1/port0/line0'``), or None."""
        i = self.port.interlock
        return None if i is None else f"{self.spec.name}/port0/line{i}"

    def interlock_enabled(self) -> bool:
        """Whether the simulated current source is enabled (see ``digital.py``)."""
        with self.lock:
            self._poll()
            return self.port.interlock_enabled()

    def watchdog_expired(self) -> bool:
        """Whether a watchdog on the device (or its chassis) has expired and is not cleared."""
        with self.lock:
            self._poll()
            return self.chassis_expired or any(t.kind == "watchdog" and t.expired for t in self.tasks.values())
