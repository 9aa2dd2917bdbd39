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
* on a simulated cDAQ Ethernet chassis a watchdog task, unless reset within its timeout,
  puts the AO channels at their expiration states and stops buffered generation.

Thread-safety: gRPC handlers call in from a thread pool; one lock guards all state and
waits happen outside it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from daq.errors import IontoError
from daq.rig import RigConfig
from daq.types import StreamInfo
from mock_daq.device import SimDevice
from mock_daq.model import SimConfig, parse_sim
from mock_daq.nigrpc import constants as K
from mock_daq.nigrpc.spec import DeviceSpec, NIError, device_of, rig_ai, rig_ao, suffix


@dataclass
class Channel:
    name: str
    physical: str
    kind: str  # "ai" | "ao"
    lo: float
    hi: float
    terminal: int = K.TERM_DEFAULT
    rig_col: int | None = None  # column in the rig's AI / AO order; None = not wired


@dataclass
class Task:
    """One NI-DAQmx task on the simulated device."""

    id: int
    name: str
    channels: list[Channel] = field(default_factory=list)
    timing: str = "on_demand"  # "on_demand" | "sample_clock"
    rate_hz: float = 0.0
    samp_mode: int = K.CONT_SAMPS
    samps_per_chan: int = 0
    clock_source: str = ""
    trigger_source: str = ""
    state: str = "idle"  # idle | armed | running | stopped
    error: int | None = None
    # AI
    read_pos: int = 0
    buf_size: int = 0
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
    expired: bool = False
    last_reset: float = 0.0

    @property
    def kind(self) -> str:
        if self.watchdog_device:
            return "watchdog"
        return self.channels[0].kind if self.channels else ""


class Hardware:
    """The board: its tasks and the one sample clock they share."""

    def __init__(self, rig: RigConfig, spec: DeviceSpec | None = None, *, speed: float = 1.0,
                 seed: int | None = None, sim: SimConfig | None = None):
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
        self._ids = itertools.count(1)
        self._names = itertools.count(0)
        # the running acquisition
        self._ai: Task | None = None
        self._ao: Task | None = None
        self._t0 = 0.0
        self._sim: SimDevice | None = None
        self._stream: StreamInfo | None = None
        self._sim_index = 0
        self._halted_at: int | None = None  # AI stopped (overflow) at this sample
        self._volts = np.zeros((0, 0))  # generated, not yet read: (n_rig_ai, n)
        self._volts_start = 0
        self.runs = 0
        self.log: list[tuple[str, int]] = []  # (what happened, sample index): overflow, underflow, expiry

    # --- tasks ------------------------------------------------------------------------------
    def create_task(self, name: str) -> Task:
        with self.lock:
            if name and any(t.name == name for t in self.tasks.values()):
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"A task named {name!r} already exists.")
            t = Task(next(self._ids), name or f"_unnamedTask<{next(self._names)}>")
            self.tasks[t.id] = t
            return t

    def task(self, task_id: int, name: str = "") -> Task:
        t = self.tasks.get(task_id)
        if t is None and name:
            t = next((x for x in self.tasks.values() if x.name == name), None)
        if t is None:
            raise NIError(K.INVALID_TASK, f"Task Name: {name or task_id}")
        return t

    def add_channels(self, task: Task, physical: list[str], kind: str, lo: float, hi: float,
                     terminal: int = K.TERM_DEFAULT, names: list[str] | None = None) -> None:
        with self.lock:
            if task.state == "running":
                raise NIError(K.CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING)
            if task.kind and task.kind != kind:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "A task holds either inputs or outputs, not both.")
            self.spec.coerce_range(lo, hi, kind)
            for i, p in enumerate(physical):
                s = self.spec.check_channel(p, kind)
                if any(suffix(c.physical) == s for c in task.channels):
                    raise NIError(K.CHAN_ALREADY_IN_TASK, f"Channel Name: {p}")
                for other in self.tasks.values():
                    if other is not task and other.state == "running" and any(
                            suffix(c.physical) == s for c in other.channels):
                        raise NIError(K.RESOURCE_ALREADY_RESERVED, f"Resource: {p}\nTask: {other.name}")
                col = (self._ai_map if kind == "ai" else self._ao_map).get(s)
                name = names[i] if names and i < len(names) and names[i] else p
                task.channels.append(Channel(name, f"{self.spec.name}/{s}", kind, lo, hi, terminal, col))

    def channel(self, task: Task, name: str) -> Channel:
        for c in task.channels:
            if name in (c.name, c.physical):
                return c
        raise NIError(K.PHYSICAL_CHAN_DOES_NOT_EXIST, f"Channel Name: {name}")

    def cfg_sample_clock(self, task: Task, source: str, rate_hz: float, mode: int, samps: int) -> None:
        with self.lock:
            if not task.channels:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Create channels before configuring timing.")
            kind = task.kind
            if kind == "ai":
                top = self.spec.max_ai_rate(len(task.channels))
                lo = self.spec.ai_min_rate_hz
            else:
                top, lo = self.spec.ao_max_rate_hz, self.spec.ao_min_rate_hz
            if rate_hz > top * (1 + 1e-9):
                raise NIError(K.SAMP_RATE_TOO_HIGH, f"Requested Value: {rate_hz:g}\nMaximum Value: {top:g}\n"
                              f"Channels in task: {len(task.channels)}")
            if rate_hz < lo:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Property: SampClk.Rate\nRequested Value: {rate_hz:g}\n"
                              f"Minimum Value: {lo:g}")
            src = source.strip()
            if kind == "ao" and src and suffix(src) != "ai/sampleclock":
                raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                              f"Property: SampClk.Src\nRequested Value: {src}\n"
                              f"This simulated device clocks buffered AO from /{self.spec.name}/ai/SampleClock only.")
            if src:
                self.spec.check_device(device_of(src))
            task.timing, task.rate_hz, task.samp_mode, task.samps_per_chan = "sample_clock", rate_hz, mode, samps
            task.clock_source = src

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
                task.state, task.last_reset, task.expired = "running", time.monotonic(), False
                return
            if not task.channels:
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "The task has no channels.")
            task.error = None
            if task.kind == "ai":
                self._start_ai(task, attrs)
            elif task.timing == "sample_clock":
                task.state = "armed" if self._ai is None else "running"
                task.generated, task.halted_at = 0, None
                if self._ai is None:
                    self._ao = task
                else:  # started after the clock: it joins at the current sample
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE,
                                  "Start the AO task before the AI task that triggers it.")
            else:
                task.state = "running"

    def _start_ai(self, task: Task, attrs: dict[int, object]) -> None:
        if task.timing != "sample_clock":
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, "This simulated device reads AI on a sample clock only.")
        rig = self.rig.model_copy(update={"rate_hz": task.rate_hz})
        seed = None if self.seed is None else self.seed + self.runs
        try:
            sim = SimDevice(rig, self.sim_config, seed=seed, speed=None, name=f"{self.spec.name} (simulated)")
            self._stream = sim.configure(rig.acquisition_config())
        except IontoError as exc:
            raise NIError(K.INVALID_ATTRIBUTE_VALUE, str(exc)) from None
        default_buf = 1000 if task.rate_hz <= 100 else 10_000 if task.rate_hz <= 10_000 else 100_000
        task.buf_size = int(attrs.get(K.BUF_INPUT_SIZE) or max(default_buf, task.samps_per_chan))
        task.read_pos = 0
        self._sim, self._sim_index, self._halted_at = sim, 0, None
        self._volts, self._volts_start = np.zeros((self._stream.n_channels, 0)), 0
        sim.start()
        self._ai, task.state = task, "running"
        if self._ao is not None and self._ao.state == "armed":
            self._ao.state = "running"
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

    def stop(self, task: Task) -> None:
        with self.lock:
            self._poll()
            if task.state not in ("running", "armed"):
                task.state = "stopped" if task.state != "idle" else "idle"
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
            task.state = "stopped"

    def clear(self, task: Task) -> None:
        with self.lock:
            self.stop(task)
            self.tasks.pop(task.id, None)

    # --- the clock ------------------------------------------------------------------------------
    def _acquired(self) -> int:
        """Samples the AI clock has produced so far (stops at an overflow)."""
        ai = self._ai
        if ai is None:
            return 0
        n = int((time.monotonic() - self._t0) * ai.rate_hz * self.speed)
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
        for t in self.tasks.values():
            if t.kind == "watchdog" and t.state == "running" and not t.expired and t.watchdog_timeout_s >= 0:
                if time.monotonic() - t.last_reset > t.watchdog_timeout_s:
                    self._expire(t, now_index)

    def poll(self) -> None:
        with self.lock:
            self._poll()

    def _expire(self, wd: Task, now_index: int) -> None:
        wd.expired = True
        self.log.append(("watchdog", now_index))
        ao = self._ao
        if ao is not None and ao.state == "running" and ao.halted_at is None:
            ao.halted_at, ao.error = min(ao.written, now_index), K.WRITE_FAILED_BECAUSE_WATCHDOG_EXPIRED
        for phys, volts in wd.expir_states.items():
            col = self._ao_map.get(suffix(phys))
            if col is not None:
                self.static_V[col] = volts

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
        """Read ``n`` samples per channel (``-1``: all available); returns (n_ch, n) volts."""
        deadline = time.monotonic() + (timeout_s if timeout_s >= 0 else 1e9)
        while True:
            with self.lock:
                if task.kind != "ai":
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Not an input task.")
                if task.state != "running":
                    raise NIError(K.CANNOT_WRITE_NOT_RUNNING, "The task is not running.")
                self._poll()
                if task.error is not None:
                    raise NIError(task.error, f"Task Name: {task.name}", samps_read=0)
                avail = self._acquired() - task.read_pos
                if task.error is not None:
                    raise NIError(task.error, f"Task Name: {task.name}", samps_read=0)
                want = avail if n < 0 else n
                if avail >= want:
                    return self._take(task, want)
                missing = want - avail
                wait = missing / (task.rate_hz * self.speed)
            if time.monotonic() + wait > deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                raise NIError(K.SAMPLES_NOT_YET_AVAILABLE, f"Attempted to read samples: {want}\n"
                              f"Available samples: {avail}\nTask Name: {task.name}", samps_read=0)
            time.sleep(max(wait, 0.0005))

    def _take(self, task: Task, n: int) -> np.ndarray:
        assert self._sim is not None and self._stream is not None
        start = task.read_pos
        if self._sim_index < start + n:
            self._generate(start + n - self._sim_index)
        buf = self._volts[:, start - self._volts_start:start - self._volts_start + n]
        task.read_pos += n
        # forget what was read
        drop = task.read_pos - self._volts_start
        if drop > 0:
            self._volts = self._volts[:, drop:]
            self._volts_start += drop
        out = np.zeros((len(task.channels), n))
        for i, c in enumerate(task.channels):
            if c.rig_col is not None:  # the ADC saturates at the range the device chose
                rng = self.spec.coerce_range(c.lo, c.hi, "ai")
                np.clip(buf[c.rig_col], -rng, rng, out=out[i])
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
                if ao.halted_at is None:
                    ao.halted_at, ao.error = start + k, K.GEN_STOPPED_TO_PREVENT_REGEN
                    self.log.append(("underflow", start + k))
                if ao.last is not None:
                    for i, col in cols:
                        self.static_V[col] = ao.last[i]
                ao_V[k:] = self.static_V
        self._sim.write_ao(start, ao_V)
        raw = self._sim.read(n, 1.0).data
        s = self._stream
        volts = raw.astype(np.float64) * np.asarray(s.scale_V) + np.asarray(s.offset_V)
        self._volts = np.concatenate([self._volts, volts.T], axis=1)
        self._sim_index += n

    # --- AO ---------------------------------------------------------------------------------
    def write(self, task: Task, data: np.ndarray, auto_start: bool, timeout_s: float, attrs: dict[int, object]) -> int:
        """``data``: (n_ch, n) volts.  Returns samples per channel written."""
        n = data.shape[1]
        with self.lock:
            if task.kind != "ao":
                raise NIError(K.INVALID_ATTRIBUTE_VALUE, "Not an output task.")
            for i, c in enumerate(task.channels):
                rng = self.spec.coerce_range(c.lo, c.hi, "ao")
                if data.size and np.max(np.abs(data[i])) > rng + 1e-9:
                    raise NIError(K.INVALID_ATTRIBUTE_VALUE, f"Requested Value: {np.max(np.abs(data[i])):g}\n"
                                  f"Channel Name: {c.name}\nMaximum Value: {rng:g}", samps_written=0)
            if any(t.kind == "watchdog" and t.expired for t in self.tasks.values()):
                raise NIError(K.WRITE_FAILED_BECAUSE_WATCHDOG_EXPIRED, samps_written=0)
            if task.timing == "on_demand":
                if task.state != "running" and not auto_start:
                    raise NIError(K.CANNOT_WRITE_NOT_RUNNING, samps_written=0)
                for i, c in enumerate(task.channels):
                    if c.rig_col is not None and n:
                        self.static_V[c.rig_col] = data[i, -1]
                if auto_start and task.state != "running":
                    task.state = "stopped"
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
                raise NIError(K.SAMPLES_CAN_NOT_YET_BE_WRITTEN, f"Task Name: {task.name}", samps_written=0)
            time.sleep(max(wait, 0.0005))

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
            self._poll()
            return max(0, self._acquired() - task.read_pos)

    def acquired(self, task: Task) -> int:
        with self.lock:
            return self._acquired() if task is self._ai else task.read_pos

    # --- watchdog -----------------------------------------------------------------------------
    def create_watchdog(self, device: str, name: str, timeout_s: float) -> Task:
        with self.lock:
            self.spec.check_device(device)
            if not self.spec.chassis or device != self.spec.chassis or \
                    self.spec.chassis_product not in ("cDAQ-9185", "cDAQ-9189"):
                raise NIError(K.WATCHDOG_TIMER_NOT_SUPPORTED, f"Device: {device}")
            t = self.create_task(name)
            t.watchdog_device, t.watchdog_timeout_s = device, timeout_s
            return t

    def watchdog_states(self, task: Task, channels: list[str], states: list[float], types: list[int]) -> None:
        with self.lock:
            for p, v, ty in zip(channels, states, types):
                self.spec.check_channel(p, "ao")
                if ty == K.WATCHDOG_AO_VOLTAGE:
                    task.expir_states[p] = float(v)

    def watchdog_control(self, task: Task, action: int) -> None:
        with self.lock:
            self._poll()
            if action == K.WATCHDOG_RESET_TIMER:
                if task.expired:
                    raise NIError(K.CANT_RESET_EXPIRED_WATCHDOG)
                task.last_reset = time.monotonic()
            elif action == K.WATCHDOG_CLEAR_EXPIRATION:
                task.expired = False
                task.last_reset = time.monotonic()

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
