"""``NIDevice``: the ``Device`` protocol on an NI-DAQmx board, through the local driver or an
NI gRPC Device Server.

* AI: one continuous task, every input on one sample clock; the driver never overwrites
  unread samples (an overflow stops the task: -200279 → ``InputOverflowError``).
* AO: one task per run with regeneration off, clocked by ``/DEV/ai/SampleClock`` and started
  by ``/DEV/ai/StartTrigger`` — AO sample *i* is generated with AI sample *i*; the engine
  keeps it written a fixed lead ahead; running out is -200290/-200621 →
  ``OutputUnderflowError``.
* Each block's first sample index is the driver's read position (plus the samples skipped
  by earlier restarts), so a jump is a gap.
* ``write_safe`` stops buffered AO and writes the static safe levels with an on-demand task
  (NI outputs hold the last value written); on a cDAQ Ethernet chassis a watchdog also
  puts the outputs at those levels if the engine stops resetting it.
* Tasks have deterministic names, ``ionto:DEVICE:ROLE`` (``daq.ni.recovery.task_name``).
  ``configure`` first recovers from a crashed ionto (``recover``): over gRPC it clears the
  stale tasks of an earlier ionto (refusing when another ionto is still running), then writes
  the safe levels before anything else, starts the cDAQ watchdog before any other task on the
  chassis and arms the interlock line (``daq.ni.interlock``), and only then creates AI and AO.
* Before anything starts, rates, channels and ranges the device cannot do are refused
  with its own limits in the message; every AO sample is checked against per-channel
  volt limits again just before it is written.

Thread: the engine thread only (``describe`` from any thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from nidaqmx.constants import (
    AcquisitionType,
    OverwriteMode,
    RegenerationMode,
    TerminalConfiguration,
    WatchdogAOExpirState,
)
from nidaqmx.stream_readers import AnalogMultiChannelReader
from nidaqmx.stream_writers import AnalogMultiChannelWriter
from nidaqmx.system.watchdog import AOExpirationState

from daq.errors import (
    ConfigError,
    CurrentLimitError,
    DeviceError,
    InputOverflowError,
    OutputUnderflowError,
)
from daq.ni.connection import NIConnection
from daq.ni.digital import SyncOutput, TrialInput
from daq.ni.discovery import Capabilities, capabilities, check_config_against
from daq.ni.errors import NI_ERRORS, close_tasks, translate
from daq.ni.interlock import Interlock
from daq.ni.recovery import clear_stale, task_name, write_levels
from daq.types import AcquisitionConfig, Block, DeviceDescription, EventKind, LogEvent, StreamInfo

log = logging.getLogger(__name__)

TERMINALS = {
    "default": TerminalConfiguration.DEFAULT, "RSE": TerminalConfiguration.RSE,
    "NRSE": TerminalConfiguration.NRSE, "DIFF": TerminalConfiguration.DIFF,
    "PSEUDO_DIFF": TerminalConfiguration.PSEUDO_DIFF,
}


def _exact_rates(rate_hz: float, actual_hz: float) -> str:
    """Rates near ``rate_hz`` that the board's timebase divides exactly.  The timebase is
    recovered from the coerced rate (``actual = timebase / divisor``, divisor = floor(timebase
    / requested): X Series 100 MHz, cDAQ 80 MHz); each candidate is a whole number of Hz."""
    for tb in (100e6, 80e6, 20e6):
        d = tb / actual_hz
        if abs(d - round(d)) < 1e-6 * d:
            near = sorted({tb / k for k in range(max(1, int(tb / rate_hz) * 2 // 3), int(tb / rate_hz) * 3 // 2 + 2)
                           if (tb / k).is_integer() and (tb / k) % 50 == 0}, key=lambda r: abs(r - rate_hz))[:3]
            if near:
                return ", ".join(f"{r:g}" for r in sorted(near)) + " Hz"
    return "20000, 25000 or 31250 Hz"


def _device_of(physical: str) -> str:
    return physical.strip().lstrip("/").split("/", 1)[0]


class NIDevice:
    """An NI board (or several modules of one cDAQ chassis) as an ionto ``Device``.

    ``safe_volts`` (one per AO channel, in AO order) are the watchdog's expiration levels;
    ``ao_limits_V`` the largest |volts| each AO channel may ever be given (from the pipette's
    limits); ``ai_buffer_s``/``ao_buffer_s`` size the driver buffers; ``watchdog_timeout_s``
    is how long the outputs may go without the engine reading before the watchdog (where
    the hardware has one) sets them safe; ``interlock`` (a ``daq.rig.InterlockConfig``) is the
    current source's standby/enable line; ``take_over``: clear even a running ionto's tasks
    (what ``ionto safe`` does; a run refuses instead).
    """

    def __init__(self, device: str, conn: NIConnection | None = None, *, safe_volts: Sequence[float] | None = None,
                 ao_limits_V: Sequence[float] | None = None, ai_buffer_s: float = 2.0, ao_buffer_s: float = 2.0,
                 watchdog_timeout_s: float = 1.0, use_watchdog: bool = True, name: str | None = None,
                 interlock: Any = None, take_over: bool = False, rig_path: str = "",
                 trial_input: Any = None, sync_out: Any = None):
        self.device = device
        self.conn = conn or NIConnection()
        self.name = name or (f"ni+grpc://{self.conn.host}:{self.conn.port}/{device}" if self.conn.remote else f"ni:{device}")
        self.safe_volts = None if safe_volts is None else np.asarray(safe_volts, dtype=np.float64)
        self.ao_limits_V = None if ao_limits_V is None else np.asarray(ao_limits_V, dtype=np.float64)
        self.ai_buffer_s = ai_buffer_s
        self.ao_buffer_s = ao_buffer_s
        self.watchdog_timeout_s = watchdog_timeout_s
        self.use_watchdog = use_watchdog
        self._caps: dict[str, Capabilities] = {}
        self._config: AcquisitionConfig | None = None
        self._ai = None
        self._ao = None
        self._wd = None
        self._reader: AnalogMultiChannelReader | None = None
        self._writer: AnalogMultiChannelWriter | None = None
        self._buf = np.zeros((0, 0))
        self._offset = 0  # sample index of the driver's read position 0 (grows at each restart)
        self._ao_write = 0
        self._running = False
        self._events: list[LogEvent] = []
        self._t_start = 0.0
        self.restarts = 0
        self.closed = False
        self.interlock_config = interlock
        self.take_over = take_over
        self.rig_path = rig_path
        self._interlock: Interlock | None = None
        # digital lines on the AI sample clock (daq.ni.digital): rig trial_input / sync_out
        self._di = None if trial_input is None else TrialInput(self.conn, trial_input, self.name)
        self._sync = None if sync_out is None else SyncOutput(self.conn, sync_out, self.name)
        self._keep: tuple[threading.Thread, threading.Event] | None = None
        self._safe_ok = False  # the safe levels were the last thing written to the outputs
        self.recovered: list[str] = []  # stale task names cleared at the last configure
        self.t_retain_written: float | None = None  # monotonic time the retain-first write finished
        self.actual_rate_hz: float | None = None  # the AI sample clock the driver reports (SampClk.Rate)

    # --- capabilities ----------------------------------------------------------------------
    def caps(self, device: str | None = None) -> Capabilities:
        dev = device or self.device
        if dev not in self._caps:
            self._caps[dev] = capabilities(self.conn, dev)
        return self._caps[dev]

    def describe(self) -> DeviceDescription:
        return self.caps().describe()

    def _check(self, config: AcquisitionConfig) -> None:
        devices = {_device_of(c.physical) for c in config.ai} | {_device_of(c.physical) for c in config.ao}
        for dev in sorted(devices):
            ai = [(c.physical, c.range_V) for c in config.ai if _device_of(c.physical) == dev]
            ao = [(c.physical, c.range_V) for c in config.ao if _device_of(c.physical) == dev]
            check_config_against(self.caps(dev), ai, ao, config.rate_hz)
        chassis = {self.caps(d).terminal_device for d in devices}
        if len(chassis) > 1:
            raise ConfigError(
                f"{self.name}: inputs and outputs span devices {sorted(devices)} with no shared timing "
                "(use channels of one board, or modules of one cDAQ chassis)"
            )
        if self.ao_limits_V is not None and len(self.ao_limits_V) != len(config.ao):
            raise ConfigError(f"{self.name}: {len(self.ao_limits_V)} AO limits for {len(config.ao)} AO channels")

    # --- configure -------------------------------------------------------------------------
    def configure(self, config: AcquisitionConfig) -> StreamInfo:
        self._check(config)
        self._clear_tasks()
        self._config = config
        self.recover()
        self._create_tasks()
        n = len(config.ai)
        # the rate the board's timebase makes (``_create_tasks`` refused anything but the
        # requested rate to 1 ppm): what the recording's sample times are based on
        return StreamInfo(self.actual_rate_hz or config.rate_hz, config.ai, np.dtype(np.float32), (1.0,) * n,
                          (0.0,) * n)

    def _terminal_device(self) -> str:
        assert self._config is not None
        return self.caps(_device_of(self._config.ai[0].physical)).terminal_device

    @property
    def owner(self) -> str:
        """The board (or cDAQ chassis) ionto's task names are made for."""
        if self._config is not None and (self._config.ai or self._config.ao):
            chans = self._config.ai or self._config.ao
            return self.caps(_device_of(chans[0].physical)).terminal_device
        return self.caps().terminal_device

    def _name(self, role: str) -> str:
        return task_name(self.owner, role)

    def recover(self) -> None:
        """Before any task of this run exists: clear what a crashed ionto left (gRPC), write the
        safe levels, start the cDAQ watchdog (before any other task on the chassis), arm the
        interlock line.  Every run path goes through here (``configure``)."""
        cfg = self._config
        assert cfg is not None
        wd_dev = self._watchdog_device()
        wd_devs = [d for d in (wd_dev, _device_of(self.interlock_config.line) if self.interlock_config else "") if d]
        rec = clear_stale(self.conn, self.owner, watchdog_devices=wd_devs, take_over=self.take_over, where=self.name)
        self.recovered = rec.cleared
        if rec.cleared:
            log.warning("%s: cleared the tasks a stopped ionto left on the board (%s)%s; writing the safe levels",
                        self.name, ", ".join(rec.cleared),
                        f"; its expired watchdog was disarmed by resetting {rec.reset}" if rec.reset else "")
        if cfg.ao and self.safe_volts is not None:
            if len(self.safe_volts) != len(cfg.ao):
                raise ConfigError(f"{self.name}: {len(self.safe_volts)} safe levels for {len(cfg.ao)} AO channels")
            self._check_volts(self.safe_volts[None, :])
            write_levels(self.conn, self._name("safe"), [(c.physical, c.range_V) for c in cfg.ao],
                         self.safe_volts, where=self.name, url=self.name, rig=self.rig_path or "RIG",
                         reset_device=wd_dev)
            self._safe_ok = True
            self.t_retain_written = time.monotonic()
        self._start_watchdog()
        if self.interlock_config is not None:
            self._interlock = Interlock(self.conn, self.interlock_config, self.owner, self.name)
            self._interlock.arm(chassis_watchdog=self._wd is not None)
        self._keepalive_start()

    def _create_tasks(self) -> None:
        cfg = self._config
        assert cfg is not None
        rate = cfg.rate_hz
        ai_buf = max(int(rate * self.ai_buffer_s), 4 * cfg.block)
        try:
            self._ai = self.conn.task(self._name("ai"))
            for ch in cfg.ai:
                self._ai.ai_channels.add_ai_voltage_chan(
                    ch.physical, name_to_assign_to_channel=ch.name, terminal_config=TERMINALS[ch.terminal],
                    min_val=-ch.range_V, max_val=ch.range_V)
            self._ai.timing.cfg_samp_clk_timing(rate, sample_mode=AcquisitionType.CONTINUOUS, samps_per_chan=ai_buf)
            self._ai.in_stream.input_buf_size = ai_buf
            self._ai.in_stream.overwrite = OverwriteMode.DO_NOT_OVERWRITE_UNREAD_SAMPLES
            actual = self._ai.timing.samp_clk_rate  # the rate the driver coerced to (its timebase / an integer)
            self.actual_rate_hz = float(actual)
            if abs(actual - rate) > 1e-6 * rate:
                raise ConfigError(
                    f"{self.name}: the device cannot sample at exactly {rate:g} Hz (it would use {actual:.6g} Hz); "
                    f"choose a rate that divides its timebase, e.g. {_exact_rates(rate, actual)}")
            self._reader = AnalogMultiChannelReader(self._ai.in_stream)
            self._reader.verify_array_shape = False
            self._buf = np.zeros((len(cfg.ai), cfg.block), dtype=np.float64)
            if cfg.ao:
                term = self._terminal_device()
                self._ao = self.conn.task(self._name("ao"))
                for ch in cfg.ao:
                    self._ao.ao_channels.add_ao_voltage_chan(ch.physical, name_to_assign_to_channel=f"ao_{ch.barrel}",
                                                             min_val=-ch.range_V, max_val=ch.range_V)
                self._ao.timing.cfg_samp_clk_timing(rate, source=f"/{term}/ai/SampleClock",
                                                    sample_mode=AcquisitionType.CONTINUOUS)
                self._ao.triggers.start_trigger.cfg_dig_edge_start_trig(f"/{term}/ai/StartTrigger")
                self._ao.out_stream.regen_mode = RegenerationMode.DONT_ALLOW_REGENERATION
                self._ao.out_stream.output_buf_size = max(int(rate * self.ao_buffer_s), 4 * cfg.block)
                self._writer = AnalogMultiChannelWriter(self._ao.out_stream, auto_start=False)
                self._writer.verify_array_shape = False
            if self._di is not None:
                self._di.create(self._name("di"), self._terminal_device(), rate, ai_buf)
            if self._sync is not None:
                self._sync.create(self._name("sync"), self._terminal_device(), rate)
        except NI_ERRORS as exc:
            self._clear_tasks()
            raise translate(exc, self.name, "configuring the acquisition") from None
        except ConfigError:
            self._clear_tasks()
            raise

    # --- run ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._ai is None or self._config is None:
            raise DeviceError(f"{self.name}: configure before start")
        if self._ao is not None and self._ao_write <= self._offset:
            raise DeviceError(f"{self.name}: write some AO before start (regeneration is off)")
        try:
            if self._di is not None:
                self._di.start()  # clocked by the AI sample clock: samples with AI from its first sample
            if self._sync is not None:
                self._sync.start(self._offset)
            if self._ao is not None:
                self._ao.start()  # armed: waits for the AI start trigger
            self._ai.start()
        except NI_ERRORS as exc:
            raise translate(exc, self.name, "starting the acquisition") from None
        self._running = True
        self._t_start = time.monotonic()

    def read(self, n_samples: int, timeout_s: float) -> Block:
        if not self._running or self._ai is None or self._reader is None:
            raise DeviceError(f"{self.name}: read while not running")
        if self._buf.shape[1] != n_samples:
            self._buf = np.zeros((self._buf.shape[0], n_samples), dtype=np.float64)
        try:
            pos = int(self._ai.in_stream.curr_read_pos)
            got = self._reader.read_many_sample(self._buf, n_samples, timeout_s)
        except NI_ERRORS as exc:
            err = translate(exc, self.name, "reading analog input")
            if isinstance(err, InputOverflowError):
                self._note_fault(err)
            raise err from None
        if got != n_samples:
            raise DeviceError(f"{self.name}: asked for {n_samples} samples, the driver returned {got}")
        if self._keep is not None:  # the first block is in: from now on the engine's reads keep it alive
            self._keepalive_stop()
        self._keepalive()
        if self._di is not None:
            self._events.extend(self._di.read(self._offset + pos, n_samples, timeout_s))
        if self._sync is not None:
            self._events.extend(self._sync.after_read(self._offset + pos + n_samples))
        return Block(self._offset + pos, self._buf.T.astype(np.float32))

    @property
    def ao_write_index(self) -> int:
        return self._ao_write

    def write_ao(self, start_index: int, volts: np.ndarray) -> None:
        if self._writer is None or self._config is None:
            raise DeviceError(f"{self.name}: no analog outputs configured")
        if start_index != self._ao_write:
            raise DeviceError(f"{self.name}: AO write at sample {start_index}, expected {self._ao_write}")
        v = np.asarray(volts, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != len(self._config.ao):
            raise DeviceError(f"{self.name}: AO data must have shape (n, {len(self._config.ao)}), got {v.shape}")
        self._check_volts(v)
        self._safe_ok = False
        try:
            self._writer.write_many_sample(np.ascontiguousarray(v.T), timeout=max(1.0, 2 * v.shape[0] / self._config.rate_hz))
        except NI_ERRORS as exc:
            err = translate(exc, self.name, "writing analog output")
            if isinstance(err, OutputUnderflowError):
                self._note_fault(err)
            raise err from None
        self._ao_write += v.shape[0]

    def _check_volts(self, v: np.ndarray) -> None:
        """The last line of defence: nothing beyond a channel's range or limit is written."""
        assert self._config is not None
        ranges = np.array([c.range_V for c in self._config.ao])
        lim = ranges if self.ao_limits_V is None else np.minimum(ranges, self.ao_limits_V)
        if not np.all(np.isfinite(v)):
            raise CurrentLimitError(f"{self.name}: AO data contain NaN or infinity; nothing was written")
        worst = np.abs(v).max(axis=0) if v.size else np.zeros(len(lim))
        bad = np.nonzero(worst > lim + 1e-9)[0]
        if bad.size:
            parts = [f"{self._config.ao[i].physical} (barrel {self._config.ao[i].barrel!r}): {worst[i]:.4g} V > "
                     f"{lim[i]:.4g} V" for i in bad]
            raise CurrentLimitError(f"{self.name}: refused to write AO beyond its limits: " + "; ".join(parts))

    # --- AO status (optional protocol AOStatus) -----------------------------------------------
    def ao_generated_index(self) -> int:
        """Sample index of the next AO sample the device will generate."""
        if self._ao is None:
            return self._offset
        try:
            return self._offset + int(self._ao.out_stream.total_samp_per_chan_generated)
        except NI_ERRORS as exc:
            raise translate(exc, self.name, "querying AO progress") from None

    def samples_acquired(self) -> int:
        """Samples per channel the AI clock has acquired so far, on ionto's sample index: the
        NI-DAQmx property "Total Samples Acquired Per Channel" (``DAQmx_Read_TotalSampPerChanAcquired``,
        nidaqmx ``in_stream.total_samp_per_chan_acquired``), live while the task runs.  The
        network trial input brackets the sample clock with it (``daq.network_input``).  Engine thread."""
        if self._ai is None or not self._running:
            raise DeviceError(f"{self.name}: samples_acquired while not running")
        try:
            return self._offset + int(self._ai.in_stream.total_samp_per_chan_acquired)
        except NI_ERRORS as exc:
            raise translate(exc, self.name, "querying the samples acquired") from None

    def ao_space(self) -> int:
        """Samples per channel that fit in the AO buffer now."""
        if self._ao is None:
            return 0
        try:
            return int(self._ao.out_stream.space_avail)
        except NI_ERRORS as exc:
            raise translate(exc, self.name, "querying AO buffer space") from None

    # --- restart after lost samples (optional protocol Restartable) ----------------------------
    def rearm(self, error: Exception) -> int:
        """After ``InputOverflowError``/``OutputUnderflowError``: stop, rebuild both tasks and
        return the sample index acquisition will resume at (the samples between the last
        read and it are a gap).  The engine then writes AO from there and calls ``start``."""
        assert self._config is not None and self._ai is not None
        rate = self._config.rate_hz
        t_fault = time.monotonic()
        try:
            acquired = int(self._ai.in_stream.total_samp_per_chan_acquired)
            pos = int(self._ai.in_stream.curr_read_pos)
        except NI_ERRORS:
            acquired = pos = int((t_fault - self._t_start) * rate)
        self._running = False
        self._clear_tasks(keep_watchdog=True)
        self.restarts += 1
        self._keepalive_start()  # until ``start``: rebuilding the tasks must not expire the watchdog
        self._create_tasks()
        # samples the clock produced up to the fault, plus the time the restart took
        resume = self._offset + max(acquired, pos) + round((time.monotonic() - t_fault) * rate) + 1
        lost = resume - (self._offset + pos)
        self._events.append(LogEvent(self._offset + pos, EventKind.NOTE, text=(
            f"{self.name}: {type(error).__name__} (NI-DAQmx error {getattr(error, 'code', '?')}); "
            f"acquisition restarted at sample {resume}, about {lost} samples lost")))
        self._offset = resume
        self._ao_write = resume
        return resume

    def _note_fault(self, err: Exception) -> None:
        log.warning("%s", err)

    # --- EventSource -----------------------------------------------------------------------
    def drain_events(self) -> list[LogEvent]:
        out, self._events = self._events, []
        return out

    # --- safe levels, stop, close -------------------------------------------------------------
    def write_safe(self, volts: Sequence[float]) -> None:
        """Stop buffered AO and hold ``volts`` (one per AO channel) with an on-demand write."""
        if self._config is None or not self._config.ao:
            return
        v = np.asarray(volts, dtype=np.float64).reshape(-1)
        if v.shape[0] != len(self._config.ao):
            raise DeviceError(f"{self.name}: {v.shape[0]} safe levels for {len(self._config.ao)} AO channels")
        self._check_volts(v[None, :])
        if self._keep is None:
            self._keepalive()
        if self._ao is not None:
            for fn in (self._ao.stop, self._ao.close):
                try:
                    fn()
                except NI_ERRORS as exc:  # an errored task (underflow) still needs closing
                    log.info("%s: %s", self.name, exc)
            self._ao, self._writer = None, None
        write_levels(self.conn, self._name("safe"), [(c.physical, c.range_V) for c in self._config.ao], v,
                     where=self.name, url=self.name, rig=self.rig_path or "RIG")
        self._safe_ok = True
        self._running = False

    def stop(self) -> None:
        self._running = False
        errors = []
        # not the digital lines: the engine writes retain after this; they close in ``close``
        for t in (self._ai, self._ao):
            if t is None:
                continue
            try:
                t.stop()
            except NI_ERRORS as exc:
                errors.append(exc)
        if errors:
            log.info("%s: stopping: %s", self.name, "; ".join(str(e).splitlines()[0] for e in errors))

    def close(self) -> None:
        if self.closed:
            return
        self._running = False
        self._clear_tasks()
        self.conn.close()
        self.closed = True

    def _clear_tasks(self, keep_watchdog: bool = False) -> None:
        self._keepalive_stop()
        tasks = [self._ai, self._ao] + ([] if keep_watchdog else [self._wd])
        if not keep_watchdog and self._interlock is not None:
            # safe levels written last (a clean stop): the line stays enabled, retain keeps flowing;
            # otherwise it drops to standby
            self._interlock.release(standby=not self._safe_ok)
            self._interlock = None
        close_tasks(tasks, self.name)
        for d in (self._di, self._sync):  # after AI and AO, and after retain (engine: stop, write_safe, close)
            if d is not None:
                d.close()
        self._ai = self._ao = None
        self._reader = self._writer = None
        if not keep_watchdog:
            self._wd = None

    # --- watchdog ------------------------------------------------------------------------------
    def _watchdog_device(self) -> str:
        if self._config is None or not self._config.ao:
            return ""
        return self.caps(_device_of(self._config.ao[0].physical)).watchdog_device

    def _start_watchdog(self) -> None:
        """The cDAQ chassis watchdog, created and STARTED before any other task of the run.

        cDAQ-9185/9189 user manual, "Watchdog Timer" (ni.com/docs/en-US/bundle/cdaq-9185/page/
        watchdog-timer.html): "No other operations may be running on the cDAQ chassis while the
        watchdog timer task is being started; this includes all DAQmx tasks, calibration of
        modules, and routing and configuration of signals on the chassis."  So: stale tasks
        cleared and the safe-level task cleared before this; AI and AO created after it."""
        if not self.use_watchdog or self._wd is not None or self._config is None or not self._config.ao:
            return
        if self.safe_volts is None:
            return
        wd_dev = self._watchdog_device()
        if not wd_dev:
            return
        wd = None
        try:
            wd = self.conn.watchdog(wd_dev, self._name("watchdog"), self.watchdog_timeout_s)
            wd.cfg_watchdog_ao_expir_states([
                AOExpirationState(physical_channel=ch.physical, expiration_state=float(v),
                                  output_type=WatchdogAOExpirState.VOLTAGE)
                for ch, v in zip(self._config.ao, self.safe_volts)])
            if self.interlock_config is not None:
                lock = Interlock(self.conn, self.interlock_config, self.owner, self.name)
                wd.cfg_watchdog_do_expir_states([lock.expiration_state()])
            wd.start()
            self._wd = wd
        except NI_ERRORS as exc:
            close_tasks([wd], self.name, "a watchdog that did not start")
            raise translate(exc, self.name, f"starting the watchdog on {wd_dev}") from None

    def _keepalive(self) -> None:
        """Reset the watchdog and keep the interlock line alive (every read)."""
        if self._wd is not None:
            try:
                self._wd.reset_timer()
            except NI_ERRORS as exc:
                raise translate(exc, self.name, "resetting the watchdog") from None
        if self._interlock is not None:
            self._interlock.keepalive()

    _reset_watchdog = _keepalive

    def _keepalive_start(self) -> None:
        """Between ``recover`` and the first block read the engine opens its recorder and sinks
        (loading the detector can take seconds) and starts the tasks (the first StartTask can be
        slow): a small thread keeps the watchdog and interlock alive meanwhile.  The outputs hold the safe levels just written; if the whole process dies
        the thread dies with it and the watchdog expires as it should."""
        if self._keep is not None or (self._wd is None and self._interlock is None):
            return
        timeouts = [self.watchdog_timeout_s if self._wd is not None else 10.0]
        if self._interlock is not None:
            timeouts.append(self._interlock.timeout_s)
        period = max(0.01, min(timeouts) / 4)
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(period):
                try:
                    self._keepalive()
                except DeviceError as exc:
                    log.warning("%s", exc)
                    return

        th = threading.Thread(target=run, name="ni-keepalive", daemon=True)
        self._keep = (th, stop)
        th.start()

    def _keepalive_stop(self) -> None:
        if self._keep is None:
            return
        th, stop = self._keep
        stop.set()
        th.join(5.0)
        self._keep = None

    @property
    def interlock_mode(self) -> str:
        return self._interlock.mode if self._interlock is not None else ""

    @property
    def watchdog_active(self) -> bool:
        return self._wd is not None
